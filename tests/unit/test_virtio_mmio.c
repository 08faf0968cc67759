/* Unit tests for the virtio-mmio transport: registers, feature negotiation, the status state
 * machine, queue setup rules, NEEDS_RESET policy, reset and interrupts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/mem_layout.h"
#include "devices/virtio/mmio.h"
#include "vq_driver.h"

#define MEM_SIZE (1ULL << 20)
#define S_ACK    VIRTIO_CONFIG_S_ACKNOWLEDGE
#define S_DRV    VIRTIO_CONFIG_S_DRIVER
#define S_FOK    VIRTIO_CONFIG_S_FEATURES_OK
#define S_DOK    VIRTIO_CONFIG_S_DRIVER_OK
#define S_NR     VIRTIO_CONFIG_S_NEEDS_RESET

struct fx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_dev dev;
        struct virtio_mmio m;
        uint8_t config[12];
        int activations, resets, notifies, config_writes;
        int activate_rc;
};

static struct fx *fx_of(struct virtio_dev *d)
{
        return (struct fx *)(void *)((uint8_t *)d - offsetof(struct fx, dev));
}

static void d_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        struct fx *f = fx_of(d);

        for (uint32_t i = 0; i < len; i++)
                data[i] = off + i < sizeof(f->config) ? f->config[off + i] : 0;
}

static void d_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
        (void)off;
        (void)data;
        (void)len;
        fx_of(d)->config_writes++;
}

static int d_activate(struct virtio_dev *d)
{
        fx_of(d)->activations++;
        return fx_of(d)->activate_rc;
}

static void d_reset(struct virtio_dev *d)
{
        fx_of(d)->resets++;
}

static void d_notify(struct virtio_dev *d, unsigned int q)
{
        (void)q;
        fx_of(d)->notifies++;
}

static int d_snapshot_check(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static const struct virtio_dev_ops ops = {
    .snapshot_check = d_snapshot_check,
    .read_config = d_read_config,
    .write_config = d_write_config,
    .activate = d_activate,
    .reset = d_reset,
    .queue_notify = d_notify,
};

static int setup(void **state)
{
        struct fx *f = test_calloc(1, sizeof(*f));

        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        assert_int_equal(virtio_dev_init(&f->dev, &ops, "dummy", 42,
                                         1ULL << 5 | 1ULL << VIRTIO_RING_F_EVENT_IDX, 2, 16,
                                         &f->mem),
                         0);
        f->dev.irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_int_equal(virtio_dev_open_notify(&f->dev), 0);
        for (unsigned int i = 0; i < sizeof(f->config); i++)
                f->config[i] = (uint8_t)(0xa0 + i);
        virtio_mmio_init(&f->m, &f->dev);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        close(f->dev.irq_fd);
        virtio_dev_fini(&f->dev); /* closes the notify eventfds */
        test_free(f->ram);
        test_free(f);
        return 0;
}

static uint32_t rd(struct fx *f, uint64_t off)
{
        uint8_t b[4];

        virtio_mmio_read(&f->m, off, b, 4);
        return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(struct fx *f, uint64_t off, uint32_t v)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        virtio_mmio_write(&f->m, off, b, 4);
}

/* eventfd counter, drained. */
static uint64_t take(int fd)
{
        uint64_t v = 0;

        if (read(fd, &v, sizeof(v)) != sizeof(v))
                return 0;
        return v;
}

static void negotiate(struct fx *f)
{
        wr(f, VIRTIO_MMIO_STATUS, S_ACK);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 5 | 1u << VIRTIO_RING_F_EVENT_IDX);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
}

static void setup_queue(struct fx *f, uint32_t q, uint32_t size, uint64_t base)
{
        wr(f, VIRTIO_MMIO_QUEUE_SEL, q);
        wr(f, VIRTIO_MMIO_QUEUE_NUM, size);
        wr(f, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)base);
        wr(f, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(base >> 32));
        wr(f, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)(base + 0x1000));
        wr(f, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0);
        wr(f, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(base + 0x2000));
        wr(f, VIRTIO_MMIO_QUEUE_USED_HIGH, 0);
        wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void bring_up(struct fx *f)
{
        negotiate(f);
        setup_queue(f, 0, 16, 0x10000);
        setup_queue(f, 1, 8, 0x20000);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
}

static void test_identity_registers(void **state)
{
        struct fx *f = *state;

        assert_int_equal(rd(f, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
        assert_int_equal(rd(f, VIRTIO_MMIO_VERSION), 2);
        assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_ID), 42);
        assert_int_equal(rd(f, VIRTIO_MMIO_VENDOR_ID), 0);
        wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1u << 5 | 1u << 29);
        wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 always */
        wr(f, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
        assert_int_equal(rd(f, VIRTIO_MMIO_DEVICE_FEATURES), 0);
        wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
        wr(f, VIRTIO_MMIO_QUEUE_SEL, 2);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NUM_MAX), 0); /* no such queue */
        assert_int_equal(rd(f, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffffu);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_NOTIFY), 0); /* write-only: 0 */
}

static void test_odd_accesses_are_harmless(void **state)
{
        struct fx *f = *state;
        uint8_t b[8];

        memset(b, 0xee, sizeof(b));
        virtio_mmio_read(&f->m, VIRTIO_MMIO_MAGIC_VALUE, b, 2); /* registers are 32-bit */
        assert_int_equal(b[0], 0);
        assert_int_equal(b[1], 0);
        virtio_mmio_read(&f->m, 2, b, 4); /* unaligned */
        assert_int_equal(b[0], 0);
        virtio_mmio_read(&f->m, 0x104, b, 8); /* config: any width */
        assert_int_equal(b[0], 0xa4);
        assert_int_equal(b[7], 0xab);
        virtio_mmio_read(&f->m, 0xff8, b, 8); /* past the config: zeros */
        assert_int_equal(b[0], 0);
        b[0] = 1;
        virtio_mmio_write(&f->m, VIRTIO_MMIO_STATUS, b, 1); /* ignored */
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
        wr(f, 0x0f0, 1); /* unknown register */
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
}

static void test_status_state_machine(void **state)
{
        struct fx *f = *state;

        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV); /* skips ACK */
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK); /* a bit may not be cleared */
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
        /* FEATURES_OK without VIRTIO_F_VERSION_1: refused, stays clear. */
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK);
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK);
        /* Features are frozen after FEATURES_OK. */
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 5);
        assert_false(virtio_dev_has_feature(&f->dev, 5));
        /* FAILED may be set at any time. */
        wr(f, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_FAILED);
        assert_true(rd(f, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FAILED);
}

static void test_features_masked(void **state)
{
        struct fx *f = *state;

        wr(f, VIRTIO_MMIO_STATUS, S_ACK);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 1u << 5); /* before DRIVER: ignored */
        assert_false(virtio_dev_has_feature(&f->dev, 5));
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu); /* only offered bits stick */
        assert_true(virtio_dev_has_feature(&f->dev, 5));
        assert_true(virtio_dev_has_feature(&f->dev, VIRTIO_RING_F_EVENT_IDX));
        assert_false(virtio_dev_has_feature(&f->dev, 6));
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 7);
        wr(f, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
        assert_int_equal(f->dev.acked_features >> 32, 0);
}

static void test_activation(void **state)
{
        struct fx *f = *state;

        bring_up(f);
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), S_ACK | S_DRV | S_FOK | S_DOK);
        assert_int_equal(f->activations, 1);
        assert_true(virtio_dev_running(&f->dev));
        assert_true(f->dev.queues[0].event_idx);
        /* Each queue was kicked once, for buffers made available before DRIVER_OK. */
        assert_int_equal(take(f->dev.notify_fds[0]), 1);
        assert_int_equal(take(f->dev.notify_fds[1]), 1);
        wr(f, VIRTIO_MMIO_QUEUE_SEL, 1);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 1);
}

static void test_queue_setup_before_features_ok_ignored(void **state)
{
        struct fx *f = *state;

        wr(f, VIRTIO_MMIO_STATUS, S_ACK);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
        wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
        wr(f, VIRTIO_MMIO_QUEUE_NUM, 4);
        wr(f, VIRTIO_MMIO_QUEUE_READY, 1);
        assert_int_equal(f->dev.queues[0].size, 16);
        assert_false(f->dev.queues[0].ready);
        assert_false(rd(f, VIRTIO_MMIO_STATUS) & S_NR);
}

static void assert_needs_reset(struct fx *f)
{
        assert_true(rd(f, VIRTIO_MMIO_STATUS) & S_NR);
        assert_true(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
        assert_true(take(f->dev.irq_fd) >= 1);
        assert_false(virtio_dev_running(&f->dev));
}

static void test_bad_queue_size_needs_reset(void **state)
{
        struct fx *f = *state;

        negotiate(f);
        setup_queue(f, 0, 6, 0x10000); /* not a power of two */
        setup_queue(f, 1, 8, 0x20000);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
        assert_needs_reset(f);
        assert_int_equal(f->activations, 0);
        /* The driver sees DRIVER_OK | NEEDS_RESET and can still write that back harmlessly. */
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK | S_NR);
        assert_true(rd(f, VIRTIO_MMIO_STATUS) & S_NR);
}

static void test_unready_queue_needs_reset(void **state)
{
        struct fx *f = *state;

        negotiate(f);
        setup_queue(f, 0, 16, 0x10000);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV | S_FOK | S_DOK);
        assert_needs_reset(f);
}

static void test_activate_failure_needs_reset(void **state)
{
        struct fx *f = *state;

        f->activate_rc = -EIO;
        bring_up(f);
        assert_needs_reset(f);
}

static void test_queue_change_after_driver_ok(void **state)
{
        struct fx *f = *state;

        bring_up(f);
        wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
        wr(f, VIRTIO_MMIO_QUEUE_NUM, 4);
        assert_int_equal(f->dev.queues[0].size, 16);
        assert_needs_reset(f);
}

static void test_notify(void **state)
{
        struct fx *f = *state;

        bring_up(f);
        take(f->dev.notify_fds[0]);
        wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 0); /* no ioeventfd in this test: the VMM thread gets it */
        assert_int_equal(take(f->dev.notify_fds[0]), 1);
        assert_int_equal(f->notifies, 0); /* never processed on the vCPU thread */
        virtio_dev_queue_event(&f->dev, 0);
        assert_int_equal(f->notifies, 1);
        wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 9); /* no such queue */
        assert_needs_reset(f);
        virtio_dev_queue_event(&f->dev, 0); /* a broken device processes nothing */
        assert_int_equal(f->notifies, 1);
}

static void test_queue_event_before_activation(void **state)
{
        struct fx *f = *state;

        virtio_dev_queue_event(&f->dev, 0);
        virtio_dev_queue_event(&f->dev, 5);
        assert_int_equal(f->notifies, 0);
}

static void test_reset(void **state)
{
        struct fx *f = *state;
        uint32_t gen;

        bring_up(f);
        virtio_dev_lock(&f->dev);
        virtio_dev_config_changed(&f->dev);
        virtio_dev_unlock(&f->dev);
        gen = rd(f, VIRTIO_MMIO_CONFIG_GENERATION);
        assert_int_equal(gen, 1);
        wr(f, VIRTIO_MMIO_QUEUE_NOTIFY, 9);
        assert_true(rd(f, VIRTIO_MMIO_STATUS) & S_NR);
        wr(f, VIRTIO_MMIO_STATUS, 0);
        assert_int_equal(f->resets, 1);
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
        assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
        assert_false(virtio_dev_running(&f->dev));
        assert_int_equal(f->dev.acked_features, 0);
        wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
        assert_int_equal(rd(f, VIRTIO_MMIO_CONFIG_GENERATION), gen); /* never goes back */
        /* And it comes back up. */
        bring_up(f);
        assert_true(virtio_dev_running(&f->dev));
        assert_int_equal(f->activations, 2);
        /* Writing 0 to a device already reset does nothing. */
        wr(f, VIRTIO_MMIO_STATUS, 0);
        wr(f, VIRTIO_MMIO_STATUS, 0);
        assert_int_equal(f->resets, 2);
}

/* The device-table entry: kind and id, and its reset is the driver's Status write of 0. */
static void test_table_entry(void **state)
{
        struct fx *f = *state;

        assert_int_equal(f->dev.base.kind, 42);
        assert_string_equal(f->dev.base.id, "");
        assert_ptr_equal(virtio_dev_of(&f->dev.base), &f->dev);
        assert_true(f->dev.base.ops->snapshottable(&f->dev.base));
        f->dev.base.ops->metrics(&f->dev.base, NULL, NULL, NULL); /* no metrics hook: nothing */
        bring_up(f);
        f->dev.base.ops->reset(&f->dev.base);
        assert_int_equal(f->resets, 1);
        assert_int_equal(rd(f, VIRTIO_MMIO_STATUS), 0);
        assert_false(virtio_dev_running(&f->dev));
        assert_int_equal(f->dev.acked_features, 0);
        wr(f, VIRTIO_MMIO_QUEUE_SEL, 0);
        assert_int_equal(rd(f, VIRTIO_MMIO_QUEUE_READY), 0);
        bring_up(f);
        assert_true(virtio_dev_running(&f->dev));
}

static void test_interrupt_ack(void **state)
{
        struct fx *f = *state;

        virtio_dev_signal(&f->dev, VIRTIO_INT_VRING | VIRTIO_INT_CONFIG);
        wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING); /* before DRIVER_OK: ignored */
        assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
        bring_up(f);
        wr(f, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_INT_VRING);
        assert_int_equal(rd(f, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_INT_CONFIG);
        assert_int_equal(take(f->dev.irq_fd), 1);
}

static void test_config_writes(void **state)
{
        struct fx *f = *state;
        uint8_t b = 1;

        virtio_mmio_write(&f->m, 0x100, &b, 1); /* before DRIVER: refused */
        assert_int_equal(f->config_writes, 0);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK);
        wr(f, VIRTIO_MMIO_STATUS, S_ACK | S_DRV);
        virtio_mmio_write(&f->m, 0x100, &b, 1);
        assert_int_equal(f->config_writes, 1);
}

/* The common state of a live device saved and put into a fresh one: the same device, live. */
static void test_snapshot_state_round_trip(void **state)
{
        struct fx *f = *state, *g;
        struct virtio_dev_state st;
        void *gs;
        size_t len;

        bring_up(f);
        f->dev.queues[0].next_avail = 3; /* as after three requests */
        f->dev.queues[0].next_used = 3;
        assert_int_equal(f->dev.base.ops->save(&f->dev.base, &st, sizeof(st), &len), 0);
        assert_int_equal(len, sizeof(st));
        setup(&gs);
        g = gs;
        assert_int_equal(g->dev.base.ops->restore(&g->dev.base, &st, len), 0);
        assert_true(virtio_dev_running(&g->dev));
        assert_int_equal(g->activations, 1);
        assert_int_equal(g->dev.status, f->dev.status);
        assert_true(g->dev.acked_features == f->dev.acked_features);
        assert_true(g->dev.queues[1].used_gpa == 0x22000);
        assert_int_equal(g->dev.queues[0].next_avail, 3);
        assert_int_equal(g->dev.queues[0].next_used, 3);
        teardown(&gs);
}

/* A hostile state is refused: wrong size, features never offered, a queue over its maximum,
 * rings outside guest RAM. */
static void test_snapshot_state_refused(void **state)
{
        struct fx *f = *state;
        struct virtio_dev_state st, bad;
        size_t len;

        bring_up(f);
        assert_int_equal(f->dev.base.ops->save(&f->dev.base, &st, sizeof(st), &len), 0);
        assert_int_equal(f->dev.base.ops->save(&f->dev.base, &st, sizeof(st) - 1, &len), -ENOSPC);
        assert_int_equal(f->dev.base.ops->restore(&f->dev.base, &st, len - 1), -EINVAL);
        bad = st;
        bad.acked_features |= 1ULL << 40;
        assert_int_equal(f->dev.base.ops->restore(&f->dev.base, &bad, len), -EINVAL);
        bad = st;
        bad.q[0].size = 32;
        assert_int_equal(f->dev.base.ops->restore(&f->dev.base, &bad, len), -EINVAL);
        bad = st;
        bad.q[1].used = 1ULL << 40;
        assert_int_equal(f->dev.base.ops->restore(&f->dev.base, &bad, len), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_identity_registers, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_state_round_trip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_snapshot_state_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_odd_accesses_are_harmless, setup, teardown),
            cmocka_unit_test_setup_teardown(test_status_state_machine, setup, teardown),
            cmocka_unit_test_setup_teardown(test_features_masked, setup, teardown),
            cmocka_unit_test_setup_teardown(test_activation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_queue_setup_before_features_ok_ignored, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_bad_queue_size_needs_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_unready_queue_needs_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_activate_failure_needs_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_queue_change_after_driver_ok, setup, teardown),
            cmocka_unit_test_setup_teardown(test_notify, setup, teardown),
            cmocka_unit_test_setup_teardown(test_queue_event_before_activation, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_table_entry, setup, teardown),
            cmocka_unit_test_setup_teardown(test_interrupt_ack, setup, teardown),
            cmocka_unit_test_setup_teardown(test_config_writes, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
