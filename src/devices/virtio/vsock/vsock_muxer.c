/* virtio-vsock Unix-socket backend: the listener, CONNECT lines, the connection table, timeouts. */
#define _GNU_SOURCE
#include "devices/virtio/vsock/vsock_muxer.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"

#define TAG_LISTEN 0xffffffffu
#define TAG_TIMER  0xfffffffeu

/* ---- the table ------------------------------------------------------------------------------ */

static unsigned int bucket_of(uint32_t local_port, uint32_t peer_port)
{
        uint32_t h = local_port * 0x9e3779b1u ^ peer_port * 0x85ebca6bu;

        return (h ^ h >> 15) % VSOCK_HASH_BUCKETS;
}

static int slot_index(const struct vsock_muxer *m, const struct vsock_slot *s)
{
        return (int)(s - m->slots);
}

static int find_slot(const struct vsock_muxer *m, uint32_t local_port, uint32_t peer_port)
{
        int i = m->buckets[bucket_of(local_port, peer_port)];

        while (i >= 0 &&
               (m->slots[i].c.local_port != local_port || m->slots[i].c.peer_port != peer_port))
                i = m->slots[i].hnext;
        return i;
}

struct vsock_conn *vsock_muxer_find(struct vsock_muxer *m, uint32_t local_port, uint32_t peer_port)
{
        int i = find_slot(m, local_port, peer_port);

        return i < 0 ? NULL : &m->slots[i].c;
}

static void hash_insert(struct vsock_muxer *m, struct vsock_slot *s)
{
        unsigned int b = bucket_of(s->c.local_port, s->c.peer_port);

        s->hnext = m->buckets[b];
        m->buckets[b] = slot_index(m, s);
        s->in_hash = true;
}

static void hash_remove(struct vsock_muxer *m, struct vsock_slot *s)
{
        int *p = &m->buckets[bucket_of(s->c.local_port, s->c.peer_port)];

        while (*p >= 0 && *p != slot_index(m, s))
                p = &m->slots[*p].hnext;
        if (*p >= 0)
                *p = s->hnext;
        s->in_hash = false;
}

static struct vsock_slot *free_slot(struct vsock_muxer *m)
{
        unsigned int i;

        if (m->nslots >= VSOCK_MAX_CONNECTIONS)
                return NULL;
        for (i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
                if (m->slots[i].c.state == VC_FREE)
                        return &m->slots[i];
        return NULL;
}

/* ---- epoll and the timer -------------------------------------------------------------------- */

static int ep_set(struct vsock_muxer *m, int op, int fd, uint32_t events, uint32_t tag)
{
        struct epoll_event ev = {.events = events, .data.u64 = tag};

        return epoll_ctl(m->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static void arm_timer(struct vsock_muxer *m, uint64_t at_ms, uint64_t now_ms)
{
        uint64_t d = at_ms > now_ms ? at_ms - now_ms : 1;
        struct itimerspec its = {
            .it_value = {.tv_sec = (time_t)(d / 1000), .tv_nsec = (long)(d % 1000) * 1000000L}};

        if (timerfd_settime(m->timer_fd, 0, &its, NULL) == 0)
                m->timer_at = at_ms;
}

/* Slot removal: out of epoll, the hash and the RX queue (lazily), and closed. */
static void slot_release(struct vsock_muxer *m, struct vsock_slot *s)
{
        if (s->polled)
                ep_set(m, EPOLL_CTL_DEL, s->c.fd, 0, 0);
        if (s->in_hash)
                hash_remove(m, s);
        vsock_conn_release(&s->c);
        s->polled = 0;
        s->line_len = 0;
        m->nslots--;
        if (m->listen_paused && ep_set(m, EPOLL_CTL_ADD, m->listen_fd, EPOLLIN, TAG_LISTEN) == 0)
                m->listen_paused = false; /* a descriptor is free again */
}

static void remove_conn(struct vsock_muxer *m, struct vsock_slot *s)
{
        metrics_inc(&metrics.vsock.conns_removed);
        slot_release(m, s);
}

/*
 * After anything touched a connection (Firecracker's apply_conn_mutation): queue it for RX,
 * arm the timer for its timeout, and watch its socket for what it wants now.
 */
static void conn_update(struct vsock_muxer *m, struct vsock_slot *s, uint64_t now_ms)
{
        uint32_t want = vsock_conn_polled(&s->c);
        int op, rc = 0;

        if (vsock_conn_has_rx(&s->c) && !s->in_rxq) {
                s->in_rxq = true;
                s->rxnext = -1;
                if (m->rx_tail >= 0)
                        m->slots[m->rx_tail].rxnext = slot_index(m, s);
                else
                        m->rx_head = slot_index(m, s);
                m->rx_tail = slot_index(m, s);
        }
        if (s->c.expiry_ms && (m->timer_at == 0 || s->c.expiry_ms < m->timer_at))
                arm_timer(m, s->c.expiry_ms, now_ms);
        if (want == s->polled)
                return;
        op = !want ? EPOLL_CTL_DEL : s->polled ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        rc = ep_set(m, op, s->c.fd, want, (uint32_t)slot_index(m, s));
        s->polled = rc ? s->polled : want;
        if (rc && want) {
                metrics_inc(&metrics.vsock.muxer_event_fails);
                log_warn("vsock: cannot watch a host socket: %s", strerror(-rc));
                vsock_conn_kill(&s->c);
                metrics_inc(&metrics.vsock.conns_killed);
                conn_update(m, s, now_ms);
        }
}

int vsock_muxer_add(struct vsock_muxer *m, const struct vsock_conn *c)
{
        struct vsock_slot *s = free_slot(m);

        if (!s) {
                log_guest_warn("vsock: connection limit reached (%d)", VSOCK_MAX_CONNECTIONS);
                if (c->fd >= 0)
                        close(c->fd);
                return -ENOSPC;
        }
        bool in_rxq = s->in_rxq; /* a freed slot may still be linked in the RX queue */
        int rxnext = s->rxnext;

        memset(s, 0, sizeof(*s));
        s->in_rxq = in_rxq;
        s->rxnext = rxnext;
        s->c = *c;
        m->nslots++;
        if (c->state != VC_LOCAL_PENDING) {
                hash_insert(m, s);
                metrics_inc(&metrics.vsock.conns_added);
        }
        return slot_index(m, s);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

int vsock_muxer_init(struct vsock_muxer *m, uint64_t cid, const char *path, int listen_fd)
{
        unsigned int i;

        memset(m, 0, sizeof(*m));
        m->cid = cid;
        m->path = path;
        m->listen_fd = listen_fd;
        m->local_port_last = (1u << 30) - 1;
        m->rx_head = m->rx_tail = -1;
        for (i = 0; i < VSOCK_HASH_BUCKETS; i++)
                m->buckets[i] = -1;
        for (i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
                m->slots[i].c.fd = -1;
        m->timer_fd = -1;
        m->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (m->epfd < 0)
                return -errno;
        m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (m->timer_fd < 0 || ep_set(m, EPOLL_CTL_ADD, m->timer_fd, EPOLLIN, TAG_TIMER)) {
                int rc = -errno;

                vsock_muxer_fini(m);
                return rc;
        }
        return 0;
}

void vsock_muxer_stop(struct vsock_muxer *m)
{
        unsigned int i;

        for (i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
                if (m->slots[i].c.state != VC_FREE)
                        slot_release(m, &m->slots[i]);
        struct itimerspec off = {{0, 0}, {0, 0}};

        if (m->started && !m->listen_paused)
                ep_set(m, EPOLL_CTL_DEL, m->listen_fd, 0, 0);
        m->started = m->listen_paused = false;
        timerfd_settime(m->timer_fd, 0, &off, NULL); /* an expiry nobody reads would spin */
        m->timer_at = 0;
        m->rx_head = m->rx_tail = -1;
        for (i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
                m->slots[i].in_rxq = false;
        m->rst_len = 0;
}

void vsock_muxer_fini(struct vsock_muxer *m)
{
        if (m->epfd >= 0)
                vsock_muxer_stop(m);
        if (m->timer_fd >= 0)
                close(m->timer_fd);
        if (m->epfd >= 0)
                close(m->epfd);
        m->timer_fd = m->epfd = -1;
}

int vsock_muxer_fd(const struct vsock_muxer *m)
{
        return m->epfd;
}

int vsock_muxer_start(struct vsock_muxer *m)
{
        int rc;

        if (m->started || m->listen_fd < 0)
                return 0;
        rc = ep_set(m, EPOLL_CTL_ADD, m->listen_fd, EPOLLIN, TAG_LISTEN);
        m->started = rc == 0;
        return rc;
}

/* ---- packets for the guest ------------------------------------------------------------------- */

static void enq_rst(struct vsock_muxer *m, uint32_t local_port, uint32_t peer_port)
{
        unsigned int at;

        if (m->rst_len == VSOCK_MUXER_RST_QUEUE) {
                log_guest_warn("vsock: muxer RX queue full; dropping RST for lp=%u, pp=%u",
                               local_port, peer_port);
                return;
        }
        at = (m->rst_head + m->rst_len++) % VSOCK_MUXER_RST_QUEUE;
        m->rst[at].local_port = local_port;
        m->rst[at].peer_port = peer_port;
}

bool vsock_muxer_has_rx(const struct vsock_muxer *m)
{
        return m->rst_len > 0 || m->rx_head >= 0;
}

static void rst_pkt(struct vsock_muxer *m, struct vsock_pkt *p)
{
        memset(&p->hdr, 0, sizeof(p->hdr));
        p->hdr.op = VSOCK_OP_RST;
        p->hdr.src_cid = VSOCK_HOST_CID;
        p->hdr.dst_cid = m->cid;
        p->hdr.src_port = m->rst[m->rst_head].local_port;
        p->hdr.dst_port = m->rst[m->rst_head].peer_port;
        p->hdr.type = VSOCK_TYPE_STREAM;
        m->rst_head = (m->rst_head + 1) % VSOCK_MUXER_RST_QUEUE;
        m->rst_len--; /* not in rx_packets_count: Firecracker counts a connection's packets */
}

/* Takes the RX queue's head off it. */
static struct vsock_slot *rxq_pop(struct vsock_muxer *m)
{
        struct vsock_slot *s = &m->slots[m->rx_head];

        m->rx_head = s->rxnext;
        if (m->rx_head < 0)
                m->rx_tail = -1;
        s->in_rxq = false;
        return s;
}

int vsock_muxer_recv_pkt(struct vsock_muxer *m, struct vsock_pkt *p, uint64_t now_ms)
{
        unsigned int tries = VSOCK_MAX_CONNECTIONS; /* each queued connection once at most */

        if (m->rst_len > 0) {
                rst_pkt(m, p);
                return 0;
        }
        while (m->rx_head >= 0 && tries-- > 0) {
                struct vsock_slot *s = rxq_pop(m);
                int rc;

                if (s->c.state == VC_FREE || s->c.state == VC_LOCAL_PENDING)
                        continue;
                rc = vsock_conn_recv_pkt(&s->c, p, now_ms);
                if (rc == 0 && p->hdr.op == VSOCK_OP_RST) {
                        remove_conn(m, s);
                        return 0;
                }
                conn_update(m, s, now_ms); /* back in the queue if it has more */
                if (rc == 0)
                        return 0;
        }
        return -ENODATA;
}

/* ---- packets from the guest ------------------------------------------------------------------ */

/* Connects to "<uds_path>_<port>" without blocking. Returns the socket or -errno. */
static int connect_port(const struct vsock_muxer *m, uint32_t port)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, n;

        n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", m->path, port);
        if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
                return -ENAMETOOLONG;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                n = -errno;
                close(fd);
                return n;
        }
        return fd;
}

/* A guest REQUEST for no existing connection (handle_peer_request_pkt). */
static void peer_request(struct vsock_muxer *m, const struct vsock_hdr *h, uint64_t now_ms)
{
        struct vsock_conn c;
        int fd, i;

        fd = m->nslots < VSOCK_MAX_CONNECTIONS ? connect_port(m, h->dst_port) : -ENOSPC;
        if (fd >= 0) {
                vsock_conn_init_peer(&c, fd, m->cid, h->dst_port, h->src_port, h->buf_alloc);
                i = vsock_muxer_add(m, &c);
                if (i >= 0) {
                        conn_update(m, &m->slots[i], now_ms);
                        return;
                }
        }
        enq_rst(m, h->dst_port, h->src_port);
}

/* The guest answered a host client's CONNECT: tell the client its port (or end it). */
static void ack_host(struct vsock_slot *s)
{
        char msg[24];
        int n = snprintf(msg, sizeof(msg), "OK %u\n", s->c.local_port);
        ssize_t w = write(s->c.fd, msg, (size_t)n);

        if (w != n) {
                log_warn("vsock: unable to ack host connection: %s",
                         w < 0 ? strerror(errno) : "short write");
                vsock_conn_kill(&s->c);
        }
}

void vsock_muxer_send_pkt(struct vsock_muxer *m, const struct vsock_pkt *p, uint64_t now_ms)
{
        const struct vsock_hdr *h = &p->hdr;
        int i;

        if (h->type != VSOCK_TYPE_STREAM) {
                enq_rst(m, h->dst_port, h->src_port);
                return;
        }
        if (h->dst_cid != VSOCK_HOST_CID)
                return; /* dropped, as Firecracker drops a packet for an unknown CID */
        i = find_slot(m, h->dst_port, h->src_port);
        if (i < 0) {
                if (h->op == VSOCK_OP_REQUEST)
                        peer_request(m, h, now_ms);
                else /* an RST too, as Firecracker answers any packet for no connection */
                        enq_rst(m, h->dst_port, h->src_port);
                return;
        }
        if (h->op == VSOCK_OP_RST) {
                remove_conn(m, &m->slots[i]);
                return;
        }
        {
                struct vsock_slot *s = &m->slots[i];
                bool was_init = s->c.state == VC_LOCAL_INIT;

                vsock_conn_send_pkt(&s->c, p, now_ms);
                if (was_init && s->c.state == VC_ESTABLISHED)
                        ack_host(s);
                conn_update(m, s, now_ms);
        }
}

/* ---- host events ------------------------------------------------------------------------------
 */

/* A new host client: it has VSOCK_CONN_REQUEST_TIMEOUT_MS to send its CONNECT line (brasa's). */
static void on_listen(struct vsock_muxer *m, uint64_t now_ms)
{
        struct vsock_conn c = {.state = VC_LOCAL_PENDING};
        int fd, i;

        fd = accept4(m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
                if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                        return;
                log_warn("vsock: unable to accept local connection: %s", strerror(errno));
                /* out of descriptors or memory: stop listening until a connection ends, or
                 * the still-readable listener would spin the loop */
                if (m->nslots > 0 && ep_set(m, EPOLL_CTL_DEL, m->listen_fd, 0, 0) == 0)
                        m->listen_paused = true;
                return;
        }
        c.fd = fd;
        c.expiry_ms = now_ms + VSOCK_CONN_REQUEST_TIMEOUT_MS;
        i = vsock_muxer_add(m, &c);
        if (i < 0)
                return; /* refused at the limit: closed, as Firecracker drops it */
        if (ep_set(m, EPOLL_CTL_ADD, fd, EPOLLIN, (uint32_t)i)) {
                slot_release(m, &m->slots[i]);
                return;
        }
        m->slots[i].polled = EPOLLIN;
        if (m->timer_at == 0 || c.expiry_ms < m->timer_at)
                arm_timer(m, c.expiry_ms, now_ms);
}

/* Parses "connect <port>" (any case, any blanks) as read_local_stream_port. -EINVAL if not. */
static int parse_connect(const char *line, uint32_t *port)
{
        char word[16], *end;
        unsigned long v;
        int n = 0;

        if (sscanf(line, " %15s %n", word, &n) != 1 || strcasecmp(word, "connect") != 0)
                return -EINVAL;
        line += n;
        if (!isdigit((unsigned char)*line))
                return -EINVAL;
        errno = 0;
        v = strtoul(line, &end, 10);
        if (errno || v > UINT32_MAX || (*end && !isspace((unsigned char)*end)))
                return -EINVAL;
        while (*end && isspace((unsigned char)*end))
                end++;
        if (*end)
                return -EINVAL;
        *port = (uint32_t)v;
        return 0;
}

static bool local_port_used(const struct vsock_muxer *m, uint32_t port)
{
        unsigned int i;

        for (i = 0; i < VSOCK_MAX_CONNECTIONS; i++)
                if (m->slots[i].in_hash && m->slots[i].c.local_port == port)
                        return true;
        return false;
}

/* allocate_local_port(): the next free port in [2^30, 2^31). */
static uint32_t alloc_local_port(struct vsock_muxer *m)
{
        do
                m->local_port_last = ((m->local_port_last + 1) & ~(1u << 31)) | (1u << 30);
        while (local_port_used(m, m->local_port_last));
        return m->local_port_last;
}

/* The CONNECT line is complete: the slot becomes a host-initiated connection. */
static void local_connect(struct vsock_muxer *m, struct vsock_slot *s, uint64_t now_ms)
{
        uint32_t port;
        int fd = s->c.fd;

        s->line[s->line_len] = '\0';
        if (parse_connect(s->line, &port)) {
                log_guest_warn("vsock: error adding local-init connection: invalid port request");
                slot_release(m, s);
                return;
        }
        ep_set(m, EPOLL_CTL_DEL, fd, 0, 0);
        s->polled = 0;
        vsock_conn_init_local(&s->c, fd, m->cid, alloc_local_port(m), port);
        hash_insert(m, s);
        metrics_inc(&metrics.vsock.conns_added);
        conn_update(m, s, now_ms);
}

/* A pending host client is readable: its line, one byte at a time so no data is taken. */
static void on_pending(struct vsock_muxer *m, struct vsock_slot *s, uint64_t now_ms)
{
        while (s->line_len < VSOCK_CONNECT_LINE_MAX - 1) {
                char ch;
                ssize_t n = read(s->c.fd, &ch, 1);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return;
                if (n <= 0)
                        break;
                s->line[s->line_len++] = ch;
                if (ch == '\n') {
                        local_connect(m, s, now_ms);
                        return;
                }
        }
        slot_release(m, s); /* EOF, error or a line too long: dropped, as Firecracker */
}

/* The timer: pending clients and connections whose timeout passed are ended (sweep_killq). */
static void on_timer(struct vsock_muxer *m, uint64_t now_ms)
{
        uint64_t ticks, next = 0;
        unsigned int i;

        if (read(m->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                metrics_inc(&metrics.vsock.muxer_event_fails);
        m->timer_at = 0;
        for (i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
                struct vsock_slot *s = &m->slots[i];

                if (s->c.state == VC_FREE || !s->c.expiry_ms)
                        continue;
                if (vsock_conn_expired(&s->c, now_ms) && s->c.state == VC_LOCAL_PENDING) {
                        slot_release(m, s);
                        continue;
                }
                if (vsock_conn_expired(&s->c, now_ms)) {
                        s->c.expiry_ms = 0;
                        metrics_inc(&metrics.vsock.conns_killed);
                        vsock_conn_kill(&s->c);
                        conn_update(m, s, now_ms);
                } else if (next == 0 || s->c.expiry_ms < next) {
                        next = s->c.expiry_ms;
                }
        }
        if (next)
                arm_timer(m, next, now_ms);
}

static void on_conn(struct vsock_muxer *m, struct vsock_slot *s, uint32_t events, uint64_t now_ms)
{
        if (s->c.state == VC_LOCAL_PENDING) {
                on_pending(m, s, now_ms);
                return;
        }
        vsock_conn_notify(&s->c, events);
        conn_update(m, s, now_ms);
}

void vsock_muxer_events(struct vsock_muxer *m, uint64_t now_ms)
{
        struct epoll_event evs[VSOCK_MUXER_EVENTS];
        int i, n;

        n = epoll_wait(m->epfd, evs, VSOCK_MUXER_EVENTS, 0);
        if (n < 0 && errno != EINTR) {
                metrics_inc(&metrics.vsock.muxer_event_fails);
                log_warn("vsock: failed to consume muxer epoll event: %s", strerror(errno));
        }
        for (i = 0; i < n; i++) {
                uint64_t tag = evs[i].data.u64;

                if (tag == TAG_LISTEN) {
                        on_listen(m, now_ms);
                } else if (tag == TAG_TIMER) {
                        on_timer(m, now_ms);
                } else if (tag < VSOCK_MAX_CONNECTIONS && m->slots[tag].polled) {
                        on_conn(m, &m->slots[tag], evs[i].events, now_ms);
                } else {
                        metrics_inc(&metrics.vsock.muxer_event_fails);
                }
        }
}
