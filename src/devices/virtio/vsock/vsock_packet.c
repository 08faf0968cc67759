/* virtio-vsock packets: header codec and chain checks, every guest range already bounds-checked. */
#include "devices/virtio/vsock/vsock_packet.h"

#include <errno.h>
#include <string.h>

#include "core/util.h"

void vsock_hdr_decode(struct vsock_hdr *h, const uint8_t *b)
{
        h->src_cid = ld_le(b, 8);
        h->dst_cid = ld_le(b + 8, 8);
        h->src_port = ld_le32(b + 16);
        h->dst_port = ld_le32(b + 20);
        h->len = ld_le32(b + 24);
        h->type = (uint16_t)ld_le(b + 28, 2);
        h->op = (uint16_t)ld_le(b + 30, 2);
        h->flags = ld_le32(b + 32);
        h->buf_alloc = ld_le32(b + 36);
        h->fwd_cnt = ld_le32(b + 40);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t *b)
{
        st_le(b, h->src_cid, 8);
        st_le(b + 8, h->dst_cid, 8);
        st_le32(b + 16, h->src_port);
        st_le32(b + 20, h->dst_port);
        st_le32(b + 24, h->len);
        st_le(b + 28, h->type, 2);
        st_le(b + 30, h->op, 2);
        st_le32(b + 32, h->flags);
        st_le32(b + 36, h->buf_alloc);
        st_le32(b + 40, h->fwd_cnt);
}

/* Copies len bytes at offset off of the segments segs[0..n) into dst (the caller checked). */
static void segs_read(const struct virtq_seg *segs, unsigned int n, uint64_t off, uint8_t *dst,
                      uint32_t len)
{
        unsigned int i;

        for (i = 0; i < n && len > 0; i++) {
                uint32_t take;

                if (off >= segs[i].len) {
                        off -= segs[i].len;
                        continue;
                }
                take = segs[i].len - (uint32_t)off < len ? segs[i].len - (uint32_t)off : len;
                memcpy(dst, segs[i].hva + off, take);
                dst += take;
                len -= take;
                off = 0;
        }
}

/* Fills p->iov with len bytes of segs[0..n) from offset off (the caller checked the sizes). */
static void segs_iov(struct vsock_pkt *p, const struct virtq_seg *segs, unsigned int n,
                     uint64_t off, uint32_t len)
{
        unsigned int i;

        p->niov = 0;
        for (i = 0; i < n && len > 0; i++) {
                uint32_t take;

                if (off >= segs[i].len) {
                        off -= segs[i].len;
                        continue;
                }
                take = segs[i].len - (uint32_t)off < len ? segs[i].len - (uint32_t)off : len;
                p->iov[p->niov++] = (struct iovec){.iov_base = segs[i].hva + off, .iov_len = take};
                len -= take;
                off = 0;
        }
}

int vsock_pkt_tx_parse(struct vsock_pkt *p, const struct virtq_chain *c, const char **why)
{
        uint8_t raw[VSOCK_HDR_SIZE];
        uint64_t room;

        p->niov = 0;
        p->buf_size = 0;
        if (c->nreadable != c->nsegs)
                return *why = "TX packet with a device-writable buffer", -EINVAL;
        if (c->readable_bytes < VSOCK_HDR_SIZE)
                return *why = "TX chain too short for a packet header", -EINVAL;
        segs_read(c->segs, c->nsegs, 0, raw, VSOCK_HDR_SIZE);
        vsock_hdr_decode(&p->hdr, raw);
        room = c->readable_bytes - VSOCK_HDR_SIZE;
        if (p->hdr.len > VSOCK_MAX_PKT_BUF)
                return *why = "TX packet length above 64 KiB", -EINVAL;
        if (p->hdr.len > room)
                return *why = "TX chain too short for the packet length", -EINVAL;
        p->buf_size = room > UINT32_MAX ? UINT32_MAX : (uint32_t)room;
        segs_iov(p, c->segs, c->nsegs, VSOCK_HDR_SIZE, p->hdr.len);
        return 0;
}

int vsock_pkt_rx_parse(struct vsock_pkt *p, const struct virtq_chain *c, const char **why)
{
        uint64_t room;

        p->niov = 0;
        p->buf_size = 0;
        memset(&p->hdr, 0, sizeof(p->hdr));
        if (c->nreadable != 0)
                return *why = "RX packet with a device-readable buffer", -EINVAL;
        if (c->writable_bytes < VSOCK_HDR_SIZE)
                return *why = "RX chain too short for a packet header", -EINVAL;
        room = c->writable_bytes - VSOCK_HDR_SIZE;
        p->buf_size = room > VSOCK_MAX_PKT_BUF ? VSOCK_MAX_PKT_BUF : (uint32_t)room;
        segs_iov(p, c->segs, c->nsegs, VSOCK_HDR_SIZE, p->buf_size);
        return 0;
}

void vsock_pkt_commit_hdr(const struct vsock_pkt *p, const struct virtq_chain *c)
{
        uint8_t raw[VSOCK_HDR_SIZE];
        uint32_t off = 0;
        unsigned int i;

        vsock_hdr_encode(&p->hdr, raw);
        for (i = 0; i < c->nsegs && off < VSOCK_HDR_SIZE; i++) {
                uint32_t take = VSOCK_HDR_SIZE - off;

                if (take > c->segs[i].len)
                        take = c->segs[i].len;
                memcpy(c->segs[i].hva, raw + off, take);
                off += take;
        }
}

const char *vsock_op_name(uint16_t op)
{
        static const char *const names[] = {
            "", "REQUEST", "RESPONSE", "RST", "SHUTDOWN", "RW", "CREDIT_UPDATE", "CREDIT_REQUEST"};

        return op >= 1 && op <= 7 ? names[op] : "unknown";
}
