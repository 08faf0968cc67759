/* The snapshot state file container: writing sections, and the pure, checked parser. */
#include "core/statefile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CRC64_XZ_POLY 0xC96C5795D7870F42ull

uint64_t statefile_crc64(uint64_t crc, const void *data, size_t len)
{
        const uint8_t *p = data;
        size_t i;
        int b;

        crc = ~crc;
        for (i = 0; i < len; i++) {
                crc ^= p[i];
                for (b = 0; b < 8; b++)
                        crc = (crc >> 1) ^ (CRC64_XZ_POLY & (0 - (crc & 1)));
        }
        return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, unsigned int bytes)
{
        unsigned int i;

        for (i = 0; i < bytes; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned int bytes)
{
        uint64_t v = 0;
        unsigned int i;

        for (i = 0; i < bytes; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

void statefile_writer_init(struct statefile_writer *w)
{
        memset(w, 0, sizeof(*w));
}

/* Room for n more bytes; sets w->rc on failure. */
static uint8_t *writer_grow(struct statefile_writer *w, size_t n)
{
        size_t cap = w->cap ? w->cap : 4096;
        uint8_t *nb;

        if (w->rc)
                return NULL;
        if (n > STATEFILE_MAX_SIZE || w->len + n > STATEFILE_MAX_SIZE) {
                w->rc = -EFBIG;
                return NULL;
        }
        while (cap < w->len + n)
                cap *= 2;
        if (cap != w->cap) {
                nb = realloc(w->buf, cap);
                if (!nb) {
                        w->rc = -ENOMEM;
                        return NULL;
                }
                w->buf = nb;
                w->cap = cap;
        }
        nb = w->buf + w->len;
        w->len += n;
        return nb;
}

void statefile_add(struct statefile_writer *w, uint32_t tag, uint32_t instance, const void *data,
                   size_t len)
{
        size_t padded = (len + 7) & ~(size_t)7;
        uint8_t *p;

        if (!w->len && !writer_grow(w, STATEFILE_HDR_SIZE))
                return;
        p = writer_grow(w, STATEFILE_SEC_HDR + padded);
        if (!p)
                return;
        put_le(p, tag, 4);
        put_le(p + 4, instance, 4);
        put_le(p + 8, len, 8);
        memcpy(p + STATEFILE_SEC_HDR, data, len);
        memset(p + STATEFILE_SEC_HDR + len, 0, padded - len);
}

int statefile_finish(struct statefile_writer *w, const uint8_t **out, size_t *out_len)
{
        uint8_t *p;

        if (!w->len && !writer_grow(w, STATEFILE_HDR_SIZE))
                return w->rc;
        if (w->rc)
                return w->rc;
        memcpy(w->buf, STATEFILE_MAGIC, 8);
        put_le(w->buf + 8, STATEFILE_VERSION, 4);
        put_le(w->buf + 12, STATEFILE_ARCH_X86_64, 4);
        put_le(w->buf + 16, w->len - STATEFILE_HDR_SIZE, 8);
        p = writer_grow(w, 8);
        if (!p)
                return w->rc;
        put_le(p, statefile_crc64(0, w->buf, w->len - 8), 8);
        *out = w->buf;
        *out_len = w->len;
        return 0;
}

void statefile_writer_free(struct statefile_writer *w)
{
        free(w->buf);
        memset(w, 0, sizeof(*w));
}

/* Indexes the sections of a payload whose CRC already matched. */
static int parse_sections(const uint8_t *p, uint64_t len, struct statefile *sf, struct err *e)
{
        uint64_t off = 0, slen, padded;

        sf->nr = 0;
        while (off < len) {
                if (len - off < STATEFILE_SEC_HDR)
                        return err_set(e, -EINVAL, "section header at offset %llu is truncated",
                                       (unsigned long long)off);
                slen = get_le(p + off + 8, 8);
                padded = (slen + 7) & ~7ull;
                if (slen > len || padded > len - off - STATEFILE_SEC_HDR)
                        return err_set(e, -EINVAL, "section at offset %llu runs past the end",
                                       (unsigned long long)off);
                if (sf->nr == STATEFILE_MAX_SECTS)
                        return err_set(e, -EINVAL, "more than %u sections", STATEFILE_MAX_SECTS);
                sf->sect[sf->nr++] = (struct statefile_section){
                    .tag = (uint32_t)get_le(p + off, 4),
                    .instance = (uint32_t)get_le(p + off + 4, 4),
                    .data = p + off + STATEFILE_SEC_HDR,
                    .len = slen,
                };
                off += STATEFILE_SEC_HDR + padded;
        }
        return 0;
}

int statefile_parse(const uint8_t *buf, size_t len, struct statefile *sf, struct err *e)
{
        uint64_t payload;

        if (len < STATEFILE_HDR_SIZE + 8)
                return err_set(e, -EINVAL, "the file is too short (%zu bytes)", len);
        if (memcmp(buf, STATEFILE_MAGIC, 8))
                return err_set(e, -EINVAL, "not a brasa snapshot state file (bad magic)");
        if (statefile_crc64(0, buf, len - 8) != get_le(buf + len - 8, 8))
                return err_set(e, -EINVAL, "CRC64 mismatch: the file is corrupt or truncated");
        sf->version = (uint32_t)get_le(buf + 8, 4);
        sf->arch = (uint32_t)get_le(buf + 12, 4);
        if (sf->version != STATEFILE_VERSION)
                return err_set(e, -EINVAL, "unsupported state file version %u (brasa reads %u)",
                               sf->version, STATEFILE_VERSION);
        if (sf->arch != STATEFILE_ARCH_X86_64)
                return err_set(e, -EINVAL, "state file for another architecture (%u)", sf->arch);
        payload = get_le(buf + 16, 8);
        if (payload != len - STATEFILE_HDR_SIZE - 8)
                return err_set(e, -EINVAL, "payload length %llu does not match the file size",
                               (unsigned long long)payload);
        return parse_sections(buf + STATEFILE_HDR_SIZE, payload, sf, e);
}

const struct statefile_section *statefile_find(const struct statefile *sf, uint32_t tag,
                                               uint32_t instance)
{
        unsigned int i;

        for (i = 0; i < sf->nr; i++)
                if (sf->sect[i].tag == tag && sf->sect[i].instance == instance)
                        return &sf->sect[i];
        return NULL;
}
