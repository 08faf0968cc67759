/* VMGenID: a 128-bit random generation ID in guest memory, changed (and signalled) on restore. */
#ifndef BRASA_DEVICES_ACPI_VMGENID_H
#define BRASA_DEVICES_ACPI_VMGENID_H

#include <stdint.h>

#include "core/guest_mem.h"

#define VMGENID_ID_SIZE 16

/*
 * The device of Microsoft's "Virtual Machine Generation ID" specification, as Firecracker
 * has it: the DSDT's VGEN device names the ID's address (ADDR), and the GED's interrupt on
 * gsi tells the guest it changed. Not thread-safe: VMM thread only.
 */
struct vmgenid {
        uint64_t gpa;     /* LAYOUT_VMGENID_START: 16 bytes, 8-byte aligned */
        unsigned int gsi; /* raised through irq_fd */
        int irq_fd;       /* not owned: the KVM irqfd of gsi */
        uint8_t id[VMGENID_ID_SIZE];
};

/*
 * Sets up g with a fresh random ID (getrandom) and writes it to guest memory at gpa. Returns
 * 0, -EFAULT when [gpa, gpa + 16) is not guest RAM, or -errno from getrandom.
 */
int vmgenid_init(struct vmgenid *g, const struct guest_mem *mem, uint64_t gpa, unsigned int gsi,
                 int irq_fd);

/*
 * For a restored snapshot: draws a new ID, writes it to guest memory and raises the
 * interrupt, so the guest's driver re-reads it (and reseeds its RNG). Returns 0 or -errno.
 */
int vmgenid_regenerate(struct vmgenid *g, const struct guest_mem *mem);

#endif
