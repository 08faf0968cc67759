/* Loading the guest's boot payload: kernel, initrd, command line and boot structures. */
#ifndef BRASA_VMM_VMM_BOOT_H
#define BRASA_VMM_VMM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/loader.h"
#include "core/err.h"
#include "core/guest_mem.h"
#include "model/config.h"

struct vmm_boot_result {
        bool pvh;
        uint64_t entry;
};

/*
 * Reads the kernel and initrd named by cfg into mem, writes the command line (the
 * user's boot_args, then brasa's own words cmdline_extra, which may be NULL or ""),
 * the zero page (or PVH start info), the MP table, the ACPI tables describing acpi
 * (cfg's vCPU count is used) and the boot page tables.
 * e gets one line naming the file and the problem. Returns 0 or -errno.
 */
int vmm_boot_load(const struct guest_mem *mem, const struct vm_config *cfg,
                  const struct acpi_machine *acpi, const char *cmdline_extra,
                  struct vmm_boot_result *res, struct err *e);

/* The kernel and initrd in guest memory, between the two halves of vmm_boot_load(). */
struct vmm_boot_images {
        struct kernel_info ki;
        uint64_t initrd_gpa, initrd_size;
};

/*
 * vmm_boot_load()'s first half: the kernel and initrd into mem (which needs no VM yet, so
 * this can run while the KVM set-up thread works). Returns 0 or -errno with e set.
 */
int vmm_boot_load_images(const struct guest_mem *mem, const struct vm_config *cfg,
                         struct vmm_boot_images *img, struct err *e);

/* vmm_boot_load()'s second half: the command line and boot structures. Returns 0 or -errno. */
int vmm_boot_write(const struct guest_mem *mem, const struct vm_config *cfg,
                   const struct acpi_machine *acpi, const char *cmdline_extra,
                   const struct vmm_boot_images *img, struct vmm_boot_result *res, struct err *e);

/* Reads a whole regular file of at most max bytes (a snapshot's state file) into a malloc'd
 * *buf. Returns 0 or -errno (e set). */
int vmm_read_file(const char *what, const char *path, uint64_t max, uint8_t **buf, size_t *len,
                  struct err *e);

#endif
