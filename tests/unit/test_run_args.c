/* Unit tests for `brasa run`'s flags and the config file they make. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "model/run_args.h"

/* run_args_parse() on "run" and the NULL-terminated words after e. */
static int parse(struct run_args *ra, struct err *e, ...)
{
        static char prog[] = "run";
        char *argv[32] = {prog};
        va_list ap;
        int argc = 1;

        va_start(ap, e);
        while ((argv[argc] = va_arg(ap, char *)) != NULL)
                argc++;
        va_end(ap);
        return run_args_parse(argc, argv, ra, e);
}

static void test_defaults(void **state)
{
        struct err e = ERR_INIT;
        struct run_args ra;
        char *text;
        json_t *v;

        (void)state;
        assert_int_equal(parse(&ra, &e, "--kernel", "k", NULL), 0);
        assert_int_equal(ra.cpus, 1);
        assert_int_equal(ra.mem_mib, 128);
        assert_string_equal(ra.cmdline, RUN_ARGS_DEFAULT_CMDLINE);
        assert_int_equal(run_args_config(&ra, &text), 0);
        v = json_loads(text, 0, NULL);
        assert_non_null(v);
        assert_int_equal(json_object_size(v), 2); /* boot-source and machine-config only */
        assert_string_equal(json_string_value(json_object_get(json_object_get(v, "boot-source"),
                                                              "kernel_image_path")),
                            "k");
        json_decref(v);
        free(text);
}

static void test_devices(void **state)
{
        struct err e = ERR_INIT;
        struct run_args ra;
        char *text;
        json_t *v, *d, *n;

        (void)state;
        assert_int_equal(parse(&ra, &e, "--kernel", "k", "--rootfs", "r", "--tap", "t0", "--mac",
                               "06:00:ac:10:00:02", "--cpus", "32", "--mem", "4096", NULL),
                         0);
        assert_int_equal(run_args_config(&ra, &text), 0);
        v = json_loads(text, 0, NULL);
        d = json_array_get(json_object_get(v, "drives"), 0);
        n = json_array_get(json_object_get(v, "network-interfaces"), 0);
        assert_true(json_is_true(json_object_get(d, "is_root_device")));
        assert_string_equal(json_string_value(json_object_get(d, "path_on_host")), "r");
        assert_string_equal(json_string_value(json_object_get(n, "host_dev_name")), "t0");
        assert_string_equal(json_string_value(json_object_get(n, "guest_mac")),
                            "06:00:ac:10:00:02");
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(v, "machine-config"), "vcpu_count")),
            32);
        json_decref(v);
        free(text);
}

static void test_bad_values(void **state)
{
        struct err e = ERR_INIT;
        struct run_args ra;

        (void)state;
        assert_int_equal(parse(&ra, &e, "--cpus", "1", NULL), -EINVAL);
        assert_string_equal(e.msg, "--kernel PATH is required");
        assert_int_equal(parse(&ra, &e, "--kernel", "k", "--cpus", "-1", NULL), -EINVAL);
        assert_non_null(strstr(e.msg, "--cpus"));
        assert_int_equal(parse(&ra, &e, "--kernel", "k", "--mem", "99999999999999999999", NULL),
                         -EINVAL);
        assert_non_null(strstr(e.msg, "--mem"));
        assert_int_equal(
            parse(&ra, &e, "--kernel", "k", "--tap", "t", "--mac", "0g:00:00:00:00:00", NULL),
            -EINVAL);
        assert_non_null(strstr(e.msg, "--mac"));
        assert_int_equal(
            parse(&ra, &e, "--kernel", "k", "--tap", "t", "--mac", "06:00:ac:10:00:02:", NULL),
            -EINVAL);
        assert_int_equal(parse(&ra, &e, "--help", NULL), RUN_ARGS_HELP);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_devices),
            cmocka_unit_test(test_bad_values),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
