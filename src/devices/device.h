/* A device of any kind as the device table holds it: its kind, its id and its lifecycle ops. */
#ifndef BRASA_DEVICES_DEVICE_H
#define BRASA_DEVICES_DEVICE_H

#include <jansson.h>
#include <linux/virtio_ids.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/metrics.h"

/* What a device is. A virtio device's kind is its virtio device type (VIRTIO_ID_*). */
enum device_kind {
        DEVICE_VIRTIO_NET = VIRTIO_ID_NET,
        DEVICE_VIRTIO_BLOCK = VIRTIO_ID_BLOCK,
        DEVICE_VIRTIO_RNG = VIRTIO_ID_RNG,
        DEVICE_VIRTIO_BALLOON = VIRTIO_ID_BALLOON,
        DEVICE_VIRTIO_VSOCK = VIRTIO_ID_VSOCK,
        DEVICE_VIRTIO_PMEM = VIRTIO_ID_PMEM,
        DEVICE_VIRTIO_MEM = VIRTIO_ID_MEM,
        DEVICE_SERIAL = 0x100, /* the COM1 16550A */
        DEVICE_I8042,
        DEVICE_BOOT_TIMER,
        DEVICE_ACPI_SLEEP, /* the ACPI sleep registers (power-off) */
        DEVICE_VMGENID,
        DEVICE_VMCLOCK,
        DEVICE_PIT, /* the 8254 timer and the speaker port */
};

struct device;
struct device_metrics_kind;

/* The hooks the device table calls, on the VMM thread unless noted; NULL where optional. */
struct device_ops {
        /* Back to the state the device had when created (NULL: nothing to reset). */
        void (*reset)(struct device *d);
        /*
         * Required. Releases everything the device holds and frees its container. Called
         * once no vCPU runs; the buses are the caller's.
         */
        void (*destroy)(struct device *d);
        /*
         * One metrics line (the flushing thread), for k, the device's kind: adds the
         * counters since the previous call into sum (the kind's aggregate, k->table->size
         * bytes) and writes the device's own group into root when it has one. NULL: no
         * metrics.
         */
        void (*metrics)(struct device *d, const struct device_metrics_kind *k, void *sum,
                        json_t *root);
        /*
         * Snapshots, with the microVM paused. save writes the device's state into buf (cap
         * bytes) and its size into *len: 0 or -ENOSPC. restore puts a saved state (len bytes
         * of a hostile file) back into a device freshly built from the same configuration: 0
         * or -EINVAL for a state of the wrong size or out of range. NULL: this kind of device
         * cannot be snapshotted yet, and /snapshot/create fails naming it.
         */
        int (*save)(struct device *d, void *buf, size_t cap, size_t *len);
        int (*restore)(struct device *d, const void *buf, size_t len);
        /* False when this device, as configured now, cannot be saved yet (a kind with hooks
         * for some of its modes only). NULL: save/restore decide alone. */
        bool (*snapshottable)(struct device *d);
};

/* Embedded in every device's container; the table finds the container through ops. */
struct device {
        enum device_kind kind;
        const char *id; /* the resource id (drive_id, iface_id, "com1"), owned by the container */
        const struct device_ops *ops;
};

/*
 * The metrics of one device kind: a "<group>" summed over every device of that kind
 * (Firecracker's "block", "net", "uart"), next to each device's own group where it writes one.
 */
struct device_metrics_kind {
        const char *group;     /* "block" */
        enum device_kind kind; /* which devices add into it */
        bool sum_first;        /* the sum's key comes before the devices' (Firecracker's order) */
        size_t key_size;       /* bytes for a device's own "<group>_<id>" key, NUL included (cut) */
        const struct metrics_table *table; /* the fields of the sum and of each device's group */
};

#endif
