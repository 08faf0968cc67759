/* The MMDS data store routes (GET/PUT/PATCH /mmds) and the logger update. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/route.h"
#include "core/log.h"
#include "core/metrics.h"
#include "mmds/mmds_json.h"
#include "mmds/mmds_service.h"
#include "vmm/vmm.h"
#include "model/mmds_data.h"

#define MSG_NOT_INIT "MMDS error: The MMDS data store is not initialized."
#define MSG_LIMIT    "MMDS limit exceeded error: The MMDS patch request doesn't fit."

/* RFC 7396 JSON merge patch of target by patch (serde_json's json_patch in Firecracker). */
static json_t *merge_patch(json_t *target, const json_t *patch)
{
        const char *key;
        json_t *v, *sub;

        if (!json_is_object(patch)) {
                json_decref(target);
                return json_deep_copy(patch);
        }
        if (!json_is_object(target)) {
                json_decref(target);
                target = json_object();
        }
        json_object_foreach((json_t *)(uintptr_t)patch, key, v)
        {
                if (json_is_null(v)) {
                        json_object_del(target, key);
                        continue;
                }
                sub = json_object_get(target, key);
                json_object_set_new(target, key, merge_patch(json_incref(sub), v));
        }
        return target;
}

static void ok(struct api_call *call, int status, json_t *v)
{
        char *text = NULL;

        if (v)
                text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        call->resp.status = status;
        call->resp.body = text;
        call->resp.len = text ? strlen(text) : 0;
}

/* GET /mmds: the store as serde_json writes it (keys sorted, floats in shortest form). */
static void ok_store(struct api_call *call, const json_t *store)
{
        struct mmds_buf b = {0};

        mmds_json_write(&b, store);
        mmds_buf_add(&b, "", 1);
        if (b.oom) {
                free(b.p);
                api_fault(&call->resp, 500, "Out of memory.");
                return;
        }
        call->resp.status = 200;
        call->resp.body = b.p;
        call->resp.len = b.n - 1;
}

void api_get_mmds(struct api_ctx *ctx, struct api_call *call)
{
        json_t *empty;

        if (ctx->started && !ctx->mmds_exists) {
                api_fault(&call->resp, 400, MSG_NOT_INIT);
                return;
        }
        ctx->mmds_exists = true;
        if (ctx->mmds && !json_is_null(ctx->mmds)) {
                ok_store(call, ctx->mmds);
                return;
        }
        empty = json_object();
        ok(call, 200, empty);
        json_decref(empty);
}

void api_put_mmds(struct api_ctx *ctx, struct api_call *call)
{
        if (ctx->started && !ctx->mmds_exists) {
                api_fault(&call->resp, 400, MSG_NOT_INIT);
                return;
        }
        ctx->mmds_exists = true;
        if (mmds_json_size(call->body) > ctx->mmds_limit) {
                api_fault(&call->resp, 413, MSG_LIMIT);
                return;
        }
        json_decref(ctx->mmds);
        ctx->mmds = json_incref(call->body);
        ok(call, 204, NULL);
}

void api_patch_mmds(struct api_ctx *ctx, struct api_call *call)
{
        json_t *copy;

        if (ctx->started && !ctx->mmds_exists) {
                api_fault(&call->resp, 400, MSG_NOT_INIT);
                return;
        }
        ctx->mmds_exists = true;
        if (!ctx->mmds) {
                api_fault(&call->resp, 400, MSG_NOT_INIT);
                return;
        }
        copy = merge_patch(json_deep_copy(ctx->mmds), call->body);
        if (!copy || mmds_json_size(copy) > ctx->mmds_limit) {
                json_decref(copy);
                api_fault(&call->resp, 413, MSG_LIMIT);
                return;
        }
        json_decref(ctx->mmds);
        ctx->mmds = copy;
        ok(call, 204, NULL);
}

int api_apply_logger(const struct logger_cfg *l)
{
        int rc;

        if (l->log_path) {
                rc = log_open_path(l->log_path);
                if (rc)
                        return rc;
        }
        log_set_level(l->level >= 0 ? (enum log_level)l->level : LOG_INFO);
        log_set_format(l->show_level, l->show_log_origin);
        if (l->module)
                log_set_module(l->module);
        return 0;
}

void api_ctx_init(struct api_ctx *ctx, struct vmm *vmm, struct vm_config *cfg,
                  const char *instance_id, size_t mmds_limit)
{
        memset(ctx, 0, sizeof(*ctx));
        ctx->vmm = vmm;
        ctx->cfg = cfg;
        ctx->instance_id = instance_id ? instance_id : "anonymous-instance";
        ctx->mmds_limit = mmds_limit;
}

int api_mmds_attach(struct api_ctx *ctx)
{
        int rc;

        if (!ctx->cfg->mmds.present || !ctx->vmm)
                return 0;
        rc = mmds_service_start(&ctx->mmds_svc, &ctx->mmds, &ctx->cfg->mmds, ctx->instance_id);
        if (rc)
                return rc;
        ctx->vmm->mmds = &ctx->mmds_svc;
        return 0;
}

void api_ctx_fini(struct api_ctx *ctx)
{
        if (ctx->vmm && ctx->vmm->mmds == &ctx->mmds_svc)
                ctx->vmm->mmds = NULL;
        mmds_service_fini(&ctx->mmds_svc);
        json_decref(ctx->mmds);
        ctx->mmds = NULL;
}
