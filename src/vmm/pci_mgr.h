/* --enable-pci: the PCI segment, virtio-pci functions, their BARs, MSI-X routes and irqfds. */
#ifndef BRASA_VMM_PCI_MGR_H
#define BRASA_VMM_PCI_MGR_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "devices/bus.h"
#include "devices/pci/pci_bus.h"
#include "devices/virtio/pci.h"
#include "vmm/kvm_vm.h"

/* Legacy pins KVM routes by default (PIC and IOAPIC), then one GSI per MSI-X vector. */
#define PCI_MGR_LEGACY_GSIS 24
#define PCI_MGR_MAX_MSI     ((PCI_BUS_SLOTS - 1) * (VIRTIO_MAX_QUEUES + 1))

struct pci_mgr;

/* A queue's ioeventfd as a VMM-loop source. */
struct pci_notify {
        struct ev_source src;
        struct virtio_dev *dev;
        unsigned int queue;
};

/* One virtio function on the bus. */
struct pci_fn {
        struct pci_mgr *mgr;
        struct virtio_pci t;
        unsigned int gsi_base, nr_vec;
        int irqfds[VIRTIO_MAX_QUEUES + 1]; /* owned, one per vector; -1 when none */
        struct pci_notify notify[VIRTIO_MAX_QUEUES];
        bool bound; /* t is initialised */
};

struct pci_mgr {
        struct kvm_vm *vm;
        struct evloop *loop;
        struct pci_bus bus;
        pthread_mutex_t routes_lock; /* vCPUs reprogram MSI-X tables concurrently */
        struct kvm_irq_routing_entry msi[PCI_MGR_MAX_MSI];
        bool msi_on[PCI_MGR_MAX_MSI];
        struct kvm_irq_routing *table; /* the whole table handed to KVM, rebuilt each change */
        struct pci_fn fns[PCI_BUS_SLOTS - 1];
        unsigned int nr_fns, next_msi;
        uint64_t next_bar;
};

/*
 * The segment: host bridge, ECAM window on mmio, 0xCF8 on pio. Returns 0 or -errno with one
 * line in e.
 */
int pci_mgr_init(struct pci_mgr *pm, struct kvm_vm *vm, struct bus *mmio, struct bus *pio,
                 struct evloop *loop, struct err *e);

/*
 * Puts dev on the next free device number, its BAR at the next 512 KiB of the 64-bit MMIO
 * window, queues+1 MSI-X vectors on the next GSIs from 24 (each with an irqfd), and each
 * queue's notify address on an ioeventfd watched by the VMM loop. *bar and *gsi report the
 * BAR and first GSI. Returns 0 or -errno with one line in e (the caller owns dev).
 */
int pci_mgr_attach(struct pci_mgr *pm, struct virtio_dev *dev, struct bus *mmio, uint64_t *bar,
                   unsigned int *gsi, struct err *e);

/* Unhooks every function from its device (vCPUs stopped) and releases the segment. */
void pci_mgr_destroy(struct pci_mgr *pm);

#endif
