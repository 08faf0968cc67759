/* The fuzz harnesses' side of a virtio-mmio driver: register writes and the bring-up steps. */
#ifndef BRASA_FUZZ_VIRTQ_MMIO_H
#define BRASA_FUZZ_VIRTQ_MMIO_H

#include <linux/virtio_mmio.h>
#include <stdint.h>

#include "devices/virtio/mmio.h"

/* A 32-bit register write, as the guest's store would reach the transport. */
static inline void fz_wr(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        virtio_mmio_write(m, off, b, 4);
}

/* Reset, ACKNOWLEDGE, DRIVER, the low feature word (when not 0) and VERSION_1, FEATURES_OK. */
static inline void fz_negotiate(struct virtio_mmio *m, uint32_t features_lo)
{
        fz_wr(m, VIRTIO_MMIO_STATUS, 0);
        fz_wr(m, VIRTIO_MMIO_STATUS, 1);
        fz_wr(m, VIRTIO_MMIO_STATUS, 3);
        if (features_lo) {
                fz_wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
                fz_wr(m, VIRTIO_MMIO_DRIVER_FEATURES, features_lo);
        }
        fz_wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        fz_wr(m, VIRTIO_MMIO_DRIVER_FEATURES, 1);
        fz_wr(m, VIRTIO_MMIO_STATUS, 0xb);
}

/* Queue sel: its size and the guest-physical addresses of its three rings, then READY. */
static inline void fz_queue(struct virtio_mmio *m, uint32_t sel, uint16_t size, uint32_t desc,
                            uint32_t avail, uint32_t used)
{
        fz_wr(m, VIRTIO_MMIO_QUEUE_SEL, sel);
        fz_wr(m, VIRTIO_MMIO_QUEUE_NUM, size);
        fz_wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, desc);
        fz_wr(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, avail);
        fz_wr(m, VIRTIO_MMIO_QUEUE_USED_LOW, used);
        fz_wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* DRIVER_OK: the device activates. */
static inline void fz_driver_ok(struct virtio_mmio *m)
{
        fz_wr(m, VIRTIO_MMIO_STATUS, 0xf);
}

#endif
