/* The PCI segment's VMM side: resources as Firecracker allocates them, KVM MSI routes, irqfds. */
#include "vmm/pci_mgr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/util.h"

/* ---- GSI routing: KVM's default legacy routes plus the live MSI routes --------------------- */

static unsigned int legacy_routes(struct kvm_irq_routing_entry *r)
{
        unsigned int gsi, n = 0;

        for (gsi = 0; gsi < PCI_MGR_LEGACY_GSIS; gsi++) {
                r[n++] = (struct kvm_irq_routing_entry){
                    .gsi = gsi,
                    .type = KVM_IRQ_ROUTING_IRQCHIP,
                    .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi},
                };
                if (gsi < 16)
                        r[n++] = (struct kvm_irq_routing_entry){
                            .gsi = gsi,
                            .type = KVM_IRQ_ROUTING_IRQCHIP,
                            .u.irqchip = {.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER
                                                             : KVM_IRQCHIP_PIC_SLAVE,
                                          .pin = gsi % 8},
                        };
        }
        return n;
}

/* Hands the whole table to KVM (routes_lock held). */
static int commit_routes(struct pci_mgr *pm)
{
        struct kvm_irq_routing *t = pm->table;
        unsigned int i, n = legacy_routes(t->entries);

        for (i = 0; i < pm->next_msi; i++)
                if (pm->msi_on[i])
                        t->entries[n++] = pm->msi[i];
        t->nr = n;
        t->flags = 0;
        return ioctl(pm->vm->vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
}

static void fn_route(void *ctx, unsigned int v, const struct msix_entry *e, bool on)
{
        struct pci_fn *f = ctx;
        struct pci_mgr *pm = f->mgr;
        unsigned int i = f->gsi_base - PCI_MGR_LEGACY_GSIS + v;
        int rc;

        if (v >= f->nr_vec)
                return;
        pthread_mutex_lock(&pm->routes_lock);
        pm->msi[i] = (struct kvm_irq_routing_entry){
            .gsi = f->gsi_base + v,
            .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = {.address_lo = e->addr_lo, .address_hi = e->addr_hi, .data = e->data},
        };
        pm->msi_on[i] = on;
        rc = commit_routes(pm);
        pthread_mutex_unlock(&pm->routes_lock);
        if (rc)
                log_error("pci: updating MSI route of GSI %u failed: %s", f->gsi_base + v,
                          strerror(-rc));
}

static void fn_inject(void *ctx, unsigned int v)
{
        struct pci_fn *f = ctx;
        int rc = v < f->nr_vec && f->irqfds[v] >= 0 ? efd_signal(f->irqfds[v]) : 0;

        if (rc)
                log_error("pci: raising GSI %u failed: %s", f->gsi_base + v, strerror(-rc));
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

static const struct msix_ops fn_msix_ops = {.route = fn_route, .inject = fn_inject};

/* ---- the segment ----------------------------------------------------------------------------- */

int pci_mgr_init(struct pci_mgr *pm, struct kvm_vm *vm, struct bus *mmio, struct bus *pio,
                 struct evloop *loop, struct err *e)
{
        struct bus_dev ecam, io;
        unsigned int i, q;
        int rc;

        memset(pm, 0, sizeof(*pm));
        pm->vm = vm;
        pm->loop = loop;
        pm->next_bar = LAYOUT_MMIO64_START;
        for (i = 0; i < PCI_BUS_SLOTS - 1; i++)
                for (q = 0; q <= VIRTIO_MAX_QUEUES; q++)
                        pm->fns[i].irqfds[q] = -1;
        pm->table = calloc(1, sizeof(*pm->table) + (2 * PCI_MGR_LEGACY_GSIS + PCI_MGR_MAX_MSI) *
                                                       sizeof(struct kvm_irq_routing_entry));
        if (!pm->table)
                return err_set(e, -ENOMEM, "pci: out of memory");
        rc = pthread_mutex_init(&pm->routes_lock, NULL);
        if (!rc)
                rc = pci_bus_init(&pm->bus);
        if (rc) {
                free(pm->table);
                pm->table = NULL;
                return err_set(e, -rc, "pci: %s", strerror(rc));
        }
        /* The whole MMCONFIG hole decodes: buses the MCFG does not list read all ones. */
        ecam = bus_dev_of(LAYOUT_PCI_MMCONFIG_START, LAYOUT_PCI_MMCONFIG_SIZE, &pm->bus,
                          pci_bus_ecam_read, pci_bus_ecam_write);
        io = bus_dev_of(PCI_PORT_CONFIG, PCI_PORT_CONFIG_SZ, &pm->bus, pci_bus_io_read,
                        pci_bus_io_write);
        rc = bus_add(mmio, &ecam);
        if (!rc)
                rc = bus_add(pio, &io);
        if (rc)
                return err_set(e, rc, "pci: cannot map the configuration space: %s", strerror(-rc));
        log_info("pci: adding PCI segment: id=0x0, PCI MMIO config address: 0x%llx, mem32 area: "
                 "[0x%llx-0x%llx], mem64 area: [0x%llx-0x%llx] IO area: [0xcf8-0xcff]",
                 LAYOUT_PCI_MMCONFIG_START, LAYOUT_PCI_MEM32_START, LAYOUT_PCI_MEM32_LAST,
                 LAYOUT_MMIO64_START, LAYOUT_MMIO64_START + LAYOUT_MMIO64_SIZE - 1);
        return 0;
}

static void on_notify(struct ev_source *src, uint32_t events)
{
        struct pci_notify *n = src->opaque;

        (void)events;
        virtio_dev_queue_event(n->dev, n->queue);
}

/* KVM_IOEVENTFD on a queue's notify address: any write there signals fd, with no exit. */
static int notify_assign(struct kvm_vm *vm, uint64_t addr, int fd)
{
        struct kvm_ioeventfd io = {.addr = addr, .len = 0, .fd = fd};

        if (ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) == 0)
                return 0;
        io.len = 2; /* a kernel without wildcard-length MMIO ioeventfds: the 16-bit notify */
        return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static int fn_queues(struct pci_mgr *pm, struct pci_fn *f, struct virtio_dev *dev)
{
        unsigned int q;
        int rc = virtio_dev_open_notify(dev);

        for (q = 0; !rc && q < dev->nr_queues; q++) {
                rc = notify_assign(pm->vm, virtio_pci_notify_addr(&f->t, q), dev->notify_fds[q]);
                if (rc)
                        break;
                f->notify[q] = (struct pci_notify){
                    .src = {.fd = dev->notify_fds[q], .fn = on_notify, .opaque = &f->notify[q]},
                    .dev = dev,
                    .queue = q,
                };
                rc = evloop_add(pm->loop, &f->notify[q].src, EPOLLIN);
        }
        return rc;
}

static int fn_wire(struct pci_mgr *pm, struct pci_fn *f, struct virtio_dev *dev, struct bus *mmio)
{
        struct bus_dev bd;
        unsigned int v;
        int rc;

        for (v = 0; v < f->nr_vec; v++) {
                f->irqfds[v] = kvm_vm_irqfd(pm->vm, f->gsi_base + v);
                if (f->irqfds[v] < 0)
                        return f->irqfds[v];
        }
        rc = virtio_pci_init(&f->t, dev, pm->next_bar, &fn_msix_ops, f);
        if (rc)
                return rc;
        f->bound = true;
        rc = fn_queues(pm, f, dev);
        if (rc)
                return rc;
        bd = virtio_pci_bus_dev(&f->t);
        rc = bus_add(mmio, &bd);
        if (rc)
                return rc;
        pthread_mutex_lock(&pm->bus.lock);
        rc = pci_bus_add(&pm->bus, &virtio_pci_fn_ops, &f->t);
        pthread_mutex_unlock(&pm->bus.lock);
        return rc < 0 ? rc : 0;
}

int pci_mgr_attach(struct pci_mgr *pm, struct virtio_dev *dev, struct bus *mmio, uint64_t *bar,
                   unsigned int *gsi, struct err *e)
{
        struct pci_fn *f;
        int rc;

        if (pm->nr_fns >= PCI_BUS_SLOTS - 1)
                return err_set(e, -ENOSPC,
                               "Could not attach device: PCI root error: "
                               "No PCI device slot available");
        f = &pm->fns[pm->nr_fns++]; /* counted now so destroy() cleans up a half-wired one */
        f->mgr = pm;
        f->nr_vec = dev->nr_queues + 1;
        f->gsi_base = PCI_MGR_LEGACY_GSIS + pm->next_msi;
        pm->next_msi += f->nr_vec;
        rc = fn_wire(pm, f, dev, mmio);
        if (rc)
                return err_set(e, rc, "cannot attach %s on PCI: %s", dev->name, strerror(-rc));
        *bar = pm->next_bar;
        *gsi = f->gsi_base;
        pm->next_bar += VIRTIO_PCI_BAR_SIZE;
        return 0;
}

void pci_mgr_destroy(struct pci_mgr *pm)
{
        unsigned int i, q;

        if (!pm->table)
                return; /* never initialised: its fds are not -1 */
        for (i = 0; i < pm->nr_fns; i++) {
                struct pci_fn *f = &pm->fns[i];

                for (q = 0; q < VIRTIO_MAX_QUEUES && pm->loop; q++)
                        if (f->notify[q].dev)
                                evloop_del(pm->loop, &f->notify[q].src);
                for (q = 0; q <= VIRTIO_MAX_QUEUES; q++)
                        close_fd(&f->irqfds[q]);
                if (f->bound)
                        virtio_pci_fini(&f->t);
        }
        pci_bus_fini(&pm->bus);
        pthread_mutex_destroy(&pm->routes_lock);
        free(pm->table);
        memset(pm, 0, sizeof(*pm));
}
