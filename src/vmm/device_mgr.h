/* Attaches virtio-mmio devices: 4 KiB slots from 0xC0001000, GSIs from 5, ioeventfds, irqfds. */
#ifndef BRASA_VMM_DEVICE_MGR_H
#define BRASA_VMM_DEVICE_MGR_H

#include <stddef.h>

#include "arch/x86_64/layout.h"
#include "core/err.h"
#include "core/evloop.h"
#include "core/guest_mem.h"
#include "devices/bus.h"
#include "devices/virtio/block/virtio_blk.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net/virtio_net.h"
#include "vmm/config.h"
#include "vmm/kvm_vm.h"

/* One legacy GSI per device: 5..23 (Firecracker's MMIO-mode limit). */
#define DEVICE_MGR_MAX_VIRTIO (LAYOUT_IRQ_VIRTIO_LAST - LAYOUT_IRQ_VIRTIO_BASE + 1)

/* A queue's ioeventfd as a VMM-loop source. */
struct mmio_notify {
        struct ev_source src;
        struct virtio_dev *dev;
        unsigned int queue;
};

struct mmio_slot {
        struct virtio_dev *dev;
        struct virtio_mmio transport;
        uint64_t base;
        unsigned int gsi;
        int irq_fd;
        struct mmio_notify notify[VIRTIO_MAX_QUEUES];
};

struct device_mgr {
        struct kvm_vm *vm;
        struct bus *mmio;
        struct evloop *loop;
        const struct guest_mem *mem;
        struct mmio_slot slots[DEVICE_MGR_MAX_VIRTIO];
        unsigned int nr_slots;
        struct virtio_blk *blocks[CONFIG_MAX_DRIVES];
        unsigned int nr_blocks;
        struct virtio_net *nets[CONFIG_MAX_NETS];
        unsigned int nr_nets;
        char cmdline[LAYOUT_CMDLINE_MAX_SIZE]; /* words brasa adds to the kernel command line */
};

/* Prepares an empty manager for vm. None of the pointers are owned. */
void device_mgr_init(struct device_mgr *dm, struct kvm_vm *vm, struct bus *mmio,
                     struct evloop *loop, const struct guest_mem *mem);

/*
 * Attaches a virtio device on the next slot and GSI: irqfd, one ioeventfd per queue
 * (QueueNotify, 4 bytes, datamatch = queue index) watched by the VMM loop, the bus
 * window, and "virtio_mmio.device=4K@0x<base>:<gsi>" appended to the command-line
 * additions. dev stays owned by the caller and must outlive the manager.
 * Returns 0 or -errno (-ENOSPC past 19 devices) with one line in e.
 */
int device_mgr_attach_virtio(struct device_mgr *dm, struct virtio_dev *dev, struct err *e);

/*
 * Creates and attaches every drive of cfg in its order (the root device is first), adding
 * "root=/dev/vda" or "root=PARTUUID=<uuid>" and "rw"/"ro" for the root device before its
 * virtio_mmio entry, as Firecracker does. Returns 0 or -errno with one line in e.
 */
int device_mgr_attach_drives(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

/*
 * Creates and attaches every network interface of cfg in its order, after the drives
 * (Firecracker's order). Returns 0 or -errno with one line in e.
 */
int device_mgr_attach_nets(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

/* The network device of interface id, or NULL. */
struct virtio_net *device_mgr_find_net(const struct device_mgr *dm, const char *id);

/* The command-line words brasa adds, space-separated ("" when none). */
const char *device_mgr_cmdline(const struct device_mgr *dm);

/*
 * Adds the block metrics of one metrics line to root: "block" (all drives together) and
 * "block_<drive_id>" per drive, each counting what happened since the previous call.
 * "block" is there (all zero) even without drives, as in Firecracker. Likewise "net" and
 * "net_<iface_id>" for the network interfaces.
 */
void device_mgr_add_metrics(struct device_mgr *dm, json_t *root);

/* The block device of drive id, or NULL. */
struct virtio_blk *device_mgr_find_drive(const struct device_mgr *dm, const char *id);

/*
 * Tears everything down (vCPUs must be stopped): stops watching the ioeventfds, destroys
 * the block devices (in-flight I/O finishes, Writeback drives are flushed) and the network
 * devices, closes fds.
 */
void device_mgr_destroy(struct device_mgr *dm);

#endif
