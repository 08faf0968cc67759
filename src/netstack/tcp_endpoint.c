/* The metadata endpoint: one request at a time, its answer sent in windowed MSS-sized segments. */
#include "netstack/tcp_endpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tcp_ep_open(struct tcp_endpoint *ep, const struct tcp_view *s, uint32_t isn, uint64_t now)
{
        int rc;

        ep->resp = NULL;
        rc = tcp_conn_open(&ep->conn, s, isn, TCP_EP_RCV_BUF, TCP_EP_RTO_NS, TCP_EP_RTO_MAX);
        if (rc)
                return rc;
        ep->rcv_len = 0;
        ep->resp_len = 0;
        ep->resp_seq0 = ep->conn.first_not_sent;
        ep->last_rx = now;
        ep->stop_receiving = false;
        return 0;
}

void tcp_ep_close(struct tcp_endpoint *ep)
{
        free(ep->resp);
        ep->resp = NULL;
        ep->resp_len = 0;
}

/* The end of the headers in rcv: after "\n\n" or "\n\r\n". 0 when not there yet. */
static size_t headers_end(const struct tcp_endpoint *ep)
{
        const uint8_t *b = ep->rcv;
        size_t i;

        if (ep->rcv_len <= 2)
                return 0;
        for (i = 0; i + 1 < ep->rcv_len; i++) {
                if (b[i] != '\n')
                        continue;
                if (b[i + 1] == '\n')
                        return i + 2;
                if (i + 3 <= ep->rcv_len && b[i + 1] == '\r' && b[i + 2] == '\n')
                        return i + 3;
        }
        return 0;
}

/* Answers the request whose headers are complete; resets when there is no room left. */
static void answer(struct tcp_endpoint *ep, netstack_answer_fn fn, void *ctx)
{
        size_t end = headers_end(ep), len = 0;
        uint8_t *resp = NULL;

        if (end) {
                if (fn(ctx, ep->rcv, end, &resp, &len) || len == 0 || len > TCP_MAX_WINDOW) {
                        free(resp);
                        tcp_conn_reset(&ep->conn); /* no answer: the peer must not wait */
                        ep->stop_receiving = true;
                        return;
                }
                ep->resp = resp;
                ep->resp_len = (uint32_t)len;
                memmove(ep->rcv, ep->rcv + end, ep->rcv_len - end);
                ep->rcv_len -= end;
                tcp_conn_advance_rwnd(&ep->conn, (uint32_t)end);
        }
        if (ep->rcv_len == sizeof(ep->rcv)) {
                /* Headers longer than the buffer: Firecracker resets such a connection too. */
                tcp_conn_reset(&ep->conn);
                ep->stop_receiving = true;
        }
}

int tcp_ep_receive(struct tcp_endpoint *ep, const struct tcp_view *s, netstack_answer_fn fn,
                   void *ctx, uint64_t now)
{
        size_t got = 0;
        int flags;

        if (ep->stop_receiving)
                return -ECONNRESET;
        ep->last_rx = now;
        flags = tcp_conn_receive(&ep->conn, s, ep->rcv + ep->rcv_len, sizeof(ep->rcv) - ep->rcv_len,
                                 &got, now);
        if (flags < 0)
                return flags;
        if (flags & TCP_RX_CONN_RESETTING) {
                ep->stop_receiving = true;
                return flags;
        }
        ep->rcv_len += got;
        /* The whole answer acknowledged: the next request may be answered. */
        if (ep->resp && ep->conn.highest_ack == ep->resp_seq0 + ep->resp_len) {
                ep->resp_seq0 = ep->conn.highest_ack;
                tcp_ep_close(ep);
        }
        if (!ep->resp)
                answer(ep, fn, ctx);
        if (ep->conn.fin_received && !ep->resp)
                tcp_conn_close(&ep->conn);
        return flags;
}

int tcp_ep_next(struct tcp_endpoint *ep, struct tcp_out *o, uint32_t room, uint64_t now)
{
        /* The whole answer goes down with its first sequence number: a retransmission after a
         * timeout or a duplicate ACK starts wherever the peer's acknowledgement points. */
        return tcp_conn_next(&ep->conn, o, ep->resp, ep->resp_len, ep->resp_seq0, room, now);
}

enum tcp_next tcp_ep_status(const struct tcp_endpoint *ep, uint64_t *deadline)
{
        const struct tcp_conn *c = &ep->conn;
        /* Unsent bytes of the answer and room for them in the peer's window. */
        bool new_data = ep->resp &&
                        tcp_seq_after(ep->resp_seq0 + ep->resp_len, c->first_not_sent) &&
                        tcp_seq_after(c->remote_rwnd_edge, c->first_not_sent);

        if (new_data || c->dup_ack)
                return TCP_NEXT_AVAILABLE;
        return tcp_conn_status(c, deadline);
}

bool tcp_ep_evictable(const struct tcp_endpoint *ep, uint64_t now)
{
        return now - ep->last_rx > TCP_EP_EVICT_NS;
}
