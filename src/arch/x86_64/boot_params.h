/* Boot-time tables the guest kernel reads: e820, command line, zero page, PVH start info. */
#ifndef BRASA_ARCH_X86_64_BOOT_PARAMS_H
#define BRASA_ARCH_X86_64_BOOT_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "arch/x86_64/loader.h"
#include "core/err.h"
#include "core/guest_mem.h"

/* e820 / PVH memmap entry types (same values in both ABIs). */
#define BOOT_E820_RAM      1
#define BOOT_E820_RESERVED 2

/* Zero-page constants (Linux x86 boot protocol). */
#define BOOT_LOADER_OTHER  0xff
#define BOOT_FLAG_MAGIC    0xaa55
#define BOOT_HDR_MAGIC     0x53726448U /* "HdrS" */
#define BOOT_MIN_ALIGNMENT 0x01000000U /* kernel_alignment when there is no setup header */

/*
 * PVH boot ABI, as defined by Xen's public/arch-x86/hvm/start_info.h
 * (start info version 1). The guest gets the address of hvm_start_info in %ebx.
 */
#define HVM_START_MAGIC_VALUE 0x336ec578U

struct hvm_start_info {
        uint32_t magic;   /* HVM_START_MAGIC_VALUE */
        uint32_t version; /* 1: memmap fields are valid */
        uint32_t flags;   /* SIF_* */
        uint32_t nr_modules;
        uint64_t modlist_paddr; /* struct hvm_modlist_entry[nr_modules] */
        uint64_t cmdline_paddr; /* NUL-terminated */
        uint64_t rsdp_paddr;
        uint64_t memmap_paddr; /* struct hvm_memmap_table_entry[memmap_entries] */
        uint32_t memmap_entries;
        uint32_t reserved;
};

struct hvm_modlist_entry {
        uint64_t paddr;
        uint64_t size;
        uint64_t cmdline_paddr;
        uint64_t reserved;
};

struct hvm_memmap_table_entry {
        uint64_t addr;
        uint64_t size;
        uint32_t type; /* BOOT_E820_* */
        uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info ABI");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry ABI");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry ABI");

/*
 * Builds Firecracker's e820 map for m into out[0..max), in this order:
 * RAM [0, 0x9fc00); reserved [0x9fc00, 0xe0000); reserved PCIe MMCONFIG
 * [0xeec00000, +256 MiB); then one RAM entry per region of m from
 * max(1 MiB, region start) to the region end (regions ending at or below
 * 1 MiB are skipped). Uses only the regions' gpa/size, never hva.
 * Returns the number of entries, or -ENOSPC when max is too small.
 */
int e820_build(const struct guest_mem *m, struct boot_e820_entry *out, unsigned int max);

/*
 * Writes cmdline (NULL means "") with its NUL at LAYOUT_CMDLINE_START.
 * Returns 0, or -E2BIG with a message in e when strlen(cmdline) + 1 >
 * LAYOUT_CMDLINE_MAX_SIZE, or -EFAULT when guest memory lacks that range.
 */
int cmdline_write(const struct guest_mem *m, const char *cmdline, struct err *e);

/*
 * Writes the Linux zero page (struct boot_params, 4 KiB) at
 * LAYOUT_ZERO_PAGE_START. The setup header starts from ki->hdr when
 * ki->has_setup_header, else from zero with kernel_alignment = 16 MiB; then
 * type_of_loader, boot_flag, header, cmd_line_ptr = LAYOUT_CMDLINE_START,
 * cmdline_size = cmdline_len (Firecracker passes strlen + 1) and, when
 * initrd_size != 0, ramdisk_image/ramdisk_size are set, plus the e820 table.
 * acpi_rsdp_addr = LAYOUT_RSDP_ADDR. Returns 0, -EINVAL when cmdline_len exceeds
 * LAYOUT_CMDLINE_MAX_SIZE or the initrd does not lie below 4 GiB, or
 * -EFAULT/-ENOSPC from memory/e820.
 */
int zero_page_write(const struct guest_mem *m, const struct kernel_info *ki, size_t cmdline_len,
                    uint64_t initrd_gpa, uint64_t initrd_size);

/*
 * Writes the PVH boot structures: hvm_start_info at LAYOUT_PVH_INFO_START
 * (magic, version 1, cmdline_paddr = LAYOUT_CMDLINE_START, memmap at
 * LAYOUT_PVH_MEMMAP_START holding the e820_build() entries, rsdp_paddr =
 * LAYOUT_RSDP_ADDR) and, when
 * initrd_size != 0, one hvm_modlist_entry at LAYOUT_PVH_MODLIST_START
 * (nr_modules = 1, modlist_paddr set; else both 0). cmdline_len is only
 * validated (<= LAYOUT_CMDLINE_MAX_SIZE). Returns 0, -EINVAL, -ENOSPC or
 * -EFAULT.
 */
int pvh_start_info_write(const struct guest_mem *m, size_t cmdline_len, uint64_t initrd_gpa,
                         uint64_t initrd_size);

#endif
