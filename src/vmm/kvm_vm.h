/* The KVM VM: /dev/kvm, the VM fd, memory slots, in-kernel irqchip and irqfds. */
#ifndef BRASA_VMM_KVM_VM_H
#define BRASA_VMM_KVM_VM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/guest_mem.h"

struct kvm_vm {
        int kvm_fd;
        int vm_fd;
        size_t run_size; /* bytes of each vCPU's kvm_run mapping */
};

/*
 * Opens /dev/kvm, checks the API version and the capabilities brasa needs, and
 * creates the VM with its TSS and in-kernel irqchip (PIC + IOAPIC). The PIT is brasa's own
 * (devices/legacy/pit.c): KVM's in-kernel PIT makes the VM's close() wait out two SRCU grace
 * periods.
 * On failure fills err with one line naming the cause. Returns 0 or -errno.
 */
int kvm_vm_create(struct kvm_vm *vm, struct err *e);

/*
 * kvm_vm_create() in two steps: the VM with nothing in it, then its TSS and irqchip.
 * Memory slots registered between the two cost far less on some hosts (kvm_pvm: about
 * 0.3 ms against 5-10 ms once the irqchip exists); vCPUs only after the second step.
 * Same errors as kvm_vm_create(); the first step leaves nothing open on failure.
 */
int kvm_vm_create_empty(struct kvm_vm *vm, struct err *e);
int kvm_vm_add_irqchip(struct kvm_vm *vm, struct err *e);

/*
 * One expedited SRCU grace period of the VM: an ioeventfd on LAYOUT_PORT_SETTLE registered
 * and removed (the removal waits for it). KVM frees the I/O-bus copies that device
 * registration replaces (the in-kernel PIC and IOAPIC, each ioeventfd) only after a normal
 * grace period, and destroying the VM waits for those frees; a grace period asked for here
 * retires them early. Blocks for the grace period (about 6 ms on this project's host); the
 * guest may run meanwhile. Returns 0 or -errno.
 */
int kvm_vm_settle(int vm_fd);

/*
 * Registers every region of mem as a memory slot (slot i = region i), with KVM's dirty-page
 * logging when dirty_log. Returns 0 or -errno.
 */
int kvm_vm_set_memory(struct kvm_vm *vm, const struct guest_mem *mem, bool dirty_log);

/*
 * Registers one more memory slot: [gpa, gpa + size) backed by hva, read-only for the guest
 * when read_only (its writes then exit as MMIO). Device memory (pmem) uses it; RAM goes
 * through kvm_vm_set_memory(). Returns 0 or -errno.
 */
int kvm_vm_map_region(struct kvm_vm *vm, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
                      bool read_only);

/*
 * The pages of slot the guest wrote since the previous call (or since the slot was made), one
 * bit per 4 KiB page into bitmap (room for the slot's pages, rounded up to 64), and clears
 * KVM's log. Returns 0 or -errno.
 */
int kvm_vm_dirty_log(const struct kvm_vm *vm, unsigned int slot, uint64_t *bitmap);

/*
 * Creates an eventfd that raises GSI gsi when written (KVM irqfd).
 * Returns the fd, or -errno.
 */
int kvm_vm_irqfd(struct kvm_vm *vm, unsigned int gsi);

/* The VM-wide KVM state a snapshot keeps: the irqchip (both PICs, IOAPIC) and kvmclock. */
struct kvm_vm_state {
        struct kvm_irqchip pic_master, pic_slave, ioapic;
        struct kvm_clock_data clock;
};

/*
 * Reads the VM-wide state (vCPUs paused). Returns 0 or -errno with the ioctl named in e.
 */
int kvm_vm_save(const struct kvm_vm *vm, struct kvm_vm_state *s, struct err *e);

/*
 * Writes a saved VM-wide state back into a fresh VM, before its vCPUs run. kvmclock goes on
 * from the saved value (the guest sees no jump). Returns 0 or -errno with the ioctl named in e.
 */
int kvm_vm_restore(const struct kvm_vm *vm, const struct kvm_vm_state *s, struct err *e);

/* Closes the VM and /dev/kvm fds. */
void kvm_vm_destroy(struct kvm_vm *vm);

#endif
