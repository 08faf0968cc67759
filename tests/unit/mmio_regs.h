/* The unit tests' side of virtio-mmio: 32-bit register reads and writes, little-endian. */
#ifndef BRASA_TESTS_UNIT_MMIO_REGS_H
#define BRASA_TESTS_UNIT_MMIO_REGS_H

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

#endif
