/* The resource registry's entry and the helpers the resource files share; private to src/model/. */
#ifndef BRASA_MODEL_RESOURCE_H
#define BRASA_MODEL_RESOURCE_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "model/codec.h"
#include "model/config.h"

#define RES_SINGLE ((size_t)-1)

/*
 * One Firecracker resource: its body model, where struct vm_config keeps it, and what
 * storing it means. Every hook but apply is optional; the generic behaviour is named.
 */
struct resource {
        const char *key;           /* config-file and GET /vm/config key; NULL: API only */
        const char *prefix;        /* ResourcesError prefix of its validation errors (file) */
        const struct model *model; /* the body (a list's element) */
        size_t size;               /* sizeof the decoded value */
        size_t off;                /* where struct vm_config keeps it */
        size_t count_off;          /* lists: offset of the unsigned element count */
        size_t present_off;        /* singles: offset of its "configured" bool */
        int apply_rank;            /* its place in VmResources::from_json()'s order */
        bool net_ids;              /* id mismatch messages name both ids (network) */
        /* while brasa has no device for it: the name InstanceStart refuses it by */
        const char *no_device;
        /* validates the decoded value and stores it in cfg, moving out (and zeroing) what
         * it keeps; the caller releases val afterwards. 0 or -errno with a message. */
        int (*apply)(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body);
        /* the decode when not the model's (the value is zeroed first) */
        int (*decode)(struct perr *pe, const json_t *body, void *val);
        /* frees a decoded value when not "release the model's fields" */
        void (*free_val)(void *val);
        /* pass 1 of the config file when not "decode the value (each element)" */
        int (*check)(struct perr *pe, const json_t *v);
        /* GET /vm/config value when not "the value, or null / [] when not configured" */
        json_t *(*show)(const struct vm_config *cfg);
        /* frees what cfg keeps of it, when not "release the value(s) and zero them" */
        void (*release)(struct vm_config *cfg);
};

#define RES_AT(T, member) .off = offsetof(struct vm_config, member), .size = sizeof(T)
#define RES_ONE(T, member)                                                                         \
        RES_AT(T, member), .count_off = RES_SINGLE,                                                \
                           .present_off = offsetof(struct vm_config, member.present)
#define RES_LIST(T, member, count)                                                                 \
        RES_AT(T, member), .count_off = offsetof(struct vm_config, count), .present_off = MF_NO_HAS

/* The registry, in VmmConfig's declaration order (that of GET /vm/config and of messages). */
#define RES_DECLARE(name, ...) extern const struct resource res_##name;
MODEL_RESOURCES(RES_DECLARE)
#undef RES_DECLARE

/* ---- shared by the resource files ---- */

/* The bodies' TokenBucket and RateLimiter (src/model/rate_limiter.c). */
extern const struct model model_token_bucket, model_rate_limiter;

/* The bodies that are checked only (PATCH and action bodies), in their resources' files. */
extern const struct model model_machine, model_drive_patch, model_net_patch, model_balloon_patch,
    model_balloon_stats, model_hinting, model_hotplug_patch, model_pmem_patch,
    model_snapshot_create, model_snapshot_load, model_vm_state, model_action;

/* PATCH /machine-config: the given fields decoded over zero, and which they are. */
int cfg_machine_patch_decode(struct perr *pe, const json_t *body, void *val);

/* A RateLimiter of a PATCH body, stored as a struct rate_limiter_update (nested: the model). */
extern const struct mtype mt_rl_update;

/* Converts a decoded RateLimiter of a PATCH into Firecracker's per-bucket update. */
void cfg_rate_limiter_update(const struct rate_limiter_cfg *rl, struct rate_limiter_update *out);

/* The path id against the body id: 0, or -EXDEV with Firecracker's text (net names both). */
int cfg_id_mismatch(struct perr *pe, const char *path_id, const char *body_id, bool net_style);

/* Index of the list element whose first member (a char *) equals id, or -1. */
int cfg_list_index(const struct vm_config *cfg, const struct resource *r, const char *id);

/* Decodes a body of resource r into val (zeroed first) and checks its id against path_id. */
int cfg_decode_body(struct perr *pe, const struct resource *r, const json_t *body,
                    const char *path_id, void *val);

/* The resource's GET /vm/config value (its show hook, or the generic one). New reference. */
json_t *cfg_resource_show(const struct resource *r, const struct vm_config *cfg);

#define MSG_NOT_FOUND "Failed perform action on device: Device not found"

#endif /* BRASA_MODEL_RESOURCE_H */
