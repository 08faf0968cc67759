/* A passive TCP connection: handshake, in-order receive, windowed send, retransmission, FIN, RST.
 */
#ifndef BRASA_NETSTACK_TCP_CONN_H
#define BRASA_NETSTACK_TCP_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "netstack/pdu.h"

#define TCP_MSS_DEFAULT 536         /* without an MSS option (RFC 879) */
#define TCP_MAX_WINDOW  1073725440u /* the largest scaled window: sequence comparisons use it */

/* What receiving one segment noticed (Firecracker's RecvStatusFlags). */
enum {
        TCP_RX_INVALID_ACK = 1 << 0,
        TCP_RX_DUP_ACK = 1 << 1,
        TCP_RX_BEYOND_RWND = 1 << 2,
        TCP_RX_UNEXPECTED_SEQ = 1 << 3,
        TCP_RX_REMOTE_RWND_EDGE = 1 << 4,
        TCP_RX_DATA_BEYOND_FIN = 1 << 5,
        TCP_RX_RESET_RECEIVED = 1 << 6,
        TCP_RX_INVALID_RST = 1 << 7,
        TCP_RX_INVALID_SEGMENT = 1 << 8,
        TCP_RX_CONN_RESETTING = 1 << 9,
        TCP_RX_INVALID_FIN = 1 << 10,
};

/* A reset to send: RST with seq (ACK known) or RST|ACK acknowledging ack. */
struct tcp_rst {
        bool with_ack;
        uint32_t num;
};

/* What the connection can send next. */
enum tcp_next { TCP_NEXT_NOTHING, TCP_NEXT_AVAILABLE, TCP_NEXT_TIMEOUT };

struct tcp_conn {
        uint32_t ack_to_send;      /* the next byte expected from the peer */
        uint32_t highest_ack;      /* the peer's highest acknowledgement */
        uint32_t first_not_sent;   /* the next sequence number of ours */
        uint32_t local_rwnd_edge;  /* the end of the window we offer */
        uint32_t remote_rwnd_edge; /* the end of the window the peer offers */
        uint64_t rto_start, rto_period;
        uint16_t rto_count, rto_count_max;
        bool fin_received, send_fin, send_rst;
        uint32_t fin_seq; /* our FIN's sequence number, when send_fin */
        struct tcp_rst rst;
        uint16_t mss;
        bool pending_ack, dup_ack;
        uint8_t status; /* TCP_ST_* bits */
};

/* a before-or-equal b within the largest window, modulo 2^32. */
bool tcp_seq_at_or_after(uint32_t a, uint32_t b);
bool tcp_seq_after(uint32_t a, uint32_t b);

/* The reset answering segment s (no connection for it, or one being torn down). */
struct tcp_rst tcp_rst_for(const struct tcp_view *s);

/*
 * Opens c from the peer's SYN s: isn is our initial sequence number, rwnd the receive window
 * we offer, rto_period the retransmission timeout (ns) and rto_count_max the retransmissions
 * after which the connection resets. Returns 0, or -EINVAL when s is not a bare SYN without
 * payload or its MSS option is bad.
 */
int tcp_conn_open(struct tcp_conn *c, const struct tcp_view *s, uint32_t isn, uint32_t rwnd,
                  uint64_t rto_period, uint16_t rto_count_max);

/*
 * Takes segment s at time now (ns): payload in order and within the window is copied to
 * buf (cap bytes) and its length stored in *got. Returns TCP_RX_* bits, or -ECONNRESET
 * when c is reset or resetting, -ENOBUFS when the payload exceeds cap.
 */
int tcp_conn_receive(struct tcp_conn *c, const struct tcp_view *s, uint8_t *buf, size_t cap,
                     size_t *got, uint64_t now);

/*
 * The next segment to send at time now into *o (ports left to the caller): data from
 * payload[0, len), which starts at sequence payload_seq, at most room bytes of it. Returns 1
 * (a segment), 0 (nothing to send) or -errno.
 */
int tcp_conn_next(struct tcp_conn *c, struct tcp_out *o, const uint8_t *payload, uint32_t len,
                  uint32_t payload_seq, uint32_t room, uint64_t now);

/* What c may send next; *deadline is set for TCP_NEXT_TIMEOUT. */
enum tcp_next tcp_conn_status(const struct tcp_conn *c, uint64_t *deadline);

/* We are done sending: a FIN follows the data already queued. */
void tcp_conn_close(struct tcp_conn *c);

/* Resets c: its next segment is a RST. */
void tcp_conn_reset(struct tcp_conn *c);

/* The reset that ends c (for eviction). */
struct tcp_rst tcp_conn_rst(const struct tcp_conn *c);

/* Opens the receive window by n bytes the application consumed (an ACK tells a closed one). */
void tcp_conn_advance_rwnd(struct tcp_conn *c, uint32_t n);

/* Finished: reset, or both FINs exchanged. */
bool tcp_conn_done(const struct tcp_conn *c);

bool tcp_conn_established(const struct tcp_conn *c);

#endif
