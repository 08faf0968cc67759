/*
 * The test guest's virtio-pmem driver: reads the config space and the region brasa maps,
 * writes into it, and sends flush requests, good and malformed.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define VIRTIO_ID_PMEM 27
#define PQSZ           8
#define PSPIN          200000000u

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

static u64 pbase;
static u16 avail_idx, last_used;
static u8 ppage[4096] __attribute__((aligned(4096))); /* desc 0, avail 0x100, used 0x200 */
static volatile u32 req[4], status[4];

static u32 prd(u32 off)
{
        return *(volatile u32 *)(pbase + off);
}

static void pwr(u32 off, u32 v)
{
        *(volatile u32 *)(pbase + off) = v;
}

static void mb(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

static void queue_reg(u32 lo, u64 v)
{
        pwr(lo, (u32)v);
        pwr(lo + 4, (u32)(v >> 32));
}

/* virtio 1.x init with one queue of PQSZ; returns the status. */
static u32 pmem_setup(void)
{
        for (u32 i = 0; i < 0x300; i++)
                ppage[i] = 0;
        pwr(VIRTIO_MMIO_STATUS, 0);
        pwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        pwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        pwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        pwr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
        pwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        pwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        pwr(VIRTIO_MMIO_STATUS, 0xb);
        pwr(VIRTIO_MMIO_QUEUE_SEL, 0);
        pwr(VIRTIO_MMIO_QUEUE_NUM, PQSZ);
        queue_reg(VIRTIO_MMIO_QUEUE_DESC_LOW, (u64)ppage);
        queue_reg(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u64)ppage + 0x100);
        queue_reg(VIRTIO_MMIO_QUEUE_USED_LOW, (u64)ppage + 0x200);
        pwr(VIRTIO_MMIO_QUEUE_READY, 1);
        pwr(VIRTIO_MMIO_STATUS, 0xf);
        return prd(VIRTIO_MMIO_STATUS);
}

static void set_d(u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
        volatile struct vdesc *t = (volatile struct vdesc *)ppage;

        t[i].addr = addr;
        t[i].len = len;
        t[i].flags = flags;
        t[i].next = next;
}

/* Submits the chain at head, waits for it; the used length, or ~0u on a timeout. */
static u32 run_chain(u16 head)
{
        volatile u16 *a = (volatile u16 *)(ppage + 0x100);
        volatile u16 *u = (volatile u16 *)(ppage + 0x200);

        a[2 + avail_idx % PQSZ] = head;
        mb();
        a[1] = ++avail_idx;
        mb();
        pwr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        for (u32 i = 0; i < PSPIN; i++) {
                if (u[1] != last_used) {
                        mb();
                        volatile u32 *e = (volatile u32 *)(ppage + 0x204);
                        u32 len = e[2 * (last_used % PQSZ) + 1];
                        last_used++;
                        return len;
                }
                __asm__ volatile("pause");
        }
        return ~0u;
}

/* A well-formed flush: the used length and the status the device wrote. */
static void flush(const char *what)
{
        req[0] = 0; /* VIRTIO_PMEM_REQ_TYPE_FLUSH */
        status[0] = 0x5a5a5a5a;
        set_d(0, (u64)&req[0], 4, VRING_DESC_F_NEXT, 1);
        set_d(1, (u64)&status[0], 4, VRING_DESC_F_WRITE, 0);
        u32 len = run_chain(0);
        say("pmem %s used_len=%u status=0x%x", what, len, status[0]);
}

/* Firecracker's refusals: each answered with a used length of 0, nothing written. */
static void malformed(void)
{
        status[0] = 0x5a5a5a5a;
        set_d(0, (u64)&req[0], 4, VRING_DESC_F_WRITE, 0); /* a write-only head */
        u32 a = run_chain(0);
        req[0] = 0;
        set_d(0, (u64)&req[0], 8, VRING_DESC_F_NEXT, 1); /* an 8-byte head */
        set_d(1, (u64)&status[0], 4, VRING_DESC_F_WRITE, 0);
        u32 b = run_chain(0);
        req[0] = 7; /* an unknown request type */
        set_d(0, (u64)&req[0], 4, VRING_DESC_F_NEXT, 1);
        u32 c = run_chain(0);
        req[0] = 0;
        set_d(0, (u64)&req[0], 4, 0, 0); /* no status descriptor */
        u32 d = run_chain(0);
        set_d(0, (u64)&req[0], 4, VRING_DESC_F_NEXT, 1);
        set_d(1, (u64)&status[0], 2, VRING_DESC_F_WRITE, 0); /* a 2-byte status */
        u32 e = run_chain(0);
        say("pmem malformed used=%u,%u,%u,%u,%u status=0x%x", a, b, c, d, e, status[0]);
}

/* The region: its first bytes, then a write read back (brasa.pmem.write=TEXT). */
static void touch_region(const u8 *cmd, u64 n, u64 start, u64 size)
{
        u64 len;
        const u8 *w = cmd_word(cmd, n, "brasa.pmem.write=", &len);

        if (start < PMEM_MAPPED_START || size > PMEM_MAPPED_SIZE ||
            start - PMEM_MAPPED_START > PMEM_MAPPED_SIZE - size) {
                say("pmem region outside the guest's map");
                return;
        }
        volatile u8 *p = (volatile u8 *)start;
        say_bytes("pmem head=", p, 16);
        say_bytes("pmem tail=", p + size - 16, 16);
        if (!w)
                return;
        for (u64 i = 0; i < len && i < 64; i++)
                p[0x1000 + i] = w[i];
        mb();
        say_bytes("pmem wrote=", p + 0x1000, len < 64 ? len : 64);
}

void pmem_tests(const u8 *cmd, u64 n)
{
        if (!cmd_word(cmd, n, "brasa.pmem", &(u64){0}))
                return;
        pbase = cmd_find_virtio(cmd, n, VIRTIO_ID_PMEM);
        if (!pbase) {
                say("pmem none");
                return;
        }
        u64 start = (u64)prd(0x100) | (u64)prd(0x104) << 32;
        u64 size = (u64)prd(0x108) | (u64)prd(0x10c) << 32;
        u32 st = pmem_setup();
        say("pmem dev base=0x%lx start=0x%lx size=0x%lx status=0x%x", pbase, start, size, st);
        touch_region(cmd, n, start, size);
        if (cmd_word(cmd, n, "brasa.pmem.malformed", &(u64){0}))
                malformed();
        flush("flush");
}
