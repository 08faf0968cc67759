/* virtio-pmem device: the backing file's mapping, flush requests, rate limiting, metrics. */
#include "devices/virtio/pmem/virtio_pmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

static const struct metrics_desc pmem_desc[] = {
    PMEM_DEV_METRICS(METRICS_DESC, struct pmem_dev_metrics)};
static const struct metrics_table pmem_metrics_table =
    METRICS_TABLE(pmem_desc, struct pmem_dev_metrics);

/* "pmem_<id>" each, then their sum "pmem", as Firecracker's flush_metrics writes them. */
const struct device_metrics_kind virtio_pmem_metrics_kind = {
    .group = "pmem",
    .kind = DEVICE_VIRTIO_PMEM,
    .sum_first = false,
    .key_size = 80,
    .table = &pmem_metrics_table,
};

static struct virtio_pmem *pmem_of(struct virtio_dev *d)
{
        return (struct virtio_pmem *)(void *)d; /* dev is the first member */
}

uint64_t virtio_pmem_region_size(uint64_t file_len)
{
        return (file_len + PMEM_ALIGNMENT - 1) & ~(PMEM_ALIGNMENT - 1);
}

/* ---- one request ------------------------------------------------------------------------- */

/*
 * Checks a chain as Firecracker's process_chain() does: a 4-byte readable head holding
 * VIRTIO_PMEM_REQ_TYPE_FLUSH, then a 4-byte writable status. Returns NULL, or why not.
 */
static const char *bad_request(const struct virtq_chain *c)
{
        uint32_t type;

        if (c->nreadable == 0)
                return "Unexpected write-only descriptor";
        if (c->segs[0].len != 4)
                return "Head descriptor has invalid length instead of 4";
        memcpy(&type, c->segs[0].hva, sizeof(type));
        if (type != VIRTIO_PMEM_REQ_TYPE_FLUSH)
                return "UnknownRequestType";
        if (c->nsegs < 2)
                return "Descriptor chain too short";
        if (c->nreadable > 1)
                return "Unexpected read-only descriptor";
        if (c->segs[1].len != 4)
                return "Status descriptor has invalid length instead of 4";
        return NULL;
}

/* msync of the file's bytes: 0 (SUCCESS) or -1 (FAILURE), the status the guest reads. */
static int32_t flush_file(struct virtio_pmem *m)
{
        if (msync(m->map, m->file_len, MS_SYNC) == 0)
                return 0;
        log_error("pmem: Unable to msync the file. Error: %s", strerror(errno));
        return -1;
}

/* ---- the queue ---------------------------------------------------------------------------- */

/* One op and the file's bytes per pass, taken before any request is looked at (Firecracker). */
static bool rate_limited(struct virtio_pmem *m)
{
        return !rate_limiter_consume_request(&m->rl, m->file_len);
}

/*
 * Serves every pending request with one msync, whose result each gets (the requests of one
 * notification are one flush, as Firecracker). At most one ring's worth per pass, so a
 * guest cannot keep the VMM thread here. Lock held.
 */
static void process_queue(struct virtio_pmem *m)
{
        struct virtq *q = &m->dev.queues[0];
        unsigned int budget = q->size ? q->size : 1;
        bool have_status = false, used_any = false;
        const char *why = "";
        int32_t status = 0;
        int rc;

        if (virtq_pending(q) == 0)
                return;
        if (rate_limited(m)) {
                m->metrics.rate_limiter_throttled_events++;
                return;
        }
        while (budget-- > 0) {
                rc = virtq_pop(q, &m->chain, &why);
                if (rc < 0) {
                        m->metrics.event_fails++;
                        virtio_dev_needs_reset(&m->dev, why);
                }
                if (rc <= 0)
                        break;
                why = bad_request(&m->chain);
                if (why) {
                        m->metrics.event_fails++;
                        log_guest_warn("%s: %s", m->dev.name, why);
                        virtq_push(q, m->chain.head, 0);
                } else {
                        if (!have_status)
                                status = flush_file(m);
                        have_status = true;
                        memcpy(m->chain.segs[1].hva, &status, sizeof(status));
                        virtq_push(q, m->chain.head, 4);
                }
                used_any = true;
        }
        virtio_dev_end_pass(&m->dev, q, 0, used_any);
}

/* ---- virtio_dev_ops ----------------------------------------------------------------------- */

static void pmem_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        const struct virtio_pmem *m = pmem_of(d);

        virtio_config_read(&m->config, sizeof(m->config), off, data, len);
}

/* The config space is read-only: writes are dropped, as Firecracker's write_config. */
static void pmem_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
        (void)d;
        (void)off;
        (void)data;
        (void)len;
}

static int pmem_activate(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static void pmem_reset(struct virtio_dev *d)
{
        (void)d; /* requests are served within their notification: nothing in flight */
}

/* As Firecracker's process_queue(): a notify while the limiter blocks only counts. */
static void pmem_queue_notify(struct virtio_dev *d, unsigned int q)
{
        struct virtio_pmem *m = pmem_of(d);

        (void)q;
        m->metrics.queue_event_count++;
        if (rate_limiter_blocked(&m->rl))
                m->metrics.rate_limiter_throttled_events++;
        else
                process_queue(m);
}

static void pmem_destroy(struct virtio_dev *d)
{
        virtio_pmem_destroy(pmem_of(d));
}

/* Requests are served within their notification; the region is rebuilt from the config. */
static int pmem_snapshot_check(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static const struct virtio_dev_ops pmem_ops = {
    .snapshot_check = pmem_snapshot_check,
    .read_config = pmem_read_config,
    .write_config = pmem_write_config,
    .activate = pmem_activate,
    .reset = pmem_reset,
    .queue_notify = pmem_queue_notify,
    .destroy = pmem_destroy,
};

/* ---- events from the VMM loop -------------------------------------------------------------- */

void virtio_pmem_rate_limiter_event(struct virtio_pmem *m)
{
        virtio_dev_lock(&m->dev);
        m->metrics.rate_limiter_event_count++;
        if (rate_limiter_event(&m->rl) == 0 && virtio_dev_running(&m->dev))
                process_queue(m);
        virtio_dev_unlock(&m->dev);
}

static void on_rate_limiter(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_pmem_rate_limiter_event(src->opaque);
}

void virtio_pmem_update_rate_limiter(struct virtio_pmem *m, const struct rate_limiter_update *u)
{
        virtio_dev_lock(&m->dev);
        rate_limiter_update(&m->rl, u);
        virtio_dev_unlock(&m->dev);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

/*
 * Maps the file over a reservation of the region's whole size, so that the tail past the
 * file's end is private anonymous memory (Firecracker's double mapping).
 */
static int map_file(struct virtio_pmem *m, int fd, bool read_only, struct err *e)
{
        int prot = PROT_READ | (read_only ? 0 : PROT_WRITE);
        void *p;

        p = mmap(NULL, m->config.size, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
                return err_set(e, -errno, "Error accessing backing file: %s (os error %d)",
                               strerror(errno), errno);
        m->map = p;
        p = mmap(p, m->file_len, prot, MAP_SHARED | MAP_NORESERVE | MAP_FIXED, fd, 0);
        if (p == MAP_FAILED)
                return err_set(e, -errno, "Error accessing backing file: %s (os error %d)",
                               strerror(errno), errno);
        return 0;
}

static int open_backing(struct virtio_pmem *m, const struct pmem_params *p, struct err *e)
{
        struct stat st;
        int fd, rc = 0;

        fd = open(p->path, (p->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd < 0)
                return err_set(e, -errno, "Error accessing backing file: %s (os error %d)",
                               strerror(errno), errno);
        if (fstat(fd, &st) < 0)
                rc = err_set(e, -errno, "Error accessing backing file: %s (os error %d)",
                             strerror(errno), errno);
        else if (st.st_size == 0)
                rc = err_set(e, -EINVAL, "Error backing file size is 0");
        if (!rc) {
                m->file_len = (uint64_t)st.st_size;
                m->config.size = virtio_pmem_region_size(m->file_len);
                rc = map_file(m, fd, p->read_only, e);
        }
        close(fd); /* the mapping keeps the file */
        return rc;
}

static int pmem_setup(struct virtio_pmem *m, const struct pmem_params *p, struct err *e)
{
        int rc;

        m->id = strdup(p->id);
        if (!m->id)
                return err_errno(e, -ENOMEM);
        m->dev.base.id = m->id;
        snprintf(m->dev.name, sizeof(m->dev.name), "pmem %s", m->id);
        rc = open_backing(m, p, e);
        if (rc)
                return rc;
        rc = rate_limiter_init(&m->rl, &p->rate_limiter);
        if (rc)
                return err_set(e, rc, "Error creating rate limiter: %s", strerror(-rc));
        m->rl_src = (struct ev_source){.fd = m->rl.timer_fd, .fn = on_rate_limiter, .opaque = m};
        rc = m->loop ? evloop_add(m->loop, &m->rl_src, EPOLLIN) : 0;
        return rc ? err_errno(e, rc) : 0;
}

int virtio_pmem_create(struct virtio_pmem **out, const struct pmem_params *p, uint64_t gpa,
                       const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        struct virtio_pmem *m;
        int rc;

        *out = NULL;
        m = calloc(1, sizeof(*m));
        if (!m)
                return err_errno(e, -ENOMEM);
        m->loop = loop;
        m->rl.timer_fd = -1;
        m->config.start = gpa;
        /* Firecracker offers VIRTIO_F_VERSION_1 only (virtio_dev_init() adds it). */
        rc =
            virtio_dev_init(&m->dev, &pmem_ops, "pmem", VIRTIO_ID_PMEM, 0, 1, PMEM_QUEUE_SIZE, mem);
        if (rc) {
                free(m);
                return err_set(e, rc, "pmem: %s", strerror(-rc));
        }
        m->dev.metrics = &m->metrics;
        m->dev.metrics_prev = &m->metrics_prev;
        rc = pmem_setup(m, p, e);
        if (rc) {
                virtio_pmem_destroy(m);
                return rc;
        }
        *out = m;
        return 0;
}

void virtio_pmem_destroy(struct virtio_pmem *m)
{
        if (!m)
                return;
        if (m->loop && m->rl_src.registered)
                evloop_del(m->loop, &m->rl_src);
        rate_limiter_destroy(&m->rl);
        if (m->map)
                munmap(m->map, m->config.size);
        virtio_dev_fini(&m->dev);
        free(m->id);
        free(m);
}
