/* Builds the virtio devices of a configuration and attaches them, in Firecracker's order. */
#ifndef BRASA_VMM_VMM_DEVICES_H
#define BRASA_VMM_VMM_DEVICES_H

#include "core/err.h"
#include "devices/virtio/balloon/virtio_balloon.h"
#include "devices/virtio/block/virtio_blk.h"
#include "devices/virtio/mem/virtio_mem.h"
#include "devices/virtio/net/virtio_net.h"
#include "devices/virtio/pmem/virtio_pmem.h"
#include "devices/virtio/rng/virtio_rng.h"
#include "devices/virtio/vsock/virtio_vsock.h"
#include "model/config.h"
#include "vmm/device_mgr.h"

/*
 * Creates and attaches the balloon when cfg has one, before every other virtio device
 * (Firecracker's builder attaches it first). Returns 0 or -errno with one line in e.
 */
int vmm_attach_balloon(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

/*
 * Creates and attaches every drive of cfg in its order (the root device is first), adding
 * "root=/dev/vda" or "root=PARTUUID=<uuid>" and "rw"/"ro" for the root device before its
 * virtio_mmio entry, as Firecracker does. Returns 0 or -errno with one line in e.
 */
int vmm_attach_drives(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

struct mmds_service;

/*
 * Creates and attaches every network interface of cfg in its order, after the drives
 * (Firecracker's order); each one mmds-config lists gets its own metadata network stack
 * answering through svc. Returns 0 or -errno with one line in e.
 */
int vmm_attach_nets(struct device_mgr *dm, const struct vm_config *cfg, struct mmds_service *svc,
                    struct err *e);

/*
 * Creates and attaches every pmem device of cfg in its order, after the network interfaces
 * (Firecracker's order): each file is mapped at the next 2 MiB-aligned address past the
 * 64-bit MMIO window (and past virtio-mem's region), as its own KVM slot (read-only ones
 * read-only), and a root device adds "root=/dev/pmem<i>" and "ro"/"rw". Returns 0 or -errno with
 * Firecracker's text in e.
 */
int vmm_attach_pmems(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

/* The pmem device of id, or NULL. */
struct virtio_pmem *vmm_find_pmem(const struct device_mgr *dm, const char *id);

/*
 * Creates and attaches the vsock device when cfg has one, over the socket its PUT bound,
 * after the network interfaces and before the entropy device (Firecracker's order).
 * Returns 0 or -errno with one line in e.
 */
int vmm_attach_vsock(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

/*
 * Creates and attaches the entropy device when cfg has one, after the network interfaces
 * (Firecracker's order: block, net, pmem, vsock, entropy). Returns 0 or -errno with one
 * line in e.
 */
int vmm_attach_entropy(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

/*
 * Creates and attaches the virtio-mem device when cfg has "memory-hotplug", last
 * (Firecracker's order), its region at LAYOUT_VIRTIO_MEM_START with one KVM slot per
 * slot_size_mib, each registered only while a block in it is plugged. Returns 0 or -errno
 * with one line in e.
 */
int vmm_attach_vmem(struct device_mgr *dm, const struct vm_config *cfg, struct err *e);

/* The virtio-mem device, or NULL. */
struct virtio_mem *vmm_find_vmem(const struct device_mgr *dm);

/* The balloon device, or NULL. */
struct virtio_balloon *vmm_find_balloon(const struct device_mgr *dm);

/* The block device of drive id, or NULL. */
struct virtio_blk *vmm_find_drive(const struct device_mgr *dm, const char *id);

/* The network device of interface id, or NULL. */
struct virtio_net *vmm_find_net(const struct device_mgr *dm, const char *id);

#endif
