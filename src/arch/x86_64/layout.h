/* Every guest-physical address and size of the x86_64 microVM (Firecracker's map). */
#ifndef BRASA_ARCH_X86_64_LAYOUT_H
#define BRASA_ARCH_X86_64_LAYOUT_H

#define KiB(x) ((unsigned long long)(x) << 10)
#define MiB(x) ((unsigned long long)(x) << 20)
#define GiB(x) ((unsigned long long)(x) << 30)

/* Boot-time structures in low memory. */
#define LAYOUT_BOOT_GDT_START     0x500ULL
#define LAYOUT_BOOT_GDT_ENTRIES   4
#define LAYOUT_BOOT_IDT_START     0x520ULL
#define LAYOUT_PVH_INFO_START     0x6000ULL /* struct hvm_start_info */
#define LAYOUT_PVH_MODLIST_START  0x6040ULL /* hvm_modlist_entry[] (initrd) */
#define LAYOUT_PVH_MEMMAP_START   0x7000ULL /* hvm_memmap_table_entry[] */
#define LAYOUT_PVH_MEMMAP_MAX     128       /* entries that fit below 0x8000 */
#define LAYOUT_ZERO_PAGE_START    0x7000ULL /* struct boot_params */
#define LAYOUT_BOOT_STACK_POINTER 0x8ff0ULL
#define LAYOUT_PML4_START         0x9000ULL
#define LAYOUT_PDPTE_START        0xa000ULL
#define LAYOUT_PDE_START          0xb000ULL
#define LAYOUT_CMDLINE_START      0x20000ULL
#define LAYOUT_CMDLINE_MAX_SIZE   2048ULL /* including the terminating NUL */

/* EBDA onward: the MP table, then the ACPI tables packed after it (as Firecracker allocates them).
 */
#define LAYOUT_EBDA_START       0x9fc00ULL
#define LAYOUT_SYSTEM_MEM_START 0x9fc00ULL
#define LAYOUT_SYSTEM_MEM_SIZE  0x40400ULL /* up to 0xe0000 */
#define LAYOUT_RSDP_ADDR        0xe0000ULL /* in the BIOS area a guest scans for "RSD PTR " */
/* Firecracker takes VMGenID's 16 bytes, then VMClock's page, from the top of the window. */
#define LAYOUT_VMGENID_SIZE    16ULL
#define LAYOUT_VMGENID_START   (LAYOUT_RSDP_ADDR - LAYOUT_VMGENID_SIZE) /* 0xdfff0 */
#define LAYOUT_VMCLOCK_START   0xde000ULL /* the page-aligned page below VMGenID */
#define LAYOUT_VMCLOCK_SIZE    0x1000ULL
#define LAYOUT_ACPI_TABLES_END LAYOUT_VMCLOCK_START /* the tables stay below */
#define LAYOUT_HIMEM_START     0x100000ULL          /* kernel load floor */

/* RAM regions: [0, 3 GiB) then [4 GiB, ...). */
#define LAYOUT_MMIO32_START   GiB(3)
#define LAYOUT_MMIO32_SIZE    GiB(1)
#define LAYOUT_RAM_HIGH_START GiB(4)
#define LAYOUT_MMIO64_START   GiB(256)
#define LAYOUT_MMIO64_SIZE    GiB(256)
#define LAYOUT_RAM_TOP_START  GiB(512)
/*
 * Device memory past the 64-bit MMIO window (Firecracker's past_mmio64_memory): pmem regions,
 * first fit in configuration order, each 2 MiB aligned.
 */
#define LAYOUT_PAST_MMIO64_START GiB(512)
#define LAYOUT_PAST_MMIO64_SIZE  GiB(512)
/*
 * virtio-mem's hotpluggable region: Firecracker allocates it first from past_mmio64_memory
 * (aligned to its 128 MiB default slot), so it starts the window and pmem regions follow it.
 */
#define LAYOUT_VIRTIO_MEM_START LAYOUT_PAST_MMIO64_START
/* Guest RAM we accept: stays below the 256 GiB hole (as Firecracker's ~1022 GiB is not needed). */
#define LAYOUT_MAX_MEM_BYTES (LAYOUT_MMIO64_START - LAYOUT_MMIO32_SIZE)

/* Devices in the 32-bit MMIO hole. */
#define LAYOUT_BOOT_TIMER_START   0xc0000000ULL
#define LAYOUT_BOOT_TIMER_SIZE    0x1000ULL
#define LAYOUT_VIRTIO_MMIO_START  0xc0001000ULL
#define LAYOUT_VIRTIO_MMIO_SIZE   0x1000ULL
#define LAYOUT_PCI_MMCONFIG_START 0xeec00000ULL
#define LAYOUT_PCI_MMCONFIG_SIZE  MiB(256)
#define LAYOUT_IOAPIC_START       0xfec00000ULL
#define LAYOUT_APIC_START         0xfee00000ULL
#define LAYOUT_KVM_TSS_ADDR       0xfffbd000ULL

/* With --enable-pci: segment 0's ECAM (bus 0 only), and the 32-bit window its _CRS gives. */
#define LAYOUT_PCI_ECAM_SEGMENT_SIZE MiB(1)
#define LAYOUT_PCI_MEM32_START       (LAYOUT_BOOT_TIMER_START + LAYOUT_BOOT_TIMER_SIZE)
#define LAYOUT_PCI_MEM32_LAST        (LAYOUT_PCI_MMCONFIG_START - 1)

/* Legacy interrupt lines. */
#define LAYOUT_IRQ_PIT         0 /* GSI 0: IOAPIC pin 0 and PIC pin 0, as KVM's own PIT */
#define LAYOUT_IRQ_I8042       1
#define LAYOUT_IRQ_COM1        4
#define LAYOUT_IRQ_VIRTIO_BASE 5
#define LAYOUT_IRQ_VIRTIO_LAST 23

/* Legacy I/O ports. */
#define LAYOUT_PORT_COM1       0x3f8
#define LAYOUT_PORT_COM1_LEN   8
#define LAYOUT_PORT_PIT        0x40
#define LAYOUT_PORT_PIT_LEN    4
#define LAYOUT_PORT_I8042_DATA 0x60
#define LAYOUT_PORT_SPEAKER    0x61 /* inside the i8042's range, as on a PC */
#define LAYOUT_PORT_I8042_CMD  0x64
/* Where kvm_vm_settle() (vmm/kvm_vm.c) briefly puts an ioeventfd: no device is there. */
#define LAYOUT_PORT_SETTLE  0xe0
#define LAYOUT_SETTLE_MATCH 0xa5
/* The hardware-reduced ACPI sleep registers (FADT SLEEP_CONTROL_REG / SLEEP_STATUS_REG). */
#define LAYOUT_PORT_ACPI_SLEEP_CTL 0x600
#define LAYOUT_PORT_ACPI_SLEEP_STS 0x601

#define LAYOUT_MAX_VCPUS 32

#endif
