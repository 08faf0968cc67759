/* The device side of each metrics line and the 60-second timer that writes one. */
#include "vmm/vmm.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "devices/virtio/block/virtio_blk.h"
#include "devices/virtio/net/virtio_net.h"
#include "devices/virtio/pmem/virtio_pmem.h"

/* Every device kind with a metrics group, in Firecracker's order. */
static const struct device_metrics_kind *const metrics_kinds[] = {
    &legacy_i8042_metrics_kind,
    &legacy_uart_metrics_kind,
    &virtio_blk_metrics_kind,
    &virtio_net_metrics_kind,
};

/* Kinds whose groups stand among the process groups at the end of a line, in their place. */
static const struct device_metrics_kind *const tail_kinds[] = {
    &virtio_pmem_metrics_kind,
};

void vmm_add_metrics(struct vmm *vmm, json_t *root)
{
        device_mgr_metrics(&vmm->devices, metrics_kinds, ARRAY_SIZE(metrics_kinds), root);
}

/* Runs under the metrics lock on the flushing (VMM) thread. */
static bool metrics_source(void *opaque, json_t *root, const char *group)
{
        struct vmm *vmm = opaque;
        size_t i;

        if (!group) {
                vmm_add_metrics(vmm, root);
                return false;
        }
        for (i = 0; i < ARRAY_SIZE(tail_kinds); i++)
                if (strcmp(tail_kinds[i]->group, group) == 0) {
                        device_mgr_metrics(&vmm->devices, &tail_kinds[i], 1, root);
                        return true;
                }
        return false;
}

static void on_metrics_timer(struct ev_source *src, uint32_t events)
{
        struct vmm *vmm = src->opaque;
        uint64_t ticks;

        (void)events;
        if (read(src->fd, &ticks, sizeof(ticks)) < 0)
                return;
        if (vmm_started(vmm))
                metrics_flush_periodic();
}

int vmm_metrics_start(struct vmm *vmm)
{
        struct itimerspec its = {
            .it_interval = {.tv_sec = METRICS_PERIOD_MS / 1000},
            .it_value = {.tv_sec = METRICS_PERIOD_MS / 1000},
        };
        int fd;

        metrics_set_source(metrics_source, vmm);
        fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        vmm->metrics_src = (struct ev_source){
            .fd = fd, .fn = on_metrics_timer, .opaque = vmm, .keep_running = true};
        if (timerfd_settime(fd, 0, &its, NULL) < 0)
                return -errno;
        return evloop_add(&vmm->loop, &vmm->metrics_src, EPOLLIN);
}

void vmm_metrics_stop(struct vmm *vmm)
{
        metrics_set_source(NULL, NULL);
        if (vmm->metrics_src.fd < 0)
                return; /* never started */
        if (vmm->metrics_src.registered)
                evloop_del(&vmm->loop, &vmm->metrics_src);
        close(vmm->metrics_src.fd);
        vmm->metrics_src.fd = -1;
}
