/* Unit tests for PCI: the type-0 config space and its capability list, fixed BARs and their
 * sizing, MSI-X table/PBA/mask semantics, bus decoding (ECAM and 0xCF8) and the virtio-pci
 * transport's common configuration, capabilities and interrupts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/mem_layout.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_bus.h"
#include "devices/pci/pci_cfg.h"
#include "devices/virtio/pci.h"

#define BAR 0x4000000000ULL

/* ---- config space ------------------------------------------------------------------------- */

static const struct pci_id test_id = {.vendor = 0x1af4,
                                      .device = 0x1042,
                                      .revision = 1,
                                      .class_code = 1,
                                      .subclass = 0x80,
                                      .subsys_vendor = 0x1af4,
                                      .subsys = 0x1042};

static void wr32(struct pci_cfg *c, unsigned int off, uint32_t v)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        pci_cfg_write(c, off / 4, off % 4, b, 4);
}

static void test_header_read_only(void **state)
{
        struct pci_cfg c;
        uint8_t ff[4] = {0xff, 0xff, 0xff, 0xff};

        (void)state;
        pci_cfg_init(&c, &test_id);
        assert_int_equal(pci_cfg_read(&c, 0), 0x10421af4);
        assert_int_equal(pci_cfg_read(&c, 2), 0x01800001);
        assert_int_equal(pci_cfg_read(&c, 11), 0x10421af4);
        for (unsigned int reg = 0; reg < PCI_CFG_REGS; reg++)
                if (reg < PCI_CFG_BAR0_REG || reg >= PCI_CFG_BAR0_REG + 6)
                        pci_cfg_write(&c, reg, 0, ff, 4);
        assert_int_equal(pci_cfg_read(&c, 0), 0x10421af4);    /* IDs stay */
        assert_int_equal(pci_cfg_read(&c, 1), 0x0000ffff);    /* Command only */
        assert_int_equal(pci_cfg_read(&c, 15), 0x000000ff);   /* Interrupt Line only */
        assert_int_equal(pci_cfg_read(&c, 2000), 0xffffffff); /* past the space */
        pci_cfg_write(&c, 2000, 0, ff, 4);                    /* ignored, no overflow */
        pci_cfg_write(&c, 1, 3, ff, 2);                       /* crosses the dword: ignored */
        pci_cfg_write(&c, 1, 0, ff, 3);                       /* odd width: ignored */
        pci_cfg_write(&c, 1, 2, (uint8_t[]){0x12, 0x34}, 2);  /* Status is read-only */
        assert_int_equal(pci_cfg_read(&c, 1), 0x0000ffff);
}

static void test_capability_list(void **state)
{
        struct pci_cfg c;
        uint8_t body[18] = {16, 1};
        int off[6];

        (void)state;
        pci_cfg_init(&c, &test_id);
        for (int i = 0; i < 5; i++)
                off[i] = pci_cfg_add_cap(&c, PCI_CAP_ID_VENDOR, body, i >= 3 ? 18 : 14);
        off[5] = pci_cfg_add_cap(&c, PCI_CAP_ID_MSIX, body, 10);
        assert_int_equal(off[0], 0x40);
        assert_int_equal(off[1], 0x50);
        assert_int_equal(off[4], 0x84);
        assert_int_equal(off[5], 0x98);
        assert_true(pci_cfg_read(&c, 1) & 0x00100000); /* Status.CapList */
        /* Walk it as a guest would: Capabilities Pointer, then each Next. */
        unsigned int at = pci_cfg_read(&c, 0x34 / 4) & 0xff, n = 0;
        while (at) {
                assert_int_equal(at, off[n]);
                at = (pci_cfg_read(&c, at / 4) >> (at % 4 * 8 + 8)) & 0xff;
                n++;
        }
        assert_int_equal(n, 6);
        /* Full: nothing past 0xc0; the list is unchanged. */
        uint8_t big[40] = {0};
        assert_int_equal(pci_cfg_add_cap(&c, PCI_CAP_ID_VENDOR, big, sizeof(big)), -ENOSPC);
        /* MSI-X Message Control: only Enable and Function Mask are writable. */
        wr32(&c, 0x98, 0xffffffff);
        assert_int_equal(pci_cfg_read(&c, 0x98 / 4), 0xc1100011); /* body {16, 1}: 0x0110 */
}

static void test_bar_fixed_and_sized(void **state)
{
        struct pci_cfg c;

        (void)state;
        pci_cfg_init(&c, &test_id);
        pci_cfg_set_bar64(&c, 0, BAR, 0x80000);
        assert_int_equal(pci_cfg_read(&c, 4), 0x00000004);
        assert_int_equal(pci_cfg_read(&c, 5), 0x40);
        wr32(&c, 0x10, 0xffffffff);
        assert_int_equal(pci_cfg_read(&c, 4), 0xfff80000); /* size, once */
        assert_int_equal(pci_cfg_read(&c, 4), 0x00000004);
        wr32(&c, 0x14, 0xffffffff);
        assert_int_equal(pci_cfg_read(&c, 5), 0xffffffff);
        wr32(&c, 0x10, 0x12345000); /* a move: BARs are brasa's */
        wr32(&c, 0x14, 0xdead);
        assert_int_equal(pci_cfg_bar64(&c, 0), BAR);
        pci_cfg_write(&c, 4, 0, (uint8_t[]){0xff}, 1); /* a 1-byte all-ones is no sizing */
        assert_int_equal(pci_cfg_read(&c, 4), 0x00000004);
        wr32(&c, 0x18, 0xffffffff); /* an empty BAR sizes to 0 */
        assert_int_equal(pci_cfg_read(&c, 6), 0);
}

/* ---- MSI-X -------------------------------------------------------------------------------- */

struct rec {
        int routes, injects;
        unsigned int last_v;
        bool on[MSIX_MAX_VECTORS];
        uint32_t data[MSIX_MAX_VECTORS];
};

static void rec_route(void *ctx, unsigned int v, const struct msix_entry *e, bool on)
{
        struct rec *r = ctx;

        r->routes++;
        r->on[v] = on;
        r->data[v] = e->data;
}

static void rec_inject(void *ctx, unsigned int v)
{
        struct rec *r = ctx;

        r->injects++;
        r->last_v = v;
}

static const struct msix_ops rec_ops = {.route = rec_route, .inject = rec_inject};

static void tw32(struct msix *m, uint64_t off, uint32_t v)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        msix_table_write(m, off, b, 4);
}

static uint32_t tr32(struct msix *m, uint64_t off)
{
        uint8_t b[4];

        msix_table_read(m, off, b, 4);
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void ctl(struct msix *m, uint16_t v)
{
        uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};

        msix_write_ctl(m, 2, b, 2);
}

static void test_msix_masking_and_pending(void **state)
{
        struct rec r = {0};
        struct msix m;
        uint8_t pba[8];

        (void)state;
        msix_init(&m, 3, &rec_ops, &r);
        assert_int_equal(tr32(&m, 12), 1); /* vectors start masked */
        assert_false(msix_fire(&m, 0));    /* MSI-X off: dropped, not pending */
        assert_int_equal(m.pba, 0);
        tw32(&m, 0, 0xfee00000);
        tw32(&m, 8, 0x41);
        ctl(&m, MSIX_CTL_ENABLE | MSIX_CTL_MASKALL);
        assert_false(msix_fire(&m, 0)); /* masked: pending */
        msix_pba_read(&m, 0, pba, 8);
        assert_int_equal(pba[0], 1);
        r.routes = 0;
        tw32(&m, 12, 0); /* unmask the vector: still function-masked */
        assert_int_equal(r.injects, 0);
        ctl(&m, MSIX_CTL_ENABLE); /* the function unmasks: the pending one goes out */
        assert_int_equal(r.injects, 1);
        assert_int_equal(m.pba, 0);
        assert_true(r.on[0] && !r.on[1] && !r.on[2]); /* only the unmasked vector routes */
        assert_int_equal(r.data[0], 0x41);
        assert_true(msix_fire(&m, 0));
        assert_int_equal(r.injects, 2);
        assert_false(msix_fire(&m, 3)); /* no such vector */
        assert_false(msix_fire(&m, 1000));
        /* Masking the vector takes its route away; a new message re-routes it. */
        tw32(&m, 12, 1);
        assert_false(r.on[0]);
        tw32(&m, 8, 0x42);
        tw32(&m, 12, 0);
        assert_true(r.on[0]);
        assert_int_equal(r.data[0], 0x42);
        ctl(&m, 0); /* MSI-X off: every route goes */
        assert_false(r.on[0]);
}

static void test_msix_hostile_accesses(void **state)
{
        struct rec r = {0};
        struct msix m;
        uint8_t b[8];

        (void)state;
        msix_init(&m, 2, &rec_ops, &r);
        assert_int_equal(tr32(&m, 2 * 16), 0xffffffff); /* past the table */
        tw32(&m, 2 * 16, 0);                            /* ignored */
        tw32(&m, 0x3fff0, 0);
        msix_table_write(&m, 2, (uint8_t[]){1, 2}, 2); /* 2-byte: ignored */
        msix_table_write(&m, 4, (uint8_t[8]){0}, 8);   /* 8-byte, misaligned: ignored */
        msix_table_read(&m, 6, b, 4);                  /* misaligned read: all ones */
        assert_int_equal(b[0], 0xff);
        msix_table_write(&m, 8, (uint8_t[8]){0x55, 0, 0, 0, 0, 0, 0, 0}, 8); /* data + ctl */
        assert_int_equal(tr32(&m, 8), 0x55);
        assert_int_equal(tr32(&m, 12), 0); /* unmasked by the 8-byte write */
        msix_pba_read(&m, 8, b, 4);        /* past the PBA */
        assert_int_equal(b[0], 0xff);
        msix_write_ctl(&m, 3, (uint8_t[]){0xc0}, 1); /* byte write: ignored */
        assert_false(m.enabled);
        for (int i = 0; i < 1000; i++) /* a storm leaves a consistent state */
                ctl(&m, (uint16_t)(MSIX_CTL_ENABLE | (i & 1 ? MSIX_CTL_MASKALL : 0)));
        assert_true(m.enabled && m.masked);
        msix_init(&m, 5000, &rec_ops, &r); /* capped */
        assert_int_equal(m.nr, MSIX_MAX_VECTORS);
}

/* ---- the bus ------------------------------------------------------------------------------ */

static uint32_t fake_regs[PCI_CFG_REGS];

static uint32_t fake_read(void *opaque, unsigned int reg)
{
        (void)opaque;
        return reg < PCI_CFG_REGS ? fake_regs[reg] : 0xffffffff;
}

static void fake_write(void *opaque, unsigned int reg, unsigned int off, const uint8_t *data,
                       unsigned int len)
{
        (void)opaque;
        assert_true(reg < PCI_CFG_REGS && off + len <= 4);
        memcpy((uint8_t *)&fake_regs[reg] + off, data, len);
}

static const struct pci_fn_ops fake_ops = {.read = fake_read, .write = fake_write};

static uint32_t ecam32(struct pci_bus *b, uint64_t off)
{
        uint8_t d[4];

        pci_bus_ecam_read(b, off, d, 4);
        return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void test_bus_decoding(void **state)
{
        struct pci_bus b;
        uint8_t d[8];

        (void)state;
        assert_int_equal(pci_bus_init(&b), 0);
        fake_regs[0] = 0x12345678;
        fake_regs[0x3ff] = 0xabcd;
        assert_int_equal(pci_bus_add(&b, &fake_ops, NULL), 1);
        assert_int_equal(ecam32(&b, 0), 0x0d578086);              /* host bridge */
        assert_int_equal(ecam32(&b, 1 << 15), 0x12345678);        /* device 1 */
        assert_int_equal(ecam32(&b, (1 << 15) | 0xffc), 0xabcd);  /* extended space */
        assert_int_equal(ecam32(&b, (1 << 15) | (1 << 12)), ~0u); /* function 1 */
        assert_int_equal(ecam32(&b, 1 << 20), ~0u);               /* bus 1 */
        assert_int_equal(ecam32(&b, 2 << 15), ~0u);               /* empty slot */
        pci_bus_ecam_read(&b, (1 << 15) | 2, d, 4);               /* crosses the dword */
        assert_int_equal(d[0], 0xff);
        pci_bus_ecam_read(&b, 1 << 15, d, 8);
        assert_int_equal(d[7], 0xff);
        pci_bus_ecam_read(&b, (1 << 15) | 2, d, 2);
        assert_int_equal(d[0] | d[1] << 8, 0x1234);
        pci_bus_ecam_write(&b, (1 << 15) | 0x40, (uint8_t[]){1, 2, 3, 4}, 4);
        assert_int_equal(fake_regs[0x10], 0x04030201);
        pci_bus_ecam_write(&b, (1 << 15) | 0x43, (uint8_t[]){9, 9}, 2); /* ignored */
        pci_bus_ecam_write(&b, 1ULL << 40, (uint8_t[]){9}, 1);          /* ignored */
        assert_int_equal(fake_regs[0x10], 0x04030201);
        for (int i = 2; i < PCI_BUS_SLOTS; i++)
                assert_int_equal(pci_bus_add(&b, &fake_ops, NULL), i);
        assert_int_equal(pci_bus_add(&b, &fake_ops, NULL), -ENOSPC);
        pci_bus_fini(&b);
}

static void io_out32(struct pci_bus *b, uint64_t port_off, uint32_t v)
{
        uint8_t d[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        pci_bus_io_write(b, port_off, d, 4);
}

static uint32_t io_in32(struct pci_bus *b, uint64_t port_off)
{
        uint8_t d[4];

        pci_bus_io_read(b, port_off, d, 4);
        return (uint32_t)d[0] | (uint32_t)d[1] << 8 | (uint32_t)d[2] << 16 | (uint32_t)d[3] << 24;
}

static void test_bus_port_io(void **state)
{
        struct pci_bus b;
        uint8_t d[2];

        (void)state;
        assert_int_equal(pci_bus_init(&b), 0);
        fake_regs[0] = 0x12345678;
        assert_int_equal(pci_bus_add(&b, &fake_ops, NULL), 1);
        assert_int_equal(io_in32(&b, 4), ~0u); /* not enabled */
        io_out32(&b, 0, 0x80000000 | 1 << 11);
        assert_int_equal(io_in32(&b, 0), 0x80000800);
        assert_int_equal(io_in32(&b, 4), 0x12345678);
        pci_bus_io_read(&b, 6, d, 2);
        assert_int_equal(d[0] | d[1] << 8, 0x1234);
        pci_bus_io_write(&b, 2, (uint8_t[]){1}, 1); /* bus 1 through a byte write */
        assert_int_equal(io_in32(&b, 4), ~0u);
        io_out32(&b, 0, 0x80000000);
        assert_int_equal(io_in32(&b, 4), 0x0d578086);
        pci_bus_io_read(&b, 7, d, 2); /* crosses: all ones */
        assert_int_equal(d[0], 0xff);
        pci_bus_fini(&b);
}

/* ---- the virtio-pci transport -------------------------------------------------------------- */

#define MEM_SIZE (1ULL << 20)

struct vfx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_dev dev;
        struct virtio_pci p;
        struct rec r;
        int activations;
};

static struct vfx *vfx_of(struct virtio_dev *d)
{
        return (struct vfx *)(void *)((uint8_t *)d - offsetof(struct vfx, dev));
}

static void v_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        (void)d;
        for (uint32_t i = 0; i < len; i++)
                data[i] = (uint8_t)(off + i);
}

static void v_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
        (void)d, (void)off, (void)data, (void)len;
}

static int v_activate(struct virtio_dev *d)
{
        vfx_of(d)->activations++;
        return 0;
}

static void v_reset(struct virtio_dev *d)
{
        (void)d;
}

static void v_notify(struct virtio_dev *d, unsigned int q)
{
        (void)d, (void)q;
}

static const struct virtio_dev_ops vops = {
    .read_config = v_read_config,
    .write_config = v_write_config,
    .activate = v_activate,
    .reset = v_reset,
    .queue_notify = v_notify,
};

static int vsetup(void **state)
{
        struct vfx *f = test_calloc(1, sizeof(*f));

        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        assert_int_equal(
            virtio_dev_init(&f->dev, &vops, "dummy", VIRTIO_ID_BLOCK, 1ULL << 5, 2, 16, &f->mem),
            0);
        assert_int_equal(virtio_pci_init(&f->p, &f->dev, BAR, &rec_ops, &f->r), 0);
        *state = f;
        return 0;
}

static int vteardown(void **state)
{
        struct vfx *f = *state;

        virtio_pci_fini(&f->p);
        virtio_dev_fini(&f->dev);
        test_free(f->ram);
        test_free(f);
        return 0;
}

static uint64_t bar_rd(struct vfx *f, uint64_t off, uint32_t len)
{
        uint8_t b[8] = {0};
        uint64_t v = 0;

        virtio_pci_bar_read(&f->p, off, b, len);
        for (uint32_t i = len; i-- > 0;)
                v = v << 8 | b[i];
        return v;
}

static void bar_wr(struct vfx *f, uint64_t off, uint64_t v, uint32_t len)
{
        uint8_t b[8];

        for (uint32_t i = 0; i < len; i++)
                b[i] = (uint8_t)(v >> (8 * i));
        virtio_pci_bar_write(&f->p, off, b, len);
}

static uint32_t cfg_rd(struct vfx *f, unsigned int off)
{
        return virtio_pci_fn_ops.read(&f->p, off / 4);
}

static void cfg_wr(struct vfx *f, unsigned int off, uint32_t v, unsigned int len)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        virtio_pci_fn_ops.write(&f->p, off / 4, off % 4, b, len);
}

static void test_virtio_pci_capabilities(void **state)
{
        struct vfx *f = *state;
        static const uint32_t where[6] = {0, 0, 0x6000, 0x2000, 0x4000, 0};
        unsigned int at = cfg_rd(f, 0x34) & 0xff, types = 0;

        assert_int_equal(cfg_rd(f, 0), 0x10421af4);
        assert_int_equal(cfg_rd(f, 8), 0x01800001);
        assert_int_equal(cfg_rd(f, 0x10), 0x4);
        assert_int_equal(cfg_rd(f, 0x14), 0x40);
        while (at) {
                uint32_t h = cfg_rd(f, at);
                if ((h & 0xff) == PCI_CAP_ID_VENDOR) {
                        unsigned int type = h >> 24;
                        types |= 1u << type;
                        if (type >= 2 && type <= 4)
                                assert_int_equal(cfg_rd(f, at + 8), where[type]);
                        if (type == 2)
                                assert_int_equal(cfg_rd(f, at + 16), 4);
                } else {
                        assert_int_equal(h & 0xff, PCI_CAP_ID_MSIX);
                        assert_int_equal((h >> 16) & 0x7ff, 2); /* 3 vectors */
                        assert_int_equal(cfg_rd(f, at + 4), 0x8000);
                        assert_int_equal(cfg_rd(f, at + 8), 0x48000);
                }
                at = (h >> 8) & 0xff;
        }
        assert_int_equal(types, 0x3e);
        assert_int_equal(virtio_pci_notify_addr(&f->p, 1), BAR + 0x6004);
}

static void drive_to_ok(struct vfx *f)
{
        bar_wr(f, 0x14, 1, 1);
        bar_wr(f, 0x14, 3, 1);
        bar_wr(f, 0x08, 1, 4);
        bar_wr(f, 0x0c, 1, 4); /* VERSION_1 */
        bar_wr(f, 0x14, 0xb, 1);
        for (unsigned int q = 0; q < 2; q++) {
                bar_wr(f, 0x16, q, 2);
                bar_wr(f, 0x18, 8, 2);
                bar_wr(f, 0x20, 0x1000 + q * 0x1000, 4);
                bar_wr(f, 0x28, 0x1400 + q * 0x1000, 4);
                bar_wr(f, 0x30, 0x1800 + q * 0x1000, 4);
                bar_wr(f, 0x1a, q + 1, 2);
                bar_wr(f, 0x1c, 1, 2);
        }
        bar_wr(f, 0x10, 0, 2);
        bar_wr(f, 0x14, 0xf, 1);
}

static void test_virtio_pci_common_config(void **state)
{
        struct vfx *f = *state;

        assert_int_equal(bar_rd(f, 0x12, 2), 2);  /* num_queues */
        assert_int_equal(bar_rd(f, 0x18, 2), 16); /* queue 0 shows its maximum */
        bar_wr(f, 0x00, 1, 4);
        assert_int_equal(bar_rd(f, 0x04, 4), 1); /* VERSION_1 in page 1 */
        bar_wr(f, 0x00, 7, 4);
        assert_int_equal(bar_rd(f, 0x04, 4), 0);
        bar_wr(f, 0x18, 8, 2); /* before FEATURES_OK: ignored */
        assert_int_equal(bar_rd(f, 0x18, 2), 16);
        drive_to_ok(f);
        assert_int_equal(bar_rd(f, 0x14, 1), 0xf);
        assert_int_equal(f->activations, 1);
        bar_wr(f, 0x16, 1, 2);
        assert_int_equal(bar_rd(f, 0x1a, 2), 2);
        assert_int_equal(bar_rd(f, 0x1e, 2), 1);
        assert_int_equal(bar_rd(f, 0x28, 4), 0x2400);
        bar_wr(f, 0x16, 99, 2); /* no such queue */
        assert_int_equal(bar_rd(f, 0x18, 2), 0);
        assert_int_equal(bar_rd(f, 0x1a, 2), 0xffff);
        bar_wr(f, 0x10, 3, 2); /* vector 3 of 3: none */
        assert_int_equal(bar_rd(f, 0x10, 2), 0xffff);
        bar_wr(f, 0x20, 0, 8); /* odd widths and holes are harmless */
        bar_rd(f, 0x7000, 4);
        bar_wr(f, 0x3000, 1, 4);
        bar_wr(f, 0x48000, ~0ULL, 8); /* the PBA is read-only */
        assert_int_equal(bar_rd(f, 0x48000, 8), 0);
        assert_int_equal(bar_rd(f, 0x4000 + 3, 1), 3); /* device config */
        /* Reset: vectors and the queue select go back. */
        bar_wr(f, 0x14, 0, 1);
        assert_int_equal(bar_rd(f, 0x14, 1), 0);
        assert_int_equal(bar_rd(f, 0x16, 2), 0);
        assert_int_equal(bar_rd(f, 0x1a, 2), 0xffff);
}

static void test_virtio_pci_interrupts(void **state)
{
        struct vfx *f = *state;

        drive_to_ok(f);
        virtio_dev_signal_queue(&f->dev, 1);
        assert_int_equal(f->r.injects, 0); /* MSI-X not enabled yet: dropped */
        for (unsigned int v = 0; v < 3; v++)
                bar_wr(f, 0x8000 + 16 * v + 12, 0, 4);
        cfg_wr(f, 0x98 + 2, 0x8000, 2); /* Enable, through config space */
        virtio_dev_signal_queue(&f->dev, 1);
        assert_int_equal(f->r.injects, 1);
        assert_int_equal(f->r.last_v, 2);
        virtio_dev_config_changed(&f->dev);
        assert_int_equal(f->r.last_v, 0);
        bar_wr(f, 0x8000 + 16 * 2 + 12, 1, 4); /* mask queue 1's vector: it goes pending */
        virtio_dev_signal_queue(&f->dev, 1);
        assert_int_equal(f->r.injects, 2);
        assert_int_equal(bar_rd(f, 0x48000, 8), 4);
        bar_wr(f, 0x8000 + 16 * 2 + 12, 0, 4);
        assert_int_equal(f->r.injects, 3);
        assert_int_equal(bar_rd(f, 0x48000, 8), 0);
        virtio_dev_signal_queue(&f->dev, 7); /* no such queue */
        assert_int_equal(f->r.injects, 3);
}

static void test_virtio_pci_cfg_window(void **state)
{
        struct vfx *f = *state;
        unsigned int body = 0x86; /* the pci_cfg capability at 0x84, its body after ID/Next */

        assert_int_equal(cfg_rd(f, 0x84) & 0xff0000ff, 0x05000009); /* vendor, PCI_CFG */
        cfg_wr(f, body + 6, 0x12, 4);                               /* offset: num_queues */
        cfg_wr(f, body + 10, 2, 4);                                 /* length */
        assert_int_equal(cfg_rd(f, 0x94) & 0xffff, 2);
        cfg_wr(f, body + 6, 0x16, 4); /* queue_select, written through the window */
        cfg_wr(f, 0x94, 1, 2);
        assert_int_equal(bar_rd(f, 0x16, 2), 1);
        cfg_wr(f, body + 10, 0x1000, 4); /* a bad length: nothing moves */
        cfg_wr(f, 0x94, 0, 4);
        assert_int_equal(bar_rd(f, 0x16, 2), 1);
        assert_int_equal(cfg_rd(f, 0x94), 0);
}

/* ---- the DSDT's root bridge ---------------------------------------------------------------- */

static bool has(const uint8_t *t, size_t len, const uint8_t *pat, size_t n)
{
        for (size_t i = 0; i + n <= len; i++)
                if (memcmp(t + i, pat, n) == 0)
                        return true;
        return false;
}

static void test_dsdt_root_bridge(void **state)
{
        static uint8_t on[ACPI_TABLE_MAX], off[ACPI_TABLE_MAX];
        struct acpi_machine m = {.nr_vcpus = 1, .vmgenid_gpa = 0xdfff0, .vmgenid_gsi = 5};
        size_t lon, loff;
        /* Memory32Fixed: read-write, the ECAM window of bus 0. */
        static const uint8_t ecam[] = {0x86, 9, 0, 1, 0, 0, 0xc0, 0xee, 0, 0, 0x10, 0};
        /* IO: 0xcf8, 8 ports. */
        static const uint8_t io[] = {0x47, 1, 0xf8, 0x0c, 0xf8, 0x0c, 1, 8};
        /* Word bus numbers 0..0, then the two I/O ranges around it. */
        static const uint8_t bus[] = {0x88, 13, 0, 2, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0};
        static const uint8_t io_lo[] = {0x88, 13, 0, 1, 0x0c, 3, 0, 0, 0, 0, 0xf7, 0x0c};
        static const uint8_t io_hi[] = {0x88, 13, 0, 1, 0x0c, 3, 0, 0, 0, 0x0d, 0xff, 0xff};
        /* QWord memory, not cacheable, read-write: min 256 GiB, max 512 GiB - 1. */
        static const uint8_t mem64[] = {0x8a, 43, 0,    0,    0x0c, 1,    0,    0, 0,    0,
                                        0,    0,  0,    0,    0,    0,    0,    0, 0x40, 0,
                                        0,    0,  0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0,    0};
        static const uint8_t mem32[] = {0, 0x10, 0, 0xc0, 0, 0, 0, 0, 0xff, 0xff, 0xbf, 0xee};
        static const uint8_t hid[] = {'_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0a, 0x08};
        static const uint8_t uuid[] = {0xd0, 0x37, 0xc9, 0xe5, 0x53, 0x35, 0x7a, 0x4d};

        (void)state;
        assert_int_equal(acpi_build_dsdt(off, &m, &loff), 0);
        m.pci = true;
        assert_int_equal(acpi_build_dsdt(on, &m, &lon), 0);
        assert_true(lon > loff);
        assert_false(has(off, loff, (const uint8_t *)"PC00", 4));
        assert_true(has(on, lon, (const uint8_t *)"PC00", 4));
        assert_true(has(on, lon, hid, sizeof(hid))); /* PNP0A08 */
        assert_true(has(on, lon, ecam, sizeof(ecam)));
        assert_true(has(on, lon, io, sizeof(io)));
        assert_true(has(on, lon, bus, sizeof(bus)));
        assert_true(has(on, lon, io_lo, sizeof(io_lo)));
        assert_true(has(on, lon, io_hi, sizeof(io_hi)));
        assert_true(has(on, lon, mem64, sizeof(mem64)));
        assert_true(has(on, lon, mem32, sizeof(mem32)));
        assert_true(has(on, lon, uuid, sizeof(uuid)));
        assert_int_equal(acpi_checksum(on, lon), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_header_read_only),
            cmocka_unit_test(test_capability_list),
            cmocka_unit_test(test_bar_fixed_and_sized),
            cmocka_unit_test(test_msix_masking_and_pending),
            cmocka_unit_test(test_msix_hostile_accesses),
            cmocka_unit_test(test_bus_decoding),
            cmocka_unit_test(test_bus_port_io),
            cmocka_unit_test_setup_teardown(test_virtio_pci_capabilities, vsetup, vteardown),
            cmocka_unit_test_setup_teardown(test_virtio_pci_common_config, vsetup, vteardown),
            cmocka_unit_test_setup_teardown(test_virtio_pci_interrupts, vsetup, vteardown),
            cmocka_unit_test_setup_teardown(test_virtio_pci_cfg_window, vsetup, vteardown),
            cmocka_unit_test(test_dsdt_root_bridge),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
