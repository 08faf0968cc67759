/* Per-drive virtio-block metrics: Firecracker's BlockDeviceMetrics counters and latency aggregates.
 */
#ifndef BRASA_DEVICES_VIRTIO_BLOCK_METRICS_H
#define BRASA_DEVICES_VIRTIO_BLOCK_METRICS_H

#include "core/metrics.h"

/* Every field, by its Firecracker name, in Firecracker's order (core/metrics.h's scheme). */
#define BLK_METRICS(X, T)                                                                          \
        X(T, COUNTER, activate_fails)                                                              \
        X(T, COUNTER, cfg_fails)                                                                   \
        X(T, COUNTER, no_avail_buffer)                                                             \
        X(T, COUNTER, event_fails)                                                                 \
        X(T, COUNTER, execute_fails)                                                               \
        X(T, COUNTER, invalid_reqs_count)                                                          \
        X(T, COUNTER, flush_count)                                                                 \
        X(T, COUNTER, queue_event_count)                                                           \
        X(T, COUNTER, rate_limiter_event_count)                                                    \
        X(T, COUNTER, update_count)                                                                \
        X(T, COUNTER, update_fails)                                                                \
        X(T, COUNTER, read_bytes)                                                                  \
        X(T, COUNTER, write_bytes)                                                                 \
        X(T, COUNTER, read_count)                                                                  \
        X(T, COUNTER, write_count)                                                                 \
        X(T, LATENCY, read_agg)                                                                    \
        X(T, LATENCY, write_agg)                                                                   \
        X(T, COUNTER, rate_limiter_throttled_events)                                               \
        X(T, COUNTER, io_engine_throttled_events)                                                  \
        X(T, COUNTER, remaining_reqs_count)

/* Counters (cumulative in a device; deltas once taken for a metrics line). */
struct blk_metrics {
        BLK_METRICS(METRICS_FIELD_PLAIN, _)
};

/* The fields of struct blk_metrics: the "block" and "block_<drive_id>" groups. */
extern const struct metrics_table blk_metrics_table;

#endif
