/*
 * The test guest's virtio-balloon driver: touches pages, inflates them when the host's target
 * asks, deflates when it drops, answers the stats queue with known values, and plays the
 * hostile driver when brasa.balloon.hostile= asks.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define BQSZ      16           /* our queue size */
#define NQ        3            /* inflate, deflate, stats */
#define BAL_BASE  0x4000000ull /* the pages we balloon: 64 MiB up */
#define MAX_PAGES 16384u       /* at most 64 MiB of them */
#define PER_DESC  256u         /* PFNs per inflate descriptor (the device's limit) */
#define BSPIN     200000000u   /* polls of a used ring before giving up */
#define LONG_WAIT 100000000ull /* polls of the target before giving up (minutes) */
#define F_STATS   1u
#define F_OOM     2u
#define NTAGS     11 /* tags 0..9 and one the host does not know */

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

struct bq {
        u8 *pg; /* desc 0, avail 0x100, used 0x200 */
        u16 avail_idx, last_used;
        u32 used_len;
};

static u64 bbase;
static u32 bfeat;
static struct bq qs[NQ];
static u8 qpages[NQ][4096] __attribute__((aligned(4096)));
static u32 pfns[MAX_PAGES] __attribute__((aligned(4096)));
static u8 stats[4096] __attribute__((aligned(4096)));
static u32 stats_refills;

static u32 brd(u32 off)
{
        return *(volatile u32 *)(bbase + off);
}

static void bwr(u32 off, u32 v)
{
        *(volatile u32 *)(bbase + off) = v;
}

static void bmb(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

static u32 cfg_rd(u32 off)
{
        return brd(VIRTIO_MMIO_CONFIG + off);
}

static void queue_setup(u32 qi)
{
        struct bq *q = &qs[qi];
        u32 *w = (u32 *)qpages[qi];
        for (u32 i = 0; i < 0x300 / 4; i++)
                w[i] = 0;
        q->pg = qpages[qi];
        q->avail_idx = q->last_used = 0;
        u64 d = (u64)q->pg, a = d + 0x100, u = d + 0x200;
        bwr(VIRTIO_MMIO_QUEUE_SEL, qi);
        bwr(VIRTIO_MMIO_QUEUE_NUM, BQSZ);
        bwr(VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)d);
        bwr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(d >> 32));
        bwr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u32)a);
        bwr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (u32)(a >> 32));
        bwr(VIRTIO_MMIO_QUEUE_USED_LOW, (u32)u);
        bwr(VIRTIO_MMIO_QUEUE_USED_HIGH, (u32)(u >> 32));
        bwr(VIRTIO_MMIO_QUEUE_READY, 1);
}

/* virtio 1.x init: VERSION_1 plus what we use of what is offered. Returns the status. */
static u32 balloon_setup(void)
{
        bwr(VIRTIO_MMIO_STATUS, 0);
        bwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        bwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        bwr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        bfeat = brd(VIRTIO_MMIO_DEVICE_FEATURES);
        bwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        bwr(VIRTIO_MMIO_DRIVER_FEATURES, bfeat & ((1u << F_STATS) | (1u << F_OOM)));
        bwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        bwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        bwr(VIRTIO_MMIO_STATUS, 0xb);
        for (u32 qi = 0; qi < ((bfeat >> F_STATS) & 1 ? 3u : 2u); qi++)
                queue_setup(qi);
        bwr(VIRTIO_MMIO_STATUS, 0xf);
        return brd(VIRTIO_MMIO_STATUS);
}

static volatile struct vdesc *qdesc(u32 qi)
{
        return (volatile struct vdesc *)qs[qi].pg;
}

static void set_d(volatile struct vdesc *t, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
        t[i].addr = addr;
        t[i].len = len;
        t[i].flags = flags;
        t[i].next = next;
}

static void submit(u32 qi, u16 head, u16 step)
{
        struct bq *q = &qs[qi];
        volatile u16 *a = (volatile u16 *)(q->pg + 0x100);
        a[2 + q->avail_idx % BQSZ] = head;
        bmb();
        q->avail_idx = (u16)(q->avail_idx + step);
        a[1] = q->avail_idx;
        bmb();
        bwr(VIRTIO_MMIO_QUEUE_NOTIFY, qi);
}

/* A used entry on qi? Takes it. */
static int poll_used(u32 qi)
{
        struct bq *q = &qs[qi];
        volatile u16 *u = (volatile u16 *)(q->pg + 0x200);
        if (u[1] == q->last_used)
                return 0;
        bmb();
        volatile u32 *e = (volatile u32 *)(q->pg + 0x204);
        q->used_len = e[2 * (q->last_used % BQSZ) + 1];
        q->last_used++;
        return 1;
}

static u32 wait_used(u32 qi)
{
        for (u32 i = 0; i < BSPIN; i++) {
                if (poll_used(qi))
                        return 0;
                if ((i & 63) == 63) {
                        u32 st = brd(VIRTIO_MMIO_STATUS);
                        if (st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED))
                                return st;
                }
                __asm__ volatile("pause");
        }
        return brd(VIRTIO_MMIO_STATUS) | 0x10000;
}

/* Our stats: tag t has 1000 + t (tags 0..9), then tag 99, which the host does not know. */
static void fill_stats(void)
{
        for (u32 t = 0; t < NTAGS; t++) {
                u16 tag = (u16)(t < 10 ? t : 99);
                u64 val = 1000 + t;
                u8 *p = stats + 10 * t;
                p[0] = (u8)tag;
                p[1] = (u8)(tag >> 8);
                for (int k = 0; k < 8; k++)
                        p[2 + k] = (u8)(val >> (8 * k));
        }
}

static void stats_offer(u32 len)
{
        u16 i = qs[2].avail_idx % BQSZ;
        fill_stats();
        set_d(qdesc(2), i, (u64)stats, len, 0, 0);
        submit(2, i, 1);
}

/* The host handed the stats buffer back: refill and offer it again. */
static void stats_service(void)
{
        if (!((bfeat >> F_STATS) & 1) || !poll_used(2))
                return;
        stats_refills++;
        say("balloon-stats-refill n=%u", stats_refills);
        stats_offer(10 * NTAGS);
}

/* Waits until the target satisfies (num_pages != 0) == nonzero, serving the stats queue. */
static u32 wait_target(int nonzero)
{
        for (u64 i = 0; i < LONG_WAIT; i++) {
                u32 np = cfg_rd(0);
                if ((np != 0) == nonzero)
                        return np;
                stats_service();
                for (int k = 0; k < 256; k++)
                        __asm__ volatile("pause");
        }
        return cfg_rd(0);
}

/* Sends pages [0, n) of BAL_BASE on queue qi, PER_DESC PFNs a descriptor. Returns 0 or status. */
static u32 send_pfns(u32 qi, u32 n)
{
        for (u32 k = 0; k < n; k++)
                pfns[k] = (u32)((BAL_BASE >> 12) + k);
        for (u32 k = 0; k < n; k += PER_DESC) {
                u32 c = n - k < PER_DESC ? n - k : PER_DESC;
                u16 i = qs[qi].avail_idx % BQSZ;
                set_d(qdesc(qi), i, (u64)&pfns[k], c * 4, 0, 0);
                submit(qi, i, 1);
                u32 st = wait_used(qi);
                if (st)
                        return st;
        }
        return 0;
}

static void touch(u32 n)
{
        for (u32 k = 0; k < n; k++) {
                volatile u8 *p = (volatile u8 *)(BAL_BASE + ((u64)k << 12));
                for (u32 o = 0; o < 4096; o += 512)
                        p[o] = (u8)(0x5a + o);
        }
}

static u32 count_zero(u32 n)
{
        u32 z = 0;
        for (u32 k = 0; k < n; k++)
                z += *(volatile u8 *)(BAL_BASE + ((u64)k << 12)) == 0;
        return z;
}

static void set_actual(u32 pages)
{
        *(volatile u32 *)(bbase + VIRTIO_MMIO_CONFIG + 4) = pages;
}

static void run_balloon(u32 max, int nowait)
{
        u32 st;

        touch(max);
        say("balloon-touched pages=%u num_pages=%u", max, cfg_rd(0));
        u32 np = wait_target(1);
        u32 n = np < max ? np : max;
        say("balloon-target num_pages=%u", np);
        st = send_pfns(0, n);
        set_actual(n);
        say("balloon-inflated pages=%u status=0x%x actual=%u zero=%u", n, st, cfg_rd(4),
            count_zero(n));
        np = nowait ? 0 : wait_target(0);
        st = send_pfns(1, n);
        set_actual(0);
        u32 z = count_zero(n);
        touch(n);
        say("balloon-deflated pages=%u status=0x%x zero=%u refills=%u", n, st, z, stats_refills);
}

/* One rule broken on the inflate (or stats) queue. Returns 0 (used entry) or the status. */
static u32 hostile(const u8 *m, u64 n)
{
        volatile struct vdesc *d = qdesc(0);
        u16 i = qs[0].avail_idx % BQSZ, head = i, step = 1;
        u32 qi = 0;

        if (cmd_same(m, n, "oob")) { /* PFNs past RAM, in the MMIO gap, at the top of u32 */
                pfns[0] = 0xfffffffu;
                pfns[1] = 0xc0000u; /* 3 GiB: the MMIO gap */
                pfns[2] = 0xfee00u; /* the APIC page */
                pfns[3] = 0x3ffffffu;
                pfns[4] = 0xffffffffu;
                set_d(d, i, (u64)pfns, 20, 0, 0);
        } else if (cmd_same(m, n, "huge")) { /* 1024 PFNs in one descriptor: skipped */
                for (u32 k = 0; k < 1024; k++)
                        pfns[k] = (u32)(BAL_BASE >> 12) + k;
                set_d(d, i, (u64)pfns, 4096, 0, 0);
        } else if (cmd_same(m, n, "writable")) { /* a device-writable PFN list: skipped */
                pfns[0] = (u32)(BAL_BASE >> 12);
                set_d(d, i, (u64)pfns, 4, VRING_DESC_F_WRITE, 0);
        } else if (cmd_same(m, n, "odd")) { /* not whole u32s: skipped */
                set_d(d, i, (u64)pfns, 7, 0, 0);
        } else if (cmd_same(m, n, "loop")) {
                set_d(d, i, (u64)pfns, 4, VRING_DESC_F_NEXT, i);
        } else if (cmd_same(m, n, "oobdesc")) { /* the PFN list itself outside RAM */
                set_d(d, i, 0x400000000000ull, 4, 0, 0);
        } else if (cmd_same(m, n, "flood")) {
                set_d(d, i, (u64)pfns, 4, 0, 0);
                step = 1000;
        } else if (cmd_same(m, n, "stats-odd")) { /* 13 bytes: one stat and a partial one */
                qi = 2;
                fill_stats();
                set_d(qdesc(2), (u16)(qs[2].avail_idx % BQSZ), (u64)stats, 13, 0, 0);
                head = (u16)(qs[2].avail_idx % BQSZ);
        } else if (cmd_same(m, n, "stats-big")) { /* larger than 256 stats: not read */
                qi = 2;
                set_d(qdesc(2), (u16)(qs[2].avail_idx % BQSZ), (u64)pfns, 65536, 0, 0);
                head = (u16)(qs[2].avail_idx % BQSZ);
        } else {
                return 0xdead;
        }
        submit(qi, head, step);
        if (qi == 2) /* the host holds a stats buffer until its timer fires */
                return wait_used(2);
        return wait_used(0);
}

static void run_hostile(const u8 *m, u64 n)
{
        balloon_setup();
        u32 st = hostile(m, n);
        say_bytes("balloon-hostile-mode ", m, n);
        say("balloon-hostile result=0x%x devstatus=0x%x", st, brd(VIRTIO_MMIO_STATUS));
        balloon_setup();
        st = send_pfns(0, 1);
        say("balloon-recovered status=0x%x devstatus=0x%x", st, brd(VIRTIO_MMIO_STATUS));
}

/* Finds the device among the virtio_mmio.device= words; its base in bbase. */
static int find_balloon(const u8 *cmd, u64 n)
{
        bbase = cmd_find_virtio(cmd, n, VIRTIO_ID_BALLOON);
        return bbase != 0;
}

/*
 * The fewest register accesses that make the device live (each is an exit to the VMM): the
 * device is fresh from boot (status 0, selectors 0), every queue keeps its maximum size and
 * shares one set of rings, which an idle guest never fills.
 */
static u8 idle_rings[0x3000] __attribute__((aligned(4096)));

void balloon_idle_driver(u64 base)
{
        u64 d = (u64)idle_rings, a = d + 0x1000, u = d + 0x2000;

        bbase = base;
        u32 nq = (brd(VIRTIO_MMIO_DEVICE_FEATURES) >> F_STATS) & 1 ? 3u : 2u;
        bwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        bwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        bwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        bwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        bwr(VIRTIO_MMIO_STATUS, 0xb);
        for (u32 qi = 0; qi < nq; qi++) {
                if (qi)
                        bwr(VIRTIO_MMIO_QUEUE_SEL, qi);
                bwr(VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)d);
                bwr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u32)a);
                bwr(VIRTIO_MMIO_QUEUE_USED_LOW, (u32)u);
                bwr(VIRTIO_MMIO_QUEUE_READY, 1);
        }
        bwr(VIRTIO_MMIO_STATUS, 0xf);
}

void balloon_tests(const u8 *cmd, u64 n)
{
        u64 len;

        if (!cmd_word(cmd, n, "brasa.balloon", &len))
                return;
        if (!find_balloon(cmd, n)) {
                say("balloon none");
                return;
        }
        const u8 *m = cmd_word(cmd, n, "brasa.balloon.hostile=", &len);
        if (m) {
                run_hostile(m, len);
                return;
        }
        bwr(VIRTIO_MMIO_QUEUE_SEL, 0);
        u32 qmax = brd(VIRTIO_MMIO_QUEUE_NUM_MAX);
        u32 st = balloon_setup();
        bwr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        u32 hi = brd(VIRTIO_MMIO_DEVICE_FEATURES);
        say("balloon dev base=0x%lx features_lo=0x%x features_hi=0x%x qmax=%u status=0x%x "
            "num_pages=%u actual=%u",
            bbase, bfeat, hi, qmax, st, cfg_rd(0), cfg_rd(4));
        if ((bfeat >> F_STATS) & 1)
                stats_offer(10 * NTAGS);
        u32 pages = MAX_PAGES;
        const u8 *p = cmd_word(cmd, n, "brasa.balloon.pages=", &len);
        if (p)
                pages = (u32)cmd_num(p, len, 10);
        if (pages > MAX_PAGES)
                pages = MAX_PAGES;
        run_balloon(pages, cmd_word(cmd, n, "brasa.balloon.nowait", &len) != 0);
}
