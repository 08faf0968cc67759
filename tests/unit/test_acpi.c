/* Unit tests for the ACPI table builders: signatures, lengths, checksums, contents. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_layout.h"

static uint8_t t[ACPI_TABLE_MAX];

static uint32_t le32(const uint8_t *p)
{
        uint32_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint64_t le64(const uint8_t *p)
{
        uint64_t v;

        memcpy(&v, p, sizeof(v));
        return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
        uint8_t s = 0;

        while (n--)
                s = (uint8_t)(s + *p++);
        return s;
}

/* A table's header: signature, length field, revision, Firecracker's OEM identity, checksum. */
static void assert_table(const uint8_t *p, size_t len, const char *sig, uint8_t rev,
                         const char *table_id)
{
        assert_memory_equal(p, sig, 4);
        assert_int_equal(le32(p + 4), len);
        assert_int_equal(p[8], rev);
        assert_memory_equal(p + 10, "FIRECK", 6);
        assert_memory_equal(p + 16, table_id, 8);
        assert_memory_equal(p + 28, "FCAT", 4);
        assert_int_equal(sum(p, len), 0);
}

static void test_checksum(void **state)
{
        static const uint8_t b[] = {1, 2, 3};

        (void)state;
        assert_int_equal(acpi_checksum(b, 0), 0);
        assert_int_equal(acpi_checksum(b, 3), 250);
}

static void test_rsdp(void **state)
{
        (void)state;
        assert_int_equal(acpi_build_rsdp(t, 0x9fd00), 36);
        assert_memory_equal(t, "RSD PTR ", 8);
        assert_int_equal(sum(t, 20), 0); /* the ACPI 1.0 checksum covers 20 bytes */
        assert_int_equal(sum(t, 36), 0); /* the extended one all 36 */
        assert_int_equal(t[15], 2);
        assert_int_equal(le32(t + 16), 0); /* no RSDT */
        assert_int_equal(le32(t + 20), 36);
        assert_int_equal(le64(t + 24), 0x9fd00);
}

static void test_xsdt(void **state)
{
        static const uint64_t tables[] = {0x1000, 0x2000, 0x123456789ULL};

        (void)state;
        assert_int_equal(acpi_build_xsdt(t, tables, 3), 36 + 24);
        assert_table(t, 60, "XSDT", 1, "FCMVXSDT");
        assert_int_equal(le64(t + 36), 0x1000);
        assert_int_equal(le64(t + 52), 0x123456789ULL);
}

static void test_fadt(void **state)
{
        (void)state;
        assert_int_equal(acpi_build_fadt(t, 0xabcdef), ACPI_FADT_SIZE);
        assert_table(t, ACPI_FADT_SIZE, "FACP", 6, "FCVMFADT");
        assert_int_equal(t[131], 5);               /* minor version: 6.5 */
        assert_int_equal(le32(t + 40), 0);         /* 32-bit DSDT unused */
        assert_int_equal(le64(t + 140), 0xabcdef); /* X_DSDT */
        assert_int_equal(le32(t + 112), (1u << 20) | (1u << 4) | (1u << 5));
        assert_int_equal(t[109], 1 << 2);  /* IAPC_BOOT_ARCH: no VGA */
        assert_int_equal(le32(t + 56), 0); /* hardware-reduced: no PM1a event block */
        /* SLEEP_CONTROL_REG and SLEEP_STATUS_REG: byte-wide I/O registers. */
        assert_int_equal(t[244], 1);
        assert_int_equal(t[245], 8);
        assert_int_equal(t[247], 1);
        assert_int_equal(le64(t + 248), LAYOUT_PORT_ACPI_SLEEP_CTL);
        assert_int_equal(t[256], 1);
        assert_int_equal(le64(t + 260), LAYOUT_PORT_ACPI_SLEEP_STS);
        assert_memory_equal(t + 268, "FIRECKVM", 8);
}

static void test_madt_one_lapic_per_vcpu(void **state)
{
        static const unsigned int counts[] = {1, 2, 7, LAYOUT_MAX_VCPUS};
        size_t i, len;
        unsigned int c;

        (void)state;
        for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
                len = acpi_build_madt(t, counts[i]);
                assert_int_equal(len, 44 + 12 + 8 * counts[i]);
                assert_table(t, len, "APIC", 6, "FCVMMADT");
                assert_int_equal(le32(t + 36), LAYOUT_APIC_START);
                assert_int_equal(t[44], 1); /* the IOAPIC first, id 0, GSI base 0 */
                assert_int_equal(t[45], 12);
                assert_int_equal(le32(t + 48), LAYOUT_IOAPIC_START);
                assert_int_equal(le32(t + 52), 0);
                for (c = 0; c < counts[i]; c++) {
                        const uint8_t *l = t + 56 + 8 * c;

                        assert_int_equal(l[0], 0);
                        assert_int_equal(l[1], 8);
                        assert_int_equal(l[2], c);
                        assert_int_equal(l[3], c);
                        assert_int_equal(le32(l + 4), 1);
                }
        }
}

static void test_mcfg(void **state)
{
        (void)state;
        assert_int_equal(acpi_build_mcfg(t), 60);
        assert_table(t, 60, "MCFG", 1, "FCMVMCFG");
        assert_int_equal(le64(t + 44), LAYOUT_PCI_MMCONFIG_START);
}

/* How often needle occurs in hay[0..n). */
static unsigned int count_of(const uint8_t *hay, size_t n, const void *needle, size_t k)
{
        unsigned int c = 0;
        size_t i;

        for (i = 0; i + k <= n; i++)
                c += memcmp(hay + i, needle, k) == 0;
        return c;
}

static void test_dsdt(void **state)
{
        static const uint8_t v001_window[] = {0x86, 0x09, 0x00, 0x01, 0x00, 0x20,
                                              0x00, 0xc0, 0x00, 0x10, 0x00, 0x00};
        struct acpi_mmio_dev devs[19];
        struct acpi_machine m = {.nr_vcpus = 2, .virtio = devs};
        size_t len, i;

        (void)state;
        for (i = 0; i < 19; i++)
                devs[i] = (struct acpi_mmio_dev){.base = LAYOUT_VIRTIO_MMIO_START + 0x1000 * i,
                                                 .size = 0x1000,
                                                 .gsi = (unsigned int)(5 + i)};
        for (m.nr_virtio = 0; m.nr_virtio <= 19; m.nr_virtio += 19) {
                assert_int_equal(acpi_build_dsdt(t, &m, &len), 0);
                assert_table(t, len, "DSDT", 2, "FCVMDSDT");
                assert_int_equal(count_of(t, len, "LNRO0005", 9), m.nr_virtio);
                assert_int_equal(count_of(t, len, "VMGENCTR", 8), 0); /* no VMGenID asked */
                assert_int_equal(count_of(t, len, "_S5_", 4), 1);
                assert_int_equal(count_of(t, len, "_SB_COM1", 8), 1);
                assert_int_equal(count_of(t, len, "_SB_PS2_", 8), 1);
        }
        assert_int_equal(count_of(t, len, v001_window, sizeof(v001_window)), 1);
        assert_int_equal(count_of(t, len, "V018", 4), 1);
        m.nr_virtio = 1;
        m.vmgenid_gpa = LAYOUT_VMGENID_START;
        m.vmgenid_gsi = 6;
        assert_int_equal(acpi_build_dsdt(t, &m, &len), 0);
        assert_int_equal(count_of(t, len, "VMGENCTR", 8), 1);
        assert_int_equal(count_of(t, len, "ACPI0013", 8), 1);
        assert_int_equal(count_of(t, len, (const uint8_t[]){0x0c, 0xf0, 0xff, 0x0d, 0x00}, 5), 1);
        assert_int_equal(count_of(t, len, "AMZNC10C", 8), 0); /* no VMClock asked */
        /* Interrupts: V000, the GED, COM1 and the i8042. */
        assert_int_equal(count_of(t, len, (const uint8_t[]){0x89, 6, 0, 3, 1}, 5), 4);
        m.vmclock_gpa = LAYOUT_VMCLOCK_START;
        m.vmclock_gsi = 7;
        assert_int_equal(acpi_build_dsdt(t, &m, &len), 0);
        assert_table(t, len, "DSDT", 2, "FCVMDSDT");
        assert_int_equal(count_of(t, len, "AMZNC10C", 8), 1);
        /* \_S5 closes the DSDT: Name (_S5, Package (2) {5, Zero}), 11 bytes. */
        assert_memory_equal(t + len - 11, "\x08_S5_\x12\x05\x02\x0a\x05\x00", 11);
        /* The GED takes both interrupts and notifies both devices. */
        assert_int_equal(count_of(t, len, (const uint8_t[]){0x89, 6, 0, 3, 1, 7, 0, 0, 0}, 9), 1);
        assert_int_equal(count_of(t, len, "\\\x2e_SB_VCLK\x0a\x80", 12), 1);
        assert_int_equal(count_of(t, len, "\\\x2e_SB_VGEN\x0a\x80", 12), 1);
}

static void test_dsdt_refuses_a_bad_machine(void **state)
{
        struct acpi_mmio_dev dev = {.base = LAYOUT_VIRTIO_MMIO_START, .size = 0x1000, .gsi = 4};
        struct acpi_machine m = {.nr_vcpus = 0};
        size_t len;

        (void)state;
        assert_int_equal(acpi_build_dsdt(t, &m, &len), -EINVAL);
        m.nr_vcpus = LAYOUT_MAX_VCPUS + 1;
        assert_int_equal(acpi_build_dsdt(t, &m, &len), -EINVAL);
        m.nr_vcpus = 1;
        m.virtio = &dev;
        m.nr_virtio = 1;
        assert_int_equal(acpi_build_dsdt(t, &m, &len), -EINVAL); /* GSI 4 is COM1's */
        dev.gsi = 5;
        dev.base = 1ULL << 32;
        assert_int_equal(acpi_build_dsdt(t, &m, &len), -EINVAL); /* not a 32-bit window */
        dev.base = LAYOUT_VIRTIO_MMIO_START;
        m.vmgenid_gpa = LAYOUT_VMGENID_START;
        m.vmgenid_gsi = 24;
        assert_int_equal(acpi_build_dsdt(t, &m, &len), -EINVAL);
}

static void test_write_tables(void **state)
{
        struct acpi_machine m = {.nr_vcpus = 3};
        struct acpi_placement at;
        struct guest_mem mem;
        uint8_t *ram = calloc(1, MiB(2));
        const uint64_t start = LAYOUT_SYSTEM_MEM_START + 0x100;

        (void)state;
        assert_non_null(ram);
        assert_int_equal(mem_layout_map(&mem, ram, MiB(2)), 0);
        assert_int_equal(acpi_write_tables(&mem, start, &m, &at), 0);
        assert_int_equal(at.dsdt, start);
        assert_int_equal(at.fadt, at.dsdt + le32(ram + at.dsdt + 4));
        assert_int_equal(at.madt, at.fadt + ACPI_FADT_SIZE);
        assert_int_equal(at.mcfg, at.madt + 44 + 12 + 3 * 8);
        assert_int_equal(at.xsdt, at.mcfg + ACPI_MCFG_SIZE);
        assert_int_equal(at.end, at.xsdt + 36 + 3 * 8);
        assert_int_equal(at.rsdp, LAYOUT_RSDP_ADDR);
        assert_int_equal(le64(ram + LAYOUT_RSDP_ADDR + 24), at.xsdt);
        assert_int_equal(le64(ram + at.xsdt + 36), at.fadt);
        assert_int_equal(le64(ram + at.fadt + 140), at.dsdt);
        /* No room before the window's end, or a machine the tables cannot describe. */
        assert_int_equal(acpi_write_tables(&mem, LAYOUT_ACPI_TABLES_END - 100, &m, &at), -ENOSPC);
        m.nr_vcpus = 0;
        assert_int_equal(acpi_write_tables(&mem, start, &m, &at), -EINVAL);
        guest_mem_destroy(&mem);
        free(ram);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_checksum),
            cmocka_unit_test(test_rsdp),
            cmocka_unit_test(test_xsdt),
            cmocka_unit_test(test_fadt),
            cmocka_unit_test(test_madt_one_lapic_per_vcpu),
            cmocka_unit_test(test_mcfg),
            cmocka_unit_test(test_dsdt),
            cmocka_unit_test(test_dsdt_refuses_a_bad_machine),
            cmocka_unit_test(test_write_tables),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
