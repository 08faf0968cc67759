/* Helpers shared by the config parsers (config.c and config_*.c); not a public interface. */
#ifndef BRASA_VMM_CONFIG_PRIV_H
#define BRASA_VMM_CONFIG_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "vmm/config.h"

#define CFG_MAX_ECHO 64 /* bytes of a user string echoed back in a message */

/* Where a message goes and what it is about. */
struct perr {
        char *buf;
        size_t len;
        const char *sect; /* config-file section the body came from; NULL for API bodies */
        bool file;        /* add Firecracker's ResourcesError prefixes */
        /* file mode: prefix of -EINVAL messages ("Block device error: "); NULL = "VM config
         * error: " (machine-config's) */
        const char *prefix;
};

enum fkind {
        FK_U8,
        FK_USIZE,
        FK_BOOL,
        FK_STR,
        FK_ENUM,
        FK_U16,
        FK_U32,
        FK_U64,
        FK_OBJECT, /* any JSON object: the caller checks its contents */
        FK_ARRAY,  /* any JSON array: the caller checks its elements */
        FK_ANY,    /* any JSON value */
};

struct field {
        const char *name;
        enum fkind kind;
        bool required;               /* PUT semantics: must be present */
        bool nullable;               /* Option<T>: null reads as absent */
        const char *const *variants; /* FK_ENUM: NULL-terminated */
        const char *expected;        /* FK_ENUM / FK_OBJECT: "enum HugePageConfig" */
};

/* Writes "<prefix><message>" (one line of UTF-8) into pe and returns rc. */
int cfg_fail(struct perr *pe, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* serde's "invalid type: <what v is>, expected <expected> (field `f`)". Returns -EBADMSG. */
int cfg_type_error(struct perr *pe, const json_t *v, const char *expected, const char *field);

/* Copies n bytes of s escaped as Rust's Debug shows a str, cut at CFG_MAX_ECHO bytes. */
void cfg_escape(const char *s, size_t n, char *out, size_t outlen);

/*
 * Checks obj against fields[] as serde's derive does: an object, keys in document order
 * (unknown — unless lax — or mistyped first), then missing required ones (not for PATCH).
 * Returns 0 or -EBADMSG.
 */
int cfg_check_object(struct perr *pe, const json_t *obj, const struct field *fields, size_t n,
                     const char *type_name, bool patch, bool lax);

/* The value of a checked field, or NULL when it is absent or null. */
const json_t *cfg_given(const json_t *obj, const char *name);

/* strdup of an optional string field into *out (NULL when absent). 0 or -ENOMEM. */
int cfg_dup_opt(const json_t *obj, const char *name, char **out);

/* Makes s one line of valid UTF-8 in place. */
void cfg_one_line(char *s);

/* ---- config_drive.c ---- */

/* TokenBucket (unknown keys ignored); v NULL or null leaves *out empty. 0 or -EBADMSG. */
int cfg_parse_token_bucket(struct perr *pe, const json_t *v, struct token_bucket_cfg *out);

/* RateLimiter {bandwidth, ops}; v NULL or null leaves *out empty. 0 or -EBADMSG. */
int cfg_parse_rate_limiter(struct perr *pe, const json_t *v, struct rate_limiter_cfg *out);

/* A RateLimiter of a PATCH body, as Firecracker's RateLimiterUpdate. 0 or -EBADMSG. */
int cfg_parse_rate_limiter_update(struct perr *pe, const json_t *v,
                                  struct rate_limiter_update *out);

/* A stored RateLimiter as Firecracker shows a live one (null when nothing limits). */
json_t *cfg_rate_limiter_to_json(const struct rate_limiter_cfg *rl);

/* Deserializes a Drive object into *d (which then owns its strings). 0, -EBADMSG, -ENOMEM. */
int cfg_drive_deserialize(struct perr *pe, const json_t *body, struct drive_cfg *d);

/* Validates a deserialized drive and inserts it into cfg (taking d's strings on success). */
int cfg_drive_apply(struct perr *pe, struct vm_config *cfg, struct drive_cfg *d, bool has_socket);

/* ---- config_res.c: the config-file sections beyond boot-source and machine-config ---- */

struct cfg_section_ops {
        const char *key;    /* config-file key, e.g. "drives" */
        const char *prefix; /* ResourcesError prefix of its validation errors */
        /* pass 1, document order: types only */
        int (*check)(struct perr *pe, const json_t *v);
        /* pass 2, Firecracker's apply order: validate and store into cfg */
        int (*apply)(struct perr *pe, const json_t *v, struct vm_config *cfg);
        /* its value in GET /vm/config (new reference, or NULL on ENOMEM) */
        json_t *(*to_json)(const struct vm_config *cfg);
};

/* The handlers of config-file section key, or NULL when brasa has none. */
const struct cfg_section_ops *cfg_section_ops(const char *key);

/* ---- config_dev.c ---- */
#include "vmm/config_dev.h"

/* Checks body against the schema of kind (types, unknown/missing fields, nesting). */
int cfg_check_body(struct perr *pe, enum cfg_body kind, const json_t *body);

/* The config-file sections config_dev.c handles; ends with a NULL key. */
extern const struct cfg_section_ops cfg_dev_sections[];

/* Frees everything config_dev.c stores in cfg. */
void cfg_dev_free(struct vm_config *cfg);

/* Frees every resource config_res.c stores in cfg (drives, nets, ...). */
void cfg_free_resources(struct vm_config *cfg);

#endif /* BRASA_VMM_CONFIG_PRIV_H */
