/*
 * libFuzzer target: the PCI config and BAR access path. A bus with the host bridge and a
 * virtio-rng device on the virtio-pci transport takes a sequence of accesses from the input.
 *
 * Input: records of [op][offset: 4 bytes LE][len][value: 8 bytes LE]; op % 6 picks an ECAM
 * read or write, a 0xCF8 port read or write, or a BAR read or write; len % 9 is the width
 * (0..8, hostile ones included); offsets are taken as they come. Checks: the IDs and the BAR
 * never change, no access writes past its buffer (ASan), the PBA never shows a vector that
 * does not exist, and a raised interrupt names an existing vector.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng/virtio_rng.h"

#define MEM_SIZE (256u << 10)
#define BAR      0x4000000000ULL
#define REC      14

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_rng *rng;
        struct virtio_pci p;
        struct pci_bus bus;
};

static void route(void *ctx, unsigned int v, const struct msix_entry *e, bool on)
{
        (void)ctx, (void)e, (void)on;
        if (v >= 2)
                abort();
}

static void inject(void *ctx, unsigned int v)
{
        (void)ctx;
        if (v >= 2)
                abort();
}

static const struct msix_ops ops = {.route = route, .inject = inject};

static struct ctx *ctx_get(void)
{
        static struct ctx c;
        struct rng_params p;
        struct err e;

        if (!c.ram) {
                log_set_level(LOG_OFF);
                c.ram = calloc(1, MEM_SIZE);
                if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE))
                        abort();
                memset(&p, 0, sizeof(p));
                if (virtio_rng_create(&c.rng, &p, &c.mem, NULL, &e))
                        abort();
        }
        return &c;
}

static void one(struct ctx *c, const uint8_t *r)
{
        uint64_t off =
            (uint64_t)r[1] | (uint64_t)r[2] << 8 | (uint64_t)r[3] << 16 | (uint64_t)r[4] << 24;
        uint32_t len = r[5] % 9;
        uint8_t buf[8];

        if (len == 0)
                return;
        memcpy(buf, r + 6, 8);
        switch (r[0] % 6) {
        case 0:
                pci_bus_ecam_read(&c->bus, off, buf, len);
                break;
        case 1:
                pci_bus_ecam_write(&c->bus, off, buf, len);
                break;
        case 2:
                pci_bus_io_read(&c->bus, off & 7, buf, len);
                break;
        case 3:
                pci_bus_io_write(&c->bus, off & 7, buf, len);
                break;
        case 4:
                virtio_pci_bar_read(&c->p, off % VIRTIO_PCI_BAR_SIZE, buf, len);
                break;
        default:
                virtio_pci_bar_write(&c->p, off % VIRTIO_PCI_BAR_SIZE, buf, len);
                break;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ctx *c = ctx_get();
        uint8_t id[4];

        memset(c->ram, 0, MEM_SIZE);
        virtio_dev_lock(&c->rng->dev);
        virtio_dev_set_status(&c->rng->dev, 0);
        virtio_dev_unlock(&c->rng->dev);
        if (virtio_pci_init(&c->p, &c->rng->dev, BAR, &ops, c) || pci_bus_init(&c->bus))
                abort();
        if (pci_bus_add(&c->bus, &virtio_pci_fn_ops, &c->p) != 1)
                abort();
        for (; size >= REC; data += REC, size -= REC)
                one(c, data);
        if (pci_cfg_bar64(&c->p.cfg, 0) != BAR || c->p.msix.pba >> 2)
                abort();
        pci_bus_ecam_read(&c->bus, 1 << 15, id, 4);
        if (id[0] != 0xf4 || id[1] != 0x1a || id[2] != 0x44 || id[3] != 0x10)
                abort();
        pci_bus_fini(&c->bus);
        virtio_pci_fini(&c->p);
        return 0;
}
