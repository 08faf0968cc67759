/* virtio-vsock connection state machine: Firecracker's csm, with reads and writes never blocking.
 */
#include "devices/virtio/vsock/vsock_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"

static void conn_init(struct vsock_conn *c, int fd, uint64_t guest_cid, uint32_t local_port,
                      uint32_t peer_port)
{
        memset(c, 0, sizeof(*c));
        c->fd = fd;
        c->local_cid = VSOCK_HOST_CID;
        c->peer_cid = guest_cid;
        c->local_port = local_port;
        c->peer_port = peer_port;
}

void vsock_conn_init_local(struct vsock_conn *c, int fd, uint64_t guest_cid, uint32_t local_port,
                           uint32_t peer_port)
{
        conn_init(c, fd, guest_cid, local_port, peer_port);
        c->state = VC_LOCAL_INIT;
        c->pending_rx = VC_RX_REQUEST;
}

void vsock_conn_init_peer(struct vsock_conn *c, int fd, uint64_t guest_cid, uint32_t local_port,
                          uint32_t peer_port, uint32_t peer_buf_alloc)
{
        conn_init(c, fd, guest_cid, local_port, peer_port);
        c->state = VC_PEER_INIT;
        c->peer_buf_alloc = peer_buf_alloc;
        c->pending_rx = VC_RX_RESPONSE;
}

void vsock_conn_release(struct vsock_conn *c)
{
        free(c->tx_buf);
        if (c->fd >= 0)
                close(c->fd);
        memset(c, 0, sizeof(*c));
        c->fd = -1;
}

uint32_t vsock_conn_tx_pending(const struct vsock_conn *c)
{
        return c->tx_head - c->tx_tail;
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
        return c->peer_buf_alloc - (c->rx_cnt - c->peer_fwd_cnt);
}

bool vsock_conn_has_rx(const struct vsock_conn *c)
{
        return c->pending_rx != 0;
}

bool vsock_conn_expired(const struct vsock_conn *c, uint64_t now_ms)
{
        return c->expiry_ms != 0 && c->expiry_ms <= now_ms;
}

void vsock_conn_kill(struct vsock_conn *c)
{
        c->state = VC_KILLED;
        c->pending_rx |= VC_RX_RST;
}

/* Takes bit from the pending set; true when it was there. */
static bool take_rx(struct vsock_conn *c, unsigned int bit)
{
        bool had = (c->pending_rx & bit) != 0;

        c->pending_rx &= ~bit;
        return had;
}

/* As Firecracker's peer_needs_credit_update(): the guest's view of our free buffer is low. */
static bool peer_needs_credit_update(const struct vsock_conn *c)
{
        uint32_t seen_free = VSOCK_CONN_TX_BUF_SIZE - (c->fwd_cnt - c->last_fwd_cnt_to_peer);

        return seen_free < VSOCK_CONN_CREDIT_UPDATE_THRESHOLD;
}

/* ---- host socket I/O -------------------------------------------------------------------- */

/* Reads at most max bytes into p's data buffers. Returns bytes (0: EOF) or -errno. */
static int64_t read_data(struct vsock_conn *c, struct vsock_pkt *p, uint32_t max)
{
        uint32_t done = 0;
        unsigned int i;

        for (i = 0; i < p->niov && done < max; i++) {
                size_t want = p->iov[i].iov_len < max - done ? p->iov[i].iov_len : max - done;
                ssize_t n = read(c->fd, p->iov[i].iov_base, want);

                if (n < 0 && errno == EINTR) {
                        i--;
                        continue;
                }
                if (n < 0)
                        return done > 0 ? (int64_t)done : -errno;
                done += (uint32_t)n;
                if ((size_t)n < want || n == 0)
                        break;
        }
        return done;
}

/* Appends len bytes to the TX buffer; -ENOBUFS (nothing taken) when they do not fit. */
static int txbuf_push(struct vsock_conn *c, const uint8_t *src, uint32_t len)
{
        uint32_t off, first;

        if (vsock_conn_tx_pending(c) + (uint64_t)len > VSOCK_CONN_TX_BUF_SIZE)
                return -ENOBUFS;
        if (!c->tx_buf) {
                c->tx_buf = malloc(VSOCK_CONN_TX_BUF_SIZE);
                if (!c->tx_buf)
                        return -ENOMEM;
        }
        off = c->tx_head % VSOCK_CONN_TX_BUF_SIZE;
        first = VSOCK_CONN_TX_BUF_SIZE - off < len ? VSOCK_CONN_TX_BUF_SIZE - off : len;
        memcpy(c->tx_buf + off, src, first);
        memcpy(c->tx_buf, src + first, len - first);
        c->tx_head += len;
        return 0;
}

/* Writes the TX buffer to the socket. Returns the bytes written or -errno (-EAGAIN: none). */
static int64_t txbuf_flush(struct vsock_conn *c)
{
        uint32_t done = 0;

        while (vsock_conn_tx_pending(c) > 0) {
                uint32_t off = c->tx_tail % VSOCK_CONN_TX_BUF_SIZE;
                uint32_t run = VSOCK_CONN_TX_BUF_SIZE - off;
                ssize_t n;

                if (run > vsock_conn_tx_pending(c))
                        run = vsock_conn_tx_pending(c);
                n = write(c->fd, c->tx_buf + off, run);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return done > 0 ? (int64_t)done : (n < 0 ? -errno : -EIO);
                c->tx_tail += (uint32_t)n;
                done += (uint32_t)n;
        }
        return done;
}

/*
 * Writes the packet's data to the socket, buffering what the socket does not take (all of
 * it while older bytes wait). Returns 0, or -errno when the connection must end.
 */
static int send_bytes(struct vsock_conn *c, const struct vsock_pkt *p)
{
        unsigned int i;
        int rc;

        for (i = 0; i < p->niov; i++) {
                const uint8_t *b = p->iov[i].iov_base;
                uint32_t len = (uint32_t)p->iov[i].iov_len, w = 0;

                while (vsock_conn_tx_pending(c) == 0 && w < len) {
                        ssize_t n = write(c->fd, b + w, len - w);

                        if (n < 0 && errno == EINTR)
                                continue;
                        if (n < 0 && errno != EAGAIN) {
                                metrics_inc(&metrics.vsock.tx_write_fails);
                                return -errno;
                        }
                        if (n <= 0)
                                break;
                        w += (uint32_t)n;
                        c->fwd_cnt += (uint32_t)n;
                        metrics_add_count(&metrics.vsock.tx_bytes_count, (uint64_t)n);
                }
                rc = w < len ? txbuf_push(c, b + w, len - w) : 0;
                if (rc)
                        return rc;
        }
        return 0;
}

/* ---- packets for the guest -------------------------------------------------------------- */

static void init_hdr(const struct vsock_conn *c, struct vsock_hdr *h)
{
        memset(h, 0, sizeof(*h));
        h->src_cid = c->local_cid;
        h->dst_cid = c->peer_cid;
        h->src_port = c->local_port;
        h->dst_port = c->peer_port;
        h->type = VSOCK_TYPE_STREAM;
        h->buf_alloc = VSOCK_CONN_TX_BUF_SIZE;
        h->fwd_cnt = c->fwd_cnt;
}

/* Data from the host socket (PendingRx::Rw). Returns 0 or -ENODATA. */
static int recv_rw(struct vsock_conn *c, struct vsock_pkt *p, uint64_t now_ms)
{
        uint32_t max = p->buf_size;
        int64_t n;

        if (c->state != VC_ESTABLISHED && !(c->state == VC_PEER_CLOSED && !c->peer_recv_off)) {
                p->hdr.op = VSOCK_OP_RST;
                return 0;
        }
        if (vsock_conn_peer_credit(c) == 0) {
                c->last_fwd_cnt_to_peer = c->fwd_cnt;
                p->hdr.op = VSOCK_OP_CREDIT_REQUEST;
                return 0;
        }
        if (vsock_conn_peer_credit(c) < max)
                max = vsock_conn_peer_credit(c);
        n = read_data(c, p, max);
        if (n == -EAGAIN || n == -EWOULDBLOCK)
                return -ENODATA;
        if (n < 0) {
                metrics_inc(&metrics.vsock.rx_read_fails);
                log_warn("vsock: error reading from a host socket (lp=%u, pp=%u): %s",
                         c->local_port, c->peer_port, strerror((int)-n));
                p->hdr.op = VSOCK_OP_RST;
        } else if (n == 0) {
                c->state = VC_LOCAL_CLOSED;
                c->expiry_ms = now_ms + VSOCK_CONN_SHUTDOWN_TIMEOUT_MS;
                p->hdr.op = VSOCK_OP_SHUTDOWN;
                p->hdr.flags = VSOCK_FLAGS_SHUTDOWN_RCV | VSOCK_FLAGS_SHUTDOWN_SEND;
        } else {
                p->hdr.op = VSOCK_OP_RW;
                p->hdr.len = (uint32_t)n;
                metrics_add_count(&metrics.vsock.rx_bytes_count, (uint64_t)n);
        }
        c->rx_cnt += p->hdr.len;
        c->last_fwd_cnt_to_peer = c->fwd_cnt;
        return 0;
}

int vsock_conn_recv_pkt(struct vsock_conn *c, struct vsock_pkt *p, uint64_t now_ms)
{
        init_hdr(c, &p->hdr);
        metrics_inc(&metrics.vsock.rx_packets_count);
        if (take_rx(c, VC_RX_RST)) {
                p->hdr.op = VSOCK_OP_RST;
                return 0;
        }
        if (take_rx(c, VC_RX_RESPONSE)) {
                c->state = VC_ESTABLISHED;
                p->hdr.op = VSOCK_OP_RESPONSE;
                return 0;
        }
        if (take_rx(c, VC_RX_REQUEST)) {
                c->expiry_ms = now_ms + VSOCK_CONN_REQUEST_TIMEOUT_MS;
                p->hdr.op = VSOCK_OP_REQUEST;
                return 0;
        }
        if (take_rx(c, VC_RX_RW) && recv_rw(c, p, now_ms) == 0)
                return 0;
        if ((c->pending_rx & VC_RX_CREDIT_UPDATE) && c->pending_rx == VC_RX_CREDIT_UPDATE) {
                c->pending_rx = 0;
                p->hdr.op = VSOCK_OP_CREDIT_UPDATE;
                c->last_fwd_cnt_to_peer = c->fwd_cnt;
                return 0;
        }
        return -ENODATA;
}

/* ---- packets from the guest ------------------------------------------------------------- */

static void send_rw(struct vsock_conn *c, const struct vsock_pkt *p)
{
        int rc;

        if (p->buf_size == 0)
                return; /* an empty data packet: dropped, as Firecracker */
        rc = send_bytes(c, p);
        if (rc) {
                log_guest_warn("vsock: error writing to a host socket (lp=%u, pp=%u): %s",
                               c->local_port, c->peer_port, strerror(-rc));
                vsock_conn_kill(c);
                return;
        }
        if (peer_needs_credit_update(c))
                c->pending_rx |= VC_RX_CREDIT_UPDATE;
}

static void send_shutdown(struct vsock_conn *c, uint32_t flags, uint64_t now_ms)
{
        bool was_established = c->state == VC_ESTABLISHED;

        if (was_established)
                c->peer_recv_off = c->peer_send_off = false;
        c->state = VC_PEER_CLOSED;
        c->peer_recv_off |= (flags & VSOCK_FLAGS_SHUTDOWN_RCV) != 0;
        c->peer_send_off |= (flags & VSOCK_FLAGS_SHUTDOWN_SEND) != 0;
        if (!c->peer_recv_off || !c->peer_send_off)
                return;
        if (vsock_conn_tx_pending(c) == 0)
                c->pending_rx |= VC_RX_RST;
        else if (was_established)
                c->expiry_ms = now_ms + VSOCK_CONN_SHUTDOWN_TIMEOUT_MS;
}

void vsock_conn_send_pkt(struct vsock_conn *c, const struct vsock_pkt *p, uint64_t now_ms)
{
        uint16_t op = p->hdr.op;
        bool est = c->state == VC_ESTABLISHED, closed = c->state == VC_PEER_CLOSED;

        c->peer_buf_alloc = p->hdr.buf_alloc;
        c->peer_fwd_cnt = p->hdr.fwd_cnt;
        metrics_inc(&metrics.vsock.tx_packets_count);
        if (op == VSOCK_OP_RW && (est || (closed && !c->peer_send_off))) {
                send_rw(c, p);
        } else if (op == VSOCK_OP_RESPONSE && c->state == VC_LOCAL_INIT) {
                c->expiry_ms = 0;
                c->state = VC_ESTABLISHED;
        } else if (op == VSOCK_OP_SHUTDOWN && (est || closed)) {
                send_shutdown(c, p->hdr.flags, now_ms);
        } else if (op == VSOCK_OP_CREDIT_UPDATE &&
                   (est || c->state == VC_PEER_INIT || (closed && !c->peer_recv_off))) {
                /* the credit was taken from the header above */
        } else if (op == VSOCK_OP_CREDIT_REQUEST &&
                   (est || c->state == VC_PEER_INIT || (closed && !c->peer_send_off))) {
                c->pending_rx |= VC_RX_CREDIT_UPDATE;
        }
        /* anything else: dropped, as Firecracker drops an invalid packet for a connection */
}

/* ---- host socket events ------------------------------------------------------------------ */

static void notify_out(struct vsock_conn *c)
{
        int64_t n;

        if (vsock_conn_tx_pending(c) == 0) {
                metrics_inc(&metrics.vsock.conn_event_fails);
                return;
        }
        n = txbuf_flush(c);
        if (n < 0 && n != -EAGAIN) {
                metrics_inc(&metrics.vsock.tx_flush_fails);
                log_warn("vsock: error flushing a TX buffer (lp=%u, pp=%u): %s", c->local_port,
                         c->peer_port, strerror((int)-n));
                vsock_conn_kill(c);
        }
        if (n > 0) {
                c->fwd_cnt += (uint32_t)n;
                metrics_add_count(&metrics.vsock.tx_bytes_count, (uint64_t)n);
        }
        if (c->state == VC_PEER_CLOSED && c->peer_recv_off && c->peer_send_off &&
            vsock_conn_tx_pending(c) == 0)
                c->pending_rx |= VC_RX_RST;
        else if (peer_needs_credit_update(c))
                c->pending_rx |= VC_RX_CREDIT_UPDATE;
}

void vsock_conn_notify(struct vsock_conn *c, uint32_t events)
{
        bool hup = (events & (EPOLLHUP | EPOLLERR)) != 0;

        if (events & EPOLLIN || hup)
                c->pending_rx |= VC_RX_RW;
        if (events & EPOLLOUT || (hup && vsock_conn_tx_pending(c) > 0))
                notify_out(c);
}

uint32_t vsock_conn_polled(const struct vsock_conn *c)
{
        uint32_t ev = vsock_conn_tx_pending(c) > 0 ? EPOLLOUT : 0;

        switch (c->state) {
        case VC_KILLED:
                return 0; /* brasa's: its socket has nothing left to give, and a hung-up one
                           * would report EPOLLHUP until the guest takes the RST */
        case VC_LOCAL_CLOSED:
                break;
        case VC_PEER_CLOSED:
                if (c->peer_recv_off)
                        break;
                /* fall through */
        default:
                /* brasa's: not while a read is already owed, so a guest that takes no RX
                 * buffers cannot make a readable socket spin the loop */
                if (vsock_conn_peer_credit(c) != 0 && !(c->pending_rx & VC_RX_RW))
                        ev |= EPOLLIN;
        }
        return ev;
}
