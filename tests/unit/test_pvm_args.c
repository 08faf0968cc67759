/* Unit tests for the kvm_pvm kernel arguments brasa appends: which ones a user already gave. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/pvm_args.h"

static void test_plain_firecracker_args_get_all(void **state)
{
        char add[512], skipped[512];

        (void)state;
        assert_int_equal(pvm_args_missing("console=ttyS0 reboot=k panic=1", add, sizeof(add),
                                          skipped, sizeof(skipped)),
                         0);
        assert_string_equal(add, pvm_boot_args);
        assert_string_equal(skipped, "");
}

static void test_no_user_args(void **state)
{
        char add[512], skipped[512];

        (void)state;
        assert_int_equal(pvm_args_missing(NULL, add, sizeof(add), skipped, sizeof(skipped)), 0);
        assert_string_equal(add, pvm_boot_args);
}

static void test_given_words_are_skipped_by_key(void **state)
{
        char add[512], skipped[512];

        (void)state;
        /* The user's clearcpuid= wins, whatever its list: brasa never adds a second one. */
        assert_int_equal(pvm_args_missing("console=ttyS0 clearcpuid=popcnt\tnoxsave", add,
                                          sizeof(add), skipped, sizeof(skipped)),
                         0);
        assert_string_equal(add, "");
        assert_non_null(strstr(skipped, "noxsave"));
        assert_non_null(strstr(skipped, "clearcpuid="));
}

static void test_prefixes_are_not_keys(void **state)
{
        char add[512], skipped[512];

        (void)state;
        /* "noxsaves" and "xclearcpuid=" are other options: brasa still adds its own. */
        assert_int_equal(pvm_args_missing("noxsaves xclearcpuid=1 noxsave=", add, sizeof(add),
                                          skipped, sizeof(skipped)),
                         0);
        assert_string_equal(skipped, "noxsave");
        assert_true(strncmp(add, "clearcpuid=", 11) == 0);
}

static void test_small_buffer(void **state)
{
        char add[8], skipped[512];

        (void)state;
        assert_int_equal(pvm_args_missing("", add, sizeof(add), skipped, sizeof(skipped)), -E2BIG);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plain_firecracker_args_get_all),
            cmocka_unit_test(test_no_user_args),
            cmocka_unit_test(test_given_words_are_skipped_by_key),
            cmocka_unit_test(test_prefixes_are_not_keys),
            cmocka_unit_test(test_small_buffer),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
