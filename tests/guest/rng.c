/*
 * The test guest's virtio-rng driver: reads entropy and reports what came back, and plays the
 * hostile driver when brasa.rng.hostile= asks.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define RQSZ     8           /* our queue size */
#define RBUF     (128 << 10) /* twice what one request may get */
#define RSPIN    200000000u  /* polls before giving up */
#define SENTINEL 0xa5
#define CMP_LEN  64 /* bytes compared between the first two reads */

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

static u64 rbase;
static u16 avail_idx, last_used;
static u32 used_id, used_len;
static u8 rpage[4096] __attribute__((aligned(4096)));  /* desc 0, avail 0x100, used 0x200 */
static u8 itable[4096] __attribute__((aligned(4096))); /* an indirect table */
static u8 rbuf[RBUF] __attribute__((aligned(4096)));
static u8 first[CMP_LEN];

static u32 rrd(u32 off)
{
        return *(volatile u32 *)(rbase + off);
}

static void rwr(u32 off, u32 v)
{
        *(volatile u32 *)(rbase + off) = v;
}

static void mb(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

/* virtio 1.x init, one queue of RQSZ. Returns the status. */
static u32 rng_setup(void)
{
        u32 *w = (u32 *)rpage;
        for (u32 i = 0; i < 0x300 / 4; i++)
                w[i] = 0;
        avail_idx = last_used = 0;
        rwr(VIRTIO_MMIO_STATUS, 0);
        rwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        rwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        rwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        rwr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
        rwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        rwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        rwr(VIRTIO_MMIO_STATUS, 0xb);
        u64 d = (u64)rpage, a = d + 0x100, u = d + 0x200;
        rwr(VIRTIO_MMIO_QUEUE_SEL, 0);
        rwr(VIRTIO_MMIO_QUEUE_NUM, RQSZ);
        rwr(VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)d);
        rwr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(d >> 32));
        rwr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u32)a);
        rwr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (u32)(a >> 32));
        rwr(VIRTIO_MMIO_QUEUE_USED_LOW, (u32)u);
        rwr(VIRTIO_MMIO_QUEUE_USED_HIGH, (u32)(u >> 32));
        rwr(VIRTIO_MMIO_QUEUE_READY, 1);
        rwr(VIRTIO_MMIO_STATUS, 0xf);
        return rrd(VIRTIO_MMIO_STATUS);
}

static void set_d(volatile struct vdesc *t, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
        t[i].addr = addr;
        t[i].len = len;
        t[i].flags = flags;
        t[i].next = next;
}

static volatile struct vdesc *ring_desc(void)
{
        return (volatile struct vdesc *)rpage;
}

/* Puts head in the avail ring, bumps the index by step (1, or a flood) and notifies. */
static void submit(u16 head, u16 step)
{
        volatile u16 *a = (volatile u16 *)(rpage + 0x100);
        a[2 + avail_idx % RQSZ] = head;
        mb();
        avail_idx = (u16)(avail_idx + step);
        a[1] = avail_idx;
        mb();
        rwr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

/* Waits for a used entry: 0, or the device status (| 0x10000 on a timeout). */
static u32 wait_used(void)
{
        volatile u16 *u = (volatile u16 *)(rpage + 0x200);
        for (u32 i = 0; i < RSPIN; i++) {
                if (u[1] != last_used) {
                        mb();
                        volatile u32 *e = (volatile u32 *)(rpage + 0x204);
                        used_id = e[2 * (last_used % RQSZ)];
                        used_len = e[2 * (last_used % RQSZ) + 1];
                        last_used++;
                        return 0;
                }
                if ((i & 63) == 63) {
                        u32 st = rrd(VIRTIO_MMIO_STATUS);
                        if (st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED))
                                return st;
                }
                __asm__ volatile("pause");
        }
        return rrd(VIRTIO_MMIO_STATUS) | 0x10000;
}

static void fill(u8 *p, u32 len, u8 v)
{
        for (u32 i = 0; i < len; i++)
                p[i] = v;
}

static int all_same(const u8 *p, u32 len)
{
        for (u32 i = 1; i < len; i++)
                if (p[i] != p[0])
                        return 0;
        return 1;
}

/* One request of size bytes (at most RBUF) into rbuf. Returns 0 or the device status. */
static u32 read_once(u32 size)
{
        u16 i = avail_idx % RQSZ;
        fill(rbuf, size, SENTINEL);
        set_d(ring_desc(), i, (u64)rbuf, size, VRING_DESC_F_WRITE, 0);
        submit(i, 1);
        return wait_used();
}

/* Reads count requests of size bytes and reports what came back. */
static void rng_read(u32 count, u32 size)
{
        u32 ok = 0, same = 0, untouched = 0, differ = 0, maxlen = 0, st = 0;
        u64 bytes = 0;

        for (u32 k = 0; k < count; k++) {
                st = read_once(size);
                if (st)
                        break;
                ok++;
                bytes += used_len;
                if (used_len > maxlen)
                        maxlen = used_len;
                if (used_len >= 16 && all_same(rbuf, used_len))
                        same++;
                u32 t = used_len;
                while (t < size && rbuf[t] == SENTINEL)
                        t++;
                untouched += t == size;
                u32 c = used_len < CMP_LEN ? used_len : CMP_LEN;
                if (k == 0)
                        for (u32 j = 0; j < c; j++)
                                first[j] = rbuf[j];
                if (k == 1)
                        for (u32 j = 0; j < c && !differ; j++)
                                differ = first[j] != rbuf[j];
        }
        say("rng-read count=%u ok=%u bytes=%lu maxlen=%u same=%u untouched=%u differ=%u "
            "status=0x%x",
            count, ok, bytes, maxlen, same, untouched, differ, st);
}

/* Breaks one rule; returns what the device did: 0 used entry, else the device status. */
static u32 hostile(const u8 *m, u64 n)
{
        volatile struct vdesc *d = ring_desc();
        u16 i = avail_idx % RQSZ, step = 1, head = i;

        fill(rbuf, 4096, SENTINEL);
        if (cmd_same(m, n, "readable")) { /* device-readable buffer: answered with 0 bytes */
                set_d(d, i, (u64)rbuf, 64, 0, 0);
        } else if (cmd_same(m, n, "mixed")) { /* readable then writable: still refused */
                set_d(d, i, (u64)rbuf, 64, VRING_DESC_F_NEXT, (u16)((i + 1) % RQSZ));
                set_d(d, (u16)((i + 1) % RQSZ), (u64)rbuf + 64, 64, VRING_DESC_F_WRITE, 0);
        } else if (cmd_same(m, n, "zero")) { /* zero-length buffer: 0 bytes */
                set_d(d, i, (u64)rbuf, 0, VRING_DESC_F_WRITE, 0);
        } else if (cmd_same(m, n, "huge")) { /* 8 overlapping 64 KiB buffers: capped */
                for (u16 k = 0; k < RQSZ; k++)
                        set_d(d, k, (u64)rbuf, 64 << 10,
                              VRING_DESC_F_WRITE | (k + 1 < RQSZ ? VRING_DESC_F_NEXT : 0),
                              (u16)(k + 1));
                head = 0;
        } else if (cmd_same(m, n, "oob")) {
                set_d(d, i, 0x400000000000ull, 64, VRING_DESC_F_WRITE, 0);
        } else if (cmd_same(m, n, "wrap")) {
                set_d(d, i, 0xfffffffffffff000ull, 0x2000, VRING_DESC_F_WRITE, 0);
        } else if (cmd_same(m, n, "loop")) {
                set_d(d, i, (u64)rbuf, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, i);
        } else if (cmd_same(m, n, "badnext")) {
                set_d(d, i, (u64)rbuf, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 200);
        } else if (cmd_same(m, n, "badind")) { /* indirect table outside RAM */
                set_d(d, i, 0x400000000000ull, 64, VRING_DESC_F_INDIRECT, 0);
        } else if (cmd_same(m, n, "indirect")) { /* a healthy indirect request */
                set_d((volatile struct vdesc *)itable, 0, (u64)rbuf, 100, VRING_DESC_F_WRITE, 0);
                set_d(d, i, (u64)itable, 16, VRING_DESC_F_INDIRECT, 0);
        } else if (cmd_same(m, n, "badhead")) {
                set_d(d, i, (u64)rbuf, 64, VRING_DESC_F_WRITE, 0);
                head = 200;
        } else if (cmd_same(m, n, "flood")) { /* avail index 1000 ahead */
                set_d(d, i, (u64)rbuf, 64, VRING_DESC_F_WRITE, 0);
                step = 1000;
        } else {
                return 0xdead;
        }
        submit(head, step);
        return wait_used();
}

static void run_hostile(const u8 *m, u64 n)
{
        rng_setup();
        u32 st = hostile(m, n);
        say_bytes("rng-hostile-mode ", m, n);
        say("rng-hostile result=0x%x devstatus=0x%x isr=0x%x used_len=%u", st,
            rrd(VIRTIO_MMIO_STATUS), rrd(VIRTIO_MMIO_INTERRUPT_STATUS), st ? 0 : used_len);
        /* A reset brings the device back. */
        rng_setup();
        st = read_once(64);
        say("rng-recovered status=0x%x len=%u devstatus=0x%x", st, used_len,
            rrd(VIRTIO_MMIO_STATUS));
}

/* Finds the device among the virtio_mmio.device= words; its base in rbase. */
static int find_rng(const u8 *cmd, u64 n)
{
        rbase = cmd_find_virtio(cmd, n, VIRTIO_ID_RNG);
        return rbase != 0;
}

void rng_tests(const u8 *cmd, u64 n)
{
        u64 len;

        if (!cmd_word(cmd, n, "brasa.rng", &len))
                return;
        if (!find_rng(cmd, n)) {
                say("rng none");
                return;
        }
        const u8 *m = cmd_word(cmd, n, "brasa.rng.hostile=", &len);
        if (m) {
                run_hostile(m, len);
                return;
        }
        rwr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        u32 lo = rrd(VIRTIO_MMIO_DEVICE_FEATURES);
        rwr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        u32 hi = rrd(VIRTIO_MMIO_DEVICE_FEATURES);
        rwr(VIRTIO_MMIO_QUEUE_SEL, 0);
        u32 qmax = rrd(VIRTIO_MMIO_QUEUE_NUM_MAX);
        u32 st = rng_setup();
        say("rng dev base=0x%lx features_lo=0x%x features_hi=0x%x qmax=%u status=0x%x", rbase, lo,
            hi, qmax, st);
        u32 size = cmd_opt(cmd, n, "brasa.rng.size=", 64);
        if (size > RBUF)
                size = RBUF;
        rng_read(cmd_opt(cmd, n, "brasa.rng.count=", 2), size);
}
