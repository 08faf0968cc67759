/* Split virtqueue: ring validation at activation, the bounded chain walker, used ring, EVENT_IDX.
 */
#include "devices/virtio/queue.h"

#include <errno.h>
#include <linux/virtio_ring.h>
#include <string.h>

#define DESC_SIZE         16u
#define RING_HDR          4u /* flags + idx */
#define USED_ELEM_SIZE    8u
#define MAX_CHAIN_BYTES   0xffffffffULL
#define INDIRECT_MAX_DESC VIRTQ_MAX_CHAIN

/* A descriptor as the guest wrote it, copied once so later guest writes cannot change it. */
struct desc {
        uint64_t addr;
        uint32_t len;
        uint16_t flags;
        uint16_t next;
};

/* Ring fields are shared with a running guest: single, untorn loads and stores. */
static uint16_t ld16(const uint8_t *p)
{
        return __atomic_load_n((const uint16_t *)(const void *)p, __ATOMIC_RELAXED);
}

static void st16(uint8_t *p, uint16_t v)
{
        __atomic_store_n((uint16_t *)(void *)p, v, __ATOMIC_RELAXED);
}

static void st32(uint8_t *p, uint32_t v)
{
        __atomic_store_n((uint32_t *)(void *)p, v, __ATOMIC_RELAXED);
}

void virtq_init(struct virtq *q, uint16_t max_size)
{
        memset(q, 0, sizeof(*q));
        q->max_size = max_size;
        q->size = max_size;
}

void virtq_reset(struct virtq *q)
{
        virtq_init(q, q->max_size);
}

static uint8_t *ring_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len, uint64_t align,
                         const char *what, struct err *e)
{
        uint8_t *p;

        if (gpa & (align - 1)) {
                err_set(e, -EINVAL, "%s at 0x%llx is not %llu-byte aligned", what,
                        (unsigned long long)gpa, (unsigned long long)align);
                return NULL;
        }
        p = guest_mem_ptr(mem, gpa, len);
        if (!p)
                err_set(e, -EINVAL, "%s [0x%llx, +0x%llx) is outside guest memory", what,
                        (unsigned long long)gpa, (unsigned long long)len);
        return p;
}

int virtq_activate(struct virtq *q, const struct guest_mem *mem, bool event_idx, struct err *e)
{
        uint64_t n = q->size;

        if (!q->ready)
                return err_set(e, -EINVAL, "queue is not ready");
        if (n == 0 || n > q->max_size || (n & (n - 1)))
                return err_set(e, -EINVAL, "queue size %llu is not a power of two in [1, %u]",
                               (unsigned long long)n, q->max_size);
        q->desc = ring_ptr(mem, q->desc_gpa, DESC_SIZE * n, 16, "descriptor table", e);
        if (!q->desc)
                return -EINVAL;
        q->avail = ring_ptr(mem, q->avail_gpa, RING_HDR + 2 * n + 2, 2, "avail ring", e);
        if (!q->avail)
                return -EINVAL;
        q->used = ring_ptr(mem, q->used_gpa, RING_HDR + USED_ELEM_SIZE * n + 2, 4, "used ring", e);
        if (!q->used)
                return -EINVAL;
        q->mem = mem;
        q->event_idx = event_idx;
        q->next_avail = q->next_used = q->num_added = 0;
        return 0;
}

static uint16_t avail_idx(const struct virtq *q)
{
        return ld16(q->avail + 2);
}

uint16_t virtq_pending(const struct virtq *q)
{
        return (uint16_t)(avail_idx(q) - q->next_avail);
}

static void read_desc(const uint8_t *table, uint16_t idx, struct desc *d)
{
        memcpy(d, table + (size_t)idx * DESC_SIZE, sizeof(*d));
}

/* Adds one buffer to the chain, checking it against guest RAM and the ordering rules. */
static int chain_add(const struct virtq *q, struct virtq_chain *c, const struct desc *d,
                     const char **why)
{
        bool write = d->flags & VRING_DESC_F_WRITE;
        struct virtq_seg *s;
        uint64_t total;

        if (!write && c->nsegs > c->nreadable) {
                *why = "a readable descriptor follows a writable one";
                return -EPROTO;
        }
        if (d->len == 0)
                return 0; /* nothing to transfer; its address is never used */
        if (c->nsegs >= VIRTQ_MAX_CHAIN) {
                *why = "descriptor chain is longer than the queue size";
                return -EPROTO;
        }
        total = c->readable_bytes + c->writable_bytes + d->len;
        if (total > MAX_CHAIN_BYTES) {
                *why = "descriptor chain is longer than 4 GiB";
                return -EPROTO;
        }
        s = &c->segs[c->nsegs];
        s->hva = guest_mem_ptr(q->mem, d->addr, d->len); /* overflow-safe range check */
        if (!s->hva) {
                *why = "descriptor buffer lies outside guest memory";
                return -EPROTO;
        }
        s->len = d->len;
        s->write = write;
        c->nsegs++;
        if (write) {
                c->writable_bytes += d->len;
        } else {
                c->nreadable++;
                c->readable_bytes += d->len;
        }
        return 0;
}

/* Switches the walk into an indirect table described by d. */
static int enter_indirect(const struct virtq *q, const struct desc *d, const uint8_t **table,
                          uint32_t *tsize, const char **why)
{
        if (d->flags & VRING_DESC_F_NEXT) {
                *why = "indirect descriptor also has NEXT set";
                return -EPROTO;
        }
        if (d->len == 0 || d->len % DESC_SIZE || d->len / DESC_SIZE > INDIRECT_MAX_DESC) {
                *why = "indirect table length is not a multiple of 16 in [16, 4096]";
                return -EPROTO;
        }
        *table = guest_mem_ptr(q->mem, d->addr, d->len);
        if (!*table) {
                *why = "indirect table lies outside guest memory";
                return -EPROTO;
        }
        *tsize = d->len / DESC_SIZE;
        return 0;
}

/*
 * Walks the chain from head. Each table (the ring's, then at most one indirect table)
 * is walked at most tsize steps, which ends loops; next indexes are range-checked.
 */
static int walk_chain(const struct virtq *q, uint16_t head, struct virtq_chain *c, const char **why)
{
        const uint8_t *table = q->desc;
        uint32_t tsize = q->size, steps = 0;
        bool indirect = false;
        uint16_t idx = head;
        struct desc d;
        int rc;

        memset(c, 0, offsetof(struct virtq_chain, segs));
        c->head = head;
        if (head >= q->size) {
                *why = "available ring entry is not a valid descriptor index";
                return -EPROTO;
        }
        for (;;) {
                if (++steps > tsize) {
                        *why = "descriptor chain loops or is longer than its table";
                        return -EPROTO;
                }
                read_desc(table, idx, &d);
                if (d.flags & VRING_DESC_F_INDIRECT) {
                        if (indirect) {
                                *why = "indirect descriptor inside an indirect table";
                                return -EPROTO;
                        }
                        rc = enter_indirect(q, &d, &table, &tsize, why);
                        if (rc)
                                return rc;
                        indirect = true;
                        idx = 0;
                        steps = 0;
                        continue;
                }
                rc = chain_add(q, c, &d, why);
                if (rc)
                        return rc;
                if (!(d.flags & VRING_DESC_F_NEXT))
                        return 0;
                if (d.next >= tsize) {
                        *why = "next descriptor index is out of range";
                        return -EPROTO;
                }
                idx = d.next;
        }
}

/* Pending count, with the avail index checked against the queue size. */
static int checked_pending(const struct virtq *q, uint16_t *pending, const char **why)
{
        *pending = virtq_pending(q);
        if (*pending > q->size) {
                *why = "available index ran more than the queue size ahead";
                return -EPROTO;
        }
        return 0;
}

int virtq_pop(struct virtq *q, struct virtq_chain *c, const char **why)
{
        uint16_t pending, head;
        int rc;

        rc = checked_pending(q, &pending, why);
        if (rc)
                return rc;
        if (pending == 0) {
                if (!q->event_idx)
                        return 0;
                /* Ask for a kick at the next buffer, then look again to close the race. */
                st16(q->used + RING_HDR + USED_ELEM_SIZE * q->size, q->next_avail);
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                rc = checked_pending(q, &pending, why);
                if (rc || pending == 0)
                        return rc;
        }
        /* The ring entry and descriptors were written before the index we just read. */
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        head = ld16(q->avail + RING_HDR + 2 * (q->next_avail & (q->size - 1)));
        rc = walk_chain(q, head, c, why);
        if (rc)
                return rc;
        q->next_avail++;
        return 1;
}

void virtq_undo_pop(struct virtq *q)
{
        q->next_avail--;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t len)
{
        uint8_t *elem = q->used + RING_HDR + USED_ELEM_SIZE * (q->next_used & (q->size - 1));

        st32(elem, head);
        st32(elem + 4, len);
        q->next_used++;
        q->num_added++;
}

void virtq_publish(struct virtq *q)
{
        /* Used elements must be visible before the index that announces them. */
        __atomic_thread_fence(__ATOMIC_RELEASE);
        st16(q->used + 2, q->next_used);
}

bool virtq_should_notify(struct virtq *q)
{
        uint16_t added = q->num_added, used_event;

        if (added == 0)
                return false;
        q->num_added = 0;
        /* The used index store must be visible before we read the driver's wishes. */
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        if (!q->event_idx)
                return !(ld16(q->avail) & VRING_AVAIL_F_NO_INTERRUPT);
        used_event = ld16(q->avail + RING_HDR + 2 * q->size);
        /* vring_need_event(): did next_used pass used_event in this batch? */
        return (uint16_t)(q->next_used - used_event - 1) < added;
}
