/* One HTTP-over-TCP endpoint: gathers a request's headers, asks the answer callback, sends it. */
#ifndef BRASA_NETSTACK_TCP_ENDPOINT_H
#define BRASA_NETSTACK_TCP_ENDPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "netstack/tcp_conn.h"

#define TCP_EP_RCV_BUF 2500 /* a request's headers must fit (Firecracker's RCV_BUF_MAX_SIZE) */
#define TCP_EP_RTO_NS  1200000000ULL /* retransmission timeout */
#define TCP_EP_RTO_MAX 15            /* retransmissions before the connection resets */
#define TCP_EP_EVICT_NS                                                                            \
        40000000000ULL /* idle this long, a connection may make room for a new one */

/*
 * Answers one request: req[0, len) ends with the blank line after the headers. Returns 0 with
 * *resp (malloc'd, the caller frees) and *resp_len set, or -ENOMEM. mmds_http_answer()'s
 * shape, so that this layer needs no service of its own.
 */
typedef int (*netstack_answer_fn)(void *ctx, const uint8_t *req, size_t len, uint8_t **resp,
                                  size_t *resp_len);

struct tcp_endpoint {
        struct tcp_conn conn;
        uint8_t rcv[TCP_EP_RCV_BUF];
        size_t rcv_len;
        uint8_t *resp; /* the answer being sent, NULL when none */
        uint32_t resp_len;
        uint32_t resp_seq0; /* the sequence number of resp[0] */
        uint64_t last_rx;   /* when the peer last sent a segment (eviction) */
        bool stop_receiving;
};

/* Opens ep from SYN s at time now with initial sequence number isn. Returns 0 or -EINVAL. */
int tcp_ep_open(struct tcp_endpoint *ep, const struct tcp_view *s, uint32_t isn, uint64_t now);

/*
 * Takes segment s at time now; a complete request's headers are answered through fn(ctx).
 * Returns the TCP_RX_* bits of the segment, or -errno when it was refused (reset connection,
 * payload too large).
 */
int tcp_ep_receive(struct tcp_endpoint *ep, const struct tcp_view *s, netstack_answer_fn fn,
                   void *ctx, uint64_t now);

/* The next segment into *o (room: the most payload bytes). Returns 1, 0 or -errno. */
int tcp_ep_next(struct tcp_endpoint *ep, struct tcp_out *o, uint32_t room, uint64_t now);

/* What ep may send next (*deadline for TCP_NEXT_TIMEOUT). */
enum tcp_next tcp_ep_status(const struct tcp_endpoint *ep, uint64_t *deadline);

/* Idle for longer than TCP_EP_EVICT_NS at now. */
bool tcp_ep_evictable(const struct tcp_endpoint *ep, uint64_t now);

/* Frees the answer; ep may be reopened afterwards. */
void tcp_ep_close(struct tcp_endpoint *ep);

#endif
