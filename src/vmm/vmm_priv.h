/* Functions shared by vmm.c and vmm_run.c only (not part of the VMM's public interface). */
#ifndef BRASA_VMM_VMM_PRIV_H
#define BRASA_VMM_VMM_PRIV_H

#include <stddef.h>

#include "core/err.h"
#include "vmm/vmm.h"

/* Creates the event loop, exit eventfd and signalfd. Returns 0 or -errno. */
int vmm_loop_init(struct vmm *vmm);

#define VMM_MEM_BOOT  (-1) /* vmm_build(): fresh memory, kernel and boot structures loaded */
#define VMM_MEM_READY (-2) /* vmm_build(): vmm->mem is mapped already, nothing is loaded */

/*
 * Maps guest memory into vmm->mem as cfg says (size, huge_pages), after the same checks as a
 * boot (memory limit, host memory): fresh anonymous memory when mem_fd < 0, else a private
 * mapping of the snapshot memory file mem_fd. Writes nothing into it. Returns 0 or -errno
 * with Firecracker's text in e.
 */
int vmm_map_memory(struct vmm *vmm, const struct vm_config *cfg, int mem_fd, struct err *e);

/*
 * Builds the microVM cfg describes (KVM VM, memory, devices, legacy devices, CPUID-configured
 * vCPUs) without starting it. mem_fd VMM_MEM_BOOT: fresh memory with the kernel and boot
 * structures loaded; VMM_MEM_READY: the memory vmm_map_memory() mapped (a Uffd load, whose
 * handler fills it) and nothing loaded; else guest memory is a private mapping of the
 * snapshot memory file mem_fd and nothing is loaded. Device set-up writes some guest pages
 * (VMGenID, VMClock). Returns 0 or -errno with one line in e.
 */
int vmm_build(struct vmm *vmm, const struct vm_config *cfg, int mem_fd, struct err *e);

/* Hooks console input to the UART and starts every vCPU. Returns 0 or -errno. */
int vmm_start(struct vmm *vmm, struct err *e);

/* Stops vCPUs and releases devices, memory and the KVM VM; the loop stays. */
void vmm_release_vm(struct vmm *vmm);

#endif
