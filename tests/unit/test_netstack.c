/* Unit tests for netstack: header round trips and refusals, ARP, and the passive TCP endpoint. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "netstack/netstack.h"

#define MMDS_IP  0xa9fea9feu /* 169.254.169.254 */
#define GUEST_IP 0x0a000002u /* 10.0.0.2 */
#define SEC      1000000000ULL

static const uint8_t guest_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t ns_mac[6] = NETSTACK_MAC;

/* ---- the fake answer ------------------------------------------------------------------------ */

static size_t body_len = 10; /* the next answer's body size */
static int answer_rc;
static unsigned int answers;
static char last_req[TCP_EP_RCV_BUF + 1];
static uint8_t last_resp[100000];
static size_t last_resp_len;

static int fake_answer(void *ctx, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len)
{
        static const char head[] = "HTTP/1.1 200 OK\r\n\r\n";
        size_t n = sizeof(head) - 1 + body_len, i;
        uint8_t *r;

        (void)ctx;
        answers++;
        memcpy(last_req, req, len);
        last_req[len] = 0;
        if (answer_rc)
                return answer_rc;
        r = malloc(n);
        assert_non_null(r);
        memcpy(r, head, sizeof(head) - 1);
        for (i = sizeof(head) - 1; i < n; i++)
                r[i] = (uint8_t)('a' + i % 26);
        memcpy(last_resp, r, n);
        last_resp_len = n;
        *resp = r;
        *resp_len = n;
        return 0;
}

/* ---- a guest ------------------------------------------------------------------------------- */

struct seg {
        uint16_t sport;
        uint32_t seq, ack;
        uint8_t flags;
        uint16_t window, mss;
        const char *data;
        size_t len;
};

static size_t build(uint8_t *f, size_t cap, uint32_t dst, const struct seg *s)
{
        struct tcp_out o = {.sport = s->sport,
                            .dport = 80,
                            .seq = s->seq,
                            .ack = s->ack,
                            .flags = s->flags,
                            .window = s->window,
                            .mss_opt = s->mss,
                            .payload = (const uint8_t *)s->data,
                            .payload_len = s->len};
        size_t tl;

        assert_int_equal(eth_write(f, cap, ns_mac, guest_mac, ETHTYPE_IPV4), ETH_HDR_LEN);
        tl = tcp_write(f + 34, cap - 34, &o, GUEST_IP, dst);
        assert_true(tl > 0);
        assert_int_equal(ipv4_write(f + 14, cap - 14, IPV4_PROTO_TCP, GUEST_IP, dst, tl), 20);
        return 34 + tl;
}

static void send_seg(struct netstack *ns, const struct seg *s, uint64_t now)
{
        uint8_t f[4096];
        size_t n = build(f, sizeof(f), MMDS_IP, s);

        assert_true(netstack_wants(ns, f, n));
        netstack_take(ns, f, n, false, now);
}

static uint8_t out_frame[70000];

/* The next segment from the stack (checked on the way), or false. */
static bool pull(struct netstack *ns, uint64_t now, struct tcp_view *t)
{
        size_t n = netstack_next(ns, out_frame, sizeof(out_frame), now);
        struct ipv4_view ip;
        struct eth_view e;

        if (!n)
                return false;
        assert_int_equal(eth_parse(out_frame, n, &e), 0);
        assert_memory_equal(e.src, ns_mac, 6);
        assert_memory_equal(e.dst, guest_mac, 6);
        assert_int_equal(e.type, ETHTYPE_IPV4);
        assert_int_equal(ipv4_parse(e.payload, e.payload_len, true, &ip), 0);
        assert_int_equal(ip.src, MMDS_IP);
        assert_int_equal(ip.dst, GUEST_IP);
        assert_int_equal(tcp_parse(ip.payload, ip.payload_len, true, ip.src, ip.dst, t), 0);
        assert_int_equal(t->sport, 80);
        return true;
}

static struct netstack *mk(void)
{
        struct netstack *ns;

        body_len = 10;
        answer_rc = 0;
        answers = 0;
        assert_int_equal(netstack_create(&ns, MMDS_IP, fake_answer, NULL), 0);
        return ns;
}

/* Handshake from port with the given MSS and window. Returns our ISN + 1. */
static uint32_t connect(struct netstack *ns, uint16_t port, uint16_t mss, uint16_t win)
{
        struct seg syn = {.sport = port, .seq = 1000, .flags = TCP_SYN, .window = win, .mss = mss};
        struct tcp_view t;
        uint16_t m = 0;

        send_seg(ns, &syn, 0);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.flags, TCP_SYN | TCP_ACK);
        assert_int_equal(t.ack, 1001);
        assert_int_equal(tcp_parse_mss(&t, &m), 0);
        assert_int_equal(m, mss ? mss : TCP_MSS_DEFAULT);
        send_seg(ns,
                 &(struct seg){
                     .sport = port, .seq = 1001, .ack = t.seq + 1, .flags = TCP_ACK, .window = win},
                 0);
        assert_false(pull(ns, 0, &t));
        return t.seq + 1;
}

static const char req[] = "GET /latest HTTP/1.1\r\nAccept: */*\r\n\r\n";

static void send_req(struct netstack *ns, uint16_t port, uint32_t ack, uint16_t win, uint64_t now)
{
        send_seg(ns,
                 &(struct seg){.sport = port,
                               .seq = 1001,
                               .ack = ack,
                               .flags = TCP_ACK | TCP_PSH,
                               .window = win,
                               .data = req,
                               .len = sizeof(req) - 1},
                 now);
}

/* ---- headers ------------------------------------------------------------------------------- */

static void test_pdu_round_trip(void **state)
{
        struct seg s = {.sport = 1234,
                        .seq = 7,
                        .ack = 9,
                        .flags = TCP_ACK,
                        .window = 512,
                        .mss = 1460,
                        .data = "hello",
                        .len = 5};
        struct ipv4_view ip;
        struct tcp_view t;
        struct eth_view e;
        uint8_t f[200];
        size_t n = build(f, sizeof(f), MMDS_IP, &s);
        uint16_t mss;

        (void)state;
        assert_int_equal(n, 14 + 20 + 24 + 5);
        assert_int_equal(eth_parse(f, n, &e), 0);
        assert_int_equal(ipv4_parse(e.payload, e.payload_len, true, &ip), 0);
        assert_int_equal(ip.dst, MMDS_IP);
        assert_int_equal(tcp_parse(ip.payload, ip.payload_len, true, ip.src, ip.dst, &t), 0);
        assert_int_equal(t.sport, 1234);
        assert_int_equal(t.seq, 7);
        assert_int_equal(t.ack, 9);
        assert_int_equal(t.window, 512);
        assert_int_equal(t.payload_len, 5);
        assert_memory_equal(t.payload, "hello", 5);
        assert_int_equal(tcp_parse_mss(&t, &mss), 0);
        assert_int_equal(mss, 1460);
        /* Ethernet padding after the IPv4 packet is not payload. */
        assert_int_equal(ipv4_parse(e.payload, e.payload_len + 10, true, &ip), 0);
        assert_int_equal(ip.payload_len, 29);
}

static void test_pdu_bad_checksums(void **state)
{
        struct seg s = {.sport = 1, .flags = TCP_SYN, .data = "x", .len = 1};
        struct ipv4_view ip;
        struct tcp_view t;
        uint8_t f[200];
        size_t n = build(f, sizeof(f), MMDS_IP, &s);

        (void)state;
        f[14 + 8] ^= 1; /* TTL: the IPv4 header checksum no longer holds */
        assert_int_equal(ipv4_parse(f + 14, n - 14, true, &ip), -EINVAL);
        assert_int_equal(ipv4_parse(f + 14, n - 14, false, &ip), 0);
        f[14 + 8] ^= 1;
        f[n - 1] ^= 0x40; /* payload: the TCP checksum no longer holds */
        assert_int_equal(ipv4_parse(f + 14, n - 14, true, &ip), 0);
        assert_int_equal(tcp_parse(ip.payload, ip.payload_len, true, ip.src, ip.dst, &t), -EINVAL);
        assert_int_equal(tcp_parse(ip.payload, ip.payload_len, false, 0, 0, &t), 0);
}

static void test_pdu_truncated(void **state)
{
        struct seg s = {.sport = 1, .flags = TCP_SYN};
        struct ipv4_view ip;
        struct tcp_view t;
        struct eth_view e;
        struct arp_view a;
        uint8_t f[200];
        size_t n = build(f, sizeof(f), MMDS_IP, &s);

        (void)state;
        assert_int_equal(eth_parse(f, 13, &e), -EINVAL);
        assert_int_equal(ipv4_parse(f + 14, 19, false, &ip), -EINVAL);
        /* total length beyond the bytes there */
        assert_int_equal(ipv4_parse(f + 14, n - 15, false, &ip), -EINVAL);
        f[14] = 0x44; /* header length 16 */
        assert_int_equal(ipv4_parse(f + 14, n - 14, false, &ip), -EINVAL);
        f[14] = 0x65; /* version 6 */
        assert_int_equal(ipv4_parse(f + 14, n - 14, false, &ip), -EINVAL);
        assert_int_equal(tcp_parse(f + 34, 19, false, 0, 0, &t), -EINVAL);
        f[34 + 12] = 0xf0; /* a 60-byte header in 20 bytes */
        assert_int_equal(tcp_parse(f + 34, 20, false, 0, 0, &t), -EINVAL);
        f[34 + 12] = 0x40; /* 16 bytes: shorter than the fixed header */
        assert_int_equal(tcp_parse(f + 34, 20, false, 0, 0, &t), -EINVAL);
        assert_int_equal(arp_parse(f, 27, &a), -EINVAL);
        assert_int_equal(eth_write(f, 13, ns_mac, ns_mac, 1), 0);
        assert_int_equal(ipv4_write(f, 30, 6, 0, 0, 11), 0);
}

static void test_pdu_mss_option(void **state)
{
        uint8_t opts[8] = {1, 1, 2, 4, 0x05, 0xb4, 0, 0};
        struct tcp_view t = {.opts = opts, .opts_len = 8};
        uint16_t mss = 0;

        (void)state;
        assert_int_equal(tcp_parse_mss(&t, &mss), 0);
        assert_int_equal(mss, 1460);
        opts[4] = 0;
        opts[5] = 99; /* below the minimum */
        assert_int_equal(tcp_parse_mss(&t, &mss), -EINVAL);
        opts[2] = 8;
        opts[3] = 0; /* an unknown option of length 0 */
        assert_int_equal(tcp_parse_mss(&t, &mss), -EINVAL);
        opts[2] = 0; /* end of options */
        assert_int_equal(tcp_parse_mss(&t, &mss), 1);
        t.opts_len = 0;
        assert_int_equal(tcp_parse_mss(&t, &mss), 1);
}

/* ---- ARP and steering ---------------------------------------------------------------------- */

static size_t arp_frame(uint8_t *f, uint16_t oper, uint32_t tpa)
{
        struct arp_view a = {.oper = oper, .spa = GUEST_IP, .tpa = tpa};

        memcpy(a.sha, guest_mac, 6);
        eth_write(f, 64, (const uint8_t[6]){0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, guest_mac,
                  ETHTYPE_ARP);
        return 14 + arp_write(f + 14, 50, &a);
}

static void test_arp(void **state)
{
        struct netstack *ns = mk();
        struct eth_view e;
        struct arp_view a;
        uint8_t f[64];
        size_t n;

        (void)state;
        n = arp_frame(f, ARP_OP_REQUEST, 0x0a000001);
        assert_false(netstack_wants(ns, f, n)); /* someone else's address: the tap's */
        n = arp_frame(f, ARP_OP_REPLY, MMDS_IP);
        assert_true(netstack_wants(ns, f, n));
        netstack_take(ns, f, n, false, 0);
        assert_int_equal(netstack_next(ns, out_frame, sizeof(out_frame), 0), 0);
        n = arp_frame(f, ARP_OP_REQUEST, MMDS_IP);
        netstack_take(ns, f, n, false, 0);
        n = netstack_next(ns, out_frame, sizeof(out_frame), 0);
        assert_int_equal(n, 42);
        assert_int_equal(eth_parse(out_frame, n, &e), 0);
        assert_int_equal(e.type, ETHTYPE_ARP);
        assert_memory_equal(e.dst, guest_mac, 6);
        assert_int_equal(arp_parse(e.payload, e.payload_len, &a), 0);
        assert_int_equal(a.oper, ARP_OP_REPLY);
        assert_memory_equal(a.sha, ns_mac, 6);
        assert_int_equal(a.spa, MMDS_IP);
        assert_int_equal(a.tpa, GUEST_IP);
        assert_int_equal(netstack_next(ns, out_frame, sizeof(out_frame), 0), 0);
        netstack_destroy(ns);
}

static void test_steering(void **state)
{
        struct netstack *ns = mk();
        struct seg s = {.sport = 5, .flags = TCP_SYN};
        uint8_t f[200];
        size_t n;

        (void)state;
        n = build(f, sizeof(f), 0x0a000001, &s);
        assert_false(netstack_wants(ns, f, n));
        n = build(f, sizeof(f), MMDS_IP, &s);
        assert_true(netstack_wants(ns, f, n));
        f[12] = 0x86; /* IPv6 */
        f[13] = 0xdd;
        assert_false(netstack_wants(ns, f, n));
        assert_false(netstack_wants(ns, f, 20)); /* shorter than Ethernet + IPv4 */
        /* Garbage addressed to the service is taken and dropped without an answer. */
        memset(f + 14, 0xff, 20);
        f[12] = 0x08;
        f[13] = 0x00;
        netstack_take(ns, f, n, false, 0);
        netstack_take(ns, f, 5, false, 0);
        assert_int_equal(netstack_next(ns, out_frame, sizeof(out_frame), 0), 0);
        netstack_destroy(ns);
}

/* ---- TCP ----------------------------------------------------------------------------------- */

/* Collects the answer's segments until nothing is due; acks each when ack_each. */
static size_t collect(struct netstack *ns, uint16_t port, uint8_t *got, uint16_t win, bool ack_each,
                      unsigned int *nsegs, uint16_t mss)
{
        struct tcp_view t;
        size_t total = 0;

        *nsegs = 0;
        while (pull(ns, 0, &t)) {
                if (!t.payload_len)
                        continue;
                assert_true(t.payload_len <= mss);
                memcpy(got + total, t.payload, t.payload_len);
                total += t.payload_len;
                (*nsegs)++;
                if (ack_each)
                        send_seg(ns,
                                 &(struct seg){.sport = port,
                                               .seq = 1001 + sizeof(req) - 1,
                                               .ack = t.seq + (uint32_t)t.payload_len,
                                               .flags = TCP_ACK,
                                               .window = win},
                                 0);
        }
        return total;
}

static void test_tcp_request_segmented(void **state)
{
        static uint8_t got[20000];
        struct netstack *ns = mk();
        unsigned int nsegs;
        uint32_t isn1;
        size_t total;

        (void)state;
        body_len = 5000;
        isn1 = connect(ns, 4000, 536, 65535);
        send_req(ns, 4000, isn1, 65535, 0);
        assert_int_equal(answers, 1);
        assert_string_equal(last_req, req);
        total = collect(ns, 4000, got, 65535, true, &nsegs, 536);
        assert_int_equal(total, last_resp_len);
        assert_memory_equal(got, last_resp, total);
        assert_true(nsegs >= last_resp_len / 536);
        assert_int_equal(ns->nconns, 1);
        netstack_destroy(ns);
}

static void test_tcp_window(void **state)
{
        static uint8_t got[20000];
        struct netstack *ns = mk();
        unsigned int nsegs;
        struct tcp_view t;
        uint32_t isn1;

        (void)state;
        body_len = 3000;
        isn1 = connect(ns, 4001, 500, 0); /* window 0: nothing may be sent */
        send_req(ns, 4001, isn1, 0, 0);
        assert_int_equal(answers, 1);
        assert_true(pull(ns, 0, &t)); /* the request's ACK */
        assert_int_equal(t.payload_len, 0);
        assert_int_equal(t.ack, 1001 + sizeof(req) - 1);
        assert_false(pull(ns, 0, &t));
        /* A 1000-byte window: two full segments, then silence until the next ACK. */
        send_seg(ns,
                 &(struct seg){.sport = 4001,
                               .seq = 1001 + sizeof(req) - 1,
                               .ack = isn1,
                               .flags = TCP_ACK,
                               .window = 1000},
                 0);
        assert_int_equal(collect(ns, 4001, got, 1000, false, &nsegs, 500), 1000);
        assert_int_equal(nsegs, 2);
        send_seg(ns,
                 &(struct seg){.sport = 4001,
                               .seq = 1001 + sizeof(req) - 1,
                               .ack = isn1 + 1000,
                               .flags = TCP_ACK,
                               .window = 65535},
                 0);
        assert_int_equal(collect(ns, 4001, got + 1000, 65535, true, &nsegs, 500),
                         last_resp_len - 1000);
        assert_memory_equal(got, last_resp, last_resp_len);
        netstack_destroy(ns);
}

static void test_tcp_out_of_order(void **state)
{
        struct netstack *ns = mk();
        struct tcp_view t;
        uint32_t isn1;

        (void)state;
        isn1 = connect(ns, 4002, 1460, 65535);
        /* The request's second half first: not taken, and an ACK says what is expected. */
        send_seg(ns,
                 &(struct seg){.sport = 4002,
                               .seq = 1011,
                               .ack = isn1,
                               .flags = TCP_ACK,
                               .window = 65535,
                               .data = req + 10,
                               .len = sizeof(req) - 11},
                 0);
        assert_int_equal(answers, 0);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.flags, TCP_ACK);
        assert_int_equal(t.ack, 1001);
        send_seg(ns,
                 &(struct seg){.sport = 4002,
                               .seq = 1001,
                               .ack = isn1,
                               .flags = TCP_ACK,
                               .window = 65535,
                               .data = req,
                               .len = 10},
                 0);
        assert_int_equal(answers, 0);
        send_seg(ns,
                 &(struct seg){.sport = 4002,
                               .seq = 1011,
                               .ack = isn1,
                               .flags = TCP_ACK,
                               .window = 65535,
                               .data = req + 10,
                               .len = sizeof(req) - 11},
                 0);
        assert_int_equal(answers, 1);
        assert_string_equal(last_req, req);
        netstack_destroy(ns);
}

static void test_tcp_retransmit_then_reset(void **state)
{
        struct netstack *ns = mk();
        struct tcp_view t;
        uint64_t when = 0, now = 0;
        uint32_t isn1, first_seq;
        unsigned int i;

        (void)state;
        isn1 = connect(ns, 4003, 1460, 65535);
        send_req(ns, 4003, isn1, 65535, 0);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.payload_len, last_resp_len);
        first_seq = t.seq;
        assert_false(pull(ns, 0, &t));
        assert_true(netstack_deadline(ns, &when));
        assert_int_equal(when, TCP_EP_RTO_NS);
        assert_false(pull(ns, when - 1, &t));
        /* Never acknowledged: resent at every timeout, then the connection is reset. */
        for (i = 1; i < TCP_EP_RTO_MAX; i++) {
                assert_true(netstack_deadline(ns, &when));
                now = when;
                assert_true(pull(ns, now, &t));
                assert_int_equal(t.seq, first_seq);
                assert_int_equal(t.payload_len, last_resp_len);
                assert_false(pull(ns, now, &t));
        }
        assert_true(netstack_deadline(ns, &when));
        assert_true(pull(ns, when, &t));
        assert_true(t.flags & TCP_RST);
        assert_int_equal(ns->nconns, 0);
        assert_false(netstack_deadline(ns, &when));
        netstack_destroy(ns);
}

static void test_tcp_fin(void **state)
{
        struct netstack *ns = mk();
        struct tcp_view t;
        uint32_t isn1, end;

        (void)state;
        isn1 = connect(ns, 4004, 1460, 65535);
        send_req(ns, 4004, isn1, 65535, 0);
        assert_true(pull(ns, 0, &t));
        end = t.seq + (uint32_t)t.payload_len;
        /* The peer acknowledges the answer and closes; we acknowledge and close too. */
        send_seg(ns,
                 &(struct seg){.sport = 4004,
                               .seq = 1001 + sizeof(req) - 1,
                               .ack = end,
                               .flags = TCP_ACK | TCP_FIN,
                               .window = 65535},
                 0);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.flags, TCP_ACK | TCP_FIN);
        assert_int_equal(t.seq, end);
        assert_int_equal(t.ack, 1001 + sizeof(req));
        assert_int_equal(ns->nconns, 0);
        netstack_destroy(ns);
}

static void test_tcp_rst_and_strays(void **state)
{
        struct netstack *ns = mk();
        struct tcp_view t;
        uint32_t isn1;

        (void)state;
        isn1 = connect(ns, 4005, 1460, 65535);
        /* A RST outside the window is ignored; one inside ends the connection. */
        send_seg(ns, &(struct seg){.sport = 4005, .seq = 99999, .flags = TCP_RST}, 0);
        assert_int_equal(ns->nconns, 1);
        send_seg(ns, &(struct seg){.sport = 4005, .seq = 1001, .flags = TCP_RST}, 0);
        assert_int_equal(ns->nconns, 0);
        assert_false(pull(ns, 0, &t));
        /* An ACK for no connection gets a RST at its acknowledgement number. */
        send_seg(ns, &(struct seg){.sport = 4006, .seq = 5, .ack = 777, .flags = TCP_ACK}, 0);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.flags, TCP_RST);
        assert_int_equal(t.seq, 777);
        /* Data without ACK: RST|ACK past it. */
        send_seg(ns, &(struct seg){.sport = 4006, .seq = 5, .data = "ab", .len = 2}, 0);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.flags, TCP_RST | TCP_ACK);
        assert_int_equal(t.ack, 7);
        /* A RST for no connection is not answered. */
        send_seg(ns, &(struct seg){.sport = 4006, .seq = 5, .flags = TCP_RST}, 0);
        assert_false(pull(ns, 0, &t));
        /* A second SYN on an established connection resets it. */
        isn1 = connect(ns, 4007, 1460, 65535);
        (void)isn1;
        send_seg(ns, &(struct seg){.sport = 4007, .seq = 50, .flags = TCP_SYN}, 0);
        assert_true(pull(ns, 0, &t));
        assert_true(t.flags & TCP_RST);
        assert_int_equal(ns->nconns, 0);
        netstack_destroy(ns);
}

static void test_tcp_connection_limit(void **state)
{
        struct netstack *ns = mk();
        struct tcp_view t;
        unsigned int i;

        (void)state;
        for (i = 0; i < NETSTACK_MAX_CONNS; i++)
                send_seg(
                    ns,
                    &(struct seg){
                        .sport = (uint16_t)(5000 + i), .seq = 1, .flags = TCP_SYN, .window = 100},
                    0);
        assert_int_equal(ns->nconns, NETSTACK_MAX_CONNS);
        while (pull(ns, 0, &t))
                assert_int_equal(t.flags, TCP_SYN | TCP_ACK);
        /* The table is full of live connections: the next SYN gets a RST|ACK. */
        send_seg(ns, &(struct seg){.sport = 6000, .seq = 1, .flags = TCP_SYN}, 0);
        assert_int_equal(ns->nconns, NETSTACK_MAX_CONNS);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.flags, TCP_RST | TCP_ACK);
        assert_int_equal(t.dport, 6000);
        assert_int_equal(t.ack, 1);
        /* Resets waiting to be sent are bounded too. */
        for (i = 0; i < 3 * NETSTACK_MAX_RSTS; i++)
                send_seg(ns,
                         &(struct seg){.sport = (uint16_t)(7000 + i), .seq = 1, .flags = TCP_SYN},
                         0);
        assert_int_equal(ns->nrsts, NETSTACK_MAX_RSTS);
        while (ns->nrsts)
                assert_true(pull(ns, 0, &t));
        /* Once idle long enough, a connection makes room for a new one and its peer is reset. */
        send_seg(ns, &(struct seg){.sport = 6001, .seq = 1, .flags = TCP_SYN, .window = 100},
                 TCP_EP_EVICT_NS + 1);
        assert_int_equal(ns->nconns, NETSTACK_MAX_CONNS);
        assert_true(pull(ns, TCP_EP_EVICT_NS + 1, &t));
        assert_true(t.flags & TCP_RST);
        assert_true(t.dport >= 5000 && t.dport < 5000 + NETSTACK_MAX_CONNS);
        assert_true(pull(ns, TCP_EP_EVICT_NS + 1, &t)); /* the newcomer's SYN-ACK */
        assert_int_equal(t.dport, 6001);
        assert_int_equal(t.flags, TCP_SYN | TCP_ACK);
        netstack_destroy(ns);
}

static void test_tcp_request_too_long(void **state)
{
        static char junk[TCP_EP_RCV_BUF];
        struct netstack *ns = mk();
        struct tcp_view t;
        uint32_t isn1;

        (void)state;
        memset(junk, 'x', sizeof(junk));
        isn1 = connect(ns, 4010, 1460, 65535);
        send_seg(ns,
                 &(struct seg){.sport = 4010,
                               .seq = 1001,
                               .ack = isn1,
                               .flags = TCP_ACK,
                               .window = 65535,
                               .data = junk,
                               .len = 1500},
                 0);
        send_seg(ns,
                 &(struct seg){.sport = 4010,
                               .seq = 2501,
                               .ack = isn1,
                               .flags = TCP_ACK,
                               .window = 65535,
                               .data = junk,
                               .len = 1000},
                 0);
        assert_int_equal(answers, 0);
        assert_true(pull(ns, 0, &t));
        assert_int_equal(t.flags, TCP_RST);
        assert_int_equal(ns->nconns, 0);
        netstack_destroy(ns);
}

static void test_tcp_answer_fails(void **state)
{
        struct netstack *ns = mk();
        struct tcp_view t;
        uint32_t isn1;

        (void)state;
        isn1 = connect(ns, 4011, 1460, 65535);
        answer_rc = -ENOMEM;
        send_req(ns, 4011, isn1, 65535, 0);
        assert_int_equal(answers, 1);
        assert_true(pull(ns, 0, &t));
        assert_true(t.flags & TCP_RST);
        assert_int_equal(ns->nconns, 0);
        netstack_destroy(ns);
}

static void test_tcp_bad_checksum_and_port(void **state)
{
        struct netstack *ns = mk();
        struct seg s = {.sport = 4012, .seq = 1, .flags = TCP_SYN};
        struct tcp_view t;
        uint8_t f[200];
        size_t n = build(f, sizeof(f), MMDS_IP, &s);

        (void)state;
        f[n - 1] ^= 1; /* the checksum field's low byte: the segment is refused */
        netstack_take(ns, f, n, false, 0);
        assert_int_equal(ns->nconns, 0);
        /* The guest asked the device to fill the checksum in: not checked. */
        netstack_take(ns, f, n, true, 0);
        assert_int_equal(ns->nconns, 1);
        assert_true(pull(ns, 0, &t));
        n = build(f, sizeof(f), MMDS_IP, &s);
        f[34 + 3] = 81; /* port 81 */
        netstack_take(ns, f, n, true, 0);
        assert_int_equal(ns->nconns, 1);
        assert_false(pull(ns, 0, &t));
        netstack_destroy(ns);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_pdu_round_trip),
            cmocka_unit_test(test_pdu_bad_checksums),
            cmocka_unit_test(test_pdu_truncated),
            cmocka_unit_test(test_pdu_mss_option),
            cmocka_unit_test(test_arp),
            cmocka_unit_test(test_steering),
            cmocka_unit_test(test_tcp_request_segmented),
            cmocka_unit_test(test_tcp_window),
            cmocka_unit_test(test_tcp_out_of_order),
            cmocka_unit_test(test_tcp_retransmit_then_reset),
            cmocka_unit_test(test_tcp_fin),
            cmocka_unit_test(test_tcp_rst_and_strays),
            cmocka_unit_test(test_tcp_connection_limit),
            cmocka_unit_test(test_tcp_request_too_long),
            cmocka_unit_test(test_tcp_answer_fails),
            cmocka_unit_test(test_tcp_bad_checksum_and_port),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
