/* One virtio-vsock stream connection (Firecracker's VsockConnection): state, credit, TX buffer. */
#ifndef BRASA_DEVICES_VIRTIO_VSOCK_VSOCK_CONN_H
#define BRASA_DEVICES_VIRTIO_VSOCK_VSOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/vsock/vsock_packet.h"

/* The bytes a connection holds for a host socket that is slow to read (CONN_TX_BUF_SIZE). */
#define VSOCK_CONN_TX_BUF_SIZE (64u * 1024u)

/* Below this much free buffer as the guest last saw it, tell it (CONN_CREDIT_UPDATE_THRESHOLD). */
#define VSOCK_CONN_CREDIT_UPDATE_THRESHOLD (4u * 1024u)

/* How long a REQUEST or a shutdown may wait for the guest (CONN_{REQUEST,SHUTDOWN}_TIMEOUT_MS). */
#define VSOCK_CONN_REQUEST_TIMEOUT_MS  2000u
#define VSOCK_CONN_SHUTDOWN_TIMEOUT_MS 2000u

enum vsock_conn_state {
        VC_FREE = 0,      /* a free slot */
        VC_LOCAL_PENDING, /* a host client that has not sent "CONNECT <port>\n" yet (brasa's) */
        VC_LOCAL_INIT,    /* host-initiated: REQUEST sent, waiting for the guest's RESPONSE */
        VC_PEER_INIT,     /* guest-initiated: RESPONSE to send */
        VC_ESTABLISHED,
        VC_LOCAL_CLOSED, /* the host socket reached EOF */
        VC_PEER_CLOSED,  /* the guest sent SHUTDOWN (peer_recv_off / peer_send_off) */
        VC_KILLED,
};

/* What a connection has to tell the guest (PendingRx), in the order it tells it. */
#define VC_RX_RST           0x01u
#define VC_RX_RESPONSE      0x02u
#define VC_RX_REQUEST       0x04u
#define VC_RX_RW            0x08u
#define VC_RX_CREDIT_UPDATE 0x10u

struct vsock_conn {
        enum vsock_conn_state state;
        bool peer_recv_off, peer_send_off; /* VC_PEER_CLOSED's flags */
        int fd;                            /* the host stream, non-blocking; owned */
        uint64_t local_cid, peer_cid;
        uint32_t local_port, peer_port;
        uint8_t *tx_buf;           /* VSOCK_CONN_TX_BUF_SIZE bytes once needed, else NULL */
        uint32_t tx_head, tx_tail; /* free-running: tx_head - tx_tail bytes buffered */
        uint32_t fwd_cnt;          /* bytes from the guest handed to the host socket */
        uint32_t peer_buf_alloc, peer_fwd_cnt;
        uint32_t rx_cnt;               /* bytes sent to the guest */
        uint32_t last_fwd_cnt_to_peer; /* fwd_cnt in the last header the guest got */
        unsigned int pending_rx;       /* VC_RX_* */
        uint64_t expiry_ms;            /* monotonic ms; 0: none */
};

/* A host-initiated connection: it will send the guest a REQUEST. c takes fd. */
void vsock_conn_init_local(struct vsock_conn *c, int fd, uint64_t guest_cid, uint32_t local_port,
                           uint32_t peer_port);

/* A guest-initiated connection: it will answer RESPONSE. c takes fd. */
void vsock_conn_init_peer(struct vsock_conn *c, int fd, uint64_t guest_cid, uint32_t local_port,
                          uint32_t peer_port, uint32_t peer_buf_alloc);

/* Frees the TX buffer and closes fd; the slot becomes VC_FREE. */
void vsock_conn_release(struct vsock_conn *c);

/*
 * The next packet for the guest into p (an RX packet: header filled, data read from the host
 * socket straight into p's buffers). Returns 0, or -ENODATA when there is nothing to send.
 * now_ms: monotonic time, for the timeouts it starts.
 */
int vsock_conn_recv_pkt(struct vsock_conn *c, struct vsock_pkt *p, uint64_t now_ms);

/* A packet from the guest for this connection (not RST, which the muxer handles). */
void vsock_conn_send_pkt(struct vsock_conn *c, const struct vsock_pkt *p, uint64_t now_ms);

/* The host socket is readable / writable (EPOLLIN, EPOLLOUT bits of events). */
void vsock_conn_notify(struct vsock_conn *c, uint32_t events);

/* The epoll events the connection wants on its socket now (0: none). */
uint32_t vsock_conn_polled(const struct vsock_conn *c);

/* Ends the connection: the guest will get an RST. */
void vsock_conn_kill(struct vsock_conn *c);

/* True when the connection has something for the guest. */
bool vsock_conn_has_rx(const struct vsock_conn *c);

/* True when its timeout is set and has passed at now_ms. */
bool vsock_conn_expired(const struct vsock_conn *c, uint64_t now_ms);

/* The bytes the guest may still take (its buf_alloc less what it holds unread). */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);

/* Bytes waiting in the TX buffer. */
uint32_t vsock_conn_tx_pending(const struct vsock_conn *c);

#endif
