/* The metadata service's network stack: frame steering, ARP, the connection table, resets. */
#include "netstack/netstack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/metrics.h"

int netstack_create(struct netstack **out, uint32_t ipv4, netstack_answer_fn fn, void *ctx)
{
        static const uint8_t mac[ETH_ADDR_LEN] = NETSTACK_MAC;
        struct netstack *ns = calloc(1, sizeof(*ns));

        *out = NULL;
        if (!ns)
                return -ENOMEM;
        memcpy(ns->mac, mac, sizeof(mac));
        memcpy(ns->remote_mac, mac, sizeof(mac));
        ns->ipv4 = ipv4;
        ns->answer = fn;
        ns->answer_ctx = ctx;
        /* Initial sequence numbers need not be secret on a private link, only varied. */
        if (getrandom(&ns->isn_state, sizeof(ns->isn_state), GRND_NONBLOCK) !=
                (ssize_t)sizeof(ns->isn_state) ||
            ns->isn_state == 0)
                ns->isn_state = 0x12345678u;
        *out = ns;
        return 0;
}

static void slot_free(struct netstack *ns, struct netstack_slot *s)
{
        tcp_ep_close(&s->ep);
        s->used = false;
        ns->nconns--;
        metrics_inc(&metrics.mmds.connections_destroyed);
}

void netstack_destroy(struct netstack *ns)
{
        unsigned int i;

        if (!ns)
                return;
        for (i = 0; i < NETSTACK_MAX_CONNS; i++)
                if (ns->conns[i].used)
                        tcp_ep_close(&ns->conns[i].ep);
        free(ns);
}

bool netstack_wants(const struct netstack *ns, const uint8_t *frame, size_t len)
{
        struct eth_view eth;
        uint32_t a;

        if (eth_parse(frame, len, &eth))
                return false;
        if (eth.type == ETHTYPE_ARP)
                return arp_peek_tpa(frame, len, &a) && a == ns->ipv4;
        if (eth.type == ETHTYPE_IPV4)
                return ipv4_peek_dst(frame, len, &a) && a == ns->ipv4;
        return false;
}

static uint32_t next_isn(struct netstack *ns)
{
        uint32_t x = ns->isn_state;

        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        ns->isn_state = x;
        return x;
}

/* ---- receive ------------------------------------------------------------------------------ */

static void take_arp(struct netstack *ns, const struct eth_view *eth)
{
        struct arp_view a;

        if (arp_parse(eth->payload, eth->payload_len, &a) || a.oper != ARP_OP_REQUEST)
                return;
        memcpy(ns->remote_mac, a.sha, sizeof(a.sha));
        ns->arp_pending = true;
        ns->arp_dest = a.spa;
}

static void queue_rst(struct netstack *ns, uint32_t addr, uint16_t port, struct tcp_rst rst)
{
        /* Beyond the bound the peer's retransmission will ask again. */
        if (ns->nrsts < NETSTACK_MAX_RSTS)
                ns->rsts[ns->nrsts++] = (struct netstack_rst){addr, port, rst};
}

static struct netstack_slot *find_slot(struct netstack *ns, uint32_t addr, uint16_t port)
{
        unsigned int i;

        for (i = 0; i < NETSTACK_MAX_CONNS; i++)
                if (ns->conns[i].used && ns->conns[i].addr == addr && ns->conns[i].port == port)
                        return &ns->conns[i];
        return NULL;
}

/* A free slot, or one whose peer has been idle long enough (its peer gets a reset). */
static struct netstack_slot *claim_slot(struct netstack *ns, uint64_t now)
{
        struct netstack_slot *s;
        unsigned int i;

        for (i = 0; i < NETSTACK_MAX_CONNS; i++)
                if (!ns->conns[i].used)
                        return &ns->conns[i];
        for (i = 0; i < NETSTACK_MAX_CONNS; i++) {
                s = &ns->conns[i];
                if (tcp_ep_evictable(&s->ep, now)) {
                        queue_rst(ns, s->addr, s->port, tcp_conn_rst(&s->ep.conn));
                        slot_free(ns, s);
                        return s;
                }
        }
        return NULL;
}

/* A SYN for no connection: a new one, or a reset when the table is full of live ones. */
static void new_conn(struct netstack *ns, uint32_t addr, const struct tcp_view *t, uint64_t now)
{
        struct tcp_endpoint ep_probe;
        struct netstack_slot *s;

        /* An unacceptable SYN (bad MSS option) is dropped before it costs a slot. */
        if (tcp_conn_open(&ep_probe.conn, t, 0, TCP_EP_RCV_BUF, 1, 1))
                return;
        s = claim_slot(ns, now);
        if (!s) {
                queue_rst(ns, addr, t->sport, tcp_rst_for(t));
                return;
        }
        if (tcp_ep_open(&s->ep, t, next_isn(ns), now))
                return;
        s->used = true;
        s->addr = addr;
        s->port = t->sport;
        ns->nconns++;
        metrics_inc(&metrics.mmds.connections_created);
}

static void take_tcp(struct netstack *ns, const struct ipv4_view *ip, bool csum_partial,
                     uint64_t now)
{
        struct netstack_slot *s;
        struct tcp_view t;
        int rc;

        if (tcp_parse(ip->payload, ip->payload_len, !csum_partial, ip->src, ip->dst, &t) ||
            t.dport != NETSTACK_PORT) {
                metrics_inc(&metrics.mmds.rx_accepted_err);
                return;
        }
        metrics_inc(&metrics.mmds.rx_count);
        s = find_slot(ns, ip->src, t.sport);
        if (!s) {
                if (t.flags == TCP_SYN)
                        new_conn(ns, ip->src, &t, now);
                else if (!(t.flags & TCP_RST))
                        queue_rst(ns, ip->src, t.sport, tcp_rst_for(&t));
                return;
        }
        rc = tcp_ep_receive(&s->ep, &t, ns->answer, ns->answer_ctx, now);
        if (rc < 0)
                metrics_inc(&metrics.mmds.rx_accepted_err);
        else if (rc)
                metrics_inc(&metrics.mmds.rx_accepted_unusual);
        if (tcp_conn_done(&s->ep.conn))
                slot_free(ns, s);
}

void netstack_take(struct netstack *ns, const uint8_t *frame, size_t len, bool csum_partial,
                   uint64_t now)
{
        struct ipv4_view ip;
        struct eth_view eth;

        metrics_inc(&metrics.mmds.rx_accepted);
        if (eth_parse(frame, len, &eth)) {
                metrics_inc(&metrics.mmds.rx_bad_eth);
                return;
        }
        if (eth.type == ETHTYPE_ARP) {
                take_arp(ns, &eth);
                return;
        }
        if (eth.type != ETHTYPE_IPV4 || ipv4_parse(eth.payload, eth.payload_len, true, &ip))
                return;
        memcpy(ns->remote_mac, eth.src, ETH_ADDR_LEN);
        if (ip.proto != IPV4_PROTO_TCP) {
                metrics_inc(&metrics.mmds.rx_accepted_unusual);
                return;
        }
        take_tcp(ns, &ip, csum_partial, now);
}

/* ---- send --------------------------------------------------------------------------------- */

static size_t write_arp_reply(struct netstack *ns, uint8_t *buf, size_t cap)
{
        struct arp_view a = {.oper = ARP_OP_REPLY, .spa = ns->ipv4, .tpa = ns->arp_dest};
        size_t n;

        memcpy(a.sha, ns->mac, ETH_ADDR_LEN);
        memcpy(a.tha, ns->remote_mac, ETH_ADDR_LEN);
        n = eth_write(buf, cap, ns->remote_mac, ns->mac, ETHTYPE_ARP);
        if (n)
                n = arp_write(buf + n, cap - n, &a) ? ETH_HDR_LEN + ARP_ETH_IPV4_LEN : 0;
        return n;
}

/* Ethernet, IPv4 and TCP around segment o to addr. Returns the frame's length or 0. */
static size_t write_segment(struct netstack *ns, uint8_t *buf, size_t cap, uint32_t addr,
                            const struct tcp_out *o)
{
        const size_t hdrs = ETH_HDR_LEN + IPV4_HDR_LEN;
        size_t tl;

        if (cap < hdrs || !eth_write(buf, cap, ns->remote_mac, ns->mac, ETHTYPE_IPV4))
                return 0;
        tl = tcp_write(buf + hdrs, cap - hdrs, o, ns->ipv4, addr);
        if (!tl ||
            !ipv4_write(buf + ETH_HDR_LEN, cap - ETH_HDR_LEN, IPV4_PROTO_TCP, ns->ipv4, addr, tl))
                return 0;
        return hdrs + tl;
}

static size_t write_rst(struct netstack *ns, uint8_t *buf, size_t cap)
{
        const struct netstack_rst *r = &ns->rsts[--ns->nrsts];
        struct tcp_out o = {
            .sport = NETSTACK_PORT,
            .dport = r->port,
            .seq = r->rst.with_ack ? 0 : r->rst.num,
            .ack = r->rst.with_ack ? r->rst.num : 0,
            .flags = (uint8_t)(TCP_RST | (r->rst.with_ack ? TCP_ACK : 0)),
            .window = 10000, /* as Firecracker's resets */
        };

        return write_segment(ns, buf, cap, r->addr, &o);
}

/* May slot s send at now? */
static bool slot_due(const struct netstack_slot *s, uint64_t now)
{
        uint64_t when = 0;

        switch (tcp_ep_status(&s->ep, &when)) {
        case TCP_NEXT_AVAILABLE:
                return true;
        case TCP_NEXT_TIMEOUT:
                return now >= when;
        case TCP_NEXT_NOTHING:
        default:
                return false;
        }
}

/* The segment of slot s, or 0 (nothing after all, or an error that resets it). */
static size_t write_conn(struct netstack *ns, struct netstack_slot *s, uint8_t *buf, size_t cap,
                         uint64_t now)
{
        const size_t hdrs = ETH_HDR_LEN + IPV4_HDR_LEN + TCP_HDR_LEN + TCP_OPT_MSS_LEN;
        struct tcp_out o;
        size_t n = 0;
        int rc;

        if (cap <= hdrs)
                return 0;
        rc = tcp_ep_next(&s->ep, &o, (uint32_t)(cap - hdrs), now);
        if (rc < 0) {
                metrics_inc(&metrics.mmds.tx_errors);
                tcp_conn_reset(&s->ep.conn); /* a connection that cannot go on must end */
        } else if (rc == 1) {
                o.sport = NETSTACK_PORT;
                o.dport = s->port;
                n = write_segment(ns, buf, cap, s->addr, &o);
                if (!n)
                        metrics_inc(&metrics.mmds.tx_errors);
        }
        if (tcp_conn_done(&s->ep.conn))
                slot_free(ns, s);
        return n;
}

size_t netstack_next(struct netstack *ns, uint8_t *buf, size_t cap, uint64_t now)
{
        struct netstack_slot *s;
        unsigned int i;
        size_t n = 0;

        if (ns->arp_pending) {
                ns->arp_pending = false;
                n = write_arp_reply(ns, buf, cap);
        } else if (ns->nrsts) {
                n = write_rst(ns, buf, cap);
        } else {
                /* Round robin from where the last scan stopped, so no connection starves. */
                for (i = 0; i < NETSTACK_MAX_CONNS && !n; i++) {
                        s = &ns->conns[(ns->scan + i) % NETSTACK_MAX_CONNS];
                        if (s->used && slot_due(s, now))
                                n = write_conn(ns, s, buf, cap, now);
                }
                ns->scan = (ns->scan + i) % NETSTACK_MAX_CONNS;
                if (!n)
                        return 0;
        }
        if (n) {
                metrics_inc(&metrics.mmds.tx_count);
                metrics_inc(&metrics.mmds.tx_frames);
                metrics_add_count(&metrics.mmds.tx_bytes, n);
        } else {
                metrics_inc(&metrics.mmds.tx_errors);
        }
        return n;
}

bool netstack_deadline(const struct netstack *ns, uint64_t *when)
{
        uint64_t t = 0;
        bool any = false;
        unsigned int i;

        for (i = 0; i < NETSTACK_MAX_CONNS; i++) {
                if (!ns->conns[i].used || tcp_ep_status(&ns->conns[i].ep, &t) != TCP_NEXT_TIMEOUT)
                        continue;
                if (!any || t < *when)
                        *when = t;
                any = true;
        }
        return any;
}

bool netstack_ready(const struct netstack *ns, uint64_t now)
{
        unsigned int i;

        if (ns->arp_pending || ns->nrsts)
                return true;
        for (i = 0; i < NETSTACK_MAX_CONNS; i++)
                if (ns->conns[i].used && slot_due(&ns->conns[i], now))
                        return true;
        return false;
}
