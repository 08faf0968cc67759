/* virtio-balloon device: the queues, the config space, the stats timer, the balloon metrics. */
#include "devices/virtio/balloon/virtio_balloon.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"

#define PAGE_SHIFT   12 /* VIRTIO_BALLOON_PFN_SHIFT: PFNs are 4 KiB frames */
#define PAGE_SIZE    (1ull << PAGE_SHIFT)
#define MIB_TO_PAGES 256u
#define STAT_SIZE    10u /* struct virtio_balloon_stat: le16 tag, le64 val, packed */
#define Q_INFLATE    0u
#define Q_DEFLATE    1u
#define Q_STATS      2u
#define CONFIG_SIZE  12u
#define PASS_CHAINS  BALLOON_QUEUE_SIZE /* chains one pass takes before it re-kicks */

#define M (&metrics.balloon)

/* The JSON names of the stats tags, by tag (Firecracker's BalloonStats fields). */
static const char *const tag_names[BALLOON_NR_TAGS] = {
    "swap_in",        "swap_out",         "major_faults", "minor_faults",        "free_memory",
    "total_memory",   "available_memory", "disk_caches",  "hugetlb_allocations", "hugetlb_failures",
    "oom_kill",       "alloc_stall",      "async_scan",   "direct_scan",         "async_reclaim",
    "direct_reclaim",
};

static struct virtio_balloon *balloon_of(struct virtio_dev *d)
{
        return (struct virtio_balloon *)(void *)d; /* dev is the first member */
}

static int host_discard(void *hva, size_t len)
{
        return madvise(hva, len, MADV_DONTNEED) ? -errno : 0;
}

static bool offers(const struct virtio_balloon *b, unsigned int bit)
{
        return (b->dev.avail_features >> bit) & 1;
}

static void signal_queue(struct virtio_balloon *b, unsigned int qi)
{
        struct virtq *q = &b->dev.queues[qi];

        virtq_publish(q);
        if (virtq_should_notify(q))
                virtio_dev_signal(&b->dev, VIRTIO_INT_VRING);
}

/* A broken ring: counted as Firecracker's event_fails, then DEVICE_NEEDS_RESET. */
static void broken(struct virtio_balloon *b, const char *why)
{
        metrics_inc(&M->event_fails);
        virtio_dev_needs_reset(&b->dev, why);
}

/* ---- giving memory back ------------------------------------------------------------------ */

/*
 * Discards [gpa, gpa + len) when it lies in one RAM region, as Firecracker's discard_range():
 * the address must be page aligned and the page-rounded range must be guest RAM, so the host
 * never drops anything outside it. Returns 0, -EFAULT (not RAM), -EINVAL (unaligned) or the
 * discard's -errno.
 */
static int discard_gpa(struct virtio_balloon *b, uint64_t gpa, uint64_t len)
{
        uint64_t rounded = (len + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        void *hva;

        if (len == 0 || rounded < len)
                return -EINVAL;
        hva = guest_mem_ptr(b->dev.mem, gpa, rounded);
        if (!hva)
                return -EFAULT;
        if ((uintptr_t)hva & (PAGE_SIZE - 1))
                return -EINVAL;
        return b->discard(hva, rounded);
}

/* Pages from pfn on (at most n) that lie in RAM, in the same region as pfn; 0 if it is not RAM. */
static uint32_t ram_pages(const struct virtio_balloon *b, uint64_t pfn, uint32_t n)
{
        uint64_t gpa = pfn << PAGE_SHIFT, end = guest_mem_region_end(b->dev.mem, gpa);
        uint64_t avail = end > gpa ? (end - gpa) >> PAGE_SHIFT : 0;

        return avail < n ? (uint32_t)avail : n;
}

/*
 * One run of PFNs: the stretches of it that lie in guest RAM are discarded, region by region;
 * pages outside RAM (past its end, in the MMIO gap) are skipped and logged.
 */
static void discard_run(struct virtio_balloon *b, uint32_t pfn, uint32_t n)
{
        uint32_t bad = 0, i = 0, k;
        int rc = 0, r;

        while (i < n) {
                k = ram_pages(b, (uint64_t)pfn + i, n - i);
                if (k == 0) {
                        bad++;
                        i++;
                        continue;
                }
                r = discard_gpa(b, ((uint64_t)pfn + i) << PAGE_SHIFT, (uint64_t)k << PAGE_SHIFT);
                rc = rc ? rc : r;
                i += k;
        }
        if (rc)
                log_guest_warn("%s: error removing memory range at pfn %u (%u pages): %s",
                               b->dev.name, pfn, n, strerror(-rc));
        if (bad)
                log_guest_warn("%s: inflate: %u of %u pages at pfn %u are not guest RAM",
                               b->dev.name, bad, n, pfn);
}

static void sift_down(uint32_t *v, size_t root, size_t n)
{
        for (size_t child; (child = 2 * root + 1) < n; root = child) {
                if (child + 1 < n && v[child + 1] > v[child])
                        child++;
                if (v[root] >= v[child])
                        return;
                uint32_t t = v[root];
                v[root] = v[child];
                v[child] = t;
        }
}

/*
 * Heap sort: in place, O(n log n) for a hostile input too, and no qsort(), which glibc may
 * back with sysinfo() and malloc() (neither is in the VMM thread's filter).
 */
static void sort_u32(uint32_t *v, size_t n)
{
        for (size_t i = n / 2; i-- > 0;)
                sift_down(v, i, n);
        for (size_t end = n; end-- > 1;) {
                uint32_t t = v[0];
                v[0] = v[end];
                v[end] = t;
                sift_down(v, 0, end);
        }
}

size_t balloon_compact_pfns(uint32_t *pfns, size_t n, uint32_t *start, uint32_t *len)
{
        size_t runs = 0;

        if (n == 0)
                return 0;
        sort_u32(pfns, n);
        start[0] = pfns[0];
        len[0] = 1;
        for (size_t i = 1; i < n; i++) {
                if (pfns[i] == pfns[i - 1])
                        continue; /* a duplicate: each PFN once */
                if ((uint64_t)pfns[i] == (uint64_t)start[runs] + len[runs]) {
                        len[runs]++;
                } else {
                        runs++;
                        start[runs] = pfns[i];
                        len[runs] = 1;
                }
        }
        return runs + 1;
}

static void flush_pfns(struct virtio_balloon *b, size_t *n)
{
        size_t runs = balloon_compact_pfns(b->pfns, *n, b->run_start, b->run_len);

        for (size_t i = 0; i < runs; i++)
                discard_run(b, b->run_start[i], b->run_len[i]);
        *n = 0;
}

/* ---- inflate and deflate ------------------------------------------------------------------- */

/*
 * Gathers the head descriptor's PFNs into the buffer as Firecracker's process_inflate(): a
 * device-readable buffer of whole u32s, at most BALLOON_MAX_PAGES_IN_DESC of them; anything
 * else is acknowledged and skipped. Returns false when the buffer has no room (not taken).
 */
static bool take_pfns(struct virtio_balloon *b, size_t *n)
{
        const struct virtq_seg *s = &b->chain.segs[0];
        uint32_t count = s->len / 4;

        if (b->chain.nsegs == 0 || s->write || s->len % 4)
                return true;
        if (count > BALLOON_MAX_PAGES_IN_DESC) {
                log_guest_warn("%s: inflate descriptor has bogus page count %u > %u, skipping",
                               b->dev.name, count, BALLOON_MAX_PAGES_IN_DESC);
                return true;
        }
        if (BALLOON_PFN_BUFFER - *n < count)
                return false;
        memcpy(&b->pfns[*n], s->hva, (size_t)count * 4);
        *n += count;
        return true;
}

static void process_inflate(struct virtio_balloon *b)
{
        struct virtq *q = &b->dev.queues[Q_INFLATE];
        unsigned int budget = PASS_CHAINS;
        const char *why = "";
        bool used = false;
        size_t n = 0;
        int rc;

        metrics_inc(&M->inflate_count);
        for (;;) {
                if (budget-- == 0) {
                        virtio_dev_kick(&b->dev, Q_INFLATE);
                        break;
                }
                rc = virtq_pop(q, &b->chain, &why);
                if (rc < 0)
                        broken(b, why);
                if (rc <= 0)
                        break;
                if (!take_pfns(b, &n)) {
                        virtq_undo_pop(q);
                        flush_pfns(b, &n);
                        budget++;
                        continue;
                }
                virtq_push(q, b->chain.head, 0);
                used = true;
        }
        flush_pfns(b, &n);
        if (used)
                signal_queue(b, Q_INFLATE);
}

/* Deflate: nothing to give back (the guest just uses its pages again); acknowledge. */
static void process_deflate(struct virtio_balloon *b)
{
        struct virtq *q = &b->dev.queues[Q_DEFLATE];
        unsigned int budget = PASS_CHAINS;
        const char *why = "";
        bool used = false;
        int rc;

        metrics_inc(&M->deflate_count);
        for (;;) {
                if (budget-- == 0) {
                        virtio_dev_kick(&b->dev, Q_DEFLATE);
                        break;
                }
                rc = virtq_pop(q, &b->chain, &why);
                if (rc < 0)
                        broken(b, why);
                if (rc <= 0)
                        break;
                virtq_push(q, b->chain.head, 0);
                used = true;
        }
        if (used)
                signal_queue(b, Q_DEFLATE);
}

/* ---- statistics ---------------------------------------------------------------------------- */

static void stats_update(struct virtio_balloon *b, const uint8_t *p)
{
        uint16_t tag;
        uint64_t val;

        memcpy(&tag, p, 2);
        memcpy(&val, p + 2, 8);
        if (tag >= BALLOON_NR_TAGS) {
                metrics_inc(&M->stats_update_fails);
                log_debug("balloon: unknown stats update tag: %u", tag);
                return;
        }
        b->stats[tag] = val;
        b->stats_seen |= 1u << tag;
}

/* Reads the whole 10-byte stats of the head buffer; one over 256 stats is not read. */
static void read_stats(struct virtio_balloon *b)
{
        const struct virtq_seg *s = &b->chain.segs[0];
        uint32_t len = b->chain.nsegs ? s->len : 0; /* no segment: only empty buffers */

        if (len > BALLOON_MAX_STATS_LEN) {
                log_guest_warn("balloon: stats descriptor too large: %u > %u, skipping", len,
                               BALLOON_MAX_STATS_LEN);
                return;
        }
        for (uint32_t off = 0; off + STAT_SIZE <= len; off += STAT_SIZE)
                stats_update(b, s->hva + off);
}

/* Hands the held stats buffer back: the driver refills it (trigger_stats_update()). */
static void stats_give_back(struct virtio_balloon *b)
{
        if (!b->stats_desc_held) {
                log_error("Failed to update balloon stats, missing descriptor.");
                return;
        }
        b->stats_desc_held = false;
        virtq_push(&b->dev.queues[Q_STATS], b->stats_desc, 0);
        signal_queue(b, Q_STATS);
}

static void arm_timer(struct virtio_balloon *b)
{
        struct itimerspec its = {{b->stats_interval_s, 0}, {b->stats_interval_s, 0}};

        if (b->timer_fd >= 0 && timerfd_settime(b->timer_fd, 0, &its, NULL) == 0)
                b->timer_armed = true;
}

/*
 * The driver's stats buffers (Firecracker's process_stats_queue()): the head descriptor holds
 * whole 10-byte stats (a trailing partial one is not read); the buffer is held until the
 * timer fires. A second buffer returns the first. The timer starts with the first buffer.
 */
static void process_stats(struct virtio_balloon *b)
{
        struct virtq *q = &b->dev.queues[Q_STATS];
        unsigned int budget = PASS_CHAINS;
        const char *why = "";
        int rc;

        metrics_inc(&M->stats_updates_count);
        if (!b->timer_armed)
                arm_timer(b);
        while ((rc = virtq_pop(q, &b->chain, &why)) > 0) {
                if (b->stats_desc_held) {
                        log_guest_warn("balloon: driver is not compliant, more than one stats "
                                       "buffer received");
                        stats_give_back(b);
                }
                read_stats(b);
                b->stats_desc = b->chain.head;
                b->stats_desc_held = true;
                if (--budget == 0) {
                        virtio_dev_kick(&b->dev, Q_STATS);
                        break;
                }
        }
        if (rc < 0)
                broken(b, why);
}

void virtio_balloon_timer_event(struct virtio_balloon *b)
{
        uint64_t ticks;

        if (read(b->timer_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                log_warn("balloon: reading the stats timer failed: %s", strerror(errno));
        virtio_dev_lock(&b->dev);
        if (virtio_dev_running(&b->dev))
                stats_give_back(b);
        virtio_dev_unlock(&b->dev);
}

static void on_timer(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_balloon_timer_event(src->opaque);
}

/* ---- free page hinting and reporting ------------------------------------------------------- */

/*
 * Discards a buffer of a popped chain (already inside one RAM region): its page-rounded length
 * must stay in that region and its address be page aligned, as madvise() wants.
 */
static int discard_seg(struct virtio_balloon *b, const struct virtq_seg *s)
{
        const struct guest_mem *m = b->dev.mem;

        for (unsigned int i = 0; i < m->nr_regions; i++) {
                const struct guest_region *r = &m->regions[i];
                uint64_t off = (uint64_t)(s->hva - r->hva);

                if (s->hva >= r->hva && off < r->size)
                        return discard_gpa(b, r->gpa + off, s->len);
        }
        return -EFAULT;
}

static void set_hint_cmd(struct virtio_balloon *b, uint32_t cmd)
{
        b->host_cmd = cmd;
        b->hint_cmd_id = cmd;
        virtio_dev_config_changed(&b->dev);
}

/* A 4-byte buffer carries the guest's command id; true when it ends the run. */
static bool hint_command(struct virtio_balloon *b, const struct virtq_seg *s)
{
        uint32_t cmd;

        memcpy(&cmd, s->hva, 4);
        b->guest_cmd = cmd;
        b->has_guest_cmd = true;
        if (cmd == BALLOON_HINT_CMD_DONE)
                log_guest_warn("balloon hinting: Unexpected cmd from guest: %u", cmd);
        return cmd == BALLOON_HINT_CMD_STOP || cmd == BALLOON_HINT_CMD_DONE;
}

/* One buffer of a hinting chain (Firecracker's process_free_page_hinting_queue()). */
static void hint_seg(struct virtio_balloon *b, const struct virtq_seg *s, uint32_t host_cmd,
                     bool *complete)
{
        int rc;

        if (s->len == 4) {
                *complete = hint_command(b, s);
                return;
        }
        if (host_cmd == BALLOON_HINT_CMD_DONE || host_cmd == BALLOON_HINT_CMD_STOP)
                return; /* a run that ended: in-flight hints are dropped */
        if (!b->has_guest_cmd) {
                log_guest_warn("balloon hinting: received range with no command id.");
                return;
        }
        if (b->guest_cmd != host_cmd)
                return; /* from a previous command */
        metrics_inc(&M->free_page_hint_count);
        rc = discard_seg(b, s);
        if (rc) {
                metrics_inc(&M->free_page_hint_fails);
                log_guest_warn("balloon hinting: failed to remove range: %s", strerror(-rc));
        } else {
                metrics_add_count(&M->free_page_hint_freed, s->len);
        }
}

static void process_hinting(struct virtio_balloon *b)
{
        struct virtq *q = &b->dev.queues[b->hint_q];
        unsigned int budget = PASS_CHAINS;
        uint32_t host_cmd = b->host_cmd;
        bool used = false, complete = false;
        const char *why = "";
        int rc;

        while ((rc = virtq_pop(q, &b->chain, &why)) > 0) {
                for (unsigned int i = 0; i < b->chain.nsegs; i++)
                        hint_seg(b, &b->chain.segs[i], host_cmd, &complete);
                virtq_push(q, b->chain.head, 0);
                used = true;
                if (--budget == 0) {
                        virtio_dev_kick(&b->dev, b->hint_q);
                        break;
                }
        }
        if (rc < 0)
                broken(b, why);
        if (used)
                signal_queue(b, b->hint_q);
        if (complete && b->ack_on_finish)
                set_hint_cmd(b, BALLOON_HINT_CMD_DONE);
}

static void process_reporting(struct virtio_balloon *b)
{
        struct virtq *q = &b->dev.queues[b->report_q];
        unsigned int budget = PASS_CHAINS;
        const char *why = "";
        bool used = false;
        int rc;

        while ((rc = virtq_pop(q, &b->chain, &why)) > 0) {
                for (unsigned int i = 0; i < b->chain.nsegs; i++) {
                        const struct virtq_seg *s = &b->chain.segs[i];
                        int drc = discard_seg(b, s);

                        metrics_inc(&M->free_page_report_count);
                        if (drc) {
                                metrics_inc(&M->free_page_report_fails);
                                log_guest_warn("balloon: failed to remove range: %s",
                                               strerror(-drc));
                        } else {
                                metrics_add_count(&M->free_page_report_freed, s->len);
                        }
                }
                virtq_push(q, b->chain.head, 0);
                used = true;
                if (--budget == 0) {
                        virtio_dev_kick(&b->dev, b->report_q);
                        break;
                }
        }
        if (rc < 0)
                broken(b, why);
        if (used)
                signal_queue(b, b->report_q);
}

/* ---- virtio_dev_ops -------------------------------------------------------------------------- */

static void config_bytes(const struct virtio_balloon *b, uint8_t out[CONFIG_SIZE])
{
        memcpy(out, &b->num_pages, 4);
        memcpy(out + 4, &b->actual_pages, 4);
        memcpy(out + 8, &b->hint_cmd_id, 4);
}

/* The 12-byte config space (num_pages, actual, free_page_hint_cmd_id); past it reads 0. */
static void balloon_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        uint8_t cfg[CONFIG_SIZE];

        config_bytes(balloon_of(d), cfg);
        if (off >= CONFIG_SIZE) {
                log_guest_warn("%s: config read at %llu past its end", d->name,
                               (unsigned long long)off);
                return;
        }
        memcpy(data, cfg + off, len < CONFIG_SIZE - off ? len : CONFIG_SIZE - off);
}

/* As Firecracker, a write wholly inside the config space is taken (the driver sets actual). */
static void balloon_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data,
                                 uint32_t len)
{
        struct virtio_balloon *b = balloon_of(d);
        uint8_t cfg[CONFIG_SIZE];

        if (off > CONFIG_SIZE || len > CONFIG_SIZE - off) {
                log_guest_warn("%s: failed to write config space at %llu (%u bytes)", d->name,
                               (unsigned long long)off, len);
                return;
        }
        config_bytes(b, cfg);
        memcpy(cfg + off, data, len);
        memcpy(&b->num_pages, cfg, 4);
        memcpy(&b->actual_pages, cfg + 4, 4);
        memcpy(&b->hint_cmd_id, cfg + 8, 4);
}

static int balloon_activate(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

/* A driver reset: the held stats buffer belongs to the old rings. */
static void balloon_reset(struct virtio_dev *d)
{
        struct virtio_balloon *b = balloon_of(d);

        b->stats_desc_held = false;
}

static void balloon_queue_notify(struct virtio_dev *d, unsigned int q)
{
        struct virtio_balloon *b = balloon_of(d);

        if (q == Q_INFLATE)
                process_inflate(b);
        else if (q == Q_DEFLATE)
                process_deflate(b);
        else if (q == Q_STATS && offers(b, BALLOON_F_STATS_VQ))
                process_stats(b);
        else if (offers(b, BALLOON_F_FREE_PAGE_HINT) && q == b->hint_q)
                process_hinting(b);
        else if (offers(b, BALLOON_F_FREE_PAGE_REPORTING) && q == b->report_q)
                process_reporting(b);
}

/* ---- snapshots (Firecracker's balloon persist.rs) -------------------------------------------- */

/* What a snapshot keeps of the balloon beyond the common virtio state (no implicit padding). */
struct balloon_snap {
        uint32_t num_pages, actual_pages, hint_cmd_id;
        uint32_t host_cmd, last_cmd_id, guest_cmd;
        uint16_t stats_interval_s, stats_desc;
        uint8_t stats_desc_held, has_guest_cmd, ack_on_finish, reserved;
        uint32_t stats_seen;
        uint64_t stats[BALLOON_NR_TAGS];
};

static int balloon_snapshot_check(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static int balloon_save_state(struct virtio_dev *d, void *buf, size_t cap, size_t *len)
{
        struct virtio_balloon *b = balloon_of(d);
        struct balloon_snap s = {
            .num_pages = b->num_pages,
            .actual_pages = b->actual_pages,
            .hint_cmd_id = b->hint_cmd_id,
            .host_cmd = b->host_cmd,
            .last_cmd_id = b->last_cmd_id,
            .guest_cmd = b->guest_cmd,
            .stats_interval_s = b->stats_interval_s,
            .stats_desc = b->stats_desc,
            .stats_desc_held = b->stats_desc_held,
            .has_guest_cmd = b->has_guest_cmd,
            .ack_on_finish = b->ack_on_finish,
            .stats_seen = b->stats_seen,
        };

        if (cap < sizeof(s))
                return -ENOSPC;
        memcpy(s.stats, b->stats, sizeof(s.stats));
        memcpy(buf, &s, sizeof(s));
        *len = sizeof(s);
        return 0;
}

/*
 * The target, the guest's actual count, the statistics (interval, the buffer held, the latest
 * values) and the hinting commands. Statistics cannot be switched on or off by a snapshot:
 * the queues are the configuration's.
 */
static int balloon_restore_state(struct virtio_dev *d, const void *buf, size_t len)
{
        struct virtio_balloon *b = balloon_of(d);
        struct balloon_snap s;

        if (len != sizeof(s))
                return -EINVAL;
        memcpy(&s, buf, sizeof(s));
        if ((s.stats_interval_s == 0) != (b->stats_interval_s == 0) ||
            (s.stats_desc_held && (!b->stats_interval_s || s.stats_desc >= BALLOON_QUEUE_SIZE)))
                return -EINVAL;
        b->num_pages = s.num_pages;
        b->actual_pages = s.actual_pages;
        b->hint_cmd_id = s.hint_cmd_id;
        b->host_cmd = s.host_cmd;
        b->last_cmd_id = s.last_cmd_id;
        b->guest_cmd = s.guest_cmd;
        b->has_guest_cmd = s.has_guest_cmd != 0;
        b->ack_on_finish = s.ack_on_finish != 0;
        b->stats_interval_s = s.stats_interval_s;
        b->stats_desc = s.stats_desc;
        b->stats_desc_held = s.stats_desc_held != 0 && virtio_dev_running(d);
        b->stats_seen = s.stats_seen;
        memcpy(b->stats, s.stats, sizeof(b->stats));
        /* Statistics polling goes on where it was: the timer restarts with the device. */
        if (b->stats_interval_s && virtio_dev_running(d))
                arm_timer(b);
        return 0;
}

static void balloon_destroy(struct virtio_dev *d)
{
        virtio_balloon_destroy(balloon_of(d));
}

static const struct virtio_dev_ops balloon_ops = {
    .read_config = balloon_read_config,
    .write_config = balloon_write_config,
    .activate = balloon_activate,
    .reset = balloon_reset,
    .queue_notify = balloon_queue_notify,
    .snapshot_check = balloon_snapshot_check,
    .save_state = balloon_save_state,
    .restore_state = balloon_restore_state,
    .destroy = balloon_destroy,
};

/* ---- the API's actions (VMM thread) ---------------------------------------------------------- */

void virtio_balloon_config(struct virtio_balloon *b, struct balloon_params *out)
{
        virtio_dev_lock(&b->dev);
        *out = (struct balloon_params){
            .amount_mib = b->num_pages / MIB_TO_PAGES,
            .deflate_on_oom = offers(b, BALLOON_F_DEFLATE_ON_OOM),
            .stats_polling_interval_s = b->stats_interval_s,
            .free_page_hinting = offers(b, BALLOON_F_FREE_PAGE_HINT),
            .free_page_reporting = offers(b, BALLOON_F_FREE_PAGE_REPORTING),
        };
        virtio_dev_unlock(&b->dev);
}

int virtio_balloon_update_size(struct virtio_balloon *b, uint32_t amount_mib, struct err *e)
{
        int rc = 0;

        virtio_dev_lock(&b->dev);
        if (!b->dev.activated)
                rc = err_set(e, -EAGAIN, "Balloon: Device not activated yet.");
        else if ((uint64_t)amount_mib > b->dev.mem->total_bytes >> 20)
                rc = err_set(e, -EINVAL, "Balloon: Requested memory should be less than %uMiB",
                             amount_mib);
        if (!rc) {
                b->num_pages = amount_mib * MIB_TO_PAGES;
                virtio_dev_config_changed(&b->dev);
        }
        virtio_dev_unlock(&b->dev);
        return rc;
}

int virtio_balloon_update_interval(struct virtio_balloon *b, uint16_t interval_s, struct err *e)
{
        int rc = 0;

        virtio_dev_lock(&b->dev);
        if (b->stats_interval_s == interval_s)
                goto out;
        if (b->stats_interval_s == 0 || interval_s == 0) {
                rc = err_set(e, -EINVAL,
                             "Balloon: Statistics cannot be enabled/disabled after activation.");
                goto out;
        }
        if (b->stats_desc_held)
                stats_give_back(b);
        else
                log_error("Failed to update balloon stats, missing descriptor.");
        b->stats_interval_s = interval_s;
        arm_timer(b);
out:
        virtio_dev_unlock(&b->dev);
        return rc;
}

static json_t *stats_json(const struct virtio_balloon *b)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
        json_object_set_new(o, "target_pages", json_integer(b->num_pages));
        json_object_set_new(o, "actual_pages", json_integer(b->actual_pages));
        json_object_set_new(o, "target_mib", json_integer(b->num_pages / MIB_TO_PAGES));
        json_object_set_new(o, "actual_mib", json_integer(b->actual_pages / MIB_TO_PAGES));
        for (unsigned int t = 0; t < BALLOON_NR_TAGS; t++)
                if (b->stats_seen & (1u << t))
                        json_object_set_new(o, tag_names[t], json_integer((json_int_t)b->stats[t]));
        return o;
}

int virtio_balloon_stats(struct virtio_balloon *b, json_t **out, struct err *e)
{
        int rc = 0;

        virtio_dev_lock(&b->dev);
        if (b->stats_interval_s == 0)
                rc = err_set(e, -ENOTSUP, "Balloon: Received stats query when stats are disabled.");
        else if (!(*out = stats_json(b)))
                rc = err_errno(e, -ENOMEM);
        virtio_dev_unlock(&b->dev);
        return rc;
}

static int hint_check(struct virtio_balloon *b, struct err *e)
{
        if (!offers(b, BALLOON_F_FREE_PAGE_HINT))
                return err_set(e, -ENOTSUP, "Balloon: Attempting to use hinting when not enabled");
        return 0;
}

static int hint_cmd(struct virtio_balloon *b, uint32_t cmd, struct err *e)
{
        if (!b->dev.activated)
                return err_set(e, -EAGAIN, "Balloon: Device not activated yet.");
        set_hint_cmd(b, cmd);
        return 0;
}

int virtio_balloon_hint_start(struct virtio_balloon *b, bool ack_on_stop, struct err *e)
{
        uint32_t cmd;
        int rc;

        virtio_dev_lock(&b->dev);
        rc = hint_check(b, e);
        if (!rc) {
                cmd = b->last_cmd_id + 1; /* wraps; 0 and 1 are STOP and DONE */
                if (cmd <= BALLOON_HINT_CMD_DONE)
                        cmd = 2;
                b->ack_on_finish = ack_on_stop;
                b->last_cmd_id = cmd;
                rc = hint_cmd(b, cmd, e);
        }
        virtio_dev_unlock(&b->dev);
        return rc;
}

int virtio_balloon_hint_status(struct virtio_balloon *b, json_t **out, struct err *e)
{
        int rc;

        virtio_dev_lock(&b->dev);
        rc = hint_check(b, e);
        if (!rc) {
                *out = json_pack("{s:I,s:o}", "host_cmd", (json_int_t)b->host_cmd, "guest_cmd",
                                 b->has_guest_cmd ? json_integer(b->guest_cmd) : json_null());
                rc = *out ? 0 : err_errno(e, -ENOMEM);
        }
        virtio_dev_unlock(&b->dev);
        return rc;
}

int virtio_balloon_hint_stop(struct virtio_balloon *b, struct err *e)
{
        int rc;

        virtio_dev_lock(&b->dev);
        rc = hint_check(b, e);
        if (!rc)
                rc = hint_cmd(b, BALLOON_HINT_CMD_DONE, e);
        virtio_dev_unlock(&b->dev);
        return rc;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

/* Firecracker's feature bits and queue count for p (Balloon::new()). */
static unsigned int layout_queues(struct virtio_balloon *b, const struct balloon_params *p,
                                  uint64_t *features)
{
        unsigned int n = 2;

        *features = 0;
        if (p->deflate_on_oom)
                *features |= 1ull << BALLOON_F_DEFLATE_ON_OOM;
        if (p->stats_polling_interval_s > 0) {
                *features |= 1ull << BALLOON_F_STATS_VQ;
                n++;
        }
        if (p->free_page_hinting) {
                *features |= 1ull << BALLOON_F_FREE_PAGE_HINT;
                b->hint_q = n++;
        }
        if (p->free_page_reporting) {
                *features |= 1ull << BALLOON_F_FREE_PAGE_REPORTING;
                b->report_q = n++;
        }
        return n;
}

static int balloon_setup(struct virtio_balloon *b, const struct balloon_params *p, struct err *e)
{
        int rc;

        b->dev.base.id = BALLOON_DEV_ID;
        if (p->stats_polling_interval_s == 0)
                return 0;
        b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (b->timer_fd < 0)
                return err_set(e, -errno, "cannot create the stats timer: %s", strerror(errno));
        b->timer_src = (struct ev_source){.fd = b->timer_fd, .fn = on_timer, .opaque = b};
        rc = b->loop ? evloop_add(b->loop, &b->timer_src, EPOLLIN) : 0;
        return rc ? err_errno(e, rc) : 0;
}

int virtio_balloon_create(struct virtio_balloon **out, const struct balloon_params *p,
                          const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        struct virtio_balloon *b;
        uint64_t features;
        unsigned int nq;
        int rc;

        *out = NULL;
        if (p->amount_mib > UINT32_MAX / MIB_TO_PAGES)
                return err_set(e, -EINVAL, "Requested memory should be less than %uMiB",
                               UINT32_MAX / MIB_TO_PAGES);
        b = calloc(1, sizeof(*b));
        if (!b)
                return err_errno(e, -ENOMEM);
        b->loop = loop;
        b->timer_fd = -1;
        b->discard = host_discard;
        b->num_pages = p->amount_mib * MIB_TO_PAGES;
        b->stats_interval_s = p->stats_polling_interval_s;
        nq = layout_queues(b, p, &features);
        /* virtio_dev_init() adds VIRTIO_F_VERSION_1, as Firecracker offers it. */
        rc = virtio_dev_init(&b->dev, &balloon_ops, "balloon", VIRTIO_ID_BALLOON, features, nq,
                             BALLOON_QUEUE_SIZE, mem);
        if (rc) {
                free(b);
                return err_set(e, rc, "balloon: %s", strerror(-rc));
        }
        rc = balloon_setup(b, p, e);
        if (rc) {
                err_prefix(e, "balloon: ");
                virtio_balloon_destroy(b);
                return rc;
        }
        *out = b;
        return 0;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
        if (!b)
                return;
        if (b->loop)
                evloop_del(b->loop, &b->timer_src);
        if (b->timer_fd >= 0)
                close(b->timer_fd);
        virtio_dev_fini(&b->dev);
        free(b);
}
