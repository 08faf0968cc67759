/* The guest's ACPI tables (RSDP, XSDT, FADT, MADT, MCFG, DSDT), built at boot without iasl. */
#ifndef BRASA_ARCH_X86_64_ACPI_H
#define BRASA_ARCH_X86_64_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/guest_mem.h"

/* Sizes fixed by the specification (ACPI 6.5, section 5.2). */
#define ACPI_RSDP_SIZE   36
#define ACPI_HEADER_SIZE 36
#define ACPI_FADT_SIZE   276 /* revision 6.5 */
#define ACPI_MCFG_SIZE   60
#define ACPI_XSDT_TABLES 3 /* FADT, MADT, MCFG */

/* Largest table brasa builds (the DSDT with every device); tables are built in this much. */
#define ACPI_TABLE_MAX 8192

/*
 * The S5 sleep type brasa's \_S5 names: a hardware-reduced guest writes
 * (SLP_TYP << 2) | SLP_EN to the FADT's sleep-control register to power off.
 */
#define ACPI_SLP_TYP_S5 5

/* A virtio-mmio device as the DSDT describes it. */
struct acpi_mmio_dev {
        uint64_t base, size;
        unsigned int gsi;
};

/* The machine the tables describe. */
struct acpi_machine {
        unsigned int nr_vcpus;              /* 1..LAYOUT_MAX_VCPUS: one local APIC each */
        const struct acpi_mmio_dev *virtio; /* in attach order (the root drive first) */
        unsigned int nr_virtio;
        uint64_t vmgenid_gpa; /* VMGenID's 16 bytes; 0: no VMGenID device */
        unsigned int vmgenid_gsi;
        uint64_t vmclock_gpa; /* VMClock's page (with VMGenID only); 0: none */
        unsigned int vmclock_gsi;
        bool pci; /* --enable-pci: the PCIe root bridge PC00 */
};

/* Where acpi_write_tables() put each table (guest-physical). */
struct acpi_placement {
        uint64_t dsdt, fadt, madt, mcfg, xsdt, rsdp;
        uint64_t end; /* first byte after the last table of the window */
};

/* The 8-bit sum that makes bytes p[0..n) add up to zero with it. */
uint8_t acpi_checksum(const uint8_t *p, size_t n);

/*
 * Each builder writes one complete table (header and checksum included) into out and
 * returns its length; out holds at least ACPI_TABLE_MAX bytes.
 */
size_t acpi_build_rsdp(uint8_t *out, uint64_t xsdt);
size_t acpi_build_xsdt(uint8_t *out, const uint64_t *tables, unsigned int n);
size_t acpi_build_fadt(uint8_t *out, uint64_t dsdt);
size_t acpi_build_madt(uint8_t *out, unsigned int nr_vcpus);
size_t acpi_build_mcfg(uint8_t *out);

/*
 * The DSDT: one LNRO0005 device per virtio-mmio device (memory window and GSI), VMGenID,
 * VMClock and the Generic Event Device that notifies them, the PCIe root bridge, COM1, the i8042
 * and \_S5. Returns 0 with its length in *len, or -EINVAL (nr_vcpus or a device out of range) /
 * -ENOSPC.
 */
int acpi_build_dsdt(uint8_t *out, const struct acpi_machine *m, size_t *len);

/*
 * Writes every table into guest memory: DSDT, FADT, MADT, MCFG and XSDT packed from start
 * up to LAYOUT_ACPI_TABLES_END, the RSDP at LAYOUT_RSDP_ADDR, and reports where in *where.
 * Returns 0, -EINVAL (a bad machine), or -ENOSPC (the window or guest RAM is too small).
 */
int acpi_write_tables(const struct guest_mem *mem, uint64_t start, const struct acpi_machine *m,
                      struct acpi_placement *where);

#endif
