/* virtio-pci: the configuration space, common configuration, ISR, notify and MSI-X of one device.
 */
#include "devices/virtio/pci.h"

#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

/* virtio 1.x §4.1.4: structure types of the vendor capabilities. */
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR    3
#define CAP_DEVICE 4
#define CAP_PCI    5

/* Common configuration fields (virtio 1.x §4.1.4.3). */
#define CC_DFSELECT    0x00
#define CC_DF          0x04
#define CC_GFSELECT    0x08
#define CC_GF          0x0c
#define CC_MSIX_CONFIG 0x10
#define CC_NUM_QUEUES  0x12
#define CC_STATUS      0x14
#define CC_CFG_GEN     0x15
#define CC_Q_SELECT    0x16
#define CC_Q_SIZE      0x18
#define CC_Q_VECTOR    0x1a
#define CC_Q_ENABLE    0x1c
#define CC_Q_NOTIFY    0x1e
#define CC_Q_DESC      0x20
#define CC_Q_AVAIL     0x28
#define CC_Q_USED      0x30

/* ---- interrupts ------------------------------------------------------------------------------ */

static void raise_irq(struct virtio_dev *d, int q)
{
        struct virtio_pci *p = d->transport;
        uint16_t v;

        if (q >= (int)d->nr_queues)
                return;
        v = q < 0 ? __atomic_load_n(&p->msix_config, __ATOMIC_ACQUIRE)
                  : __atomic_load_n(&p->msix_queues[q], __ATOMIC_ACQUIRE);
        if (v == VIRTIO_PCI_NO_VECTOR)
                return;
        pthread_mutex_lock(&p->msix_lock);
        msix_fire(&p->msix, v);
        pthread_mutex_unlock(&p->msix_lock);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

/* A virtio vendor capability's body (cap_len onward) for one structure in BAR 0. */
static size_t vcap(uint8_t *b, size_t extra, uint8_t type, uint32_t off, uint32_t len)
{
        memset(b, 0, 14 + extra);
        b[0] = (uint8_t)(16 + extra); /* cap_len counts ID and Next too */
        b[1] = type;
        st_le32(b + 6, off);
        st_le32(b + 10, len);
        return 14 + extra;
}

static int add_caps(struct virtio_pci *p)
{
        uint8_t b[20];
        size_t n;
        int off, rc = 0;

        n = vcap(b, 0, CAP_COMMON, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE);
        rc |= pci_cfg_add_cap(&p->cfg, PCI_CAP_ID_VENDOR, b, n);
        n = vcap(b, 0, CAP_ISR, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_SIZE);
        rc |= pci_cfg_add_cap(&p->cfg, PCI_CAP_ID_VENDOR, b, n);
        n = vcap(b, 0, CAP_DEVICE, VIRTIO_PCI_DEVCFG_OFF, VIRTIO_PCI_DEVCFG_SIZE);
        rc |= pci_cfg_add_cap(&p->cfg, PCI_CAP_ID_VENDOR, b, n);
        n = vcap(b, 4, CAP_NOTIFY, VIRTIO_PCI_NOTIFY_OFF, VIRTIO_PCI_NOTIFY_SIZE);
        st_le32(b + 14, VIRTIO_PCI_NOTIFY_MULT);
        rc |= pci_cfg_add_cap(&p->cfg, PCI_CAP_ID_VENDOR, b, n);
        n = vcap(p->cfgcap_body, 4, CAP_PCI, 0, 0);
        off = pci_cfg_add_cap(&p->cfg, PCI_CAP_ID_VENDOR, p->cfgcap_body, n);
        p->cfgcap = (uint16_t)(off + 2);
        rc |= off;
        msix_cap_body(&p->msix, 0, VIRTIO_PCI_TABLE_OFF, VIRTIO_PCI_PBA_OFF, b);
        off = pci_cfg_add_cap(&p->cfg, PCI_CAP_ID_MSIX, b, 10);
        p->msix_cap = (uint16_t)off;
        rc |= off;
        return rc < 0 ? -ENOSPC : 0;
}

int virtio_pci_init(struct virtio_pci *p, struct virtio_dev *dev, uint64_t bar,
                    const struct msix_ops *ops, void *ctx)
{
        bool net = dev->device_id == VIRTIO_ID_NET, blk = dev->device_id == VIRTIO_ID_BLOCK;
        struct pci_id id = {
            .vendor = VIRTIO_PCI_VENDOR,
            .device = (uint16_t)(VIRTIO_PCI_DEVICE_ID + dev->device_id),
            .revision = 1, /* modern */
            .class_code = net   ? PCI_CLASS_NETWORK
                          : blk ? PCI_CLASS_STORAGE
                                : PCI_CLASS_UNASSIGNED,
            .subclass = net   ? PCI_SUBCLASS_ETHERNET
                        : blk ? PCI_SUBCLASS_STORAGE
                              : PCI_SUBCLASS_OTHER,
            .subsys_vendor = VIRTIO_PCI_VENDOR,
            .subsys = (uint16_t)(VIRTIO_PCI_DEVICE_ID + dev->device_id),
        };
        unsigned int q;
        int rc;

        memset(p, 0, sizeof(*p));
        rc = pthread_mutex_init(&p->msix_lock, NULL);
        if (rc)
                return -rc;
        p->dev = dev;
        p->msix_config = VIRTIO_PCI_NO_VECTOR;
        for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
                p->msix_queues[q] = VIRTIO_PCI_NO_VECTOR;
        msix_init(&p->msix, dev->nr_queues + 1, ops, ctx);
        pci_cfg_init(&p->cfg, &id);
        pci_cfg_set_bar64(&p->cfg, 0, bar, VIRTIO_PCI_BAR_SIZE);
        rc = add_caps(p);
        if (rc) {
                pthread_mutex_destroy(&p->msix_lock);
                return rc;
        }
        dev->transport = p;
        dev->raise = raise_irq;
        return 0;
}

void virtio_pci_fini(struct virtio_pci *p)
{
        if (p->dev) {
                p->dev->raise = NULL;
                p->dev->transport = NULL;
                pthread_mutex_destroy(&p->msix_lock);
        }
        p->dev = NULL;
}

uint64_t virtio_pci_notify_addr(const struct virtio_pci *p, unsigned int q)
{
        return pci_cfg_bar64(&p->cfg, 0) + VIRTIO_PCI_NOTIFY_OFF +
               (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT;
}

struct bus_dev virtio_pci_bus_dev(struct virtio_pci *p)
{
        return bus_dev_of(pci_cfg_bar64(&p->cfg, 0), VIRTIO_PCI_BAR_SIZE, p, virtio_pci_bar_read,
                          virtio_pci_bar_write);
}

/* ---- common configuration -------------------------------------------------------------------- */

static struct virtq *sel_queue(struct virtio_pci *p)
{
        return p->queue_sel < p->dev->nr_queues ? &p->dev->queues[p->queue_sel] : NULL;
}

static uint32_t addr_half(uint64_t a, bool high)
{
        return (uint32_t)(high ? a >> 32 : a);
}

static uint32_t cc_read32(struct virtio_pci *p, uint64_t off)
{
        struct virtio_dev *d = p->dev;
        struct virtq *q = sel_queue(p);

        switch (off) {
        case CC_DFSELECT:
                return p->dfselect;
        case CC_DF:
                return p->dfselect < 2 ? (uint32_t)(d->avail_features >> (32 * p->dfselect)) : 0;
        case CC_GFSELECT:
                return p->gfselect;
        case CC_GF:
                return p->gfselect < 2 ? (uint32_t)(d->acked_features >> (32 * p->gfselect)) : 0;
        case CC_Q_DESC:
        case CC_Q_DESC + 4:
                return q ? addr_half(q->desc_gpa, off & 4) : 0;
        case CC_Q_AVAIL:
        case CC_Q_AVAIL + 4:
                return q ? addr_half(q->avail_gpa, off & 4) : 0;
        case CC_Q_USED:
        case CC_Q_USED + 4:
                return q ? addr_half(q->used_gpa, off & 4) : 0;
        }
        log_guest_warn("%s: 4-byte read of common config at 0x%llx", d->name,
                       (unsigned long long)off);
        return 0;
}

static uint16_t cc_read16(struct virtio_pci *p, uint64_t off)
{
        struct virtq *q = sel_queue(p);

        switch (off) {
        case CC_MSIX_CONFIG:
                return p->msix_config;
        case CC_NUM_QUEUES:
                return (uint16_t)p->dev->nr_queues;
        case CC_Q_SELECT:
        case CC_Q_NOTIFY: /* queue n notifies at n x the multiplier */
                return p->queue_sel;
        case CC_Q_SIZE:
                return q ? q->size : 0;
        case CC_Q_VECTOR:
                return q ? p->msix_queues[p->queue_sel] : VIRTIO_PCI_NO_VECTOR;
        case CC_Q_ENABLE:
                return q ? q->ready : 0;
        }
        log_guest_warn("%s: 2-byte read of common config at 0x%llx", p->dev->name,
                       (unsigned long long)off);
        return 0;
}

static void cc_read(struct virtio_pci *p, uint64_t off, uint8_t *data, uint32_t len)
{
        if (len == 4)
                st_le32(data, cc_read32(p, off));
        else if (len == 2)
                st_le(data, cc_read16(p, off), 2);
        else if (len == 1 && off == CC_STATUS)
                data[0] = (uint8_t)p->dev->status;
        else if (len == 1 && off == CC_CFG_GEN)
                data[0] = (uint8_t)p->dev->config_generation;
        else
                log_guest_warn("%s: %u-byte read of common config at 0x%llx", p->dev->name, len,
                               (unsigned long long)off);
}

static void set_half(uint64_t *a, bool high, uint32_t v)
{
        *a = high ? (*a & 0xffffffffULL) | (uint64_t)v << 32 : (*a & ~0xffffffffULL) | v;
}

static void cc_write32(struct virtio_pci *p, uint64_t off, uint32_t v)
{
        struct virtq *q;

        switch (off) {
        case CC_DFSELECT:
                p->dfselect = v;
                return;
        case CC_GFSELECT:
                p->gfselect = v;
                return;
        case CC_GF:
                virtio_dev_ack_features(p->dev, p->gfselect, v);
                return;
        case CC_Q_DESC ... CC_Q_USED + 4:
                if (off % 4 || !(q = virtio_dev_writable_queue(p->dev, p->queue_sel)))
                        return;
                set_half(off < CC_Q_AVAIL  ? &q->desc_gpa
                         : off < CC_Q_USED ? &q->avail_gpa
                                           : &q->used_gpa,
                         off & 4, v);
                return;
        }
        log_guest_warn("%s: 4-byte write of common config at 0x%llx", p->dev->name,
                       (unsigned long long)off);
}

/* A vector number the driver chose: one of ours, or NO_VECTOR (as Firecracker, out of range). */
static uint16_t vector_of(const struct virtio_pci *p, uint16_t v)
{
        return v < p->msix.nr ? v : VIRTIO_PCI_NO_VECTOR;
}

static void cc_write16(struct virtio_pci *p, uint64_t off, uint16_t v)
{
        struct virtq *q;

        switch (off) {
        case CC_MSIX_CONFIG:
                __atomic_store_n(&p->msix_config, vector_of(p, v), __ATOMIC_RELEASE);
                return;
        case CC_Q_SELECT:
                p->queue_sel = v;
                return;
        case CC_Q_VECTOR:
                if (sel_queue(p))
                        __atomic_store_n(&p->msix_queues[p->queue_sel], vector_of(p, v),
                                         __ATOMIC_RELEASE);
                return;
        case CC_Q_SIZE:
        case CC_Q_ENABLE:
                q = virtio_dev_writable_queue(p->dev, p->queue_sel);
                if (q && off == CC_Q_SIZE)
                        q->size = v; /* checked when the device goes live */
                else if (q)
                        q->ready = v == 1;
                return;
        }
        log_guest_warn("%s: 2-byte write of common config at 0x%llx", p->dev->name,
                       (unsigned long long)off);
}

static void reset_transport(struct virtio_pci *p)
{
        unsigned int q;

        p->dfselect = p->gfselect = 0;
        p->queue_sel = 0;
        __atomic_store_n(&p->msix_config, VIRTIO_PCI_NO_VECTOR, __ATOMIC_RELEASE);
        for (q = 0; q < VIRTIO_MAX_QUEUES; q++)
                __atomic_store_n(&p->msix_queues[q], VIRTIO_PCI_NO_VECTOR, __ATOMIC_RELEASE);
}

static void cc_write(struct virtio_pci *p, uint64_t off, const uint8_t *data, uint32_t len)
{
        if (len == 4)
                cc_write32(p, off, ld_le32(data));
        else if (len == 2)
                cc_write16(p, off, (uint16_t)ld_le(data, 2));
        else if (len == 1 && off == CC_STATUS && virtio_dev_set_status(p->dev, data[0]))
                reset_transport(p);
        else if (!(len == 1 && off == CC_STATUS))
                log_guest_warn("%s: %u-byte write of common config at 0x%llx", p->dev->name, len,
                               (unsigned long long)off);
}

/* ---- BAR 0 ----------------------------------------------------------------------------------- */

static bool in(uint64_t off, uint32_t len, uint32_t start, uint32_t size)
{
        return off >= start && off - start < size && len <= size - (off - start);
}

static void notify(struct virtio_pci *p, uint64_t off)
{
        uint64_t q = (off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT;

        /* Normally the queue's ioeventfd catches the write before it exits. */
        if (off % VIRTIO_PCI_NOTIFY_MULT == 0 && q < p->dev->nr_queues)
                virtio_dev_kick(p->dev, (unsigned int)q);
        else
                log_guest_warn("%s: notify at 0x%llx matches no queue", p->dev->name,
                               (unsigned long long)off);
}

/* A BAR read, dev's lock held. */
static void bar_read(struct virtio_pci *p, uint64_t off, uint8_t *data, uint32_t len)
{
        struct virtio_dev *d = p->dev;

        memset(data, 0, len);
        if (in(off, len, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE)) {
                cc_read(p, off - VIRTIO_PCI_COMMON_OFF, data, len);
        } else if (in(off, len, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_SIZE)) {
                data[0] = (uint8_t)__atomic_exchange_n(&d->isr, 0, __ATOMIC_SEQ_CST);
        } else if (in(off, len, VIRTIO_PCI_DEVCFG_OFF, VIRTIO_PCI_DEVCFG_SIZE)) {
                d->ops->read_config(d, off - VIRTIO_PCI_DEVCFG_OFF, data, len);
        } else if (in(off, len, VIRTIO_PCI_TABLE_OFF, VIRTIO_PCI_TABLE_SIZE)) {
                pthread_mutex_lock(&p->msix_lock);
                msix_table_read(&p->msix, off - VIRTIO_PCI_TABLE_OFF, data, len);
                pthread_mutex_unlock(&p->msix_lock);
        } else if (in(off, len, VIRTIO_PCI_PBA_OFF, VIRTIO_PCI_PBA_SIZE)) {
                pthread_mutex_lock(&p->msix_lock);
                msix_pba_read(&p->msix, off - VIRTIO_PCI_PBA_OFF, data, len);
                pthread_mutex_unlock(&p->msix_lock);
        } else {
                log_guest_warn("%s: %u-byte BAR read at 0x%llx hits nothing", d->name, len,
                               (unsigned long long)off);
        }
}

/* A BAR write, dev's lock held. */
static void bar_write(struct virtio_pci *p, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct virtio_dev *d = p->dev;

        if (in(off, len, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_SIZE)) {
                cc_write(p, off - VIRTIO_PCI_COMMON_OFF, data, len);
        } else if (in(off, len, VIRTIO_PCI_DEVCFG_OFF, VIRTIO_PCI_DEVCFG_SIZE)) {
                if (virtio_dev_config_writable(d))
                        d->ops->write_config(d, off - VIRTIO_PCI_DEVCFG_OFF, data, len);
                else
                        log_guest_warn("%s: config written in status 0x%x", d->name, d->status);
        } else if (in(off, len, VIRTIO_PCI_NOTIFY_OFF, VIRTIO_PCI_NOTIFY_SIZE)) {
                notify(p, off);
        } else if (in(off, len, VIRTIO_PCI_TABLE_OFF, VIRTIO_PCI_TABLE_SIZE)) {
                pthread_mutex_lock(&p->msix_lock);
                msix_table_write(&p->msix, off - VIRTIO_PCI_TABLE_OFF, data, len);
                pthread_mutex_unlock(&p->msix_lock);
        } else {
                /* The ISR is read-to-clear and the PBA read-only. */
                log_guest_warn("%s: %u-byte BAR write at 0x%llx ignored", d->name, len,
                               (unsigned long long)off);
        }
}

void virtio_pci_bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        struct virtio_pci *p = opaque;

        virtio_dev_lock(p->dev);
        bar_read(p, off, data, len);
        virtio_dev_unlock(p->dev);
}

void virtio_pci_bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct virtio_pci *p = opaque;

        virtio_dev_lock(p->dev);
        bar_write(p, off, data, len);
        virtio_dev_unlock(p->dev);
}

/* ---- configuration space --------------------------------------------------------------------- */

/* The pci_cfg window's data dword: one access of the programmed length into BAR 0. */
static uint32_t cfgcap_data_read(struct virtio_pci *p)
{
        uint32_t off = ld_le32(p->cfgcap_body + 6), len = ld_le32(p->cfgcap_body + 10);
        uint8_t b[4] = {0};

        if (len == 1 || len == 2 || len == 4)
                bar_read(p, off, b, len);
        return ld_le32(b);
}

static uint32_t fn_read(void *opaque, unsigned int reg)
{
        struct virtio_pci *p = opaque;
        uint32_t v;

        virtio_dev_lock(p->dev);
        if (reg * 4 == p->cfgcap + 14u)
                v = cfgcap_data_read(p);
        else
                v = pci_cfg_read(&p->cfg, reg);
        virtio_dev_unlock(p->dev);
        return v;
}

/* A write inside the pci_cfg capability's body (from cap_len to the end of its data). */
static void cfgcap_write(struct virtio_pci *p, unsigned int at, const uint8_t *data,
                         unsigned int len)
{
        uint32_t off = ld_le32(p->cfgcap_body + 6), blen = ld_le32(p->cfgcap_body + 10);
        unsigned int i;

        if (at < 14) {
                for (i = 0; i < len && at + i < 14; i++) {
                        unsigned int c = p->cfgcap + at + i;

                        p->cfgcap_body[at + i] = data[i];
                        p->cfg.regs[c / 4] = (p->cfg.regs[c / 4] & ~(0xffu << (c % 4 * 8))) |
                                             (uint32_t)data[i] << (c % 4 * 8);
                }
                return;
        }
        if (blen == 1 || blen == 2 || blen == 4)
                bar_write(p, off, data, blen < len ? blen : len);
}

static void fn_write(void *opaque, unsigned int reg, unsigned int off, const uint8_t *data,
                     unsigned int len)
{
        struct virtio_pci *p = opaque;
        unsigned int at = reg * 4 + off;

        virtio_dev_lock(p->dev);
        if (at >= p->cfgcap && at + len <= p->cfgcap + (unsigned int)VIRTIO_PCI_CFGCAP_BODY) {
                cfgcap_write(p, at - p->cfgcap, data, len);
        } else {
                if (reg * 4 == p->msix_cap) {
                        pthread_mutex_lock(&p->msix_lock);
                        msix_write_ctl(&p->msix, off, data, len);
                        pthread_mutex_unlock(&p->msix_lock);
                }
                pci_cfg_write(&p->cfg, reg, off, data, len);
        }
        virtio_dev_unlock(p->dev);
}

const struct pci_fn_ops virtio_pci_fn_ops = {.read = fn_read, .write = fn_write};
