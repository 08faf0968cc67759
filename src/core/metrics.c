/* Metrics: the generic group writer and the process groups, one JSON line per flush. */
#include "core/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

struct brasa_metrics metrics;

/* Each process group's descriptors: api_server_desc[], ... */
#define GROUP_DESC(g, LIST)                                                                        \
        static const struct metrics_desc g##_desc[] = {LIST(METRICS_DESC, struct g##_metrics)};
METRICS_PROCESS_HEAD(GROUP_DESC)
METRICS_PROCESS_TAIL(GROUP_DESC)
#undef GROUP_DESC

/* A process group: its key, where it lies in struct brasa_metrics, its fields. */
struct process_group {
        const char *name;
        size_t off;
        struct metrics_table t;
};

#define GROUP(g, LIST)                                                                             \
        {#g, offsetof(struct brasa_metrics, g), METRICS_TABLE(g##_desc, struct g##_metrics)},

/* Firecracker's FirecrackerMetrics order; the device groups come from the source between. */
static const struct process_group head_groups[] = {METRICS_PROCESS_HEAD(GROUP)};
static const struct process_group tail_groups[] = {METRICS_PROCESS_TAIL(GROUP)};
#undef GROUP

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static int metrics_fd = -1;
static metrics_source_fn source_fn;
static void *source_ctx;
static struct brasa_metrics flushed; /* the counters as of the last line written */

/* ---- the generic group helpers ----------------------------------------------------------- */

static uint64_t *u64_at(void *base, size_t off)
{
        return (uint64_t *)(void *)((char *)base + off);
}

static uint64_t load_at(const void *base, size_t off)
{
        return __atomic_load_n((const uint64_t *)(const void *)((const char *)base + off),
                               __ATOMIC_RELAXED);
}

static struct metric_latency *latency_at(void *base, size_t off)
{
        return (struct metric_latency *)(void *)((char *)base + off);
}

void metric_latency_record(struct metric_latency *l, uint64_t us)
{
        if (l->count == 0 || us < l->min_us)
                l->min_us = us;
        if (us > l->max_us)
                l->max_us = us;
        l->sum_us += us;
        l->count++;
}

static void latency_merge(struct metric_latency *into, const struct metric_latency *l)
{
        if (!l->count)
                return;
        if (into->count == 0 || l->min_us < into->min_us)
                into->min_us = l->min_us;
        if (l->max_us > into->max_us)
                into->max_us = l->max_us;
        into->sum_us += l->sum_us;
        into->count += l->count;
}

/*
 * With prev (a process group), as Firecracker's LatencyAggregateMetrics: min_us and max_us
 * over the process's life, sum_us (a SharedIncMetric) since the previous line.
 */
static json_t *latency_json(const struct metrics_desc *d, const void *cur, void *prev)
{
        const struct metric_latency *l =
            (const struct metric_latency *)(const void *)((const char *)cur + d->off);
        uint64_t sum = l->sum_us, p;

        if (prev) {
                p = latency_at(prev, d->off)->sum_us;
                latency_at(prev, d->off)->sum_us = sum;
                sum = sum >= p ? sum - p : sum;
        }
        return json_pack("{sI sI sI}", "min_us", (json_int_t)l->min_us, "max_us",
                         (json_int_t)l->max_us, "sum_us", (json_int_t)sum);
}

static json_t *field_json(const struct metrics_desc *d, const void *cur, void *prev)
{
        uint64_t v, p;

        switch (d->kind) {
        case METRIC_LATENCY:
                return latency_json(d, cur, prev);
        case METRIC_COUNTER:
                v = load_at(cur, d->off);
                if (prev) {
                        p = *u64_at(prev, d->off);
                        *u64_at(prev, d->off) = v;
                        v = v >= p ? v - p : v;
                }
                return json_integer((json_int_t)v);
        case METRIC_GAUGE:
        default:
                return json_integer((json_int_t)load_at(cur, d->off));
        }
}

int metrics_group_write(json_t *root, const char *name, const struct metrics_table *t,
                        const void *cur, void *prev)
{
        json_t *o = json_object();
        size_t i;

        if (!o)
                return -ENOMEM;
        for (i = 0; i < t->n; i++) {
                if (json_object_set_new(o, t->desc[i].name, field_json(&t->desc[i], cur, prev)))
                        goto fail;
        }
        if (json_object_set_new(root, name, o) == 0)
                return 0;
        o = NULL;
fail:
        json_decref(o);
        return -ENOMEM;
}

void metrics_take(const struct metrics_table *t, void *cur, void *prev, void *delta)
{
        size_t i, off;

        memset(delta, 0, t->size);
        for (i = 0; i < t->n; i++) {
                off = t->desc[i].off;
                if (t->desc[i].kind == METRIC_LATENCY) {
                        *latency_at(delta, off) = *latency_at(cur, off);
                        memset(latency_at(cur, off), 0, sizeof(struct metric_latency));
                } else if (t->desc[i].kind == METRIC_COUNTER) {
                        *u64_at(delta, off) = *u64_at(cur, off) - *u64_at(prev, off);
                } else {
                        *u64_at(delta, off) = *u64_at(cur, off);
                }
        }
        memcpy(prev, cur, t->size);
}

void metrics_add(const struct metrics_table *t, void *sum, const void *m)
{
        size_t i, off;

        for (i = 0; i < t->n; i++) {
                off = t->desc[i].off;
                if (t->desc[i].kind == METRIC_LATENCY)
                        latency_merge(
                            latency_at(sum, off),
                            (const struct metric_latency *)(const void *)((const char *)m + off));
                else
                        *u64_at(sum, off) += load_at(m, off);
        }
}

/* ---- the process line -------------------------------------------------------------------- */

void metrics_set_source(metrics_source_fn fn, void *ctx)
{
        pthread_mutex_lock(&metrics_lock);
        source_fn = fn;
        source_ctx = ctx;
        pthread_mutex_unlock(&metrics_lock);
}

int metrics_init(const char *path)
{
        int fd, rc = 0;

        pthread_mutex_lock(&metrics_lock);
        if (metrics_fd >= 0) {
                rc = -EALREADY;
                goto out;
        }
        /* O_RDWR keeps a FIFO openable without a reader, as Firecracker's open_file_nonblock. */
        fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_CLOEXEC | O_APPEND, 0644);
        if (fd < 0) {
                rc = -errno;
                goto out;
        }
        metrics_fd = fd;
out:
        pthread_mutex_unlock(&metrics_lock);
        return rc;
}

bool metrics_configured(void)
{
        bool on;

        pthread_mutex_lock(&metrics_lock);
        on = metrics_fd >= 0;
        pthread_mutex_unlock(&metrics_lock);
        return on;
}

/* Writes the groups; the counters' new baseline goes to pending, kept once the line is out. */
static int add_groups(json_t *root, const struct process_group *g, size_t n,
                      struct brasa_metrics *pending)
{
        size_t i;
        int rc = 0;

        for (i = 0; i < n && rc == 0; i++) {
                if (source_fn && source_fn(source_ctx, root, g[i].name))
                        continue; /* the devices of that kind wrote it */
                rc = metrics_group_write(root, g[i].name, &g[i].t, (char *)&metrics + g[i].off,
                                         (char *)pending + g[i].off);
        }
        return rc;
}

static json_t *build_line(struct brasa_metrics *pending)
{
        struct timespec ts;
        json_t *root = json_object();

        if (!root)
                return NULL;
        clock_gettime(CLOCK_REALTIME, &ts);
        json_object_set_new(root, "utc_timestamp_ms",
                            json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
        if (add_groups(root, head_groups, sizeof(head_groups) / sizeof(head_groups[0]), pending))
                goto fail;
        if (source_fn)
                source_fn(source_ctx, root, NULL);
        if (add_groups(root, tail_groups, sizeof(tail_groups) / sizeof(tail_groups[0]), pending))
                goto fail;
        return root;
fail:
        json_decref(root);
        return NULL;
}

/*
 * The end of a line that a full FIFO took only part of. It goes out before any new line,
 * so a reader never sees a torn line followed by another one; one line at most is held.
 */
static char *tail_buf;
static size_t tail_off, tail_len;

/* Writes what is left of the held line: 0 once none is, -EAGAIN (or -errno) while some is. */
static int finish_tail(void)
{
        ssize_t n;

        while (tail_off < tail_len) {
                n = write(metrics_fd, tail_buf + tail_off, tail_len - tail_off);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EAGAIN;
                tail_off += (size_t)n;
        }
        free(tail_buf);
        tail_buf = NULL;
        tail_off = tail_len = 0;
        return 0;
}

/* Writes the line (or holds its unwritten end, see tail_buf); -errno when none of it went. */
static int write_line(json_t *root)
{
        char *text;
        size_t len;
        ssize_t n;
        int rc;

        rc = finish_tail();
        if (rc)
                return rc;
        text = json_dumps(root, JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        len = strlen(text);
        text[len] = '\n'; /* json_dumps's NUL becomes the line end */
        do
                n = write(metrics_fd, text, len + 1);
        while (n < 0 && errno == EINTR);
        rc = n < 0 ? -errno : 0;
        if (n >= 0 && (size_t)n < len + 1) {
                tail_buf = text; /* sent in part: the rest goes first next time */
                tail_off = (size_t)n;
                tail_len = len + 1;
                return 0;
        }
        free(text);
        return rc;
}

/* Writes one line; the caller holds metrics_lock. */
static int flush_locked(void)
{
        struct brasa_metrics pending;
        json_t *root;
        int rc;

        if (metrics_fd < 0)
                return 0;
        pending = flushed;
        root = build_line(&pending);
        rc = root ? write_line(root) : -ENOMEM;
        if (rc == 0)
                flushed = pending; /* else its deltas go into the next line */
        json_decref(root);
        return rc ? rc : 1;
}

int metrics_flush(void)
{
        int rc;

        pthread_mutex_lock(&metrics_lock);
        rc = flush_locked();
        pthread_mutex_unlock(&metrics_lock);
        return rc;
}

int metrics_flush_periodic(void)
{
        int rc = metrics_flush();

        if (rc < 0) {
                metrics_inc(&metrics.logger.missed_metrics_count);
                log_error("Failed to write metrics: Failed to write metrics: %s (os error %d)",
                          strerror(-rc), -rc);
        }
        return rc;
}

int metrics_flush_fatal(void)
{
        int rc;

        if (pthread_mutex_trylock(&metrics_lock))
                return -EBUSY;
        rc = flush_locked();
        pthread_mutex_unlock(&metrics_lock);
        return rc;
}
