/* virtio-block device: queue processing, both engines, rate limiting, PATCH updates, metrics. */
#include "devices/virtio/block/virtio_blk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/hostfile.h"
#include "core/log.h"
#include "core/util.h"

#define BLK_QUEUE_SIZE 256
#define BLK_REAP_BATCH 32

enum run_result { RUN_DONE, RUN_SUBMITTED, RUN_THROTTLED };

static struct virtio_blk *blk_of(struct virtio_dev *d)
{
        return (struct virtio_blk *)(void *)d; /* dev is the first member */
}

static const char *type_name(uint32_t type)
{
        switch (type) {
        case VIRTIO_BLK_T_IN:
                return "read";
        case VIRTIO_BLK_T_OUT:
                return "write";
        case VIRTIO_BLK_T_FLUSH:
                return "flush";
        case VIRTIO_BLK_T_GET_ID:
                return "get-id";
        default:
                return "unknown";
        }
}

/* ---- completing requests ---------------------------------------------------------------- */

/*
 * Result of a read, write or flush that ran: counts it, logs a host error (rate limited:
 * the guest can provoke them), writes the status. Returns the used length.
 */
static uint32_t finish_io(struct virtio_blk *b, uint32_t type, uint8_t *status_byte,
                          uint32_t data_len, int64_t res)
{
        uint32_t done = res > 0 ? (uint32_t)res : 0;

        if (type == VIRTIO_BLK_T_FLUSH) {
                if (res >= 0) {
                        b->metrics.flush_count++;
                        return blk_request_finish(status_byte, VIRTIO_BLK_S_OK, 0);
                }
        } else if (type == VIRTIO_BLK_T_IN) {
                b->metrics.read_bytes += done;
                if (res >= 0 && done == data_len) {
                        b->metrics.read_count++;
                        return blk_request_finish(status_byte, VIRTIO_BLK_S_OK, done);
                }
        } else {
                b->metrics.write_bytes += done;
                if (res >= 0 && done == data_len) {
                        b->metrics.write_count++;
                        return blk_request_finish(status_byte, VIRTIO_BLK_S_OK, 0);
                }
        }
        b->metrics.execute_fails++;
        log_guest_warn("%s: %s of %u bytes failed: %s", b->dev.name, type_name(type), data_len,
                       res < 0 ? strerror((int)-res) : "short transfer");
        return blk_request_finish(status_byte, VIRTIO_BLK_S_IOERR,
                                  type == VIRTIO_BLK_T_IN ? done : 0);
}

/* ---- the Async engine's side of the device ---------------------------------------------- */

static int pending_take(struct virtio_blk *b, const struct blk_request *r)
{
        struct blk_pending *p = NULL;
        unsigned int i;

        for (i = 0; i < BLK_AIO_DEPTH && !p; i++)
                if (!b->pending[i].busy)
                        p = &b->pending[i];
        if (!p)
                return -EBUSY;
        if (r->niov > p->iov_cap) {
                struct iovec *iov = realloc(p->iov, r->niov * sizeof(*iov));

                if (!iov)
                        return -ENOMEM;
                p->iov = iov;
                p->iov_cap = r->niov;
        }
        memcpy(p->iov, r->iov, r->niov * sizeof(*p->iov));
        p->type = r->type;
        p->head = r->head;
        p->status = r->status;
        p->data_len = r->data_len;
        return (int)(p - b->pending);
}

static enum run_result submit_async(struct virtio_blk *b, uint32_t *used)
{
        struct blk_request *r = &b->req;
        int slot, rc;

        slot = pending_take(b, r);
        if (slot == -EBUSY)
                return RUN_THROTTLED;
        if (slot < 0) {
                *used = finish_io(b, r->type, r->status, r->data_len, slot);
                return RUN_DONE;
        }
        rc = blk_aio_queue(b->aio, r->type == VIRTIO_BLK_T_OUT, r->type == VIRTIO_BLK_T_FLUSH,
                           blk_request_offset(r), b->pending[slot].iov, r->niov, (uint64_t)slot);
        if (rc == -EBUSY)
                return RUN_THROTTLED;
        b->pending[slot].busy = true;
        return RUN_SUBMITTED;
}

/* Completes one Async operation into the used ring (not published yet). */
static void complete_async(struct virtio_blk *b, const struct blk_aio_done *done)
{
        struct blk_pending *p;
        uint32_t used;

        if (done->cookie >= BLK_AIO_DEPTH || !b->pending[done->cookie].busy)
                return; /* cannot happen: cookies are our slot numbers */
        p = &b->pending[done->cookie];
        p->busy = false;
        used = finish_io(b, p->type, p->status, p->data_len, done->res);
        if (b->dev.activated) /* a reset drains first, so this always holds; cheap to check */
                virtq_push(&b->dev.queues[0], p->head, used);
}

static void publish_and_notify(struct virtio_blk *b)
{
        struct virtq *q = &b->dev.queues[0];

        virtq_publish(q);
        if (virtq_should_notify(q))
                virtio_dev_signal(&b->dev, VIRTIO_INT_VRING);
}

/* Waits for every in-flight operation; completes them into the ring unless discard. */
static void drain_async(struct virtio_blk *b, bool discard)
{
        struct blk_aio_done done;
        unsigned int i;
        bool any = false;

        if (!b->aio)
                return;
        while (blk_aio_wait_one(b->aio, &done) == 0) {
                if (discard) {
                        if (done.cookie < BLK_AIO_DEPTH)
                                b->pending[done.cookie].busy = false;
                        continue;
                }
                complete_async(b, &done);
                any = true;
        }
        for (i = 0; i < BLK_AIO_DEPTH; i++)
                b->pending[i].busy = false;
        if (any && b->dev.activated)
                publish_and_notify(b);
}

/* ---- running requests ------------------------------------------------------------------- */

static enum run_result run_sync(struct virtio_blk *b, uint32_t *used)
{
        struct blk_request *r = &b->req;
        int64_t res;

        if (r->type == VIRTIO_BLK_T_FLUSH)
                res = blk_io_flush(b->fd);
        else
                res = blk_io_rw(b->fd, r->type == VIRTIO_BLK_T_OUT, blk_request_offset(r), r->iov,
                                r->niov);
        *used = finish_io(b, r->type, r->status, r->data_len, res);
        return RUN_DONE;
}

/* Runs a read, write or flush, timing reads and writes as Firecracker's read_agg/write_agg. */
static enum run_result timed(struct virtio_blk *b, uint32_t *used)
{
        uint32_t type = b->req.type;
        uint64_t t0 = now_us();
        enum run_result res = b->aio ? submit_async(b, used) : run_sync(b, used);

        if (type == VIRTIO_BLK_T_IN)
                metric_latency_record(&b->metrics.read_agg, now_us() - t0);
        else if (type == VIRTIO_BLK_T_OUT)
                metric_latency_record(&b->metrics.write_agg, now_us() - t0);
        return res;
}

static enum run_result run_request(struct virtio_blk *b, uint32_t *used)
{
        struct blk_request *r = &b->req;

        if (r->result != BLK_STATUS_NONE) {
                b->metrics.invalid_reqs_count++;
                log_guest_warn("%s: invalid %s request (type %u, sector %llu, %u bytes)",
                               b->dev.name, type_name(r->type), r->type,
                               (unsigned long long)r->sector, r->data_len);
                *used = blk_request_finish(r->status, r->result, 0);
                return RUN_DONE;
        }
        if (r->type == VIRTIO_BLK_T_GET_ID) {
                uint32_t n = blk_request_fill(r, b->image_id, BLK_ID_BYTES);

                *used = blk_request_finish(r->status, VIRTIO_BLK_S_OK, n);
                return RUN_DONE;
        }
        return timed(b, used);
}

/* Takes the request's tokens; true when the limiter says wait. */
static bool rate_limited(struct virtio_blk *b)
{
        const struct blk_request *r = &b->req;
        bool data = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;

        if (!rate_limiter_consume(&b->rl, 1, RL_OPS))
                return true;
        if (data && !rate_limiter_consume(&b->rl, r->data_len, RL_BYTES)) {
                rate_limiter_replenish(&b->rl, 1, RL_OPS);
                return true;
        }
        return false;
}

static void give_back_tokens(struct virtio_blk *b)
{
        const struct blk_request *r = &b->req;

        rate_limiter_replenish(&b->rl, 1, RL_OPS);
        if (r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT)
                rate_limiter_replenish(&b->rl, r->data_len, RL_BYTES);
}

/*
 * Handles one popped chain. Returns false when processing must stop (throttled, or the
 * driver broke the protocol).
 */
static bool handle_chain(struct virtio_blk *b, bool *used_any)
{
        struct virtq *q = &b->dev.queues[0];
        const struct blk_limits lim = {
            .nsectors = b->nsectors, .max_data = b->max_data, .read_only = b->read_only};
        const char *why = "";
        uint32_t used = 0;
        bool valid;

        if (blk_request_parse(&b->chain, &lim, &b->req, &why)) {
                b->metrics.execute_fails++;
                virtio_dev_needs_reset(&b->dev, why);
                return false;
        }
        valid = b->req.result == BLK_STATUS_NONE;
        if (valid && rate_limited(b)) {
                virtq_undo_pop(q);
                b->metrics.rate_limiter_throttled_events++;
                return false;
        }
        switch (run_request(b, &used)) {
        case RUN_THROTTLED:
                virtq_undo_pop(q);
                give_back_tokens(b);
                b->io_throttled = true;
                b->metrics.io_engine_throttled_events++;
                return false;
        case RUN_SUBMITTED:
                return true;
        case RUN_DONE:
        default:
                virtq_push(q, b->req.head, used);
                *used_any = true;
                return true;
        }
}

/* Data bytes a request moves, for the pass's byte budget (0 for flush, GET_ID, errors). */
static uint64_t pass_cost(const struct blk_request *r)
{
        bool data = r->type == VIRTIO_BLK_T_IN || r->type == VIRTIO_BLK_T_OUT;

        return data && r->result == BLK_STATUS_NONE ? r->data_len : 0;
}

/*
 * One bounded pass (see BLK_PASS_BYTES): pops and runs requests until the queue is empty,
 * throttled or broken, or the pass's budget is spent; then the queue's eventfd is signalled
 * again so that the rest waits for the next wakeup of the loop. Lock held.
 */
static void process_queue(struct virtio_blk *b)
{
        struct virtq *q = &b->dev.queues[0];
        unsigned int reqs = 0;
        uint64_t bytes = 0;
        const char *why = "";
        bool used_any = false;
        int rc;

        for (;;) {
                if (reqs >= b->pass_reqs || bytes >= b->pass_bytes) {
                        if (virtq_pending(q))
                                virtio_dev_kick(&b->dev, 0);
                        break;
                }
                rc = virtq_pop(q, &b->chain, &why);
                if (rc < 0)
                        virtio_dev_needs_reset(&b->dev, why);
                if (rc <= 0)
                        break;
                /* As Firecracker: what is still waiting behind each popped request. */
                b->metrics.remaining_reqs_count += virtq_pending(q);
                if (!handle_chain(b, &used_any))
                        break;
                reqs++;
                bytes += pass_cost(&b->req);
        }
        if (used_any)
                publish_and_notify(b);
        else
                b->metrics.no_avail_buffer++;
        if (b->aio && blk_aio_submit(b->aio))
                b->metrics.event_fails++;
}

/* ---- virtio_dev_ops --------------------------------------------------------------------- */

static void blk_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        struct virtio_blk *b = blk_of(d);
        uint32_t i;

        for (i = 0; i < len; i++)
                data[i] = off + i < sizeof(b->config) ? b->config[off + i] : 0;
}

static void blk_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
        (void)data;
        blk_of(d)->metrics.cfg_fails++;
        log_guest_warn("%s: driver wrote read-only config space (offset 0x%llx, %u bytes)", d->name,
                       (unsigned long long)off, len);
}

static int blk_activate(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static void blk_reset(struct virtio_dev *d)
{
        struct virtio_blk *b = blk_of(d);

        /* The driver will reuse its buffers: nothing may land in them after the reset. */
        drain_async(b, true);
        b->io_throttled = false;
}

static void blk_queue_notify(struct virtio_dev *d, unsigned int q)
{
        struct virtio_blk *b = blk_of(d);

        (void)q;
        b->metrics.queue_event_count++;
        if (rate_limiter_blocked(&b->rl))
                b->metrics.rate_limiter_throttled_events++;
        else if (b->io_throttled)
                b->metrics.io_engine_throttled_events++;
        else
                process_queue(b);
}

static void blk_destroy(struct virtio_dev *d)
{
        virtio_blk_destroy(blk_of(d));
}

/* "block_<drive_id>" (the key as long as Firecracker's tests ever saw: 79 bytes at most). */
const struct device_metrics_kind virtio_blk_metrics_kind = {
    .group = "block",
    .kind = DEVICE_VIRTIO_BLOCK,
    .sum_first = true,
    .key_size = 80,
    .table = &blk_metrics_table,
};

/*
 * A drive's whole state is the common virtio state once nothing is in flight: the Sync engine
 * finishes every request inside its notification, and prepare_save completes the Async
 * engine's.
 */
static int blk_snapshot_check(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

/*
 * As Firecracker's prepare_save: every in-flight Async operation is waited for and completed
 * into the used ring (so the saved indices and memory hold its result), then the file is
 * synced so that the data the guest was told is written is on the disk the loaded VM opens.
 */
static void blk_prepare_save(struct virtio_dev *d)
{
        struct virtio_blk *b = blk_of(d);
        int rc;

        if (!d->activated)
                return;
        drain_async(b, false);
        rc = blk_io_flush(b->fd);
        if (rc)
                log_error("Failed to drain ops and flush block data: %s", strerror(-rc));
}

static const struct virtio_dev_ops blk_ops = {
    .snapshot_check = blk_snapshot_check,
    .prepare_save = blk_prepare_save,
    .read_config = blk_read_config,
    .write_config = blk_write_config,
    .activate = blk_activate,
    .reset = blk_reset,
    .queue_notify = blk_queue_notify,
    .destroy = blk_destroy,
};

/* ---- events from the VMM loop ------------------------------------------------------------ */

void virtio_blk_rate_limiter_event(struct virtio_blk *b)
{
        virtio_dev_lock(&b->dev);
        b->metrics.rate_limiter_event_count++;
        if (rate_limiter_event(&b->rl) == 0 && virtio_dev_running(&b->dev) && !b->io_throttled)
                process_queue(b);
        virtio_dev_unlock(&b->dev);
}

void virtio_blk_aio_event(struct virtio_blk *b)
{
        struct blk_aio_done done[BLK_REAP_BATCH];
        unsigned int n, i;
        bool any = false;

        virtio_dev_lock(&b->dev);
        do {
                n = blk_aio_reap(b->aio, done, BLK_REAP_BATCH);
                for (i = 0; i < n; i++)
                        complete_async(b, &done[i]);
                any |= n > 0;
        } while (n == BLK_REAP_BATCH);
        if (any && b->dev.activated)
                publish_and_notify(b);
        if (b->io_throttled) {
                b->io_throttled = false;
                if (virtio_dev_running(&b->dev) && !rate_limiter_blocked(&b->rl))
                        process_queue(b);
        }
        virtio_dev_unlock(&b->dev);
}

static void on_rate_limiter(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_blk_rate_limiter_event(src->opaque);
}

static void on_aio(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_blk_aio_event(src->opaque);
}

/* ---- the backing file -------------------------------------------------------------------- */

struct disk {
        int fd;
        uint64_t nsectors;
        uint8_t id[BLK_ID_BYTES];
};

static int open_disk(const char *path, bool read_only, struct disk *out, struct err *e)
{
        char id[3 * 21 + 1];
        struct stat st;
        off_t size;
        int rc;

        out->fd = hostfile_open(path, read_only ? O_RDONLY : O_RDWR);
        if (out->fd == -EINVAL)
                return err_set(e, -EINVAL,
                               "Error manipulating the backing file: %s " HOSTFILE_BAD_TYPE, path);
        if (out->fd < 0) {
                rc = out->fd;
                /* Firecracker's VirtioBlockError::BackingFile text. */
                return err_set(e, rc, "Error manipulating the backing file: %s (os error %d) %s",
                               strerror(-rc), -rc, path);
        }
        size = lseek(out->fd, 0, SEEK_END);
        if (size < 0 || fstat(out->fd, &st) < 0) {
                rc = -errno;
                err_set(e, rc, "Error manipulating the backing file: %s (os error %d) %s",
                        strerror(-rc), -rc, path);
                close(out->fd);
                return rc;
        }
        if (size % BLK_SECTOR_SIZE)
                log_warn("Disk size %lld of %s is not a multiple of sector size %u; the "
                         "remainder will not be visible to the guest.",
                         (long long)size, path, BLK_SECTOR_SIZE);
        out->nsectors = (uint64_t)size >> BLK_SECTOR_SHIFT;
        /* Firecracker's (and kvmtool's) id: st_dev, st_rdev and st_ino, as decimals. */
        snprintf(id, sizeof(id), "%llu%llu%llu", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_rdev, (unsigned long long)st.st_ino);
        memset(out->id, 0, sizeof(out->id));
        memcpy(out->id, id, strlen(id) < sizeof(out->id) ? strlen(id) : sizeof(out->id));
        return 0;
}

static void install_disk(struct virtio_blk *b, const struct disk *disk)
{
        uint64_t cap = disk->nsectors;
        unsigned int i;

        b->fd = disk->fd;
        b->nsectors = cap;
        for (i = 0; i < sizeof(b->config); i++)
                b->config[i] = (uint8_t)(cap >> (8 * i));
        memcpy(b->image_id, disk->id, sizeof(b->image_id));
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static uint64_t blk_features(const struct blk_params *p)
{
        uint64_t f = 1ULL << VIRTIO_RING_F_EVENT_IDX | 1ULL << VIRTIO_RING_F_INDIRECT_DESC;

        if (p->cache == BLK_CACHE_WRITEBACK)
                f |= 1ULL << VIRTIO_BLK_F_FLUSH;
        if (p->read_only)
                f |= 1ULL << VIRTIO_BLK_F_RO;
        return f;
}

static int watch(struct virtio_blk *b, struct ev_source *src, int fd, ev_handler_fn fn)
{
        *src = (struct ev_source){.fd = fd, .fn = fn, .opaque = b};
        return b->loop ? evloop_add(b->loop, src, EPOLLIN) : 0;
}

static int blk_setup(struct virtio_blk *b, const struct blk_params *p, struct err *e)
{
        struct disk disk;
        int rc;

        b->drive_id = strdup(p->drive_id);
        b->path = strdup(p->path);
        if (!b->drive_id || !b->path)
                return err_errno(e, -ENOMEM);
        b->dev.base.id = b->drive_id;
        b->dev.metrics = &b->metrics;
        b->dev.metrics_prev = &b->metrics_prev;
        rc = open_disk(p->path, p->read_only, &disk, e);
        if (rc)
                return rc;
        install_disk(b, &disk);
        rc = rate_limiter_init(&b->rl, &p->rate_limiter);
        if (rc)
                return err_set(e, rc, "cannot create the rate limiter: %s", strerror(-rc));
        if (p->engine == BLK_ENGINE_ASYNC) {
                rc = blk_aio_create(&b->aio, b->fd);
                if (rc)
                        return err_set(e, rc, "cannot set up io_uring: %s", strerror(-rc));
                rc = watch(b, &b->aio_src, blk_aio_eventfd(b->aio), on_aio);
                if (rc)
                        return err_errno(e, rc);
        }
        rc = watch(b, &b->rl_src, b->rl.timer_fd, on_rate_limiter);
        return rc ? err_errno(e, rc) : 0;
}

int virtio_blk_create(struct virtio_blk **out, const struct blk_params *p,
                      const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        struct virtio_blk *b;
        char name[80];
        int rc;

        *out = NULL;
        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->fd = -1;
        b->loop = loop;
        b->read_only = p->read_only;
        b->cache = p->cache;
        b->engine = p->engine;
        b->max_data = mem->total_bytes;
        b->pass_reqs = BLK_QUEUE_SIZE;
        b->pass_bytes = BLK_PASS_BYTES;
        snprintf(name, sizeof(name), "block %s", p->drive_id);
        rc = virtio_dev_init(&b->dev, &blk_ops, name, VIRTIO_ID_BLOCK, blk_features(p), 1,
                             BLK_QUEUE_SIZE, mem);
        if (rc) {
                free(b);
                return err_set(e, rc, "drive %s: %s", p->drive_id, strerror(-rc));
        }
        rc = blk_setup(b, p, e);
        if (rc) {
                err_prefix(e, "drive %s: ", p->drive_id);
                virtio_blk_destroy(b);
                return rc;
        }
        *out = b;
        return 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
        unsigned int i;

        if (!b)
                return;
        if (b->loop) {
                evloop_del(b->loop, &b->rl_src);
                evloop_del(b->loop, &b->aio_src);
        }
        blk_aio_destroy(b->aio); /* waits for in-flight operations */
        if (b->fd >= 0) {
                if (b->cache == BLK_CACHE_WRITEBACK && !b->read_only && fsync(b->fd) < 0)
                        log_error("%s: flushing on exit failed: %s", b->dev.name, strerror(errno));
                close(b->fd);
        }
        rate_limiter_destroy(&b->rl);
        for (i = 0; i < BLK_AIO_DEPTH; i++)
                free(b->pending[i].iov);
        virtio_dev_fini(&b->dev);
        free(b->drive_id);
        free(b->path);
        free(b);
}

/* ---- PATCH ------------------------------------------------------------------------------- */

static int swap_disk(struct virtio_blk *b, const struct disk *disk, struct err *e)
{
        int rc;

        drain_async(b, false); /* old requests finish on the old file */
        if (b->aio) {
                rc = blk_aio_set_fd(b->aio, disk->fd);
                if (rc)
                        return err_set(e, rc, "Error coming from the IO engine: %s (os error %d)",
                                       strerror(-rc), -rc);
        }
        close(b->fd);
        install_disk(b, disk);
        return 0;
}

int virtio_blk_update_path(struct virtio_blk *b, const char *path, struct err *e)
{
        struct disk disk;
        char *copy;
        int rc;

        copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        rc = open_disk(path, b->read_only, &disk, e);
        virtio_dev_lock(&b->dev);
        if (rc == 0) {
                rc = swap_disk(b, &disk, e);
                if (rc)
                        close(disk.fd);
        }
        if (rc == 0) {
                free(b->path);
                b->path = copy;
                copy = NULL;
                b->metrics.update_count++;
                if (b->dev.activated)
                        virtio_dev_config_changed(&b->dev);
        } else {
                b->metrics.update_fails++;
        }
        virtio_dev_unlock(&b->dev);
        free(copy);
        return rc;
}

void virtio_blk_update_rate_limiter(struct virtio_blk *b, const struct rate_limiter_update *u)
{
        virtio_dev_lock(&b->dev);
        rate_limiter_update(&b->rl, u);
        virtio_dev_unlock(&b->dev);
}
