/* Metrics glue: the 60-second flush timer and the legacy devices' counters (as deltas). */
#include "api/api_metrics.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "vmm/vmm.h"

/* Device counters at the previous line, to write deltas as Firecracker's SharedIncMetric. */
struct dev_prev {
        struct i8042_stats kbd;
        struct serial_stats uart;
};

static json_t *delta(uint64_t now, uint64_t *prev)
{
        uint64_t d = now >= *prev ? now - *prev : now;

        *prev = now;
        return json_integer((json_int_t)d);
}

static void add_i8042(struct vmm *vmm, struct dev_prev *p, json_t *root)
{
        struct i8042_stats s = {0};

        if (vmm && vmm->i8042_ready)
                i8042_get_stats(&vmm->i8042, &s);
        json_object_set_new(
            root, "i8042",
            json_pack("{s:i, s:o, s:o, s:i, s:o, s:i}", "error_count", 0, "missed_read_count",
                      delta(s.missed_read_count, &p->kbd.missed_read_count), "missed_write_count",
                      delta(s.missed_write_count, &p->kbd.missed_write_count), "read_count", 0,
                      "reset_count", delta(s.reset_count, &p->kbd.reset_count), "write_count", 0));
}

static void add_uart(struct vmm *vmm, struct dev_prev *p, json_t *root)
{
        struct serial_stats s = {0};

        if (vmm && vmm->serial_ready)
                serial_get_stats(&vmm->serial, &s);
        json_object_set_new(
            root, "uart",
            json_pack("{s:o, s:i, s:o, s:i, s:o, s:o, s:i}", "error_count",
                      delta(s.dropped_bytes, &p->uart.dropped_bytes), "flush_count", 0,
                      "missed_read_count", delta(s.missed_reads, &p->uart.missed_reads),
                      "missed_write_count", 0, "read_count", delta(s.rx_bytes, &p->uart.rx_bytes),
                      "write_count", delta(s.tx_bytes, &p->uart.tx_bytes),
                      "rate_limiter_dropped_bytes", 0));
}

/* Runs under the metrics lock on the flushing (VMM) thread. */
static void add_devices(void *opaque, json_t *root)
{
        static struct dev_prev prev;
        struct api_ctx *ctx = opaque;

        add_i8042(ctx->vmm, &prev, root);
        add_uart(ctx->vmm, &prev, root);
        if (ctx->vmm)
                device_mgr_add_metrics(&ctx->vmm->devices, root);
}

static void on_timer(struct ev_source *src, uint32_t events)
{
        struct api_metrics_timer *t = src->opaque;
        uint64_t ticks;

        (void)events;
        if (read(src->fd, &ticks, sizeof(ticks)) < 0)
                return;
        if (t->ctx->started && metrics_flush() < 0)
                log_warn("Failed to write metrics");
}

int api_metrics_timer_start(struct api_metrics_timer *t, struct evloop *loop, struct api_ctx *ctx)
{
        struct itimerspec its = {
            .it_interval = {.tv_sec = METRICS_PERIOD_MS / 1000},
            .it_value = {.tv_sec = METRICS_PERIOD_MS / 1000},
        };
        int fd, rc;

        memset(t, 0, sizeof(*t));
        t->src.fd = -1;
        t->loop = loop;
        t->ctx = ctx;
        metrics_set_source(add_devices, ctx);
        fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        t->src = (struct ev_source){.fd = fd, .fn = on_timer, .opaque = t};
        if (timerfd_settime(fd, 0, &its, NULL) < 0)
                return -errno;
        rc = evloop_add(loop, &t->src, EPOLLIN);
        return rc;
}

void api_metrics_timer_stop(struct api_metrics_timer *t)
{
        if (!t->loop)
                return; /* never started */
        metrics_set_source(NULL, NULL);
        if (t->src.registered)
                evloop_del(t->loop, &t->src);
        if (t->src.fd >= 0)
                close(t->src.fd);
        t->src.fd = -1;
}
