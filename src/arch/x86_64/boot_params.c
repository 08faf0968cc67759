/* Builds the e820 map, command line, Linux zero page and PVH start info in guest memory. */
#include "arch/x86_64/boot_params.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"

static int e820_add(struct boot_e820_entry *out, unsigned int max, unsigned int *n, uint64_t addr,
                    uint64_t size, uint32_t type)
{
        if (*n >= max)
                return -ENOSPC;
        out[*n].addr = addr;
        out[*n].size = size;
        out[*n].type = type;
        (*n)++;
        return 0;
}

int e820_build(const struct guest_mem *m, struct boot_e820_entry *out, unsigned int max)
{
        unsigned int i, n = 0;
        uint64_t start, end;
        int rc;

        rc = e820_add(out, max, &n, 0, LAYOUT_SYSTEM_MEM_START, BOOT_E820_RAM);
        if (!rc)
                rc = e820_add(out, max, &n, LAYOUT_SYSTEM_MEM_START, LAYOUT_SYSTEM_MEM_SIZE,
                              BOOT_E820_RESERVED);
        if (!rc)
                rc = e820_add(out, max, &n, LAYOUT_PCI_MMCONFIG_START, LAYOUT_PCI_MMCONFIG_SIZE,
                              BOOT_E820_RESERVED);
        for (i = 0; !rc && i < m->nr_regions; i++) {
                start =
                    m->regions[i].gpa > LAYOUT_HIMEM_START ? m->regions[i].gpa : LAYOUT_HIMEM_START;
                end = m->regions[i].gpa + m->regions[i].size;
                if (end > start)
                        rc = e820_add(out, max, &n, start, end - start, BOOT_E820_RAM);
        }
        return rc ? rc : (int)n;
}

int cmdline_write(const struct guest_mem *m, const char *cmdline, struct err *e)
{
        size_t len;

        if (!cmdline)
                cmdline = "";
        len = strlen(cmdline);
        if (len >= LAYOUT_CMDLINE_MAX_SIZE)
                return err_set(e, -E2BIG, "kernel command line is too long: %zu bytes, max %llu",
                               len, LAYOUT_CMDLINE_MAX_SIZE - 1);
        return guest_mem_write(m, LAYOUT_CMDLINE_START, cmdline, len + 1);
}

/* Fills the setup header of a zero page for a 64-bit Linux boot. */
static int zero_page_hdr(struct setup_header *h, const struct kernel_info *ki, size_t cmdline_len,
                         uint64_t initrd_gpa, uint64_t initrd_size)
{
        uint64_t initrd_end;

        if (cmdline_len > LAYOUT_CMDLINE_MAX_SIZE)
                return -EINVAL;
        if (initrd_size && (__builtin_add_overflow(initrd_gpa, initrd_size, &initrd_end) ||
                            initrd_end > UINT32_MAX + 1ULL))
                return -EINVAL;
        if (ki && ki->has_setup_header)
                *h = ki->hdr;
        else
                h->kernel_alignment = BOOT_MIN_ALIGNMENT;
        h->type_of_loader = BOOT_LOADER_OTHER;
        h->boot_flag = BOOT_FLAG_MAGIC;
        h->header = BOOT_HDR_MAGIC;
        h->cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE_START;
        h->cmdline_size = (uint32_t)cmdline_len;
        if (initrd_size) {
                h->ramdisk_image = (uint32_t)initrd_gpa;
                h->ramdisk_size = (uint32_t)initrd_size;
        }
        return 0;
}

int zero_page_write(const struct guest_mem *m, const struct kernel_info *ki, size_t cmdline_len,
                    uint64_t initrd_gpa, uint64_t initrd_size)
{
        struct boot_params bp;
        int rc;

        memset(&bp, 0, sizeof(bp));
        rc = zero_page_hdr(&bp.hdr, ki, cmdline_len, initrd_gpa, initrd_size);
        if (rc)
                return rc;
        rc = e820_build(m, bp.e820_table, E820_MAX_ENTRIES_ZEROPAGE);
        if (rc < 0)
                return rc;
        bp.e820_entries = (uint8_t)rc;
        bp.acpi_rsdp_addr = LAYOUT_RSDP_ADDR; /* spares the guest its BIOS-area scan */
        return guest_mem_write(m, LAYOUT_ZERO_PAGE_START, &bp, sizeof(bp));
}

/* Writes the PVH memmap (the e820 entries) and returns its entry count or -errno. */
static int pvh_memmap_write(const struct guest_mem *m)
{
        struct boot_e820_entry e820[LAYOUT_PVH_MEMMAP_MAX];
        struct hvm_memmap_table_entry map[LAYOUT_PVH_MEMMAP_MAX];
        int n, i, rc;

        n = e820_build(m, e820, LAYOUT_PVH_MEMMAP_MAX);
        if (n < 0)
                return n;
        memset(map, 0, sizeof(map));
        for (i = 0; i < n; i++) {
                map[i].addr = e820[i].addr;
                map[i].size = e820[i].size;
                map[i].type = e820[i].type;
        }
        rc = guest_mem_write(m, LAYOUT_PVH_MEMMAP_START, map, (uint64_t)n * sizeof(map[0]));
        return rc ? rc : n;
}

int pvh_start_info_write(const struct guest_mem *m, size_t cmdline_len, uint64_t initrd_gpa,
                         uint64_t initrd_size)
{
        struct hvm_start_info si = {
            .magic = HVM_START_MAGIC_VALUE,
            .version = 1,
            .cmdline_paddr = LAYOUT_CMDLINE_START,
            .rsdp_paddr = LAYOUT_RSDP_ADDR, /* Firecracker leaves it 0: the guest scans */
            .memmap_paddr = LAYOUT_PVH_MEMMAP_START,
        };
        struct hvm_modlist_entry mod = {.paddr = initrd_gpa, .size = initrd_size};
        int rc;

        if (cmdline_len > LAYOUT_CMDLINE_MAX_SIZE)
                return -EINVAL;
        rc = pvh_memmap_write(m);
        if (rc < 0)
                return rc;
        si.memmap_entries = (uint32_t)rc;
        if (initrd_size) {
                rc = guest_mem_write(m, LAYOUT_PVH_MODLIST_START, &mod, sizeof(mod));
                if (rc)
                        return rc;
                si.nr_modules = 1;
                si.modlist_paddr = LAYOUT_PVH_MODLIST_START;
        }
        return guest_mem_write(m, LAYOUT_PVH_INFO_START, &si, sizeof(si));
}
