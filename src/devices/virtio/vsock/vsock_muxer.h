/* The virtio-vsock Unix-socket backend (Firecracker's VsockMuxer): host and guest connections. */
#ifndef BRASA_DEVICES_VIRTIO_VSOCK_VSOCK_MUXER_H
#define BRASA_DEVICES_VIRTIO_VSOCK_VSOCK_MUXER_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtio/vsock/vsock_conn.h"
#include "devices/virtio/vsock/vsock_packet.h"

/* The most connections at once (Firecracker's MAX_CONNECTIONS); host clients that have not sent
 * their CONNECT line yet take a slot too (brasa's). */
#define VSOCK_MAX_CONNECTIONS 1023

/* RST packets for no connection waiting for the guest (Firecracker's MUXER_RXQ_SIZE). */
#define VSOCK_MUXER_RST_QUEUE 256

/* Host socket events handled in one pass (as Firecracker's muxer epoll batch). */
#define VSOCK_MUXER_EVENTS 32

/* The longest "CONNECT <port>\n" line a host client may send (as Firecracker). */
#define VSOCK_CONNECT_LINE_MAX 32

#define VSOCK_HASH_BUCKETS 2048

struct vsock_slot {
        struct vsock_conn c;
        uint32_t polled; /* events registered in the muxer's epoll; 0: not registered */
        int hnext;       /* next slot in the same hash bucket, -1: none */
        int rxnext;      /* next slot in the RX queue, -1: none */
        bool in_rxq, in_hash;
        uint8_t line_len; /* VC_LOCAL_PENDING: bytes of the CONNECT line so far */
        char line[VSOCK_CONNECT_LINE_MAX];
};

struct vsock_muxer {
        uint64_t cid;       /* the guest's */
        const char *path;   /* uds_path; borrowed */
        int listen_fd;      /* listening on uds_path; borrowed */
        int epfd;           /* the host sockets, the listener and the timer; owned */
        int timer_fd;       /* the next timeout; owned */
        bool started;       /* accepting host clients */
        bool listen_paused; /* started, but the listener is out of epfd until a slot frees */
        uint64_t timer_at;  /* monotonic ms the timer is armed for; 0: disarmed */
        uint32_t local_port_last;
        unsigned int nslots; /* slots in use */
        int rx_head, rx_tail;
        unsigned int rst_head, rst_len;
        struct {
                uint32_t local_port, peer_port;
        } rst[VSOCK_MUXER_RST_QUEUE];
        int buckets[VSOCK_HASH_BUCKETS];
        struct vsock_slot slots[VSOCK_MAX_CONNECTIONS];
};

/*
 * Sets m up for the guest's cid over the listening socket listen_fd bound at path (both
 * borrowed; listen_fd -1 in tests that add connections by hand): its epoll and its timer.
 * Returns 0 or -errno.
 */
int vsock_muxer_init(struct vsock_muxer *m, uint64_t cid, const char *path, int listen_fd);

/* Closes every connection, the epoll and the timer. */
void vsock_muxer_fini(struct vsock_muxer *m);

/* The fd the VMM loop watches: readable when a host socket or the timer has an event. */
int vsock_muxer_fd(const struct vsock_muxer *m);

/* Starts accepting host clients (the driver activated the device). Returns 0 or -errno. */
int vsock_muxer_start(struct vsock_muxer *m);

/* Stops accepting, closes every connection and forgets queued packets (device reset). */
void vsock_muxer_stop(struct vsock_muxer *m);

/* Handles up to VSOCK_MUXER_EVENTS host socket events, without blocking. */
void vsock_muxer_events(struct vsock_muxer *m, uint64_t now_ms);

/* True when a packet waits for the guest. */
bool vsock_muxer_has_rx(const struct vsock_muxer *m);

/* The next packet for the guest into p (an RX packet). Returns 0 or -ENODATA. */
int vsock_muxer_recv_pkt(struct vsock_muxer *m, struct vsock_pkt *p, uint64_t now_ms);

/* A packet from the guest (a parsed TX packet). */
void vsock_muxer_send_pkt(struct vsock_muxer *m, const struct vsock_pkt *p, uint64_t now_ms);

/*
 * Adds a connection on fd as the guest's peer would see it (unit tests, and the two ways
 * connections start). Returns the slot, or -ENOSPC at the limit (fd is then closed).
 */
int vsock_muxer_add(struct vsock_muxer *m, const struct vsock_conn *c);

/* The connection (local_port, peer_port), or NULL. */
struct vsock_conn *vsock_muxer_find(struct vsock_muxer *m, uint32_t local_port, uint32_t peer_port);

#endif
