/* A tiny virtio "driver" for unit tests: writes descriptors and rings into test guest memory. */
#ifndef BRASA_TESTS_UNIT_VQ_DRIVER_H
#define BRASA_TESTS_UNIT_VQ_DRIVER_H

#include <stdint.h>
#include <string.h>

#include "core/guest_mem.h"

/* Layout used by the tests inside their guest memory. */
#define TD_DESC     0x1000ULL
#define TD_AVAIL    0x2000ULL
#define TD_USED     0x3000ULL
#define TD_INDIRECT 0x4000ULL
#define TD_DATA     0x10000ULL

struct tdrv {
        struct guest_mem *mem;
        uint64_t desc, avail, used;
        uint16_t size;
        uint16_t avail_idx;
};

static inline void td_w16(struct tdrv *t, uint64_t gpa, uint16_t v)
{
        guest_mem_write(t->mem, gpa, &v, sizeof(v));
}

static inline uint16_t td_r16(struct tdrv *t, uint64_t gpa)
{
        uint16_t v = 0;

        guest_mem_read(t->mem, gpa, &v, sizeof(v));
        return v;
}

static inline uint32_t td_r32(struct tdrv *t, uint64_t gpa)
{
        uint32_t v = 0;

        guest_mem_read(t->mem, gpa, &v, sizeof(v));
        return v;
}

static inline void td_init(struct tdrv *t, struct guest_mem *mem, uint16_t size)
{
        t->mem = mem;
        t->desc = TD_DESC;
        t->avail = TD_AVAIL;
        t->used = TD_USED;
        t->size = size;
        t->avail_idx = 0;
}

/* Writes descriptor i of the table at table_gpa. */
static inline void td_desc_at(struct tdrv *t, uint64_t table_gpa, uint16_t i, uint64_t addr,
                              uint32_t len, uint16_t flags, uint16_t next)
{
        uint8_t d[16];

        memcpy(d, &addr, 8);
        memcpy(d + 8, &len, 4);
        memcpy(d + 12, &flags, 2);
        memcpy(d + 14, &next, 2);
        guest_mem_write(t->mem, table_gpa + 16ULL * i, d, sizeof(d));
}

static inline void td_desc(struct tdrv *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                           uint16_t next)
{
        td_desc_at(t, t->desc, i, addr, len, flags, next);
}

/* Makes head available and bumps avail->idx. */
static inline void td_offer(struct tdrv *t, uint16_t head)
{
        td_w16(t, t->avail + 4 + 2ULL * (t->avail_idx % t->size), head);
        t->avail_idx++;
        td_w16(t, t->avail + 2, t->avail_idx);
}

static inline void td_set_avail_idx(struct tdrv *t, uint16_t idx)
{
        t->avail_idx = idx;
        td_w16(t, t->avail + 2, idx);
}

static inline void td_set_used_event(struct tdrv *t, uint16_t v)
{
        td_w16(t, t->avail + 4 + 2ULL * t->size, v);
}

static inline uint16_t td_avail_event(struct tdrv *t)
{
        return td_r16(t, t->used + 4 + 8ULL * t->size);
}

static inline uint16_t td_used_idx(struct tdrv *t)
{
        return td_r16(t, t->used + 2);
}

static inline void td_used_elem(struct tdrv *t, uint16_t i, uint32_t *id, uint32_t *len)
{
        uint64_t e = t->used + 4 + 8ULL * (i % t->size);

        *id = td_r32(t, e);
        *len = td_r32(t, e + 4);
}

#endif
