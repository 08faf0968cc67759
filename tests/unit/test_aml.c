/* Unit tests for the AML encoder: exact bytes of small objects against ACPI 6.5 section 20. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/aml.h"

static uint8_t buf[512];

/* Finishes a and checks its bytes are exactly want[0..n). */
static void assert_aml(struct aml *a, const uint8_t *want, size_t n)
{
        size_t len = 0;

        assert_int_equal(aml_finish(a, &len), 0);
        assert_int_equal(len, n);
        assert_memory_equal(buf, want, n);
}

static void test_name_with_byte(void **state)
{
        static const uint8_t want[] = {0x08, '_', 'U', 'I', 'D', 0x0a, 0x00};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_name(&a, "_UID");
        aml_byte(&a, 0);
        assert_aml(&a, want, sizeof(want));
}

static void test_integers_and_string(void **state)
{
        static const uint8_t want[] = {0x00, 0x01, 0x0b, 0x34, 0x12, 0x0c, 0x78, 0x56, 0x34,
                                       0x12, 0x0e, 1,    2,    3,    4,    5,    6,    7,
                                       8,    0x0d, 'C',  'O',  'M',  '1',  0x00};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_zero(&a);
        aml_one(&a);
        aml_word(&a, 0x1234);
        aml_dword(&a, 0x12345678);
        aml_qword(&a, 0x0807060504030201ULL);
        aml_string(&a, "COM1");
        assert_aml(&a, want, sizeof(want));
}

/* PNP0501 is the compressed EISA ID 0x0105d041 (the bytes 41 d0 05 01). */
static void test_eisa_id(void **state)
{
        static const uint8_t want[] = {0x0c, 0x41, 0xd0, 0x05, 0x01, 0x0c, 0x41, 0xd0, 0x03, 0x03};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_eisa_id(&a, "PNP0501");
        aml_eisa_id(&a, "PNP0303");
        assert_aml(&a, want, sizeof(want));
}

static void test_name_strings(void **state)
{
        static const uint8_t want[] = {'V', '0', '0', '0', 0x5c, 0x2e, '_', 'S', 'B', '_',
                                       'V', 'G', 'E', 'N', 0x2f, 0x03, 'A', 'B', 'C', 'D',
                                       'E', 'F', 'G', 'H', 'I',  'J',  'K', 'L'};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_name_string(&a, "V000");
        aml_name_string(&a, "\\_SB_.VGEN");
        aml_name_string(&a, "ABCD.EFGH.IJKL");
        assert_aml(&a, want, sizeof(want));
}

static void test_device_pkg_length(void **state)
{
        static const uint8_t want[] = {0x5b, 0x82, 0x0a, 0x2e, '_', 'S',
                                       'B',  '_',  'C',  'O',  'M', '1'};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_device(&a, "_SB_.COM1");
        aml_close(&a);
        assert_aml(&a, want, sizeof(want));
}

static void test_method_return(void **state)
{
        static const uint8_t want[] = {0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a, 0x0f};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_method(&a, "_STA", 0, false);
        aml_return(&a);
        aml_byte(&a, 0x0f);
        aml_close(&a);
        assert_aml(&a, want, sizeof(want));
}

/* If (LEqual (Arg0, 5)) { Notify (\_SB_.VGEN, 0x80) } in a serialized one-argument method. */
static void test_method_if_notify(void **state)
{
        static const uint8_t want[] = {0x14, 0x19, '_',  'E',  'V',  'T',  0x09, 0xa0, 0x12,
                                       0x93, 0x68, 0x0a, 0x05, 0x86, 0x5c, 0x2e, '_',  'S',
                                       'B',  '_',  'V',  'G',  'E',  'N',  0x0a, 0x80};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_method(&a, "_EVT", 1, true);
        aml_if(&a);
        aml_lequal(&a);
        aml_arg(&a, 0);
        aml_byte(&a, 5);
        aml_notify(&a);
        aml_name_string(&a, "\\_SB_.VGEN");
        aml_byte(&a, 0x80);
        aml_close(&a);
        aml_close(&a);
        assert_aml(&a, want, sizeof(want));
}

/* Buffer { size, Extended Interrupt (GSI 5), End Tag }. */
static void test_resource_template(void **state)
{
        static const uint8_t want[] = {0x11, 0x0e, 0x0a, 0x0b, 0x89, 0x06, 0x00, 0x03,
                                       0x01, 0x05, 0x00, 0x00, 0x00, 0x79, 0x00};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_resources(&a);
        aml_rd_irq(&a, 5);
        aml_close(&a);
        assert_aml(&a, want, sizeof(want));
}

static void test_descriptors(void **state)
{
        static const uint8_t want[] = {0x86, 0x09, 0x00, 0x01, 0x00, 0x10, 0x00, 0xc0, 0x00, 0x10,
                                       0x00, 0x00, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08};
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_rd_memory32_fixed(&a, true, 0xc0001000, 0x1000);
        aml_rd_io(&a, 0x3f8, 0x3f8, 1, 8);
        assert_aml(&a, want, sizeof(want));
}

/* QWord Address Space, memory 0xde000..0xdefff, cacheable, read-only (section 6.4.3.5.1). */
static void test_qword_memory(void **state)
{
        static const uint8_t want[] = {0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x02, 0, 0,
                                       0,    0,    0,    0,    0,    0, /* granularity */
                                       0x00, 0xe0, 0x0d, 0,    0,    0,    0, 0,
                                       0xff, 0xef, 0x0d, 0,    0,    0,    0, 0, /* min, max */
                                       0,    0,    0,    0,    0,    0,    0, 0,
                                       0x00, 0x10, 0,    0,    0,    0,    0, 0}; /* offset, len */
        struct aml a;

        (void)state;
        aml_init(&a, buf, sizeof(buf));
        aml_rd_qword_memory(&a, false, 0xde000, 0xdefff);
        assert_aml(&a, want, sizeof(want));
}

/* A package whose content is n bytes: count byte + (n - 1) One opcodes. */
static size_t package_of(size_t n)
{
        struct aml a;
        size_t i, len = 0;

        aml_init(&a, buf, sizeof(buf));
        aml_package(&a, (uint8_t)(n - 1));
        for (i = 1; i < n; i++)
                aml_one(&a);
        aml_close(&a);
        assert_int_equal(aml_finish(&a, &len), 0);
        return len;
}

/* PkgLength counts itself: one byte up to 63 in all, then a lead byte with the low nibble. */
static void test_pkg_length_forms(void **state)
{
        (void)state;
        assert_int_equal(package_of(62), 1 + 1 + 62);
        assert_int_equal(buf[1], 63);
        assert_int_equal(package_of(63), 1 + 2 + 63);
        assert_int_equal(buf[1], 0x40 | (65 & 0xf));
        assert_int_equal(buf[2], 65 >> 4);
        assert_int_equal(package_of(300), 1 + 2 + 300);
        assert_int_equal(buf[1], 0x40 | (302 & 0xf));
        assert_int_equal(buf[2], 302 >> 4);
}

static int finish_rc(struct aml *a)
{
        size_t len = 0;

        return aml_finish(a, &len);
}

static void test_errors(void **state)
{
        static const char *const bad_names[] = {"",     "ABC",   "ABCDE",     "1ABC",
                                                "ab_c", "ABCD.", "ABCD..EFG", "\\"};
        struct aml a;
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
                aml_init(&a, buf, sizeof(buf));
                aml_name_string(&a, bad_names[i]);
                assert_int_equal(finish_rc(&a), -EINVAL);
        }
        aml_init(&a, buf, sizeof(buf));
        aml_device(&a, "DEV0"); /* never closed */
        assert_int_equal(finish_rc(&a), -EINVAL);
        aml_init(&a, buf, sizeof(buf));
        aml_close(&a); /* nothing open */
        assert_int_equal(finish_rc(&a), -EINVAL);
        aml_init(&a, buf, sizeof(buf));
        aml_eisa_id(&a, "PNP050G");
        assert_int_equal(finish_rc(&a), -EINVAL);
        aml_init(&a, buf, sizeof(buf));
        aml_arg(&a, 7);
        assert_int_equal(finish_rc(&a), -EINVAL);
        aml_init(&a, buf, 4); /* the error sticks: later calls change nothing */
        aml_string(&a, "LNRO0005");
        aml_one(&a);
        assert_int_equal(finish_rc(&a), -ENOSPC);
        aml_init(&a, buf, 3); /* the PkgLength no longer fits when closing */
        aml_package(&a, 1);
        aml_one(&a);
        aml_close(&a);
        assert_int_equal(finish_rc(&a), -ENOSPC);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_name_with_byte),
            cmocka_unit_test(test_integers_and_string),
            cmocka_unit_test(test_eisa_id),
            cmocka_unit_test(test_name_strings),
            cmocka_unit_test(test_device_pkg_length),
            cmocka_unit_test(test_method_return),
            cmocka_unit_test(test_method_if_notify),
            cmocka_unit_test(test_resource_template),
            cmocka_unit_test(test_descriptors),
            cmocka_unit_test(test_pkg_length_forms),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_qword_memory),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
