/* Intel MultiProcessor Specification 1.4 table for the guest (CPUs, ISA bus, IOAPIC, IRQ routing).
 */
#ifndef BRASA_ARCH_X86_64_MPTABLE_H
#define BRASA_ARCH_X86_64_MPTABLE_H

#include <stddef.h>

#include "core/guest_mem.h"

/* APIC IDs are 8 bits, 0xff is broadcast and the IOAPIC takes one: as Firecracker. */
#define MPTABLE_MAX_CPUS 254

/*
 * Bytes mptable_write() uses from LAYOUT_SYSTEM_MEM_START for nr_vcpus
 * (floating pointer + configuration table), so later tables (ACPI) can be
 * placed after it. Returns 0 when nr_vcpus is out of [1, MPTABLE_MAX_CPUS].
 */
size_t mptable_size(unsigned int nr_vcpus);

/*
 * Writes the MP floating pointer and, right after it, the configuration table
 * at LAYOUT_SYSTEM_MEM_START: one processor entry per vCPU (APIC ID i, vCPU 0
 * the BSP), bus 0 "ISA", the IOAPIC (ID nr_vcpus, at LAYOUT_IOAPIC_START),
 * IRQ 0..23 routed 1:1 to IOAPIC pins, ExtINT on LINT0 and NMI on LINT1.
 * Returns 0, -EINVAL (nr_vcpus 0 or > MPTABLE_MAX_CPUS) or -ENOSPC (the table
 * does not fit in the system-memory window or in guest RAM).
 */
int mptable_write(const struct guest_mem *m, unsigned int nr_vcpus);

#endif
