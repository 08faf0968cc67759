/* Unit tests for core/textpages (dropping read-only segment pages) and core/timeline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "core/textpages.h"
#include "core/timeline.h"

static const char constant_text[] = "read-only data that must read back the same";
static char written[64] = "a written segment: never dropped";

static void test_release_keeps_code_and_data(void **state)
{
        (void)state;
        strcat(written, "!");
        /* The code, the constants and the written data all work after the pages went (this
         * small test binary has few whole pages to drop: brasa's own run is the real test). */
        assert_int_equal(textpages_release() % 4096, 0);
        assert_string_equal(constant_text, "read-only data that must read back the same");
        assert_string_equal(written, "a written segment: never dropped!");
        assert_int_equal(textpages_release() % 4096, 0); /* again: nothing breaks */
}

static void test_timeline_line(void **state)
{
        char line[512];
        unsigned int vals[6];
        int n;

        (void)state;
        timeline_start();
        timeline_mark(TL_INSTANCE_START);
        timeline_mark(TL_KVM_READY);
        timeline_mark(TL_KVM_READY); /* the first mark wins */
        timeline_mark(TL_GUEST);
        timeline_mark((enum timeline_phase)99); /* out of range: ignored */
        timeline_format(line, sizeof(line));
        assert_non_null(strstr(line, "api_ready=- "));
        assert_non_null(strstr(line, "kernel_loaded=- first_kvm_run=- "));
        assert_non_null(strstr(line, "set-up thread: done=- work=0"));
        n = sscanf(strstr(line, "instance_start="), "instance_start=%u kvm_ready=%u", &vals[0],
                   &vals[1]);
        assert_int_equal(n, 2);
        assert_true(vals[0] <= vals[1]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_release_keeps_code_and_data),
            cmocka_unit_test(test_timeline_line),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
