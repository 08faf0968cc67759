/* virtio-block: one queue of 256 over a host file, Sync or Async engine, rate limited, metrics. */
#ifndef BRASA_DEVICES_VIRTIO_BLOCK_VIRTIO_BLK_H
#define BRASA_DEVICES_VIRTIO_BLOCK_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "core/rate_limiter.h"
#include "devices/virtio/block/io.h"
#include "devices/virtio/block/metrics.h"
#include "devices/virtio/block/request.h"
#include "devices/virtio/virtio.h"

/* Host cache mode: Writeback offers VIRTIO_BLK_F_FLUSH and fsyncs on flush and at exit. */
enum blk_cache { BLK_CACHE_UNSAFE, BLK_CACHE_WRITEBACK };

/* How requests reach the file: preadv/pwritev on the VMM thread, or io_uring. */
enum blk_engine { BLK_ENGINE_SYNC, BLK_ENGINE_ASYNC };

/*
 * What one virtio-block device is made from (Firecracker's VirtioBlockConfig); the VMM
 * builds it from the drive's configuration. The strings are copied by virtio_blk_create().
 */
struct blk_params {
        const char *drive_id; /* names the device in logs and metrics */
        const char *path;     /* the backing file */
        bool read_only;       /* opened O_RDONLY, VIRTIO_BLK_F_RO offered */
        enum blk_cache cache;
        enum blk_engine engine;
        struct rate_limiter_cfg rate_limiter; /* buckets not present: no limit */
};

/* A request handed to the Async engine, waiting for its completion. */
struct blk_pending {
        bool busy;
        uint32_t type;
        uint16_t head;
        uint8_t *status;
        uint32_t data_len;
        struct iovec *iov; /* grown on demand, kept for reuse */
        unsigned int iov_cap;
};

/*
 * The work of one pass over the queue (one wakeup of the VMM loop): at most a ring's worth of
 * requests, and no new request once BLK_PASS_BYTES of data were read or written (a pass always
 * runs at least one). What is left waits for the next pass: the queue's eventfd is signalled
 * again, so the loop serves the API, signals and the other devices in between.
 */
#define BLK_PASS_BYTES (16u << 20)

struct virtio_blk {
        struct virtio_dev dev; /* first: the transport hands back &dev */
        char *drive_id;
        char *path;
        bool read_only;
        enum blk_cache cache;
        enum blk_engine engine;

        int fd;
        uint64_t nsectors;
        uint8_t config[8]; /* virtio_blk_config.capacity, little-endian */
        uint8_t image_id[BLK_ID_BYTES];

        struct rate_limiter rl;
        struct blk_aio *aio; /* Async engine only */
        struct blk_pending pending[BLK_AIO_DEPTH];
        bool io_throttled; /* Async: queue full, resume on completions */

        struct evloop *loop;
        struct ev_source rl_src;
        struct ev_source aio_src;

        uint64_t max_data;               /* longest request: guest RAM (Firecracker's bound) */
        unsigned int pass_reqs;          /* requests per pass: the queue size */
        uint64_t pass_bytes;             /* BLK_PASS_BYTES (unit tests lower it) */
        struct virtq_chain chain;        /* scratch for the chain being parsed */
        struct blk_request req;          /* scratch for the request being run */
        struct blk_metrics metrics;      /* cumulative */
        struct blk_metrics metrics_prev; /* as of the last metrics line */
};

/*
 * Opens p->path (read-only when p->read_only), sizes it, builds the GET_ID
 * string (st_dev, st_rdev, st_ino, as Firecracker) and the rate limiter, and creates the
 * engine. When loop is not NULL, the limiter's timerfd and the Async completion eventfd
 * are watched there (VMM thread). Returns 0 or -errno with one line in e.
 */
int virtio_blk_create(struct virtio_blk **out, const struct blk_params *p,
                      const struct guest_mem *mem, struct evloop *loop, struct err *e);

/* The "block" metrics line, summed over every drive (virtio_dev_metrics() adds each in). */
extern const struct device_metrics_kind virtio_blk_metrics_kind;

/*
 * Waits for in-flight I/O, fsyncs a Writeback drive, closes everything, frees b. Also
 * b->dev.ops->destroy, for holders of the virtio_dev.
 */
void virtio_blk_destroy(struct virtio_blk *b);

/*
 * PATCH path_on_host (VMM thread): opens the new file with the drive's mode, waits for
 * in-flight I/O on the old one and completes it, swaps the file, updates capacity and
 * GET_ID, and raises a config interrupt if the device is active. On failure the old
 * file stays. Returns 0 or -errno with one line in e.
 */
int virtio_blk_update_path(struct virtio_blk *b, const char *path, struct err *e);

/* PATCH rate_limiter (VMM thread): applies Firecracker's bucket updates. */
void virtio_blk_update_rate_limiter(struct virtio_blk *b, const struct rate_limiter_update *u);

/* The rate limiter's timer fired (VMM thread): resume the queue. */
void virtio_blk_rate_limiter_event(struct virtio_blk *b);

/* Async completions are ready (VMM thread): finish them and resume a throttled queue. */
void virtio_blk_aio_event(struct virtio_blk *b);

#endif
