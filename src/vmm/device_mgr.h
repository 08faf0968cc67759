/* The device table: every device of every kind, and virtio-mmio slots from 0xC0001000, GSIs from 5.
 */
#ifndef BRASA_VMM_DEVICE_MGR_H
#define BRASA_VMM_DEVICE_MGR_H

#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/layout.h"
#include "core/err.h"
#include "core/evloop.h"
#include "core/guest_mem.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "devices/virtio/mmio.h"
#include "vmm/kvm_vm.h"

struct pci_mgr;

/* One legacy GSI per device: 5..23 (Firecracker's MMIO-mode limit). */
#define DEVICE_MGR_MAX_VIRTIO (LAYOUT_IRQ_VIRTIO_LAST - LAYOUT_IRQ_VIRTIO_BASE + 1)

/* With --enable-pci: one function per device number but the host bridge's. */
#define DEVICE_MGR_MAX_SLOTS 31

/* Every device: the virtio ones and room for the legacy ones. */
#define DEVICE_MGR_MAX_DEVS (DEVICE_MGR_MAX_SLOTS + 8)

/* A queue's ioeventfd as a VMM-loop source. */
struct mmio_notify {
        struct ev_source src;
        struct virtio_dev *dev;
        unsigned int queue;
};

/* One attached virtio device of any type, with its transport and its place on the bus. */
struct mmio_slot {
        struct virtio_dev *dev; /* in the table, which owns it */
        struct virtio_mmio transport;
        uint64_t base;
        unsigned int gsi;
        int irq_fd; /* owned; dev->irq_fd borrows it */
        bool pci;   /* on the PCI bus: base is its BAR, gsi its first MSI-X GSI */
        struct mmio_notify notify[VIRTIO_MAX_QUEUES];
};

struct device_mgr {
        struct kvm_vm *vm;
        struct bus *mmio;
        struct evloop *loop;
        const struct guest_mem *mem;
        struct device *devs[DEVICE_MGR_MAX_DEVS]; /* owned, in add order */
        unsigned int nr_devs;
        struct mmio_slot slots[DEVICE_MGR_MAX_SLOTS];
        unsigned int nr_slots;
        char cmdline[LAYOUT_CMDLINE_MAX_SIZE]; /* words brasa adds to the kernel command line */
        unsigned int vmgenid_gsi, vmclock_gsi; /* from device_mgr_reserve_acpi_gsis() */
        struct pci_mgr *pci; /* --enable-pci: virtio devices go there (owned, freed by destroy) */
        unsigned int nr_pci; /* slots that are PCI functions */
};

/*
 * After the virtio devices, Firecracker gives the next two legacy GSIs to VMGenID and VMClock,
 * so at most 17 virtio devices boot. This takes them the same way, into dm->vmgenid_gsi and
 * dm->vmclock_gsi: 0, or -ENOSPC with Firecracker's text for the one that finds none left.
 */
int device_mgr_reserve_acpi_gsis(struct device_mgr *dm, struct err *e);

/* Prepares an empty manager for vm. None of the pointers are owned. */
void device_mgr_init(struct device_mgr *dm, struct kvm_vm *vm, struct bus *mmio,
                     struct evloop *loop, const struct guest_mem *mem);

/*
 * Adds dev (any kind) to the table. The manager owns dev from here on, failure included
 * (it is destroyed through its ops now or with the manager). Returns 0 or -ENOSPC with one
 * line in e.
 */
int device_mgr_add(struct device_mgr *dm, struct device *dev, struct err *e);

/*
 * Adds a virtio device of any type to the table and attaches it on the next slot and GSI:
 * irqfd, the device's notify eventfds as ioeventfds on QueueNotify (4 bytes, datamatch =
 * queue index) watched by the VMM loop, the bus window, and
 * "virtio_mmio.device=4K@0x<base>:<gsi>" appended to the command-line additions; with a PCI
 * manager, on the PCI bus instead (pci_mgr_attach()). The
 * manager owns dev from here on, failure included. *slot (may be NULL) is where it went.
 * Returns 0 or -errno (-ENOSPC past 19 devices, 31 on PCI) with one line in e.
 */
int device_mgr_attach(struct device_mgr *dm, struct virtio_dev *dev, const struct mmio_slot **slot,
                      struct err *e);

/* The device of that kind and id, or NULL. */
struct device *device_mgr_find(const struct device_mgr *dm, enum device_kind kind, const char *id);

/* Calls fn on every device, in add order. */
void device_mgr_for_each(const struct device_mgr *dm, void (*fn)(struct device *, void *),
                         void *ctx);

/* Resets every device that has a reset hook, in add order. */
void device_mgr_reset(const struct device_mgr *dm);

/*
 * Writes the metrics of one line into root, kind by kind in the order of kinds: each
 * kind's sum over its devices (all zero without any) and the groups its devices write.
 */
void device_mgr_metrics(const struct device_mgr *dm, const struct device_metrics_kind *const *kinds,
                        size_t nr_kinds, json_t *root);

/*
 * Appends one space-separated word to the command-line additions (the builder's root=
 * words go before the root device's virtio_mmio entry). Returns 0 or -E2BIG.
 */
int device_mgr_cmdline_add(struct device_mgr *dm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The command-line words brasa adds, space-separated ("" when none). */
const char *device_mgr_cmdline(const struct device_mgr *dm);

/*
 * Tears everything down (vCPUs must be stopped): stops watching the ioeventfds, closes the
 * virtio irqfds, then destroys every device through its ops, in add order (block devices
 * finish in-flight I/O and flush Writeback drives).
 */
void device_mgr_destroy(struct device_mgr *dm);

#endif
