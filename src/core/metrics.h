/* Process metrics in Firecracker's format: one JSON object per line, counters as deltas. */
#ifndef BRASA_CORE_METRICS_H
#define BRASA_CORE_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define METRICS_PERIOD_MS 60000 /* Firecracker's WRITE_METRICS_PERIOD_MS */

/*
 * One scheme for every metrics group (the process groups below and each device's): the
 * group's fields are listed once, in Firecracker's order, as an X-macro list
 *
 *     #define FOO_METRICS(X, T) X(T, COUNTER, a_count) X(T, GAUGE, b_value)
 *
 * that generates both the struct (METRICS_FIELD_ATOMIC or METRICS_FIELD_PLAIN) and its
 * descriptor table (METRICS_DESC), which metrics_group_write() and the helpers walk.
 */
enum metrics_kind {
        METRIC_COUNTER, /* a SharedIncMetric: written as the increase since the previous line */
        METRIC_GAUGE,   /* a SharedStoreMetric: written as its current value */
        METRIC_LATENCY, /* a struct metric_latency: {"min_us", "max_us", "sum_us"} of one line */
};

/* A SharedIncMetric of the process groups (updated from any thread, atomically). */
struct metric_counter {
        uint64_t value;
};

/* A SharedStoreMetric of the process groups. */
struct metric_gauge {
        uint64_t value;
};

/* Durations of one kind of event since the previous line (Firecracker's LatencyAggregate). */
struct metric_latency {
        uint64_t min_us, max_us, sum_us;
        uint64_t count;
};

/* One field of a group: its JSON name, where it lies in the group's struct, its kind. */
struct metrics_desc {
        const char *name;
        size_t off;
        enum metrics_kind kind;
};

/* A group's fields in order and the size of its struct. */
struct metrics_table {
        const struct metrics_desc *desc;
        size_t n;
        size_t size;
};

#define METRICS_TYPE_ATOMIC_COUNTER struct metric_counter
#define METRICS_TYPE_ATOMIC_GAUGE   struct metric_gauge
#define METRICS_TYPE_ATOMIC_LATENCY struct metric_latency /* process groups: VMM thread only */
#define METRICS_TYPE_PLAIN_COUNTER  uint64_t
#define METRICS_TYPE_PLAIN_GAUGE    uint64_t
#define METRICS_TYPE_PLAIN_LATENCY  struct metric_latency

/* List callbacks: a struct field updated atomically (process groups) or under a lock. */
#define METRICS_FIELD_ATOMIC(T, kind, name) METRICS_TYPE_ATOMIC_##kind name;
#define METRICS_FIELD_PLAIN(T, kind, name)  METRICS_TYPE_PLAIN_##kind name;
/* List callback: the field's descriptor in struct T. */
#define METRICS_DESC(T, kind, name) {#name, offsetof(T, name), METRIC_##kind},
/* The table of a descriptor array and its struct. */
#define METRICS_TABLE(desc, T)                                                                     \
        {                                                                                          \
                desc, sizeof(desc) / sizeof((desc)[0]), sizeof(T)                                  \
        }

/* Firecracker's FirecrackerMetrics groups written before the device groups. */
#define METRICS_PROCESS_HEAD(X)                                                                    \
        X(api_server, API_SERVER_METRICS)                                                          \
        X(balloon, BALLOON_METRICS)                                                                \
        X(deprecated_api, DEPRECATED_API_METRICS)                                                  \
        X(get_api_requests, GET_API_METRICS)

/* ... and after them. */
#define METRICS_PROCESS_TAIL(X)                                                                    \
        X(latencies_us, LATENCIES_METRICS)                                                         \
        X(logger, LOGGER_METRICS)                                                                  \
        X(patch_api_requests, PATCH_API_METRICS)                                                   \
        X(put_api_requests, PUT_API_METRICS)                                                       \
        X(mmds, MMDS_METRICS)                                                                      \
        X(seccomp, SECCOMP_METRICS)                                                                \
        X(vcpu, VCPU_METRICS)                                                                      \
        X(vmm, VMM_METRICS)                                                                        \
        X(signals, SIGNALS_METRICS)                                                                \
        X(vsock, VSOCK_METRICS)                                                                    \
        X(entropy, ENTROPY_METRICS)                                                                \
        X(interrupts, INTERRUPTS_METRICS)                                                          \
        X(pmem, PMEM_METRICS)                                                                      \
        X(memory_hotplug, MEMORY_HOTPLUG_METRICS)

/* virtio-balloon's group (one device, kept as a process group as Firecracker's static METRICS). */
#define BALLOON_METRICS(X, T)                                                                      \
        X(T, COUNTER, activate_fails)                                                              \
        X(T, COUNTER, inflate_count)                                                               \
        X(T, COUNTER, stats_updates_count)                                                         \
        X(T, COUNTER, stats_update_fails)                                                          \
        X(T, COUNTER, deflate_count)                                                               \
        X(T, COUNTER, event_fails)                                                                 \
        X(T, COUNTER, free_page_report_count)                                                      \
        X(T, COUNTER, free_page_report_freed)                                                      \
        X(T, COUNTER, free_page_report_fails)                                                      \
        X(T, COUNTER, free_page_hint_count)                                                        \
        X(T, COUNTER, free_page_hint_freed)                                                        \
        X(T, COUNTER, free_page_hint_fails)

/* virtio-mem's group (one device, a process group as Firecracker's static METRICS). */
#define MEMORY_HOTPLUG_METRICS(X, T)                                                               \
        X(T, COUNTER, activate_fails)                                                              \
        X(T, COUNTER, queue_event_fails)                                                           \
        X(T, COUNTER, queue_event_count)                                                           \
        X(T, LATENCY, plug_agg)                                                                    \
        X(T, COUNTER, plug_count)                                                                  \
        X(T, COUNTER, plug_bytes)                                                                  \
        X(T, COUNTER, plug_fails)                                                                  \
        X(T, LATENCY, unplug_agg)                                                                  \
        X(T, COUNTER, unplug_count)                                                                \
        X(T, COUNTER, unplug_bytes)                                                                \
        X(T, COUNTER, unplug_fails)                                                                \
        X(T, COUNTER, unplug_discard_fails)                                                        \
        X(T, LATENCY, unplug_all_agg)                                                              \
        X(T, COUNTER, unplug_all_count)                                                            \
        X(T, COUNTER, unplug_all_fails)                                                            \
        X(T, LATENCY, state_agg)                                                                   \
        X(T, COUNTER, state_count)                                                                 \
        X(T, COUNTER, state_fails)

/*
 * Firecracker's groups of the devices and features brasa does not have yet: written, with
 * zeros, so every line has Firecracker's schema (host_tools/fcmetrics.py requires them).
 * A device that lands turns its group into a device group.
 */
#define MMDS_METRICS(X, T)                                                                         \
        X(T, COUNTER, rx_accepted)                                                                 \
        X(T, COUNTER, rx_accepted_err)                                                             \
        X(T, COUNTER, rx_accepted_unusual)                                                         \
        X(T, COUNTER, rx_bad_eth)                                                                  \
        X(T, COUNTER, rx_invalid_token)                                                            \
        X(T, COUNTER, rx_no_token)                                                                 \
        X(T, COUNTER, rx_count)                                                                    \
        X(T, COUNTER, tx_bytes)                                                                    \
        X(T, COUNTER, tx_count)                                                                    \
        X(T, COUNTER, tx_errors)                                                                   \
        X(T, COUNTER, tx_frames)                                                                   \
        X(T, COUNTER, connections_created)                                                         \
        X(T, COUNTER, connections_destroyed)

#define SECCOMP_METRICS(X, T) X(T, GAUGE, num_faults)

#define VCPU_METRICS(X, T)                                                                         \
        X(T, COUNTER, exit_io_in)                                                                  \
        X(T, COUNTER, exit_io_out)                                                                 \
        X(T, COUNTER, exit_mmio_read)                                                              \
        X(T, COUNTER, exit_mmio_write)                                                             \
        X(T, COUNTER, failures)                                                                    \
        X(T, COUNTER, kvmclock_ctrl_fails)                                                         \
        X(T, LATENCY, exit_io_in_agg)                                                              \
        X(T, LATENCY, exit_io_out_agg)                                                             \
        X(T, LATENCY, exit_mmio_read_agg)                                                          \
        X(T, LATENCY, exit_mmio_write_agg)

#define VSOCK_METRICS(X, T)                                                                        \
        X(T, COUNTER, activate_fails)                                                              \
        X(T, COUNTER, cfg_fails)                                                                   \
        X(T, COUNTER, rx_queue_event_fails)                                                        \
        X(T, COUNTER, tx_queue_event_fails)                                                        \
        X(T, COUNTER, ev_queue_event_fails)                                                        \
        X(T, COUNTER, muxer_event_fails)                                                           \
        X(T, COUNTER, conn_event_fails)                                                            \
        X(T, COUNTER, rx_queue_event_count)                                                        \
        X(T, COUNTER, tx_queue_event_count)                                                        \
        X(T, COUNTER, rx_bytes_count)                                                              \
        X(T, COUNTER, tx_bytes_count)                                                              \
        X(T, COUNTER, rx_packets_count)                                                            \
        X(T, COUNTER, tx_packets_count)                                                            \
        X(T, COUNTER, conns_added)                                                                 \
        X(T, COUNTER, conns_killed)                                                                \
        X(T, COUNTER, conns_removed)                                                               \
        X(T, COUNTER, killq_resync)                                                                \
        X(T, COUNTER, tx_flush_fails)                                                              \
        X(T, COUNTER, tx_write_fails)                                                              \
        X(T, COUNTER, rx_read_fails)

/*
 * Counted by the virtio-rng device (devices/virtio/rng): one device at most, so, as
 * Firecracker's static METRICS, one process group and no per-device group.
 */
#define ENTROPY_METRICS(X, T)                                                                      \
        X(T, COUNTER, activate_fails)                                                              \
        X(T, COUNTER, entropy_event_fails)                                                         \
        X(T, COUNTER, entropy_event_count)                                                         \
        X(T, COUNTER, entropy_bytes)                                                               \
        X(T, COUNTER, host_rng_fails)                                                              \
        X(T, COUNTER, entropy_rate_limiter_throttled)                                              \
        X(T, COUNTER, rate_limiter_event_count)

#define INTERRUPTS_METRICS(X, T)                                                                   \
        X(T, COUNTER, triggers)                                                                    \
        X(T, COUNTER, config_updates)

#define PMEM_METRICS(X, T)                                                                         \
        X(T, COUNTER, activate_fails)                                                              \
        X(T, COUNTER, cfg_fails)                                                                   \
        X(T, COUNTER, event_fails)                                                                 \
        X(T, COUNTER, queue_event_count)                                                           \
        X(T, COUNTER, rate_limiter_throttled_events)                                               \
        X(T, COUNTER, rate_limiter_event_count)

#define API_SERVER_METRICS(X, T)                                                                   \
        X(T, GAUGE, process_startup_time_us)                                                       \
        X(T, GAUGE, process_startup_time_cpu_us)

#define DEPRECATED_API_METRICS(X, T) X(T, COUNTER, deprecated_http_api_calls)

#define GET_API_METRICS(X, T)                                                                      \
        X(T, COUNTER, instance_info_count)                                                         \
        X(T, COUNTER, machine_cfg_count)                                                           \
        X(T, COUNTER, mmds_count)                                                                  \
        X(T, COUNTER, vmm_version_count)                                                           \
        X(T, COUNTER, hotplug_memory_count)

#define LATENCIES_METRICS(X, T)                                                                    \
        X(T, GAUGE, full_create_snapshot)                                                          \
        X(T, GAUGE, diff_create_snapshot)                                                          \
        X(T, GAUGE, load_snapshot)                                                                 \
        X(T, GAUGE, pause_vm)                                                                      \
        X(T, GAUGE, resume_vm)                                                                     \
        X(T, GAUGE, vmm_full_create_snapshot)                                                      \
        X(T, GAUGE, vmm_diff_create_snapshot)                                                      \
        X(T, GAUGE, vmm_load_snapshot)                                                             \
        X(T, GAUGE, vmm_pause_vm)                                                                  \
        X(T, GAUGE, vmm_resume_vm)

#define LOGGER_METRICS(X, T)                                                                       \
        X(T, COUNTER, missed_metrics_count)                                                        \
        X(T, COUNTER, metrics_fails)                                                               \
        X(T, COUNTER, missed_log_count)                                                            \
        X(T, COUNTER, rate_limited_log_count)

#define PATCH_API_METRICS(X, T)                                                                    \
        X(T, COUNTER, drive_count)                                                                 \
        X(T, COUNTER, drive_fails)                                                                 \
        X(T, COUNTER, network_count)                                                               \
        X(T, COUNTER, network_fails)                                                               \
        X(T, COUNTER, machine_cfg_count)                                                           \
        X(T, COUNTER, machine_cfg_fails)                                                           \
        X(T, COUNTER, mmds_count)                                                                  \
        X(T, COUNTER, mmds_fails)                                                                  \
        X(T, COUNTER, hotplug_memory_count)                                                        \
        X(T, COUNTER, hotplug_memory_fails)                                                        \
        X(T, COUNTER, pmem_count)                                                                  \
        X(T, COUNTER, pmem_fails)

#define PUT_API_METRICS(X, T)                                                                      \
        X(T, COUNTER, actions_count)                                                               \
        X(T, COUNTER, actions_fails)                                                               \
        X(T, COUNTER, boot_source_count)                                                           \
        X(T, COUNTER, boot_source_fails)                                                           \
        X(T, COUNTER, drive_count)                                                                 \
        X(T, COUNTER, drive_fails)                                                                 \
        X(T, COUNTER, logger_count)                                                                \
        X(T, COUNTER, logger_fails)                                                                \
        X(T, COUNTER, machine_cfg_count)                                                           \
        X(T, COUNTER, machine_cfg_fails)                                                           \
        X(T, COUNTER, cpu_cfg_count)                                                               \
        X(T, COUNTER, cpu_cfg_fails)                                                               \
        X(T, COUNTER, metrics_count)                                                               \
        X(T, COUNTER, metrics_fails)                                                               \
        X(T, COUNTER, network_count)                                                               \
        X(T, COUNTER, network_fails)                                                               \
        X(T, COUNTER, mmds_count)                                                                  \
        X(T, COUNTER, mmds_fails)                                                                  \
        X(T, COUNTER, vsock_count)                                                                 \
        X(T, COUNTER, vsock_fails)                                                                 \
        X(T, COUNTER, pmem_count)                                                                  \
        X(T, COUNTER, pmem_fails)                                                                  \
        X(T, COUNTER, serial_count)                                                                \
        X(T, COUNTER, serial_fails)                                                                \
        X(T, COUNTER, hotplug_memory_count)                                                        \
        X(T, COUNTER, hotplug_memory_fails)

#define VMM_METRICS(X, T) X(T, GAUGE, panic_count)

#define SIGNALS_METRICS(X, T)                                                                      \
        X(T, GAUGE, sigbus)                                                                        \
        X(T, GAUGE, sigsegv)                                                                       \
        X(T, GAUGE, sigxfsz)                                                                       \
        X(T, GAUGE, sigxcpu)                                                                       \
        X(T, COUNTER, sigpipe)                                                                     \
        X(T, GAUGE, sighup)                                                                        \
        X(T, GAUGE, sigill)

/* struct api_server_metrics, ...: one struct per process group. */
#define METRICS_GROUP_STRUCT(g, LIST)                                                              \
        struct g##_metrics {                                                                       \
                LIST(METRICS_FIELD_ATOMIC, _)                                                      \
        };
METRICS_PROCESS_HEAD(METRICS_GROUP_STRUCT)
METRICS_PROCESS_TAIL(METRICS_GROUP_STRUCT)
#undef METRICS_GROUP_STRUCT

struct brasa_metrics {
#define METRICS_GROUP_MEMBER(g, LIST) struct g##_metrics g;
        METRICS_PROCESS_HEAD(METRICS_GROUP_MEMBER)
        METRICS_PROCESS_TAIL(METRICS_GROUP_MEMBER)
#undef METRICS_GROUP_MEMBER
};

extern struct brasa_metrics metrics;

static inline void metrics_inc(struct metric_counter *c)
{
        __atomic_add_fetch(&c->value, 1, __ATOMIC_RELAXED);
}

/* Adds n to a process-group counter (e.g. bytes handed out). */
static inline void metrics_add_count(struct metric_counter *c, uint64_t n)
{
        __atomic_add_fetch(&c->value, n, __ATOMIC_RELAXED);
}

static inline void metrics_store(struct metric_gauge *g, uint64_t v)
{
        __atomic_store_n(&g->value, v, __ATOMIC_RELAXED);
}

/* Adds one duration to an aggregate. */
void metric_latency_record(struct metric_latency *l, uint64_t us);

/*
 * Adds group name to root (replacing a key already there, which keeps its place), its
 * fields in t's order: a counter as its increase cur - prev (cur itself when cur < prev,
 * e.g. after a reset), a gauge as in cur, a latency aggregate's min and max as in cur and its
 * sum as the increase. Then, for counters and sums, prev = cur, so the next call writes what
 * happened since. prev NULL: every field as in
 * cur (a delta already taken). Fields are read atomically. Returns 0 or -ENOMEM.
 */
int metrics_group_write(json_t *root, const char *name, const struct metrics_table *t,
                        const void *cur, void *prev);

/*
 * Fills delta (t->size bytes) for one line of a device that keeps cumulative counters:
 * counters cur - prev, gauges and latency aggregates as in cur; then prev = cur and
 * cur's latency aggregates are cleared (each covers one line). The caller holds the
 * device's lock.
 */
void metrics_take(const struct metrics_table *t, void *cur, void *prev, void *delta);

/* sum += m, field by field: counters and gauges added, latency aggregates merged. */
void metrics_add(const struct metrics_table *t, void *sum, const void *m);

/*
 * Adds device metrics to a line being written, on the flushing thread. With group NULL:
 * the device groups that come between the head and tail process groups ("i8042", "uart",
 * "block_*"...); the result is ignored. With a tail group's name: returns true when the
 * source wrote that group itself, in its place (devices of that kind: "pmem_*", "pmem"),
 * and the process group of that name is then left out.
 */
typedef bool (*metrics_source_fn)(void *ctx, json_t *root, const char *group);

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
 * written as deltas since the previous successful flush. A line a full FIFO takes in part
 * is finished before the next one, so readers only see whole lines. Returns 1 when written
 * (or begun), 0 when metrics are not configured, or -errno when none of it could go (its
 * counts then go into the next line).
 */
int metrics_flush(void);

/*
 * metrics_flush() as Firecracker's periodic writer does it (the first line at boot, then
 * every period): a line that cannot be written is counted in logger.missed_metrics_count
 * and logged. Returns what metrics_flush() returned.
 */
int metrics_flush_periodic(void);

/*
 * metrics_flush() for a fatal signal handler: gives up (returns -EBUSY) rather than wait for
 * the metrics lock, which the interrupted thread may hold.
 */
int metrics_flush_fatal(void);

#endif
