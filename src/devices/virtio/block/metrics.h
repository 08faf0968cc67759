/* Per-drive virtio-block metrics: Firecracker's BlockDeviceMetrics counters and latency aggregates.
 */
#ifndef BRASA_DEVICES_VIRTIO_BLOCK_METRICS_H
#define BRASA_DEVICES_VIRTIO_BLOCK_METRICS_H

#include <jansson.h>
#include <stdint.h>

/* Durations of one kind of request since the last metrics line (Firecracker's *_agg). */
struct blk_latency {
        uint64_t min_us, max_us, sum_us;
        uint64_t count;
};

/* Counters (cumulative in a device; deltas once taken for a metrics line). */
struct blk_metrics {
        uint64_t activate_fails;
        uint64_t cfg_fails;
        uint64_t no_avail_buffer;
        uint64_t event_fails;
        uint64_t execute_fails;
        uint64_t invalid_reqs_count;
        uint64_t flush_count;
        uint64_t queue_event_count;
        uint64_t rate_limiter_event_count;
        uint64_t update_count;
        uint64_t update_fails;
        uint64_t read_bytes;
        uint64_t write_bytes;
        uint64_t read_count;
        uint64_t write_count;
        uint64_t rate_limiter_throttled_events;
        uint64_t io_engine_throttled_events;
        uint64_t remaining_reqs_count;
        struct blk_latency read_agg;
        struct blk_latency write_agg;
};

/* Adds one duration to an aggregate. */
void blk_latency_record(struct blk_latency *l, uint64_t us);

/*
 * Fills *delta with the counters of *cur minus *prev and the latency aggregates of *cur,
 * then makes *prev = *cur and clears the aggregates of *cur (they cover one line each).
 */
void blk_metrics_take(struct blk_metrics *cur, struct blk_metrics *prev, struct blk_metrics *delta);

/* Adds *m into *sum (counters summed, aggregates merged): the "block" line over all drives. */
void blk_metrics_add(struct blk_metrics *sum, const struct blk_metrics *m);

/* Firecracker's serialization of BlockDeviceMetrics. New reference or NULL. */
json_t *blk_metrics_json(const struct blk_metrics *m);

#endif
