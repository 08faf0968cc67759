/* Unit tests for model/mmds_data: serde_json's parse errors for --metadata, and the store's size.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "model/mmds_data.h"

static void expect_error(const char *text, const char *msg)
{
        struct err e = ERR_INIT;
        json_t *v = NULL;

        assert_int_equal(mmds_data_parse(text, strlen(text), &v, &e), -EBADMSG);
        assert_null(v);
        assert_string_equal(e.msg, msg);
}

static void test_eof(void **state)
{
        (void)state;
        expect_error("{\n  \"a\": {\"b\": 1}\n\n",
                     "Error(\"EOF while parsing an object\", line: 4, column: 0)");
        expect_error("{\"a\": 1, \"b\"",
                     "Error(\"EOF while parsing an object\", line: 1, column: 12)");
        expect_error("{\"a\": 1,", "Error(\"EOF while parsing an object\", line: 1, column: 8)");
        expect_error("[", "Error(\"EOF while parsing a list\", line: 1, column: 1)");
        expect_error("[1, {}, ", "Error(\"EOF while parsing a list\", line: 1, column: 8)");
        expect_error("{\"a\": [\"x", "Error(\"EOF while parsing a string\", line: 1, column: 9)");
        expect_error("\"esc \\\"", "Error(\"EOF while parsing a string\", line: 1, column: 7)");
        expect_error("{\"a\":  ", "Error(\"EOF while parsing a value\", line: 1, column: 7)");
        expect_error("[nul", "Error(\"EOF while parsing a value\", line: 1, column: 4)");
        expect_error("{\"a\": -", "Error(\"EOF while parsing a value\", line: 1, column: 7)");
        expect_error("  \n ", "Error(\"EOF while parsing a value\", line: 2, column: 1)");
        /* a brace inside a string is no container */
        expect_error("{\"a\": \"{[\"",
                     "Error(\"EOF while parsing an object\", line: 1, column: 10)");
}

static void test_other_errors_keep_the_shape(void **state)
{
        struct err e = ERR_INIT;
        json_t *v = NULL;

        (void)state;
        assert_int_equal(mmds_data_parse("{\"a\" 1}", 7, &v, &e), -EBADMSG);
        assert_true(strncmp(e.msg, "Error(\"", 7) == 0);
        assert_non_null(strstr(e.msg, "\", line: 1, column: "));
        assert_null(strstr(e.msg, "EOF"));
}

static void test_values(void **state)
{
        struct err e = ERR_INIT;
        json_t *v = NULL;

        (void)state;
        /* any value; duplicate keys allowed, the last one wins (serde_json::Value) */
        assert_int_equal(mmds_data_parse("{\"a\": 1, \"a\": [true, null]}", 27, &v, &e), 0);
        assert_true(json_is_array(json_object_get(v, "a")));
        json_decref(v);
        assert_int_equal(mmds_data_parse(" 42 ", 4, &v, &e), 0);
        assert_int_equal(json_integer_value(v), 42);
        json_decref(v);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_eof),
            cmocka_unit_test(test_other_errors_keep_the_shape),
            cmocka_unit_test(test_values),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
