/* Unit tests for core/metrics: the generic group writer, take/add and the process line. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/metrics.h"

#define TEST_METRICS(X, T)                                                                         \
        X(T, COUNTER, b_count)                                                                     \
        X(T, GAUGE, a_gauge)                                                                       \
        X(T, LATENCY, agg)                                                                         \
        X(T, COUNTER, a_fails)

struct test_metrics {
        TEST_METRICS(METRICS_FIELD_PLAIN, _)
};

static const struct metrics_desc test_desc[] = {TEST_METRICS(METRICS_DESC, struct test_metrics)};
static const struct metrics_table test_table = METRICS_TABLE(test_desc, struct test_metrics);

static char *dump(json_t *root)
{
        char *s = json_dumps(root, JSON_COMPACT);

        assert_non_null(s);
        return s;
}

static void test_write_deltas_in_order(void **state)
{
        struct test_metrics cur = {.b_count = 5, .a_gauge = 7, .a_fails = 1}, prev = {0};
        json_t *root = json_object();
        char *s;

        (void)state;
        metric_latency_record(&cur.agg, 30);
        metric_latency_record(&cur.agg, 10);
        assert_int_equal(metrics_group_write(root, "g", &test_table, &cur, &prev), 0);
        s = dump(root);
        assert_string_equal(s, "{\"g\":{\"b_count\":5,\"a_gauge\":7,\"agg\":{\"min_us\":10,"
                               "\"max_us\":30,\"sum_us\":40},\"a_fails\":1}}");
        free(s);
        assert_int_equal(prev.b_count, 5);
        assert_int_equal(prev.a_fails, 1);
        assert_int_equal(prev.a_gauge, 0); /* gauges have no baseline */
        /* The next line: only what happened since; the group keeps its key's place. */
        json_object_set_new(root, "after", json_true());
        cur.b_count = 8;
        cur.a_gauge = 2;
        metric_latency_record(&cur.agg, 5);
        assert_int_equal(metrics_group_write(root, "g", &test_table, &cur, &prev), 0);
        s = dump(root);
        /* Firecracker's LatencyAggregateMetrics: min and max for the whole run, sum since. */
        assert_string_equal(s, "{\"g\":{\"b_count\":3,\"a_gauge\":2,\"agg\":{\"min_us\":5,"
                               "\"max_us\":30,\"sum_us\":5},\"a_fails\":0},\"after\":true}");
        free(s);
        /* A counter below its baseline (the device was reset) is written as it is. */
        cur.b_count = 2;
        assert_int_equal(metrics_group_write(root, "g", &test_table, &cur, &prev), 0);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "g"), "b_count")),
                         2);
        json_decref(root);
}

static void test_write_without_baseline(void **state)
{
        struct test_metrics cur = {.b_count = 4, .a_fails = 9};
        json_t *root = json_object();
        char *s;

        (void)state;
        assert_int_equal(metrics_group_write(root, "x", &test_table, &cur, NULL), 0);
        s = dump(root);
        assert_string_equal(s, "{\"x\":{\"b_count\":4,\"a_gauge\":0,\"agg\":{\"min_us\":0,"
                               "\"max_us\":0,\"sum_us\":0},\"a_fails\":9}}");
        free(s);
        json_decref(root);
}

static void test_take_and_add(void **state)
{
        struct test_metrics cur = {.b_count = 10, .a_gauge = 3}, prev = {.b_count = 4}, d, sum;

        (void)state;
        metric_latency_record(&cur.agg, 5);
        metrics_take(&test_table, &cur, &prev, &d);
        assert_int_equal(d.b_count, 6);
        assert_int_equal(d.a_gauge, 3);
        assert_int_equal(d.agg.count, 1);
        assert_int_equal(d.agg.min_us, 5);
        assert_int_equal(cur.agg.count, 0); /* each aggregate covers one line */
        assert_int_equal(prev.b_count, 10);
        memset(&sum, 0, sizeof(sum));
        metrics_add(&test_table, &sum, &d);
        d.agg = (struct metric_latency){.min_us = 2, .max_us = 9, .sum_us = 11, .count = 2};
        metrics_add(&test_table, &sum, &d);
        assert_int_equal(sum.b_count, 12);
        assert_int_equal(sum.agg.min_us, 2);
        assert_int_equal(sum.agg.max_us, 9);
        assert_int_equal(sum.agg.sum_us, 16);
        assert_int_equal(sum.agg.count, 3);
}

static json_t *last_line(FILE *f)
{
        char buf[16384], last[16384] = "";

        rewind(f);
        while (fgets(buf, sizeof(buf), f))
                memcpy(last, buf, sizeof(last));
        return json_loads(last, 0, NULL);
}

static void test_flush_line(void **state)
{
        char path[] = "/tmp/brasa-test-metrics-XXXXXX";
        int fd = mkstemp(path);
        FILE *f;
        json_t *l;
        const char *first;

        (void)state;
        assert_true(fd >= 0);
        assert_int_equal(metrics_flush(), 0); /* not configured */
        assert_int_equal(metrics_init(path), 0);
        assert_int_equal(metrics_init(path), -EALREADY);
        metrics_inc(&metrics.put_api_requests.actions_count);
        metrics_store(&metrics.vmm.panic_count, 3);
        assert_int_equal(metrics_flush(), 1);
        f = fdopen(fd, "r");
        assert_non_null(f);
        l = last_line(f);
        assert_non_null(l);
        first = json_object_iter_key(json_object_iter(l));
        assert_string_equal(first, "utc_timestamp_ms");
        assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "put_api_requests"),
                                                            "actions_count")),
                         1);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(l, "vmm"), "panic_count")), 3);
        json_decref(l);
        assert_int_equal(metrics_flush(), 1); /* counters restart, gauges stay */
        l = last_line(f);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(l, "put_api_requests"),
                                                            "actions_count")),
                         0);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(l, "vmm"), "panic_count")), 3);
        json_decref(l);
        fclose(f);
        unlink(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_write_deltas_in_order),
            cmocka_unit_test(test_write_without_baseline),
            cmocka_unit_test(test_take_and_add),
            cmocka_unit_test(test_flush_line),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
