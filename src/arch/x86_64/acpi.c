/* The guest's ACPI tables, laid out as ACPI 6.5 section 5.2 and filled as Firecracker does. */
#include "arch/x86_64/acpi.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "arch/x86_64/aml.h"
#include "arch/x86_64/layout.h"

/* The identities Firecracker writes, so a guest sees the same manufacturer and hypervisor. */
#define OEM_ID           "FIRECK"
#define CREATOR_ID       "FCAT"
#define CREATOR_REVISION 0x20240119u
#define HYPERVISOR_ID    "FIRECKVM"

/* Header field offsets (section 5.2.6). */
enum { HDR_LENGTH = 4, HDR_REVISION = 8, HDR_CHECKSUM = 9, HDR_OEM_ID = 10, HDR_TABLE_ID = 16 };
enum { HDR_OEM_REV = 24, HDR_CREATOR = 28, HDR_CREATOR_REV = 32 };

/* FADT field offsets (section 5.2.9, table 5.9). */
enum {
        FADT_IAPC_BOOT_ARCH = 109,
        FADT_FLAGS = 112,
        FADT_MINOR_VERSION = 131,
        FADT_X_DSDT = 140,
        FADT_SLEEP_CONTROL = 244,
        FADT_SLEEP_STATUS = 256,
        FADT_HYPERVISOR_ID = 268,
};
#define FADT_F_PWR_BUTTON         (1u << 4) /* no fixed power button: a control-method one */
#define FADT_F_SLP_BUTTON         (1u << 5)
#define FADT_F_HW_REDUCED_ACPI    (1u << 20) /* no PM1/GPE blocks: sleep registers instead */
#define IAPC_BOOT_VGA_NOT_PRESENT (1u << 2)

/* Generic Address Structure (section 5.2.3.2): I/O space, byte access. */
#define GAS_SYSTEM_IO   1
#define GAS_ACCESS_BYTE 1

/* MADT (section 5.2.12). */
#define MADT_HEADER_SIZE   44
#define MADT_LAPIC         0
#define MADT_LAPIC_SIZE    8
#define MADT_IOAPIC        1
#define MADT_IOAPIC_SIZE   12
#define MADT_LAPIC_ENABLED 1u

static void put16(uint8_t *p, uint16_t v)
{
        memcpy(p, &v, sizeof(v)); /* x86: little-endian, as ACPI */
}

static void put32(uint8_t *p, uint32_t v)
{
        memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
        memcpy(p, &v, sizeof(v));
}

uint8_t acpi_checksum(const uint8_t *p, size_t n)
{
        uint8_t sum = 0;

        while (n--)
                sum = (uint8_t)(sum + *p++);
        return (uint8_t)(0x100 - sum);
}

/* The header of a table of len bytes; the checksum is finish()'s. */
static void header(uint8_t *t, const char *sig, size_t len, uint8_t rev, const char *table_id)
{
        memset(t, 0, ACPI_HEADER_SIZE);
        memcpy(t, sig, 4);
        put32(t + HDR_LENGTH, (uint32_t)len);
        t[HDR_REVISION] = rev;
        memcpy(t + HDR_OEM_ID, OEM_ID, 6);
        memcpy(t + HDR_TABLE_ID, table_id, 8);
        put32(t + HDR_OEM_REV, 0);
        memcpy(t + HDR_CREATOR, CREATOR_ID, 4);
        put32(t + HDR_CREATOR_REV, CREATOR_REVISION);
}

static size_t finish(uint8_t *t, size_t len)
{
        t[HDR_CHECKSUM] = 0;
        t[HDR_CHECKSUM] = acpi_checksum(t, len);
        return len;
}

size_t acpi_build_rsdp(uint8_t *out, uint64_t xsdt)
{
        memset(out, 0, ACPI_RSDP_SIZE);
        memcpy(out, "RSD PTR ", 8);
        memcpy(out + 9, OEM_ID, 6);
        out[15] = 2; /* ACPI 2.0+: the XSDT is used, the 32-bit RSDT address stays 0 */
        put32(out + 20, ACPI_RSDP_SIZE);
        put64(out + 24, xsdt);
        out[8] = acpi_checksum(out, 20);
        out[32] = acpi_checksum(out, ACPI_RSDP_SIZE);
        return ACPI_RSDP_SIZE;
}

size_t acpi_build_xsdt(uint8_t *out, const uint64_t *tables, unsigned int n)
{
        size_t len = ACPI_HEADER_SIZE + 8 * (size_t)n;
        unsigned int i;

        memset(out, 0, len);
        /* "FCMVXSDT" (sic) is the table id Firecracker writes. */
        header(out, "XSDT", len, 1, "FCMVXSDT");
        for (i = 0; i < n; i++)
                put64(out + ACPI_HEADER_SIZE + 8 * i, tables[i]);
        return finish(out, len);
}

/* An 8-bit I/O register at port. */
static void put_gas_port(uint8_t *p, uint16_t port)
{
        p[0] = GAS_SYSTEM_IO;
        p[1] = 8; /* register bit width */
        p[2] = 0; /* bit offset */
        p[3] = GAS_ACCESS_BYTE;
        put64(p + 4, port);
}

size_t acpi_build_fadt(uint8_t *out, uint64_t dsdt)
{
        memset(out, 0, ACPI_FADT_SIZE);
        header(out, "FACP", ACPI_FADT_SIZE, 6, "FCVMFADT");
        put16(out + FADT_IAPC_BOOT_ARCH, IAPC_BOOT_VGA_NOT_PRESENT);
        put32(out + FADT_FLAGS, FADT_F_HW_REDUCED_ACPI | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON);
        out[FADT_MINOR_VERSION] = 5;
        put64(out + FADT_X_DSDT, dsdt); /* the 32-bit DSDT field stays 0, as Firecracker's */
        /* brasa's addition: the registers a hardware-reduced guest powers off through. */
        put_gas_port(out + FADT_SLEEP_CONTROL, LAYOUT_PORT_ACPI_SLEEP_CTL);
        put_gas_port(out + FADT_SLEEP_STATUS, LAYOUT_PORT_ACPI_SLEEP_STS);
        memcpy(out + FADT_HYPERVISOR_ID, HYPERVISOR_ID, 8);
        return finish(out, ACPI_FADT_SIZE);
}

size_t acpi_build_madt(uint8_t *out, unsigned int nr_vcpus)
{
        size_t len = MADT_HEADER_SIZE + MADT_IOAPIC_SIZE + MADT_LAPIC_SIZE * (size_t)nr_vcpus;
        uint8_t *p = out + MADT_HEADER_SIZE;
        unsigned int i;

        memset(out, 0, len);
        header(out, "APIC", len, 6, "FCVMMADT");
        put32(out + 36, (uint32_t)LAYOUT_APIC_START);
        put32(out + 40, 0); /* PCAT_COMPAT clear, as Firecracker's: no 8259 pair declared */
        /* IOAPIC 0 takes GSIs from 0; no interrupt source overrides (ISA IRQ n is GSI n). */
        p[0] = MADT_IOAPIC;
        p[1] = MADT_IOAPIC_SIZE;
        put32(p + 4, (uint32_t)LAYOUT_IOAPIC_START);
        p += MADT_IOAPIC_SIZE;
        for (i = 0; i < nr_vcpus; i++, p += MADT_LAPIC_SIZE) {
                p[0] = MADT_LAPIC;
                p[1] = MADT_LAPIC_SIZE;
                p[2] = (uint8_t)i; /* ACPI processor UID */
                p[3] = (uint8_t)i; /* APIC ID: vCPU i's, as CPUID and the MP table say */
                put32(p + 4, MADT_LAPIC_ENABLED);
        }
        return finish(out, len);
}

size_t acpi_build_mcfg(uint8_t *out)
{
        /* Firecracker lists MMCONFIG for segment 0, bus 0 even without PCI. */
        memset(out, 0, ACPI_MCFG_SIZE);
        header(out, "MCFG", ACPI_MCFG_SIZE, 1, "FCMVMCFG");
        put64(out + 44, LAYOUT_PCI_MMCONFIG_START);
        return finish(out, ACPI_MCFG_SIZE);
}

/* Name(_CRS, ResourceTemplate) opened: the caller adds descriptors, then aml_close(). */
static void crs_open(struct aml *a)
{
        aml_name(a, "_CRS");
        aml_resources(a);
}

/* A virtio-mmio device, named after its GSI (V000 has GSI 5) as Firecracker names it. */
static void dsdt_virtio(struct aml *a, const struct acpi_mmio_dev *d)
{
        unsigned int id = d->gsi - LAYOUT_IRQ_VIRTIO_BASE;
        char name[5] = {'V', (char)('0' + id / 100), (char)('0' + id / 10 % 10),
                        (char)('0' + id % 10), 0};

        aml_device(a, name);
        aml_name(a, "_HID");
        aml_string(a, "LNRO0005");
        aml_name(a, "_UID");
        aml_dword(a, id);
        aml_name(a, "_CCA"); /* DMA is cache-coherent */
        aml_one(a);
        crs_open(a);
        aml_rd_memory32_fixed(a, true, (uint32_t)d->base, (uint32_t)d->size);
        aml_rd_irq(a, d->gsi);
        aml_close(a);
        aml_close(a);
}

/* VMGenID (Microsoft's "Virtual Machine Generation ID" device): ADDR = where the ID lives. */
static void dsdt_vmgenid(struct aml *a, uint64_t gpa)
{
        aml_device(a, "_SB_.VGEN");
        aml_name(a, "_HID");
        aml_string(a, "VMGENCTR");
        aml_name(a, "_CID");
        aml_string(a, "VM_Gen_Counter");
        aml_name(a, "_DDN");
        aml_string(a, "VM_Gen_Counter");
        aml_name(a, "ADDR");
        aml_package(a, 2);
        aml_dword(a, (uint32_t)gpa);
        aml_dword(a, (uint32_t)(gpa >> 32));
        aml_close(a);
        aml_close(a);
}

/* VMClock (Linux's ptp_vmclock): the page of clock data, as a read-only memory range. */
static void dsdt_vmclock(struct aml *a, uint64_t gpa)
{
        aml_device(a, "_SB_.VCLK");
        aml_name(a, "_HID");
        aml_string(a, "AMZNC10C");
        aml_name(a, "_CID");
        aml_string(a, "VMCLOCK");
        aml_name(a, "_DDN");
        aml_string(a, "VMCLOCK");
        aml_method(a, "_STA", 0, false);
        aml_return(a);
        aml_byte(a, 0x0f); /* present, enabled, shown, functioning */
        aml_close(a);
        crs_open(a);
        aml_rd_qword_memory(a, false, gpa, gpa + LAYOUT_VMCLOCK_SIZE - 1);
        aml_close(a);
        aml_close(a);
}

/* If (Arg0 == gsi) { Notify (path, 0x80) }: 0x80 is "the device's data changed". */
static void evt_case(struct aml *a, unsigned int gsi, const char *path)
{
        aml_if(a);
        aml_lequal(a);
        aml_arg(a, 0);
        aml_byte(a, (uint8_t)gsi);
        aml_notify(a);
        aml_name_string(a, path);
        aml_byte(a, 0x80);
        aml_close(a);
}

/* The Generic Event Device: an interrupt runs _EVT, which notifies VMGenID's or VMClock's driver.
 */
static void dsdt_ged(struct aml *a, const struct acpi_machine *m)
{
        aml_device(a, "_SB_.GED_");
        aml_name(a, "_HID");
        aml_string(a, "ACPI0013");
        crs_open(a);
        aml_rd_irq(a, m->vmgenid_gsi);
        if (m->vmclock_gpa)
                aml_rd_irq(a, m->vmclock_gsi);
        aml_close(a);
        aml_method(a, "_EVT", 1, true);
        evt_case(a, m->vmgenid_gsi, "\\_SB_.VGEN");
        if (m->vmclock_gpa)
                evt_case(a, m->vmclock_gsi, "\\_SB_.VCLK");
        aml_close(a);
        aml_close(a);
}

/*
 * _DSM of the PCI Firmware spec (§4.6): function 0 lists functions 0 and 5; function 5
 * ("preserve boot configuration") answers 0, so the guest keeps the BARs brasa placed.
 */
static void dsdt_pci_dsm(struct aml *a)
{
        static const uint8_t uuid[16] = {0xd0, 0x37, 0xc9, 0xe5, 0x53, 0x35, 0x7a, 0x4d,
                                         0x91, 0x17, 0xea, 0x4d, 0x19, 0xc3, 0x43, 0x4d};
        static const uint8_t funcs = 0x21, none = 0;

        aml_method(a, "_DSM", 4, false);
        aml_if(a);
        aml_lequal(a);
        aml_arg(a, 0);
        aml_buffer(a, uuid, sizeof(uuid));
        aml_if(a);
        aml_lequal(a);
        aml_arg(a, 2);
        aml_zero(a);
        aml_return(a);
        aml_buffer(a, &funcs, 1);
        aml_close(a);
        aml_if(a);
        aml_lequal(a);
        aml_arg(a, 2);
        aml_byte(a, 5);
        aml_return(a);
        aml_zero(a);
        aml_close(a);
        aml_close(a);
        aml_return(a);
        aml_buffer(a, &none, 1);
        aml_close(a);
}

/* The root bridge's windows, in Firecracker's order. */
static void dsdt_pci_crs(struct aml *a)
{
        crs_open(a);
        aml_rd_word_bus(a, 0, 0);
        aml_rd_io(a, 0xcf8, 0xcf8, 1, 8);
        aml_rd_memory32_fixed(a, true, (uint32_t)LAYOUT_PCI_MMCONFIG_START,
                              (uint32_t)LAYOUT_PCI_ECAM_SEGMENT_SIZE);
        aml_rd_qword_mmio(a, LAYOUT_PCI_MEM32_START, LAYOUT_PCI_MEM32_LAST);
        aml_rd_qword_mmio(a, LAYOUT_MMIO64_START, LAYOUT_MMIO64_START + LAYOUT_MMIO64_SIZE - 1);
        aml_rd_word_io(a, 0, 0x0cf7);
        aml_rd_word_io(a, 0x0d00, 0xffff);
        aml_close(a);
}

/* _PRT: every slot's INTA# on GSI 0 (no legacy interrupts: the functions use MSI-X). */
static void dsdt_pci_prt(struct aml *a)
{
        unsigned int dev;

        aml_name(a, "_PRT");
        aml_package(a, 32);
        for (dev = 0; dev < 32; dev++) {
                aml_package(a, 4);
                aml_dword(a, dev << 16 | 0xffff);
                aml_zero(a);
                aml_zero(a);
                aml_zero(a);
                aml_close(a);
        }
        aml_close(a);
}

/* --enable-pci: the PCIe root bridge of segment 0, as Firecracker's PC00. */
static void dsdt_pci(struct aml *a)
{
        aml_device(a, "_SB_.PC00");
        aml_name(a, "_HID");
        aml_eisa_id(a, "PNP0A08"); /* PCI Express root bridge */
        aml_name(a, "_CID");
        aml_eisa_id(a, "PNP0A03"); /* PCI root bridge */
        aml_name(a, "_ADR");
        aml_zero(a);
        aml_name(a, "_SEG");
        aml_zero(a);
        aml_name(a, "_UID");
        aml_zero(a);
        aml_name(a, "_CCA");
        aml_one(a);
        aml_name(a, "SUPP");
        aml_zero(a);
        aml_method(a, "_PXM", 0, false);
        aml_return(a);
        aml_zero(a);
        aml_close(a);
        dsdt_pci_dsm(a);
        dsdt_pci_crs(a);
        dsdt_pci_prt(a);
        aml_close(a);
}

static void dsdt_com1(struct aml *a)
{
        aml_device(a, "_SB_.COM1");
        aml_name(a, "_HID");
        aml_eisa_id(a, "PNP0501"); /* 16550A-compatible UART */
        aml_name(a, "_UID");
        aml_byte(a, 0);
        aml_name(a, "_DDN");
        aml_string(a, "COM1");
        crs_open(a);
        aml_rd_irq(a, LAYOUT_IRQ_COM1);
        aml_rd_io(a, LAYOUT_PORT_COM1, LAYOUT_PORT_COM1, 1, LAYOUT_PORT_COM1_LEN);
        aml_close(a);
        aml_close(a);
}

static void dsdt_i8042(struct aml *a)
{
        aml_device(a, "_SB_.PS2_");
        aml_name(a, "_HID");
        aml_eisa_id(a, "PNP0303"); /* PS/2 keyboard controller */
        aml_method(a, "_STA", 0, false);
        aml_return(a);
        aml_byte(a, 0x0f); /* present, enabled, shown, functioning */
        aml_close(a);
        crs_open(a);
        aml_rd_io(a, LAYOUT_PORT_I8042_DATA, LAYOUT_PORT_I8042_DATA, 1, 1);
        aml_rd_io(a, LAYOUT_PORT_I8042_CMD, LAYOUT_PORT_I8042_CMD, 1, 1);
        aml_rd_irq(a, LAYOUT_IRQ_I8042);
        aml_close(a);
        aml_close(a);
}

/* brasa's addition: \_S5 gives the SLP_TYP a guest writes to the sleep-control register. */
static void dsdt_s5(struct aml *a)
{
        aml_name(a, "_S5_");
        aml_package(a, 2);
        aml_byte(a, ACPI_SLP_TYP_S5);
        aml_zero(a);
        aml_close(a);
}

static bool gsi_ok(unsigned int gsi)
{
        return gsi >= LAYOUT_IRQ_VIRTIO_BASE && gsi <= LAYOUT_IRQ_VIRTIO_LAST;
}

static bool machine_ok(const struct acpi_machine *m)
{
        unsigned int i;

        if (m->nr_vcpus < 1 || m->nr_vcpus > LAYOUT_MAX_VCPUS)
                return false;
        for (i = 0; i < m->nr_virtio; i++) {
                const struct acpi_mmio_dev *d = &m->virtio[i];

                if (!gsi_ok(d->gsi) || d->base > UINT32_MAX || d->size > UINT32_MAX - d->base)
                        return false;
        }
        if (m->vmclock_gpa && !gsi_ok(m->vmclock_gsi))
                return false;
        return !m->vmgenid_gpa || gsi_ok(m->vmgenid_gsi);
}

/* Firecracker's order: virtio devices, VMGenID, VMClock, the GED, PCI, then COM1 and the i8042. */
int acpi_build_dsdt(uint8_t *out, const struct acpi_machine *m, size_t *len)
{
        struct aml a;
        size_t n;
        unsigned int i;
        int rc;

        if (!machine_ok(m))
                return -EINVAL;
        aml_init(&a, out + ACPI_HEADER_SIZE, ACPI_TABLE_MAX - ACPI_HEADER_SIZE);
        for (i = 0; i < m->nr_virtio; i++)
                dsdt_virtio(&a, &m->virtio[i]);
        if (m->vmgenid_gpa) {
                dsdt_vmgenid(&a, m->vmgenid_gpa);
                if (m->vmclock_gpa)
                        dsdt_vmclock(&a, m->vmclock_gpa);
                dsdt_ged(&a, m);
        }
        if (m->pci)
                dsdt_pci(&a);
        dsdt_com1(&a);
        dsdt_i8042(&a);
        dsdt_s5(&a);
        rc = aml_finish(&a, &n);
        if (rc)
                return rc;
        n += ACPI_HEADER_SIZE;
        header(out, "DSDT", n, 2, "FCVMDSDT");
        *len = finish(out, n);
        return 0;
}

/* Copies t[0..len) to *gpa if it fits below LAYOUT_ACPI_TABLES_END, then advances *gpa. */
static int place(const struct guest_mem *mem, uint64_t *gpa, const uint8_t *t, size_t len,
                 uint64_t *where)
{
        if (*gpa > LAYOUT_ACPI_TABLES_END || len > LAYOUT_ACPI_TABLES_END - *gpa)
                return -ENOSPC;
        if (guest_mem_write(mem, *gpa, t, len))
                return -ENOSPC;
        *where = *gpa;
        *gpa += len;
        return 0;
}

int acpi_write_tables(const struct guest_mem *mem, uint64_t start, const struct acpi_machine *m,
                      struct acpi_placement *where)
{
        uint8_t t[ACPI_TABLE_MAX];
        uint64_t gpa = start, tables[ACPI_XSDT_TABLES];
        size_t len;
        int rc;

        rc = acpi_build_dsdt(t, m, &len);
        if (!rc)
                rc = place(mem, &gpa, t, len, &where->dsdt);
        if (!rc)
                rc = place(mem, &gpa, t, acpi_build_fadt(t, where->dsdt), &where->fadt);
        if (!rc)
                rc = place(mem, &gpa, t, acpi_build_madt(t, m->nr_vcpus), &where->madt);
        if (!rc)
                rc = place(mem, &gpa, t, acpi_build_mcfg(t), &where->mcfg);
        if (rc)
                return rc;
        tables[0] = where->fadt;
        tables[1] = where->madt;
        tables[2] = where->mcfg;
        rc = place(mem, &gpa, t, acpi_build_xsdt(t, tables, ACPI_XSDT_TABLES), &where->xsdt);
        if (rc)
                return rc;
        where->end = gpa;
        where->rsdp = LAYOUT_RSDP_ADDR;
        acpi_build_rsdp(t, where->xsdt);
        return guest_mem_write(mem, LAYOUT_RSDP_ADDR, t, ACPI_RSDP_SIZE) ? -ENOSPC : 0;
}
