/* virtio-mem: a hotpluggable region the guest plugs and unplugs block by block. */
#ifndef BRASA_DEVICES_VIRTIO_MEM_VIRTIO_MEM_H
#define BRASA_DEVICES_VIRTIO_MEM_VIRTIO_MEM_H

#include <linux/virtio_mem.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "devices/virtio/virtio.h"

/* Firecracker's FIRECRACKER_MAX_QUEUE_SIZE, its one queue's size. */
#define VIRTIO_MEM_QUEUE_SIZE 256

/* Firecracker's VIRTIO_MEM_DEV_ID: the device's id in the device table. */
#define VIRTIO_MEM_DEV_ID "mem"

/*
 * Registers (plug) or removes (!plug) KVM memory slot number slot: [gpa, gpa + size) backed
 * by hva. Returns 0 or -errno.
 */
typedef int (*virtio_mem_slot_fn)(void *opaque, unsigned int slot, uint64_t gpa, uint64_t size,
                                  void *hva, bool plug);

/* What the device is made from (Firecracker's MemoryHotplugConfig, in bytes). */
struct virtio_mem_params {
        uint64_t gpa;            /* the region's start, a multiple of slot_size */
        uint64_t total_size;     /* a multiple of slot_size */
        uint64_t block_size;     /* a power of two, at least 2 MiB */
        uint64_t slot_size;      /* a multiple of block_size */
        unsigned int first_slot; /* the KVM slot of the region's first slot_size bytes */
        virtio_mem_slot_fn set_slot;
        void *opaque;
};

/* GET /hotplug/memory, in MiB (Firecracker's VirtioMemStatus). */
struct virtio_mem_status {
        uint64_t total_size_mib, slot_size_mib, block_size_mib, plugged_size_mib,
            requested_size_mib;
};

struct virtio_mem {
        struct virtio_dev dev; /* first: the transport hands back &dev */
        struct virtio_mem_config config;
        uint8_t *map; /* the region's host mapping; unplugged slots are PROT_NONE */
        uint64_t slot_size, nr_blocks, nr_slots;
        unsigned int first_slot;
        uint64_t *plugged;     /* one bit per block */
        bool *slot_registered; /* one per slot: in KVM (some block in it plugged) */
        virtio_mem_slot_fn set_slot;
        void *opaque;
        struct virtq_chain chain;
};

/*
 * Maps the region (anonymous, nothing plugged, PROT_NONE) and creates the device. Slots are
 * registered with set_slot when the first block in them is plugged and removed when the last
 * one is unplugged. Returns 0 or -errno with the reason in e.
 */
int virtio_mem_create(struct virtio_mem **out, const struct virtio_mem_params *p,
                      const struct guest_mem *mem, struct err *e);

/* The device's sizes for GET /hotplug/memory; VMM thread. */
void virtio_mem_status(struct virtio_mem *m, struct virtio_mem_status *s);

/*
 * PATCH /hotplug/memory: the new requested size, with a config interrupt. Returns 0, or
 * -EINVAL with Firecracker's VirtioMemError text in e ("Device is not active", "Size <n> is
 * invalid: ..."). VMM thread.
 */
int virtio_mem_update_requested(struct virtio_mem *m, uint64_t requested_size_mib, struct err *e);

/* Unmaps the region, frees m (NULL: no-op). Also its dev's destroy. Slots are the VM's. */
void virtio_mem_destroy(struct virtio_mem *m);

#endif
