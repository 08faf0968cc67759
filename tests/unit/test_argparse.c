/* Unit tests for core/argparse: Firecracker's arg_parser rules and texts, --help, "--". */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/argparse.h"

/* A table like main's, deliberately not in name order. */
static struct arg_spec specs[6];

static void reset(void)
{
        const struct arg_spec init[] = {
            {.name = "seccomp-filter", .takes_value = true, .forbids = "no-seccomp"},
            {.name = "no-seccomp", .forbids = "seccomp-filter"},
            {.name = "id", .takes_value = true},
            {.name = "no-api", .requires = "config-file"},
            {.name = "config-file", .takes_value = true},
            {.name = "boot-timer"},
        };

        memcpy(specs, init, sizeof(init));
}

#define N (sizeof(specs) / sizeof(specs[0]))

static int parse(struct arg_fault *f, int *extra, int argc, ...)
{
        static char prog[] = "brasa";
        char *argv[16] = {prog};
        va_list ap;
        int i;

        reset();
        va_start(ap, argc);
        for (i = 1; i < argc; i++)
                argv[i] = va_arg(ap, char *);
        va_end(ap);
        return argparse(specs, N, argc, argv, extra, f);
}

static void expect_fault(const struct arg_fault *f, const char *text, const char *debug)
{
        char buf[256];

        arg_fault_text(f, buf, sizeof(buf));
        assert_string_equal(buf, text);
        arg_fault_debug(f, buf, sizeof(buf));
        assert_string_equal(buf, debug);
}

static void test_values_and_switches(void **state)
{
        struct arg_fault f;
        int extra;

        (void)state;
        /* A value may start with one '-'. */
        assert_int_equal(
            parse(&f, &extra, 6, "--id", "vm-1", "--boot-timer", "--config-file", "-x", "--no-api"),
            0);
        assert_true(arg_find(specs, N, "boot-timer")->present);
        assert_string_equal(arg_find(specs, N, "id")->value, "vm-1");
        assert_string_equal(arg_find(specs, N, "config-file")->value, "-x");
        assert_false(arg_find(specs, N, "no-seccomp")->present);
        assert_int_equal(extra, 6);
}

static void test_duplicate(void **state)
{
        struct arg_fault f;

        (void)state;
        assert_int_equal(parse(&f, NULL, 5, "--id", "a", "--id", "b"), -EINVAL);
        expect_fault(&f, "The argument 'id' was provided more than once.",
                     "DuplicateArgument(\"id\")");
        assert_int_equal(parse(&f, NULL, 3, "--boot-timer", "--boot-timer"), -EINVAL);
        expect_fault(&f, "The argument 'boot-timer' was provided more than once.",
                     "DuplicateArgument(\"boot-timer\")");
}

static void test_unexpected_and_missing_value(void **state)
{
        struct arg_fault f;

        (void)state;
        assert_int_equal(parse(&f, NULL, 2, "--bogus"), -EINVAL);
        expect_fault(&f,
                     "Found argument 'bogus' which wasn't expected, or isn't valid in this "
                     "context.",
                     "UnexpectedArgument(\"bogus\")");
        /* No "--name=value" form in Firecracker's parser. */
        assert_int_equal(parse(&f, NULL, 2, "--id=x"), -EINVAL);
        expect_fault(&f,
                     "Found argument 'id=x' which wasn't expected, or isn't valid in this "
                     "context.",
                     "UnexpectedArgument(\"id=x\")");
        /* A token without "--" is shown whole. */
        assert_int_equal(parse(&f, NULL, 2, "stray\"q"), -EINVAL);
        expect_fault(&f,
                     "Found argument 'stray\"q' which wasn't expected, or isn't valid in this "
                     "context.",
                     "UnexpectedArgument(\"stray\\\"q\")");
        assert_int_equal(parse(&f, NULL, 2, "--id"), -EINVAL);
        expect_fault(&f, "The argument 'id' requires a value, but none was supplied.",
                     "MissingValue(\"id\")");
        /* A value may not start with "--". */
        assert_int_equal(parse(&f, NULL, 3, "--id", "--boot-timer"), -EINVAL);
        expect_fault(&f, "The argument 'id' requires a value, but none was supplied.",
                     "MissingValue(\"id\")");
}

static void test_requires_and_forbids(void **state)
{
        struct arg_fault f;

        (void)state;
        assert_int_equal(parse(&f, NULL, 2, "--no-api"), -EINVAL);
        expect_fault(&f, "Argument 'config-file' required, but not found.",
                     "MissingArgument(\"config-file\")");
        /* Checked in name order: no-seccomp before seccomp-filter, whatever the argv order. */
        assert_int_equal(parse(&f, NULL, 4, "--seccomp-filter", "f", "--no-seccomp"), -EINVAL);
        expect_fault(&f,
                     "Argument 'seccomp-filter' cannot be used together with argument "
                     "'no-seccomp'.",
                     "ForbiddenArgument(\"no-seccomp\", \"seccomp-filter\")");
        /* no-api's missing config-file is found before the forbidden pair ("no-api" first). */
        assert_int_equal(parse(&f, NULL, 5, "--no-seccomp", "--seccomp-filter", "f", "--no-api"),
                         -EINVAL);
        assert_int_equal(f.kind, ARG_MISSING_ARGUMENT);
}

static void test_help_and_version_win(void **state)
{
        struct arg_fault f;

        (void)state;
        assert_int_equal(parse(&f, NULL, 4, "--bogus", "--id", "-h"), ARGPARSE_HELP);
        assert_int_equal(parse(&f, NULL, 3, "--version", "--help"), ARGPARSE_HELP);
        assert_int_equal(parse(&f, NULL, 3, "--id", "--version"), ARGPARSE_VERSION);
        /* After "--" they are extra arguments, not flags. */
        assert_int_equal(parse(&f, NULL, 3, "--", "--help"), 0);
}

static void test_extra_args_ignored(void **state)
{
        struct arg_fault f;
        int extra;

        (void)state;
        assert_int_equal(parse(&f, &extra, 6, "--boot-timer", "--", "--id", "--id", "junk"), 0);
        assert_int_equal(extra, 3);
        assert_false(arg_find(specs, N, "id")->present);
        /* "--" cuts a flag's value off. */
        assert_int_equal(parse(&f, &extra, 4, "--id", "--", "x"), -EINVAL);
        assert_int_equal(f.kind, ARG_MISSING_VALUE);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_values_and_switches),
            cmocka_unit_test(test_duplicate),
            cmocka_unit_test(test_unexpected_and_missing_value),
            cmocka_unit_test(test_requires_and_forbids),
            cmocka_unit_test(test_help_and_version_win),
            cmocka_unit_test(test_extra_args_ignored),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
