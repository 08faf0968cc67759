/* The device table: one list of devices of every kind, and the virtio-mmio slots among them. */
#include "vmm/device_mgr.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"
#include "vmm/pci_mgr.h"

void device_mgr_init(struct device_mgr *dm, struct kvm_vm *vm, struct bus *mmio,
                     struct evloop *loop, const struct guest_mem *mem)
{
        memset(dm, 0, sizeof(*dm));
        dm->vm = vm;
        dm->mmio = mmio;
        dm->loop = loop;
        dm->mem = mem;
}

const char *device_mgr_cmdline(const struct device_mgr *dm)
{
        return dm->cmdline;
}

int device_mgr_cmdline_add(struct device_mgr *dm, const char *fmt, ...)
{
        size_t len = strlen(dm->cmdline);
        va_list ap;
        int n;

        if (len && len + 1 < sizeof(dm->cmdline))
                dm->cmdline[len++] = ' ';
        va_start(ap, fmt);
        n = vsnprintf(dm->cmdline + len, sizeof(dm->cmdline) - len, fmt, ap);
        va_end(ap);
        return n < 0 || (size_t)n >= sizeof(dm->cmdline) - len ? -E2BIG : 0;
}

/* KVM_IOEVENTFD on QueueNotify: a 4-byte write of value queue signals fd, with no exit. */
static int ioeventfd_assign(struct kvm_vm *vm, uint64_t addr, unsigned int queue, int fd)
{
        struct kvm_ioeventfd io = {
            .datamatch = queue,
            .addr = addr,
            .len = 4,
            .fd = fd,
            .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
        };

        return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static void on_notify(struct ev_source *src, uint32_t events)
{
        struct mmio_notify *n = src->opaque;

        (void)events;
        virtio_dev_queue_event(n->dev, n->queue);
}

static int slot_queues(struct device_mgr *dm, struct mmio_slot *s)
{
        unsigned int q;
        int fd, rc;

        rc = virtio_dev_open_notify(s->dev);
        if (rc)
                return rc;
        for (q = 0; q < s->dev->nr_queues; q++) {
                fd = s->dev->notify_fds[q];
                rc = ioeventfd_assign(dm->vm, s->base + VIRTIO_MMIO_QUEUE_NOTIFY, q, fd);
                if (rc)
                        return rc;
                s->notify[q] = (struct mmio_notify){
                    .src = {.fd = fd, .fn = on_notify, .opaque = &s->notify[q]},
                    .dev = s->dev,
                    .queue = q,
                };
                rc = evloop_add(dm->loop, &s->notify[q].src, EPOLLIN);
                if (rc)
                        return rc;
        }
        return 0;
}

static int slot_wire(struct device_mgr *dm, struct mmio_slot *s)
{
        struct bus_dev bd;
        int rc;

        s->irq_fd = kvm_vm_irqfd(dm->vm, s->gsi);
        if (s->irq_fd < 0)
                return s->irq_fd;
        s->dev->irq_fd = s->irq_fd;
        rc = slot_queues(dm, s);
        if (rc)
                return rc;
        virtio_mmio_init(&s->transport, s->dev);
        bd = virtio_mmio_bus_dev(&s->transport, s->base);
        return bus_add(dm->mmio, &bd);
}

int device_mgr_add(struct device_mgr *dm, struct device *dev, struct err *e)
{
        if (dm->nr_devs >= DEVICE_MGR_MAX_DEVS) {
                err_set(e, -ENOSPC, "cannot add %s: the device table is full", dev->id);
                dev->ops->destroy(dev); /* after the message: the id is the device's */
                return -ENOSPC;
        }
        dm->devs[dm->nr_devs++] = dev;
        return 0;
}

int device_mgr_attach(struct device_mgr *dm, struct virtio_dev *dev, const struct mmio_slot **slot,
                      struct err *e)
{
        struct mmio_slot *s;
        int rc;

        if (dm->pci ? dm->nr_slots >= DEVICE_MGR_MAX_SLOTS
                    : dm->nr_slots >= DEVICE_MGR_MAX_VIRTIO) {
                /* Firecracker's texts when its bus has no slot, or its GSIs run dry (MMIO). */
                err_set(e, -ENOSPC, "%s",
                        dm->pci ? "Could not attach device: Error attach PCI device: PCI root "
                                  "error: Could not find an available device slot on the PCI bus."
                                : "Could not attach device: MMIO transport error: Failed to "
                                  "allocate requested resource: The requested resource is not "
                                  "available.");
                dev->ops->destroy(dev);
                return -ENOSPC;
        }
        rc = device_mgr_add(dm, &dev->base, e);
        if (rc)
                return rc;
        s = &dm->slots[dm->nr_slots++]; /* counted now so destroy() cleans up a half-wired slot */
        s->dev = dev;
        s->base = LAYOUT_VIRTIO_MMIO_START + (uint64_t)(dm->nr_slots - 1) * LAYOUT_VIRTIO_MMIO_SIZE;
        s->gsi = LAYOUT_IRQ_VIRTIO_BASE + dm->nr_slots - 1;
        s->irq_fd = -1;
        if (slot)
                *slot = s;
        if (dm->pci) {
                s->pci = true;
                dm->nr_pci++;
                return pci_mgr_attach(dm->pci, dev, dm->mmio, &s->base, &s->gsi, e);
        }
        rc = slot_wire(dm, s);
        if (rc)
                return err_set(e, rc, "cannot attach %s: %s", dev->name, strerror(-rc));
        rc = device_mgr_cmdline_add(dm, "virtio_mmio.device=%lluK@0x%llx:%u",
                                    (unsigned long long)(LAYOUT_VIRTIO_MMIO_SIZE >> 10),
                                    (unsigned long long)s->base, s->gsi);
        if (rc)
                return err_set(e, rc, "kernel command line is too long");
        return 0;
}

int device_mgr_reserve_acpi_gsis(struct device_mgr *dm, struct err *e)
{
        static const char *const names[] = {"VMGenID", "VMClock"};
        unsigned int i, legacy = dm->nr_slots - dm->nr_pci; /* PCI functions use MSI-X */
        unsigned int free_gsis = DEVICE_MGR_MAX_VIRTIO - legacy;

        for (i = 0; i < 2; i++)
                if (free_gsis <= i)
                        return err_set(e, -ENOSPC,
                                       "Could not attach device: Error while registering ACPI "
                                       "with KVM: %s: Could not allocate GSI: The requested "
                                       "resource is not available.",
                                       names[i]);
        dm->vmgenid_gsi = LAYOUT_IRQ_VIRTIO_BASE + legacy;
        dm->vmclock_gsi = dm->vmgenid_gsi + 1;
        return 0;
}

struct device *device_mgr_find(const struct device_mgr *dm, enum device_kind kind, const char *id)
{
        unsigned int i;

        for (i = 0; i < dm->nr_devs; i++) {
                struct device *d = dm->devs[i];

                if (d->kind == kind && strcmp(d->id, id) == 0)
                        return d;
        }
        return NULL;
}

void device_mgr_for_each(const struct device_mgr *dm, void (*fn)(struct device *, void *),
                         void *ctx)
{
        unsigned int i;

        for (i = 0; i < dm->nr_devs; i++)
                fn(dm->devs[i], ctx);
}

void device_mgr_reset(const struct device_mgr *dm)
{
        unsigned int i;

        for (i = 0; i < dm->nr_devs; i++)
                if (dm->devs[i]->ops->reset)
                        dm->devs[i]->ops->reset(dm->devs[i]);
}

/* One kind's sum and its devices' groups. */
static void kind_metrics(const struct device_mgr *dm, const struct device_metrics_kind *k,
                         json_t *root)
{
        void *sum = calloc(1, k->table->size);
        unsigned int i;

        if (!sum)
                return;
        if (k->sum_first)
                json_object_set_new(root, k->group, json_object()); /* holds the key's place */
        for (i = 0; i < dm->nr_devs; i++) {
                struct device *d = dm->devs[i];

                if (d->kind == k->kind && d->ops->metrics)
                        d->ops->metrics(d, k, sum, root);
        }
        metrics_group_write(root, k->group, k->table, sum, NULL);
        free(sum);
}

void device_mgr_metrics(const struct device_mgr *dm, const struct device_metrics_kind *const *kinds,
                        size_t nr_kinds, json_t *root)
{
        size_t i;

        for (i = 0; i < nr_kinds; i++)
                kind_metrics(dm, kinds[i], root);
}

void device_mgr_destroy(struct device_mgr *dm)
{
        unsigned int i, q;

        if (dm->pci)
                pci_mgr_destroy(dm->pci); /* unhooks the functions before their devices go */
        free(dm->pci);
        for (i = 0; i < dm->nr_slots; i++) {
                struct mmio_slot *s = &dm->slots[i];

                if (s->pci)
                        continue;
                for (q = 0; q < VIRTIO_MAX_QUEUES && dm->loop; q++)
                        evloop_del(dm->loop, &s->notify[q].src);
                if (s->irq_fd >= 0)
                        close(s->irq_fd);
                s->dev->irq_fd = -1;
        }
        for (i = 0; i < dm->nr_devs; i++)
                dm->devs[i]->ops->destroy(dm->devs[i]); /* virtio: closes the notify eventfds */
        memset(dm, 0, sizeof(*dm));
}
