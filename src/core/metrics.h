/* Process metrics in Firecracker's format: one JSON object per line, counters as deltas. */
#ifndef BRASA_CORE_METRICS_H
#define BRASA_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#define METRICS_PERIOD_MS 60000 /* Firecracker's WRITE_METRICS_PERIOD_MS */

/* A SharedIncMetric: written as the increase since the previous flush. */
struct metric_counter {
        uint64_t value;
        uint64_t flushed; /* value at the previous successful flush (flush thread only) */
};

/* A SharedStoreMetric: written as its current value. */
struct metric_gauge {
        uint64_t value;
};

struct brasa_metrics {
        struct {
                struct metric_gauge process_startup_time_us, process_startup_time_cpu_us;
        } api_server;
        struct {
                struct metric_counter deprecated_http_api_calls;
        } deprecated_api;
        struct {
                struct metric_counter instance_info_count, machine_cfg_count, mmds_count,
                    vmm_version_count, hotplug_memory_count;
        } get_api_requests;
        struct {
                struct metric_counter actions_count, actions_fails, boot_source_count,
                    boot_source_fails, drive_count, drive_fails, logger_count, logger_fails,
                    machine_cfg_count, machine_cfg_fails, cpu_cfg_count, cpu_cfg_fails,
                    metrics_count, metrics_fails, network_count, network_fails, mmds_count,
                    mmds_fails, vsock_count, vsock_fails, pmem_count, pmem_fails, serial_count,
                    serial_fails, hotplug_memory_count, hotplug_memory_fails;
        } put_api_requests;
        struct {
                struct metric_counter drive_count, drive_fails, network_count, network_fails,
                    machine_cfg_count, machine_cfg_fails, mmds_count, mmds_fails,
                    hotplug_memory_count, hotplug_memory_fails, pmem_count, pmem_fails;
        } patch_api_requests;
        struct {
                struct metric_gauge full_create_snapshot, diff_create_snapshot, load_snapshot,
                    pause_vm, resume_vm, vmm_full_create_snapshot, vmm_diff_create_snapshot,
                    vmm_load_snapshot, vmm_pause_vm, vmm_resume_vm;
        } latencies_us;
        struct {
                struct metric_counter missed_metrics_count, metrics_fails, missed_log_count,
                    rate_limited_log_count;
        } logger;
        struct {
                struct metric_gauge sigbus, sigsegv, sigxfsz, sigxcpu;
                struct metric_counter sigpipe;
                struct metric_gauge sighup, sigill;
        } signals;
        struct {
                struct metric_gauge panic_count;
        } vmm;
};

extern struct brasa_metrics metrics;

static inline void metrics_inc(struct metric_counter *c)
{
        __atomic_add_fetch(&c->value, 1, __ATOMIC_RELAXED);
}

static inline void metrics_store(struct metric_gauge *g, uint64_t v)
{
        __atomic_store_n(&g->value, v, __ATOMIC_RELAXED);
}

/*
 * Adds device metrics to a line being written (e.g. "i8042", "uart"): called on the
 * flushing thread with the root object; the callee computes its own deltas.
 */
typedef void (*metrics_source_fn)(void *ctx, json_t *root);

/* Registers the one device-metrics source (NULL to remove). */
void metrics_set_source(metrics_source_fn fn, void *ctx);

/*
 * Starts writing metrics to path (file or FIFO, created if missing, opened O_NONBLOCK as
 * Firecracker's open_file_nonblock). Only once per process: a second call fails with
 * -EALREADY (Firecracker: "Reinitialization of metrics not allowed."). Returns 0 or -errno.
 */
int metrics_init(const char *path);

/* True once metrics_init() succeeded. */
bool metrics_configured(void);

/*
 * Writes one line: {"utc_timestamp_ms": ..., "api_server": {...}, ...}. Counters are
 * written as deltas since the previous successful flush. Returns 1 when written, 0 when
 * metrics are not configured, or -errno (the failure is counted in logger.metrics_fails).
 */
int metrics_flush(void);

#endif
