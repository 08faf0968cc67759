/* Unit tests for the device table: add, find, order, reset, metrics by kind, destroy. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/util.h"
#include "vmm/device_mgr.h"
#include "vmm/legacy.h"

/* A device that logs what the table did to it into a shared trace. */
struct fake {
        struct device base;
        char *trace;
        uint64_t count; /* what its metrics op adds into the kind's sum */
};

static struct fake *fake_of(struct device *d)
{
        return container_of(d, struct fake, base);
}

static void note(struct device *d, const char *what)
{
        struct fake *f = fake_of(d);

        strcat(f->trace, what);
        strcat(f->trace, d->id);
        strcat(f->trace, " ");
}

static void fake_reset(struct device *d)
{
        note(d, "reset:");
}

static void fake_destroy(struct device *d)
{
        note(d, "destroy:");
        free(fake_of(d));
}

static void fake_metrics(struct device *d, const struct device_metrics_kind *k, void *sum,
                         json_t *root)
{
        struct fake *f = fake_of(d);
        char key[32];

        assert_int_equal(k->kind, d->kind);
        *(uint64_t *)sum += f->count;
        snprintf(key, sizeof(key), "fake_%s", d->id);
        json_object_set_new(root, key, json_integer((json_int_t)f->count));
}

struct fake_stats {
        uint64_t count;
};
static const struct metrics_desc fake_desc[] = {
    {"count", offsetof(struct fake_stats, count), METRIC_COUNTER}};
static const struct metrics_table fake_table = METRICS_TABLE(fake_desc, struct fake_stats);

static const struct device_ops fake_ops = {
    .reset = fake_reset,
    .destroy = fake_destroy,
    .metrics = fake_metrics,
};
static const struct device_ops bare_ops = {.destroy = fake_destroy};

static const struct device_metrics_kind block_kind = {
    .group = "block",
    .kind = DEVICE_VIRTIO_BLOCK,
    .sum_first = true,
    .table = &fake_table,
};
static const struct device_metrics_kind net_kind = {
    .group = "net",
    .kind = DEVICE_VIRTIO_NET,
    .table = &fake_table,
};

static struct device *fake_new(enum device_kind kind, const char *id, const struct device_ops *ops,
                               uint64_t count, char *trace)
{
        struct fake *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        f->base = (struct device){.kind = kind, .id = id, .ops = ops};
        f->trace = trace;
        f->count = count;
        return &f->base;
}

static void add(struct device_mgr *dm, struct device *d)
{
        struct err e = ERR_INIT;

        assert_int_equal(device_mgr_add(dm, d, &e), 0);
}

static void count_one(struct device *d, void *ctx)
{
        (void)d;
        (*(unsigned int *)ctx)++;
}

static void test_find_and_order(void **state)
{
        struct device_mgr dm;
        char trace[512] = "";
        unsigned int n = 0;

        (void)state;
        device_mgr_init(&dm, NULL, NULL, NULL, NULL);
        add(&dm, fake_new(DEVICE_VIRTIO_BLOCK, "a", &fake_ops, 1, trace));
        add(&dm, fake_new(DEVICE_VIRTIO_NET, "a", &fake_ops, 2, trace));
        add(&dm, fake_new(DEVICE_SERIAL, "com1", &bare_ops, 0, trace));
        assert_int_equal(device_mgr_find(&dm, DEVICE_VIRTIO_NET, "a")->kind, DEVICE_VIRTIO_NET);
        assert_ptr_equal(device_mgr_find(&dm, DEVICE_SERIAL, "com1"), dm.devs[2]);
        assert_null(device_mgr_find(&dm, DEVICE_I8042, "com1"));
        assert_null(device_mgr_find(&dm, DEVICE_VIRTIO_BLOCK, "b"));
        device_mgr_for_each(&dm, count_one, &n);
        assert_int_equal(n, 3);
        device_mgr_reset(&dm); /* the serial has no reset hook */
        assert_string_equal(trace, "reset:a reset:a ");
        trace[0] = '\0';
        device_mgr_destroy(&dm);
        assert_string_equal(trace, "destroy:a destroy:a destroy:com1 ");
        assert_int_equal(dm.nr_devs, 0);
}

static void test_full_table_destroys_the_device(void **state)
{
        struct device_mgr dm;
        struct err e = ERR_INIT;
        char trace[4096] = "";
        unsigned int i;

        (void)state;
        device_mgr_init(&dm, NULL, NULL, NULL, NULL);
        for (i = 0; i < DEVICE_MGR_MAX_DEVS; i++)
                add(&dm, fake_new(DEVICE_BOOT_TIMER, "t", &bare_ops, 0, trace));
        assert_int_equal(device_mgr_add(&dm, fake_new(DEVICE_I8042, "x", &bare_ops, 0, trace), &e),
                         -ENOSPC);
        assert_string_equal(trace, "destroy:x ");
        device_mgr_destroy(&dm);
}

static char *metrics_text(const struct device_mgr *dm, const struct device_metrics_kind *const *k,
                          size_t n)
{
        json_t *root = json_object();
        char *text;

        device_mgr_metrics(dm, k, n, root);
        text = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        return text;
}

static void test_metrics_by_kind(void **state)
{
        static const struct device_metrics_kind *const kinds[] = {&block_kind, &net_kind};
        struct device_mgr dm;
        char trace[512] = "";
        char *text;

        (void)state;
        device_mgr_init(&dm, NULL, NULL, NULL, NULL);
        text = metrics_text(&dm, kinds, ARRAY_SIZE(kinds));
        assert_string_equal(text, "{\"block\":{\"count\":0},\"net\":{\"count\":0}}"); /* zero */
        free(text);
        add(&dm, fake_new(DEVICE_VIRTIO_NET, "n0", &fake_ops, 5, trace));
        add(&dm, fake_new(DEVICE_VIRTIO_BLOCK, "b0", &fake_ops, 1, trace));
        add(&dm, fake_new(DEVICE_VIRTIO_BLOCK, "b1", &fake_ops, 2, trace));
        add(&dm, fake_new(DEVICE_VIRTIO_BLOCK, "b2", &bare_ops, 9, trace)); /* no metrics hook */
        text = metrics_text(&dm, kinds, ARRAY_SIZE(kinds));
        /* The block sum keeps its place before its devices, the net sum comes after them. */
        assert_string_equal(text,
                            "{\"block\":{\"count\":3},\"fake_b0\":1,\"fake_b1\":2,\"fake_n0\":5,"
                            "\"net\":{\"count\":5}}");
        free(text);
        device_mgr_destroy(&dm);
}

static void test_legacy_groups_without_devices(void **state)
{
        static const struct device_metrics_kind *const kinds[] = {&legacy_i8042_metrics_kind,
                                                                  &legacy_uart_metrics_kind};
        struct device_mgr dm;
        char *text;

        (void)state;
        device_mgr_init(&dm, NULL, NULL, NULL, NULL);
        text = metrics_text(&dm, kinds, ARRAY_SIZE(kinds));
        assert_string_equal(text,
                            "{\"i8042\":{\"error_count\":0,\"missed_read_count\":0,"
                            "\"missed_write_count\":0,\"read_count\":0,\"reset_count\":0,"
                            "\"write_count\":0},\"uart\":{\"error_count\":0,\"flush_count\":0,"
                            "\"missed_read_count\":0,\"missed_write_count\":0,\"read_count\":0,"
                            "\"write_count\":0,\"rate_limiter_dropped_bytes\":0}}");
        free(text);
        device_mgr_destroy(&dm);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_find_and_order),
            cmocka_unit_test(test_full_table_destroys_the_device),
            cmocka_unit_test(test_metrics_by_kind),
            cmocka_unit_test(test_legacy_groups_without_devices),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
