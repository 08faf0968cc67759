/*
 * The test guest's virtio-net driver: sends frames, echoes frames the host injects, pings a
 * peer, and plays the hostile driver on both queues when brasa.net.hostile= asks.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define NQSZ       8          /* both queues: small rings, few instructions */
#define NBUF       4096       /* one RX buffer */
#define NSPIN      30000000u  /* polls before giving up */
#define VHDR       12         /* virtio_net_hdr_v1 */
#define ETYPE      0x88b5     /* IEEE local experimental ethertype: our test frames */
#define TXBUF_SIZE (72 << 10) /* room for the oversized TX chain of hostile=txbig */

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

struct nq {
        u8 *pg; /* desc at 0, avail at 0x100, used at 0x200 */
        u16 avail_idx, last_used;
        u32 used_id, used_len;
};

static u64 nbase;
static u32 nfeat_lo;
static u8 mac[6];
static struct nq rxq, txq;
static u8 qpages[2][4096] __attribute__((aligned(4096)));
static u8 rxbufs[NQSZ][NBUF] __attribute__((aligned(4096)));
static u8 txbuf[TXBUF_SIZE] __attribute__((aligned(4096)));

static u32 nrd(u32 off)
{
        return *(volatile u32 *)(nbase + off);
}

static void nwr(u32 off, u32 v)
{
        *(volatile u32 *)(nbase + off) = v;
}

static void mb(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

static volatile struct vdesc *qdesc(struct nq *q)
{
        return (volatile struct vdesc *)q->pg;
}

static void queue_setup(struct nq *q, u32 sel, u8 *pg)
{
        u32 *w = (u32 *)pg;
        for (u32 i = 0; i < 0x300 / 4; i++)
                w[i] = 0;
        q->pg = pg;
        q->avail_idx = q->last_used = 0;
        u64 d = (u64)pg, a = d + 0x100, u = d + 0x200;
        nwr(VIRTIO_MMIO_QUEUE_SEL, sel);
        nwr(VIRTIO_MMIO_QUEUE_NUM, NQSZ);
        nwr(VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)d);
        nwr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(d >> 32));
        nwr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u32)a);
        nwr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (u32)(a >> 32));
        nwr(VIRTIO_MMIO_QUEUE_USED_LOW, (u32)u);
        nwr(VIRTIO_MMIO_QUEUE_USED_HIGH, (u32)(u >> 32));
        nwr(VIRTIO_MMIO_QUEUE_READY, 1);
}

/* virtio 1.x init with the wanted low feature bits (VERSION_1 always). Returns the status. */
static u32 net_setup(u32 want)
{
        nwr(VIRTIO_MMIO_STATUS, 0);
        nwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        nwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        nwr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        nfeat_lo = nrd(VIRTIO_MMIO_DEVICE_FEATURES) & want;
        nwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        nwr(VIRTIO_MMIO_DRIVER_FEATURES, nfeat_lo);
        nwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        nwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        nwr(VIRTIO_MMIO_STATUS, 0xb);
        queue_setup(&rxq, 0, qpages[0]);
        queue_setup(&txq, 1, qpages[1]);
        nwr(VIRTIO_MMIO_STATUS, 0xf);
        for (u32 i = 0; i < 6; i++)
                mac[i] = *(volatile u8 *)(nbase + VIRTIO_MMIO_CONFIG + i);
        return nrd(VIRTIO_MMIO_STATUS);
}

static void qsubmit(struct nq *q, u16 head, u32 sel)
{
        volatile u16 *a = (volatile u16 *)(q->pg + 0x100);
        a[2 + q->avail_idx % NQSZ] = head;
        mb();
        q->avail_idx++;
        a[1] = q->avail_idx;
        mb();
        nwr(VIRTIO_MMIO_QUEUE_NOTIFY, sel);
}

/* Waits for a used entry: 0, or the device status (| 0x10000 on a timeout). */
static u32 qwait(struct nq *q)
{
        volatile u16 *u = (volatile u16 *)(q->pg + 0x200);
        for (u32 i = 0; i < NSPIN; i++) {
                if (u[1] != q->last_used) {
                        mb();
                        volatile u32 *e = (volatile u32 *)(q->pg + 0x204);
                        q->used_id = e[2 * (q->last_used % NQSZ)];
                        q->used_len = e[2 * (q->last_used % NQSZ) + 1];
                        q->last_used++;
                        return 0;
                }
                if ((i & 63) == 63) {
                        u32 st = nrd(VIRTIO_MMIO_STATUS);
                        if (st & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED))
                                return st;
                }
                __asm__ volatile("pause");
        }
        return nrd(VIRTIO_MMIO_STATUS) | 0x10000;
}

static void set_d(struct nq *q, u16 i, u64 addr, u32 len, u16 flags, u16 next)
{
        volatile struct vdesc *d = qdesc(q) + i;
        d->addr = addr;
        d->len = len;
        d->flags = flags;
        d->next = next;
}

/* Posts RX buffer i (len bytes of it). */
static void rx_post(u16 i, u32 len)
{
        set_d(&rxq, i, (u64)rxbufs[i], len, VRING_DESC_F_WRITE, 0);
        qsubmit(&rxq, i, 0);
}

/* Sends txbuf[0..VHDR+len) as one descriptor. Returns 0 or the device status. */
static u32 tx_frame(u32 len)
{
        u16 i = txq.avail_idx % NQSZ;
        set_d(&txq, i, (u64)txbuf, VHDR + len, 0, 0);
        qsubmit(&txq, i, 1);
        return qwait(&txq);
}

static void hdr_clear(u8 *h)
{
        for (u32 i = 0; i < VHDR; i++)
                h[i] = 0;
}

/* len bytes of xorshift32 words seeded seed (the tail that is not a word is 0). */
static void fill_words(u8 *p, u32 len, u32 seed)
{
        u32 s = seed, i = 0;
        for (; i + 4 <= len; i += 4) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                *(u32 *)(p + i) = s;
        }
        for (; i < len; i++)
                p[i] = 0;
}

/* Test frame k of len bytes to dst: our MAC, ETYPE, k, then xorshift32 words seeded k+1. */
static void build_frame(u8 *f, u32 len, const u8 *dst, u32 k)
{
        u32 s = k + 1;
        for (u32 i = 0; i < 6; i++) {
                f[i] = dst[i];
                f[6 + i] = mac[i];
        }
        f[12] = ETYPE >> 8;
        f[13] = ETYPE & 0xff;
        *(u32 *)(f + 14) = k;
        for (u32 i = 18; i + 4 <= len; i += 4) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                *(u32 *)(f + i) = s;
        }
        for (u32 i = len < 18 ? len : 18 + (len - 18) / 4 * 4; i < len; i++)
                f[i] = 0; /* the tail that is not a whole word */
}

static int ours(const u8 *f, u32 len)
{
        return len >= 18 && f[12] == (ETYPE >> 8) && f[13] == (ETYPE & 0xff);
}

/* Waits for one of our frames on RX (others are dropped); returns its buffer or 0. */
static u8 *rx_next(u32 *len, u32 *st)
{
        for (;;) {
                *st = qwait(&rxq);
                if (*st)
                        return 0;
                u16 id = (u16)rxq.used_id;
                if (id >= NQSZ || rxq.used_len < VHDR) {
                        *st = 0x20000;
                        return 0;
                }
                *len = rxq.used_len - VHDR;
                if (ours(rxbufs[id] + VHDR, *len))
                        return rxbufs[id];
                rx_post(id, NBUF);
        }
}

static void rx_repost(const u8 *buf)
{
        rx_post((u16)((buf - rxbufs[0]) / NBUF), NBUF);
}

static void send_frames(u32 count, u32 size, const u8 *dst)
{
        u32 ok = 0;
        if (count > 4)
                say("net-send start");
        for (u32 k = 0; k < count; k++) {
                hdr_clear(txbuf);
                build_frame(txbuf + VHDR, size, dst, k);
                if (k < 4)
                        say("net-tx k=%u len=%u sum=0x%08x", k, size, fnv1a32w(txbuf + VHDR, size));
                ok += tx_frame(size) == 0;
        }
        say("net-sent count=%u size=%u ok=%u", count, size, ok);
}

/* Answers count of our frames: back to their sender, from our MAC. */
static void echo_frames(u32 count)
{
        u32 len, st;
        for (u16 i = 0; i < NQSZ; i++)
                rx_post(i, NBUF);
        say("net-echo ready");
        for (u32 k = 0; k < count; k++) {
                u8 *b = rx_next(&len, &st);
                if (!b) {
                        say("net-echo error status=0x%x", st);
                        return;
                }
                u8 *f = b + VHDR;
                say("net-rx k=%u len=%u sum=0x%08x bufs=%u", k, len, fnv1a32w(f, len),
                    *(u16 *)(b + 10));
                hdr_clear(txbuf);
                for (u32 i = 0; i < len; i++)
                        txbuf[VHDR + i] = f[i];
                for (u32 i = 0; i < 6; i++) {
                        txbuf[VHDR + i] = f[6 + i];
                        txbuf[VHDR + 6 + i] = mac[i];
                }
                rx_repost(b);
                tx_frame(len);
        }
        say("net-echo done count=%u", count);
}

/* Counts count of our frames quietly (benchmarks), with a progress line every 256. */
static void recv_frames(u32 count)
{
        u32 len, st;
        u64 bytes = 0;
        for (u16 i = 0; i < NQSZ; i++)
                rx_post(i, NBUF);
        say("net-recv ready");
        for (u32 k = 0; k < count; k++) {
                u8 *b = rx_next(&len, &st);
                if (!b) {
                        say("net-recv error status=0x%x", st);
                        return;
                }
                bytes += len;
                rx_repost(b);
                if (k % 256 == 255)
                        say("net-recv progress %u", k + 1);
        }
        say("net-recv done count=%u bytes=%lu", count, bytes);
}

/* Sends count frames to dst and checks each answer carries the same payload. */
static void ping(u32 count, u32 size, const u8 *dst)
{
        u32 ok = 0, len, st;
        for (u16 i = 0; i < NQSZ; i++)
                rx_post(i, NBUF);
        for (u32 k = 0; k < count; k++) {
                hdr_clear(txbuf);
                build_frame(txbuf + VHDR, size, dst, k);
                u32 want = fnv1a32w(txbuf + VHDR + 12, size - 12);
                tx_frame(size);
                u8 *b = rx_next(&len, &st);
                if (!b) {
                        say("net-ping error k=%u status=0x%x", k, st);
                        break;
                }
                ok += len == size && fnv1a32w(b + VHDR + 12, len - 12) == want;
                rx_repost(b);
        }
        say("net-ping done count=%u ok=%u", count, ok);
}

/* ---- offloads ---------------------------------------------------------------------------- */

static u8 big[65536 + 4096] __attribute__((aligned(4096)));

/* Ethernet + IPv4 + TCP headers (54 bytes) for a TSO frame of payload bytes; checksums 0. */
static void tcp4_headers(u8 *f, u32 payload)
{
        static const u8 ip[20] = {0x45, 0, 0,   0,   0,  0, 0x40, 0,   64, 6,
                                  0,    0, 169, 254, 10, 2, 169,  254, 10, 1};
        static const u8 tcp[20] = {0x0f, 0xa0, 0x13, 0x88, 0,    0,    0, 1, 0, 0,
                                   0,    0,    0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0};
        u32 tot = 40 + payload;

        for (u32 i = 0; i < 6; i++) {
                f[i] = 0xff;
                f[6 + i] = mac[i];
        }
        f[12] = 0x08;
        f[13] = 0x00;
        for (u32 i = 0; i < 20; i++) {
                f[14 + i] = ip[i];
                f[34 + i] = tcp[i];
        }
        f[16] = (u8)(tot >> 8);
        f[17] = (u8)tot;
}

/* vnet header of a TCPv4 GSO frame: NEEDS_CSUM, TCPV4, hdr_len 54, gso_size 1448, csum 34+16. */
static void gso_header(u8 *h)
{
        hdr_clear(h);
        h[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        h[1] = VIRTIO_NET_HDR_GSO_TCPV4;
        *(u16 *)(h + 2) = 54;
        *(u16 *)(h + 4) = 1448;
        *(u16 *)(h + 6) = 34;
        *(u16 *)(h + 8) = 16;
}

/* Receives one frame spread over num_buffers RX buffers into big[]. Returns its length. */
static u32 rx_merged(u32 *bufs, u32 *gso, u32 *st)
{
        u32 len = 0, n = 1;

        for (u32 k = 0; k < n; k++) {
                *st = qwait(&rxq);
                u16 id = (u16)rxq.used_id;
                if (*st || id >= NQSZ || rxq.used_len > NBUF || len + rxq.used_len > sizeof(big))
                        return 0;
                if (k == 0) {
                        n = *(u16 *)(rxbufs[id] + 10);
                        *gso = rxbufs[id][1];
                }
                for (u32 i = 0; i < rxq.used_len; i++)
                        big[len + i] = rxbufs[id][i];
                len += rxq.used_len;
                rx_post(id, NBUF);
        }
        *bufs = n;
        return len;
}

/* One TSO frame each way: guest -> tap (HOST_TSO4), then tap -> guest (GUEST_TSO4). */
static void tso(u32 payload)
{
        u32 bufs = 0, gso = 0, st = 0;

        for (u16 i = 0; i < NQSZ; i++)
                rx_post(i, NBUF);
        gso_header(txbuf);
        tcp4_headers(txbuf + VHDR, payload);
        fill_words(txbuf + VHDR + 54, payload, 7);
        say("net-tso-tx len=%u sum=0x%08x status=0x%x", 54 + payload,
            fnv1a32w(txbuf + VHDR, 54 + payload), tx_frame(54 + payload));
        u32 len = rx_merged(&bufs, &gso, &st);
        if (!len) {
                say("net-tso-rx error status=0x%x", st);
                return;
        }
        say("net-tso-rx len=%u bufs=%u gso=%u sum=0x%08x", len - VHDR, bufs, gso,
            fnv1a32w(big + VHDR, len - VHDR));
}

/* ---- hostile ------------------------------------------------------------------------------- */

/* Breaks one rule; returns what the device did: 0 used entry, else the device status. */
static u32 hostile(const u8 *m, u64 n)
{
        u16 i = txq.avail_idx % NQSZ;
        static const u8 bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

        hdr_clear(txbuf);
        build_frame(txbuf + VHDR, 64, bcast, 0);
        if (cmd_same(m, n, "txoob")) {
                set_d(&txq, i, 0x400000000000ull, 100, 0, 0);
        } else if (cmd_same(m, n, "txloop")) {
                set_d(&txq, i, (u64)txbuf, 100, VRING_DESC_F_NEXT, i);
        } else if (cmd_same(m, n, "txbig")) { /* larger than any frame: malformed, dropped */
                set_d(&txq, i, (u64)txbuf, TXBUF_SIZE, 0, 0);
        } else if (cmd_same(m, n, "txshort")) { /* shorter than the vnet header */
                set_d(&txq, i, (u64)txbuf, 4, 0, 0);
        } else if (cmd_same(m, n, "txwrite")) { /* device-writable only: nothing to send */
                set_d(&txq, i, (u64)txbuf, 100, VRING_DESC_F_WRITE, 0);
        } else {
                /* RX modes: buffers the host's next frame cannot land in. */
                u32 len = NBUF;
                u16 fl = VRING_DESC_F_WRITE;
                u64 addr = 0;
                if (cmd_same(m, n, "rxtiny"))
                        len = 4;
                else if (cmd_same(m, n, "rxro"))
                        fl = 0;
                else if (cmd_same(m, n, "rxoob"))
                        addr = 0x400000000000ull;
                else if (cmd_same(m, n,
                                  "rxsmall")) /* without MRG_RXBUF: the big frame is dropped */
                        len = 128;
                else
                        return 0xdead;
                for (u16 k = 0; k < NQSZ; k++) {
                        set_d(&rxq, k, addr ? addr : (u64)rxbufs[k], len, fl, 0);
                        qsubmit(&rxq, k, 0);
                }
                say("net-hostile waiting");
                u32 st = qwait(&rxq);
                if (!st)
                        say("net-hostile rx len=%u", rxq.used_len - VHDR);
                return st;
        }
        qsubmit(&txq, i, 1);
        return qwait(&txq);
}

static void run_hostile(const u8 *m, u64 n, const u8 *cmd, u64 cn)
{
        u32 want = 1u << VIRTIO_NET_F_MAC;
        if (!cmd_same(m, n, "rxsmall"))
                want |= 1u << VIRTIO_NET_F_MRG_RXBUF;
        net_setup(want);
        u32 st = hostile(m, n);
        say_bytes("net-hostile-mode ", m, n);
        say("net-hostile result=0x%x devstatus=0x%x used_len=%u", st, nrd(VIRTIO_MMIO_STATUS),
            txq.used_len);
        /* A reset brings the device back: one good frame each way. */
        net_setup(want);
        static const u8 bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        send_frames(1, 60, bcast);
        (void)cmd;
        (void)cn;
        say("net-recovered devstatus=0x%x", nrd(VIRTIO_MMIO_STATUS));
}

/* ---- primitives for the metadata client (mmds.c) ------------------------------------------ */

int gnet_open(const u8 *cmd, u64 n, u8 *mac_out)
{
        nbase = cmd_find_virtio(cmd, n, VIRTIO_ID_NET);
        if (!nbase)
                return -1;
        net_setup((1u << VIRTIO_NET_F_MAC) | (1u << VIRTIO_NET_F_MRG_RXBUF));
        for (u16 i = 0; i < NQSZ; i++)
                rx_post(i, NBUF);
        for (u32 i = 0; i < 6; i++)
                mac_out[i] = mac[i];
        return 0;
}

u32 gnet_send(const u8 *frame, u32 len)
{
        if (len > NBUF - VHDR)
                return 0x40000;
        hdr_clear(txbuf);
        for (u32 i = 0; i < len; i++)
                txbuf[VHDR + i] = frame[i];
        return tx_frame(len);
}

const u8 *gnet_poll(u32 *len)
{
        volatile u16 *u = (volatile u16 *)(rxq.pg + 0x200);
        if (u[1] == rxq.last_used)
                return 0;
        mb();
        volatile u32 *e = (volatile u32 *)(rxq.pg + 0x204);
        u32 id = e[2 * (rxq.last_used % NQSZ)], ulen = e[2 * (rxq.last_used % NQSZ) + 1];
        rxq.last_used++;
        if (id >= NQSZ || ulen < VHDR || ulen > NBUF) {
                if (id < NQSZ)
                        rx_post((u16)id, NBUF);
                *len = 0;
                return 0;
        }
        *len = ulen - VHDR;
        return rxbufs[id] + VHDR;
}

void gnet_release(const u8 *frame)
{
        rx_repost(frame - VHDR);
}

/* Finds the device among the virtio_mmio.device= words; its base in nbase. */
static int find_net(const u8 *cmd, u64 n)
{
        nbase = cmd_find_virtio(cmd, n, VIRTIO_ID_NET);
        return nbase != 0;
}

void net_tests(const u8 *cmd, u64 n)
{
        u64 len;
        u8 dst[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

        if (!cmd_word(cmd, n, "brasa.net", &len))
                return;
        if (!find_net(cmd, n)) {
                say("net none");
                return;
        }
        const u8 *m = cmd_word(cmd, n, "brasa.net.hostile=", &len);
        if (m) {
                run_hostile(m, len, cmd, n);
                return;
        }
        u32 want = (1u << VIRTIO_NET_F_MAC) | (1u << VIRTIO_NET_F_MRG_RXBUF);
        u32 tso_payload = cmd_opt(cmd, n, "brasa.net.tso=", 0);
        if (tso_payload)
                want |= (1u << VIRTIO_NET_F_CSUM) | (1u << VIRTIO_NET_F_HOST_TSO4) |
                        (1u << VIRTIO_NET_F_GUEST_CSUM) | (1u << VIRTIO_NET_F_GUEST_TSO4);
        u32 st = net_setup(want);
        if (cmd_word(cmd, n, "brasa.net.spoof", &len))
                mac[5] ^= 1; /* send from a MAC that is not ours */
        say("net dev base=0x%lx features=0x%08x status=0x%x mac=%02x%02x%02x%02x%02x%02x", nbase,
            nfeat_lo, st, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
        const u8 *d = cmd_word(cmd, n, "brasa.net.dst=", &len);
        if (d && len == 12)
                for (u32 i = 0; i < 6; i++)
                        dst[i] = (u8)cmd_num(d + 2 * i, 2, 16);
        u32 size = cmd_opt(cmd, n, "brasa.net.size=", 1514);
        if (size < 64)
                size = 64;
        if (size > NBUF - VHDR)
                size = NBUF - VHDR;
        u32 count = cmd_opt(cmd, n, "brasa.net.send=", 0);
        if (count)
                send_frames(count, size, dst);
        count = cmd_opt(cmd, n, "brasa.net.echo=", 0);
        if (count)
                echo_frames(count);
        if (tso_payload)
                tso(tso_payload > 30000 ? 30000 : tso_payload);
        count = cmd_opt(cmd, n, "brasa.net.recv=", 0);
        if (count)
                recv_frames(count);
        count = cmd_opt(cmd, n, "brasa.net.ping=", 0);
        if (count)
                ping(count, size, dst);
}
