/* virtio-pmem: a host file mapped into guest-physical space, with a flush queue (msync). */
#ifndef BRASA_DEVICES_VIRTIO_PMEM_VIRTIO_PMEM_H
#define BRASA_DEVICES_VIRTIO_PMEM_VIRTIO_PMEM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "core/metrics.h"
#include "core/rate_limiter.h"
#include "devices/virtio/virtio.h"

/* Firecracker's PMEM_QUEUE_SIZE. */
#define PMEM_QUEUE_SIZE 256

/* The guest region's start and size are multiples of this (virtio-pmem, Firecracker). */
#define PMEM_ALIGNMENT (2ull << 20)

/* Firecracker's virtio-pmem request type; the only one there is. */
#define VIRTIO_PMEM_REQ_TYPE_FLUSH 0u

/* Firecracker's PmemMetrics, one group per device ("pmem_<id>") and their sum ("pmem"). */
#define PMEM_DEV_METRICS(X, T) PMEM_METRICS(X, T)
struct pmem_dev_metrics {
        PMEM_DEV_METRICS(METRICS_FIELD_PLAIN, _)
};

/* What a pmem device is made from (Firecracker's PmemConfig). */
struct pmem_params {
        const char *id;   /* the resource id, copied */
        const char *path; /* the backing file */
        bool read_only;
        struct rate_limiter_cfg rate_limiter; /* buckets not present: no limit */
};

/* The device's config space, as the guest reads it (virtio 1.x 5.19.4). */
struct virtio_pmem_config {
        uint64_t start; /* guest-physical address of the region */
        uint64_t size;  /* bytes, a multiple of PMEM_ALIGNMENT */
};

struct virtio_pmem {
        struct virtio_dev dev; /* first: the transport hands back &dev */
        char *id;
        struct virtio_pmem_config config;
        uint8_t *map;      /* the region's host mapping: the file, then anonymous to size */
        uint64_t file_len; /* bytes of the file mapped (what a flush syncs) */
        struct rate_limiter rl;
        struct evloop *loop; /* NULL in unit tests and fuzzers */
        struct ev_source rl_src;
        struct virtq_chain chain;
        struct pmem_dev_metrics metrics, metrics_prev;
};

/*
 * Opens and maps p->path (read-write unless read_only; MAP_SHARED, rounded up to
 * PMEM_ALIGNMENT with anonymous memory) and creates the device for a region at gpa. The
 * caller registers [gpa, gpa + config.size) with KVM over map. Returns 0 or -errno with
 * Firecracker's PmemError text in e ("Error accessing backing file: ...", "Error backing file
 * size is 0").
 */
int virtio_pmem_create(struct virtio_pmem **out, const struct pmem_params *p, uint64_t gpa,
                       const struct guest_mem *mem, struct evloop *loop, struct err *e);

/* Bytes the region of a file of file_len bytes takes (rounded up to PMEM_ALIGNMENT). */
uint64_t virtio_pmem_region_size(uint64_t file_len);

/* New rate-limiter buckets (PATCH /pmem/{id}); VMM thread. */
void virtio_pmem_update_rate_limiter(struct virtio_pmem *m, const struct rate_limiter_update *u);

/* The rate limiter's timer fired (VMM thread): count it and resume the queue. */
void virtio_pmem_rate_limiter_event(struct virtio_pmem *m);

/* Unmaps, closes everything, frees m (NULL: no-op). Also its dev's destroy. */
void virtio_pmem_destroy(struct virtio_pmem *m);

/* The metrics of the pmem devices: "pmem_<id>" each, then their sum "pmem". */
extern const struct device_metrics_kind virtio_pmem_metrics_kind;

#endif
