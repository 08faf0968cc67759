/* Helpers shared by the device unit tests: byte access to a bus window, eventfd reads. */
#ifndef BRASA_TESTS_UNIT_BUS_TEST_UTIL_H
#define BRASA_TESTS_UNIT_BUS_TEST_UTIL_H

#include <stdint.h>
#include <unistd.h>

#include "devices/bus.h"

/* Reads one byte at off, as a vCPU's 1-byte IN would; 0xee marks "not written". */
static inline uint8_t bus_test_inb(const struct bus_dev *dev, uint64_t off)
{
        uint8_t v = 0xee;

        dev->read(dev->opaque, off, &v, 1);
        return v;
}

/* Writes one byte at off, as a vCPU's 1-byte OUT would. */
static inline void bus_test_outb(const struct bus_dev *dev, uint64_t off, uint8_t v)
{
        dev->write(dev->opaque, off, &v, 1);
}

/* Reads and clears an eventfd; 0 when it was not signalled. */
static inline uint64_t evt_take(int fd)
{
        uint64_t v = 0;

        if (read(fd, &v, sizeof(v)) != sizeof(v))
                return 0;
        return v;
}

#endif
