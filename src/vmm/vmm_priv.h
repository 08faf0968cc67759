/* Functions shared by vmm.c and vmm_run.c only (not part of the VMM's public interface). */
#ifndef BRASA_VMM_VMM_PRIV_H
#define BRASA_VMM_VMM_PRIV_H

#include <stddef.h>

#include "core/err.h"
#include "vmm/vmm.h"

/* Creates the event loop, exit eventfd and signalfd. Returns 0 or -errno. */
int vmm_loop_init(struct vmm *vmm);

/* Hooks console input to the UART and starts every vCPU. Returns 0 or -errno. */
int vmm_start(struct vmm *vmm, struct err *e);

/* Stops vCPUs and releases devices, memory and the KVM VM; the loop stays. */
void vmm_release_vm(struct vmm *vmm);

#endif
