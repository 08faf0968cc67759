/* virtio-net: RX and TX queues of 256 over an existing tap, offloads, rate limiters, metrics. */
#ifndef BRASA_DEVICES_VIRTIO_NET_VIRTIO_NET_H
#define BRASA_DEVICES_VIRTIO_NET_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "core/rate_limiter.h"
#include "devices/virtio/net/metrics.h"
#include "core/tap.h"
#include "devices/virtio/virtio.h"

#define NET_QUEUE_SIZE 256
#define NET_RXQ        0
#define NET_TXQ        1
/* The largest frame either way, vnet header included (Firecracker's MAX_BUFFER_SIZE). */
#define NET_MAX_FRAME (TAP_VNET_HDR_LEN + 65550)
/* Config space: mac[6], status, max_virtqueue_pairs, mtu (virtio 1.x 5.1.4). */
#define NET_CONFIG_SIZE 12

/*
 * What one virtio-net device is made from (Firecracker's NetBuilder inputs); the VMM
 * builds it from the network interface's configuration. Strings are copied.
 */
struct net_params {
        const char *iface_id;      /* names the device in logs and metrics */
        const char *host_dev_name; /* the tap's name (virtio_net_create() only) */
        int tap_fd;                /* the tap, open (virtio_net_create() only; borrowed) */
        bool has_mac;              /* offer VIRTIO_NET_F_MAC with mac */
        uint8_t mac[6];
        bool has_mtu; /* offer VIRTIO_NET_F_MTU with mtu */
        uint16_t mtu;
        struct rate_limiter_cfg rx_rate_limiter, tx_rate_limiter; /* not present: no limit */
};

/*
 * Frames the VMM takes out of the guest's TX path and puts into its RX path (the metadata
 * service's network stack), all on the VMM thread under the device lock. frame is Ethernet
 * without the virtio header.
 */
struct net_intercept {
        /*
         * Is frame, which the guest sent, the interceptor's? When it returns true the frame
         * was consumed and never reaches the tap. csum_partial: the guest set NEEDS_CSUM.
         */
        bool (*tx)(void *ctx, const uint8_t *frame, size_t len, bool csum_partial);
        /* Writes the next frame for the guest into buf (cap bytes): its length, 0 when none. */
        size_t (*rx)(void *ctx, uint8_t *buf, size_t cap);
        /* The device is being destroyed: ctx is not used again. */
        void (*destroy)(void *ctx);
        void *ctx;
};

/*
 * The most RX chains one pass pops (frames that do not fit are put back and popped again):
 * with merged buffers a frame may take a ring's worth, so a ring's worth of frames alone
 * would bound a pass only at 256 x 256 chains.
 */
#define NET_RX_PASS_CHAINS (2 * NET_QUEUE_SIZE)

struct virtio_net {
        struct virtio_dev dev; /* first: the transport hands back &dev */
        char *iface_id;
        char *host_dev_name;
        int tap_fd;        /* -1 in tests that drive the device without a tap */
        bool tap_borrowed; /* tap_fd belongs to the configuration (virtio_net_create()) */
        bool has_mac;
        uint8_t mac[6];
        uint8_t config[NET_CONFIG_SIZE];

        struct rate_limiter rx_rl, tx_rl;
        struct evloop *loop; /* NULL in unit tests and fuzzers */
        struct ev_source tap_src, rx_rl_src, tx_rl_src;
        bool tap_polled;       /* tap_src is in the loop (or would be, without one) */
        bool offloads_pending; /* activated: TUNSETOFFLOAD on the VMM thread */

        uint32_t rx_len;             /* a frame read from the tap, not yet in the guest (0: none) */
        unsigned int rx_pass_chains; /* NET_RX_PASS_CHAINS (unit tests lower it) */
        unsigned int rx_popped;      /* chains popped in this RX pass */
        uint8_t rx_buf[NET_MAX_FRAME];
        uint8_t tx_buf[NET_MAX_FRAME];
        uint16_t rx_heads[NET_QUEUE_SIZE];
        uint32_t rx_lens[NET_QUEUE_SIZE];
        struct virtq_chain chain;        /* scratch for the chain being handled */
        struct virtq_chain first_chain;  /* RX: the chain that holds the frame's header */
        struct net_intercept icpt;       /* all NULL: every frame goes to the tap */
        bool icpt_took;                  /* this TX pass gave the interceptor a frame */
        struct net_metrics metrics;      /* cumulative */
        struct net_metrics metrics_prev; /* as of the last metrics line */
};

/*
 * Over p->tap_fd, the tap the configuration opened (it must outlive the device), builds
 * the features (MAC and MTU only when given), config space and both rate limiters. When loop is not
 * NULL the limiters' timerfds are watched there and the tap is watched once the device runs (VMM
 * thread). Returns 0 or -errno with one line in e.
 */
int virtio_net_create(struct virtio_net **out, const struct net_params *p,
                      const struct guest_mem *mem, struct evloop *loop, struct err *e);

/*
 * As virtio_net_create() but over an already open fd (a tap, or one end of a socketpair
 * in tests and fuzzers, which gets no TUNSETOFFLOAD). Takes ownership of fd.
 */
int virtio_net_create_fd(struct virtio_net **out, const struct net_params *p, int fd,
                         const struct guest_mem *mem, struct evloop *loop, struct err *e);

/* The "net" metrics line, summed over every interface (virtio_dev_metrics() adds each in). */
extern const struct device_metrics_kind virtio_net_metrics_kind;

/* Stops watching, closes the tap and timerfds, frees n (NULL is fine); also ops->destroy. */
void virtio_net_destroy(struct virtio_net *n);

/* PATCH (VMM thread): applies Firecracker's bucket updates to the RX and TX limiters. */
void virtio_net_update_rate_limiters(struct virtio_net *n, const struct rate_limiter_update *rx,
                                     const struct rate_limiter_update *tx);

/*
 * The tap is readable (VMM thread): moves frames into the guest's RX buffers, at most a
 * queue's worth per call. Stops watching the tap while the guest has no buffers, the RX
 * limiter is blocked or the device is not running; the frame already read is kept.
 */
void virtio_net_tap_event(struct virtio_net *n);

/*
 * Installs ic (copied; VMM thread, before the guest runs). Frames the interceptor's tx
 * takes are not written to the tap; frames its rx has are given to the guest before the
 * tap's, as Firecracker orders MMDS frames. Its destroy runs in virtio_net_destroy().
 */
void virtio_net_set_intercept(struct virtio_net *n, const struct net_intercept *ic);

/* The interceptor has frames due (its timer fired; VMM thread): an RX pass takes them. */
void virtio_net_intercept_event(struct virtio_net *n);

/* A rate limiter's timer fired (VMM thread): resume that direction. */
void virtio_net_rx_rate_limiter_event(struct virtio_net *n);
void virtio_net_tx_rate_limiter_event(struct virtio_net *n);

#endif
