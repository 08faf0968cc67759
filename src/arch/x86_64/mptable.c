/* Intel MultiProcessor Specification 1.4 table for the guest (CPUs, ISA bus, IOAPIC, IRQ routing).
 */
#include "arch/x86_64/mptable.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <linux/kvm.h>

#include "arch/x86_64/layout.h"

/* Entry types and flags (MP spec 1.4, chapter 4). */
#define MP_ENTRY_PROCESSOR 0
#define MP_ENTRY_BUS       1
#define MP_ENTRY_IOAPIC    2
#define MP_ENTRY_IOINT     3
#define MP_ENTRY_LINT      4
#define MP_CPU_ENABLED     0x01
#define MP_CPU_BSP         0x02
#define MP_IOAPIC_ENABLED  0x01
#define MP_INT_INT         0 /* vectored, from the IOAPIC redirection entry */
#define MP_INT_NMI         1
#define MP_INT_EXTINT      3 /* 8259-style, vector from the PIC */
#define MP_IRQFLAG_DEFAULT 0 /* polarity/trigger conform to the bus (ISA: high, edge) */
#define MP_ALL_LAPICS      0xff

#define MP_SPEC_REV       4    /* 1.4 */
#define MP_LAPIC_VERSION  0x14 /* integrated xAPIC, as Firecracker */
#define MP_IOAPIC_VERSION 0x11 /* what KVM's in-kernel IOAPIC reports */
/* Processor signature (family 6) and CPUID features (FPU, APIC), as Firecracker. */
#define MP_CPU_SIGNATURE 0x600
#define MP_CPU_FEATURES  0x201

struct mp_floating {
        char signature[4]; /* "_MP_" */
        uint32_t config_addr;
        uint8_t length; /* in 16-byte units */
        uint8_t spec_rev;
        uint8_t checksum;
        uint8_t features[5]; /* 0: a configuration table is present */
} __attribute__((packed));

struct mp_config {
        char signature[4]; /* "PCMP" */
        uint16_t length;   /* header plus base entries */
        uint8_t spec_rev;
        uint8_t checksum;
        char oem_id[8];
        char product_id[12];
        uint32_t oem_table_addr;
        uint16_t oem_table_size;
        uint16_t entry_count;
        uint32_t lapic_addr;
        uint16_t ext_length;
        uint8_t ext_checksum;
        uint8_t reserved;
} __attribute__((packed));

struct mp_processor {
        uint8_t type;
        uint8_t apic_id;
        uint8_t apic_version;
        uint8_t flags;
        uint32_t signature;
        uint32_t features;
        uint32_t reserved[2];
} __attribute__((packed));

struct mp_bus {
        uint8_t type;
        uint8_t bus_id;
        char bus_type[6];
} __attribute__((packed));

struct mp_ioapic {
        uint8_t type;
        uint8_t apic_id;
        uint8_t apic_version;
        uint8_t flags;
        uint32_t addr;
} __attribute__((packed));

/* I/O interrupt assignment and local interrupt assignment share this layout. */
struct mp_intsrc {
        uint8_t type;
        uint8_t int_type;
        uint16_t flags;
        uint8_t src_bus;
        uint8_t src_irq;
        uint8_t dst_apic;
        uint8_t dst_pin;
} __attribute__((packed));

_Static_assert(sizeof(struct mp_floating) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mp_config) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mp_processor) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mp_bus) == 8 && sizeof(struct mp_ioapic) == 8 &&
                   sizeof(struct mp_intsrc) == 8,
               "MP 8-byte entries");

/* Base-table entries other than processors: bus, IOAPIC, IRQ lines, LINT0, LINT1. */
#define MP_FIXED_ENTRIES (1 + 1 + KVM_IOAPIC_NUM_PINS + 2)

size_t mptable_size(unsigned int nr_vcpus)
{
        if (nr_vcpus == 0 || nr_vcpus > MPTABLE_MAX_CPUS)
                return 0;
        return sizeof(struct mp_floating) + sizeof(struct mp_config) +
               nr_vcpus * sizeof(struct mp_processor) + sizeof(struct mp_bus) +
               sizeof(struct mp_ioapic) + (KVM_IOAPIC_NUM_PINS + 2) * sizeof(struct mp_intsrc);
}

/* The byte that makes the len bytes at p sum to zero (p's checksum byte must be 0). */
static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
        uint8_t sum = 0;
        size_t i;

        for (i = 0; i < len; i++)
                sum = (uint8_t)(sum + p[i]);
        return (uint8_t)-sum;
}

static uint8_t *put_processors(uint8_t *p, unsigned int nr_vcpus)
{
        struct mp_processor cpu;
        unsigned int i;

        for (i = 0; i < nr_vcpus; i++) {
                memset(&cpu, 0, sizeof(cpu));
                cpu.type = MP_ENTRY_PROCESSOR;
                cpu.apic_id = (uint8_t)i; /* matches CPUID's initial APIC ID */
                cpu.apic_version = MP_LAPIC_VERSION;
                cpu.flags = MP_CPU_ENABLED | (i == 0 ? MP_CPU_BSP : 0);
                cpu.signature = MP_CPU_SIGNATURE;
                cpu.features = MP_CPU_FEATURES;
                memcpy(p, &cpu, sizeof(cpu));
                p += sizeof(cpu);
        }
        return p;
}

static uint8_t *put_intsrc(uint8_t *p, uint8_t type, uint8_t int_type, uint8_t src_irq,
                           uint8_t dst_apic, uint8_t dst_pin)
{
        struct mp_intsrc e = {
            .type = type,
            .int_type = int_type,
            .flags = MP_IRQFLAG_DEFAULT,
            .src_bus = 0,
            .src_irq = src_irq,
            .dst_apic = dst_apic,
            .dst_pin = dst_pin,
        };

        memcpy(p, &e, sizeof(e));
        return p + sizeof(e);
}

/* Bus, IOAPIC, IRQ i -> IOAPIC pin i (KVM's default GSI routing), LINT0/LINT1. */
static uint8_t *put_devices(uint8_t *p, uint8_t ioapic_id)
{
        struct mp_bus bus = {
            .type = MP_ENTRY_BUS, .bus_id = 0, .bus_type = {'I', 'S', 'A', ' ', ' ', ' '}};
        struct mp_ioapic io = {
            .type = MP_ENTRY_IOAPIC,
            .apic_id = ioapic_id,
            .apic_version = MP_IOAPIC_VERSION,
            .flags = MP_IOAPIC_ENABLED,
            .addr = (uint32_t)LAYOUT_IOAPIC_START,
        };
        uint8_t irq;

        memcpy(p, &bus, sizeof(bus));
        p += sizeof(bus);
        memcpy(p, &io, sizeof(io));
        p += sizeof(io);
        for (irq = 0; irq < KVM_IOAPIC_NUM_PINS; irq++)
                p = put_intsrc(p, MP_ENTRY_IOINT, MP_INT_INT, irq, ioapic_id, irq);
        /* The PIC reaches the BSP through LINT0; NMIs go to LINT1 of every CPU. */
        p = put_intsrc(p, MP_ENTRY_LINT, MP_INT_EXTINT, 0, 0, 0);
        return put_intsrc(p, MP_ENTRY_LINT, MP_INT_NMI, 0, MP_ALL_LAPICS, 1);
}

static void put_headers(uint8_t *base, uint64_t gpa, size_t size, unsigned int nr_vcpus)
{
        struct mp_floating fp = {
            .signature = {'_', 'M', 'P', '_'}, .length = 1, .spec_rev = MP_SPEC_REV};
        struct mp_config hdr = {
            .signature = {'P', 'C', 'M', 'P'},
            .spec_rev = MP_SPEC_REV,
            .oem_id = {'F', 'C', ' ', ' ', ' ', ' ', ' ', ' '},
            .product_id = {'B', 'R', 'A', 'S', 'A', ' ', ' ', ' ', ' ', ' ', ' ', ' '},
            .lapic_addr = (uint32_t)LAYOUT_APIC_START};
        uint8_t *table = base + sizeof(fp);

        fp.config_addr = (uint32_t)(gpa + sizeof(fp));
        fp.checksum = mp_checksum((const uint8_t *)&fp, sizeof(fp));
        memcpy(base, &fp, sizeof(fp));

        hdr.length = (uint16_t)(size - sizeof(fp));
        hdr.entry_count = (uint16_t)(nr_vcpus + MP_FIXED_ENTRIES);
        memcpy(table, &hdr, sizeof(hdr));
        /* Entries are already in place: the checksum covers header and entries. */
        table[offsetof(struct mp_config, checksum)] = mp_checksum(table, hdr.length);
}

int mptable_write(const struct guest_mem *m, unsigned int nr_vcpus)
{
        const uint64_t gpa = LAYOUT_SYSTEM_MEM_START;
        size_t size = mptable_size(nr_vcpus);
        uint8_t *base, *p;

        if (size == 0)
                return -EINVAL;
        if (size > LAYOUT_SYSTEM_MEM_SIZE)
                return -ENOSPC;
        base = guest_mem_ptr(m, gpa, size);
        if (!base)
                return -ENOSPC;
        memset(base, 0, size);
        p = base + sizeof(struct mp_floating) + sizeof(struct mp_config);
        p = put_processors(p, nr_vcpus);
        put_devices(p, (uint8_t)nr_vcpus);
        put_headers(base, gpa, size, nr_vcpus);
        return 0;
}
