/*
 * The test guest's virtio-mem driver (brasa.vmem): reads the config space, waits for the
 * host's requested size, plugs blocks up to it, writes and reads them back, sends hostile
 * requests and chains, unplugs, and on a requested size of 0 unplugs everything
 * (brasa.vmem.nowait: stops after reading the config).
 */
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define VIRTIO_ID_MEM 24
#define VQSZ          8
#define VSPIN         200000000u

/* virtio-mem's requests, responses and config offsets (virtio 1.2, 5.15). */
#define REQ_PLUG       0
#define REQ_UNPLUG     1
#define REQ_UNPLUG_ALL 2
#define REQ_STATE      3
#define CFG_BLOCK      0x100
#define CFG_ADDR       0x110
#define CFG_REGION     0x118
#define CFG_USABLE     0x120
#define CFG_PLUGGED    0x128
#define CFG_REQUESTED  0x130
#define SLOT_PROBE     (512ull << 20) /* a slot past the usable region: never plugged */

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

struct vreq {
        u16 type, pad[3];
        u64 addr;
        u16 nb_blocks, pad2[3];
};

struct vresp {
        u16 type, pad[3];
        u16 state;
};

static u64 vbase, block, region;
static u16 avail_idx, last_used;
static u8 vpage[4096] __attribute__((aligned(4096))); /* desc 0, avail 0x100, used 0x200 */
static volatile struct vreq rq;
static volatile struct vresp rs;

static u32 vrd(u32 off)
{
        return *(volatile u32 *)(vbase + off);
}

static u64 vrd64(u32 off)
{
        return (u64)vrd(off) | (u64)vrd(off + 4) << 32;
}

static void vwr(u32 off, u32 v)
{
        *(volatile u32 *)(vbase + off) = v;
}

static void mb(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

static void queue_reg(u32 lo, u64 v)
{
        vwr(lo, (u32)v);
        vwr(lo + 4, (u32)(v >> 32));
}

/* virtio 1.x init with one queue of VQSZ, acking VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE unless
 * !inaccessible; returns the status. */
static u32 vmem_setup(int inaccessible)
{
        for (u32 i = 0; i < 0x300; i++)
                vpage[i] = 0;
        avail_idx = last_used = 0;
        vwr(VIRTIO_MMIO_STATUS, 0);
        vwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        vwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES, inaccessible ? 2 : 0);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        vwr(VIRTIO_MMIO_STATUS, 0xb);
        vwr(VIRTIO_MMIO_QUEUE_SEL, 0);
        vwr(VIRTIO_MMIO_QUEUE_NUM, VQSZ);
        queue_reg(VIRTIO_MMIO_QUEUE_DESC_LOW, (u64)vpage);
        queue_reg(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u64)vpage + 0x100);
        queue_reg(VIRTIO_MMIO_QUEUE_USED_LOW, (u64)vpage + 0x200);
        vwr(VIRTIO_MMIO_QUEUE_READY, 1);
        vwr(VIRTIO_MMIO_STATUS, 0xf);
        return vrd(VIRTIO_MMIO_STATUS);
}

static void set_d(u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
        volatile struct vdesc *t = (volatile struct vdesc *)vpage;

        t[i].addr = addr;
        t[i].len = len;
        t[i].flags = flags;
        t[i].next = next;
}

/* Submits the chain at head, waits for it; the used length, or ~0u on a timeout. */
static u32 run_chain(u16 head)
{
        volatile u16 *a = (volatile u16 *)(vpage + 0x100);
        volatile u16 *u = (volatile u16 *)(vpage + 0x200);

        a[2 + avail_idx % VQSZ] = head;
        mb();
        a[1] = ++avail_idx;
        mb();
        vwr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
        for (u32 i = 0; i < VSPIN; i++) {
                if (u[1] != last_used) {
                        mb();
                        volatile u32 *e = (volatile u32 *)(vpage + 0x204);
                        u32 len = e[2 * (last_used % VQSZ) + 1];
                        last_used++;
                        return len;
                }
                __asm__ volatile("pause");
        }
        return ~0u;
}

/* One well-formed request: "<ack|err><state>" packed as resp type * 16 + state, or 0xff. */
static u32 request(u16 type, u64 addr, u16 nb)
{
        rq.type = type;
        rq.addr = addr;
        rq.nb_blocks = nb;
        rs.type = 0x55;
        rs.state = 0x55;
        set_d(0, (u64)&rq, sizeof(rq), VRING_DESC_F_NEXT, 1);
        set_d(1, (u64)&rs, sizeof(rs), VRING_DESC_F_WRITE, 0);
        if (run_chain(0) != sizeof(rs))
                return 0xff;
        return (u32)rs.type * 16 + (type == REQ_STATE ? rs.state : 0);
}

/* Polls the config space until requested_size differs from old (or a long timeout). */
static u64 wait_requested(u64 old)
{
        u64 v = old;

        for (u32 i = 0; i < 2000000 && v == old; i++) {
                for (u32 j = 0; j < 2000; j++)
                        __asm__ volatile("pause");
                v = vrd64(CFG_REQUESTED);
        }
        return v;
}

/* Writes a pattern at the start of each of the n blocks from addr, then reads it back. */
static u32 write_read(u64 addr, u64 n, u8 seed)
{
        u32 bad = 0;

        for (u64 i = 0; i < n; i++)
                *(volatile u8 *)(addr + i * block + 4096) = (u8)(seed + i);
        mb();
        for (u64 i = 0; i < n; i++)
                bad += *(volatile u8 *)(addr + i * block + 4096) != (u8)(seed + i);
        return bad;
}

/* Hostile requests and chains: each gets an error, or goes back unused (length 0). */
static void hostile(u64 base, u64 usable)
{
        u32 r[9]; /* in this order: arguments would be evaluated in any */

        r[0] = request(REQ_PLUG, base + usable - block, 1);
        r[1] = request(REQ_PLUG, base + 4096, 1);
        r[2] = request(REQ_PLUG, base, 0);
        r[3] = request(REQ_PLUG, base - block, 1);
        r[4] = request(REQ_STATE, base + usable - block, 2);
        r[5] = request(REQ_PLUG, base, 1);
        r[6] = request(REQ_UNPLUG, base + usable - block, 1);
        r[7] = request(REQ_STATE, base + region, 1);
        r[8] = request(9, base, 1);
        say("vmem hostile plug_big=0x%x unaligned=0x%x zero=0x%x below=0x%x past=0x%x "
            "replug=0x%x unplug_free=0x%x state_past=0x%x type=0x%x",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8]);
        rs.type = 0x55;
        set_d(0, (u64)&rq, sizeof(rq), VRING_DESC_F_WRITE, 0); /* a write-only head */
        u32 a = run_chain(0);
        set_d(0, (u64)&rq, 8, VRING_DESC_F_NEXT, 1); /* a short request */
        set_d(1, (u64)&rs, sizeof(rs), VRING_DESC_F_WRITE, 0);
        u32 b = run_chain(0);
        set_d(0, (u64)&rq, sizeof(rq), 0, 0); /* no response descriptor */
        u32 c = run_chain(0);
        set_d(0, (u64)&rq, sizeof(rq), VRING_DESC_F_NEXT, 1);
        set_d(1, (u64)&rs, sizeof(rs), 0, 0); /* a read-only response */
        u32 d = run_chain(0);
        set_d(1, (u64)&rs, 4, VRING_DESC_F_WRITE, 0); /* a short response */
        u32 e = run_chain(0);
        say("vmem chains used=%u,%u,%u,%u,%u resp=0x%x", a, b, c, d, e, rs.type);
}

/* Plugs what was asked, uses it, probes, unplugs a quarter, re-plugs and unplugs it again. */
static void plug_phase(u64 base, u64 req)
{
        u64 n = req / block, q = n / 4;
        u64 usable = vrd64(CFG_USABLE);

        say("vmem requested=0x%lx usable=0x%lx", req, usable);
        u32 p1 = request(REQ_PLUG, base, (u16)(n / 2));
        u32 p2 = request(REQ_PLUG, base + n / 2 * block, (u16)(n - n / 2));
        u32 bad = write_read(base, n, 0x31);
        u64 plugged = vrd64(CFG_PLUGGED);
        u32 state = request(REQ_STATE, base, (u16)n);
        say("vmem plug=0x%x,0x%x plugged=0x%lx bad=%u state=0x%x", p1, p2, plugged, bad, state);
        hostile(base, usable);
        u64 tail = base + (n - q) * block;
        u32 u1 = request(REQ_UNPLUG, tail, (u16)q);
        u32 s1 = request(REQ_STATE, tail - block, 2);
        u32 p3 = request(REQ_PLUG, tail, (u16)q);
        u32 zero = 0;
        for (u64 i = 0; i < q; i++)
                zero += *(volatile u8 *)(tail + i * block + 4096) != 0;
        u32 u2 = request(REQ_UNPLUG, tail, (u16)q);
        /* The unplugged slot is gone from KVM: a hostile access is an MMIO exit, no memory. */
        *(volatile u8 *)(base + SLOT_PROBE + 4096) = 0x99;
        u8 probe = *(volatile u8 *)(base + SLOT_PROBE + 4096);
        say("vmem unplug=0x%x mixed=0x%x replug=0x%x nonzero_after_replug=%u unplug2=0x%x "
            "plugged=0x%lx probe=0x%x",
            u1, s1, p3, zero, u2, vrd64(CFG_PLUGGED), probe);
}

/* Rings of the full-size queue (256): descriptors, avail, used, a page each. */
static u8 idle_rings[3 * 4096] __attribute__((aligned(4096)));

void vmem_idle_driver(u64 base)
{
        vbase = base;
        vwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        vwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES, 2); /* VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE */
        vwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        vwr(VIRTIO_MMIO_STATUS, 0xb);
        queue_reg(VIRTIO_MMIO_QUEUE_DESC_LOW, (u64)idle_rings);
        queue_reg(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u64)idle_rings + 0x1000);
        queue_reg(VIRTIO_MMIO_QUEUE_USED_LOW, (u64)idle_rings + 0x2000);
        vwr(VIRTIO_MMIO_QUEUE_READY, 1);
        vwr(VIRTIO_MMIO_STATUS, 0xf);
}

void vmem_tests(const u8 *cmd, u64 n)
{
        if (!cmd_word(cmd, n, "brasa.vmem", &(u64){0}))
                return;
        vbase = cmd_find_virtio(cmd, n, VIRTIO_ID_MEM);
        if (!vbase) {
                say("vmem none");
                return;
        }
        if (cmd_word(cmd, n, "brasa.vmem.noinacc", &(u64){0}))
                say("vmem noinacc status=0x%x", vmem_setup(0));
        u32 st = vmem_setup(1);
        u64 base = vrd64(CFG_ADDR);
        block = vrd64(CFG_BLOCK);
        region = vrd64(CFG_REGION);
        say("vmem dev status=0x%x block=0x%lx addr=0x%lx region=0x%lx usable=0x%lx plugged=0x%lx "
            "requested=0x%lx",
            st, block, base, region, vrd64(CFG_USABLE), vrd64(CFG_PLUGGED), vrd64(CFG_REQUESTED));
        if (!block || base < PMEM_MAPPED_START || region > PMEM_MAPPED_SIZE ||
            base - PMEM_MAPPED_START > PMEM_MAPPED_SIZE - region) {
                say("vmem region outside the guest's map");
                return;
        }
        say("vmem ready");
        if (cmd_word(cmd, n, "brasa.vmem.nowait", &(u64){0}))
                return;
        u64 req = wait_requested(0);
        plug_phase(base, req);
        say("vmem waiting");
        req = wait_requested(req);
        u32 all = request(REQ_UNPLUG_ALL, 0, 0);
        say("vmem requested=0x%lx unplug_all=0x%x usable=0x%lx plugged=0x%lx", req, all,
            vrd64(CFG_USABLE), vrd64(CFG_PLUGGED));
}
