/* PCI segment 0, bus 0: function lookup for ECAM and the legacy configuration mechanism #1. */
#include "devices/pci/pci_bus.h"

#include <errno.h>
#include <string.h>

#include "core/util.h"

#define HOST_VENDOR 0x8086 /* Intel */
#define HOST_DEVICE 0x0d57 /* its virtual PCIe host bridge */
#define CA_ENABLE   0x80000000u

static uint32_t host_read(void *opaque, unsigned int reg)
{
        return pci_cfg_read(opaque, reg);
}

static void host_write(void *opaque, unsigned int reg, unsigned int off, const uint8_t *data,
                       unsigned int len)
{
        pci_cfg_write(opaque, reg, off, data, len);
}

static const struct pci_fn_ops host_ops = {.read = host_read, .write = host_write};

int pci_bus_init(struct pci_bus *b)
{
        const struct pci_id id = {
            .vendor = HOST_VENDOR,
            .device = HOST_DEVICE,
            .class_code = PCI_CLASS_BRIDGE,
            .subclass = PCI_SUBCLASS_HOST,
        };
        int rc;

        memset(b, 0, sizeof(*b));
        rc = pthread_mutex_init(&b->lock, NULL);
        if (rc)
                return -rc;
        pci_cfg_init(&b->host, &id);
        b->slot[0].ops = &host_ops;
        b->slot[0].opaque = &b->host;
        return 0;
}

void pci_bus_fini(struct pci_bus *b)
{
        pthread_mutex_destroy(&b->lock);
}

int pci_bus_add(struct pci_bus *b, const struct pci_fn_ops *ops, void *opaque)
{
        unsigned int i;

        for (i = 1; i < PCI_BUS_SLOTS; i++) {
                if (b->slot[i].ops)
                        continue;
                b->slot[i].ops = ops;
                b->slot[i].opaque = opaque;
                return (int)i;
        }
        return -ENOSPC;
}

/* The function at bus/dev/fn, or -1 when none answers (lock held). */
static int lookup(const struct pci_bus *b, unsigned int bus, unsigned int dev, unsigned int fn)
{
        return bus == 0 && fn == 0 && dev < PCI_BUS_SLOTS && b->slot[dev].ops ? (int)dev : -1;
}

static uint32_t cfg_read(struct pci_bus *b, unsigned int bus, unsigned int dev, unsigned int fn,
                         unsigned int reg)
{
        int s = lookup(b, bus, dev, fn);

        return s < 0 ? 0xffffffffu : b->slot[s].ops->read(b->slot[s].opaque, reg);
}

static void cfg_write(struct pci_bus *b, unsigned int bus, unsigned int dev, unsigned int fn,
                      unsigned int reg, unsigned int off, const uint8_t *data, unsigned int len)
{
        int s = lookup(b, bus, dev, fn);

        if (s >= 0)
                b->slot[s].ops->write(b->slot[s].opaque, reg, off, data, len);
}

/* The bytes [start, start+len) of v, or all ones when they leave the dword. */
static void put_bytes(uint32_t v, unsigned int start, uint8_t *data, uint32_t len)
{
        if (start + len > 4) {
                memset(data, 0xff, len);
                return;
        }
        st_le(data, v >> (start * 8), len);
}

void pci_bus_ecam_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct pci_bus *b = opaque;
        uint32_t v;

        if (off % 4 + len > 4 || off > 0xffffffffu) {
                memset(data, 0xff, len);
                return;
        }
        pthread_mutex_lock(&b->lock);
        v = cfg_read(b, (off >> 20) & 0xff, (off >> 15) & 0x1f, (off >> 12) & 7,
                     (off >> 2) & 0x3ff);
        pthread_mutex_unlock(&b->lock);
        put_bytes(v, off % 4, data, len);
}

void pci_bus_ecam_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct pci_bus *b = opaque;

        if (off % 4 + len > 4 || off > 0xffffffffu)
                return;
        pthread_mutex_lock(&b->lock);
        cfg_write(b, (off >> 20) & 0xff, (off >> 15) & 0x1f, (off >> 12) & 7, (off >> 2) & 0x3ff,
                  off % 4, data, len);
        pthread_mutex_unlock(&b->lock);
}

/* CONFIG_DATA's target: -1 when CONFIG_ADDRESS is not enabled (lock held). */
static uint32_t io_data_read(struct pci_bus *b)
{
        uint32_t a = b->config_address;

        if (!(a & CA_ENABLE))
                return 0xffffffffu;
        return cfg_read(b, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, (a >> 2) & 0x3f);
}

void pci_bus_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct pci_bus *b = opaque;
        uint32_t v;

        if (off % 4 + len > 4 || off >= PCI_PORT_CONFIG_SZ) {
                memset(data, 0xff, len);
                return;
        }
        pthread_mutex_lock(&b->lock);
        v = off < 4 ? b->config_address : io_data_read(b);
        pthread_mutex_unlock(&b->lock);
        put_bytes(v, off % 4, data, len);
}

void pci_bus_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct pci_bus *b = opaque;
        uint32_t a, mask;

        if (off % 4 + len > 4 || off >= PCI_PORT_CONFIG_SZ || (len != 1 && len != 2 && len != 4))
                return;
        pthread_mutex_lock(&b->lock);
        a = b->config_address;
        if (off < 4) {
                mask = (len == 4 ? 0xffffffffu : (1u << (len * 8)) - 1) << (off * 8);
                b->config_address =
                    (a & ~mask) | (((uint32_t)ld_le(data, len) << (off * 8)) & mask);
        } else if (a & CA_ENABLE) {
                cfg_write(b, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7, (a >> 2) & 0x3f,
                          (unsigned int)(off - 4), data, len);
        }
        pthread_mutex_unlock(&b->lock);
}
