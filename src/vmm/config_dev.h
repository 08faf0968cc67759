/* API bodies beyond boot-source, machine-config and drives: schemas, validation and storage. */
#ifndef BRASA_VMM_CONFIG_DEV_H
#define BRASA_VMM_CONFIG_DEV_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "vmm/config.h"

/* The request bodies with a schema (Firecracker's serde structs). */
enum cfg_body {
        CFG_BODY_NET,
        CFG_BODY_NET_PATCH,
        CFG_BODY_VSOCK,
        CFG_BODY_ENTROPY,
        CFG_BODY_BALLOON,
        CFG_BODY_BALLOON_PATCH,
        CFG_BODY_BALLOON_STATS,
        CFG_BODY_HINTING,
        CFG_BODY_PMEM,
        CFG_BODY_PMEM_PATCH,
        CFG_BODY_HOTPLUG,
        CFG_BODY_HOTPLUG_PATCH,
        CFG_BODY_MMDS_CONFIG,
        CFG_BODY_SERIAL,
        CFG_BODY_LOGGER,
        CFG_BODY_METRICS,
        CFG_BODY_SNAPSHOT_CREATE,
        CFG_BODY_SNAPSHOT_LOAD,
        CFG_BODY_VM_STATE,
        CFG_BODY_ACTION,
        CFG_BODY_CPU_CONFIG,
};

/* PATCH /network-interfaces/{id}: the rate-limiter changes for one interface. */
struct net_update {
        char iface_id[256];
        struct rate_limiter_update rx, tx;
};

/*
 * Deserializes body against kind's schema, as serde does (types, unknown and missing
 * fields, nested rate limiters, value formats such as a MAC address or the log level),
 * and checks a path id against the body's id (path_id NULL: none). Stores nothing.
 * Returns 0, -EBADMSG (message as serde's) or -EXDEV (Firecracker's id-mismatch text).
 */
int config_check_body(enum cfg_body kind, const json_t *body, const char *path_id, char *err,
                      size_t errlen);

/*
 * Validates a checked body and stores it in cfg (PUT semantics: replaces the resource of
 * that id, or the single device). kind is one of NET, VSOCK, ENTROPY, BALLOON, PMEM,
 * HOTPLUG, MMDS_CONFIG, SERIAL, CPU_CONFIG. Messages have no Firecracker prefix ("Amount of
 * pages requested is too large."). Returns 0, -EINVAL, -ENOSPC or -ENOMEM.
 */
int config_put_body(enum cfg_body kind, struct vm_config *cfg, const json_t *body,
                    const char *path_id, char *err, size_t errlen);

/*
 * PATCH /network-interfaces/{id} after boot: parses the rate-limiter update into *out and
 * checks the interface exists. Returns 0, -EBADMSG, -EXDEV or -ENOENT ("Unable to update
 * the net device: Failed perform action on device: Device not found").
 */
int config_patch_net(const struct vm_config *cfg, const json_t *body, const char *path_id,
                     struct net_update *out, char *err, size_t errlen);

/* PATCH /pmem/{id} after boot: as config_patch_net(), for a pmem device's rate limiter. */
int config_patch_pmem(const struct vm_config *cfg, const json_t *body, const char *path_id,
                      char *err, size_t errlen);

/* Parses a Logger body (checked) into *out; out owns its strings. 0, -EBADMSG or -ENOMEM. */
int config_parse_logger(const json_t *body, struct logger_cfg *out, char *err, size_t errlen);

/* Frees what *l owns and resets it to "nothing set". */
void config_logger_free(struct logger_cfg *l);

/* "info" -> LOG_INFO etc. (case-insensitive, "warning" too); -1 if unknown. */
int config_log_level_from_name(const char *s);

/* The Balloon object of GET /balloon and GET /vm/config (null when not configured). */
json_t *config_balloon_to_json(const struct balloon_cfg *b);

#endif
