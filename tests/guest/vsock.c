/*
 * The test guest's virtio-vsock driver: a polled stream peer that listens and echoes
 * (host-initiated CONNECT), connects to a host port and checks an echo (guest-initiated),
 * keeps credit both ways, and plays the hostile driver when brasa.vsock.hostile= asks.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "guest.h"

#define VQSZ     16         /* RX and TX rings */
#define EQSZ     4          /* the event ring */
#define RXDATA   4096       /* data bytes of one RX buffer */
#define HDR      44         /* struct virtio_vsock_hdr */
#define GBUF     (16 << 10) /* our buf_alloc: far less than the transfers */
#define IDLE     60000000u  /* polls without progress before giving up */
#define HOST_CID 2
#define MAXC     64 /* connections the echo server keeps data state for */

enum {
        OP_REQUEST = 1,
        OP_RESPONSE,
        OP_RST,
        OP_SHUTDOWN,
        OP_RW,
        OP_CREDIT_UPDATE,
        OP_CREDIT_REQUEST
};

struct vdesc {
        u64 addr;
        u32 len;
        u16 flags;
        u16 next;
};

struct hdr {
        u64 src_cid, dst_cid;
        u32 src_port, dst_port, len;
        u16 type, op;
        u32 flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct vq {
        u8 *pg; /* desc at 0, avail at 0x100, used at 0x200 */
        u16 size, avail_idx, last_used;
};

/* One stream as the guest keeps it. */
struct conn {
        u32 lport, pport; /* ours, the host's */
        int live;
        u32 fwd_cnt, last_fwd_sent; /* bytes we consumed, and as last told */
        u32 peer_buf_alloc, peer_fwd_cnt, tx_cnt;
        u8 pend[GBUF]; /* echo: bytes received and not sent back yet */
        u32 ph, pt;
        u64 rx_bytes, tx_bytes;
        u32 rx_hash;
        int bad; /* connect mode: a received byte differed from the pattern */
        int shut, rst;
};

static u64 vbase;
static u64 guest_cid;
static struct vq rxq, txq, evq;
static u8 qpages[3][4096] __attribute__((aligned(4096)));
static u8 rxbufs[VQSZ][HDR + RXDATA] __attribute__((aligned(64)));
static u8 txbufs[VQSZ][HDR + RXDATA] __attribute__((aligned(64)));
static u8 evbufs[EQSZ][8];
static struct conn conns[MAXC];
static u32 stat_rst, stat_req, stat_resp, stat_credit_req, stat_credit_upd, stat_shut;
static u32 rx_pause; /* hostile: stop giving RX buffers back */

static u32 vrd(u32 off)
{
        return *(volatile u32 *)(vbase + off);
}

static void vwr(u32 off, u32 v)
{
        *(volatile u32 *)(vbase + off) = v;
}

static void mb(void)
{
        __asm__ volatile("mfence" ::: "memory");
}

/* ---- command line ------------------------------------------------------------------------ */

static int find_vsock(const u8 *cmd, u64 n)
{
        vbase = cmd_find_virtio(cmd, n, VIRTIO_ID_VSOCK);
        return vbase != 0;
}

/* ---- rings ------------------------------------------------------------------------------- */

static volatile struct vdesc *qdesc(struct vq *q)
{
        return (volatile struct vdesc *)q->pg;
}

static void q_setup(struct vq *q, u32 sel, u8 *pg, u16 size)
{
        u32 *w = (u32 *)pg;
        for (u32 i = 0; i < 1024; i++)
                w[i] = 0;
        q->pg = pg;
        q->size = size;
        q->avail_idx = q->last_used = 0;
        u64 d = (u64)pg, a = d + 0x100, u = d + 0x200;
        vwr(VIRTIO_MMIO_QUEUE_SEL, sel);
        vwr(VIRTIO_MMIO_QUEUE_NUM, size);
        vwr(VIRTIO_MMIO_QUEUE_DESC_LOW, (u32)d);
        vwr(VIRTIO_MMIO_QUEUE_DESC_HIGH, (u32)(d >> 32));
        vwr(VIRTIO_MMIO_QUEUE_AVAIL_LOW, (u32)a);
        vwr(VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (u32)(a >> 32));
        vwr(VIRTIO_MMIO_QUEUE_USED_LOW, (u32)u);
        vwr(VIRTIO_MMIO_QUEUE_USED_HIGH, (u32)(u >> 32));
        vwr(VIRTIO_MMIO_QUEUE_READY, 1);
}

static void q_add(struct vq *q, u16 head)
{
        volatile u16 *a = (volatile u16 *)(q->pg + 0x100);
        a[2 + q->avail_idx % q->size] = head;
        mb();
        q->avail_idx++;
        a[1] = q->avail_idx;
        mb();
}

static void q_kick(struct vq *q, u32 sel)
{
        (void)q;
        vwr(VIRTIO_MMIO_QUEUE_NOTIFY, sel);
}

/* The next used entry's id and length: 1, or 0 when none. */
static int q_used(struct vq *q, u32 *id, u32 *len)
{
        volatile u16 *u = (volatile u16 *)(q->pg + 0x200);
        if (u[1] == q->last_used)
                return 0;
        mb();
        volatile u32 *e = (volatile u32 *)(q->pg + 0x204);
        *id = e[2 * (q->last_used % q->size)];
        *len = e[2 * (q->last_used % q->size) + 1];
        q->last_used++;
        return 1;
}

static void rx_post(u16 i)
{
        volatile struct vdesc *d = qdesc(&rxq);
        d[i].addr = (u64)rxbufs[i];
        d[i].len = HDR + RXDATA;
        d[i].flags = VRING_DESC_F_WRITE;
        d[i].next = 0;
        q_add(&rxq, i);
}

/* virtio 1.x init with three queues. Returns the status. */
static u32 vsock_setup(void)
{
        vwr(VIRTIO_MMIO_STATUS, 0);
        vwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
        vwr(VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        vwr(VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1 */
        vwr(VIRTIO_MMIO_STATUS, 0xb);
        q_setup(&rxq, 0, qpages[0], VQSZ);
        q_setup(&txq, 1, qpages[1], VQSZ);
        q_setup(&evq, 2, qpages[2], EQSZ);
        vwr(VIRTIO_MMIO_STATUS, 0xf);
        for (u16 i = 0; i < VQSZ; i++)
                rx_post(i);
        for (u16 i = 0; i < EQSZ; i++) {
                volatile struct vdesc *d = qdesc(&evq);
                d[i].addr = (u64)evbufs[i];
                d[i].len = 8;
                d[i].flags = VRING_DESC_F_WRITE;
                q_add(&evq, i);
        }
        q_kick(&rxq, 0);
        q_kick(&evq, 2);
        for (u32 i = 0; i < MAXC; i++)
                conns[i].live = 0;
        return vrd(VIRTIO_MMIO_STATUS);
}

/* ---- sending ------------------------------------------------------------------------------ */

static u16 tx_slot;

/* Sends one chain of len bytes from txbufs[slot] (as one descriptor) and waits for it. */
static int tx_send_raw(u16 slot, u32 len, u16 flags)
{
        volatile struct vdesc *d = qdesc(&txq);
        u32 id, ulen;

        d[slot].addr = (u64)txbufs[slot];
        d[slot].len = len;
        d[slot].flags = flags;
        d[slot].next = 0;
        q_add(&txq, slot);
        q_kick(&txq, 1);
        for (u32 i = 0; i < IDLE; i++) {
                if (q_used(&txq, &id, &ulen))
                        return 0;
                if ((i & 63) == 63 && (vrd(VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET))
                        return -1;
                __asm__ volatile("pause");
        }
        return -2;
}

static struct hdr *tx_hdr(void)
{
        tx_slot = (u16)((tx_slot + 1) % VQSZ);
        struct hdr *h = (struct hdr *)txbufs[tx_slot];
        u8 *b = (u8 *)h;
        for (u32 i = 0; i < HDR; i++)
                b[i] = 0;
        h->src_cid = guest_cid;
        h->dst_cid = HOST_CID;
        h->type = 1;
        return h;
}

/* A packet of c with op, flags and len data bytes (already in place after the header). */
static int send_op(struct conn *c, u16 op, u32 flags, u32 len)
{
        struct hdr *h = (struct hdr *)txbufs[tx_slot];
        h->src_port = c->lport;
        h->dst_port = c->pport;
        h->op = op;
        h->flags = flags;
        h->len = len;
        h->buf_alloc = GBUF;
        h->fwd_cnt = c->fwd_cnt;
        c->last_fwd_sent = c->fwd_cnt;
        return tx_send_raw(tx_slot, HDR + len, 0);
}

static int send_ctl(struct conn *c, u16 op, u32 flags)
{
        tx_hdr();
        return send_op(c, op, flags, 0);
}

static u32 peer_credit(const struct conn *c)
{
        return c->peer_buf_alloc - (c->tx_cnt - c->peer_fwd_cnt);
}

/* Sends up to len bytes of src as one RW within the host's credit; returns bytes sent. */
static u32 send_data(struct conn *c, const u8 *src, u32 len)
{
        u32 cr = peer_credit(c);
        if (len > cr)
                len = cr;
        if (len > RXDATA)
                len = RXDATA;
        if (len == 0)
                return 0;
        struct hdr *h = tx_hdr();
        u8 *data = (u8 *)h + HDR;
        for (u32 i = 0; i < len; i++)
                data[i] = src[i];
        if (send_op(c, OP_RW, 0, len))
                return 0;
        c->tx_cnt += len;
        c->tx_bytes += len;
        return len;
}

/* ---- receiving ----------------------------------------------------------------------------- */

static struct conn *conn_find(u32 lport, u32 pport)
{
        for (u32 i = 0; i < MAXC; i++)
                if (conns[i].live && conns[i].lport == lport && conns[i].pport == pport)
                        return &conns[i];
        return 0;
}

static struct conn *conn_new(u32 lport, u32 pport)
{
        for (u32 i = 0; i < MAXC; i++) {
                struct conn *c = &conns[i];
                if (c->live)
                        continue;
                u8 *b = (u8 *)c;
                for (u64 k = 0; k < sizeof(*c); k++)
                        b[k] = 0;
                c->live = 1;
                c->lport = lport;
                c->pport = pport;
                c->rx_hash = 2166136261u;
                return c;
        }
        return 0;
}

static struct conn scratch;

/* A stand-in for a connection we keep no state for: ports swapped from h, nothing consumed. */
static struct conn *tmp_conn(const struct hdr *h)
{
        scratch.lport = h->dst_port;
        scratch.pport = h->src_port;
        scratch.fwd_cnt = 0;
        return &scratch;
}

typedef void (*rw_fn)(struct conn *c, const u8 *data, u32 len);

static u32 listen_port, accepted, refused_full;

/* One packet from the host: counts, credit, state; data goes to on_rw. */
static void handle_pkt(const struct hdr *h, const u8 *data, rw_fn on_rw)
{
        struct conn *c = conn_find(h->dst_port, h->src_port);

        if (h->op == OP_RST)
                stat_rst++;
        if (h->op == OP_RESPONSE)
                stat_resp++;
        if (h->op == OP_REQUEST) {
                stat_req++;
                if (listen_port && h->dst_port == listen_port && !c) {
                        c = conn_new(h->dst_port, h->src_port);
                        accepted++;
                        send_ctl(c ? c : tmp_conn(h), OP_RESPONSE, 0);
                        refused_full += !c;
                } else if (!c) {
                        send_ctl(tmp_conn(h), OP_RST, 0);
                }
        }
        if (!c)
                return;
        c->peer_buf_alloc = h->buf_alloc;
        c->peer_fwd_cnt = h->fwd_cnt;
        if (h->op == OP_RST)
                c->rst = 1;
        if (h->op == OP_SHUTDOWN) {
                stat_shut++;
                c->shut = 1;
        }
        if (h->op == OP_CREDIT_UPDATE)
                stat_credit_upd++;
        if (h->op == OP_CREDIT_REQUEST) {
                stat_credit_req++;
                send_ctl(c, OP_CREDIT_UPDATE, 0);
        }
        if (h->op == OP_RW && h->len <= RXDATA) {
                c->rx_bytes += h->len;
                c->rx_hash = fnv1a32w(data, h->len) ^ (c->rx_hash * 16777619u);
                if (on_rw)
                        on_rw(c, data, h->len);
        }
}

/* Handles every RX packet the device has used; returns how many. */
static u32 rx_poll(rw_fn on_rw)
{
        u32 id, len, n = 0;

        if (rx_pause)
                return 0;
        while (q_used(&rxq, &id, &len)) {
                n++;
                if (id < VQSZ && len >= HDR) {
                        const struct hdr *h = (const struct hdr *)rxbufs[id];
                        handle_pkt(h, rxbufs[id] + HDR, on_rw);
                }
                if (id < VQSZ)
                        rx_post((u16)id);
        }
        if (n)
                q_kick(&rxq, 0);
        return n;
}

/* ---- echo: listen on a port, send back whatever comes ------------------------------------- */

static void echo_rw(struct conn *c, const u8 *data, u32 len)
{
        for (u32 i = 0; i < len && c->ph - c->pt < GBUF; i++)
                c->pend[c->ph++ % GBUF] = data[i];
}

/* Sends back what is pending within credit; returns bytes sent. */
static u32 echo_flush(struct conn *c)
{
        u32 total = 0;
        while (c->ph != c->pt) {
                u32 off = c->pt % GBUF, run = GBUF - off;
                if (run > c->ph - c->pt)
                        run = c->ph - c->pt;
                c->fwd_cnt += 0; /* consumed once sent */
                u32 n = send_data(c, c->pend + off, run);
                if (n == 0)
                        break;
                c->pt += n;
                c->fwd_cnt += n;
                total += n;
        }
        return total;
}

static void echo_report(struct conn *c)
{
        say("vsock-echo port=%u peer=%u rx=%lu tx=%lu hash=0x%x rst=%u", c->lport, c->pport,
            c->rx_bytes, c->tx_bytes, c->rx_hash, c->rst);
}

/* Serves connections on port until `count` have ended (or nothing happens for a while). */
static void run_listen(u32 port, u32 count)
{
        u32 ended = 0, idle = 0;

        listen_port = port;
        say("vsock-listening port=%u", port);
        while (ended < count && idle < IDLE) {
                u32 progress = rx_poll(echo_rw);
                for (u32 i = 0; i < MAXC; i++) {
                        struct conn *c = &conns[i];
                        if (!c->live)
                                continue;
                        progress += echo_flush(c);
                        if (c->shut && !c->rst) {
                                /* the host closed: answer RST, as Linux does */
                                send_ctl(c, OP_RST, 0);
                                c->rst = 2;
                        }
                        if (c->rst) {
                                echo_report(c);
                                c->live = 0;
                                ended++;
                                progress++;
                        }
                }
                idle = progress ? 0 : idle + 1;
        }
        for (u32 i = 0; i < MAXC; i++)
                if (conns[i].live)
                        say("vsock-stuck port=%u peer=%u pend=%u tx_cnt=%u peer_fwd=%u peer_buf=%u "
                            "fwd=%u rx=%lu",
                            conns[i].lport, conns[i].pport, conns[i].ph - conns[i].pt,
                            conns[i].tx_cnt, conns[i].peer_fwd_cnt, conns[i].peer_buf_alloc,
                            conns[i].fwd_cnt, conns[i].rx_bytes);
        say("vsock-listen-done accepted=%u ended=%u untracked=%u requests=%u", accepted, ended,
            refused_full, stat_req);
}

/* ---- connect: to a host port, send a pattern, check it comes back ------------------------- */

static u8 pat(u64 i)
{
        return (u8)(i * 7 + (i >> 8) * 13 + 1);
}

static void check_rw(struct conn *c, const u8 *data, u32 len)
{
        u64 base = c->rx_bytes - len;
        for (u32 i = 0; i < len; i++)
                if (data[i] != pat(base + i))
                        c->bad = 1;
        c->fwd_cnt += len; /* consumed at once */
}

static u8 chunk[RXDATA];

static void run_connect(u32 port, u32 size)
{
        struct conn *c = conn_new(5000 + port % 1000, port);
        u32 idle = 0;

        send_ctl(c, OP_REQUEST, 0);
        while (!stat_resp && !c->rst && idle++ < IDLE)
                rx_poll(check_rw);
        if (!stat_resp) {
                say("vsock-connect port=%u refused=1 rst=%u", port, c->rst);
                return;
        }
        idle = 0;
        int asked = 0;
        while ((c->tx_bytes < size || c->rx_bytes < size) && !c->rst && idle < IDLE) {
                u32 progress = rx_poll(check_rw);
                if (c->tx_bytes < size) {
                        u32 n = size - (u32)c->tx_bytes < RXDATA ? size - (u32)c->tx_bytes : RXDATA;
                        for (u32 i = 0; i < n; i++)
                                chunk[i] = pat(c->tx_bytes + i);
                        u32 sent = send_data(c, chunk, n);
                        progress += sent;
                        if (!sent && !asked) {
                                send_ctl(c, OP_CREDIT_REQUEST, 0);
                                asked = 1;
                        }
                        if (sent)
                                asked = 0;
                }
                if (c->fwd_cnt - c->last_fwd_sent >= GBUF / 2)
                        send_ctl(c, OP_CREDIT_UPDATE, 0);
                idle = progress ? 0 : idle + 1;
        }
        send_ctl(c, OP_SHUTDOWN, 3);
        for (idle = 0; !c->rst && idle < IDLE; idle++)
                rx_poll(check_rw);
        say("vsock-connect port=%u refused=0 tx=%lu rx=%lu match=%u rst=%u credit_req=%u "
            "credit_upd=%u",
            port, c->tx_bytes, c->rx_bytes, !c->bad && c->rx_bytes == size, c->rst, stat_credit_req,
            stat_credit_upd);
}

/* ---- hostile ------------------------------------------------------------------------------- */

/* A TX chain of one descriptor with header h and len bytes; flags as given. */
static int raw_pkt(u16 op, u16 type, u64 dst_cid, u32 sport, u32 dport, u32 len, u32 chain_len,
                   u16 dflags)
{
        struct hdr *h = tx_hdr();
        h->op = op;
        h->type = type;
        h->dst_cid = dst_cid;
        h->src_port = sport;
        h->dst_port = dport;
        h->len = len;
        h->buf_alloc = GBUF;
        return tx_send_raw(tx_slot, chain_len, dflags);
}

static u64 rdtsc(void)
{
        u32 lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        return (u64)hi << 32 | lo;
}

/* Drains RX for `cycles` TSC cycles (a polling loop's speed varies too much under load);
 * returns the RSTs seen. */
static u32 drain(u64 cycles)
{
        u32 before = stat_rst;
        u64 end = rdtsc() + cycles;
        while (rdtsc() < end)
                rx_poll(0);
        return stat_rst - before;
}

static void hostile(const u8 *m, u64 n, u32 port, u32 count)
{
        int st = 0;
        u32 rsts = 0;

        if (cmd_same(m, n, "badop")) { /* unknown op, wrong type, wrong CID, RW with no conn */
                st |= raw_pkt(99, 1, HOST_CID, 7000, 7001, 0, HDR, 0);
                st |= raw_pkt(OP_REQUEST, 2, HOST_CID, 7002, 7003, 0, HDR, 0);
                st |= raw_pkt(OP_REQUEST, 1, 77, 7004, 7005, 0, HDR, 0);
                st |= raw_pkt(OP_RW, 1, HOST_CID, 7006, 7007, 4, HDR + 4, 0);
                rsts = drain(1ull << 31);
        } else if (cmd_same(m, n, "biglen")) { /* len past 64 KiB, past the chain, short header */
                st |= raw_pkt(OP_RW, 1, HOST_CID, 7000, 7001, 0x100000, HDR + 64, 0);
                st |= raw_pkt(OP_RW, 1, HOST_CID, 7000, 7001, 4000, HDR + 64, 0);
                st |= raw_pkt(OP_REQUEST, 1, HOST_CID, 7000, 7001, 0, 20, 0);
                st |= raw_pkt(OP_REQUEST, 1, HOST_CID, 7000, 7001, 0, HDR, VRING_DESC_F_WRITE);
                rsts = drain(1ull << 31);
        } else if (cmd_same(m, n, "flood")) { /* 3000 REQUESTs, RX not read meanwhile */
                rx_pause = 1;
                for (u32 i = 0; i < 3000; i++)
                        st |=
                            raw_pkt(OP_REQUEST, 1, HOST_CID, 10000 + i, port + (i & 1), 0, HDR, 0);
                rx_pause = 0;
                rsts = drain(1ull << 32);
        } else if (cmd_same(m, n, "limit")) { /* 1100 REQUESTs, RX read as they are answered */
                u32 resp0 = stat_resp, rst0 = stat_rst;
                for (u32 i = 0; i < count; i++) {
                        st |= raw_pkt(OP_REQUEST, 1, HOST_CID, 20000 + i, port, 0, HDR, 0);
                        rx_poll(0);
                }
                drain(1ull << 32);
                rsts = stat_rst - rst0;
                say("vsock-limit responses=%u rsts=%u", stat_resp - resp0, rsts);
        } else if (cmd_same(m, n, "creditlie")) { /* connect, claim huge credit, never read */
                struct conn *c = conn_new(6000, port);
                send_ctl(c, OP_REQUEST, 0);
                for (u64 end = rdtsc() + (1ull << 32); rdtsc() < end && !stat_resp;)
                        rx_poll(0);
                struct hdr *h = tx_hdr();
                h->src_port = c->lport;
                h->dst_port = c->pport;
                h->op = OP_CREDIT_UPDATE;
                h->buf_alloc = 0xffffffffu;
                h->fwd_cnt = 0x80000000u;
                st |= tx_send_raw(tx_slot, HDR, 0);
                rx_pause = 1; /* RX buffers are never given back */
                drain(1ull << 32);
                rx_pause = 0;
                rsts = drain(1ull << 30);
        } else {
                st = 0xdead;
        }
        say_bytes("vsock-hostile-mode ", m, n);
        say("vsock-hostile status=0x%x rsts=%u devstatus=0x%x", st, rsts, vrd(VIRTIO_MMIO_STATUS));
}

/* ---- snapshots: the TRANSPORT_RESET event, then serving again ---------------------------- */

/*
 * Waits (for minutes: the VM is snapshotted and loaded meanwhile) for an event on the event
 * queue, reports it and the CID read again, optionally holds hold_cycles TSC cycles first
 * (counting what reaches RX meanwhile), gives the buffer back (the acknowledgement), forgets
 * every connection as the reset asks, and serves `conns` host connections on port.
 */
static void run_snapwait(u32 port, u32 conns_n, u64 hold_cycles)
{
        u32 id = 0, len = 0;
        int got = 0;

        say("vsock-awaiting-reset");
        for (u64 end = rdtsc() + (1ull << 40); rdtsc() < end && !got;) {
                got = q_used(&evq, &id, &len);
                __asm__ volatile("pause");
        }
        if (!got) {
                say("vsock-reset-event none");
                return;
        }
        u32 ev = id < EQSZ ? *(volatile u32 *)evbufs[id] : 0xffffffffu;
        guest_cid = *(volatile u64 *)(vbase + VIRTIO_MMIO_CONFIG);
        say("vsock-reset-event id=%u event=%u len=%u cid=%lu", id, ev, len, guest_cid);
        if (hold_cycles) { /* before acknowledging: nothing may arrive on RX meanwhile */
                volatile u16 *used_idx = (volatile u16 *)(rxq.pg + 0x200 + 2);
                u16 seen = rxq.last_used;
                say("vsock-holding");
                for (u64 end = rdtsc() + hold_cycles; rdtsc() < end;)
                        __asm__ volatile("pause");
                say("vsock-held rx=%u", (u16)(used_idx[0] - seen));
        }
        if (id < EQSZ) {
                q_add(&evq, (u16)id);
                q_kick(&evq, 2);
        }
        for (u32 i = 0; i < MAXC; i++)
                conns[i].live = 0;
        run_listen(port, conns_n);
}

void vsock_tests(const u8 *cmd, u64 n)
{
        u64 len;

        if (!cmd_word(cmd, n, "brasa.vsock", &len))
                return;
        if (!find_vsock(cmd, n)) {
                say("vsock none");
                return;
        }
        vwr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        u32 lo = vrd(VIRTIO_MMIO_DEVICE_FEATURES);
        vwr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        u32 hi = vrd(VIRTIO_MMIO_DEVICE_FEATURES);
        u32 qmax[3];
        for (u32 q = 0; q < 3; q++) {
                vwr(VIRTIO_MMIO_QUEUE_SEL, q);
                qmax[q] = vrd(VIRTIO_MMIO_QUEUE_NUM_MAX);
        }
        guest_cid = *(volatile u64 *)(vbase + VIRTIO_MMIO_CONFIG);
        u32 cid_hi = *(volatile u32 *)(vbase + VIRTIO_MMIO_CONFIG + 4);
        u32 st = vsock_setup();
        say("vsock dev base=0x%lx features_lo=0x%x features_hi=0x%x qmax=%u,%u,%u cid=%lu "
            "cid_hi=%u status=0x%x",
            vbase, lo, hi, qmax[0], qmax[1], qmax[2], guest_cid, cid_hi, st);
        u32 port = cmd_opt(cmd, n, "brasa.vsock.port=", 1234);
        const u8 *m = cmd_word(cmd, n, "brasa.vsock.hostile=", &len);
        if (m) {
                hostile(m, len, port, cmd_opt(cmd, n, "brasa.vsock.count=", 1100));
                vsock_setup(); /* a reset ends everything; the device serves again after */
        }
        const u8 *mode = cmd_word(cmd, n, "brasa.vsock=", &len);
        if (mode && cmd_same(mode, len, "listen"))
                run_listen(port, cmd_opt(cmd, n, "brasa.vsock.conns=", 1));
        else if (mode && cmd_same(mode, len, "snapwait"))
                run_snapwait(port, cmd_opt(cmd, n, "brasa.vsock.conns=", 1),
                             (u64)cmd_opt(cmd, n, "brasa.vsock.hold=", 0) << 20);
        else if (mode && cmd_same(mode, len, "connect"))
                run_connect(port, cmd_opt(cmd, n, "brasa.vsock.size=", 4096));
}
