/* The passive TCP connection of the metadata service's endpoint (Firecracker's dumbo rules). */
#include "netstack/tcp_conn.h"

#include <errno.h>
#include <string.h>

enum {
        ST_SYN_RECEIVED = 1 << 0,
        ST_SYNACK_SENT = 1 << 1,
        ST_ESTABLISHED = 1 << 2,
        ST_FIN_SENT = 1 << 3,
        ST_FIN_ACKED = 1 << 4,
        ST_RESET = 1 << 5,
};

bool tcp_seq_at_or_after(uint32_t a, uint32_t b)
{
        return a - b < TCP_MAX_WINDOW;
}

bool tcp_seq_after(uint32_t a, uint32_t b)
{
        return a != b && a - b < TCP_MAX_WINDOW;
}

struct tcp_rst tcp_rst_for(const struct tcp_view *s)
{
        if (s->flags & TCP_ACK)
                return (struct tcp_rst){.with_ack = false, .num = s->ack};
        return (struct tcp_rst){.with_ack = true, .num = s->seq + (uint32_t)s->payload_len};
}

static bool is_valid_syn(const struct tcp_view *s)
{
        return s->flags == TCP_SYN && s->payload_len == 0;
}

static int syn_mss(const struct tcp_view *s, uint16_t *mss)
{
        int rc = tcp_parse_mss(s, mss);

        if (rc == 1)
                *mss = TCP_MSS_DEFAULT;
        return rc < 0 ? rc : 0;
}

int tcp_conn_open(struct tcp_conn *c, const struct tcp_view *s, uint32_t isn, uint32_t rwnd,
                  uint64_t rto_period, uint16_t rto_count_max)
{
        uint16_t mss;

        if (!is_valid_syn(s) || syn_mss(s, &mss))
                return -EINVAL;
        memset(c, 0, sizeof(*c));
        c->mss = mss;
        c->ack_to_send = s->seq + 1;
        c->highest_ack = isn;
        c->first_not_sent = isn + 1;
        c->remote_rwnd_edge = c->first_not_sent + s->window;
        c->local_rwnd_edge = c->ack_to_send + rwnd;
        c->rto_period = rto_period;
        c->rto_count_max = rto_count_max;
        c->status = ST_SYN_RECEIVED;
        return 0;
}

static bool has(const struct tcp_conn *c, uint8_t st)
{
        return (c->status & st) != 0;
}

bool tcp_conn_established(const struct tcp_conn *c)
{
        return has(c, ST_ESTABLISHED);
}

bool tcp_conn_done(const struct tcp_conn *c)
{
        return has(c, ST_RESET) || (c->fin_received && has(c, ST_FIN_SENT));
}

struct tcp_rst tcp_conn_rst(const struct tcp_conn *c)
{
        if (has(c, ST_ESTABLISHED))
                return (struct tcp_rst){.with_ack = false, .num = c->first_not_sent};
        return (struct tcp_rst){.with_ack = true, .num = c->ack_to_send};
}

void tcp_conn_reset(struct tcp_conn *c)
{
        if (!c->send_rst) {
                c->rst = tcp_conn_rst(c);
                c->send_rst = true;
        }
}

void tcp_conn_close(struct tcp_conn *c)
{
        if (!c->send_fin) {
                c->send_fin = true;
                c->fin_seq = c->first_not_sent;
        }
}

void tcp_conn_advance_rwnd(struct tcp_conn *c, uint32_t n)
{
        uint32_t cur = c->local_rwnd_edge - c->ack_to_send;

        if (cur == 0)
                c->pending_ack = true; /* the peer waits for the window to open */
        if ((uint64_t)cur + n > TCP_MAX_WINDOW)
                c->local_rwnd_edge = c->ack_to_send + TCP_MAX_WINDOW;
        else
                c->local_rwnd_edge += n;
}

static bool can_send_first_fin(const struct tcp_conn *c)
{
        return !has(c, ST_FIN_SENT) && c->send_fin && c->fin_seq == c->highest_ack;
}

enum tcp_next tcp_conn_status(const struct tcp_conn *c, uint64_t *deadline)
{
        bool synack_pending = has(c, ST_SYN_RECEIVED) && !has(c, ST_SYNACK_SENT);

        if (synack_pending || c->send_rst || can_send_first_fin(c) || c->pending_ack)
                return TCP_NEXT_AVAILABLE;
        if (c->highest_ack != c->first_not_sent) {
                *deadline = c->rto_start + c->rto_period;
                return TCP_NEXT_TIMEOUT;
        }
        return TCP_NEXT_NOTHING;
}

/* ---- receive ------------------------------------------------------------------------------ */

static int reset_for(struct tcp_conn *c, const struct tcp_view *s, int flags)
{
        if (!c->send_rst) {
                c->rst = tcp_rst_for(s);
                c->send_rst = true;
        }
        return TCP_RX_CONN_RESETTING | flags;
}

static bool same_syn(const struct tcp_conn *c, const struct tcp_view *s)
{
        uint16_t mss;

        return is_valid_syn(s) && c->ack_to_send == s->seq + 1 && syn_mss(s, &mss) == 0 &&
               mss == c->mss;
}

/* A RST within the window ends the connection; others are ignored (RFC 5961's spirit). */
static int receive_rst(struct tcp_conn *c, const struct tcp_view *s)
{
        if (tcp_seq_at_or_after(s->seq, c->ack_to_send) &&
            tcp_seq_after(c->local_rwnd_edge, s->seq)) {
                c->status |= ST_RESET;
                return TCP_RX_RESET_RECEIVED;
        }
        return TCP_RX_INVALID_RST;
}

/* SYN handling by state. Returns -1 to go on, or the result to return. */
static int receive_syn_state(struct tcp_conn *c, const struct tcp_view *s)
{
        if (!has(c, ST_SYNACK_SENT))
                return same_syn(c, s) ? 0 : reset_for(c, s, TCP_RX_INVALID_SEGMENT);
        if (!has(c, ST_ESTABLISHED)) {
                if (same_syn(c, s)) {
                        c->status &= (uint8_t)~ST_SYNACK_SENT; /* the SYN-ACK was lost: resend */
                        return 0;
                }
                if (s->flags & TCP_SYN)
                        return reset_for(c, s, TCP_RX_INVALID_SEGMENT);
                return -1;
        }
        return (s->flags & TCP_SYN) ? reset_for(c, s, TCP_RX_INVALID_SEGMENT) : -1;
}

/* A new acknowledgement moves highest_ack, the window, the handshake and our FIN along. */
static void take_new_ack(struct tcp_conn *c, uint32_t ack, uint64_t now)
{
        c->highest_ack = ack;
        c->rto_start = now;
        if (!has(c, ST_ESTABLISHED) && has(c, ST_SYNACK_SENT))
                c->status |= ST_ESTABLISHED;
        if (has(c, ST_FIN_SENT) && ack == c->first_not_sent)
                c->status |= ST_FIN_ACKED;
}

/* The ACK field. Returns the flags so far, or -1 - result when the segment must stop here. */
static int receive_ack(struct tcp_conn *c, const struct tcp_view *s, uint64_t now, int *flags)
{
        uint32_t ack = s->ack, edge;

        if (!tcp_seq_at_or_after(ack, c->highest_ack) ||
            !tcp_seq_at_or_after(c->first_not_sent, ack)) {
                *flags |= TCP_RX_INVALID_ACK;
                return has(c, ST_ESTABLISHED) ? 0 : (*flags = reset_for(c, s, *flags), 1);
        }
        c->rto_count = 0;
        if (ack == c->highest_ack && ack != c->first_not_sent) {
                if (!has(c, ST_ESTABLISHED)) {
                        *flags = reset_for(c, s, TCP_RX_INVALID_ACK);
                        return 1;
                }
                c->dup_ack = true;
                *flags |= TCP_RX_DUP_ACK;
        } else {
                take_new_ack(c, ack, now);
        }
        if (has(c, ST_ESTABLISHED)) {
                edge = ack + s->window;
                if (tcp_seq_after(edge, c->remote_rwnd_edge))
                        c->remote_rwnd_edge = edge;
                else if (edge != c->remote_rwnd_edge)
                        *flags |= TCP_RX_REMOTE_RWND_EDGE; /* a shrinking window is not followed */
        }
        return 0;
}

/* Payload and FIN of an established connection. */
static int receive_data(struct tcp_conn *c, const struct tcp_view *s, uint8_t *buf, size_t cap,
                        size_t *got, int flags)
{
        uint32_t plen = (uint32_t)s->payload_len, end = s->seq + plen;
        bool ack = false;

        if (s->payload_len > cap)
                return -ENOBUFS;
        if (plen) {
                if (c->fin_received && !tcp_seq_at_or_after(c->ack_to_send - 1, end))
                        return flags | TCP_RX_DATA_BEYOND_FIN;
                if (!tcp_seq_at_or_after(c->local_rwnd_edge, end))
                        return flags | TCP_RX_BEYOND_RWND;
                if (s->seq != c->ack_to_send) {
                        c->pending_ack = true; /* out of order: tell the peer what we expect */
                        return flags | TCP_RX_UNEXPECTED_SEQ;
                }
                c->ack_to_send = end;
                ack = true;
        }
        if ((s->flags & TCP_FIN) && !c->fin_received) {
                if (end == c->ack_to_send) {
                        c->fin_received = true;
                        c->ack_to_send++;
                        ack = true;
                } else {
                        flags |= TCP_RX_INVALID_FIN;
                }
        }
        if (ack) {
                c->pending_ack = true;
                if (plen) {
                        memcpy(buf, s->payload, plen);
                        *got = plen;
                }
        }
        return flags;
}

int tcp_conn_receive(struct tcp_conn *c, const struct tcp_view *s, uint8_t *buf, size_t cap,
                     size_t *got, uint64_t now)
{
        int flags = 0, rc;

        *got = 0;
        if (c->send_rst || has(c, ST_RESET))
                return -ECONNRESET;
        if (s->flags & TCP_RST)
                return receive_rst(c, s);
        rc = receive_syn_state(c, s);
        if (rc >= 0)
                return rc;
        if ((s->flags & TCP_ACK) && receive_ack(c, s, now, &flags))
                return flags;
        if (!has(c, ST_ESTABLISHED))
                return flags;
        return receive_data(c, s, buf, cap, got, flags);
}

/* ---- send --------------------------------------------------------------------------------- */

static uint16_t local_rwnd(const struct tcp_conn *c)
{
        uint32_t w = c->local_rwnd_edge - c->ack_to_send;

        return w > 0xffff ? 0xffff : (uint16_t)w;
}

static void segment(struct tcp_conn *c, struct tcp_out *o, uint32_t seq, uint32_t ack,
                    uint8_t flags)
{
        memset(o, 0, sizeof(*o));
        o->seq = seq;
        o->ack = ack;
        o->flags = flags;
        o->window = local_rwnd(c);
        if (flags == (TCP_SYN | TCP_ACK))
                o->mss_opt = c->mss;
        if (flags & TCP_ACK)
                c->pending_ack = false;
}

/* A segment without data: RST, SYN-ACK, or ACK (with our FIN when it is due). */
static void control_segment(struct tcp_conn *c, struct tcp_out *o)
{
        uint32_t seq = c->highest_ack;

        if (c->send_rst) {
                if (c->rst.with_ack)
                        segment(c, o, 0, c->rst.num, TCP_RST | TCP_ACK);
                else
                        segment(c, o, c->rst.num, 0, TCP_RST);
        } else if (!has(c, ST_ESTABLISHED)) {
                segment(c, o, c->first_not_sent - 1, c->ack_to_send, TCP_SYN | TCP_ACK);
        } else if (c->send_fin && !has(c, ST_FIN_ACKED) && tcp_seq_at_or_after(seq, c->fin_seq)) {
                segment(c, o, c->fin_seq, c->ack_to_send, TCP_ACK | TCP_FIN);
        } else {
                segment(c, o, seq, c->ack_to_send, TCP_ACK);
        }
}

/* Before the handshake completes: the SYN-ACK, retransmitted on timeout. */
static int next_handshake(struct tcp_conn *c, struct tcp_out *o, uint64_t now)
{
        if (!has(c, ST_SYNACK_SENT)) {
                control_segment(c, o);
                c->status |= ST_SYNACK_SENT;
                c->rto_start = now;
                return 1;
        }
        if (now - c->rto_start < c->rto_period)
                return 0;
        if (++c->rto_count >= c->rto_count_max) {
                tcp_conn_reset(c);
                control_segment(c, o);
                c->status |= ST_RESET;
                return 1;
        }
        control_segment(c, o);
        c->rto_start = now;
        return 1;
}

/* Sends data from seq on, up to the peer's window, the MSS and room. */
static int next_data(struct tcp_conn *c, struct tcp_out *o, const uint8_t *payload, uint32_t len,
                     uint32_t pseq, uint32_t seq, uint32_t room, bool rto, uint64_t now)
{
        uint32_t end = pseq + len, n, after;

        if (!tcp_seq_at_or_after(c->remote_rwnd_edge, end))
                end = c->remote_rwnd_edge;
        if (c->send_fin && tcp_seq_after(end, c->fin_seq))
                return -EPROTO; /* data after our FIN: cannot happen with one response */
        if (!tcp_seq_after(end, seq))
                return 0;
        n = end - seq;
        if (n > c->mss)
                n = c->mss;
        if (n > room)
                n = room;
        if (n == 0)
                return -ENOSPC;
        segment(c, o, seq, c->ack_to_send, TCP_ACK);
        o->payload = payload + (seq - pseq);
        o->payload_len = n;
        c->dup_ack = false;
        after = seq + n;
        if (c->send_fin && after == c->fin_seq) {
                o->flags |= TCP_FIN;
                after++;
                c->status |= ST_FIN_SENT;
        }
        if (rto || c->first_not_sent == c->highest_ack)
                c->rto_start = now;
        if (tcp_seq_after(after, c->first_not_sent))
                c->first_not_sent = after;
        return 1;
}

/* Where data goes from: the oldest unacknowledged byte on timeout or dup ACK. Returns 1 with *o
 * set when a FIN retransmission or a reset came instead, -1 to send data from *seq. */
static int data_start(struct tcp_conn *c, struct tcp_out *o, uint64_t now, uint32_t *seq, bool *rto)
{
        *rto = false;
        if (c->highest_ack != c->first_not_sent && now - c->rto_start >= c->rto_period) {
                if (++c->rto_count >= c->rto_count_max) {
                        tcp_conn_reset(c);
                        control_segment(c, o);
                        c->status |= ST_RESET;
                        return 1;
                }
                if (c->send_fin && c->highest_ack == c->fin_seq) {
                        control_segment(c, o); /* only our FIN is unacknowledged */
                        c->rto_start = now;
                        return 1;
                }
                *rto = true;
                *seq = c->highest_ack;
        } else {
                *seq = c->dup_ack ? c->highest_ack : c->first_not_sent;
        }
        return -1;
}

int tcp_conn_next(struct tcp_conn *c, struct tcp_out *o, const uint8_t *payload, uint32_t len,
                  uint32_t payload_seq, uint32_t room, uint64_t now)
{
        bool rto, first_fin;
        uint32_t seq;
        int rc;

        if (has(c, ST_RESET))
                return -ECONNRESET;
        if (c->send_rst) {
                control_segment(c, o);
                c->status |= ST_RESET;
                return 1;
        }
        if (!has(c, ST_ESTABLISHED))
                return next_handshake(c, o, now);
        rc = data_start(c, o, now, &seq, &rto);
        if (rc >= 0)
                return rc;
        if (payload) {
                if (!tcp_seq_at_or_after(seq, payload_seq))
                        return -EPROTO;
                rc = next_data(c, o, payload, len, payload_seq, seq, room, rto, now);
                if (rc)
                        return rc;
        }
        if (!payload)
                c->dup_ack =
                    false; /* nothing of ours to resend but a FIN, which the timer covers */
        if (rto)
                c->rto_start = now; /* nothing to resend: the timer must not fire again at once */
        first_fin = can_send_first_fin(c);
        if (!c->pending_ack && !first_fin)
                return 0;
        control_segment(c, o);
        if (first_fin) {
                c->first_not_sent++;
                c->status |= ST_FIN_SENT;
        }
        return 1;
}
