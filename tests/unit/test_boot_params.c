/* Unit tests for the e820 map, command line, Linux zero page and PVH start info. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/boot_params.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_layout.h"
#include "core/guest_mem.h"

#define MEM_SIZE MiB(16)

static struct guest_mem mem;
static uint8_t *ram;
static struct err error;

static int setup(void **state)
{
        (void)state;
        ram = calloc(1, MEM_SIZE);
        assert_non_null(ram);
        assert_int_equal(mem_layout_map(&mem, ram, MEM_SIZE), 0);
        err_clear(&error);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        guest_mem_destroy(&mem);
        free(ram);
        return 0;
}

/* Regions only (hva NULL): enough for e820_build(). */
static void layout_only(struct guest_mem *m, uint64_t bytes)
{
        memset(m, 0, sizeof(*m));
        assert_int_equal(mem_layout(bytes, m->regions, &m->nr_regions), 0);
        m->total_bytes = bytes;
}

/*
 * The real region layout for bytes of RAM, but with the first region's host
 * mapping pointed at the small test buffer: only valid because the code under
 * test writes nothing above 0x8000 (PVH/zero page structures).
 */
static void layout_low_backed(struct guest_mem *m, uint64_t bytes)
{
        layout_only(m, bytes);
        m->regions[0].hva = ram;
}

static void assert_entry(const struct boot_e820_entry *e, uint64_t addr, uint64_t size,
                         uint32_t type)
{
        assert_int_equal(e->addr, addr);
        assert_int_equal(e->size, size);
        assert_int_equal(e->type, type);
}

static void assert_fixed_entries(const struct boot_e820_entry *e)
{
        assert_entry(&e[0], 0, 0x9fc00, BOOT_E820_RAM);
        assert_entry(&e[1], 0x9fc00, 0xe0000 - 0x9fc00, BOOT_E820_RESERVED);
        assert_entry(&e[2], 0xeec00000, MiB(256), BOOT_E820_RESERVED);
}

static void check_e820_one_region(uint64_t bytes)
{
        struct boot_e820_entry e[8];
        struct guest_mem m;

        layout_only(&m, bytes);
        assert_int_equal(e820_build(&m, e, 8), 4);
        assert_fixed_entries(e);
        assert_entry(&e[3], MiB(1), bytes - MiB(1), BOOT_E820_RAM);
}

static void test_e820_128m(void **state)
{
        (void)state;
        check_e820_one_region(MiB(128));
}

static void test_e820_1g(void **state)
{
        (void)state;
        check_e820_one_region(GiB(1));
}

static void test_e820_3g_exactly(void **state)
{
        struct guest_mem m;

        (void)state;
        layout_only(&m, GiB(3));
        assert_int_equal(m.nr_regions, 1);
        check_e820_one_region(GiB(3));
}

static void test_e820_4g(void **state)
{
        struct boot_e820_entry e[8];
        struct guest_mem m;

        (void)state;
        layout_only(&m, GiB(4));
        assert_int_equal(m.nr_regions, 2);
        assert_int_equal(e820_build(&m, e, 8), 5);
        assert_fixed_entries(e);
        assert_entry(&e[3], MiB(1), GiB(3) - MiB(1), BOOT_E820_RAM);
        assert_entry(&e[4], GiB(4), GiB(1), BOOT_E820_RAM);
}

static void test_e820_nospc(void **state)
{
        struct boot_e820_entry e[8];
        struct guest_mem m;

        (void)state;
        layout_only(&m, GiB(4));
        assert_int_equal(e820_build(&m, e, 4), -ENOSPC);
        assert_int_equal(e820_build(&m, e, 2), -ENOSPC);
        assert_int_equal(e820_build(&m, e, 0), -ENOSPC);
        assert_int_equal(e820_build(&m, e, 5), 5);
}

static void test_cmdline(void **state)
{
        char line[2049];

        (void)state;
        memset(line, 'a', sizeof(line));
        line[2047] = '\0';
        memset(ram + LAYOUT_CMDLINE_START, 0xff, 4096);
        assert_int_equal(cmdline_write(&mem, line, &error), 0);
        assert_memory_equal(ram + LAYOUT_CMDLINE_START, line, 2048);
        assert_int_equal(ram[LAYOUT_CMDLINE_START + 2047], 0);
        assert_int_equal(ram[LAYOUT_CMDLINE_START + 2048], 0xff);

        line[2047] = 'a';
        line[2048] = '\0';
        assert_int_equal(cmdline_write(&mem, line, &error), -E2BIG);
        assert_string_equal(error.msg, "kernel command line is too long: 2048 bytes, max 2047");

        assert_int_equal(cmdline_write(&mem, NULL, &error), 0);
        assert_int_equal(ram[LAYOUT_CMDLINE_START], 0);
        assert_int_equal(cmdline_write(&mem, "console=ttyS0", NULL), 0);
        assert_string_equal((const char *)ram + LAYOUT_CMDLINE_START, "console=ttyS0");
}

static struct boot_params *zero_page(void)
{
        return (struct boot_params *)(ram + LAYOUT_ZERO_PAGE_START);
}

static void test_zero_page_elf(void **state)
{
        struct kernel_info ki = {.proto = BOOT_PROTO_LINUX64, .entry = MiB(16)};
        struct boot_params *bp = zero_page();

        (void)state;
        memset(ram + LAYOUT_ZERO_PAGE_START, 0xcc, 4096);
        assert_int_equal(zero_page_write(&mem, &ki, 14, 0, 0), 0);
        assert_int_equal(bp->hdr.type_of_loader, 0xff);
        assert_int_equal(bp->hdr.boot_flag, 0xaa55);
        assert_int_equal(bp->hdr.header, 0x53726448);
        assert_int_equal(bp->hdr.cmd_line_ptr, 0x20000);
        assert_int_equal(bp->hdr.cmdline_size, 14);
        assert_int_equal(bp->hdr.kernel_alignment, 0x01000000);
        assert_int_equal(bp->hdr.ramdisk_image, 0);
        assert_int_equal(bp->hdr.ramdisk_size, 0);
        assert_int_equal(bp->hdr.version, 0);
        assert_int_equal(bp->acpi_rsdp_addr, LAYOUT_RSDP_ADDR);
        assert_int_equal(bp->e820_entries, 4);
        assert_fixed_entries(bp->e820_table);
        assert_entry(&bp->e820_table[3], MiB(1), MEM_SIZE - MiB(1), BOOT_E820_RAM);
        assert_int_equal(bp->e820_table[4].size, 0);
        assert_int_equal(ram[LAYOUT_ZERO_PAGE_START + 4095], 0);
}

static void test_zero_page_bzimage(void **state)
{
        struct kernel_info ki = {
            .proto = BOOT_PROTO_LINUX64, .entry = 0x100200, .has_setup_header = true};
        struct boot_params *bp = zero_page();

        (void)state;
        ki.hdr.setup_sects = 27;
        ki.hdr.version = 0x020f;
        ki.hdr.xloadflags = XLF_KERNEL_64;
        ki.hdr.loadflags = LOADED_HIGH;
        ki.hdr.kernel_alignment = 0x200000;
        ki.hdr.init_size = 0x2000000;
        ki.hdr.cmdline_size = 0x7ff; /* overwritten */
        ki.hdr.type_of_loader = 0;   /* overwritten */
        assert_int_equal(zero_page_write(&mem, &ki, 100, 0xff0000, 0x1234), 0);
        assert_int_equal(bp->hdr.setup_sects, 27);
        assert_int_equal(bp->hdr.version, 0x020f);
        assert_int_equal(bp->hdr.xloadflags, XLF_KERNEL_64);
        assert_int_equal(bp->hdr.loadflags, LOADED_HIGH);
        assert_int_equal(bp->hdr.kernel_alignment, 0x200000);
        assert_int_equal(bp->hdr.init_size, 0x2000000);
        assert_int_equal(bp->hdr.type_of_loader, 0xff);
        assert_int_equal(bp->hdr.boot_flag, 0xaa55);
        assert_int_equal(bp->hdr.header, 0x53726448);
        assert_int_equal(bp->hdr.cmd_line_ptr, 0x20000);
        assert_int_equal(bp->hdr.cmdline_size, 100);
        assert_int_equal(bp->hdr.ramdisk_image, 0xff0000);
        assert_int_equal(bp->hdr.ramdisk_size, 0x1234);
        assert_int_equal(bp->e820_entries, 4);
}

static void test_zero_page_bad_args(void **state)
{
        struct kernel_info ki = {.proto = BOOT_PROTO_LINUX64};

        (void)state;
        assert_int_equal(zero_page_write(&mem, &ki, 2049, 0, 0), -EINVAL);
        assert_int_equal(zero_page_write(&mem, &ki, 10, GiB(4), 0x1000), -EINVAL);
        assert_int_equal(zero_page_write(&mem, &ki, 10, GiB(4) - 0x1000, 0x1001), -EINVAL);
        assert_int_equal(zero_page_write(&mem, &ki, 10, UINT64_MAX, 2), -EINVAL);
        assert_int_equal(zero_page_write(&mem, &ki, 10, GiB(4) - 0x1000, 0x1000), 0);
}

static void test_zero_page_4g(void **state)
{
        struct kernel_info ki = {.proto = BOOT_PROTO_LINUX64};
        struct guest_mem m;
        struct boot_params *bp = zero_page();

        (void)state;
        layout_low_backed(&m, GiB(4));
        assert_int_equal(zero_page_write(&m, &ki, 1, 0, 0), 0);
        assert_int_equal(bp->e820_entries, 5);
        assert_entry(&bp->e820_table[3], MiB(1), GiB(3) - MiB(1), BOOT_E820_RAM);
        assert_entry(&bp->e820_table[4], GiB(4), GiB(1), BOOT_E820_RAM);
}

static const struct hvm_start_info *start_info(void)
{
        return (const struct hvm_start_info *)(ram + LAYOUT_PVH_INFO_START);
}

static void assert_memmap(const struct hvm_memmap_table_entry *e, uint64_t addr, uint64_t size,
                          uint32_t type)
{
        assert_int_equal(e->addr, addr);
        assert_int_equal(e->size, size);
        assert_int_equal(e->type, type);
        assert_int_equal(e->reserved, 0);
}

static void test_pvh_no_initrd(void **state)
{
        const struct hvm_start_info *si = start_info();
        const struct hvm_memmap_table_entry *mm =
            (const struct hvm_memmap_table_entry *)(ram + LAYOUT_PVH_MEMMAP_START);
        const struct hvm_modlist_entry *mod =
            (const struct hvm_modlist_entry *)(ram + LAYOUT_PVH_MODLIST_START);

        (void)state;
        assert_int_equal(pvh_start_info_write(&mem, 20, 0, 0), 0);
        assert_int_equal(si->magic, 0x336ec578);
        assert_int_equal(si->version, 1);
        assert_int_equal(si->flags, 0);
        assert_int_equal(si->cmdline_paddr, 0x20000);
        assert_int_equal(si->rsdp_paddr, LAYOUT_RSDP_ADDR);
        assert_int_equal(si->memmap_paddr, 0x7000);
        assert_int_equal(si->memmap_entries, 4);
        assert_int_equal(si->nr_modules, 0);
        assert_int_equal(si->modlist_paddr, 0);
        assert_int_equal(si->reserved, 0);
        assert_memmap(&mm[0], 0, 0x9fc00, BOOT_E820_RAM);
        assert_memmap(&mm[1], 0x9fc00, 0x40400, BOOT_E820_RESERVED);
        assert_memmap(&mm[2], 0xeec00000, MiB(256), BOOT_E820_RESERVED);
        assert_memmap(&mm[3], MiB(1), MEM_SIZE - MiB(1), BOOT_E820_RAM);
        assert_int_equal(mod->paddr, 0);
        assert_int_equal(mod->size, 0);
}

static void test_pvh_initrd(void **state)
{
        const struct hvm_start_info *si = start_info();
        const struct hvm_modlist_entry *mod =
            (const struct hvm_modlist_entry *)(ram + LAYOUT_PVH_MODLIST_START);

        (void)state;
        memset(ram + LAYOUT_PVH_MODLIST_START, 0xaa, sizeof(*mod));
        assert_int_equal(pvh_start_info_write(&mem, 20, 0xf00000, 0x54321), 0);
        assert_int_equal(si->nr_modules, 1);
        assert_int_equal(si->modlist_paddr, 0x6040);
        assert_int_equal(mod->paddr, 0xf00000);
        assert_int_equal(mod->size, 0x54321);
        assert_int_equal(mod->cmdline_paddr, 0);
        assert_int_equal(mod->reserved, 0);
        assert_int_equal(pvh_start_info_write(&mem, 2049, 0, 0), -EINVAL);
}

static void test_pvh_4g(void **state)
{
        const struct hvm_memmap_table_entry *mm =
            (const struct hvm_memmap_table_entry *)(ram + LAYOUT_PVH_MEMMAP_START);
        struct guest_mem m;

        (void)state;
        layout_low_backed(&m, GiB(4));
        assert_int_equal(pvh_start_info_write(&m, 1, 0, 0), 0);
        assert_int_equal(start_info()->memmap_entries, 5);
        assert_memmap(&mm[3], MiB(1), GiB(3) - MiB(1), BOOT_E820_RAM);
        assert_memmap(&mm[4], GiB(4), GiB(1), BOOT_E820_RAM);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            T(test_e820_128m),     T(test_e820_1g),           T(test_e820_3g_exactly),
            T(test_e820_4g),       T(test_e820_nospc),        T(test_cmdline),
            T(test_zero_page_elf), T(test_zero_page_bzimage), T(test_zero_page_bad_args),
            T(test_zero_page_4g),  T(test_pvh_no_initrd),     T(test_pvh_initrd),
            T(test_pvh_4g),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
