/* Unit tests for the token buckets and the rate limiter: Firecracker's arithmetic, its edge cases,
 * and a lower bound on the time a limited transfer takes. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/rate_limiter.h"

#define MS 1000000ULL

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
        return fake_now;
}

static void test_disabled_buckets(void **state)
{
        struct token_bucket b;

        (void)state;
        token_bucket_init(&b, 0, 10, 100, 0);
        assert_false(b.enabled);
        assert_int_equal(token_bucket_reduce(&b, UINT64_MAX, 0, NULL), BUCKET_SUCCESS);
        token_bucket_init(&b, 100, 10, 0, 0);
        assert_false(b.enabled);
        /* refill_time_ms * 1e6 does not fit 64 bits: Firecracker disables the bucket too. */
        token_bucket_init(&b, 100, 0, UINT64_MAX / 1000, 0);
        assert_false(b.enabled);
        token_bucket_init(&b, 100, 0, UINT64_MAX / 1000000, 0);
        assert_true(b.enabled);
}

static void test_starts_full_then_fails(void **state)
{
        struct token_bucket b;

        (void)state;
        token_bucket_init(&b, 1000, 0, 1000, 0);
        assert_int_equal(b.budget, 1000);
        assert_int_equal(token_bucket_reduce(&b, 600, 0, NULL), BUCKET_SUCCESS);
        assert_int_equal(token_bucket_reduce(&b, 400, 0, NULL), BUCKET_SUCCESS);
        assert_int_equal(token_bucket_reduce(&b, 1, 0, NULL), BUCKET_FAILURE);
        assert_int_equal(b.budget, 0);
}

static void test_continuous_refill(void **state)
{
        struct token_bucket b;

        (void)state;
        token_bucket_init(&b, 1000, 0, 1000, 0); /* one token per ms */
        assert_int_equal(token_bucket_reduce(&b, 1000, 0, NULL), BUCKET_SUCCESS);
        assert_int_equal(token_bucket_reduce(&b, 501, 500 * MS, NULL), BUCKET_FAILURE);
        assert_int_equal(b.budget, 500);
        assert_int_equal(token_bucket_reduce(&b, 500, 500 * MS, NULL), BUCKET_SUCCESS);
        /* A full refill time or more fills the bucket, never beyond size. */
        assert_int_equal(token_bucket_reduce(&b, 1001, 10000 * MS, NULL), BUCKET_OVER_CONSUMPTION);
}

static void test_fractions_carry_over(void **state)
{
        struct token_bucket b;

        (void)state;
        token_bucket_init(&b, 2, 0, 3, 0); /* 2 tokens per 3 ms: 1.5 ms each */
        assert_int_equal(token_bucket_reduce(&b, 2, 0, NULL), BUCKET_SUCCESS);
        /* 1 ms: 0.67 token -> none yet, and no time is lost. */
        assert_int_equal(token_bucket_reduce(&b, 1, 1 * MS, NULL), BUCKET_FAILURE);
        assert_int_equal(b.last_update_ns, 0);
        /* 2 ms: 1.33 tokens -> 1, and the clock advances by 1.5 ms, keeping 0.33. */
        assert_int_equal(token_bucket_reduce(&b, 1, 2 * MS, NULL), BUCKET_SUCCESS);
        assert_int_equal(b.last_update_ns, 1500000);
        /* 3 ms: 0.33 + 0.67 = 1 token. */
        assert_int_equal(token_bucket_reduce(&b, 1, 3 * MS, NULL), BUCKET_SUCCESS);
}

static void test_time_going_backwards(void **state)
{
        struct token_bucket b;

        (void)state;
        token_bucket_init(&b, 100, 0, 100, 1000 * MS);
        assert_int_equal(token_bucket_reduce(&b, 100, 1000 * MS, NULL), BUCKET_SUCCESS);
        /* Earlier than the last update: counts as no time, nothing breaks. */
        assert_int_equal(token_bucket_reduce(&b, 1, 0, NULL), BUCKET_FAILURE);
        assert_int_equal(b.budget, 0);
        assert_int_equal(b.last_update_ns, 1000 * MS);
        assert_int_equal(token_bucket_reduce(&b, 10, 1010 * MS, NULL), BUCKET_SUCCESS);
}

static void test_huge_sizes(void **state)
{
        struct token_bucket b;
        uint64_t wait = 0;

        (void)state;
        token_bucket_init(&b, UINT64_MAX, 0, 1, 0);
        assert_int_equal(token_bucket_reduce(&b, UINT64_MAX, 0, NULL), BUCKET_SUCCESS);
        /* Half the refill time: half of 2^64 - 1 tokens, computed without overflow. */
        assert_int_equal(token_bucket_reduce(&b, UINT64_MAX / 2, MS / 2, NULL), BUCKET_SUCCESS);
        assert_int_equal(b.budget, 0);
        token_bucket_init(&b, UINT64_MAX - 1, UINT64_MAX, UINT64_MAX / 1000000, 0);
        assert_int_equal(token_bucket_reduce(&b, UINT64_MAX, 0, NULL), BUCKET_SUCCESS);
        assert_int_equal(token_bucket_reduce(&b, UINT64_MAX, 0, &wait), BUCKET_OVER_CONSUMPTION);
        /* One token borrowed from a bucket of 2^64-2: far less than a millisecond. */
        assert_int_equal(wait, 0);
}

static void test_one_time_burst_first(void **state)
{
        struct token_bucket b;

        (void)state;
        token_bucket_init(&b, 100, 50, 1000, 0);
        assert_int_equal(token_bucket_reduce(&b, 30, 0, NULL), BUCKET_SUCCESS);
        assert_int_equal(b.one_time_burst, 20);
        assert_int_equal(b.budget, 100);
        /* 20 from the burst, 30 from the budget. */
        assert_int_equal(token_bucket_reduce(&b, 50, 0, NULL), BUCKET_SUCCESS);
        assert_int_equal(b.one_time_burst, 0);
        assert_int_equal(b.budget, 70);
        /* Refill happens only when the budget runs short, and never restores the burst. */
        assert_int_equal(token_bucket_reduce(&b, 70, 10000 * MS, NULL), BUCKET_SUCCESS);
        assert_int_equal(b.budget, 0);
        assert_int_equal(token_bucket_reduce(&b, 71, 10000 * MS, NULL), BUCKET_SUCCESS);
        assert_int_equal(b.one_time_burst, 0);
        assert_int_equal(b.budget, 29);
}

static void test_replenish_caps(void **state)
{
        struct token_bucket b;

        (void)state;
        token_bucket_init(&b, 100, 10, 1000, 0);
        assert_int_equal(token_bucket_reduce(&b, 5, 0, NULL), BUCKET_SUCCESS);
        token_bucket_replenish(&b, UINT64_MAX);
        assert_int_equal(b.one_time_burst, 10);
        assert_int_equal(token_bucket_reduce(&b, 60, 0, NULL), BUCKET_SUCCESS);
        token_bucket_replenish(&b, UINT64_MAX);
        assert_int_equal(b.budget, 100);
}

static void test_over_consumption_wait(void **state)
{
        struct token_bucket b;
        uint64_t wait = 0;

        (void)state;
        token_bucket_init(&b, 1000, 0, 100, 0);
        /* 3500 asked with 1000 in the bucket: 2500 borrowed = 2.5 refills = 250 ms. */
        assert_int_equal(token_bucket_reduce(&b, 3500, 0, &wait), BUCKET_OVER_CONSUMPTION);
        assert_int_equal(wait, 250);
        assert_int_equal(b.budget, 0);
}

static void test_limiter_blocks_and_unblocks(void **state)
{
        struct rate_limiter_cfg cfg = {.ops = {.present = true, .size = 2, .refill_time_ms = 1000}};
        struct rate_limiter rl;
        struct pollfd pfd;

        (void)state;
        assert_int_equal(rate_limiter_init(&rl, &cfg), 0);
        rl.clock = fake_clock;
        fake_now = 0;
        rl.ops.last_update_ns = 0;
        assert_true(rate_limiter_consume(&rl, 1, RL_OPS));
        assert_true(rate_limiter_consume(&rl, 1, RL_BYTES)); /* no bandwidth bucket */
        assert_true(rate_limiter_consume(&rl, 1, RL_OPS));
        assert_false(rate_limiter_consume(&rl, 1, RL_OPS));
        assert_true(rate_limiter_blocked(&rl));
        /* While blocked, every type is refused. */
        assert_false(rate_limiter_consume(&rl, 1, RL_BYTES));
        pfd = (struct pollfd){.fd = rl.timer_fd, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        assert_int_equal(rate_limiter_event(&rl), 0);
        assert_false(rate_limiter_blocked(&rl));
        fake_now = 1000 * MS;
        assert_true(rate_limiter_consume(&rl, 2, RL_OPS));
        rate_limiter_destroy(&rl);
}

/* A request takes its op and its bytes together, or neither. */
static void test_consume_request_is_all_or_nothing(void **state)
{
        struct rate_limiter_cfg cfg = {
            .bandwidth = {.present = true, .size = 100, .refill_time_ms = 1000},
            .ops = {.present = true, .size = 5, .refill_time_ms = 1000}};
        struct rate_limiter rl;

        (void)state;
        assert_int_equal(rate_limiter_init(&rl, &cfg), 0);
        rl.clock = fake_clock;
        fake_now = 0;
        rl.ops.last_update_ns = rl.bandwidth.last_update_ns = 0;
        assert_true(rate_limiter_consume_request(&rl, 60));
        assert_int_equal(rl.ops.budget, 4);
        assert_int_equal(rl.bandwidth.budget, 40);
        /* 60 more bytes are not there: the op taken first goes back. */
        assert_false(rate_limiter_consume_request(&rl, 60));
        assert_int_equal(rl.ops.budget, 4);
        assert_int_equal(rl.bandwidth.budget, 40);
        rate_limiter_destroy(&rl);
}

static void test_zero_wait_still_fires(void **state)
{
        struct rate_limiter_cfg cfg = {
            .bandwidth = {.present = true, .size = 1000, .refill_time_ms = 100}};
        struct rate_limiter rl;
        struct pollfd pfd;

        (void)state;
        assert_int_equal(rate_limiter_init(&rl, &cfg), 0);
        /* 1001 tokens on a full bucket: 1 borrowed, 0.1 ms -> 0 ms. The timer must still fire. */
        assert_true(rate_limiter_consume(&rl, 1001, RL_BYTES));
        assert_true(rate_limiter_blocked(&rl));
        pfd = (struct pollfd){.fd = rl.timer_fd, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        assert_int_equal(rate_limiter_event(&rl), 0);
        rate_limiter_destroy(&rl);
}

static void test_update_buckets(void **state)
{
        struct rate_limiter_cfg cfg = {
            .bandwidth = {.present = true, .size = 10, .refill_time_ms = 1000},
            .ops = {.present = true, .size = 5, .refill_time_ms = 1000},
        };
        struct rate_limiter_update u = {
            .bandwidth_op = BUCKET_KEEP,
            .ops_op = BUCKET_SET,
            .ops = {.present = true, .size = 50, .one_time_burst = 7, .refill_time_ms = 10},
        };
        struct rate_limiter rl;

        (void)state;
        assert_int_equal(rate_limiter_init(&rl, &cfg), 0);
        assert_true(rate_limiter_consume(&rl, 4, RL_BYTES));
        rate_limiter_update(&rl, &u);
        assert_int_equal(rl.bandwidth.budget, 6); /* kept as it was */
        assert_int_equal(rl.ops.size, 50);
        assert_int_equal(rl.ops.budget, 50); /* a new bucket starts full */
        assert_int_equal(rl.ops.one_time_burst, 7);
        u.bandwidth_op = BUCKET_DISABLE;
        u.ops_op = BUCKET_KEEP;
        rate_limiter_update(&rl, &u);
        assert_false(rl.bandwidth.enabled);
        assert_true(rate_limiter_consume(&rl, UINT64_MAX, RL_BYTES));
        rate_limiter_destroy(&rl);
}

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * A correctness bound, not a performance one: moving N bytes through a bucket of size S
 * refilled every T ms, starting full with burst B, cannot finish before
 * (N - S - B) * T / S ms, however slow or fast the machine is.
 */
static void test_transfer_lower_bound(void **state)
{
        const uint64_t size = 4096, burst = 1024, refill_ms = 50, total = 6 * 4096, chunk = 1024;
        struct rate_limiter_cfg cfg = {.bandwidth = {.present = true,
                                                     .size = size,
                                                     .one_time_burst = burst,
                                                     .refill_time_ms = refill_ms}};
        const uint64_t bound_ns = (total - size - burst) * refill_ms * MS / size;
        struct rate_limiter rl;
        struct pollfd pfd;
        uint64_t sent = 0, start;

        (void)state;
        start = now_ns();
        assert_int_equal(rate_limiter_init(&rl, &cfg), 0);
        while (sent < total) {
                if (rate_limiter_consume(&rl, chunk, RL_BYTES)) {
                        sent += chunk;
                        continue;
                }
                pfd = (struct pollfd){.fd = rl.timer_fd, .events = POLLIN};
                assert_int_equal(poll(&pfd, 1, 10000), 1);
                rate_limiter_event(&rl);
        }
        assert_true(now_ns() - start >= bound_ns);
        rate_limiter_destroy(&rl);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_disabled_buckets),
            cmocka_unit_test(test_starts_full_then_fails),
            cmocka_unit_test(test_continuous_refill),
            cmocka_unit_test(test_fractions_carry_over),
            cmocka_unit_test(test_time_going_backwards),
            cmocka_unit_test(test_huge_sizes),
            cmocka_unit_test(test_one_time_burst_first),
            cmocka_unit_test(test_replenish_caps),
            cmocka_unit_test(test_over_consumption_wait),
            cmocka_unit_test(test_limiter_blocks_and_unblocks),
            cmocka_unit_test(test_consume_request_is_all_or_nothing),
            cmocka_unit_test(test_zero_wait_still_fires),
            cmocka_unit_test(test_update_buckets),
            cmocka_unit_test(test_transfer_lower_bound),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
