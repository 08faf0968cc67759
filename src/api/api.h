/* The Firecracker-compatible REST API: request routing (API thread) and handling (VMM thread). */
#ifndef BRASA_API_API_H
#define BRASA_API_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "api/http.h"
#include "core/err.h"
#include "mmds/mmds_service.h"
#include "model/config.h"

#define API_FC_VERSION "1.16.1" /* the Firecracker version brasa answers as */
#define API_MAX_ID     256u     /* bytes of a path id kept (longer ones are refused) */

struct vmm;

struct route;
struct metric_counter;

struct api_response {
        int status; /* 200, 204, 400 or 413 */
        char *body; /* malloc'd JSON (NULL for 204) */
        size_t len;
        bool deprecation; /* add "Deprecation: true" */
        const char *hint; /* the error's struct err hint, logged after it; NULL: none */
};

/* One request between the two stages. */
struct api_call {
        const struct route *route;    /* the matched row; NULL: stage 1 produced the response */
        struct metric_counter *fails; /* Firecracker's *_fails counter for this request, or NULL */
        enum http_method method;
        char id[API_MAX_ID + 1]; /* second path token (resource id), "" if none */
        json_t *body;            /* parsed body (owned) of rows without a model, or NULL */
        struct cfg_value val;    /* the body decoded once (API thread), typed by its kind */
        const char *deprecation; /* deprecation warning to log, or NULL */
        uint64_t start_us;       /* CLOCK_MONOTONIC when the API thread took the request */
        struct api_response resp;
};

/* Post-boot device updates, provided by the device implementations (NULL: no device yet). */
struct api_device_hooks {
        /* PATCH /drives/{id}: swap the backing file and/or the rate limiter. */
        int (*update_drive)(struct vmm *vmm, const struct drive_update *u, struct err *e);
        /* PATCH /network-interfaces/{id}: swap rate limiters. */
        int (*update_net)(struct vmm *vmm, const struct net_update *u, struct err *e);
        /* PATCH /pmem/{id} with a rate_limiter: swap its buckets. */
        int (*update_pmem)(struct vmm *vmm, const struct pmem_update *u, struct err *e);
        /* The balloon routes after boot: 0 (*out set for the GETs), -ENOENT (no balloon) or
         * -errno with Firecracker's words in e. */
        int (*balloon)(struct vmm *vmm, const struct balloon_req *rq, json_t **out, struct err *e);
        /* GET (requested_mib NULL: *out set) and PATCH /hotplug/memory after boot: 0, -ENOENT
         * (no virtio-mem device) or -errno with Firecracker's words in e. */
        int (*mem_hotplug)(struct vmm *vmm, const uint64_t *requested_mib, json_t **out,
                           struct err *e);
};

/* What the handlers act on; owned by the VMM thread. */
struct api_ctx {
        struct vmm *vmm;       /* NULL in tests: InstanceStart then answers an error */
        struct vm_config *cfg; /* the configured resources (not owned) */
        const char *instance_id;
        bool started;        /* InstanceStart (or the config-file boot) succeeded */
        bool boot_path;      /* a boot-specific resource was configured: no snapshot load */
        bool restore_failed; /* a snapshot load failed past its gates: brasa must exit 1 */
        json_t *mmds;        /* MMDS data store (owned), NULL until first written */
        bool mmds_exists;    /* the store was created (any MMDS request before boot) */
        size_t mmds_limit;   /* bytes of the serialized store (--mmds-size-limit) */
        /* the guest-facing service over mmds (vmm->mmds points here once InstanceStart
         * starts it for an mmds-config) */
        struct mmds_service mmds_svc;
        struct api_device_hooks hooks;
};

/*
 * Stage 1, API thread: matches method and path to a row of the route table (routes.c) as
 * Firecracker's ParsedRequest::try_from() does, checks the body's presence, parses and
 * deserializes it (types, unknown fields, ids) without touching any state. On failure
 * call->route is NULL and call->resp holds the 400. call->body is freed by api_call_fini().
 */
void api_route(const struct http_request *req, struct api_call *call);

/*
 * Stage 2, VMM thread: applies the row's pre-/post-boot gate, counts the request and runs
 * the row's action against ctx, filling call->resp. Never blocks on a client.
 */
void api_handle(struct api_ctx *ctx, struct api_call *call);

/* Counts a failed request in Firecracker's put/patch_api_requests.<resource>_fails. */
void api_count_failure(const struct api_call *call);

/* Frees what call owns (body, response body). */
void api_call_fini(struct api_call *call);

/* Initialises ctx around cfg (not owned) with Firecracker's defaults. */
void api_ctx_init(struct api_ctx *ctx, struct vmm *vmm, struct vm_config *cfg,
                  const char *instance_id, size_t mmds_limit);

/*
 * With an mmds-config, starts the metadata service over ctx's store (its version,
 * imds_compat, a fresh token key) and points vmm->mmds at it, so that the devices
 * InstanceStart builds can reach it. Returns 0 (also when there is no mmds-config) or
 * -errno (no key could be drawn).
 */
int api_mmds_attach(struct api_ctx *ctx);

/* Frees what ctx owns (the MMDS store, the service's key). */
void api_ctx_fini(struct api_ctx *ctx);

/*
 * Applies a Logger body to the process logger as Firecracker's Logger::update(): opens
 * log_path first (O_NONBLOCK, created if missing), then sets level (default Info),
 * show_level, show_log_origin and module where given. Returns 0 or -errno (nothing changed).
 */
int api_apply_logger(const struct logger_cfg *l);

/* Sets resp to a 400 (or code) with {"fault_message": msg}; logs nothing. */
void api_fault(struct api_response *resp, int code, const char *msg);

#endif
