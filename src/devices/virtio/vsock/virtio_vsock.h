/* virtio-vsock (device 19): RX, TX and event queues over the Unix-socket backend, as Firecracker.
 */
#ifndef BRASA_DEVICES_VIRTIO_VSOCK_VIRTIO_VSOCK_H
#define BRASA_DEVICES_VIRTIO_VSOCK_VIRTIO_VSOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/vsock/vsock_muxer.h"
#include "devices/virtio/vsock/vsock_packet.h"

/* Queues (Firecracker's VSOCK_NUM_QUEUES, each of FIRECRACKER_MAX_QUEUE_SIZE). */
#define VSOCK_NUM_QUEUES 3
#define VSOCK_QUEUE_SIZE 256
#define VSOCK_RXQ        0
#define VSOCK_TXQ        1
#define VSOCK_EVQ        2

/* The one event of the event queue (virtio 1.1 §5.10.6.5): the transport was reset. */
#define VSOCK_EVENT_TRANSPORT_RESET 0

/* VIRTIO_F_IN_ORDER (virtio 1.1), which Firecracker offers with VERSION_1 and EVENT_IDX. */
#define VSOCK_F_IN_ORDER 35

/* The device's id in the device table and its logs (Firecracker's VSOCK_DEV_ID). */
#define VSOCK_DEV_ID "vsock"

/* What the vsock device is made from (Firecracker's VsockDeviceConfig, and its socket). */
struct vsock_params {
        uint32_t guest_cid;
        const char *uds_path; /* borrowed for the device's life */
        int listen_fd;        /* bound and listening on uds_path; borrowed; -1 in tests */
};

struct virtio_vsock {
        struct virtio_dev dev; /* first: the transport hands back &dev */
        uint64_t cid;
        struct evloop *loop; /* NULL in unit tests and fuzzers */
        struct ev_source mux_src;
        bool stop_pending; /* the driver reset the device: the backend stops on the VMM thread */
        /* loaded from a snapshot: nothing goes to the guest until its driver kicks the event
         * queue, its acknowledgement of the TRANSPORT_RESET event (Firecracker's
         * pending_event_ack) */
        bool await_reset_ack;
        uint64_t (*clock_ms)(void); /* monotonic ms; tests replace it */
        struct virtq_chain chain;   /* scratch for the chain being handled */
        struct vsock_pkt pkt;
        struct vsock_muxer mux; /* last: large */
};

/*
 * Creates the device over the listening socket of p; when loop is not NULL its backend is
 * watched there (VMM thread). Counts into the process group metrics.vsock. Returns 0 or
 * -errno with one line in e.
 */
int virtio_vsock_create(struct virtio_vsock **out, const struct vsock_params *p,
                        const struct guest_mem *mem, struct evloop *loop, struct err *e);

/* Stops watching the backend, closes every connection, frees v (NULL: no-op). */
void virtio_vsock_destroy(struct virtio_vsock *v);

/* The backend's fd is readable (VMM thread): host socket events, then both queues. */
void virtio_vsock_backend_event(struct virtio_vsock *v);

#endif
