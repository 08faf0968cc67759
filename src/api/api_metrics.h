/* Periodic metrics flushing on the VMM loop, and the device counters of each metrics line. */
#ifndef BRASA_API_API_METRICS_H
#define BRASA_API_API_METRICS_H

#include "api/api.h"
#include "core/evloop.h"

struct api_metrics_timer {
        struct ev_source src; /* timerfd, every METRICS_PERIOD_MS */
        struct evloop *loop;
        struct api_ctx *ctx;
};

/*
 * Registers the i8042/uart counters of ctx->vmm as the metrics source and arms a timer
 * on loop that flushes metrics every 60 s once the microVM runs (as Firecracker's
 * PeriodicMetrics). Returns 0 or -errno.
 */
int api_metrics_timer_start(struct api_metrics_timer *t, struct evloop *loop, struct api_ctx *ctx);

/* Unregisters and closes the timer; safe on a timer that never started. */
void api_metrics_timer_stop(struct api_metrics_timer *t);

#endif
