/* Common virtio device state: locking, interrupts, the NEEDS_RESET policy, queue events. */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* ---- the device-table entry --------------------------------------------------------------- */

struct virtio_dev *virtio_dev_of(struct device *dev)
{
        return container_of(dev, struct virtio_dev, base);
}

static void entry_reset(struct device *dev)
{
        struct virtio_dev *d = virtio_dev_of(dev);

        virtio_dev_lock(d);
        virtio_dev_reset(d);
        virtio_dev_unlock(d);
}

static void entry_destroy(struct device *dev)
{
        struct virtio_dev *d = virtio_dev_of(dev);

        d->ops->destroy(d);
}

static void entry_metrics(struct device *dev, const struct device_metrics_kind *k, void *sum,
                          json_t *root)
{
        struct virtio_dev *d = virtio_dev_of(dev);

        virtio_dev_metrics(d, k, sum, root);
}

static const struct device_ops virtio_entry_ops = {
    .reset = entry_reset,
    .destroy = entry_destroy,
    .metrics = entry_metrics,
};

/* ---- common state ------------------------------------------------------------------------- */

int virtio_dev_init(struct virtio_dev *d, const struct virtio_dev_ops *ops, const char *name,
                    uint32_t device_id, uint64_t features, unsigned int nr_queues,
                    uint16_t max_size, const struct guest_mem *mem)
{
        unsigned int i;
        int rc;

        memset(d, 0, sizeof(*d));
        if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES)
                return -EINVAL;
        rc = pthread_mutex_init(&d->lock, NULL);
        if (rc)
                return -rc;
        d->base = (struct device){
            .kind = (enum device_kind)device_id, .id = "", .ops = &virtio_entry_ops};
        d->ops = ops;
        snprintf(d->name, sizeof(d->name), "%s", name);
        d->device_id = device_id;
        d->avail_features = features | (1ULL << VIRTIO_F_VERSION_1);
        d->irq_fd = -1;
        d->mem = mem;
        d->nr_queues = nr_queues;
        for (i = 0; i < VIRTIO_MAX_QUEUES; i++) {
                virtq_init(&d->queues[i], i < nr_queues ? max_size : 0);
                d->notify_fds[i] = -1;
        }
        return 0;
}

int virtio_dev_open_notify(struct virtio_dev *d)
{
        unsigned int q;

        for (q = 0; q < d->nr_queues; q++) {
                d->notify_fds[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (d->notify_fds[q] < 0)
                        return -errno;
        }
        return 0;
}

void virtio_dev_fini(struct virtio_dev *d)
{
        unsigned int q;

        for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
                if (d->notify_fds[q] >= 0)
                        close(d->notify_fds[q]);
                d->notify_fds[q] = -1;
        }
        pthread_mutex_destroy(&d->lock);
}

void virtio_dev_reset(struct virtio_dev *d)
{
        unsigned int i;

        d->ops->reset(d);
        for (i = 0; i < d->nr_queues; i++)
                virtq_reset(&d->queues[i]);
        d->activated = false;
        d->acked_features = 0;
        d->status = 0;
        __atomic_store_n(&d->isr, 0, __ATOMIC_SEQ_CST);
        /* config_generation keeps counting: a driver must never see it go back. */
}

void virtio_dev_lock(struct virtio_dev *d)
{
        pthread_mutex_lock(&d->lock);
}

void virtio_dev_unlock(struct virtio_dev *d)
{
        pthread_mutex_unlock(&d->lock);
}

bool virtio_dev_has_feature(const struct virtio_dev *d, unsigned int bit)
{
        return bit < 64 && (d->acked_features >> bit) & 1;
}

bool virtio_dev_running(const struct virtio_dev *d)
{
        return d->activated &&
               !(d->status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

void virtio_dev_signal(struct virtio_dev *d, uint32_t bits)
{
        int rc;

        __atomic_fetch_or(&d->isr, bits, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&d->interrupts, 1, __ATOMIC_RELAXED);
        rc = d->irq_fd >= 0 ? efd_signal(d->irq_fd) : 0;
        if (rc)
                log_error("%s: raising the interrupt failed: %s", d->name, strerror(-rc));
}

void virtio_dev_config_changed(struct virtio_dev *d)
{
        d->config_generation++;
        virtio_dev_signal(d, VIRTIO_INT_CONFIG);
}

void virtio_dev_needs_reset(struct virtio_dev *d, const char *why)
{
        if (d->status & VIRTIO_CONFIG_S_NEEDS_RESET)
                return;
        log_guest_warn("%s: broken virtio driver (%s): device needs reset", d->name, why);
        d->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
        virtio_dev_signal(d, VIRTIO_INT_CONFIG);
}

void virtio_dev_queue_event(struct virtio_dev *d, unsigned int q)
{
        int rc = q < d->nr_queues && d->notify_fds[q] >= 0 ? efd_drain(d->notify_fds[q], NULL) : 0;

        if (rc)
                log_warn("%s: reading queue %u's eventfd failed: %s", d->name, q, strerror(-rc));
        virtio_dev_lock(d);
        if (q < d->nr_queues && virtio_dev_running(d))
                d->ops->queue_notify(d, q);
        virtio_dev_unlock(d);
}

void virtio_dev_kick(struct virtio_dev *d, unsigned int q)
{
        int rc = q < d->nr_queues && d->notify_fds[q] >= 0 ? efd_signal(d->notify_fds[q]) : 0;

        if (rc)
                log_warn("%s: kicking queue %u failed: %s", d->name, q, strerror(-rc));
}

void virtio_dev_metrics_take(struct virtio_dev *d, const struct metrics_table *t, void *delta)
{
        virtio_dev_lock(d);
        metrics_take(t, d->metrics, d->metrics_prev, delta);
        virtio_dev_unlock(d);
}

int virtio_dev_metrics(struct virtio_dev *d, const struct device_metrics_kind *k, void *sum,
                       json_t *root)
{
        char key[300];
        void *delta;
        int rc;

        if (!d->metrics)
                return 0;
        delta = calloc(1, k->table->size);
        if (!delta)
                return -ENOMEM;
        virtio_dev_metrics_take(d, k->table, delta);
        metrics_add(k->table, sum, delta);
        snprintf(key, k->key_size < sizeof(key) ? k->key_size : sizeof(key), "%s_%s", k->group,
                 d->base.id);
        rc = metrics_group_write(root, key, k->table, delta, NULL);
        free(delta);
        return rc;
}
