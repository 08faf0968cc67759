/* virtio-block metrics: deltas, aggregation over drives and Firecracker's JSON field names. */
#include "devices/virtio/block/metrics.h"

#include <stddef.h>
#include <string.h>

/* Every counter, by its Firecracker name, in Firecracker's order. */
static const struct {
        const char *name;
        size_t off;
} counters[] = {
#define F(x)                                                                                       \
        {                                                                                          \
#x, offsetof(struct blk_metrics, x)                                                \
        }
    F(activate_fails),
    F(cfg_fails),
    F(no_avail_buffer),
    F(event_fails),
    F(execute_fails),
    F(invalid_reqs_count),
    F(flush_count),
    F(queue_event_count),
    F(rate_limiter_event_count),
    F(update_count),
    F(update_fails),
    F(read_bytes),
    F(write_bytes),
    F(read_count),
    F(write_count),
    F(rate_limiter_throttled_events),
    F(io_engine_throttled_events),
    F(remaining_reqs_count),
#undef F
};

#define NCOUNTERS (sizeof(counters) / sizeof(counters[0]))

static uint64_t *counter(struct blk_metrics *m, size_t i)
{
        return (uint64_t *)(void *)((char *)m + counters[i].off);
}

static uint64_t counter_val(const struct blk_metrics *m, size_t i)
{
        uint64_t v;

        memcpy(&v, (const char *)m + counters[i].off, sizeof(v));
        return v;
}

void blk_latency_record(struct blk_latency *l, uint64_t us)
{
        if (l->count == 0 || us < l->min_us)
                l->min_us = us;
        if (us > l->max_us)
                l->max_us = us;
        l->sum_us += us;
        l->count++;
}

static void latency_merge(struct blk_latency *into, const struct blk_latency *l)
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

void blk_metrics_take(struct blk_metrics *cur, struct blk_metrics *prev, struct blk_metrics *delta)
{
        size_t i;

        memset(delta, 0, sizeof(*delta));
        for (i = 0; i < NCOUNTERS; i++)
                *counter(delta, i) = counter_val(cur, i) - counter_val(prev, i);
        delta->read_agg = cur->read_agg;
        delta->write_agg = cur->write_agg;
        memset(&cur->read_agg, 0, sizeof(cur->read_agg));
        memset(&cur->write_agg, 0, sizeof(cur->write_agg));
        *prev = *cur;
}

void blk_metrics_add(struct blk_metrics *sum, const struct blk_metrics *m)
{
        size_t i;

        for (i = 0; i < NCOUNTERS; i++)
                *counter(sum, i) += counter_val(m, i);
        latency_merge(&sum->read_agg, &m->read_agg);
        latency_merge(&sum->write_agg, &m->write_agg);
}

static json_t *latency_json(const struct blk_latency *l)
{
        return json_pack("{sI sI sI}", "min_us", (json_int_t)l->min_us, "max_us",
                         (json_int_t)l->max_us, "sum_us", (json_int_t)l->sum_us);
}

json_t *blk_metrics_json(const struct blk_metrics *m)
{
        json_t *o = json_object();
        size_t i;

        if (!o)
                return NULL;
        for (i = 0; i < NCOUNTERS; i++) {
                json_object_set_new(o, counters[i].name,
                                    json_integer((json_int_t)counter_val(m, i)));
                if (counters[i].off != offsetof(struct blk_metrics, write_count))
                        continue;
                /* Firecracker's field order puts the aggregates here. */
                json_object_set_new(o, "read_agg", latency_json(&m->read_agg));
                json_object_set_new(o, "write_agg", latency_json(&m->write_agg));
        }
        return o;
}
