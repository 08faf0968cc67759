/* Unit tests for vCPU boot state: GDT encoding/decoding, boot tables in RAM, register values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_layout.h"
#include "arch/x86_64/regs.h"

#define MEM_BYTES MiB(1)

static uint64_t rd64(const uint8_t *buf, uint64_t gpa)
{
        uint64_t v;

        memcpy(&v, buf + gpa, sizeof(v));
        return v;
}

static void test_gdt_entry(void **state)
{
        (void)state;
        assert_int_equal(gdt_entry(0, 0, 0), 0);
        assert_int_equal(gdt_entry(0xa09b, 0, 0xfffff), 0x00af9b000000ffffULL);
        assert_int_equal(gdt_entry(0xc093, 0, 0xfffff), 0x00cf93000000ffffULL);
        assert_int_equal(gdt_entry(0x808b, 0, 0xfffff), 0x008f8b000000ffffULL);
        assert_int_equal(gdt_entry(0xc09b, 0, 0xffffffff), 0x00cf9b000000ffffULL);
        assert_int_equal(gdt_entry(0x008b, 0, 0x67), 0x00008b0000000067ULL);
        assert_int_equal(gdt_entry(0x0093, 0x12345678, 0xabcde), 0x120a93345678bcdeULL);
}

static void test_segment_decode(void **state)
{
        struct kvm_segment s;

        (void)state;
        s = regs_segment_from_gdt(gdt_entry(0xa09b, 0, 0xfffff), 1);
        assert_int_equal(s.selector, 0x08);
        assert_int_equal(s.type, 0xb);
        assert_int_equal(s.s, 1);
        assert_int_equal(s.present, 1);
        assert_int_equal(s.dpl, 0);
        assert_int_equal(s.l, 1);
        assert_int_equal(s.db, 0);
        assert_int_equal(s.g, 1);
        assert_int_equal(s.limit, 0xffffffff);
        assert_int_equal(s.base, 0);
        assert_int_equal(s.unusable, 0);

        s = regs_segment_from_gdt(gdt_entry(0xc093, 0, 0xfffff), 2);
        assert_int_equal(s.selector, 0x10);
        assert_int_equal(s.type, 0x3);
        assert_int_equal(s.db, 1);
        assert_int_equal(s.l, 0);

        s = regs_segment_from_gdt(gdt_entry(0x808b, 0, 0xfffff), 3);
        assert_int_equal(s.selector, 0x18);
        assert_int_equal(s.type, 0xb);
        assert_int_equal(s.s, 0);
        assert_int_equal(s.limit, 0xffffffff);

        s = regs_segment_from_gdt(gdt_entry(0x008b, 0, 0x67), 3);
        assert_int_equal(s.g, 0);
        assert_int_equal(s.limit, 0x67);

        s = regs_segment_from_gdt(gdt_entry(0x0093, 0x12345678, 0xabcde), 5);
        assert_int_equal(s.base, 0x12345678);
        assert_int_equal(s.limit, 0xabcde);
        assert_int_equal(s.selector, 0x28);

        s = regs_segment_from_gdt(0, 0);
        assert_int_equal(s.unusable, 1);
}

static void test_linux_tables(void **state)
{
        static uint8_t buf[MEM_BYTES];
        struct guest_mem m;
        unsigned int i;

        (void)state;
        memset(buf, 0xaa, sizeof(buf)); /* poison: every table entry must be written */
        assert_int_equal(mem_layout_map(&m, buf, MEM_BYTES), 0);
        assert_int_equal(regs_write_boot_tables(&m, false), 0);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_GDT_START), 0);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_GDT_START + 8), 0x00af9b000000ffffULL);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_GDT_START + 16), 0x00cf93000000ffffULL);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_GDT_START + 24), 0x008f8b000000ffffULL);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_IDT_START), 0);
        assert_int_equal(rd64(buf, LAYOUT_PML4_START), 0xa003);
        assert_int_equal(rd64(buf, LAYOUT_PDPTE_START), 0xb003);
        for (i = 1; i < 512; i++) {
                assert_int_equal(rd64(buf, LAYOUT_PML4_START + 8 * i), 0);
                assert_int_equal(rd64(buf, LAYOUT_PDPTE_START + 8 * i), 0);
        }
        for (i = 0; i < 512; i++)
                assert_int_equal(rd64(buf, LAYOUT_PDE_START + 8 * i), ((uint64_t)i << 21) + 0x83);
        assert_int_equal(buf[LAYOUT_PDE_START + 4096], 0xaa); /* nothing past the PD */
}

static void test_pvh_tables(void **state)
{
        static uint8_t buf[MEM_BYTES];
        struct guest_mem m;

        (void)state;
        memset(buf, 0xaa, sizeof(buf));
        assert_int_equal(mem_layout_map(&m, buf, MEM_BYTES), 0);
        assert_int_equal(regs_write_boot_tables(&m, true), 0);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_GDT_START + 8), 0x00cf9b000000ffffULL);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_GDT_START + 16), 0x00cf93000000ffffULL);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_GDT_START + 24), 0x00008b0000000067ULL);
        assert_int_equal(rd64(buf, LAYOUT_BOOT_IDT_START), 0);
        /* No paging for PVH: the page-table area is untouched. */
        assert_int_equal(rd64(buf, LAYOUT_PML4_START), 0xaaaaaaaaaaaaaaaaULL);
}

static void test_tables_no_ram(void **state)
{
        struct guest_mem m;

        (void)state;
        memset(&m, 0, sizeof(m)); /* no regions */
        assert_int_equal(regs_write_boot_tables(&m, false), -EFAULT);
}

static void test_boot_regs(void **state)
{
        struct kvm_regs r;

        (void)state;
        memset(&r, 0x55, sizeof(r));
        regs_boot_regs(&r, false, 0x1000000);
        assert_int_equal(r.rip, 0x1000000);
        assert_int_equal(r.rsp, 0x8ff0);
        assert_int_equal(r.rbp, 0x8ff0);
        assert_int_equal(r.rsi, 0x7000);
        assert_int_equal(r.rflags, 2);
        assert_int_equal(r.rbx, 0);
        regs_boot_regs(&r, true, 0x1000123);
        assert_int_equal(r.rip, 0x1000123);
        assert_int_equal(r.rbx, 0x6000);
        assert_int_equal(r.rsp, 0);
        assert_int_equal(r.rflags, 2);
}

static void test_boot_sregs_linux(void **state)
{
        struct kvm_sregs s;

        (void)state;
        memset(&s, 0, sizeof(s));
        s.cr0 = 0x60000010; /* KVM's reset value: kept, as Firecracker does */
        regs_boot_sregs(&s, false);
        assert_int_equal(s.cr0, 0xe0000011);
        assert_int_equal(s.cr3, 0x9000);
        assert_int_equal(s.cr4, 0x20);
        assert_int_equal(s.efer, 0x500);
        assert_int_equal(s.cs.selector, 0x08);
        assert_int_equal(s.cs.l, 1);
        assert_int_equal(s.ds.selector, 0x10);
        assert_int_equal(s.ss.selector, 0x10);
        assert_int_equal(s.fs.selector, 0x10);
        assert_int_equal(s.tr.selector, 0x18);
        assert_int_equal(s.tr.type, 0xb);
        assert_int_equal(s.gdt.base, 0x500);
        assert_int_equal(s.gdt.limit, 31);
        assert_int_equal(s.idt.base, 0x520);
        assert_int_equal(s.idt.limit, 7);
}

static void test_boot_sregs_pvh(void **state)
{
        struct kvm_sregs s;

        (void)state;
        memset(&s, 0, sizeof(s));
        s.cr0 = 0x60000010;
        s.cr4 = 0x20;
        regs_boot_sregs(&s, true);
        assert_int_equal(s.cr0, 0x11);
        assert_int_equal(s.cr4, 0);
        assert_int_equal(s.cr3, 0);
        assert_int_equal(s.efer, 0);
        assert_int_equal(s.cs.l, 0);
        assert_int_equal(s.cs.db, 1);
        assert_int_equal(s.cs.limit, 0xffffffff);
        assert_int_equal(s.ds.limit, 0xffffffff);
        assert_int_equal(s.tr.limit, 0x67);
        assert_int_equal(s.gdt.limit, 31);
}

static void test_fpu_msrs(void **state)
{
        struct kvm_msr_entry msrs[REGS_BOOT_MSRS];
        struct kvm_fpu f;
        unsigned int i, seen = 0;

        (void)state;
        regs_boot_fpu(&f);
        assert_int_equal(f.fcw, 0x37f);
        assert_int_equal(f.mxcsr, 0x1f80);
        regs_boot_msrs(msrs);
        for (i = 0; i < REGS_BOOT_MSRS; i++) {
                switch (msrs[i].index) {
                case 0x1a0: /* MISC_ENABLE */
                        assert_int_equal(msrs[i].data, 1);
                        break;
                case 0x2ff: /* MTRRdefType */
                        assert_int_equal(msrs[i].data, 0x806);
                        break;
                case 0x10:
                case 0x174:
                case 0x175:
                case 0x176:
                case 0xc0000081:
                case 0xc0000082:
                case 0xc0000083:
                case 0xc0000084:
                case 0xc0000102:
                        assert_int_equal(msrs[i].data, 0);
                        break;
                default:
                        fail_msg("unexpected MSR %#x", msrs[i].index);
                }
                seen++;
        }
        assert_int_equal(seen, 11);
}

static void test_lapic_lint(void **state)
{
        struct kvm_lapic_state l;
        uint32_t v;

        (void)state;
        memset(&l, 0, sizeof(l));
        v = 0x10700; /* masked, ExtINT already: mode bits replaced, mask kept */
        memcpy(&l.regs[0x350], &v, 4);
        v = 0x10000;
        memcpy(&l.regs[0x360], &v, 4);
        regs_lapic_set_lint(&l);
        memcpy(&v, &l.regs[0x350], 4);
        assert_int_equal(v, 0x10700);
        memcpy(&v, &l.regs[0x360], 4);
        assert_int_equal(v, 0x10400);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_gdt_entry),        cmocka_unit_test(test_segment_decode),
            cmocka_unit_test(test_linux_tables),     cmocka_unit_test(test_pvh_tables),
            cmocka_unit_test(test_tables_no_ram),    cmocka_unit_test(test_boot_regs),
            cmocka_unit_test(test_boot_sregs_linux), cmocka_unit_test(test_boot_sregs_pvh),
            cmocka_unit_test(test_fpu_msrs),         cmocka_unit_test(test_lapic_lint),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
