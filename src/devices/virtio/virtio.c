/* Common virtio device state: locking, interrupts, the NEEDS_RESET policy, queue events. */
#include "devices/virtio/virtio.h"

#include <errno.h>
#include <linux/virtio_ring.h>
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

/* ---- snapshots: the common state; a type whose state is all here says so ------------------ */

static bool entry_snapshottable(struct device *dev)
{
        struct virtio_dev *d = virtio_dev_of(dev);

        return d->ops->snapshot_check && d->ops->snapshot_check(d) == 0;
}

static int entry_save(struct device *dev, void *buf, size_t cap, size_t *len)
{
        struct virtio_dev *d = virtio_dev_of(dev);
        struct virtio_dev_state st;
        unsigned int i;
        int rc;

        if (!entry_snapshottable(dev))
                return -ENOTSUP;
        if (cap < sizeof(st))
                return -ENOSPC;
        memset(&st, 0, sizeof(st));
        virtio_dev_lock(d);
        if (d->ops->prepare_save)
                d->ops->prepare_save(d);
        st.acked_features = d->acked_features;
        st.status = d->status;
        st.config_generation = d->config_generation;
        st.isr = __atomic_load_n(&d->isr, __ATOMIC_ACQUIRE);
        st.activated = d->activated;
        st.nr_queues = d->nr_queues;
        for (i = 0; i < d->nr_queues; i++) {
                const struct virtq *q = &d->queues[i];

                st.q[i] = (struct virtio_queue_state){
                    .desc = q->desc_gpa,
                    .avail = q->avail_gpa,
                    .used = q->used_gpa,
                    .size = q->size,
                    .next_avail = q->next_avail,
                    .next_used = q->next_used,
                    .num_added = q->num_added,
                    .ready = q->ready,
                };
        }
        *len = 0;
        rc = d->ops->save_state
                 ? d->ops->save_state(d, (uint8_t *)buf + sizeof(st), cap - sizeof(st), len)
                 : 0;
        virtio_dev_unlock(d);
        memcpy(buf, &st, sizeof(st));
        *len += sizeof(st);
        return rc;
}

/* Puts the driver-programmed registers back; the rings are checked at activation. */
static int restore_queues(struct virtio_dev *d, const struct virtio_dev_state *st)
{
        unsigned int i;

        for (i = 0; i < d->nr_queues; i++) {
                struct virtq *q = &d->queues[i];

                if (st->q[i].size > q->max_size)
                        return -EINVAL;
                q->desc_gpa = st->q[i].desc;
                q->avail_gpa = st->q[i].avail;
                q->used_gpa = st->q[i].used;
                q->size = st->q[i].size;
                q->ready = st->q[i].ready != 0;
        }
        return 0;
}

/* A device that was live: its queues go live again where they were, then the device. */
static int restore_live(struct virtio_dev *d, const struct virtio_dev_state *st)
{
        bool event_idx = virtio_dev_has_feature(d, VIRTIO_RING_F_EVENT_IDX);
        unsigned int i;
        int rc;

        for (i = 0; i < d->nr_queues; i++) {
                rc = virtq_activate(&d->queues[i], d->mem, event_idx, NULL);
                if (rc)
                        return rc;
                d->queues[i].next_avail = st->q[i].next_avail;
                d->queues[i].next_used = st->q[i].next_used;
                d->queues[i].num_added = st->q[i].num_added;
        }
        rc = d->ops->activate(d);
        if (rc)
                return rc;
        d->activated = true;
        /* As on a resume: buffers the driver made available may wait for no new kick. */
        for (i = 0; i < d->nr_queues; i++)
                virtio_dev_kick(d, i);
        return 0;
}

static int entry_restore(struct device *dev, const void *buf, size_t len)
{
        struct virtio_dev *d = virtio_dev_of(dev);
        struct virtio_dev_state st;
        int rc;

        if (len < sizeof(st) || (len > sizeof(st) && !d->ops->restore_state))
                return -EINVAL;
        memcpy(&st, buf, sizeof(st));
        if (st.nr_queues != d->nr_queues || (st.acked_features & ~d->avail_features))
                return -EINVAL;
        virtio_dev_lock(d);
        d->acked_features = st.acked_features;
        d->status = st.status;
        d->config_generation = st.config_generation;
        __atomic_store_n(&d->isr, st.isr, __ATOMIC_RELEASE);
        rc = restore_queues(d, &st);
        if (!rc && st.activated)
                rc = restore_live(d, &st);
        if (!rc && d->ops->restore_state)
                rc = d->ops->restore_state(d, (const uint8_t *)buf + sizeof(st), len - sizeof(st));
        virtio_dev_unlock(d);
        return rc;
}

static const struct device_ops virtio_entry_ops = {
    .reset = entry_reset,
    .destroy = entry_destroy,
    .metrics = entry_metrics,
    .save = entry_save,
    .restore = entry_restore,
    .snapshottable = entry_snapshottable,
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
        unsigned int q;
        int rc;

        __atomic_fetch_or(&d->isr, bits, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&d->interrupts, 1, __ATOMIC_RELAXED);
        if (d->raise) {
                if (bits & VIRTIO_INT_CONFIG)
                        d->raise(d, VIRTIO_IRQ_CONFIG);
                for (q = 0; (bits & VIRTIO_INT_VRING) && q < d->nr_queues; q++)
                        d->raise(d, (int)q);
                return;
        }
        rc = d->irq_fd >= 0 ? efd_signal(d->irq_fd) : 0;
        if (rc)
                log_error("%s: raising the interrupt failed: %s", d->name, strerror(-rc));
}

void virtio_dev_signal_queue(struct virtio_dev *d, unsigned int q)
{
        if (!d->raise) {
                virtio_dev_signal(d, VIRTIO_INT_VRING);
                return;
        }
        __atomic_fetch_or(&d->isr, VIRTIO_INT_VRING, __ATOMIC_SEQ_CST);
        __atomic_fetch_add(&d->interrupts, 1, __ATOMIC_RELAXED);
        d->raise(d, (int)q);
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

void virtio_dev_mark_rings(struct virtio_dev *d)
{
        unsigned int i;

        virtio_dev_lock(d);
        for (i = 0; d->activated && i < d->nr_queues; i++)
                if (d->queues[i].used)
                        guest_mem_mark_dirty(d->mem, d->queues[i].used,
                                             6 + 8 * (uint64_t)d->queues[i].size);
        virtio_dev_unlock(d);
}

void virtio_dev_kick(struct virtio_dev *d, unsigned int q)
{
        int rc = q < d->nr_queues && d->notify_fds[q] >= 0 ? efd_signal(d->notify_fds[q]) : 0;

        if (rc)
                log_warn("%s: kicking queue %u failed: %s", d->name, q, strerror(-rc));
}

void virtio_dev_end_pass(struct virtio_dev *d, struct virtq *q, unsigned int qi, bool used_any)
{
        if (virtq_pending(q))
                virtio_dev_kick(d, qi);
        if (!used_any)
                return;
        virtq_publish(q);
        if (virtq_should_notify(q))
                virtio_dev_signal_queue(d, qi);
}

void virtio_config_read(const void *cfg, size_t size, uint64_t off, uint8_t *data, uint32_t len)
{
        memset(data, 0, len);
        if (off < size)
                memcpy(data, (const uint8_t *)cfg + off, len < size - off ? len : size - off);
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

/* ---- the driver's side of the state machine, for every transport --------------------------- */

#define S_ACK       VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRIVER    VIRTIO_CONFIG_S_DRIVER
#define S_FEAT_OK   VIRTIO_CONFIG_S_FEATURES_OK
#define S_DRIVER_OK VIRTIO_CONFIG_S_DRIVER_OK
#define S_NEEDS_RST VIRTIO_CONFIG_S_NEEDS_RESET
#define S_FAILED    VIRTIO_CONFIG_S_FAILED

/* True when every bit of set is in status and no bit of clear is. */
static bool status_is(const struct virtio_dev *d, uint32_t set, uint32_t clear)
{
        return (d->status & (set | clear)) == set;
}

void virtio_dev_ack_features(struct virtio_dev *d, uint32_t page, uint32_t v)
{
        unsigned int shift = 32 * page;
        uint32_t offered;

        if (!status_is(d, S_DRIVER, S_FEAT_OK | S_FAILED | S_NEEDS_RST)) {
                log_guest_warn("%s: features written in status 0x%x", d->name, d->status);
                return;
        }
        if (page > 1) {
                if (v)
                        log_guest_warn("%s: unknown feature page %u acked", d->name, page);
                return;
        }
        offered = (uint32_t)(d->avail_features >> shift);
        if (v & ~offered)
                log_guest_warn("%s: driver acked features 0x%x that were not offered", d->name,
                               v & ~offered);
        d->acked_features &= ~(0xffffffffULL << shift);
        d->acked_features |= (uint64_t)(v & offered) << shift;
}

static void activate(struct virtio_dev *d)
{
        bool event_idx = virtio_dev_has_feature(d, VIRTIO_RING_F_EVENT_IDX);
        struct err e = ERR_INIT;
        unsigned int i;
        int rc;

        for (i = 0; i < d->nr_queues; i++) {
                if (virtq_activate(&d->queues[i], d->mem, event_idx, &e)) {
                        err_prefix(&e, "queue %u: ", i);
                        virtio_dev_needs_reset(d, e.msg);
                        return;
                }
        }
        rc = d->ops->activate(d);
        if (rc) {
                err_set(&e, rc, "activation failed: %s", strerror(-rc));
                virtio_dev_needs_reset(d, e.msg);
                return;
        }
        d->activated = true;
        /* Buffers made available before DRIVER_OK had their kick dropped: look again. */
        for (i = 0; i < d->nr_queues; i++)
                virtio_dev_kick(d, i);
}

/* The steps of virtio 1.x §3.1.1, each adding one bit to the previous status. */
static bool valid_step(uint32_t from, uint32_t to)
{
        static const uint32_t steps[][2] = {
            {0, S_ACK},
            {S_ACK, S_ACK | S_DRIVER},
            {S_ACK | S_DRIVER, S_ACK | S_DRIVER | S_FEAT_OK},
            {S_ACK | S_DRIVER | S_FEAT_OK, S_ACK | S_DRIVER | S_FEAT_OK | S_DRIVER_OK},
        };
        size_t i;

        for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
                if (steps[i][0] == from && steps[i][1] == to)
                        return true;
        return false;
}

bool virtio_dev_set_status(struct virtio_dev *d, uint32_t v)
{
        uint32_t from = d->status & ~S_NEEDS_RST, to = v & ~S_NEEDS_RST;

        if (v & S_FAILED) {
                d->status |= S_FAILED;
                return false;
        }
        if (v == 0) {
                if (!d->status)
                        return false;
                virtio_dev_reset(d);
                return true;
        }
        if (!valid_step(from, to)) {
                log_guest_warn("%s: invalid status transition 0x%x -> 0x%x", d->name, d->status, v);
                return false;
        }
        if ((to & S_FEAT_OK) && !(from & S_FEAT_OK) &&
            !virtio_dev_has_feature(d, VIRTIO_F_VERSION_1)) {
                /* Leaving FEATURES_OK clear tells the driver its subset is refused. */
                log_guest_warn("%s: driver did not accept VIRTIO_F_VERSION_1", d->name);
                return false;
        }
        d->status = to | (d->status & S_NEEDS_RST);
        if ((to & S_DRIVER_OK) && !(from & S_DRIVER_OK))
                activate(d);
        return false;
}

struct virtq *virtio_dev_writable_queue(struct virtio_dev *d, uint32_t sel)
{
        struct virtq *q = sel < d->nr_queues ? &d->queues[sel] : NULL;

        if (d->status & S_DRIVER_OK) {
                virtio_dev_needs_reset(d, "queue register written after DRIVER_OK");
                return NULL;
        }
        if (!status_is(d, S_FEAT_OK, S_FAILED)) {
                log_guest_warn("%s: queue register written in status 0x%x", d->name, d->status);
                return NULL;
        }
        if (!q)
                log_guest_warn("%s: queue register written for missing queue %u", d->name, sel);
        return q;
}

bool virtio_dev_config_writable(const struct virtio_dev *d)
{
        return status_is(d, S_DRIVER, S_FAILED | S_NEEDS_RST);
}
