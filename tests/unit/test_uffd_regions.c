/* The Uffd handshake's region JSON: Firecracker's exact text, and a buffer too small refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/uffd_regions.h"

static const struct uffd_region two[] = {
    {.base_host_virt_addr = 140737488347136ull,
     .size = 0xc0000000ull,
     .offset = 0,
     .page_size = 4096},
    {.base_host_virt_addr = 140740709572608ull,
     .size = 0x40000000ull,
     .offset = 0xc0000000ull,
     .page_size = 4096},
};

static const char two_json[] =
    "[{\"base_host_virt_addr\":140737488347136,\"size\":3221225472,\"offset\":0,"
    "\"page_size\":4096,\"page_size_kib\":4096},"
    "{\"base_host_virt_addr\":140740709572608,\"size\":1073741824,\"offset\":3221225472,"
    "\"page_size\":4096,\"page_size_kib\":4096}]";

static void writes_serde_text(void **state)
{
        char buf[512];

        (void)state;
        assert_int_equal(uffd_regions_json(two, 2, buf, sizeof(buf)), (int)strlen(two_json));
        assert_string_equal(buf, two_json);
}

static void huge_pages_in_bytes(void **state)
{
        const struct uffd_region r = {
            .base_host_virt_addr = 4096, .size = 2097152, .page_size = 2097152};
        char buf[256];

        (void)state;
        assert_true(uffd_regions_json(&r, 1, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "[{\"base_host_virt_addr\":4096,\"size\":2097152,\"offset\":0,"
                                 "\"page_size\":2097152,\"page_size_kib\":2097152}]");
}

static void empty_list(void **state)
{
        char buf[4];

        (void)state;
        assert_int_equal(uffd_regions_json(NULL, 0, buf, sizeof(buf)), 2);
        assert_string_equal(buf, "[]");
}

static void too_small_refused(void **state)
{
        char buf[512];
        size_t cap;

        (void)state;
        /* Every size short of the whole text and its NUL fails, and never writes past cap. */
        for (cap = 1; cap <= strlen(two_json); cap++) {
                memset(buf, 'x', sizeof(buf));
                assert_int_equal(uffd_regions_json(two, 2, buf, cap), -ENOSPC);
                assert_int_equal(buf[cap], 'x');
        }
        assert_int_equal(uffd_regions_json(two, 2, buf, cap), (int)strlen(two_json));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(writes_serde_text),
            cmocka_unit_test(huge_pages_in_bytes),
            cmocka_unit_test(empty_list),
            cmocka_unit_test(too_small_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
