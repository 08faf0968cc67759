/* virtio-mem device: the plugged-block bitmap, its KVM slots, the request queue, the metrics. */
#include "devices/virtio/mem/virtio_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

/* One device, so its counters are the process group, as Firecracker's static METRICS. */
#define M (&metrics.memory_hotplug)

#define MIB (1ull << 20)

static struct virtio_mem *mem_of(struct virtio_dev *d)
{
        return (struct virtio_mem *)(void *)d; /* dev is the first member */
}

/* ---- the bitmap ---------------------------------------------------------------------------- */

static bool block_plugged(const struct virtio_mem *m, uint64_t b)
{
        return (m->plugged[b / 64] >> (b % 64)) & 1;
}

static void block_set(struct virtio_mem *m, uint64_t b, bool plug)
{
        if (plug)
                m->plugged[b / 64] |= 1ull << (b % 64);
        else
                m->plugged[b / 64] &= ~(1ull << (b % 64));
}

/* Plugged blocks in [first, first + n) (checked by the caller to lie in the region). */
static uint64_t count_plugged(const struct virtio_mem *m, uint64_t first, uint64_t n)
{
        uint64_t b, c = 0;

        for (b = first; b < first + n; b++)
                c += block_plugged(m, b);
        return c;
}

static uint16_t range_state(const struct virtio_mem *m, uint64_t first, uint64_t n)
{
        uint64_t c = count_plugged(m, first, n);

        if (c == n)
                return VIRTIO_MEM_STATE_PLUGGED;
        return c ? VIRTIO_MEM_STATE_MIXED : VIRTIO_MEM_STATE_UNPLUGGED;
}

/* ---- slots ---------------------------------------------------------------------------------- */

/*
 * As Firecracker's update_slot(): a slot is made accessible before KVM maps it and
 * inaccessible after KVM drops it, so neither the guest nor brasa touches unplugged memory.
 */
static int slot_update(struct virtio_mem *m, uint64_t s, bool plug)
{
        uint64_t off = s * m->slot_size;
        uint8_t *hva = m->map + off;
        int rc;

        if (m->slot_registered[s] == plug)
                return 0;
        if (plug && mprotect(hva, m->slot_size, PROT_READ | PROT_WRITE) < 0)
                return -errno;
        rc = m->set_slot(m->opaque, m->first_slot + (unsigned int)s, m->config.addr + off,
                         m->slot_size, hva, plug);
        if (rc)
                return rc;
        if (!plug && mprotect(hva, m->slot_size, PROT_NONE) < 0)
                return -errno;
        m->slot_registered[s] = plug;
        return 0;
}

/* Every slot [first, first + n) touches: in KVM while any block in it is plugged. */
static int slots_update(struct virtio_mem *m, uint64_t first, uint64_t n)
{
        uint64_t per_slot = m->slot_size / m->config.block_size;
        uint64_t s, last = (first + n - 1) / per_slot;
        int rc;

        for (s = first / per_slot; s <= last; s++) {
                rc = slot_update(m, s, count_plugged(m, s * per_slot, per_slot) > 0);
                if (rc) {
                        log_error("virtio-mem: There was an error updating the KVM slot: %s",
                                  strerror(-rc));
                        return rc;
                }
        }
        return 0;
}

/* Firecracker's update_range(): the bitmap, plugged_size, the discard, then the slots. */
static int update_range(struct virtio_mem *m, uint64_t first, uint64_t n, bool plug)
{
        uint64_t b, before = count_plugged(m, first, n);

        for (b = first; b < first + n; b++)
                block_set(m, b, plug);
        m->config.plugged_size -= before * m->config.block_size;
        m->config.plugged_size += (plug ? n : 0) * m->config.block_size;
        if (!plug && madvise(m->map + first * m->config.block_size, n * m->config.block_size,
                             MADV_DONTNEED) < 0) {
                metrics_inc(&M->unplug_discard_fails);
                log_error("virtio-mem: Failed to discard memory range: %s", strerror(errno));
        }
        return slots_update(m, first, n);
}

/* ---- requests ------------------------------------------------------------------------------- */

/*
 * Firecracker's validate_range(): block-aligned, at least one block, inside the usable
 * region. On success *first is the range's first block. Overflow-safe: nb_blocks is 16 bits.
 */
static bool range_ok(const struct virtio_mem *m, const struct virtio_mem_req_plug *r,
                     uint64_t *first)
{
        uint64_t off;

        if (r->addr % m->config.block_size || r->nb_blocks == 0 || r->addr < m->config.addr)
                return false;
        off = r->addr - m->config.addr;
        if (off >= m->config.usable_region_size ||
            (uint64_t)r->nb_blocks * m->config.block_size > m->config.usable_region_size - off)
                return false;
        *first = off / m->config.block_size;
        return true;
}

/*
 * A slot KVM refused undoes the plug (Firecracker keeps the blocks marked plugged), so the
 * bitmap never claims memory the guest cannot reach.
 */
static int plug(struct virtio_mem *m, const struct virtio_mem_req_plug *r)
{
        uint64_t first;
        int rc;

        if (!range_ok(m, r, &first))
                return -EINVAL;
        if (m->config.plugged_size + (uint64_t)r->nb_blocks * m->config.block_size >
            m->config.requested_size)
                return -E2BIG;
        if (range_state(m, first, r->nb_blocks) != VIRTIO_MEM_STATE_UNPLUGGED)
                return -EBUSY;
        rc = update_range(m, first, r->nb_blocks, true);
        if (rc)
                update_range(m, first, r->nb_blocks, false);
        return rc;
}

static int unplug(struct virtio_mem *m, const struct virtio_mem_req_plug *r)
{
        uint64_t first;

        if (!range_ok(m, r, &first))
                return -EINVAL;
        if (range_state(m, first, r->nb_blocks) != VIRTIO_MEM_STATE_PLUGGED)
                return -EBUSY;
        return update_range(m, first, r->nb_blocks, false);
}

/* As Firecracker: everything unplugged and the usable region shrunk to nothing. */
static int unplug_all(struct virtio_mem *m)
{
        int rc = update_range(m, 0, m->nr_blocks, false);

        if (!rc)
                m->config.usable_region_size = 0;
        return rc;
}

static void count_result(int rc, uint64_t bytes, struct metric_counter *fails,
                         struct metric_counter *ok_bytes, const char *what)
{
        if (rc) {
                metrics_inc(fails);
                log_guest_warn("virtio-mem: Failed to %s: %s", what, strerror(-rc));
        } else if (ok_bytes) {
                metrics_add_count(ok_bytes, bytes);
        }
}

/*
 * One request's answer (Firecracker's handle_*_request), with its counters. The union's three
 * ranges share one layout, so r reads any of them.
 */
static void serve(struct virtio_mem *m, const struct virtio_mem_req *rq, struct virtio_mem_resp *rs)
{
        const struct virtio_mem_req_plug *r = &rq->u.plug;
        uint64_t t0 = now_us(), bytes = (uint64_t)r->nb_blocks * m->config.block_size;
        uint64_t first;
        int rc = 0;

        switch (rq->type) {
        case VIRTIO_MEM_REQ_PLUG:
                metrics_inc(&M->plug_count);
                rc = plug(m, r);
                count_result(rc, bytes, &M->plug_fails, &M->plug_bytes, "plug range");
                metric_latency_record(&M->plug_agg, now_us() - t0);
                break;
        case VIRTIO_MEM_REQ_UNPLUG:
                metrics_inc(&M->unplug_count);
                rc = unplug(m, r);
                count_result(rc, bytes, &M->unplug_fails, &M->unplug_bytes, "unplug range");
                metric_latency_record(&M->unplug_agg, now_us() - t0);
                break;
        case VIRTIO_MEM_REQ_UNPLUG_ALL:
                metrics_inc(&M->unplug_all_count);
                rc = unplug_all(m);
                count_result(rc, 0, &M->unplug_all_fails, NULL, "unplug all");
                metric_latency_record(&M->unplug_all_agg, now_us() - t0);
                break;
        case VIRTIO_MEM_REQ_STATE:
                metrics_inc(&M->state_count);
                rc = range_ok(m, r, &first) ? 0 : -EINVAL;
                if (!rc)
                        rs->u.state.state = range_state(m, first, r->nb_blocks);
                count_result(rc, 0, &M->state_fails, NULL, "retrieve state of range");
                metric_latency_record(&M->state_agg, now_us() - t0);
                break;
        default:
                rc = -EOPNOTSUPP;
                metrics_inc(&M->queue_event_fails);
                log_guest_warn("virtio-mem: Unknown request type: %u", rq->type);
        }
        rs->type = rc ? VIRTIO_MEM_RESP_ERROR : VIRTIO_MEM_RESP_ACK;
}

/*
 * Firecracker's parse_request(): a readable request of at least sizeof(virtio_mem_req),
 * then a writable response of at least sizeof(virtio_mem_resp). NULL, or why not.
 */
static const char *bad_chain(const struct virtq_chain *c)
{
        if (c->nreadable == 0)
                return "Descriptor is write-only";
        if (c->segs[0].len < sizeof(struct virtio_mem_req))
                return "Descriptor is too small";
        if (c->nsegs < 2)
                return "Descriptor chain is too short";
        if (c->nreadable > 1)
                return "Descriptor is read-only";
        if (c->segs[1].len < sizeof(struct virtio_mem_resp))
                return "Descriptor is too small";
        return NULL;
}

/*
 * A malformed chain goes back used with nothing written (Firecracker drops it, which loses
 * the guest's buffer); a well-formed one gets its response.
 */
static void serve_chain(struct virtio_mem *m, struct virtq *q)
{
        const char *why = bad_chain(&m->chain);
        struct virtio_mem_resp rs = {0};
        struct virtio_mem_req rq;

        if (why) {
                metrics_inc(&M->queue_event_fails);
                log_guest_warn("virtio-mem: Failed to process queue: %s", why);
                virtq_push(q, m->chain.head, 0);
                return;
        }
        memcpy(&rq, m->chain.segs[0].hva, sizeof(rq));
        serve(m, &rq, &rs);
        memcpy(m->chain.segs[1].hva, &rs, sizeof(rs));
        virtq_push(q, m->chain.head, sizeof(rs));
}

/* At most one ring's worth per pass, so a guest cannot keep the VMM thread here. Lock held. */
static void process_queue(struct virtio_mem *m)
{
        struct virtq *q = &m->dev.queues[0];
        unsigned int budget = q->size ? q->size : 1;
        bool used_any = false;
        const char *why = "";
        int rc;

        while (budget-- > 0) {
                rc = virtq_pop(q, &m->chain, &why);
                if (rc < 0) {
                        metrics_inc(&M->queue_event_fails);
                        virtio_dev_needs_reset(&m->dev, why);
                }
                if (rc <= 0)
                        break;
                serve_chain(m, q);
                used_any = true;
        }
        virtio_dev_end_pass(&m->dev, q, 0, used_any);
}

/* ---- virtio_dev_ops ------------------------------------------------------------------------ */

static void mem_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        const struct virtio_mem *m = mem_of(d);

        virtio_config_read(&m->config, sizeof(m->config), off, data, len);
}

/* Read-only, as Firecracker's write_config (which logs and drops the write). */
static void mem_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
        (void)d;
        (void)data;
        (void)len;
        log_guest_warn("virtio-mem: Attempted write to read-only config space at offset %llu",
                       (unsigned long long)off);
}

/* Firecracker refuses a driver that does not promise to leave unplugged memory alone. */
static int mem_activate(struct virtio_dev *d)
{
        if (!virtio_dev_has_feature(d, VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE)) {
                log_error("virtio-mem: VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE feature not "
                          "acknowledged by guest");
                metrics_inc(&M->activate_fails);
                return -EINVAL;
        }
        return 0;
}

static void mem_reset(struct virtio_dev *d)
{
        (void)d; /* requests are served within their notification; plugged memory stays */
}

static void mem_queue_notify(struct virtio_dev *d, unsigned int q)
{
        (void)q;
        metrics_inc(&M->queue_event_count);
        process_queue(mem_of(d));
}

static void mem_destroy(struct virtio_dev *d)
{
        virtio_mem_destroy(mem_of(d));
}

/* No snapshot_check: the plugged blocks are not in the snapshot format yet, so refused. */
static const struct virtio_dev_ops mem_ops = {
    .read_config = mem_read_config,
    .write_config = mem_write_config,
    .activate = mem_activate,
    .reset = mem_reset,
    .queue_notify = mem_queue_notify,
    .destroy = mem_destroy,
};

/* ---- the API side --------------------------------------------------------------------------- */

void virtio_mem_status(struct virtio_mem *m, struct virtio_mem_status *s)
{
        virtio_dev_lock(&m->dev);
        s->total_size_mib = m->config.region_size / MIB;
        s->slot_size_mib = m->slot_size / MIB;
        s->block_size_mib = m->config.block_size / MIB;
        s->plugged_size_mib = m->config.plugged_size / MIB;
        s->requested_size_mib = m->config.requested_size / MIB;
        virtio_dev_unlock(&m->dev);
}

/* Firecracker's update_requested_size(): the usable region grows to whole slots. */
static int update_requested(struct virtio_mem *m, uint64_t mib, struct err *e)
{
        uint64_t size = mib * MIB;

        if (!m->dev.activated)
                return err_set(e, -EINVAL, "Device is not active");
        if (mib > m->config.region_size / MIB || size % m->config.block_size)
                return err_set(e, -EINVAL,
                               "Size %llu is invalid: it must be a multiple of block size and "
                               "less than the total size",
                               (unsigned long long)size);
        if (m->config.usable_region_size < size)
                m->config.usable_region_size =
                    (size + m->slot_size - 1) / m->slot_size * m->slot_size;
        m->config.requested_size = size;
        virtio_dev_config_changed(&m->dev);
        return 0;
}

int virtio_mem_update_requested(struct virtio_mem *m, uint64_t requested_size_mib, struct err *e)
{
        int rc;

        virtio_dev_lock(&m->dev);
        rc = update_requested(m, requested_size_mib, e);
        virtio_dev_unlock(&m->dev);
        return rc;
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static int mem_setup(struct virtio_mem *m, const struct virtio_mem_params *p, struct err *e)
{
        void *map;

        m->slot_size = p->slot_size;
        m->nr_blocks = p->total_size / p->block_size;
        m->nr_slots = p->total_size / p->slot_size;
        m->first_slot = p->first_slot;
        m->set_slot = p->set_slot;
        m->opaque = p->opaque;
        m->config.addr = p->gpa;
        m->config.region_size = p->total_size;
        m->config.block_size = p->block_size;
        m->plugged = calloc((m->nr_blocks + 63) / 64, sizeof(*m->plugged));
        m->slot_registered = calloc(m->nr_slots, sizeof(*m->slot_registered));
        if (!m->plugged || !m->slot_registered)
                return err_errno(e, -ENOMEM);
        map = mmap(NULL, p->total_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
                   0);
        if (map == MAP_FAILED)
                return err_set(e, -errno, "Failed to allocate memory region: %s", strerror(errno));
        m->map = map;
        return 0;
}

static bool params_ok(const struct virtio_mem_params *p)
{
        return p->block_size && p->slot_size && p->slot_size % p->block_size == 0 &&
               p->total_size && p->total_size % p->slot_size == 0 && p->set_slot;
}

int virtio_mem_create(struct virtio_mem **out, const struct virtio_mem_params *p,
                      const struct guest_mem *mem, struct err *e)
{
        uint64_t features = 1ull << VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE;
        struct virtio_mem *m;
        int rc;

        *out = NULL;
        if (!params_ok(p))
                return err_set(e, -EINVAL, "virtio-mem: bad sizes");
        m = calloc(1, sizeof(*m));
        if (!m)
                return err_errno(e, -ENOMEM);
        rc = virtio_dev_init(&m->dev, &mem_ops, "mem", VIRTIO_ID_MEM, features, 1,
                             VIRTIO_MEM_QUEUE_SIZE, mem);
        if (rc) {
                free(m);
                return err_set(e, rc, "virtio-mem: %s", strerror(-rc));
        }
        m->dev.base.id = VIRTIO_MEM_DEV_ID;
        snprintf(m->dev.name, sizeof(m->dev.name), "mem");
        rc = mem_setup(m, p, e);
        if (rc) {
                virtio_mem_destroy(m);
                return rc;
        }
        *out = m;
        return 0;
}

void virtio_mem_destroy(struct virtio_mem *m)
{
        if (!m)
                return;
        if (m->map)
                munmap(m->map, m->config.region_size);
        virtio_dev_fini(&m->dev);
        free(m->plugged);
        free(m->slot_registered);
        free(m);
}
