/*
 * The test guest's PCI driver (brasa.pci): enumerates ECAM, checks the host bridge and each
 * virtio-pci function, walks its capabilities, enables MSI-X, and drives virtio-blk and
 * virtio-net through the modern transport; brasa.pci.hostile first plays a hostile driver.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>

#include "guest.h"

#define ECAM        0xeec00000ULL
#define BAR_WINDOW  (256ULL << 30) /* where brasa places 64-bit BARs: mapped on demand */
#define LAPIC       0xfee00000ULL
#define QSZ         8
#define SPIN        4000000u
#define MAX_FN      8
#define NET_HDR     12
#define ETYPE       0x88b5
#define PCI_CAP_VND 0x09
#define PCI_CAP_MSX 0x11

/* Common configuration offsets (virtio 1.x §4.1.4.3). */
enum {
        C_DFSEL = 0x00,
        C_DF = 0x04,
        C_GFSEL = 0x08,
        C_GF = 0x0c,
        C_MSIX = 0x10,
        C_NUMQ = 0x12,
        C_STATUS = 0x14,
        C_QSEL = 0x16,
        C_QSIZE = 0x18,
        C_QVEC = 0x1a,
        C_QEN = 0x1c,
        C_QNOFF = 0x1e,
        C_QDESC = 0x20,
        C_QAVAIL = 0x28,
        C_QUSED = 0x30,
};

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

/* One virtio function as found on the bus. */
struct pfn {
        u32 dev;
        u16 device_id;
        u64 bar, bar_size;
        u32 common, notify, isr, devcfg, pcicfg_cap, msix_cap, mult;
        u32 caps; /* bit n: a vendor capability of cfg_type n was found */
        u32 table, nvec;
        u8 vec; /* its first LAPIC vector */
        u8 *pg; /* ring memory: queue q's rings at q * 0x400 */
        u16 avail_idx[2], last_used[2];
};

static struct pfn fns[MAX_FN];
static unsigned int nfns;
static u8 rings[MAX_FN][4096] __attribute__((aligned(4096)));
static u8 bufs[4][4096] __attribute__((aligned(4096)));
static u64 pd_high[512] __attribute__((aligned(4096)));
extern u64 pdpt[512];

/* ---- access -------------------------------------------------------------------------------- */

static volatile void *cfg_at(u32 bus, u32 dev, u32 fn, u32 off)
{
        return (volatile void *)(ECAM + ((u64)bus << 20) + ((u64)dev << 15) + ((u64)fn << 12) +
                                 off);
}

static u32 cfg32(u32 dev, u32 off)
{
        return *(volatile u32 *)cfg_at(0, dev, 0, off);
}

static u16 cfg16(u32 dev, u32 off)
{
        return *(volatile u16 *)cfg_at(0, dev, 0, off);
}

static u8 cfg8(u32 dev, u32 off)
{
        return *(volatile u8 *)cfg_at(0, dev, 0, off);
}

static void cfg_w32(u32 dev, u32 off, u32 v)
{
        *(volatile u32 *)cfg_at(0, dev, 0, off) = v;
}

static void cfg_w16(u32 dev, u32 off, u16 v)
{
        *(volatile u16 *)cfg_at(0, dev, 0, off) = v;
}

static volatile u8 *bar(const struct pfn *f, u32 off)
{
        return (volatile u8 *)(f->bar + off);
}

static u8 c8(const struct pfn *f, u32 off)
{
        return *bar(f, f->common + off);
}
static u16 c16(const struct pfn *f, u32 off)
{
        return *(volatile u16 *)bar(f, f->common + off);
}
static u32 c32(const struct pfn *f, u32 off)
{
        return *(volatile u32 *)bar(f, f->common + off);
}
static void w8(const struct pfn *f, u32 off, u8 v)
{
        *bar(f, f->common + off) = v;
}
static void w16(const struct pfn *f, u32 off, u16 v)
{
        *(volatile u16 *)bar(f, f->common + off) = v;
}
static void w32(const struct pfn *f, u32 off, u32 v)
{
        *(volatile u32 *)bar(f, f->common + off) = v;
}

static void w64(const struct pfn *f, u32 off, u64 v)
{
        w32(f, off, (u32)v);
        w32(f, off + 4, (u32)(v >> 32));
}

static void mb(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

/* Maps 256 GiB .. 257 GiB (uncached, 2 MiB pages): where the BARs live. */
static void map_bar_window(void)
{
        for (u64 i = 0; i < 512; i++)
                pd_high[i] = (BAR_WINDOW + (i << 21)) | 0x9b;
        pdpt[BAR_WINDOW >> 30] = (u64)pd_high | 3;
        u64 cr3;
        __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

/*
 * Maps only the 2 MiB page holding one BAR (VIRTIO_PCI_BAR_SIZE, aligned: never across two),
 * for the idle driver: filling the whole window is about 2,500 guest instructions, some 2 ms
 * where kvm_pvm emulates kernel code, while a test waits for the driver.
 */
static void map_bar(u64 bar)
{
        u64 i = (bar - BAR_WINDOW) >> 21;

        if (bar < BAR_WINDOW || i >= 512)
                return;
        pd_high[i] = (BAR_WINDOW + (i << 21)) | 0x9b;
        pdpt[BAR_WINDOW >> 30] = (u64)pd_high | 3;
        __asm__ volatile("invlpg (%0)" : : "r"(bar) : "memory");
}

static u32 inl(u16 port)
{
        u32 v;
        __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
        return v;
}

static void outl(u16 port, u32 v)
{
        __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

/* Configuration mechanism #1: the same registers through 0xCF8/0xCFC. */
static u32 cf8_read(u32 bus, u32 dev, u32 off, u32 enable)
{
        outl(0xcf8, enable | bus << 16 | dev << 11 | off);
        return inl(0xcfc);
}

static int lapic_irr_now(u8 v)
{
        return (*(volatile u32 *)(LAPIC + 0x200 + (v / 32) * 0x10) >> (v % 32)) & 1;
}

/*
 * Whether vector v is pending, waiting a little for it: a device writes its used ring before
 * it signals the vector, so a guest that saw the used entry can be a moment early.
 */
static int lapic_irr(u8 v)
{
        for (u32 i = 0; i < 1000; i++) {
                if (lapic_irr_now(v))
                        return 1;
                io_pause();
        }
        return 0;
}

/* ---- enumeration ----------------------------------------------------------------------------- */

/* Walks the capability list: each virtio structure, MSI-X. Returns the number of capabilities. */
static u32 walk_caps(struct pfn *f)
{
        u32 n = 0, off = cfg16(f->dev, 0x06) & 0x10 ? cfg8(f->dev, 0x34) : 0;

        while (off >= 0x40 && off < 0x100 && n < 48) {
                u8 id = cfg8(f->dev, off), type = cfg8(f->dev, off + 3);
                u32 where = cfg32(f->dev, off + 8);
                n++;
                if (id == PCI_CAP_MSX) {
                        f->msix_cap = off;
                        f->nvec = (cfg16(f->dev, off + 2) & 0x7ff) + 1;
                        f->table = cfg32(f->dev, off + 4) & ~7u;
                } else if (id == PCI_CAP_VND && type >= 1 && type <= 5) {
                        f->caps |= 1u << type;
                        if (type == 1)
                                f->common = where;
                        else if (type == 2) {
                                f->notify = where;
                                f->mult = cfg32(f->dev, off + 16);
                        } else if (type == 3)
                                f->isr = where;
                        else if (type == 4)
                                f->devcfg = where;
                        else
                                f->pcicfg_cap = off;
                }
                off = cfg8(f->dev, off + 1);
        }
        return n;
}

/* BAR 0 (64-bit): its address, then its size by the all-ones write every OS does. */
static void size_bar(struct pfn *f)
{
        u32 lo = cfg32(f->dev, 0x10), hi = cfg32(f->dev, 0x14);

        f->bar = ((u64)hi << 32) | (lo & ~0xfu);
        cfg_w32(f->dev, 0x10, 0xffffffffu);
        u32 slo = cfg32(f->dev, 0x10);
        cfg_w32(f->dev, 0x14, 0xffffffffu);
        u32 shi = cfg32(f->dev, 0x14);
        cfg_w32(f->dev, 0x10, lo);
        cfg_w32(f->dev, 0x14, hi);
        f->bar_size = ~(((u64)shi << 32) | (slo & ~0xfu)) + 1;
        say("pci bar dev=%u addr=0x%llx size=0x%llx type=0x%x", f->dev, (unsigned long long)f->bar,
            (unsigned long long)f->bar_size, lo & 0xf);
}

static void enumerate(void)
{
        u32 found = 0;

        for (u32 dev = 0; dev < 32; dev++) {
                for (u32 fn = 0; fn < 8; fn++) {
                        u32 id = *(volatile u32 *)cfg_at(0, dev, fn, 0);
                        if (id == 0xffffffffu)
                                continue;
                        u32 cls = *(volatile u32 *)cfg_at(0, dev, fn, 8);
                        say("pci fn dev=%u fn=%u vendor=0x%04x device=0x%04x class=0x%06x rev=%u "
                            "header=0x%02x",
                            dev, fn, id & 0xffff, id >> 16, cls >> 8, cls & 0xff,
                            (*(volatile u32 *)cfg_at(0, dev, fn, 12) >> 16) & 0xff);
                        found++;
                        if ((id & 0xffff) != 0x1af4 || nfns >= MAX_FN || fn)
                                continue;
                        struct pfn *f = &fns[nfns];
                        f->dev = dev;
                        f->device_id = (u16)(id >> 16);
                        f->pg = rings[nfns];
                        f->vec = (u8)(0x40 + 0x10 * nfns);
                        nfns++;
                }
        }
        say("pci bus1 id=0x%08x", *(volatile u32 *)cfg_at(1, 0, 0, 0));
        say("pci functions count=%u virtio=%u", found, nfns);
}

/* MSI-X: every vector to the boot CPU's LAPIC, fixed delivery, vector f->vec + n; then on. */
static void msix_on(struct pfn *f)
{
        for (u32 v = 0; v < f->nvec; v++) {
                volatile u32 *e = (volatile u32 *)bar(f, f->table + 16 * v);
                e[0] = (u32)LAPIC;
                e[1] = 0;
                e[2] = f->vec + v;
                e[3] = 0; /* unmasked */
        }
        cfg_w16(f->dev, f->msix_cap + 2, 0x8000); /* enable, function not masked */
}

static void report_fn(struct pfn *f)
{
        u32 n = walk_caps(f);
        size_bar(f);
        say("pci virtio dev=%u type=%u caps=%u cfg_types=0x%x common=0x%x notify=0x%x mult=%u "
            "isr=0x%x devcfg=0x%x msix_vectors=%u table=0x%x subsys=0x%08x",
            f->dev, f->device_id - 0x1040u, n, f->caps, f->common, f->notify, f->mult, f->isr,
            f->devcfg, f->nvec, f->table, cfg32(f->dev, 0x2c));
}

/* ---- the virtio 1.x init sequence over the common configuration ----------------------------- */

static volatile struct vdesc *qdesc(const struct pfn *f, u32 q)
{
        return (volatile struct vdesc *)(f->pg + q * 0x400);
}

static volatile u16 *qavail(const struct pfn *f, u32 q)
{
        return (volatile u16 *)(f->pg + q * 0x400 + 0x100);
}

static volatile u16 *qused(const struct pfn *f, u32 q)
{
        return (volatile u16 *)(f->pg + q * 0x400 + 0x200);
}

/* Programs queue q (size qsz, rings in f->pg) with MSI-X vector 1 + q. */
static void queue_setup(struct pfn *f, u32 q, u16 qsz)
{
        w16(f, C_QSEL, (u16)q);
        w16(f, C_QSIZE, qsz);
        w64(f, C_QDESC, (u64)qdesc(f, q));
        w64(f, C_QAVAIL, (u64)qavail(f, q));
        w64(f, C_QUSED, (u64)qused(f, q));
        w16(f, C_QVEC, (u16)(1 + q));
        w16(f, C_QEN, 1);
        f->avail_idx[q] = f->last_used[q] = 0;
}

/*
 * Reset, features (want_lo & offered, plus VERSION_1), nq queues of qsz (queue 0's descriptor
 * table at bad_desc when nonzero), DRIVER_OK. Returns the status the device shows then.
 */
static u8 vsetup_x(struct pfn *f, u32 nq, u32 want_lo, u16 qsz, u64 bad_desc)
{
        for (u32 i = 0; i < sizeof(rings[0]); i++)
                f->pg[i] = 0;
        w8(f, C_STATUS, 0);
        w8(f, C_STATUS, 1);
        w8(f, C_STATUS, 3);
        w32(f, C_DFSEL, 0);
        u32 lo = c32(f, C_DF);
        w32(f, C_DFSEL, 1);
        u32 hi = c32(f, C_DF);
        w32(f, C_GFSEL, 0);
        w32(f, C_GF, lo & want_lo);
        w32(f, C_GFSEL, 1);
        w32(f, C_GF, hi & 1);
        w8(f, C_STATUS, 0xb);
        if (!(c8(f, C_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
                return c8(f, C_STATUS);
        w16(f, C_MSIX, 0);
        for (u32 q = 0; q < nq; q++)
                queue_setup(f, q, qsz);
        if (bad_desc) {
                w16(f, C_QSEL, 0);
                w64(f, C_QDESC, bad_desc);
        }
        w8(f, C_STATUS, 0xf);
        return c8(f, C_STATUS);
}

static u8 vsetup(struct pfn *f, u32 nq, u32 want_lo)
{
        return vsetup_x(f, nq, want_lo, QSZ, 0);
}

static void notify(const struct pfn *f, u32 q)
{
        w16(f, C_QSEL, (u16)q);
        u16 off = c16(f, C_QNOFF);
        mb();
        *(volatile u16 *)bar(f, f->notify + off * f->mult) = (u16)q;
}

/* Chain head..n-1 (descriptors set by the caller) made available on queue q, then notified. */
static void submit(struct pfn *f, u32 q, u16 head)
{
        volatile u16 *a = qavail(f, q);
        a[2 + f->avail_idx[q] % QSZ] = head;
        mb();
        a[1] = ++f->avail_idx[q];
        mb();
        notify(f, q);
}

/* Waits for the next used entry of queue q: its length, or -1 on timeout. */
static long wait_used(struct pfn *f, u32 q, u32 spins)
{
        volatile u16 *u = qused(f, q);
        for (u32 i = 0; i < spins; i++) {
                if (u[1] != f->last_used[q]) {
                        mb();
                        u32 len = ((volatile u32 *)(u + 2))[2 * (f->last_used[q] % QSZ) + 1];
                        f->last_used[q]++;
                        return len;
                }
                io_pause();
        }
        return -1;
}

static void fill(u8 *p, u32 len, u32 s)
{
        for (u32 i = 0; i < len; i++) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                p[i] = (u8)s;
        }
}

/* ---- virtio-blk ------------------------------------------------------------------------------ */

/* One request (VIRTIO_BLK_T_IN 0 / OUT 1) of one sector through queue 0: its status or -1. */
static int blk_io(struct pfn *f, u32 type, u64 sector, u8 *data)
{
        volatile u32 *h = (volatile u32 *)bufs[2];
        volatile u8 *st = bufs[2] + 64;
        volatile struct vdesc *d = qdesc(f, 0);

        h[0] = type;
        h[1] = 0;
        *(volatile u64 *)(h + 2) = sector;
        *st = 0xff;
        d[0] = (struct vdesc){(u64)h, 16, 1, 1};
        d[1] = (struct vdesc){(u64)data, 512, (u16)(1 | (type == 0 ? 2 : 0)), 2};
        d[2] = (struct vdesc){(u64)st, 1, 2, 0};
        submit(f, 0, 0);
        return wait_used(f, 0, SPIN) < 0 ? -1 : *st;
}

static void blk_test(struct pfn *f)
{
        u8 st = vsetup(f, 1, 0);
        u32 cap_lo = *(volatile u32 *)bar(f, f->devcfg),
            cap_hi = *(volatile u32 *)bar(f, f->devcfg + 4);

        say("pci-blk setup dev=%u status=0x%x capacity=%llu", f->dev, st,
            (unsigned long long)cap_lo | (unsigned long long)cap_hi << 32);
        if (!(st & VIRTIO_CONFIG_S_DRIVER_OK) || (st & VIRTIO_CONFIG_S_NEEDS_RESET))
                return;
        fill(bufs[0], 512, 0x62726173u + f->dev);
        int w = blk_io(f, 1, 1, bufs[0]);
        int irq = lapic_irr((u8)(f->vec + 1));
        for (u32 i = 0; i < 512; i++)
                bufs[1][i] = 0;
        int r = blk_io(f, 0, 1, bufs[1]);
        u32 same = 1;
        for (u32 i = 0; i < 512; i++)
                same &= bufs[0][i] == bufs[1][i];
        say("pci-blk io dev=%u write=0x%x read=0x%x match=%u sum=0x%08x msix=%u", f->dev, (u32)w,
            (u32)r, same, fnv1a32w(bufs[1], 512), (u32)irq);
}

/* ---- virtio-net ------------------------------------------------------------------------------ */

/* TX one frame; with rx, then wait for the one the host injects after "pci-net ready". */
static void net_test(struct pfn *f, int rx_wanted)
{
        u8 st = vsetup(f, 2, 1u << 5 /* VIRTIO_NET_F_MAC */), mac[6];
        volatile struct vdesc *rx = qdesc(f, 0), *tx = qdesc(f, 1);

        for (u32 i = 0; i < 6; i++)
                mac[i] = *bar(f, f->devcfg + i);
        say("pci-net setup dev=%u status=0x%x mac=%02x%02x%02x%02x%02x%02x", f->dev, st, mac[0],
            mac[1], mac[2], mac[3], mac[4], mac[5]);
        if (!(st & VIRTIO_CONFIG_S_DRIVER_OK) || (st & VIRTIO_CONFIG_S_NEEDS_RESET))
                return;
        rx[0] = (struct vdesc){(u64)bufs[3], 2048, 2, 0};
        submit(f, 0, 0);
        u8 *fr = bufs[0] + NET_HDR;
        for (u32 i = 0; i < NET_HDR; i++)
                bufs[0][i] = 0;
        for (u32 i = 0; i < 6; i++) {
                fr[i] = 0xff;
                fr[6 + i] = mac[i];
        }
        fr[12] = ETYPE >> 8;
        fr[13] = ETYPE & 0xff;
        fill(fr + 14, 50, 0x9c1u);
        tx[0] = (struct vdesc){(u64)bufs[0], NET_HDR + 64, 0, 0};
        submit(f, 1, 0);
        long t = wait_used(f, 1, SPIN);
        say("pci-net tx dev=%u done=%u len=64 sum=0x%08x msix=%u", f->dev, (u32)(t >= 0),
            fnv1a32w(fr, 64), (u32)lapic_irr((u8)(f->vec + 2)));
        if (!rx_wanted)
                return;
        say("pci-net ready");
        long r = wait_used(f, 0, SPIN);
        if (r < NET_HDR) {
                say("pci-net rx dev=%u timeout", f->dev);
                return;
        }
        say("pci-net rx dev=%u len=%u sum=0x%08x msix=%u", f->dev, (u32)(r - NET_HDR),
            fnv1a32w(bufs[3] + NET_HDR, (u64)(r - NET_HDR)), (u32)lapic_irr((u8)(f->vec + 1)));
}

/* ---- a hostile driver ------------------------------------------------------------------------ */

/* Every bus, device and function of the segment, then every offset and width of ours. */
static void sweep_reads(void)
{
        u32 answers = 0, sum = 0;

        for (u32 bus = 0; bus < 256; bus++)
                for (u32 dev = 0; dev < 32; dev++)
                        for (u32 fn = 0; fn < 8; fn++)
                                answers += *(volatile u32 *)cfg_at(bus, dev, fn, 0) != 0xffffffffu;
        for (u32 i = 0; i <= nfns; i++) {
                u32 dev = i ? fns[i - 1].dev : 0;
                for (u32 off = 0; off < 4096; off++) {
                        sum += *(volatile u8 *)cfg_at(0, dev, 0, off);
                        sum += *(volatile u16 *)cfg_at(0, dev, 0, off & ~1u);
                        sum += *(volatile u32 *)cfg_at(0, dev, 0, off & ~3u);
                }
                /* Straddling accesses: a 4-byte read at offset 2 and an 8-byte one. */
                sum += *(volatile u32 *)cfg_at(0, dev, 0, 0x102);
                sum += (u32) * (volatile u64 *)cfg_at(0, dev, 0, 0x40);
        }
        say("pci-hostile reads answers=%u", answers);
        (void)sum;
}

/* All ones into every byte of every header, BAR writes, then what must not have moved. */
static void sweep_writes(void)
{
        u32 ids = 0, bars = 0;

        for (u32 i = 0; i <= nfns; i++) {
                u32 dev = i ? fns[i - 1].dev : 0, id = cfg32(dev, 0);
                u32 b0 = cfg32(dev, 0x10), b1 = cfg32(dev, 0x14);
                for (u32 off = 0; off < 0x100; off++)
                        *(volatile u8 *)cfg_at(0, dev, 0, off) = 0xff;
                cfg_w32(dev, 0x10, 0x12345000u); /* somewhere absurd */
                cfg_w32(dev, 0x14, 0xdeadu);
                cfg_w16(dev, 0x12, 0xffffu);
                ids += cfg32(dev, 0) == id;
                bars += cfg32(dev, 0x10) == b0 && cfg32(dev, 0x14) == b1;
                *(volatile u32 *)cfg_at(0, dev, 0, 0xffe) = 0xffffffffu; /* crosses the dword */
                *(volatile u32 *)cfg_at(0, dev, 0, 0x1000 - 4) = 0xffffffffu;
        }
        say("pci-hostile writes functions=%u ids=%u bars=%u", nfns + 1, ids, bars);
}

/* MSI-X: entries past the table, odd widths and offsets, PBA writes, mask storms. */
static void msix_abuse(struct pfn *f)
{
        volatile u32 *t = (volatile u32 *)bar(f, f->table);
        volatile u8 *pba = bar(f, 0x48000);

        t[4 * 100] = 0x1234;
        t[4 * (f->nvec)] = 0x1234;
        *(volatile u16 *)((volatile u8 *)t + 2) = 0xffff;
        *(volatile u64 *)((volatile u8 *)t + 4) = ~0ULL;
        *(volatile u8 *)((volatile u8 *)t + 12) = 0;
        *(volatile u64 *)pba = ~0ULL;
        for (u32 i = 0; i < 1000; i++) {
                t[3] = i & 1;
                cfg_w16(f->dev, f->msix_cap + 2, (u16)(0x8000 | (i & 1 ? 0x4000 : 0)));
        }
        u32 past = t[4 * f->nvec], pba0 = *(volatile u32 *)pba;
        msix_on(f); /* as a driver would after all that */
        say("pci-hostile msix dev=%u past=0x%08x pba=0x%08x data0=0x%x ctl0=%u", f->dev, past, pba0,
            t[2], t[3]);
}

/* Queue programming that must end in NEEDS_RESET, and selects that do not exist. */
static void queue_abuse(struct pfn *f)
{
        u8 odd = vsetup_x(f, 1, 0, 3, 0);
        u8 huge = vsetup_x(f, 1, 0, 0x8000, 0);
        u8 addr = vsetup_x(f, 1, 0, QSZ, 0xfffffffff000ULL);
        w8(f, C_STATUS, 0);
        w16(f, C_QSEL, 99);
        w16(f, C_QVEC, 1);
        u16 size99 = c16(f, C_QSIZE), vec99 = c16(f, C_QVEC);
        w16(f, C_MSIX, 77);
        u16 cfgvec = c16(f, C_MSIX);
        *(volatile u64 *)bar(f, f->common) = ~0ULL; /* an 8-byte write to the common config */
        say("pci-hostile queues dev=%u odd=0x%x huge=0x%x addr=0x%x size99=%u vec99=0x%x "
            "cfgvec=0x%x",
            f->dev, odd, huge, addr, size99, vec99, cfgvec);
}

static void pci_hostile(void)
{
        sweep_reads();
        sweep_writes();
        for (u32 i = 0; i < nfns; i++) {
                cfg_w16(fns[i].dev, 0x04, 0x0006); /* memory space and bus master back on */
                msix_abuse(&fns[i]);
                queue_abuse(&fns[i]);
        }
}

/* Brings function dev up with the features (page 0) it must have, rings in pg. */
static void idle_up(struct pfn *f, u32 dev, u8 *pg, u32 features_lo)
{
        f->dev = dev;
        f->pg = pg;
        f->bar = ((u64)cfg32(dev, 0x14) << 32) | (cfg32(dev, 0x10) & ~0xfu);
        map_bar(f->bar);
        w8(f, C_STATUS, 1);
        w8(f, C_STATUS, 3);
        w32(f, C_GFSEL, 0);
        w32(f, C_GF, features_lo);
        w32(f, C_GFSEL, 1);
        w32(f, C_GF, 1); /* VIRTIO_F_VERSION_1 */
        w8(f, C_STATUS, 0xb);
        for (u16 q = 0, nq = c16(f, C_NUMQ); q < nq && q < 4; q++) {
                w16(f, C_QSEL, q); /* the rings stay below 4 GiB: low halves only */
                w32(f, C_QDESC, (u32)(u64)qdesc(f, q));
                w32(f, C_QAVAIL, (u32)(u64)qavail(f, q));
                w32(f, C_QUSED, (u32)(u64)qused(f, q));
                w16(f, C_QEN, 1);
        }
        w8(f, C_STATUS, 0xf);
}

/*
 * brasa.idle with --enable-pci: brings the balloon and virtio-mem up as Linux's drivers would,
 * and stays quiet. Few exits, as the MMIO one: a test may PATCH /balloon or /hotplug/memory
 * right after InstanceStart. It relies on the layout brasa (and Firecracker) give every
 * function instead of walking it.
 */
void pci_idle_driver(void)
{
        static struct pfn bf, mf;
        u32 balloon = 0x1af4u | (0x1040u + VIRTIO_ID_BALLOON) << 16;
        u32 mem = 0x1af4u | (0x1040u + 24u) << 16; /* virtio-mem */

        if (cf8_read(0, 0, 0, 1u << 31) != 0x0d578086)
                return; /* no PCI segment (asked by port: an unmapped ECAM read would be logged) */
        for (u32 dev = 1; dev < 32; dev++) {
                u32 id = cfg32(dev, 0);
                if (id == 0xffffffffu)
                        return;
                if (id != balloon && id != mem)
                        continue;
                if (id == balloon)
                        idle_up(&bf, dev, rings[MAX_FN - 1], 0);
                else /* VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE, which virtio-mem requires */
                        idle_up(&mf, dev, rings[MAX_FN - 2], 2);
        }
}

/* ---- the mode -------------------------------------------------------------------------------- */

void pci_tests(const u8 *cmd, u64 n)
{
        if (!cmd_word(cmd, n, "brasa.pci", &(u64){0}))
                return;
        map_bar_window();
        *(volatile u32 *)(LAPIC + 0xf0) = 0x1ff; /* software-enable the LAPIC: MSIs land in IRR */
        enumerate();
        u32 host = cfg32(0, 0), cls = cfg32(0, 8);
        say("pci cf8 host=0x%08x fn1=0x%08x class1=0x%08x bus1=0x%08x disabled=0x%08x",
            cf8_read(0, 0, 0, 1u << 31), cf8_read(0, 1, 0, 1u << 31), cf8_read(0, 1, 8, 1u << 31),
            cf8_read(1, 0, 0, 1u << 31), cf8_read(0, 0, 0, 0));
        say("pci host vendor=0x%04x device=0x%04x class=0x%06x", host & 0xffff, host >> 16,
            cls >> 8);
        for (u32 i = 0; i < nfns; i++) {
                report_fn(&fns[i]);
                if (fns[i].msix_cap && fns[i].bar)
                        msix_on(&fns[i]);
        }
        if (cmd_word(cmd, n, "brasa.pci.hostile", &(u64){0}))
                pci_hostile();
        for (u32 i = 0; i < nfns; i++) {
                if (fns[i].device_id == 0x1040 + VIRTIO_ID_BLOCK)
                        blk_test(&fns[i]);
                else if (fns[i].device_id == 0x1040 + VIRTIO_ID_NET)
                        net_test(&fns[i], cmd_word(cmd, n, "brasa.pci.rx", &(u64){0}) != 0);
        }
        say("pci done");
}
