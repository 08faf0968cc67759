/* virtio-blk request framing and validation, independent of how the I/O is then done. */
#include "devices/virtio/block/request.h"

#include <errno.h>
#include <string.h>

#include "core/util.h"

#define BLK_HEADER_BYTES 16u

/* Copies the first len readable bytes of the chain (the header may span descriptors). */
static void gather(const struct virtq_chain *c, uint8_t *out, uint32_t len)
{
        unsigned int i;

        for (i = 0; i < c->nreadable && len; i++) {
                uint32_t n = c->segs[i].len < len ? c->segs[i].len : len;

                memcpy(out, c->segs[i].hva, n);
                out += n;
                len -= n;
        }
}

/* Builds iovecs over segs[from, to) after skipping skip bytes, covering len bytes. */
static void slice(const struct virtq_chain *c, unsigned int from, unsigned int to, uint64_t skip,
                  uint32_t len, struct blk_request *r)
{
        unsigned int i;

        r->niov = 0;
        r->data_len = len;
        for (i = from; i < to && len; i++) {
                const struct virtq_seg *s = &c->segs[i];
                uint32_t n;

                if (skip >= s->len) {
                        skip -= s->len;
                        continue;
                }
                n = s->len - (uint32_t)skip < len ? s->len - (uint32_t)skip : len;
                r->iov[r->niov].iov_base = s->hva + skip;
                r->iov[r->niov].iov_len = n;
                r->niov++;
                len -= n;
                skip = 0;
        }
}

static uint8_t check_range(const struct blk_request *r, uint64_t nsectors, uint64_t max_data)
{
        uint64_t end;

        /* Firecracker's data is one descriptor inside guest RAM: no request is larger. */
        if (r->data_len > max_data || r->data_len % BLK_SECTOR_SIZE)
                return VIRTIO_BLK_S_IOERR;
        if (__builtin_add_overflow(r->sector, (uint64_t)(r->data_len >> BLK_SECTOR_SHIFT), &end) ||
            end > nsectors)
                return VIRTIO_BLK_S_IOERR;
        return BLK_STATUS_NONE;
}

/* Decides the data buffers and whether the request can run, or its error status. */
static uint8_t judge(const struct virtq_chain *c, struct blk_request *r, uint32_t out_len,
                     uint32_t in_len, const struct blk_limits *lim)
{
        switch (r->type) {
        case VIRTIO_BLK_T_IN:
                if (out_len)
                        return VIRTIO_BLK_S_IOERR;
                slice(c, c->nreadable, c->nsegs, 0, in_len, r);
                return check_range(r, lim->nsectors, lim->max_data);
        case VIRTIO_BLK_T_OUT:
                if (in_len)
                        return VIRTIO_BLK_S_IOERR;
                slice(c, 0, c->nreadable, BLK_HEADER_BYTES, out_len, r);
                return lim->read_only ? VIRTIO_BLK_S_IOERR
                                      : check_range(r, lim->nsectors, lim->max_data);
        case VIRTIO_BLK_T_FLUSH:
                return BLK_STATUS_NONE;
        case VIRTIO_BLK_T_GET_ID:
                if (out_len || in_len < BLK_ID_BYTES)
                        return VIRTIO_BLK_S_IOERR;
                slice(c, c->nreadable, c->nsegs, 0, in_len, r);
                return BLK_STATUS_NONE;
        default:
                return VIRTIO_BLK_S_UNSUPP;
        }
}

int blk_request_parse(const struct virtq_chain *c, const struct blk_limits *lim,
                      struct blk_request *r, const char **why)
{
        const struct virtq_seg *last;
        uint8_t hdr[BLK_HEADER_BYTES];
        uint32_t out_len, in_len;

        if (c->readable_bytes < BLK_HEADER_BYTES) {
                *why = "block request has no 16-byte readable header";
                return -EPROTO;
        }
        if (c->writable_bytes < 1) {
                *why = "block request has no writable status byte";
                return -EPROTO;
        }
        gather(c, hdr, sizeof(hdr));
        r->type = (uint32_t)ld_le(hdr, 4);
        r->sector = ld_le(hdr + 8, 8);
        r->head = c->head;
        last = &c->segs[c->nsegs - 1]; /* writable: writable bytes come last */
        r->status = last->hva + last->len - 1;
        r->niov = 0;
        r->data_len = 0;
        /* The chain is capped at 4 GiB - 1 bytes in total, so these fit. */
        out_len = (uint32_t)(c->readable_bytes - BLK_HEADER_BYTES);
        in_len = (uint32_t)(c->writable_bytes - 1);

        r->result = judge(c, r, out_len, in_len, lim);
        return 0;
}

uint64_t blk_request_offset(const struct blk_request *r)
{
        return r->sector << BLK_SECTOR_SHIFT;
}

uint32_t blk_request_finish(uint8_t *status, uint8_t code, uint32_t to_guest)
{
        __atomic_store_n(status, code, __ATOMIC_RELAXED);
        return to_guest + 1;
}

uint32_t blk_request_fill(struct blk_request *r, const uint8_t *src, uint32_t len)
{
        uint32_t done = 0;
        unsigned int i;

        for (i = 0; i < r->niov && done < len; i++) {
                uint32_t n = (uint32_t)r->iov[i].iov_len;

                if (n > len - done)
                        n = len - done;
                memcpy(r->iov[i].iov_base, src + done, n);
                done += n;
        }
        return done;
}
