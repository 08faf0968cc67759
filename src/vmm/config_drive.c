/* Drives (virtio-block) and rate limiters: Firecracker's Drive/PartialDrive/RateLimiter schemas. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/config.h"
#include "vmm/config_priv.h"

#define MSG_ID_MISMATCH  "The id from the path does not match the id from the body!"
#define MSG_PATCH_PREFIX "Unable to patch the block device: "
#define MSG_PATCH_SUFFIX " Please verify the request arguments."

/* ---- TokenBucket / RateLimiter ------------------------------------------------------------ */

/* TokenBucketConfig has no deny_unknown_fields: unknown keys are ignored, as Firecracker does. */
static const struct field bucket_fields[] = {
    {"size", FK_U64, true, false, NULL, NULL},
    {"one_time_burst", FK_U64, false, true, NULL, NULL},
    {"refill_time", FK_U64, true, false, NULL, NULL},
};

static const struct field limiter_fields[] = {
    {"bandwidth", FK_OBJECT, false, true, NULL, "struct TokenBucketConfig"},
    {"ops", FK_OBJECT, false, true, NULL, "struct TokenBucketConfig"},
};

static uint64_t u64_of(const json_t *obj, const char *name)
{
        const json_t *v = cfg_given(obj, name);

        return v ? (uint64_t)json_integer_value(v) : 0;
}

int cfg_parse_token_bucket(struct perr *pe, const json_t *v, struct token_bucket_cfg *out)
{
        int rc;

        memset(out, 0, sizeof(*out));
        if (!v || json_is_null(v))
                return 0;
        rc = cfg_check_object(pe, v, bucket_fields, 3, "struct TokenBucketConfig", false, true);
        if (rc)
                return rc;
        out->present = true;
        out->size = u64_of(v, "size");
        out->one_time_burst = u64_of(v, "one_time_burst");
        out->refill_time_ms = u64_of(v, "refill_time");
        return 0;
}

int cfg_parse_rate_limiter(struct perr *pe, const json_t *v, struct rate_limiter_cfg *out)
{
        struct rate_limiter_cfg rl;
        int rc;

        memset(&rl, 0, sizeof(rl));
        if (v && !json_is_null(v)) {
                rc = cfg_check_object(pe, v, limiter_fields, 2, "struct RateLimiterConfig", false,
                                      false);
                if (rc)
                        return rc;
                rc = cfg_parse_token_bucket(pe, json_object_get(v, "bandwidth"), &rl.bandwidth);
                if (rc)
                        return rc;
                rc = cfg_parse_token_bucket(pe, json_object_get(v, "ops"), &rl.ops);
                if (rc)
                        return rc;
        }
        *out = rl;
        return 0;
}

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

int cfg_parse_rate_limiter_update(struct perr *pe, const json_t *v, struct rate_limiter_update *out)
{
        struct rate_limiter_cfg rl;
        int rc;

        rc = cfg_parse_rate_limiter(pe, v, &rl);
        if (rc)
                return rc;
        memset(out, 0, sizeof(*out));
        out->bandwidth_op = bucket_op(&rl.bandwidth);
        out->ops_op = bucket_op(&rl.ops);
        out->bandwidth = rl.bandwidth;
        out->ops = rl.ops;
        return 0;
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

/* A live TokenBucket as Firecracker reports it: disabled buckets are null. */
static json_t *bucket_to_json(const struct token_bucket_cfg *tb)
{
        if (!config_bucket_active(tb))
                return json_null();
        return json_pack("{s:I, s:o, s:I}", "size", (json_int_t)tb->size, "one_time_burst",
                         tb->one_time_burst ? json_integer((json_int_t)tb->one_time_burst)
                                            : json_null(),
                         "refill_time", (json_int_t)tb->refill_time_ms);
}

json_t *cfg_rate_limiter_to_json(const struct rate_limiter_cfg *rl)
{
        if (!config_bucket_active(&rl->bandwidth) && !config_bucket_active(&rl->ops))
                return json_null();
        return json_pack("{s:o, s:o}", "bandwidth", bucket_to_json(&rl->bandwidth), "ops",
                         bucket_to_json(&rl->ops));
}

/* ---- Drive -------------------------------------------------------------------------------- */

static const char *const cache_variants[] = {"Unsafe", "Writeback", NULL};
static const char *const engine_variants[] = {"Async", "Sync", NULL};

/* BlockDeviceConfig's fields in declaration order (that of serde's messages). */
static const struct field drive_fields[] = {
    {"drive_id", FK_STR, true, false, NULL, NULL},
    {"partuuid", FK_STR, false, true, NULL, NULL},
    {"is_root_device", FK_BOOL, true, false, NULL, NULL},
    {"cache_type", FK_ENUM, false, false, cache_variants, "enum CacheType"},
    {"is_read_only", FK_BOOL, false, true, NULL, NULL},
    {"path_on_host", FK_STR, false, true, NULL, NULL},
    {"rate_limiter", FK_OBJECT, false, true, NULL, "struct RateLimiterConfig"},
    {"io_engine", FK_ENUM, false, true, engine_variants, "enum FileEngineType"},
    {"socket", FK_STR, false, true, NULL, NULL},
};
#define N_DRIVE_FIELDS (sizeof(drive_fields) / sizeof(drive_fields[0]))

static const struct field partial_drive_fields[] = {
    {"drive_id", FK_STR, true, false, NULL, NULL},
    {"path_on_host", FK_STR, false, true, NULL, NULL},
    {"rate_limiter", FK_OBJECT, false, true, NULL, "struct RateLimiterConfig"},
};

void config_drive_free(struct drive_cfg *d)
{
        free(d->drive_id);
        free(d->path_on_host);
        free(d->partuuid);
        memset(d, 0, sizeof(*d));
}

void config_drive_update_free(struct drive_update *u)
{
        free(u->drive_id);
        free(u->path_on_host);
        memset(u, 0, sizeof(*u));
}

static int id_mismatch(struct perr *pe, const char *path_id, const char *body_id)
{
        if (!path_id || strcmp(path_id, body_id) == 0)
                return 0;
        return cfg_fail(pe, -EXDEV, MSG_ID_MISMATCH);
}

/* Deserializes a Drive; on success *d owns its strings. */
int cfg_drive_deserialize(struct perr *pe, const json_t *body, struct drive_cfg *d)
{
        const json_t *v;
        int rc;

        memset(d, 0, sizeof(*d));
        rc = cfg_check_object(pe, body, drive_fields, N_DRIVE_FIELDS, "struct BlockDeviceConfig",
                              false, false);
        if (rc)
                return rc;
        rc = cfg_parse_rate_limiter(pe, json_object_get(body, "rate_limiter"), &d->rate_limiter);
        if (rc)
                return rc;
        d->has_rate_limiter = cfg_given(body, "rate_limiter") != NULL;
        d->is_root_device = json_is_true(json_object_get(body, "is_root_device"));
        d->is_read_only = json_is_true(cfg_given(body, "is_read_only"));
        v = cfg_given(body, "cache_type");
        d->cache_type = v && strcmp(json_string_value(v), "Writeback") == 0 ? DRIVE_CACHE_WRITEBACK
                                                                            : DRIVE_CACHE_UNSAFE;
        v = cfg_given(body, "io_engine");
        d->io_engine =
            v && strcmp(json_string_value(v), "Async") == 0 ? DRIVE_IO_ASYNC : DRIVE_IO_SYNC;
        if (cfg_dup_opt(body, "drive_id", &d->drive_id) ||
            cfg_dup_opt(body, "path_on_host", &d->path_on_host) ||
            cfg_dup_opt(body, "partuuid", &d->partuuid)) {
                config_drive_free(d);
                return cfg_fail(pe, -ENOMEM, "out of memory");
        }
        return 0;
}

/* Opens the backing file as the device will, so a bad path fails now (Firecracker's PUT). */
static int drive_open_check(struct perr *pe, const struct drive_cfg *d)
{
        char path[CFG_MAX_ECHO * 6 + 16];
        int fd, e;

        fd = open(d->path_on_host, (d->is_read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (fd >= 0) {
                close(fd);
                return 0;
        }
        e = errno;
        cfg_escape(d->path_on_host, strlen(d->path_on_host), path, sizeof(path));
        return cfg_fail(pe, -EINVAL,
                        "Unable to create the virtio block device: Virtio backend error: Error "
                        "manipulating the backing file: %s (os error %d) %s",
                        strerror(e), e, path);
}

static int drive_index(const struct vm_config *cfg, const char *id)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_drives; i++)
                if (strcmp(cfg->drives[i].drive_id, id) == 0)
                        return (int)i;
        return -1;
}

/* BlockBuilder::insert(): replace by id, root first, at most one root. Takes d's strings. */
static int drive_insert(struct perr *pe, struct vm_config *cfg, struct drive_cfg *d)
{
        int pos = drive_index(cfg, d->drive_id);
        bool has_root = cfg->nr_drives > 0 && cfg->drives[0].is_root_device;
        struct drive_cfg tmp;

        if (d->is_root_device && has_root && pos != 0)
                return cfg_fail(pe, -EINVAL, "A root block device already exists!");
        if (pos < 0 && cfg->nr_drives >= CONFIG_MAX_DRIVES)
                return cfg_fail(pe, -ENOSPC, "brasa supports at most %d drives", CONFIG_MAX_DRIVES);
        if (pos >= 0) {
                config_drive_free(&cfg->drives[pos]);
                cfg->drives[pos] = *d;
                if (pos != 0 && d->is_root_device) {
                        tmp = cfg->drives[0];
                        cfg->drives[0] = cfg->drives[pos];
                        cfg->drives[pos] = tmp;
                }
        } else if (d->is_root_device) {
                memmove(&cfg->drives[1], &cfg->drives[0], cfg->nr_drives * sizeof(cfg->drives[0]));
                cfg->drives[0] = *d;
                cfg->nr_drives++;
        } else {
                cfg->drives[cfg->nr_drives++] = *d;
        }
        memset(d, 0, sizeof(*d));
        return 0;
}

/* Validates a deserialized drive and inserts it (takes d's strings on success). */
int cfg_drive_apply(struct perr *pe, struct vm_config *cfg, struct drive_cfg *d, bool has_socket)
{
        int rc;

        if (has_socket && !d->path_on_host)
                return cfg_fail(pe, -ENOTSUP,
                                "vhost-user block devices (`socket`) are not supported yet by "
                                "brasa");
        if (!d->path_on_host || has_socket)
                return cfg_fail(pe, -EINVAL,
                                "Unable to create the virtio block device: Invalid block config.");
        rc = drive_open_check(pe, d);
        if (rc)
                return rc;
        return drive_insert(pe, cfg, d);
}

int config_put_drive(struct vm_config *cfg, const json_t *body, const char *path_id, char *err,
                     size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};
        struct drive_cfg d;
        int rc;

        rc = cfg_drive_deserialize(&pe, body, &d);
        if (rc)
                return rc;
        rc = id_mismatch(&pe, path_id, d.drive_id);
        if (!rc)
                rc = cfg_drive_apply(&pe, cfg, &d, cfg_given(body, "socket") != NULL);
        config_drive_free(&d);
        return rc;
}

int config_patch_drive(const struct vm_config *cfg, const json_t *body, const char *path_id,
                       struct drive_update *out, char *err, size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};
        struct drive_update u;
        int rc;

        memset(&u, 0, sizeof(u));
        rc = cfg_check_object(&pe, body, partial_drive_fields, 3, "struct BlockDeviceUpdateConfig",
                              false, false);
        if (!rc)
                rc = cfg_parse_rate_limiter_update(&pe, json_object_get(body, "rate_limiter"),
                                                   &u.rate_limiter);
        if (rc)
                return rc;
        u.has_rate_limiter = cfg_given(body, "rate_limiter") != NULL;
        if (cfg_dup_opt(body, "drive_id", &u.drive_id) ||
            cfg_dup_opt(body, "path_on_host", &u.path_on_host)) {
                config_drive_update_free(&u);
                return cfg_fail(&pe, -ENOMEM, "out of memory");
        }
        rc = id_mismatch(&pe, path_id, u.drive_id);
        if (!rc && drive_index(cfg, u.drive_id) < 0)
                rc = cfg_fail(&pe, -ENOENT,
                              MSG_PATCH_PREFIX "Failed perform action on device: Device not "
                                               "found" MSG_PATCH_SUFFIX);
        if (!rc && !u.path_on_host && !u.has_rate_limiter)
                /* Firecracker treats this as a vhost-user config update; virtio-block refuses. */
                rc = cfg_fail(&pe, -EINVAL,
                              MSG_PATCH_PREFIX "Block: Running method expected different "
                                               "backend." MSG_PATCH_SUFFIX);
        if (rc) {
                config_drive_update_free(&u);
                return rc;
        }
        *out = u;
        return 0;
}

int config_check_drive_body(const json_t *body, const char *path_id, bool patch, char *err,
                            size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};
        struct rate_limiter_update u;
        struct drive_cfg d;
        int rc;

        if (!patch) {
                rc = cfg_drive_deserialize(&pe, body, &d);
                if (!rc)
                        rc = id_mismatch(&pe, path_id, d.drive_id);
                config_drive_free(&d);
                return rc;
        }
        rc = cfg_check_object(&pe, body, partial_drive_fields, 3, "struct BlockDeviceUpdateConfig",
                              false, false);
        if (!rc)
                rc = cfg_parse_rate_limiter_update(&pe, json_object_get(body, "rate_limiter"), &u);
        if (!rc)
                rc =
                    id_mismatch(&pe, path_id, json_string_value(json_object_get(body, "drive_id")));
        return rc;
}

int config_apply_drive_update(struct vm_config *cfg, const struct drive_update *u)
{
        int pos = drive_index(cfg, u->drive_id);
        struct drive_cfg *d;
        char *path;

        if (pos < 0)
                return -ENOENT;
        d = &cfg->drives[pos];
        if (u->path_on_host) {
                path = strdup(u->path_on_host);
                if (!path)
                        return -ENOMEM;
                free(d->path_on_host);
                d->path_on_host = path;
        }
        if (u->has_rate_limiter) {
                config_rate_limiter_apply(&d->rate_limiter, &u->rate_limiter);
                d->has_rate_limiter = true;
        }
        return 0;
}

static json_t *drive_to_json(const struct drive_cfg *d)
{
        return json_pack("{s:s, s:o, s:b, s:s, s:b, s:s, s:o, s:s, s:n}", "drive_id", d->drive_id,
                         "partuuid", d->partuuid ? json_string(d->partuuid) : json_null(),
                         "is_root_device", d->is_root_device, "cache_type",
                         d->cache_type == DRIVE_CACHE_WRITEBACK ? "Writeback" : "Unsafe",
                         "is_read_only", d->is_read_only, "path_on_host", d->path_on_host,
                         "rate_limiter", cfg_rate_limiter_to_json(&d->rate_limiter), "io_engine",
                         d->io_engine == DRIVE_IO_ASYNC ? "Async" : "Sync", "socket");
}

json_t *config_drives_to_json(const struct vm_config *cfg)
{
        json_t *a = json_array();
        unsigned int i;

        for (i = 0; a && i < cfg->nr_drives; i++) {
                if (json_array_append_new(a, drive_to_json(&cfg->drives[i]))) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}
