/* PIO/MMIO bus: a small sorted-free table, searched linearly (a microVM has few devices). */
#include "devices/bus.h"

#include <errno.h>
#include <string.h>

static int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
        return a < b + blen && b < a + alen;
}

int bus_add(struct bus *b, const struct bus_dev *dev)
{
        unsigned int i;
        uint64_t end;

        if (dev->len == 0 || __builtin_add_overflow(dev->base, dev->len, &end))
                return -EINVAL;
        if (b->nr >= BUS_MAX_DEVS)
                return -ENOSPC;
        for (i = 0; i < b->nr; i++)
                if (ranges_overlap(dev->base, dev->len, b->devs[i].base, b->devs[i].len))
                        return -EEXIST;
        b->devs[b->nr++] = *dev;
        return 0;
}

const struct bus_dev *bus_find(const struct bus *b, uint64_t addr, uint32_t len)
{
        unsigned int i;
        uint64_t end;

        if (len == 0 || __builtin_add_overflow(addr, (uint64_t)len, &end))
                return NULL;
        for (i = 0; i < b->nr; i++) {
                const struct bus_dev *d = &b->devs[i];

                if (addr >= d->base && end <= d->base + d->len)
                        return d;
        }
        return NULL;
}

int bus_read(const struct bus *b, uint64_t addr, uint8_t *data, uint32_t len)
{
        const struct bus_dev *d = bus_find(b, addr, len);

        if (!d || !d->read) {
                memset(data, 0, len);
                return d ? 0 : -ENOENT;
        }
        d->read(d->opaque, addr - d->base, data, len);
        return 0;
}

int bus_write(const struct bus *b, uint64_t addr, const uint8_t *data, uint32_t len)
{
        const struct bus_dev *d = bus_find(b, addr, len);

        if (!d)
                return -ENOENT;
        if (d->write)
                d->write(d->opaque, addr - d->base, data, len);
        return 0;
}
