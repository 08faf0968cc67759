/* Token-bucket rate limiter with Firecracker's semantics, shared by every device. */
#ifndef BRASA_CORE_RATE_LIMITER_H
#define BRASA_CORE_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

/* ---- configuration: what the API and the config file describe ---- */

/* TokenBucket: size and refill_time (ms) required, one_time_burst optional (0). */
struct token_bucket_cfg {
        bool present;
        uint64_t size;
        uint64_t one_time_burst;
        uint64_t refill_time_ms;
};

/* RateLimiter: bandwidth (bytes) and ops buckets, each optional. */
struct rate_limiter_cfg {
        struct token_bucket_cfg bandwidth;
        struct token_bucket_cfg ops;
};

/* How a PATCH changes one token bucket (Firecracker's BucketUpdate). */
enum bucket_update {
        BUCKET_KEEP,    /* bucket not given: unchanged */
        BUCKET_DISABLE, /* given with size 0 or refill_time 0: rate limiting off */
        BUCKET_SET,     /* given: replace with the new values */
};

/* A RateLimiter in a PATCH body (PartialDrive, PartialNetworkInterface, ...). */
struct rate_limiter_update {
        enum bucket_update bandwidth_op, ops_op;
        struct token_bucket_cfg bandwidth, ops; /* used when *_op == BUCKET_SET */
};

/* ---- the limiter ---- */

/* While blocked on an empty bucket, the limiter re-checks after this long (Firecracker's). */
#define RATE_LIMITER_RETRY_NS 100000000ULL

/*
 * One bucket. size == 0 or refill_time_ms == 0 means disabled (no limit), as does a
 * refill time whose nanoseconds overflow 64 bits. All times are CLOCK_MONOTONIC ns.
 */
struct token_bucket {
        bool enabled;
        uint64_t size;
        uint64_t initial_one_time_burst;
        uint64_t refill_time_ms;
        uint64_t one_time_burst; /* free credit left, consumed before budget */
        uint64_t budget;
        uint64_t last_update_ns;
        /* size / (refill_time_ms * 1e6), reduced by their gcd */
        uint64_t processed_capacity;
        uint64_t processed_refill_time;
};

enum bucket_reduction {
        BUCKET_FAILURE,          /* not enough tokens: nothing consumed */
        BUCKET_SUCCESS,          /* consumed */
        BUCKET_OVER_CONSUMPTION, /* more than size asked: bucket emptied, caller must wait */
};

/*
 * Sets *b to a full bucket (budget = size) at time now_ns, or to a disabled bucket
 * when size or refill_time_ms is 0 or refill_time_ms * 1e6 overflows.
 */
void token_bucket_init(struct token_bucket *b, uint64_t size, uint64_t one_time_burst,
                       uint64_t refill_time_ms, uint64_t now_ns);

/*
 * Takes tokens at time now_ns: the one-time burst first, then the budget, refilling
 * continuously from the time elapsed (a clock going backwards counts as no time).
 * On BUCKET_OVER_CONSUMPTION, *wait_ms (if not NULL) is how long the caller must block
 * to honour the rate: (tokens - budget) * refill_time_ms / size. Disabled: SUCCESS.
 */
enum bucket_reduction token_bucket_reduce(struct token_bucket *b, uint64_t tokens, uint64_t now_ns,
                                          uint64_t *wait_ms);

/* Gives back tokens (to the burst while it lasts, else to the budget), capped. */
void token_bucket_replenish(struct token_bucket *b, uint64_t tokens);

enum rl_token_type { RL_BYTES, RL_OPS };

/* A bandwidth and an ops bucket plus the timerfd that wakes a throttled device. */
struct rate_limiter {
        struct token_bucket bandwidth;
        struct token_bucket ops;
        int timer_fd; /* CLOCK_MONOTONIC timerfd, non-blocking; valid when has_timer */
        bool has_timer;
        bool timer_active;
        uint64_t (*clock)(void); /* monotonic ns; tests replace it */
};

/* CLOCK_MONOTONIC in ns. */
uint64_t rate_limiter_now(void);

/*
 * Creates the limiter from cfg (NULL: no limits). The timerfd is created even when both
 * buckets are off, so a later update never needs a new fd. Returns 0 or -errno.
 */
int rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_cfg *cfg);

/* Closes the timerfd. Safe on a zeroed limiter and after a failed init. */
void rate_limiter_destroy(struct rate_limiter *rl);

/*
 * Takes tokens of one type. Fails while blocked (timer armed). On an empty bucket arms
 * the timer for RATE_LIMITER_RETRY_NS and fails; on over-consumption succeeds but arms
 * the timer for the computed wait (at least 1 ns, so it always fires). A disabled
 * bucket always succeeds.
 */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t tokens, enum rl_token_type type);

/*
 * One request of `bytes` bytes: takes one op, then the bytes; when the bytes cannot be had,
 * the op goes back, so either both are taken (true) or neither (false), as every device's
 * request path needs.
 */
bool rate_limiter_consume_request(struct rate_limiter *rl, uint64_t bytes);

/* Returns tokens taken by a consume() that is being undone. */
void rate_limiter_replenish(struct rate_limiter *rl, uint64_t tokens, enum rl_token_type type);

/* True while the timer is armed: consume() fails until rate_limiter_event(). */
bool rate_limiter_blocked(const struct rate_limiter *rl);

/*
 * Call when timer_fd is readable: reads it and unblocks. Returns 0, or -EAGAIN for a
 * spurious wakeup (the timer had not expired).
 */
int rate_limiter_event(struct rate_limiter *rl);

/*
 * Applies a PATCH: BUCKET_KEEP leaves a bucket alone, BUCKET_DISABLE turns it off,
 * BUCKET_SET replaces it with a new, full bucket (Firecracker's update_buckets).
 */
void rate_limiter_update(struct rate_limiter *rl, const struct rate_limiter_update *u);

#endif
