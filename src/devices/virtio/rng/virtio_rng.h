/* virtio-rng (entropy): one queue of 256 filled from the host's getrandom(), rate limited. */
#ifndef BRASA_DEVICES_VIRTIO_RNG_VIRTIO_RNG_H
#define BRASA_DEVICES_VIRTIO_RNG_VIRTIO_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/err.h"
#include "core/evloop.h"
#include "core/rate_limiter.h"
#include "devices/virtio/virtio.h"

/* Firecracker's queue size for the entropy device (FIRECRACKER_MAX_QUEUE_SIZE). */
#define RNG_QUEUE_SIZE 256

/* The most bytes one request gets (Firecracker's MAX_ENTROPY_BYTES). */
#define RNG_MAX_REQUEST_BYTES (64u * 1024u)

/*
 * The most bytes one pass of the queue hands out before it re-kicks its own eventfd and
 * lets the VMM loop serve everyone else (brasa's bound; Firecracker has none).
 */
#define RNG_PASS_BYTES (1024u * 1024u)

/* The device's id in the device table and its logs (Firecracker's ENTROPY_DEV_ID). */
#define RNG_DEV_ID "rng"

/* What the entropy device is made from (Firecracker's EntropyDeviceConfig). */
struct rng_params {
        struct rate_limiter_cfg rate_limiter; /* buckets not present: no limit */
};

/* The host's random source: getrandom()'s contract, called with GRND_NONBLOCK. */
typedef ssize_t (*rng_source_fn)(void *buf, size_t len, unsigned int flags);

struct virtio_rng {
        struct virtio_dev dev; /* first: the transport hands back &dev */
        struct rate_limiter rl;
        struct evloop *loop; /* NULL in unit tests and fuzzers */
        struct ev_source rl_src;
        rng_source_fn source;     /* getrandom; tests replace it */
        struct virtq_chain chain; /* scratch for the chain being handled */
};

/*
 * Creates the device and its rate limiter; when loop is not NULL the limiter's timerfd is
 * watched there (VMM thread). Counts into the process group metrics.entropy. Returns 0 or
 * -errno with one line in e.
 */
int virtio_rng_create(struct virtio_rng **out, const struct rng_params *p,
                      const struct guest_mem *mem, struct evloop *loop, struct err *e);

/* Stops watching the timer, closes everything, frees r (NULL: no-op). Also its dev's destroy. */
void virtio_rng_destroy(struct virtio_rng *r);

/* The rate limiter's timer fired (VMM thread): count it and resume the queue. */
void virtio_rng_rate_limiter_event(struct virtio_rng *r);

#endif
