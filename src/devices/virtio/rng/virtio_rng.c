/* virtio-rng device: the request path, the host random source, rate limiting, entropy metrics. */
#include "devices/virtio/rng/virtio_rng.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>

#include "core/log.h"
#include "core/metrics.h"

static struct virtio_rng *rng_of(struct virtio_dev *d)
{
        return (struct virtio_rng *)(void *)d; /* dev is the first member */
}

static ssize_t host_getrandom(void *buf, size_t len, unsigned int flags)
{
        return getrandom(buf, len, flags);
}

/* ---- one request ------------------------------------------------------------------------ */

/*
 * Fills buf[0..len) from the host source without ever blocking: GRND_NONBLOCK, short reads
 * continued, EINTR retried. Returns 0, or -errno (-EAGAIN: the host pool is not ready).
 */
static int fill_random(struct virtio_rng *r, uint8_t *buf, size_t len)
{
        while (len > 0) {
                ssize_t n = r->source(buf, len, GRND_NONBLOCK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                buf += n;
                len -= (size_t)n;
        }
        return 0;
}

/*
 * Fills the chain's writable buffers in order, at most RNG_MAX_REQUEST_BYTES in all
 * (overlapping descriptors cannot make the device write more than that). Returns the
 * bytes written, or -errno from the host source (nothing counts as written then).
 */
static int64_t fill_chain(struct virtio_rng *r, const struct virtq_chain *c)
{
        uint32_t left = RNG_MAX_REQUEST_BYTES, done = 0;
        unsigned int i;
        int rc;

        for (i = c->nreadable; i < c->nsegs && left > 0; i++) {
                uint32_t n = c->segs[i].len < left ? c->segs[i].len : left;

                rc = fill_random(r, c->segs[i].hva, n);
                if (rc)
                        return rc;
                done += n;
                left -= n;
        }
        return done;
}

/* Takes one op and the request's bytes; false (nothing taken) when the limiter says wait. */
static bool rate_limited(struct virtio_rng *r, uint64_t bytes)
{
        return !rate_limiter_consume_request(&r->rl, bytes);
}

/*
 * Serves the popped chain into *used (bytes written). Returns false when it was throttled:
 * the chain went back to the ring. A chain with a readable buffer is answered with 0
 * bytes and counted in entropy_event_fails, as Firecracker's IoVecBufferMut refuses it.
 */
static bool serve_chain(struct virtio_rng *r, uint32_t *used)
{
        const struct virtq_chain *c = &r->chain;
        int64_t n;

        *used = 0;
        metrics_inc(&metrics.entropy.entropy_event_count);
        if (c->nreadable > 0) {
                metrics_inc(&metrics.entropy.entropy_event_fails);
                log_guest_warn("%s: request with a device-readable buffer", r->dev.name);
                return true;
        }
        if (rate_limited(r, c->writable_bytes)) {
                virtq_undo_pop(&r->dev.queues[0]);
                metrics_inc(&metrics.entropy.entropy_rate_limiter_throttled);
                return false;
        }
        if (c->writable_bytes == 0)
                return true; /* an empty buffer: nothing to fill, as Firecracker */
        n = fill_chain(r, c);
        if (n < 0) {
                metrics_inc(&metrics.entropy.host_rng_fails);
                metrics_inc(&metrics.entropy.entropy_event_fails);
                log_guest_warn("%s: host random source failed: %s", r->dev.name, strerror((int)-n));
                return true;
        }
        *used = (uint32_t)n;
        metrics_add_count(&metrics.entropy.entropy_bytes, (uint64_t)n);
        return true;
}

/* ---- the queue -------------------------------------------------------------------------- */

static void publish_and_notify(struct virtio_rng *r)
{
        struct virtq *q = &r->dev.queues[0];

        virtq_publish(q);
        if (virtq_should_notify(q))
                virtio_dev_signal_queue(&r->dev, 0);
}

/*
 * Serves requests until the queue is empty, throttled or broken. A bounded pass: at most
 * one ring's worth of requests and RNG_PASS_BYTES, then the device re-kicks itself so the
 * VMM loop serves every other source first. Lock held.
 */
static void process_queue(struct virtio_rng *r)
{
        struct virtq *q = &r->dev.queues[0];
        unsigned int budget = RNG_QUEUE_SIZE;
        uint64_t bytes = 0;
        const char *why = "";
        bool used_any = false;
        uint32_t used;
        int rc;

        for (;;) {
                if (budget-- == 0 || bytes >= RNG_PASS_BYTES) {
                        virtio_dev_kick(&r->dev, 0);
                        break;
                }
                rc = virtq_pop(q, &r->chain, &why);
                if (rc < 0) {
                        metrics_inc(&metrics.entropy.entropy_event_fails);
                        virtio_dev_needs_reset(&r->dev, why);
                }
                if (rc <= 0 || !serve_chain(r, &used))
                        break;
                virtq_push(q, r->chain.head, used);
                bytes += used;
                used_any = true;
        }
        if (used_any)
                publish_and_notify(r);
}

/* ---- virtio_dev_ops --------------------------------------------------------------------- */

/* No config space (virtio 1.x 5.4.4): reads are zeros, writes are ignored, as Firecracker. */
static void rng_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        (void)d;
        (void)off;
        memset(data, 0, len);
}

static void rng_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
        (void)d;
        (void)off;
        (void)data;
        (void)len;
}

static int rng_activate(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static void rng_reset(struct virtio_dev *d)
{
        (void)d; /* requests are served synchronously: nothing in flight */
}

/* As Firecracker's process_entropy_queue_event: a notify while throttled is a limiter event. */
static void rng_queue_notify(struct virtio_dev *d, unsigned int q)
{
        struct virtio_rng *r = rng_of(d);

        (void)q;
        if (rate_limiter_blocked(&r->rl))
                metrics_inc(&metrics.entropy.rate_limiter_event_count);
        else
                process_queue(r);
}

static void rng_destroy(struct virtio_dev *d)
{
        virtio_rng_destroy(rng_of(d));
}

/* Each request is served within its notification: the common state is all there is. */
static int rng_snapshot_check(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static const struct virtio_dev_ops rng_ops = {
    .snapshot_check = rng_snapshot_check,
    .read_config = rng_read_config,
    .write_config = rng_write_config,
    .activate = rng_activate,
    .reset = rng_reset,
    .queue_notify = rng_queue_notify,
    .destroy = rng_destroy,
};

/* ---- events from the VMM loop ------------------------------------------------------------ */

void virtio_rng_rate_limiter_event(struct virtio_rng *r)
{
        virtio_dev_lock(&r->dev);
        metrics_inc(&metrics.entropy.rate_limiter_event_count);
        if (rate_limiter_event(&r->rl) == 0 && virtio_dev_running(&r->dev))
                process_queue(r);
        virtio_dev_unlock(&r->dev);
}

static void on_rate_limiter(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_rng_rate_limiter_event(src->opaque);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static int rng_setup(struct virtio_rng *r, const struct rng_params *p, struct err *e)
{
        int rc;

        r->dev.base.id = RNG_DEV_ID;
        rc = rate_limiter_init(&r->rl, &p->rate_limiter);
        if (rc)
                return err_set(e, rc, "cannot create the rate limiter: %s", strerror(-rc));
        r->rl_src = (struct ev_source){.fd = r->rl.timer_fd, .fn = on_rate_limiter, .opaque = r};
        rc = r->loop ? evloop_add(r->loop, &r->rl_src, EPOLLIN) : 0;
        return rc ? err_errno(e, rc) : 0;
}

int virtio_rng_create(struct virtio_rng **out, const struct rng_params *p,
                      const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        struct virtio_rng *r;
        int rc;

        *out = NULL;
        r = calloc(1, sizeof(*r));
        if (!r)
                return err_errno(e, -ENOMEM);
        r->loop = loop;
        r->source = host_getrandom;
        r->rl.timer_fd = -1;
        /* Firecracker offers VIRTIO_F_VERSION_1 only (virtio_dev_init() adds it). */
        rc =
            virtio_dev_init(&r->dev, &rng_ops, "entropy", VIRTIO_ID_RNG, 0, 1, RNG_QUEUE_SIZE, mem);
        if (rc) {
                free(r);
                return err_set(e, rc, "entropy: %s", strerror(-rc));
        }
        rc = rng_setup(r, p, e);
        if (rc) {
                err_prefix(e, "entropy: ");
                virtio_rng_destroy(r);
                return rc;
        }
        *out = r;
        return 0;
}

void virtio_rng_destroy(struct virtio_rng *r)
{
        if (!r)
                return;
        if (r->loop)
                evloop_del(r->loop, &r->rl_src);
        rate_limiter_destroy(&r->rl);
        virtio_dev_fini(&r->dev);
        free(r);
}
