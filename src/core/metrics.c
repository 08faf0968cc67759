/* Metrics: counters and gauges serialized with jansson, one line per flush. */
#include "core/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct brasa_metrics metrics;

enum mkind { M_COUNTER, M_GAUGE };

struct mdesc {
        const char *group;
        const char *name;
        size_t off;
        enum mkind kind;
};

#define C(g, n)                                                                                    \
        {                                                                                          \
#g, #n, offsetof(struct brasa_metrics, g.n), M_COUNTER                             \
        }
#define G(g, n)                                                                                    \
        {                                                                                          \
#g, #n, offsetof(struct brasa_metrics, g.n), M_GAUGE                               \
        }

/* Group order is Firecracker's FirecrackerMetrics order; device groups come from the source. */
static const struct mdesc head_desc[] = {
    G(api_server, process_startup_time_us),       G(api_server, process_startup_time_cpu_us),
    C(deprecated_api, deprecated_http_api_calls), C(get_api_requests, instance_info_count),
    C(get_api_requests, machine_cfg_count),       C(get_api_requests, mmds_count),
    C(get_api_requests, vmm_version_count),       C(get_api_requests, hotplug_memory_count),
};

static const struct mdesc tail_desc[] = {
    G(latencies_us, full_create_snapshot),
    G(latencies_us, diff_create_snapshot),
    G(latencies_us, load_snapshot),
    G(latencies_us, pause_vm),
    G(latencies_us, resume_vm),
    G(latencies_us, vmm_full_create_snapshot),
    G(latencies_us, vmm_diff_create_snapshot),
    G(latencies_us, vmm_load_snapshot),
    G(latencies_us, vmm_pause_vm),
    G(latencies_us, vmm_resume_vm),
    C(logger, missed_metrics_count),
    C(logger, metrics_fails),
    C(logger, missed_log_count),
    C(logger, rate_limited_log_count),
    C(patch_api_requests, drive_count),
    C(patch_api_requests, drive_fails),
    C(patch_api_requests, network_count),
    C(patch_api_requests, network_fails),
    C(patch_api_requests, machine_cfg_count),
    C(patch_api_requests, machine_cfg_fails),
    C(patch_api_requests, mmds_count),
    C(patch_api_requests, mmds_fails),
    C(patch_api_requests, hotplug_memory_count),
    C(patch_api_requests, hotplug_memory_fails),
    C(patch_api_requests, pmem_count),
    C(patch_api_requests, pmem_fails),
    C(put_api_requests, actions_count),
    C(put_api_requests, actions_fails),
    C(put_api_requests, boot_source_count),
    C(put_api_requests, boot_source_fails),
    C(put_api_requests, drive_count),
    C(put_api_requests, drive_fails),
    C(put_api_requests, logger_count),
    C(put_api_requests, logger_fails),
    C(put_api_requests, machine_cfg_count),
    C(put_api_requests, machine_cfg_fails),
    C(put_api_requests, cpu_cfg_count),
    C(put_api_requests, cpu_cfg_fails),
    C(put_api_requests, metrics_count),
    C(put_api_requests, metrics_fails),
    C(put_api_requests, network_count),
    C(put_api_requests, network_fails),
    C(put_api_requests, mmds_count),
    C(put_api_requests, mmds_fails),
    C(put_api_requests, vsock_count),
    C(put_api_requests, vsock_fails),
    C(put_api_requests, pmem_count),
    C(put_api_requests, pmem_fails),
    C(put_api_requests, serial_count),
    C(put_api_requests, serial_fails),
    C(put_api_requests, hotplug_memory_count),
    C(put_api_requests, hotplug_memory_fails),
    G(vmm, panic_count),
    G(signals, sigbus),
    G(signals, sigsegv),
    G(signals, sigxfsz),
    G(signals, sigxcpu),
    C(signals, sigpipe),
    G(signals, sighup),
    G(signals, sigill),
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static int metrics_fd = -1;
static metrics_source_fn source_fn;
static void *source_ctx;

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

static json_t *group_of(json_t *root, const char *name)
{
        json_t *g = json_object_get(root, name);

        if (!g) {
                g = json_object();
                json_object_set_new(root, name, g);
        }
        return g;
}

/* Adds the described values; deltas are taken but not committed until the write succeeds. */
static void add_desc(json_t *root, const struct mdesc *d, size_t n)
{
        uint64_t v;
        size_t i;

        for (i = 0; i < n; i++) {
                char *p = (char *)&metrics + d[i].off;

                if (d[i].kind == M_GAUGE) {
                        v = __atomic_load_n(&((struct metric_gauge *)(void *)p)->value,
                                            __ATOMIC_RELAXED);
                } else {
                        struct metric_counter *c = (struct metric_counter *)(void *)p;

                        v = __atomic_load_n(&c->value, __ATOMIC_RELAXED) - c->flushed;
                }
                json_object_set_new(group_of(root, d[i].group), d[i].name,
                                    json_integer((json_int_t)v));
        }
}

static void commit_desc(const struct mdesc *d, size_t n, json_t *root)
{
        size_t i;

        for (i = 0; i < n; i++) {
                if (d[i].kind == M_COUNTER) {
                        struct metric_counter *c =
                            (struct metric_counter *)(void *)((char *)&metrics + d[i].off);
                        json_t *g = json_object_get(root, d[i].group);

                        c->flushed += (uint64_t)json_integer_value(json_object_get(g, d[i].name));
                }
        }
}

static json_t *build_line(void)
{
        struct timespec ts;
        json_t *root = json_object();

        if (!root)
                return NULL;
        clock_gettime(CLOCK_REALTIME, &ts);
        json_object_set_new(root, "utc_timestamp_ms",
                            json_integer((json_int_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000));
        add_desc(root, head_desc, sizeof(head_desc) / sizeof(head_desc[0]));
        if (source_fn)
                source_fn(source_ctx, root);
        add_desc(root, tail_desc, sizeof(tail_desc) / sizeof(tail_desc[0]));
        return root;
}

static int write_line(json_t *root)
{
        char *text = json_dumps(root, JSON_COMPACT);
        size_t len;
        ssize_t n;
        int rc = 0;

        if (!text)
                return -ENOMEM;
        len = strlen(text);
        text[len] = '\n'; /* json_dumps's NUL becomes the line end */
        n = write(metrics_fd, text, len + 1);
        if (n < 0)
                rc = -errno;
        else if ((size_t)n != len + 1)
                rc = -EAGAIN;
        free(text);
        return rc;
}

int metrics_flush(void)
{
        json_t *root;
        int rc;

        pthread_mutex_lock(&metrics_lock);
        if (metrics_fd < 0) {
                pthread_mutex_unlock(&metrics_lock);
                return 0;
        }
        root = build_line();
        rc = root ? write_line(root) : -ENOMEM;
        if (rc == 0) {
                commit_desc(head_desc, sizeof(head_desc) / sizeof(head_desc[0]), root);
                commit_desc(tail_desc, sizeof(tail_desc) / sizeof(tail_desc[0]), root);
        } else {
                metrics_inc(&metrics.logger.metrics_fails);
        }
        json_decref(root);
        pthread_mutex_unlock(&metrics_lock);
        return rc ? rc : 1;
}
