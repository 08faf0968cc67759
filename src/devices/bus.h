/* The PIO and MMIO buses: address ranges mapped to device callbacks. */
#ifndef BRASA_DEVICES_BUS_H
#define BRASA_DEVICES_BUS_H

#include <stdint.h>

/*
 * A device's register window. Callbacks run on the vCPU thread that exited;
 * off is relative to base; len is 1, 2, 4 or 8. A read must fill data[0..len).
 */
struct bus_dev {
        uint64_t base;
        uint64_t len;
        void *opaque;
        void (*read)(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
        void (*write)(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);
};

/* The window [base, base+len) whose accesses call read and write with opaque. */
static inline struct bus_dev bus_dev_of(uint64_t base, uint64_t len, void *opaque,
                                        void (*read)(void *, uint64_t, uint8_t *, uint32_t),
                                        void (*write)(void *, uint64_t, const uint8_t *, uint32_t))
{
        return (struct bus_dev){base, len, opaque, read, write};
}

#define BUS_MAX_DEVS 48 /* 31 PCI BARs, the ECAM window and the legacy devices fit */

struct bus {
        struct bus_dev devs[BUS_MAX_DEVS];
        unsigned int nr;
};

/* Adds dev. Returns 0, -EEXIST on overlap, -ENOSPC when full, -EINVAL for len 0. */
int bus_add(struct bus *b, const struct bus_dev *dev);

/* Finds the device whose window holds [addr, addr+len). Returns NULL when none. */
const struct bus_dev *bus_find(const struct bus *b, uint64_t addr, uint32_t len);

/* Dispatches a read; unknown addresses read as zeros. Returns 0 or -ENOENT. */
int bus_read(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len);

/* Dispatches a write; unknown addresses are ignored. Returns 0 or -ENOENT. */
int bus_write(const struct bus *b, uint64_t addr, const uint8_t *data, uint32_t len);

#endif
