/* The device side of each metrics line and the 60-second timer that writes one. */
#include "vmm/vmm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "devices/virtio/block/virtio_blk.h"
#include "devices/virtio/net/virtio_net.h"

/* Every virtio device kind with a metrics line, in Firecracker's order. */
static const struct virtio_metrics_kind *const virtio_kinds[] = {
    &virtio_blk_metrics_kind,
    &virtio_net_metrics_kind,
};

/* One kind's line being built: its devices add into sum. */
struct kind_line {
        const struct virtio_metrics_kind *kind;
        void *sum;
        json_t *root;
};

static void add_device(struct virtio_dev *d, void *opaque)
{
        struct kind_line *l = opaque;

        if (d->device_id == l->kind->device_id)
                virtio_dev_metrics(d, l->kind, l->sum, l->root);
}

static void add_kind(struct vmm *vmm, const struct virtio_metrics_kind *k, json_t *root)
{
        struct kind_line l = {.kind = k, .sum = calloc(1, k->table->size), .root = root};

        if (!l.sum)
                return;
        if (k->sum_first)
                json_object_set_new(root, k->group, json_object()); /* holds the key's place */
        device_mgr_for_each(&vmm->devices, add_device, &l);
        metrics_group_write(root, k->group, k->table, l.sum, NULL);
        free(l.sum);
}

void vmm_add_metrics(struct vmm *vmm, json_t *root)
{
        size_t i;

        legacy_devs_metrics(&vmm->legacy, root);
        for (i = 0; i < ARRAY_SIZE(virtio_kinds); i++)
                add_kind(vmm, virtio_kinds[i], root);
}

/* Runs under the metrics lock on the flushing (VMM) thread. */
static void metrics_source(void *opaque, json_t *root)
{
        vmm_add_metrics(opaque, root);
}

static void on_metrics_timer(struct ev_source *src, uint32_t events)
{
        struct vmm *vmm = src->opaque;
        uint64_t ticks;

        (void)events;
        if (read(src->fd, &ticks, sizeof(ticks)) < 0)
                return;
        if (vmm_started(vmm) && metrics_flush() < 0)
                log_warn("Failed to write metrics");
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
        vmm->metrics_src = (struct ev_source){.fd = fd, .fn = on_metrics_timer, .opaque = vmm};
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
