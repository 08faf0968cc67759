/* A virtio device as the transport sees it: features, status, queues, interrupts, one lock. */
#ifndef BRASA_DEVICES_VIRTIO_VIRTIO_H
#define BRASA_DEVICES_VIRTIO_VIRTIO_H

#include <jansson.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/guest_mem.h"
#include "devices/device.h"
#include "core/metrics.h"
#include "devices/virtio/queue.h"

#define VIRTIO_MAX_QUEUES 8

/* InterruptStatus bits (virtio-mmio). */
#define VIRTIO_INT_VRING  0x1u
#define VIRTIO_INT_CONFIG 0x2u

/* The raise() argument for a configuration change. */
#define VIRTIO_IRQ_CONFIG (-1)

struct virtio_dev;

/*
 * What a device implements. The first five run with dev->lock held: read_config,
 * write_config, activate and reset on the vCPU thread that touched the registers;
 * queue_notify on the VMM thread. The lifecycle hooks below them take the lock
 * themselves when they need it.
 */
struct virtio_dev_ops {
        /* Fills data[0..len) from config space at off; bytes past its end read as 0. */
        void (*read_config)(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len);
        /* A driver write to config space (most devices refuse and count it). */
        void (*write_config)(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len);
        /* DRIVER_OK with every queue validated. Returns 0 or -errno (device needs reset). */
        int (*activate)(struct virtio_dev *d);
        /* The driver reset the device: quiesce in-flight work; queues are reset after. */
        void (*reset)(struct virtio_dev *d);
        /* The driver notified queue q (which exists) of an active, healthy device. */
        void (*queue_notify)(struct virtio_dev *d, unsigned int q);

        /*
         * 0 when the device's own state is fully in the common virtio state (queues,
         * features, status), so a snapshot of it is whole; -ENOTSUP otherwise. NULL: this
         * type cannot be snapshotted yet.
         */
        int (*snapshot_check)(struct virtio_dev *d);
        /*
         * Optional, lock held. prepare_save runs before the state is read (vsock sends its
         * TRANSPORT_RESET event there, as Firecracker). save_state appends the type's own
         * state after the common one (cap bytes: 0 or -ENOSPC); restore_state takes it back
         * (len bytes of a hostile file: 0 or -EINVAL) once the common state is restored and,
         * when live, the queues and device are active again. A type without save_state saves
         * nothing more and accepts only an empty tail.
         */
        void (*prepare_save)(struct virtio_dev *d);
        int (*save_state)(struct virtio_dev *d, void *buf, size_t cap, size_t *len);
        int (*restore_state)(struct virtio_dev *d, const void *buf, size_t len);

        /*
         * Behind the device's struct device ops (devices/device.h), which forward to it
         * (and write metrics with virtio_dev_metrics()): stops the device's own event
         * sources, closes its files and frees its container (virtio_dev_fini() included).
         * VMM thread, once no vCPU runs and the transport is gone. Required: whoever holds
         * a virtio_dev can dispose of it without its type.
         */
        void (*destroy)(struct virtio_dev *d);
};

struct virtio_dev {
        /* The device-table entry: kind = device_id, id = the resource id (drive_id, iface_id,
         * owned by the container), ops forwarding to the lifecycle hooks of ops below. */
        struct device base;
        pthread_mutex_t lock; /* guards everything below except isr */
        const struct virtio_dev_ops *ops;
        char name[80];      /* for log lines, e.g. "block rootfs" */
        uint32_t device_id; /* the virtio device type (VIRTIO_ID_BLOCK): the device's kind */
        uint64_t avail_features;
        uint64_t acked_features;
        uint32_t status; /* as the driver reads it, NEEDS_RESET included */
        bool activated;
        uint32_t config_generation;
        uint32_t isr; /* InterruptStatus; atomic */
        int irq_fd;   /* irqfd eventfd, -1 when none (unit tests) */
        /*
         * The transport's own interrupts (virtio-pci's MSI-X vectors), NULL: irq_fd. Called for
         * queue q, or VIRTIO_IRQ_CONFIG, from any thread; transport is its state.
         */
        void (*raise)(struct virtio_dev *d, int q);
        void *transport;
        const struct guest_mem *mem;
        struct virtq queues[VIRTIO_MAX_QUEUES];
        unsigned int nr_queues;
        int notify_fds[VIRTIO_MAX_QUEUES]; /* owned eventfds, one per queue; -1 when none */
        uint64_t interrupts;               /* interrupts raised (metrics) */
        /*
         * The device's cumulative counters and their values at the previous metrics line,
         * both in its kind's table layout, in the container; NULL: no metrics.
         */
        void *metrics, *metrics_prev;
};

/* A queue as a snapshot keeps it (no implicit padding). */
struct virtio_queue_state {
        uint64_t desc, avail, used;
        uint16_t size, next_avail, next_used, num_added;
        uint32_t ready, reserved;
};

/* The common part of a virtio device in a snapshot (no implicit padding). */
struct virtio_dev_state {
        uint64_t acked_features;
        uint32_t status, config_generation, isr, activated, nr_queues, reserved;
        struct virtio_queue_state q[VIRTIO_MAX_QUEUES];
};

/*
 * Initializes the common part: nr_queues queues of max_size, VIRTIO_F_VERSION_1 added to
 * features, the device-table entry (kind device_id, id ""), no irq or notify fds yet. Returns 0,
 * -EINVAL (bad nr_queues) or -errno.
 */
int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, const char *name,
                    uint32_t device_id, uint64_t features, unsigned int nr_queues,
                    uint16_t max_size, const struct guest_mem *mem);

/*
 * Creates one non-blocking eventfd per queue into notify_fds[] (the transport's
 * QueueNotify ioeventfds); d owns them. Returns 0 or -errno (those made stay owned).
 */
int virtio_dev_open_notify(struct virtio_dev *d);

/* Closes the notify eventfds and releases the lock. irq_fd is its setter's. */
void virtio_dev_fini(struct virtio_dev *d);

/* The virtio_dev whose device-table entry is dev (dev must be one). */
struct virtio_dev *virtio_dev_of(struct device *dev);

/*
 * Resets the device as a driver's Status write of 0 does: the device's reset hook, every
 * queue, features, status and InterruptStatus (ConfigGeneration keeps counting). Lock held.
 */
void virtio_dev_reset(struct virtio_dev *d);

void virtio_dev_lock(struct virtio_dev *d);
void virtio_dev_unlock(struct virtio_dev *d);

/* True when the driver acked feature bit. */
bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned int bit);

/* True when queues may be processed: activated and neither NEEDS_RESET nor FAILED. */
bool virtio_dev_running(const struct virtio_dev *d);

/* Sets InterruptStatus bits and raises the device's interrupt. Any thread. */
void virtio_dev_signal(struct virtio_dev *d, uint32_t bits);

/* Queue q's used ring has news: its interrupt (the transport's vector for q). Any thread. */
void virtio_dev_signal_queue(struct virtio_dev *d, unsigned int q);

/* Config space changed: bumps ConfigGeneration and raises a config interrupt. Lock held. */
void virtio_dev_config_changed(struct virtio_dev *d);

/*
 * The driver broke the device contract: sets DEVICE_NEEDS_RESET, raises a config
 * interrupt (virtio 1.x §2.1.2) and logs why, rate limited. Queues stay stopped until the
 * driver resets the device. Lock held.
 */
void virtio_dev_needs_reset(struct virtio_dev *d, const char *why);

/*
 * VMM thread, on a queue's ioeventfd: drains the eventfd and, when the device is
 * running, calls queue_notify under the lock.
 */
void virtio_dev_queue_event(struct virtio_dev *d, unsigned int q);

/*
 * Marks the used rings of d's active queues in guest memory's host-side dirty log: the device
 * writes them through pointers cached at activation, which the accessor never sees again.
 * Paused device (a Diff snapshot).
 */
void virtio_dev_mark_rings(struct virtio_dev *d);

/* Writes the queue's notify eventfd so the VMM thread processes it (no-op without one). */
void virtio_dev_kick(struct virtio_dev *d, unsigned int q);

/*
 * Ends a bounded pass over queue index qi (q): what is left waits for a later pass (a kick),
 * and when the pass used any chain, the used ring is published and the queue's interrupt
 * raised if the driver wants it. Lock held.
 */
void virtio_dev_end_pass(struct virtio_dev *d, struct virtq *q, unsigned int qi, bool used_any);

/* A read of a fixed config space cfg[size] at off: the overlap, zeros elsewhere. */
void virtio_config_read(const void *cfg, size_t size, uint64_t off, uint8_t *data, uint32_t len);

/*
 * The driver's side of the state machine, shared by the transports (lock held).
 * virtio_dev_ack_features: a DriverFeatures write of page (0 or 1; others must be 0),
 * accepted only between DRIVER and FEATURES_OK, keeping only offered bits.
 */
void virtio_dev_ack_features(struct virtio_dev *d, uint32_t page, uint32_t v);

/*
 * A Status write: 0 resets (returns true: the transport resets its selectors), FAILED
 * sticks, anything else must be the next step of virtio 1.x §3.1.1; DRIVER_OK activates
 * the queues and the device, or sets NEEDS_RESET when they are bad.
 */
bool virtio_dev_set_status(struct virtio_dev *d, uint32_t v);

/*
 * Queue sel when its registers may change now, else NULL: only between FEATURES_OK and
 * DRIVER_OK; a change after DRIVER_OK puts the device in NEEDS_RESET.
 */
struct virtq *virtio_dev_writable_queue(struct virtio_dev *d, uint32_t sel);

/* True when the driver may write config space: DRIVER set, neither FAILED nor NEEDS_RESET. */
bool virtio_dev_config_writable(const struct virtio_dev *d);

/*
 * For a metrics line (any thread): fills delta (t->size bytes, t the device kind's table)
 * with what d counted since the previous call: metrics_take() under d's lock.
 */
void virtio_dev_metrics_take(struct virtio_dev *d, const struct metrics_table *t, void *delta);

/*
 * One metrics line of d, a device of kind k (any thread): takes its delta, adds it into
 * sum (the kind's aggregate, k->table->size bytes) and writes d's own group "<group>_<id>"
 * into root. No-op when d has no metrics. Returns 0 or -ENOMEM.
 */
int virtio_dev_metrics(struct virtio_dev *d, const struct device_metrics_kind *k, void *sum,
                       json_t *root);

#endif
