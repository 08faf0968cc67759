/* Functions shared by vmm.c and vmm_run.c only (not part of the VMM's public interface). */
#ifndef BRASA_VMM_VMM_PRIV_H
#define BRASA_VMM_VMM_PRIV_H

#include <stddef.h>

#include "core/err.h"
#include "vmm/vmm.h"

/* Creates the event loop, exit eventfd and signalfd. Returns 0 or -errno. */
int vmm_loop_init(struct vmm *vmm);

#define VMM_MEM_BOOT (-1) /* vmm_build(): fresh memory, kernel and boot structures loaded */
#define VMM_MEM_ANON (-2) /* vmm_build(): fresh memory left empty (a Uffd handler fills it) */

/*
 * Builds the microVM cfg describes (KVM VM, memory, devices, legacy devices, CPUID-configured
 * vCPUs) without starting it. mem_fd VMM_MEM_BOOT: fresh memory with the kernel and boot
 * structures loaded; VMM_MEM_ANON: fresh memory (as cfg's huge_pages says) and nothing
 * loaded; else guest memory is a private mapping of the snapshot memory file mem_fd and
 * nothing is loaded. Returns 0 or -errno with one line in e.
 */
int vmm_build(struct vmm *vmm, const struct vm_config *cfg, int mem_fd, struct err *e);

/* Hooks console input to the UART and starts every vCPU. Returns 0 or -errno. */
int vmm_start(struct vmm *vmm, struct err *e);

/* Stops vCPUs and releases devices, memory and the KVM VM; the loop stays. */
void vmm_release_vm(struct vmm *vmm);

#endif
