/* One API route as a table row, and the stage-1 decoders and stage-2 actions the rows name. */
#ifndef BRASA_API_ROUTE_H
#define BRASA_API_ROUTE_H

#include <stdbool.h>

#include "api/api.h"
#include "core/metrics.h"

/* Path-token patterns of a row besides a literal token. */
extern const char route_any[];  /* anything, or nothing */
extern const char route_none[]; /* no token here */
extern const char route_id[];   /* the resource id, checked as Firecracker's checked_id() */

enum route_body {
        BODY_NO,     /* the row matches only without a body */
        BODY_YES,    /* the row matches only with a body, which is parsed */
        BODY_OPT,    /* parsed when present */
        BODY_IGNORE, /* anything; never parsed */
};

/* When a route may run (Firecracker's pre-/post-boot controllers). */
enum route_gate {
        GATE_ANY,
        GATE_PRE,  /* before InstanceStart only */
        GATE_POST, /* after InstanceStart only */
        GATE_PCI,  /* hot-plug: after InstanceStart the answer is "PCI is not enabled" */
};

struct route {
        enum http_method method;
        const char *p0, *p1, *p2; /* path tokens: literal, route_any, route_none or route_id */
        enum route_body body;
        /* stage 1 (API thread): the body is decoded once as kind (an enum cfg_body) into
         * call->val, then these extra checks (deprecations) run on the JSON; -1: no model
         * (the JSON is kept as data, e.g. MMDS) */
        int kind;
        int (*decode)(struct api_call *call, struct err *e);
        /* stage 2 (VMM thread) */
        enum route_gate gate;
        bool boot_specific; /* configuring it rules out loading a snapshot */
        struct metric_counter *count, *fails;
        const char *prefix; /* Firecracker's prefix of the action's validation errors */
        void (*action)(struct api_ctx *ctx, struct api_call *call);
        /* a path Firecracker refuses by name: a generic message, or (leading '/') the path an
         * "Invalid request method and/or path" error names; %s is the unmatched token */
        const char *refuse;
};

/* The route table, in match order; ends with a row whose p0 is NULL. */
extern const struct route api_routes[];

/*
 * Stage-1 extra checks (router.c), API thread: run on call->body (parsed, non-NULL, already
 * decoded into call->val) without touching any state, and may mark the call deprecated. Return 0,
 * -EBADMSG (e holds serde's message), -ENODATA (an empty PATCH) or -EXDEV (e holds the id-mismatch
 * text).
 */
int api_decode_machine(struct api_call *call, struct err *e);
int api_decode_machine_patch(struct api_call *call, struct err *e);
int api_decode_mmds_config(struct api_call *call, struct err *e);
int api_decode_snapshot_load(struct api_call *call, struct err *e);
int api_decode_vsock(struct api_call *call, struct err *e);

/*
 * Stage-2 actions (handlers.c, api_mmds.c), VMM thread: run a routed call whose gate passed
 * against ctx and fill call->resp. call->route is the row, for its kind and error prefix.
 */
void api_get_info(struct api_ctx *ctx, struct api_call *call);
void api_get_version(struct api_ctx *ctx, struct api_call *call);
void api_get_vm_config(struct api_ctx *ctx, struct api_call *call);
void api_get_machine(struct api_ctx *ctx, struct api_call *call);
void api_get_balloon(struct api_ctx *ctx, struct api_call *call);
void api_get_balloon_stats(struct api_ctx *ctx, struct api_call *call);
void api_patch_balloon(struct api_ctx *ctx, struct api_call *call);
void api_patch_balloon_stats(struct api_ctx *ctx, struct api_call *call);
void api_balloon_hinting(struct api_ctx *ctx, struct api_call *call);
void api_put_actions(struct api_ctx *ctx, struct api_call *call);
void api_put_boot(struct api_ctx *ctx, struct api_call *call);
void api_put_machine(struct api_ctx *ctx, struct api_call *call);
void api_patch_machine(struct api_ctx *ctx, struct api_call *call);
void api_put_drive(struct api_ctx *ctx, struct api_call *call);
void api_patch_drive(struct api_ctx *ctx, struct api_call *call);
void api_patch_net(struct api_ctx *ctx, struct api_call *call);
void api_patch_pmem(struct api_ctx *ctx, struct api_call *call);
void api_put_stored(struct api_ctx *ctx, struct api_call *call);
void api_put_mmds_config(struct api_ctx *ctx, struct api_call *call);
void api_put_logger(struct api_ctx *ctx, struct api_call *call);
void api_put_metrics(struct api_ctx *ctx, struct api_call *call);
void api_put_snapshot_load(struct api_ctx *ctx, struct api_call *call);
void api_put_snapshot_create(struct api_ctx *ctx, struct api_call *call);
void api_patch_vm(struct api_ctx *ctx, struct api_call *call);
/* GET and PATCH /hotplug/memory after boot: the virtio-mem device's. */
void api_mem_hotplug(struct api_ctx *ctx, struct api_call *call);
void api_no_pci(struct api_ctx *ctx, struct api_call *call);
void api_get_mmds(struct api_ctx *ctx, struct api_call *call);
void api_put_mmds(struct api_ctx *ctx, struct api_call *call);
void api_patch_mmds(struct api_ctx *ctx, struct api_call *call);

#endif /* BRASA_API_ROUTE_H */
