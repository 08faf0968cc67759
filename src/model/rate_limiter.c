/* TokenBucket and RateLimiter: the model every rate-limited resource shares, and PATCH updates. */
#include <string.h>

#include "model/resource.h"

/* A live TokenBucket as Firecracker reports it: disabled buckets are null. */
static json_t *bucket_to_json(const void *obj)
{
        const struct token_bucket_cfg *tb = obj;

        if (!config_bucket_active(tb))
                return json_null();
        return json_pack("{s:I, s:o, s:I}", "size", (json_int_t)tb->size, "one_time_burst",
                         tb->one_time_burst ? json_integer((json_int_t)tb->one_time_burst)
                                            : json_null(),
                         "refill_time", (json_int_t)tb->refill_time_ms);
}

/* A RateLimiter: null when nothing limits. */
static json_t *limiter_to_json(const void *obj)
{
        const struct rate_limiter_cfg *rl = obj;

        if (!config_bucket_active(&rl->bandwidth) && !config_bucket_active(&rl->ops))
                return json_null();
        return json_pack("{s:o, s:o}", "bandwidth", bucket_to_json(&rl->bandwidth), "ops",
                         bucket_to_json(&rl->ops));
}

#define TB struct token_bucket_cfg
/* TokenBucketConfig has no deny_unknown_fields: unknown keys are ignored, as Firecracker's. */
static const struct mfield bucket_fields[] = {
    F(TB, size, "size", mt_u64, MF_REQUIRED),
    F(TB, one_time_burst, "one_time_burst", mt_u64, MF_OPTION),
    F(TB, refill_time_ms, "refill_time", mt_u64, MF_REQUIRED),
};
const struct model model_token_bucket = {"struct TokenBucketConfig", bucket_fields, 3, true,
                                         bucket_to_json};

#define RL struct rate_limiter_cfg
static const struct mfield limiter_fields[] = {
    F_SUB(RL, bandwidth, "bandwidth", mt_object, MF_OPTION, &model_token_bucket, bandwidth.present),
    F_SUB(RL, ops, "ops", mt_object, MF_OPTION, &model_token_bucket, ops.present),
};
const struct model model_rate_limiter = {"struct RateLimiterConfig", limiter_fields, 2, false,
                                         limiter_to_json};

bool config_bucket_active(const struct token_bucket_cfg *tb)
{
        return tb->present && tb->size > 0 && tb->refill_time_ms > 0;
}

static enum bucket_update bucket_op(const struct token_bucket_cfg *tb)
{
        if (!tb->present)
                return BUCKET_KEEP;
        return config_bucket_active(tb) ? BUCKET_SET : BUCKET_DISABLE;
}

void cfg_rate_limiter_update(const struct rate_limiter_cfg *rl, struct rate_limiter_update *out)
{
        memset(out, 0, sizeof(*out));
        out->bandwidth_op = bucket_op(&rl->bandwidth);
        out->ops_op = bucket_op(&rl->ops);
        out->bandwidth = rl->bandwidth;
        out->ops = rl->ops;
}

static void bucket_apply(struct token_bucket_cfg *tb, enum bucket_update op,
                         const struct token_bucket_cfg *val)
{
        if (op == BUCKET_SET)
                *tb = *val;
        else if (op == BUCKET_DISABLE)
                memset(tb, 0, sizeof(*tb));
}

void config_rate_limiter_apply(struct rate_limiter_cfg *rl, const struct rate_limiter_update *u)
{
        bucket_apply(&rl->bandwidth, u->bandwidth_op, &u->bandwidth);
        bucket_apply(&rl->ops, u->ops_op, &u->ops);
}

/* ---- a RateLimiter in a PATCH body, decoded straight into an update ------------------------ */

static int check_update(struct perr *pe, const json_t *v, const struct mfield *f)
{
        return mt_object.check(pe, v, f);
}

static int store_update(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        struct rate_limiter_cfg rl;
        int rc;

        (void)f;
        memset(&rl, 0, sizeof(rl));
        rc = model_decode(pe, &model_rate_limiter, v, &rl, false);
        if (!rc)
                cfg_rate_limiter_update(&rl, dst);
        return rc;
}

const struct mtype mt_rl_update = {check_update, store_update, NULL, NULL};
