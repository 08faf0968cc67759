/* The tests' side of a virtio-mmio driver (unit tests, fuzz harnesses): registers, bring-up. */
#ifndef BRASA_TESTS_VIRTIO_MMIO_DRIVER_H
#define BRASA_TESTS_VIRTIO_MMIO_DRIVER_H

#include <linux/virtio_mmio.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"

/* A 32-bit register write, as the guest's store would reach the transport. */
static inline void mmio_wr32(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        virtio_mmio_write(m, off, b, 4);
}

/* A 32-bit register read. */
static inline uint32_t mmio_rd32(struct virtio_mmio *m, uint64_t off)
{
        uint8_t b[4];

        virtio_mmio_read(m, off, b, 4);
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* Reset, ACKNOWLEDGE, DRIVER, the low feature word (when not 0) and VERSION_1, FEATURES_OK. */
static inline void mmio_negotiate(struct virtio_mmio *m, uint32_t features_lo)
{
        mmio_wr32(m, VIRTIO_MMIO_STATUS, 0);
        mmio_wr32(m, VIRTIO_MMIO_STATUS, 1);
        mmio_wr32(m, VIRTIO_MMIO_STATUS, 3);
        if (features_lo) {
                mmio_wr32(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
                mmio_wr32(m, VIRTIO_MMIO_DRIVER_FEATURES, features_lo);
        }
        mmio_wr32(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        mmio_wr32(m, VIRTIO_MMIO_DRIVER_FEATURES, 1);
        mmio_wr32(m, VIRTIO_MMIO_STATUS, 0xb);
}

/* Queue sel: its size and the guest-physical addresses of its three rings, then READY. */
static inline void mmio_queue(struct virtio_mmio *m, uint32_t sel, uint16_t size, uint32_t desc,
                              uint32_t avail, uint32_t used)
{
        mmio_wr32(m, VIRTIO_MMIO_QUEUE_SEL, sel);
        mmio_wr32(m, VIRTIO_MMIO_QUEUE_NUM, size);
        mmio_wr32(m, VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
        mmio_wr32(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, avail);
        mmio_wr32(m, VIRTIO_MMIO_QUEUE_USED_LOW, used);
        mmio_wr32(m, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* DRIVER_OK: the device activates. */
static inline void mmio_driver_ok(struct virtio_mmio *m)
{
        mmio_wr32(m, VIRTIO_MMIO_STATUS, 0xf);
}

#endif
