/*
 * The test guest's virtio-mmio block driver: finds devices from virtio_mmio.device= words, does
 * real I/O and reports it, and plays the hostile driver when brasa.blk.hostile= asks.
 */
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define MAX_VDEV    8
#define QSZ         8          /* our queue size: small rings, few instructions */
#define SPIN_LIMIT  200000000u /* polls before giving up on a device (never on a healthy one) */
#define STATUS_POLL 64         /* check the status register every this many polls */
#define BUF_SIZE    65536
#define MUST_WAIT   0x8000u /* hostile(): a request or change is out, wait for the device */

/* Page layout of each device's ring memory. */
#define PG_DESC     0x000
#define PG_AVAIL    0x100
#define PG_USED     0x200
#define PG_INDIRECT 0x400
#define PG_HDR      0x500
#define PG_STATUS   0x600
#define PG_ID       0x700

#define FEAT_WANTED                                                                                \
        ((1u << VIRTIO_RING_F_EVENT_IDX) | (1u << VIRTIO_RING_F_INDIRECT_DESC) |                   \
         (1u << VIRTIO_BLK_F_FLUSH) | (1u << VIRTIO_BLK_F_RO))

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

struct vdev {
        u64 base;
        u32 irq;
        u32 feat_lo, feat_hi;
        u64 capacity;
        u8 *pg;
        u16 qsize;
        u16 avail_idx; /* next avail slot we fill */
        u16 last_used; /* used entries consumed */
        u32 used_len;  /* length of the last used entry */
};

static struct vdev devs[MAX_VDEV];
static unsigned int ndevs;
static u8 ring_pages[MAX_VDEV][4096] __attribute__((aligned(4096)));
static u8 iobuf[BUF_SIZE] __attribute__((aligned(4096)));

/* ---- small helpers --------------------------------------------------------------------------- */

static u32 rd(const struct vdev *d, u32 off)
{
        return *(volatile u32 *)(d->base + off);
}

static void wr(const struct vdev *d, u32 off, u32 v)
{
        *(volatile u32 *)(d->base + off) = v;
}

static void barrier(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

static volatile u16 *avail(const struct vdev *d)
{
        return (volatile u16 *)(d->pg + PG_AVAIL); /* flags, idx, ring[QSZ], used_event */
}

static volatile u16 *used16(const struct vdev *d)
{
        return (volatile u16 *)(d->pg + PG_USED); /* flags, idx, then elements */
}

static volatile struct vdesc *desc(const struct vdev *d)
{
        return (volatile struct vdesc *)(d->pg + PG_DESC);
}

static u64 parse_num(const u8 *p, u64 n, u64 *used)
{
        u64 v = 0, i = 0, base = 10;

        if (n >= 2 && p[0] == '0' && p[1] == 'x') {
                base = 16;
                i = 2;
        }
        for (; i < n; i++) {
                u8 c = p[i];
                u64 digit;
                if (c >= '0' && c <= '9')
                        digit = c - '0';
                else if (base == 16 && c >= 'a' && c <= 'f')
                        digit = c - 'a' + 10;
                else
                        break;
                v = v * base + digit;
        }
        *used = i;
        return v;
}

/* xorshift32 words, as tests/integration computes them. */
static void fill_pattern(u8 *buf, u32 len, u32 seed)
{
        u32 *w = (u32 *)buf, s = seed;
        for (u32 i = 0; i < len / 4; i++) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                w[i] = s;
        }
}

/* ---- discovery and setup ------------------------------------------------------------------ */

/* Parses every "virtio_mmio.device=<size>K@0x<base>:<irq>" word of the command line. */
static void discover(const u8 *cmd, u64 n)
{
        const char *key = "virtio_mmio.device=";
        u64 off = 0, len;

        while (ndevs < MAX_VDEV) {
                const u8 *v = cmd_word(cmd + off, n - off, key, &len);
                if (!v)
                        return;
                off = (u64)(v - cmd) + len;
                u64 i = 0, used;
                while (i < len && v[i] != '@')
                        i++;
                if (i + 1 >= len)
                        continue;
                u64 base = parse_num(v + i + 1, len - i - 1, &used);
                i += 1 + used;
                if (i >= len || v[i] != ':' || !mapped(base, 4096))
                        continue;
                if (*(volatile u32 *)(base + VIRTIO_MMIO_DEVICE_ID) != VIRTIO_ID_BLOCK)
                        continue; /* virtio-net has its own driver (net.c) */
                struct vdev *d = &devs[ndevs];
                d->base = base;
                d->irq = (u32)parse_num(v + i + 1, len - i - 1, &used);
                d->pg = ring_pages[ndevs];
                ndevs++;
        }
}

static void clear(u8 *p, u32 len)
{
        u32 *w = (u32 *)p;
        for (u32 i = 0; i < len / 4; i++)
                w[i] = 0;
}

static void set_queue_addrs(const struct vdev *d, u64 desc_pa, u64 a, u64 u)
{
        wr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)desc_pa);
        wr(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(desc_pa >> 32));
        wr(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u32)a);
        wr(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (u32)(a >> 32));
        wr(d, VIRTIO_MMIO_QUEUE_USED_LOW, (u32)u);
        wr(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (u32)(u >> 32));
}

/*
 * The virtio 1.x init sequence with one queue of qsize whose rings are at desc_pa, a and u.
 * Returns the final status register.
 */
static u32 vdev_setup_at(struct vdev *d, u16 qsize, u64 desc_pa, u64 a, u64 u)
{
        wr(d, VIRTIO_MMIO_STATUS, 0);
        wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        wr(d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        d->feat_lo = rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
        wr(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        d->feat_hi = rd(d, VIRTIO_MMIO_DEVICE_FEATURES);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES, d->feat_lo & FEAT_WANTED);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(d, VIRTIO_MMIO_DRIVER_FEATURES, d->feat_hi & 1); /* VIRTIO_F_VERSION_1 */
        wr(d, VIRTIO_MMIO_STATUS, 0xb);                     /* ACK | DRIVER | FEATURES_OK */
        if (!(rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK))
                return rd(d, VIRTIO_MMIO_STATUS);
        d->qsize = qsize;
        d->avail_idx = d->last_used = 0;
        wr(d, VIRTIO_MMIO_QUEUE_SEL, 0);
        wr(d, VIRTIO_MMIO_QUEUE_NUM, qsize);
        set_queue_addrs(d, desc_pa, a, u);
        wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
        wr(d, VIRTIO_MMIO_STATUS, 0xf); /* ... | DRIVER_OK */
        u32 lo = rd(d, VIRTIO_MMIO_CONFIG), hi = rd(d, VIRTIO_MMIO_CONFIG + 4);
        d->capacity = lo | (u64)hi << 32;
        return rd(d, VIRTIO_MMIO_STATUS);
}

/* vdev_setup_at() in the device's own page (desc_off shifts the descriptor table). */
static u32 vdev_setup(struct vdev *d, u16 qsize, u32 desc_off)
{
        clear(d->pg, 0x300);
        return vdev_setup_at(d, qsize, (u64)(d->pg + PG_DESC) + desc_off, (u64)(d->pg + PG_AVAIL),
                             (u64)(d->pg + PG_USED));
}

/* ---- requests ------------------------------------------------------------------------------- */

/* Makes head available (asking for an interrupt on its completion) and notifies queue q. */
static void submit(struct vdev *d, u16 head, u32 q)
{
        volatile u16 *a = avail(d);

        a[2 + (d->avail_idx % d->qsize)] = head;
        a[2 + d->qsize] = d->last_used; /* used_event: interrupt me after the next one */
        barrier();
        d->avail_idx++;
        a[1] = d->avail_idx;
        barrier();
        wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* Waits for a used entry. Returns 0, or the device status when it needs a reset or hangs. */
static u32 wait_used(struct vdev *d)
{
        volatile u16 *u = used16(d);

        for (u32 i = 0; i < SPIN_LIMIT; i++) {
                if (u[1] != d->last_used) {
                        barrier();
                        volatile u32 *elem = (volatile u32 *)(d->pg + PG_USED + 4);
                        d->used_len = elem[2 * (d->last_used % d->qsize) + 1];
                        d->last_used++;
                        return 0;
                }
                if (i % STATUS_POLL == STATUS_POLL - 1) {
                        u32 st = rd(d, VIRTIO_MMIO_STATUS);
                        if (st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED))
                                return st;
                }
                __asm__ volatile("pause");
        }
        return rd(d, VIRTIO_MMIO_STATUS) | 0x10000; /* timed out */
}

static void set_desc(const struct vdev *d, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
        volatile struct vdesc *t = desc(d);
        t[i].addr = addr;
        t[i].len = len;
        t[i].flags = flags;
        t[i].next = next;
}

/* Lays out header, data and status in descriptors 0..2. Returns the chain length. */
static u16 build_request(const struct vdev *d, u32 type, u64 sector, u8 *buf, u32 len)
{
        u32 *hdr = (u32 *)(d->pg + PG_HDR);
        u16 dw = (type == VIRTIO_BLK_T_OUT) ? 0 : VRING_DESC_F_WRITE;

        hdr[0] = type;
        hdr[1] = 0;
        hdr[2] = (u32)sector;
        hdr[3] = (u32)(sector >> 32);
        d->pg[PG_STATUS] = 0xee;
        if (!len) {
                set_desc(d, 0, (u64)hdr, 16, VRING_DESC_F_NEXT, 1);
                set_desc(d, 1, (u64)(d->pg + PG_STATUS), 1, VRING_DESC_F_WRITE, 0);
                return 2;
        }
        set_desc(d, 0, (u64)hdr, 16, VRING_DESC_F_NEXT, 1);
        set_desc(d, 1, (u64)buf, len, VRING_DESC_F_NEXT | dw, 2);
        set_desc(d, 2, (u64)(d->pg + PG_STATUS), 1, VRING_DESC_F_WRITE, 0);
        return 3;
}

/* Moves descriptors 0..n-1 into the indirect table and points descriptor 4 at it. */
static u16 make_indirect(const struct vdev *d, u16 n)
{
        volatile struct vdesc *t = desc(d), *ind = (volatile struct vdesc *)(d->pg + PG_INDIRECT);

        for (u16 i = 0; i < n; i++) {
                ind[i].addr = t[i].addr;
                ind[i].len = t[i].len;
                ind[i].flags = t[i].flags;
                ind[i].next = t[i].next;
        }
        set_desc(d, 4, (u64)ind, 16u * n, VRING_DESC_F_INDIRECT, 0);
        return 4;
}

/*
 * One request, waited for. Returns the status byte (0 OK, 1 IOERR, 2 UNSUPP), or
 * 0x100 | device status when the device gave up on us.
 */
static u32 blk_req(struct vdev *d, u32 type, u64 sector, u8 *buf, u32 len, int indirect)
{
        u16 n = build_request(d, type, sector, buf, len), head = 0;

        if (indirect)
                head = make_indirect(d, n);
        submit(d, head, 0);
        u32 st = wait_used(d);
        if (st)
                return 0x100 | st;
        return d->pg[PG_STATUS];
}

static u32 take_isr(const struct vdev *d)
{
        u32 isr = rd(d, VIRTIO_MMIO_INTERRUPT_STATUS);
        wr(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
        return isr;
}

/* ---- the normal driver -------------------------------------------------------------------- */

static void report_device(unsigned int i)
{
        struct vdev *d = &devs[i];
        u32 magic = rd(d, VIRTIO_MMIO_MAGIC_VALUE), version = rd(d, VIRTIO_MMIO_VERSION);
        u32 id = rd(d, VIRTIO_MMIO_DEVICE_ID);

        u32 st = vdev_setup(d, QSZ, 0);
        say("blk dev=%u base=0x%lx irq=%u magic=0x%x version=%u devid=%u features=0x%08x%08x "
            "capacity=%lu status=0x%x",
            i, d->base, d->irq, magic, version, id, d->feat_hi, d->feat_lo, d->capacity, st);
}

static void exercise(unsigned int i)
{
        struct vdev *d = &devs[i];
        u8 *id = d->pg + PG_ID;
        u32 st;

        /* GET_ID through an indirect table, when offered. */
        st = blk_req(d, VIRTIO_BLK_T_GET_ID, 0, id, 20,
                     (d->feat_lo >> VIRTIO_RING_F_INDIRECT_DESC) & 1);
        say("blk-id dev=%u status=%u used=%u", i, st, d->used_len);
        say_bytes("blk-idstr ", id, 20);
        st = blk_req(d, VIRTIO_BLK_T_IN, 0, iobuf, 4096, 0);
        say("blk-read dev=%u sector=0 len=4096 status=%u used=%u sum=0x%08x isr=0x%x", i, st,
            d->used_len, fnv1a32w(iobuf, 4096), take_isr(d));
        fill_pattern(iobuf, 4096, 0x1234u + i);
        u32 sum = fnv1a32w(iobuf, 4096);
        st = blk_req(d, VIRTIO_BLK_T_OUT, 8, iobuf, 4096, 0);
        say("blk-write dev=%u sector=8 len=4096 status=%u used=%u sum=0x%08x", i, st, d->used_len,
            sum);
        st = blk_req(d, VIRTIO_BLK_T_FLUSH, 0, 0, 0, 0);
        say("blk-flush dev=%u status=%u", i, st);
        st = blk_req(d, VIRTIO_BLK_T_IN, 8, iobuf, 4096, 0);
        say("blk-readback dev=%u status=%u sum=0x%08x", i, st, fnv1a32w(iobuf, 4096));
}

/* ---- requests over 2 GiB --------------------------------------------------------------------- */

#define BIG_BUF  0x10000000ull /* guest-physical: every data descriptor of a big request */
#define BIG_SEGS 6             /* data descriptors: header + 6 + status fill our queue of 8 */

/* One request of BIG_SEGS descriptors of seg bytes, all on the same buffer at BIG_BUF. */
static u32 big_req(struct vdev *d, u32 type, u32 seg)
{
        u32 *hdr = (u32 *)(d->pg + PG_HDR);
        u16 dw = (type == VIRTIO_BLK_T_OUT) ? 0 : VRING_DESC_F_WRITE;

        hdr[0] = type;
        hdr[1] = hdr[2] = hdr[3] = 0;
        d->pg[PG_STATUS] = 0xee;
        set_desc(d, 0, (u64)hdr, 16, VRING_DESC_F_NEXT, 1);
        for (u16 i = 1; i <= BIG_SEGS; i++)
                set_desc(d, i, BIG_BUF, seg, VRING_DESC_F_NEXT | dw, (u16)(i + 1));
        set_desc(d, BIG_SEGS + 1, (u64)(d->pg + PG_STATUS), 1, VRING_DESC_F_WRITE, 0);
        submit(d, 0, 0);
        u32 st = wait_used(d);
        return st ? 0x100 | st : d->pg[PG_STATUS];
}

/*
 * brasa.blk.big=<MiB>: a read, then a write, of BIG_SEGS x MiB from sector 0 (over 2 GiB for
 * 342 MiB or more). The read leaves the last segment in the buffer: its last 4 KiB are
 * reported; the write sends a pattern in the buffer's last 4 KiB, so each segment's tail.
 */
static void run_big(struct vdev *d, u32 mib)
{
        u32 seg = mib << 20;
        u8 *tail = (u8 *)(BIG_BUF + seg - 4096);

        if (!mapped(BIG_BUF, seg)) {
                say("blk-big unmapped");
                return;
        }
        u32 st = big_req(d, VIRTIO_BLK_T_IN, seg);
        say("blk-big-read status=%u used=%u sum=0x%08x", st, d->used_len, fnv1a32w(tail, 4096));
        fill_pattern(tail, 4096, 0x9999u);
        st = big_req(d, VIRTIO_BLK_T_OUT, seg);
        say("blk-big-write status=%u used=%u sum=0x%08x", st, d->used_len, fnv1a32w(tail, 4096));
}

/* ---- the hostile driver ------------------------------------------------------------------- */

/*
 * Each mode breaks one rule on device 0 (or, resetbusy, resets it mid-request). Returns the
 * request status (or 0x100 | device status), or MUST_WAIT when the device still has to react.
 */
static u32 hostile(struct vdev *d, const u8 *m, u64 n)
{
        volatile u16 *a = avail(d);

        if (cmd_same(m, n, "loop")) { /* 0 -> 1 -> 0 -> ... */
                build_request(d, VIRTIO_BLK_T_OUT, 0, iobuf, 512);
                set_desc(d, 1, (u64)iobuf, 512, VRING_DESC_F_NEXT, 0);
        } else if (cmd_same(m, n, "oob")) { /* data buffer far past guest RAM */
                build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, 512);
                desc(d)[1].addr = 0x400000000000ull;
        } else if (cmd_same(m, n, "lenovf")) { /* address + length wraps around 2^64 */
                build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, 512);
                desc(d)[1].addr = 0xfffffffffffff000ull;
                desc(d)[1].len = 0x2000;
        } else if (cmd_same(m, n, "zerolen")) { /* one empty descriptor */
                set_desc(d, 0, (u64)iobuf, 0, 0, 0);
        } else if (cmd_same(m, n, "nostatus")) { /* header only, nothing writable */
                build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, 512);
                desc(d)[0].flags = 0;
        } else if (cmd_same(m, n, "badnext")) {
                build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, 512);
                desc(d)[1].next = 200;
        } else if (cmd_same(m, n, "indind")) { /* an indirect table inside an indirect table */
                make_indirect(d, build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, 512));
                volatile struct vdesc *ind = (volatile struct vdesc *)(d->pg + PG_INDIRECT);
                ind[0].addr = (u64)ind;
                ind[0].len = 48;
                ind[0].flags = VRING_DESC_F_INDIRECT;
                submit(d, 4, 0);
                goto wait;
        } else if (cmd_same(m, n, "badidx")) { /* avail idx runs 1000 ahead */
                build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, 512);
                a[2] = 0;
                a[1] = (u16)(d->avail_idx + 1000);
                barrier();
                wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
                goto wait;
        } else if (cmd_same(m, n, "badhead")) {
                build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, 512);
                submit(d, 200, 0);
                goto wait;
        } else if (cmd_same(m, n, "badq")) { /* notify a queue that does not exist */
                wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 7);
                goto wait;
        } else if (cmd_same(m, n, "lateq")) { /* queue set up after DRIVER_OK */
                wr(d, VIRTIO_MMIO_QUEUE_NUM, 4);
                goto wait;
        } else if (cmd_same(m, n, "npot")) { /* queue size 6 */
                vdev_setup(d, 6, 0);
                goto wait;
        } else if (cmd_same(m, n, "unaligned")) { /* descriptor table not 16-byte aligned */
                vdev_setup(d, QSZ, 8);
                goto wait;
        } else if (cmd_same(m, n, "badtype")) { /* unknown request type: UNSUPP */
                return blk_req(d, 99, 0, iobuf, 512, 0);
        } else if (cmd_same(m, n, "pastend")) { /* read past the capacity: IOERR */
                return blk_req(d, VIRTIO_BLK_T_IN, d->capacity, iobuf, 512, 0);
        } else if (cmd_same(m, n, "rowrite")) { /* write to a read-only drive: IOERR */
                return blk_req(d, VIRTIO_BLK_T_OUT, 0, iobuf, 512, 0);
        } else if (cmd_same(m, n, "resetbusy")) { /* reset with a 64 KiB read still in flight */
                build_request(d, VIRTIO_BLK_T_IN, 0, iobuf, BUF_SIZE);
                submit(d, 0, 0);
                wr(d, VIRTIO_MMIO_STATUS, 0);
                return rd(d, VIRTIO_MMIO_STATUS);
        } else {
                return 0xdead;
        }
        submit(d, 0, 0);
wait:
        return MUST_WAIT;
}

static void run_hostile(const u8 *m, u64 n)
{
        struct vdev *d = &devs[0];
        u32 st = hostile(d, m, n), dst = 0;

        if (st == MUST_WAIT) {
                st = wait_used(d);
                st = st ? 0x100 | st : d->pg[PG_STATUS];
        }
        dst = rd(d, VIRTIO_MMIO_STATUS);
        say_bytes("blk-hostile-mode ", m, n);
        say("blk-hostile result=0x%x devstatus=0x%x isr=0x%x", st, dst, take_isr(d));
        /* A reset brings the device back. */
        vdev_setup(d, QSZ, 0);
        st = blk_req(d, VIRTIO_BLK_T_IN, 0, iobuf, 4096, 0);
        say("blk-recovered dev=0 status=%u devstatus=0x%x sum=0x%08x", st,
            rd(d, VIRTIO_MMIO_STATUS), fnv1a32w(iobuf, 4096));
        for (unsigned int i = 1; i < ndevs; i++) {
                st = blk_req(&devs[i], VIRTIO_BLK_T_IN, 0, iobuf, 4096, 0);
                say("blk-other dev=%u status=%u sum=0x%08x", i, st, fnv1a32w(iobuf, 4096));
        }
}

/* ---- the hog: the most work a driver can queue ------------------------------------------ */

#define HOG_QSZ  256
#define HOG_BUF  0x2000000ull /* 32 MiB: every data descriptor points at this one buffer */
#define HOG_SEG  (16u << 20)  /* 16 MiB per data descriptor */
#define HOG_SAYS 1024         /* a progress line at each power of two, then every 1024 */

static u8 hog_ring[3 * 4096] __attribute__((aligned(4096))); /* desc, avail, used */
static u32 hog_hdr[4] = {VIRTIO_BLK_T_IN, 0, 0, 0};
static u8 hog_status;

/* Waits for the used index to leave from; returns it, or spins forever if the device gave up. */
static u16 hog_wait(const struct vdev *d, volatile u16 *u, u16 from)
{
        for (u32 i = 0;; i++) {
                if (u[1] != from)
                        return u[1];
                if (i % STATUS_POLL == STATUS_POLL - 1 &&
                    rd(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET) {
                        say("blk-hog gave-up devstatus=0x%x", rd(d, VIRTIO_MMIO_STATUS));
                        spin_forever();
                }
                __asm__ volatile("pause");
        }
}

/*
 * brasa.blk.hostile=hog: one chain (header, ndata descriptors of 16 MiB all on one buffer,
 * status) in every slot of a 256-entry ring, re-queued as fast as the device completes it,
 * forever. Never returns: the host stops us.
 */
static void hog(struct vdev *d, u32 ndata)
{
        volatile struct vdesc *t = (volatile struct vdesc *)hog_ring;
        volatile u16 *a = (volatile u16 *)(hog_ring + 4096), *u = (volatile u16 *)(hog_ring + 8192);
        u64 done = 0;
        u16 used = 0;

        if (ndata > HOG_QSZ - 2)
                ndata = HOG_QSZ - 2;
        clear(hog_ring, sizeof(hog_ring));
        u32 st = vdev_setup_at(d, HOG_QSZ, (u64)t, (u64)a, (u64)u);
        t[0] = (struct vdesc){(u64)hog_hdr, 16, VRING_DESC_F_NEXT, 1};
        for (u16 i = 1; i <= ndata; i++)
                t[i] = (struct vdesc){HOG_BUF, HOG_SEG, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE,
                                      (u16)(i + 1)};
        t[ndata + 1] = (struct vdesc){(u64)&hog_status, 1, VRING_DESC_F_WRITE, 0};
        say("blk-hog start descs=%u bytes=%lu status=0x%x", ndata + 2, (u64)ndata * HOG_SEG, st);
        for (;;) {
                a[1] = (u16)(used + HOG_QSZ); /* every slot holds head 0: keep them all queued */
                barrier();
                wr(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
                u16 now = hog_wait(d, u, used);
                u64 next = done + (u16)(now - used);
                for (u64 mark = 1; mark <= next;
                     mark = mark < HOG_SAYS ? 2 * mark : mark + HOG_SAYS)
                        if (mark > done)
                                say("blk-hog used=%lu status=%u", mark, hog_status);
                done = next;
                used = now;
        }
}

/* ---- rate limit, benchmark, capacity change ------------------------------------------------ */

static void run_reads(struct vdev *d, u32 count, u32 size, const char *what)
{
        u32 ok = 0, sectors = size / 512;
        u64 sector = 0;

        for (u32 k = 0; k < count; k++) {
                if (sector + sectors > d->capacity)
                        sector = 0;
                ok += blk_req(d, VIRTIO_BLK_T_IN, sector, iobuf, size, 0) == 0;
                sector += sectors;
        }
        say("%s done count=%u size=%u ok=%u", what, count, size, ok);
}

/*
 * brasa.blk.count=N: counts forever on the first drive. Each turn reads sector 0 (the previous
 * turn's number), writes its own number there, prints both, then spins N times: the number
 * read is always the one before, across a pause or a snapshot too.
 */
static void blk_count(struct vdev *d, u32 spins)
{
        volatile u64 *w = (volatile u64 *)iobuf;
        u32 st = vdev_setup(d, 16, 0);

        if (!(st & VIRTIO_CONFIG_S_DRIVER_OK)) {
                say("blkcount setup-failed status=0x%x", st);
                return;
        }
        for (u64 n = 1;; n++) {
                w[0] = ~0ull;
                u32 r1 = blk_req(d, VIRTIO_BLK_T_IN, 0, iobuf, 512, 0);
                u64 prev = w[0];
                w[0] = n;
                u32 r2 = blk_req(d, VIRTIO_BLK_T_OUT, 0, iobuf, 512, 0);
                say("blkcount %lu prev=%lu st=%u/%u", n, prev, r1, r2);
                for (volatile u32 i = 0; i < spins; i++)
                        ;
        }
}

static void wait_capacity(struct vdev *d)
{
        u64 old = d->capacity;
        u32 gen = rd(d, VIRTIO_MMIO_CONFIG_GENERATION);

        say("blk-waitcap ready capacity=%lu gen=%u", old, gen);
        for (u32 i = 0; i < SPIN_LIMIT; i++) {
                if (rd(d, VIRTIO_MMIO_CONFIG_GENERATION) != gen)
                        break;
                __asm__ volatile("pause");
        }
        u32 isr = take_isr(d);
        u32 lo = rd(d, VIRTIO_MMIO_CONFIG), hi = rd(d, VIRTIO_MMIO_CONFIG + 4);
        d->capacity = lo | (u64)hi << 32;
        say("blk-newcap capacity=%lu gen=%u isr=0x%x", d->capacity,
            rd(d, VIRTIO_MMIO_CONFIG_GENERATION), isr);
        u32 st = blk_req(d, VIRTIO_BLK_T_IN, 0, iobuf, 4096, 0);
        say("blk-newread status=%u sum=0x%08x", st, fnv1a32w(iobuf, 4096));
}

static u32 opt_num(const u8 *cmd, u64 n, const char *key, u32 dflt)
{
        u64 len, used;
        const u8 *v = cmd_word(cmd, n, key, &len);

        return v ? (u32)parse_num(v, len, &used) : dflt;
}

void virtio_tests(const u8 *cmd, u64 n)
{
        u64 len;

        discover(cmd, n);
        if (!ndevs || !cmd_word(cmd, n, "brasa.blk", &len))
                return;
        say("virtio devices=%u", ndevs);
        for (unsigned int i = 0; i < ndevs; i++)
                report_device(i);
        const u8 *mode = cmd_word(cmd, n, "brasa.blk.hostile=", &len);
        if (mode && cmd_same(mode, len, "hog"))
                hog(&devs[0], opt_num(cmd, n, "brasa.blk.hogdescs=", HOG_QSZ - 2));
        if (mode) {
                run_hostile(mode, len);
                return;
        }
        u32 count = opt_num(cmd, n, "brasa.blk.rl=", 0);
        if (count) {
                run_reads(&devs[0], count, opt_num(cmd, n, "brasa.blk.size=", 4096), "blk-rl");
                return;
        }
        count = opt_num(cmd, n, "brasa.blk.bench=", 0);
        if (count) {
                u32 size = opt_num(cmd, n, "brasa.blk.size=", 4096);
                say("blk-bench start");
                run_reads(&devs[0], count, size > BUF_SIZE ? BUF_SIZE : size, "blk-bench");
                spin_forever(); /* the host reads the VMM thread's CPU time, then stops us */
        }
        count = opt_num(cmd, n, "brasa.blk.count=", 0);
        if (count) {
                blk_count(&devs[0], count);
                return;
        }
        count = opt_num(cmd, n, "brasa.blk.big=", 0);
        if (count) {
                run_big(&devs[0], count);
                return;
        }
        if (cmd_word(cmd, n, "brasa.blk.waitcap", &len)) {
                wait_capacity(&devs[0]);
                return;
        }
        for (unsigned int i = 0; i < ndevs; i++)
                exercise(i);
}
