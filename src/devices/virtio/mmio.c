/* virtio-mmio v2 registers: feature negotiation, the status state machine, queue setup, reset. */
#include "devices/virtio/mmio.h"

#include <stdio.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/util.h"

#define S_DRIVER_OK VIRTIO_CONFIG_S_DRIVER_OK

void virtio_mmio_init(struct virtio_mmio *m, struct virtio_dev *dev)
{
        memset(m, 0, sizeof(*m));
        m->dev = dev;
}

static struct virtq *selected_queue(struct virtio_mmio *m)
{
        return m->queue_sel < m->dev->nr_queues ? &m->dev->queues[m->queue_sel] : NULL;
}

static uint32_t read_reg(struct virtio_mmio *m, uint64_t off)
{
        struct virtio_dev *d = m->dev;
        struct virtq *q = selected_queue(m);

        switch (off) {
        case VIRTIO_MMIO_MAGIC_VALUE:
                return VIRTIO_MMIO_MAGIC_VAL;
        case VIRTIO_MMIO_VERSION:
                return VIRTIO_MMIO_VERSION_VAL;
        case VIRTIO_MMIO_DEVICE_ID:
                return d->device_id;
        case VIRTIO_MMIO_VENDOR_ID:
                return VIRTIO_MMIO_VENDOR_VAL;
        case VIRTIO_MMIO_DEVICE_FEATURES:
                return m->features_sel < 2 ? (uint32_t)(d->avail_features >> (32 * m->features_sel))
                                           : 0;
        case VIRTIO_MMIO_QUEUE_NUM_MAX:
                return q ? q->max_size : 0;
        case VIRTIO_MMIO_QUEUE_READY:
                return q ? q->ready : 0;
        case VIRTIO_MMIO_INTERRUPT_STATUS:
                return __atomic_load_n(&d->isr, __ATOMIC_SEQ_CST);
        case VIRTIO_MMIO_STATUS:
                return d->status;
        case VIRTIO_MMIO_SHM_LEN_LOW:
        case VIRTIO_MMIO_SHM_LEN_HIGH:
                return 0xffffffffu; /* no shared memory regions */
        case VIRTIO_MMIO_CONFIG_GENERATION:
                return d->config_generation;
        default:
                log_guest_warn("%s: read of unknown or write-only register 0x%llx", d->name,
                               (unsigned long long)off);
                return 0;
        }
}

void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct virtio_mmio *m = opaque;
        struct virtio_dev *d = m->dev;

        memset(data, 0, len);
        virtio_dev_lock(d);
        if (off >= VIRTIO_MMIO_CONFIG) {
                d->ops->read_config(d, off - VIRTIO_MMIO_CONFIG, data, len);
        } else if (len == 4 && off % 4 == 0) {
                st_le32(data, read_reg(m, off));
        } else {
                log_guest_warn("%s: %u-byte read at 0x%llx: registers are 32-bit", d->name, len,
                               (unsigned long long)off);
        }
        virtio_dev_unlock(d);
}

static void set_status(struct virtio_mmio *m, uint32_t v)
{
        if (virtio_dev_set_status(m->dev, v))
                m->features_sel = m->driver_features_sel = m->queue_sel = 0;
}

static void set_addr_half(uint64_t *addr, bool high, uint32_t v)
{
        if (high)
                *addr = (*addr & 0xffffffffULL) | (uint64_t)v << 32;
        else
                *addr = (*addr & ~0xffffffffULL) | v;
}

static void write_queue_reg(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
        struct virtq *q = virtio_dev_writable_queue(m->dev, m->queue_sel);

        if (!q)
                return;
        switch (off) {
        case VIRTIO_MMIO_QUEUE_NUM:
                q->size = (uint16_t)v; /* checked when the device is activated */
                break;
        case VIRTIO_MMIO_QUEUE_READY:
                q->ready = v == 1;
                break;
        case VIRTIO_MMIO_QUEUE_DESC_LOW:
        case VIRTIO_MMIO_QUEUE_DESC_HIGH:
                set_addr_half(&q->desc_gpa, off == VIRTIO_MMIO_QUEUE_DESC_HIGH, v);
                break;
        case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
        case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
                set_addr_half(&q->avail_gpa, off == VIRTIO_MMIO_QUEUE_AVAIL_HIGH, v);
                break;
        default:
                set_addr_half(&q->used_gpa, off == VIRTIO_MMIO_QUEUE_USED_HIGH, v);
                break;
        }
}

static void notify(struct virtio_mmio *m, uint32_t v)
{
        struct virtio_dev *d = m->dev;
        char msg[80];

        if (v < d->nr_queues) {
                /* Normally an ioeventfd catches this; either way the VMM thread does the work. */
                virtio_dev_kick(d, v);
                return;
        }
        if (virtio_dev_running(d)) {
                snprintf(msg, sizeof(msg), "notify of queue %u, which does not exist", v);
                virtio_dev_needs_reset(d, msg);
                return;
        }
        log_guest_warn("%s: notify of queue %u in status 0x%x", d->name, v, d->status);
}

static void write_reg(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
        struct virtio_dev *d = m->dev;

        switch (off) {
        case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
                m->features_sel = v;
                break;
        case VIRTIO_MMIO_DRIVER_FEATURES:
                virtio_dev_ack_features(d, m->driver_features_sel, v);
                break;
        case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
                m->driver_features_sel = v;
                break;
        case VIRTIO_MMIO_QUEUE_SEL:
                m->queue_sel = v;
                break;
        case VIRTIO_MMIO_QUEUE_NUM:
        case VIRTIO_MMIO_QUEUE_READY:
        case VIRTIO_MMIO_QUEUE_DESC_LOW:
        case VIRTIO_MMIO_QUEUE_DESC_HIGH:
        case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
        case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
        case VIRTIO_MMIO_QUEUE_USED_LOW:
        case VIRTIO_MMIO_QUEUE_USED_HIGH:
                write_queue_reg(m, off, v);
                break;
        case VIRTIO_MMIO_QUEUE_NOTIFY:
                notify(m, v);
                break;
        case VIRTIO_MMIO_INTERRUPT_ACK:
                if (d->status & S_DRIVER_OK)
                        __atomic_fetch_and(&d->isr, ~v, __ATOMIC_SEQ_CST);
                break;
        case VIRTIO_MMIO_STATUS:
                set_status(m, v);
                break;
        default:
                log_guest_warn("%s: write of unknown or read-only register 0x%llx", d->name,
                               (unsigned long long)off);
                break;
        }
}

void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct virtio_mmio *m = opaque;
        struct virtio_dev *d = m->dev;

        virtio_dev_lock(d);
        if (off >= VIRTIO_MMIO_CONFIG) {
                if (virtio_dev_config_writable(d))
                        d->ops->write_config(d, off - VIRTIO_MMIO_CONFIG, data, len);
                else
                        log_guest_warn("%s: config written in status 0x%x", d->name, d->status);
        } else if (len == 4 && off % 4 == 0) {
                write_reg(m, off, ld_le32(data));
        } else {
                log_guest_warn("%s: %u-byte write at 0x%llx: registers are 32-bit", d->name, len,
                               (unsigned long long)off);
        }
        virtio_dev_unlock(d);
}

struct bus_dev virtio_mmio_bus_dev(struct virtio_mmio *m, uint64_t base)
{
        return bus_dev_of(base, LAYOUT_VIRTIO_MMIO_SIZE, m, virtio_mmio_read, virtio_mmio_write);
}
