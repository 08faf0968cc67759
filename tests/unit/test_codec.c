/* Unit tests for the model codec (src/model/codec.c): decode, defaults, PATCH, encode, release. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "model/codec.h"

/* A small struct with one field of each kind the codec stores. */
struct inner {
        uint64_t size;
        uint16_t small;
};

struct thing {
        char *id;
        uint8_t count;
        uint32_t big;
        bool flag;
        unsigned int color;
        bool has_inner;
        struct inner inner;
        struct mstrings names;
        bool has_opt;
        uint16_t opt;
};

static const struct mfield inner_fields[] = {
    F(struct inner, size, "size", mt_u64, MF_REQUIRED),
    F_DFLT(struct inner, small, "small", mt_u16, 0, 7),
};
static const struct model inner_model = MODEL("struct Inner", inner_fields, true);

static const char *const colors[] = {"Red", "Green", "Blue", NULL};

#define T struct thing
static const struct mfield thing_fields[] = {
    F(T, id, "id", mt_str, MF_REQUIRED),
    F_DFLT(T, count, "count", mt_u8, 0, 3),
    F(T, big, "big", mt_u32, MF_OPTION),
    F(T, flag, "flag", mt_bool, 0),
    F_ENUM(T, color, "color", 0, colors, "enum Color", 2),
    F_SUB(T, inner, "inner", mt_object, MF_OPTION, &inner_model, has_inner),
    F(T, names, "names", mt_strings, 0),
    {MFIELD(T, opt, "opt", mt_u16, MF_OPTION | MF_OMIT_UNSET), .has = offsetof(T, has_opt)},
};
static const struct model thing_model = MODEL("struct Thing", thing_fields, false);

static struct err fault;

static int decode(const char *text, struct thing *t, bool patch)
{
        struct perr pe = PERR_API(&fault);
        json_error_t jerr;
        json_t *j = model_loadb(text, strlen(text), JSON_REJECT_DUPLICATES, &jerr);
        struct json_src src = {text, strlen(text), j};
        int rc;

        if (!j)
                fail_msg("bad test JSON %s: %s", text, jerr.text);
        pe.src = &src;
        err_clear(&fault);
        rc = model_decode(&pe, &thing_model, j, t, patch);
        json_decref(j);
        return rc;
}

static void fails(const char *text, const char *want)
{
        struct thing t;

        memset(&t, 0, sizeof(t));
        assert_int_equal(decode(text, &t, false), -EBADMSG);
        assert_string_equal(fault.msg, want);
        assert_null(t.id);
}

static void test_defaults(void **state)
{
        struct thing t;

        (void)state;
        memset(&t, 0xff, sizeof(t));
        memset(&t.id, 0, sizeof(t.id));
        memset(&t.names, 0, sizeof(t.names));
        assert_int_equal(decode("{\"id\": \"a\"}", &t, false), 0);
        assert_string_equal(t.id, "a");
        assert_int_equal(t.count, 3);
        assert_int_equal(t.big, 0);
        assert_false(t.flag);
        assert_int_equal(t.color, 2);
        assert_false(t.has_inner);
        assert_int_equal(t.inner.size, 0);
        assert_int_equal(t.names.n, 0);
        assert_false(t.has_opt);
        model_release(&thing_model, &t);
        assert_null(t.id);
}

static void test_values(void **state)
{
        struct thing t;
        char *text;
        json_t *j;

        (void)state;
        memset(&t, 0, sizeof(t));
        assert_int_equal(
            decode("{\"id\": \"b\", \"count\": 255, \"big\": 4294967295, \"flag\": true, "
                   "\"color\": \"Green\", \"inner\": {\"size\": 9, \"x\": 1}, "
                   "\"names\": [\"p\", \"q\"], \"opt\": 5}",
                   &t, false),
            0);
        assert_int_equal(t.count, 255);
        assert_int_equal(t.big, 4294967295u);
        assert_true(t.flag);
        assert_int_equal(t.color, 1);
        assert_true(t.has_inner);
        assert_int_equal(t.inner.size, 9);
        assert_int_equal(t.inner.small, 7);
        assert_int_equal(t.names.n, 2);
        assert_string_equal(t.names.v[1], "q");
        assert_true(t.has_opt);
        j = model_encode(&thing_model, &t);
        text = json_dumps(j, JSON_PRESERVE_ORDER | JSON_COMPACT);
        assert_string_equal(text, "{\"id\":\"b\",\"count\":255,\"big\":4294967295,\"flag\":true,"
                                  "\"color\":\"Green\",\"inner\":{\"size\":9,\"small\":7},"
                                  "\"names\":[\"p\",\"q\"],\"opt\":5}");
        free(text);
        json_decref(j);
        model_release(&thing_model, &t);
        assert_null(t.names.v);
}

static void test_patch_keeps_absent_fields(void **state)
{
        struct thing t;

        (void)state;
        memset(&t, 0, sizeof(t));
        t.count = 9;
        t.color = 0;
        assert_int_equal(decode("{\"flag\": true, \"big\": null}", &t, true), 0);
        assert_int_equal(t.count, 9); /* not given: kept */
        assert_int_equal(t.color, 0);
        assert_true(t.flag);
        assert_null(t.id); /* required only with PUT */
        model_release(&thing_model, &t);
}

static void test_errors(void **state)
{
        (void)state;
        fails("[]", "invalid type: sequence, expected struct Thing at line 1 column 2");
        fails("{\"id\": \"a\", \"nope\": 1}",
              "unknown field `nope`, expected one of `id`, `count`, `big`, `flag`, `color`, "
              "`inner`, `names`, `opt` at line 1 column 18");
        fails("{}", "missing field `id` at line 1 column 2");
        fails("{\"id\": 1}", "invalid type: integer `1`, expected a string at line 1 column 8");
        fails("{\"id\": \"a\", \"count\": 256}",
              "invalid value: integer `256`, expected u8 at line 1 column 24");
        fails("{\"id\": \"a\", \"count\": -1}",
              "invalid value: integer `-1`, expected u8 at line 1 column 23");
        fails("{\"id\": \"a\", \"count\": 1.5}",
              "invalid type: floating point `1.5`, expected u8 at line 1 column 24");
        fails("{\"id\": \"a\", \"count\": null}",
              "invalid type: null, expected u8 at line 1 column 25");
        fails("{\"id\": \"a\", \"color\": \"Pink\"}",
              "unknown variant `Pink`, expected one of `Red`, `Green`, `Blue` at line 1 column 27");
        fails("{\"id\": \"a\", \"inner\": 3}",
              "invalid type: integer `3`, expected struct Inner at line 1 column 22");
        fails("{\"id\": \"a\", \"inner\": {}}", "missing field `size` at line 1 column 23");
        fails("{\"id\": \"a\", \"names\": [1]}",
              "invalid type: integer `1`, expected a string at line 1 column 23");
        fails("{\"id\": \"a\", \"flag\": \"yes\"}",
              "invalid type: string \"yes\", expected a boolean at line 1 column 25");
        /* A type error comes before a missing field, in document order. */
        fails("{\"count\": \"x\"}", "invalid type: string \"x\", expected u8 at line 1 column 13");
}

/* serde_json counts lines from 1 and columns as the bytes read on the line; blanks and
 * nesting move the point, and a string's escaped quotes do not end it. */
static void test_positions(void **state)
{
        (void)state;
        fails("{\n  \"id\": \"a\",\n  \"inner\": {\"size\": 1, \"small\": true}\n}",
              "invalid type: boolean `true`, expected u16 at line 3 column 36");
        fails("{\"id\": \"a\\\"b\", \"names\": [\"p\", {}]}",
              "invalid type: map, expected a string at line 1 column 32");
        fails("{\"id\": \"a\",\n\"inner\": {\"x\": 1}\n  }",
              "missing field `size` at line 2 column 17");
        fails("\t{ \"id\" : \"a\" ,\r\n \"zz\" : 1}",
              "unknown field `zz`, expected one of `id`, `count`, `big`, `flag`, `color`, "
              "`inner`, `names`, `opt` at line 2 column 5");
}

/* serde reads integers up to u64::MAX, larger ones as floats; GET shows them back whole. */
static void test_u64_range(void **state)
{
        struct thing t;
        char *text;
        json_t *j;

        (void)state;
        memset(&t, 0, sizeof(t));
        assert_int_equal(decode("{\"id\": \"a\", \"count\": 7, \"inner\": "
                                "{\"size\": 18446744073709551615}}",
                                &t, false),
                         0);
        assert_int_equal(t.inner.size, UINT64_MAX);
        assert_int_equal(t.count, 7); /* small ones still read right in that mode */
        j = model_encode(&thing_model, &t);
        text = model_dumps(j);
        assert_non_null(strstr(text, "{\"size\":18446744073709551615,\"small\":7}"));
        assert_non_null(strstr(text, "\"count\":7,"));
        free(text);
        json_decref(j);
        model_release(&thing_model, &t);
        fails("{\"id\": \"a\", \"inner\": {\"size\": 18446744073709551616}}",
              "invalid type: floating point `18446744073709552000.0`, expected u64 at line 1 "
              "column 50");
        fails("{\"id\": \"a\", \"big\": 18446744073709551615}",
              "invalid value: integer `18446744073709551615`, expected u32 at line 1 column 39");
        fails("{\"id\": \"a\", \"count\": -9223372036854775809}",
              "invalid type: floating point `-9223372036854776000.0`, expected u8 at line 1 "
              "column 41");
        fails("{\"id\": 18446744073709551615}",
              "invalid type: integer `18446744073709551615`, expected a string at line 1 column "
              "27");
        fails("{\"id\": \"a\", \"count\": 1e-7}",
              "invalid type: floating point `0.0000001`, expected u8 at line 1 column 25");
        fails("{\"id\": \"a\", \"count\": 1e23}",
              "invalid type: floating point `100000000000000000000000.0`, expected u8 at line 1 "
              "column 25");
}

static void test_file_context(void **state)
{
        struct perr pe = {&fault, "things", true, NULL, NULL};
        const char *text = "{\"id\": \"a\", \"big\": true}";
        json_t *j = json_loads(text, 0, NULL);
        struct json_src src = {text, strlen(text), j};
        struct thing t;

        (void)state;
        pe.src = &src;
        memset(&t, 0, sizeof(t));
        assert_int_equal(model_decode(&pe, &thing_model, j, &t, false), -EBADMSG);
        assert_string_equal(fault.msg, "Invalid JSON: invalid type: boolean `true`, expected u32 "
                                       "at line 1 column 23");
        json_decref(j);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_values),
            cmocka_unit_test(test_patch_keeps_absent_fields),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_positions),
            cmocka_unit_test(test_u64_range),
            cmocka_unit_test(test_file_context),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
