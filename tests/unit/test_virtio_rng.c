/* Unit tests for virtio-rng through its transport: requests, the per-request cap, the bounded
 * pass, hostile chains, a failing host source, rate limiting, the entropy metrics. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <cmocka.h>

#include "arch/x86_64/mem_layout.h"
#include "core/metrics.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/rng/virtio_rng.h"
#include "vq_driver.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE (4ULL << 20)
#define QSIZE    32
#define CANARY   0xa5

struct rfx {
        uint8_t *ram;
        struct guest_mem mem;
        struct rng_params cfg;
        struct virtio_rng *r;
        struct virtio_mmio m;
        struct tdrv t;
        uint16_t used_seen;
        struct entropy_metrics before;
};

static void bring_up(struct rfx *f)
{
        mmio_negotiate(&f->m, 0);
        mmio_queue(&f->m, 0, QSIZE, (uint32_t)TD_DESC, (uint32_t)TD_AVAIL, (uint32_t)TD_USED);
        mmio_driver_ok(&f->m);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
        td_init(&f->t, &f->mem, QSIZE);
        f->used_seen = 0;
}

static void create(struct rfx *f)
{
        struct err e = ERR_INIT;

        assert_int_equal(virtio_rng_create(&f->r, &f->cfg, &f->mem, NULL, &e), 0);
        virtio_mmio_init(&f->m, &f->r->dev);
        bring_up(f);
}

static int setup(void **state)
{
        struct rfx *f = test_calloc(1, sizeof(*f));

        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        memset(f->ram + TD_DATA, CANARY, MEM_SIZE - TD_DATA);
        create(f);
        memcpy(&f->before, &metrics.entropy, sizeof(f->before));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct rfx *f = *state;

        virtio_rng_destroy(f->r);
        test_free(f->ram);
        test_free(f);
        return 0;
}

/* What a counter of the entropy group gained since setup. */
#define DELTA(f, name) (metrics.entropy.name.value - (f)->before.name.value)

/* Notifies and checks that want used entries appeared; returns the last one's length. */
static uint32_t run(struct rfx *f, unsigned int want, uint16_t want_head)
{
        uint32_t id = 0, len = 0;

        virtio_dev_queue_event(&f->r->dev, 0);
        assert_int_equal((uint16_t)(td_used_idx(&f->t) - f->used_seen), want);
        f->used_seen = td_used_idx(&f->t);
        if (want) {
                td_used_elem(&f->t, (uint16_t)(f->used_seen - 1), &id, &len);
                assert_int_equal(id, want_head);
        }
        return len;
}

static bool all_equal(const uint8_t *p, size_t n, uint8_t v)
{
        for (size_t i = 0; i < n; i++)
                if (p[i] != v)
                        return false;
        return true;
}

static void test_identity(void **state)
{
        struct rfx *f = *state;

        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_RNG);
        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES), 0);
        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 only */
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_SEL, 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_QUEUE_NUM_MAX), RNG_QUEUE_SIZE);
        mmio_wr32(&f->m, VIRTIO_MMIO_CONFIG, 0x12345678);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG), 0);
        assert_string_equal(f->r->dev.base.id, "rng");
}

static void test_read(void **state)
{
        struct rfx *f = *state;
        uint8_t a[64], b[64];

        td_desc(&f->t, 0, TD_DATA, 64, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 64);
        memcpy(a, f->ram + TD_DATA, 64);
        assert_true(f->ram[TD_DATA + 64] == CANARY);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 64);
        memcpy(b, f->ram + TD_DATA, 64);
        assert_false(all_equal(a, 64, a[0]));
        assert_memory_not_equal(a, b, 64);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_VRING);
        assert_int_equal(DELTA(f, entropy_event_count), 2);
        assert_int_equal(DELTA(f, entropy_bytes), 128);
        assert_int_equal(DELTA(f, entropy_event_fails), 0);
}

static void test_scattered_and_indirect(void **state)
{
        struct rfx *f = *state;

        td_desc(&f->t, 0, TD_DATA, 100, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        td_desc(&f->t, 1, TD_DATA + 0x1000, 28, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 128);
        assert_true(f->ram[TD_DATA + 100] == CANARY);
        assert_true(f->ram[TD_DATA + 0x1000 + 28] == CANARY);
        /* Through an indirect table. */
        td_desc_at(&f->t, TD_INDIRECT, 0, TD_DATA + 0x2000, 16, VRING_DESC_F_WRITE, 0);
        td_desc(&f->t, 2, TD_INDIRECT, 16, VRING_DESC_F_INDIRECT, 0);
        td_offer(&f->t, 2);
        assert_int_equal(run(f, 1, 2), 16);
        assert_int_equal(DELTA(f, entropy_bytes), 144);
}

static void test_request_is_capped(void **state)
{
        struct rfx *f = *state;

        td_desc(&f->t, 0, TD_DATA, 2 * RNG_MAX_REQUEST_BYTES, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), RNG_MAX_REQUEST_BYTES);
        assert_true(
            all_equal(f->ram + TD_DATA + RNG_MAX_REQUEST_BYTES, RNG_MAX_REQUEST_BYTES, CANARY));
        /* Overlapping descriptors cannot make it write more either. */
        for (uint16_t i = 0; i < 8; i++)
                td_desc(&f->t, i, TD_DATA, 0x8000,
                        VRING_DESC_F_WRITE | (i < 7 ? VRING_DESC_F_NEXT : 0), (uint16_t)(i + 1));
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), RNG_MAX_REQUEST_BYTES);
        assert_int_equal(DELTA(f, entropy_bytes), 2 * RNG_MAX_REQUEST_BYTES);
}

static void test_pass_is_bounded(void **state)
{
        struct rfx *f = *state;
        unsigned int per_pass = RNG_PASS_BYTES / RNG_MAX_REQUEST_BYTES;
        uint16_t i;

        td_desc(&f->t, 0, TD_DATA, RNG_MAX_REQUEST_BYTES, VRING_DESC_F_WRITE, 0);
        for (i = 0; i < QSIZE; i++)
                td_offer(&f->t, 0);
        /* One pass stops after RNG_PASS_BYTES; the next notify (its own kick) goes on. */
        assert_int_equal(run(f, per_pass, 0), RNG_MAX_REQUEST_BYTES);
        assert_int_equal(run(f, QSIZE - per_pass, 0), RNG_MAX_REQUEST_BYTES);
        assert_int_equal(DELTA(f, entropy_event_count), QSIZE);
}

static void test_readable_buffer_is_refused(void **state)
{
        struct rfx *f = *state;

        td_desc(&f->t, 0, TD_DATA, 64, 0, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 0);
        assert_true(all_equal(f->ram + TD_DATA, 64, CANARY));
        td_desc(&f->t, 1, TD_DATA, 64, VRING_DESC_F_NEXT, 2);
        td_desc(&f->t, 2, TD_DATA + 64, 64, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 1);
        assert_int_equal(run(f, 1, 1), 0);
        assert_true(all_equal(f->ram + TD_DATA, 128, CANARY));
        assert_int_equal(DELTA(f, entropy_event_fails), 2);
        assert_int_equal(DELTA(f, entropy_bytes), 0);
        /* The device keeps working. */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
        td_desc(&f->t, 3, TD_DATA, 8, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 3);
        assert_int_equal(run(f, 1, 3), 8);
}

static void test_empty_buffer(void **state)
{
        struct rfx *f = *state;

        td_desc(&f->t, 0, TD_DATA, 0, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 0);
        assert_int_equal(DELTA(f, entropy_event_count), 1);
        assert_int_equal(DELTA(f, entropy_event_fails), 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static void needs_reset_after(struct rfx *f)
{
        uint16_t used = td_used_idx(&f->t);

        virtio_dev_queue_event(&f->r->dev, 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        assert_int_equal(td_used_idx(&f->t), used);
        virtio_dev_queue_event(&f->r->dev, 0); /* ignored until the reset */
        assert_int_equal(td_used_idx(&f->t), used);
        mmio_wr32(&f->m, VIRTIO_MMIO_STATUS, 0);
        memset(f->ram + TD_AVAIL, 0, 0x2000);
        bring_up(f);
        td_desc(&f->t, 0, TD_DATA, 32, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 32);
}

static void test_broken_chains_need_reset(void **state)
{
        struct rfx *f = *state;

        td_desc(&f->t, 0, MEM_SIZE - 8, 64, VRING_DESC_F_WRITE, 0); /* outside RAM */
        td_offer(&f->t, 0);
        needs_reset_after(f);
        td_desc(&f->t, 0, ~0ULL - 4, 64, VRING_DESC_F_WRITE, 0); /* address wraps */
        td_offer(&f->t, 0);
        needs_reset_after(f);
        td_desc(&f->t, 0, TD_DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0); /* loop */
        td_offer(&f->t, 0);
        needs_reset_after(f);
        td_offer(&f->t, QSIZE + 3); /* head out of range */
        needs_reset_after(f);
        td_set_avail_idx(&f->t, 1000); /* avail index flood */
        needs_reset_after(f);
        td_desc(&f->t, 0, TD_DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        td_desc(&f->t, 1, TD_DATA, 8, 0, 0); /* readable after writable */
        td_offer(&f->t, 0);
        needs_reset_after(f);
        assert_int_equal(DELTA(f, entropy_event_fails), 6);
}

static ssize_t failing_source(void *buf, size_t len, unsigned int flags)
{
        (void)buf;
        (void)len;
        assert_int_equal(flags, GRND_NONBLOCK);
        errno = EAGAIN;
        return -1;
}

static ssize_t short_source(void *buf, size_t len, unsigned int flags)
{
        (void)flags;
        if (len > 3)
                len = 3;
        memset(buf, 0x11, len);
        return (ssize_t)len;
}

static void test_host_source(void **state)
{
        struct rfx *f = *state;

        f->r->source = failing_source;
        td_desc(&f->t, 0, TD_DATA, 64, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 0);
        assert_int_equal(DELTA(f, host_rng_fails), 1);
        assert_int_equal(DELTA(f, entropy_event_fails), 1);
        assert_int_equal(DELTA(f, entropy_bytes), 0);
        /* Short reads are continued. */
        f->r->source = short_source;
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 64);
        assert_true(all_equal(f->ram + TD_DATA, 64, 0x11));
}

static void wait_timer(struct rfx *f)
{
        struct pollfd pfd = {.fd = f->r->rl.timer_fd, .events = POLLIN};

        assert_int_equal(poll(&pfd, 1, 5000), 1);
        virtio_rng_rate_limiter_event(f->r);
}

static void test_rate_limited_ops(void **state)
{
        struct rfx *f = *state;

        virtio_rng_destroy(f->r);
        f->cfg.rate_limiter.ops =
            (struct token_bucket_cfg){.present = true, .size = 1, .refill_time_ms = 100};
        create(f);
        td_desc(&f->t, 0, TD_DATA, 16, VRING_DESC_F_WRITE, 0);
        td_desc(&f->t, 1, TD_DATA + 16, 16, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        td_offer(&f->t, 1);
        assert_int_equal(run(f, 1, 0), 16); /* the second is held back */
        assert_int_equal(DELTA(f, entropy_rate_limiter_throttled), 1);
        assert_true(all_equal(f->ram + TD_DATA + 16, 16, CANARY));
        /* A notify while blocked counts as a limiter event (Firecracker's accounting). */
        run(f, 0, 0);
        assert_int_equal(DELTA(f, rate_limiter_event_count), 1);
        wait_timer(f);
        assert_int_equal(DELTA(f, rate_limiter_event_count), 2);
        assert_int_equal((uint16_t)(td_used_idx(&f->t) - f->used_seen), 1);
        assert_int_equal(DELTA(f, entropy_bytes), 32);
}

static void test_rate_limited_bytes(void **state)
{
        struct rfx *f = *state;
        uint32_t id, len;

        virtio_rng_destroy(f->r);
        f->cfg.rate_limiter.bandwidth =
            (struct token_bucket_cfg){.present = true, .size = 1000, .refill_time_ms = 100};
        create(f);
        td_desc(&f->t, 0, TD_DATA, 600, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        td_offer(&f->t, 0);
        assert_int_equal(run(f, 1, 0), 600);
        assert_int_equal(DELTA(f, entropy_rate_limiter_throttled), 1);
        wait_timer(f);
        assert_int_equal(td_used_idx(&f->t), 2);
        td_used_elem(&f->t, 1, &id, &len);
        assert_int_equal(len, 600);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read, setup, teardown),
            cmocka_unit_test_setup_teardown(test_scattered_and_indirect, setup, teardown),
            cmocka_unit_test_setup_teardown(test_request_is_capped, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pass_is_bounded, setup, teardown),
            cmocka_unit_test_setup_teardown(test_readable_buffer_is_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_empty_buffer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_broken_chains_need_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_host_source, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rate_limited_ops, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rate_limited_bytes, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
