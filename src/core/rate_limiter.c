/* Token buckets refilled continuously in exact integer arithmetic, and a timerfd to resume. */
#include "core/rate_limiter.h"

#include <errno.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

#define NS_PER_MS 1000000ULL

typedef unsigned __int128 u128;

static uint64_t gcd(uint64_t x, uint64_t y)
{
        while (y) {
                uint64_t t = y;

                y = x % y;
                x = t;
        }
        return x;
}

void token_bucket_init(struct token_bucket *b, uint64_t size, uint64_t one_time_burst,
                       uint64_t refill_time_ms, uint64_t now_ns)
{
        uint64_t refill_ns, common;

        memset(b, 0, sizeof(*b));
        if (size == 0 || refill_time_ms == 0 ||
            __builtin_mul_overflow(refill_time_ms, NS_PER_MS, &refill_ns))
                return; /* disabled, as Firecracker's TokenBucket::new() returning None */
        common = gcd(size, refill_ns);
        b->enabled = true;
        b->size = size;
        b->initial_one_time_burst = b->one_time_burst = one_time_burst;
        b->refill_time_ms = refill_time_ms;
        b->budget = size; /* starts full */
        b->last_update_ns = now_ns;
        b->processed_capacity = size / common;
        b->processed_refill_time = refill_ns / common;
}

/* Adds the tokens earned since last_update, carrying the unused fraction of time forward. */
static void token_bucket_refill(struct token_bucket *b, uint64_t now_ns)
{
        uint64_t delta = now_ns > b->last_update_ns ? now_ns - b->last_update_ns : 0;
        u128 tokens, spent;

        if (delta >= b->refill_time_ms * NS_PER_MS) {
                b->budget = b->size;
                b->last_update_ns = now_ns;
                return;
        }
        /* delta < refill_ns < 2^64 and capacity < 2^64: the product fits 128 bits. */
        tokens = (u128)delta * b->processed_capacity / b->processed_refill_time;
        /* The time those tokens cost, rounded up, so no fraction of a ns is used twice. */
        spent = tokens * b->processed_refill_time;
        spent = spent / b->processed_capacity + (spent % b->processed_capacity != 0);
        b->last_update_ns += (uint64_t)spent;
        /* tokens <= size here, since delta < refill time. */
        if ((uint64_t)tokens > b->size - b->budget)
                b->budget = b->size;
        else
                b->budget += (uint64_t)tokens;
}

enum bucket_reduction token_bucket_reduce(struct token_bucket *b, uint64_t tokens, uint64_t now_ns,
                                          uint64_t *wait_ms)
{
        if (!b->enabled)
                return BUCKET_SUCCESS;
        if (b->one_time_burst > 0) {
                if (b->one_time_burst >= tokens) {
                        b->one_time_burst -= tokens;
                        b->last_update_ns = now_ns;
                        return BUCKET_SUCCESS;
                }
                tokens -= b->one_time_burst;
                b->one_time_burst = 0;
        }
        if (tokens > b->budget) {
                token_bucket_refill(b, now_ns);
                if (tokens > b->size) {
                        /* Over-consumption: allowed, then blocked for ratio x refill time. */
                        tokens -= b->budget;
                        b->budget = 0;
                        if (wait_ms)
                                *wait_ms = (uint64_t)((u128)tokens * b->refill_time_ms / b->size);
                        return BUCKET_OVER_CONSUMPTION;
                }
                if (tokens > b->budget)
                        return BUCKET_FAILURE;
        }
        b->budget -= tokens;
        return BUCKET_SUCCESS;
}

static uint64_t add_capped(uint64_t a, uint64_t b, uint64_t cap)
{
        uint64_t sum;

        if (__builtin_add_overflow(a, b, &sum) || sum > cap)
                return cap;
        return sum;
}

void token_bucket_replenish(struct token_bucket *b, uint64_t tokens)
{
        if (!b->enabled)
                return;
        /* Still in the burst: give it back there (Firecracker's approximation). */
        if (b->one_time_burst > 0) {
                b->one_time_burst =
                    add_capped(b->one_time_burst, tokens, b->initial_one_time_burst);
                return;
        }
        b->budget = add_capped(b->budget, tokens, b->size);
}

uint64_t rate_limiter_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void bucket_from_cfg(struct token_bucket *b, const struct token_bucket_cfg *c,
                            uint64_t now_ns)
{
        if (c && c->present)
                token_bucket_init(b, c->size, c->one_time_burst, c->refill_time_ms, now_ns);
        else
                memset(b, 0, sizeof(*b));
}

int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg)
{
        uint64_t now;

        memset(rl, 0, sizeof(*rl));
        rl->clock = rate_limiter_now;
        now = rl->clock();
        bucket_from_cfg(&rl->bandwidth, cfg ? &cfg->bandwidth : NULL, now);
        bucket_from_cfg(&rl->ops, cfg ? &cfg->ops : NULL, now);
        rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (rl->timer_fd < 0)
                return -errno;
        rl->has_timer = true;
        return 0;
}

void rate_limiter_destroy(struct rate_limiter *rl)
{
        if (rl->has_timer)
                close(rl->timer_fd);
        rl->has_timer = false;
        rl->timer_fd = -1;
}

static void rate_limiter_arm(struct rate_limiter *rl, uint64_t ns)
{
        struct itimerspec its;

        /* A zero it_value would disarm the timer and leave the device blocked for good. */
        if (ns == 0)
                ns = 1;
        memset(&its, 0, sizeof(its));
        its.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
        its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
        rl->timer_active = true;
        if (rl->has_timer && timerfd_settime(rl->timer_fd, 0, &its, NULL) < 0)
                log_error("rate limiter: timerfd_settime failed: %s", strerror(errno));
}

static struct token_bucket *bucket_of(struct rate_limiter *rl, enum rl_token_type type)
{
        return type == RL_BYTES ? &rl->bandwidth : &rl->ops;
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t tokens, enum rl_token_type type)
{
        struct token_bucket *b = bucket_of(rl, type);
        uint64_t wait_ms = 0, wait_ns;

        if (rl->timer_active)
                return false;
        if (!b->enabled)
                return true;
        switch (token_bucket_reduce(b, tokens, rl->clock(), &wait_ms)) {
        case BUCKET_FAILURE:
                rate_limiter_arm(rl, RATE_LIMITER_RETRY_NS);
                return false;
        case BUCKET_OVER_CONSUMPTION:
                if (__builtin_mul_overflow(wait_ms, NS_PER_MS, &wait_ns))
                        wait_ns = UINT64_MAX;
                rate_limiter_arm(rl, wait_ns);
                return true;
        case BUCKET_SUCCESS:
        default:
                return true;
        }
}

bool rate_limiter_consume_request(struct rate_limiter *rl, uint64_t bytes)
{
        if (!rate_limiter_consume(rl, 1, RL_OPS))
                return false;
        if (!rate_limiter_consume(rl, bytes, RL_BYTES)) {
                rate_limiter_replenish(rl, 1, RL_OPS);
                return false;
        }
        return true;
}

void rate_limiter_replenish(struct rate_limiter *rl, uint64_t tokens, enum rl_token_type type)
{
        token_bucket_replenish(bucket_of(rl, type), tokens);
}

bool rate_limiter_blocked(const struct rate_limiter *rl)
{
        return rl->timer_active;
}

int rate_limiter_event(struct rate_limiter *rl)
{
        uint64_t expirations = 0;

        if (!rl->has_timer || read(rl->timer_fd, &expirations, sizeof(expirations)) < 0 ||
            expirations == 0)
                return -EAGAIN;
        rl->timer_active = false;
        return 0;
}

static void bucket_update(struct token_bucket *b, enum bucket_update op,
                          const struct token_bucket_cfg *c, uint64_t now_ns)
{
        switch (op) {
        case BUCKET_DISABLE:
                memset(b, 0, sizeof(*b));
                break;
        case BUCKET_SET:
                token_bucket_init(b, c->size, c->one_time_burst, c->refill_time_ms, now_ns);
                break;
        case BUCKET_KEEP:
        default:
                break;
        }
}

void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_update *u)
{
        uint64_t now = rl->clock();

        bucket_update(&rl->bandwidth, u->bandwidth_op, &u->bandwidth, now);
        bucket_update(&rl->ops, u->ops_op, &u->ops, now);
}
