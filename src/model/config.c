/* The VM configuration: the registry's generic decode, store, show and free, and the config file.
 */
#include "model/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"
#include "model/resource.h"

#define RES_PTR(name, ...) &res_##name,
static const struct resource *const registry[] = {MODEL_RESOURCES(RES_PTR)};
#undef RES_PTR
#define N_RES (sizeof(registry) / sizeof(registry[0]))

/* ---- one resource's storage --------------------------------------------------------------- */

static void *slot(const struct vm_config *cfg, const struct resource *r, size_t i)
{
        return (char *)(uintptr_t)cfg + r->off + i * r->size;
}

static unsigned int *count_of(const struct vm_config *cfg, const struct resource *r)
{
        return (unsigned int *)((char *)(uintptr_t)cfg + r->count_off);
}

static bool is_list(const struct resource *r)
{
        return r->count_off != RES_SINGLE;
}

static bool configured(const struct vm_config *cfg, const struct resource *r)
{
        if (is_list(r))
                return *count_of(cfg, r) > 0;
        return r->present_off == MF_NO_HAS || *(const bool *)((const char *)cfg + r->present_off);
}

int cfg_list_index(const struct vm_config *cfg, const struct resource *r, const char *id)
{
        unsigned int i;

        for (i = 0; i < *count_of(cfg, r); i++)
                if (strcmp(*(char **)slot(cfg, r, i), id) == 0)
                        return (int)i;
        return -1;
}

json_t *cfg_resource_show(const struct resource *r, const struct vm_config *cfg)
{
        json_t *a;
        unsigned int i;

        if (r->show)
                return r->show(cfg);
        if (!is_list(r))
                return configured(cfg, r) ? model_encode(r->model, slot(cfg, r, 0)) : json_null();
        a = json_array();
        for (i = 0; a && i < *count_of(cfg, r); i++) {
                if (json_array_append_new(a, model_encode(r->model, slot(cfg, r, i)))) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static void resource_release(struct vm_config *cfg, const struct resource *r)
{
        unsigned int i;

        if (r->release) {
                r->release(cfg);
                return;
        }
        if (!is_list(r)) {
                model_release(r->model, slot(cfg, r, 0));
                memset(slot(cfg, r, 0), 0, r->size);
                if (r->present_off != MF_NO_HAS)
                        *(bool *)((char *)cfg + r->present_off) = false;
                return;
        }
        for (i = 0; i < *count_of(cfg, r); i++) {
                model_release(r->model, slot(cfg, r, i));
                memset(slot(cfg, r, i), 0, r->size);
        }
        *count_of(cfg, r) = 0;
}

/* ---- one body ---------------------------------------------------------------------------- */

int cfg_id_mismatch(struct perr *pe, const char *path_id, const char *body_id, bool net_style)
{
        if (!path_id || !body_id || strcmp(path_id, body_id) == 0)
                return 0;
        if (net_style)
                return cfg_fail(pe, -EXDEV,
                                "The id from the path [%s] does not match the id from the body "
                                "[%s]!",
                                path_id, body_id);
        return cfg_fail(pe, -EXDEV, "The id from the path does not match the id from the body!");
}

int cfg_decode_body(struct perr *pe, const struct resource *r, const json_t *body,
                    const char *path_id, void *val)
{
        int rc;

        memset(val, 0, r->size);
        rc = r->decode ? r->decode(pe, body, val) : model_decode(pe, r->model, body, val, false);
        if (!rc && is_list(r))
                rc = cfg_id_mismatch(pe, path_id, *(char **)val, r->net_ids);
        return rc;
}

static void scratch_free(const struct resource *r, void *val)
{
        if (val && r->free_val)
                r->free_val(val);
        else if (val)
                model_release(r->model, val);
        free(val);
}

/* A scratch value of resource r, decoded from body (nothing decoded for a custom check). */
static int scratch_decode(struct perr *pe, const struct resource *r, const json_t *body,
                          const char *path_id, void **val)
{
        int rc;

        *val = calloc(1, r->size ? r->size : 1);
        if (!*val)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        rc = cfg_decode_body(pe, r, body, path_id, *val);
        if (rc) {
                scratch_free(r, *val); /* what an id mismatch leaves */
                *val = NULL;
        }
        return rc;
}

/* Decodes body as resource r, applies it to cfg and releases what apply did not keep. */
static int put_one(struct perr *pe, const struct resource *r, struct vm_config *cfg,
                   const json_t *body, const char *path_id)
{
        void *val;
        int rc;

        rc = scratch_decode(pe, r, body, path_id, &val);
        if (!rc)
                rc = r->apply(pe, cfg, val, body);
        scratch_free(r, val);
        return rc;
}

/* Decodes body as resource r and throws the result away: the check alone. */
static int check_one(struct perr *pe, const struct resource *r, const json_t *body,
                     const char *path_id)
{
        void *val;
        int rc;

        if (r->check)
                return r->check(pe, body);
        rc = scratch_decode(pe, r, body, path_id, &val);
        scratch_free(r, val);
        return rc;
}

/* The API's bodies beyond the resources: their model and value. */
struct body_desc {
        const struct model *model;
        size_t size;   /* the size of its value (0: checked only) */
        bool id_first; /* whether its first member is checked against the path id */
        bool net_ids;
        int (*decode)(struct perr *pe, const json_t *body, void *val); /* instead of the model */
};

#define VAL(m, T)  .model = &(m), .size = sizeof(T)
#define CHECKED(m) .model = &(m)
#define OTHER(k)   [(k)-N_RES]
static const struct body_desc bodies[] = {
    OTHER(CFG_BODY_NET_PATCH) = {VAL(model_net_patch, struct net_update), .id_first = true,
                                 .net_ids = true},
    OTHER(CFG_BODY_BALLOON_PATCH) = {VAL(model_balloon_patch, struct balloon_update)},
    OTHER(CFG_BODY_BALLOON_STATS) = {VAL(model_balloon_stats, struct balloon_stats_update)},
    OTHER(CFG_BODY_HINTING) = {VAL(model_hinting, struct hinting_start)},
    OTHER(CFG_BODY_PMEM_PATCH) = {VAL(model_pmem_patch, struct pmem_update), .id_first = true},
    OTHER(CFG_BODY_HOTPLUG_PATCH) = {VAL(model_hotplug_patch, struct hotplug_update)},
    OTHER(CFG_BODY_SNAPSHOT_CREATE) = {VAL(model_snapshot_create, struct snapshot_create_body)},
    OTHER(CFG_BODY_SNAPSHOT_LOAD) = {VAL(model_snapshot_load, struct snapshot_load_body)},
    OTHER(CFG_BODY_VM_STATE) = {VAL(model_vm_state, struct vm_state_body)},
    OTHER(CFG_BODY_ACTION) = {VAL(model_action, struct action_body)},
    OTHER(CFG_BODY_MACHINE_PATCH) = {VAL(model_machine, struct machine_patch),
                                     .decode = cfg_machine_patch_decode},
    OTHER(CFG_BODY_DRIVE_PATCH) = {VAL(model_drive_patch, struct drive_update), .id_first = true},
};

/* The resource a kind stores, or NULL. */
static const struct resource *res_of(enum cfg_body kind)
{
        return (size_t)kind < N_RES ? registry[kind] : NULL;
}

/* The descriptor of a kind that is no resource, or NULL. */
static const struct body_desc *body_of(enum cfg_body kind)
{
        size_t i = (size_t)kind - N_RES;

        return (size_t)kind >= N_RES && i < sizeof(bodies) / sizeof(bodies[0]) ? &bodies[i] : NULL;
}

/* Decodes a body that is no resource into val (zeroed), then checks its id. */
static int decode_other(struct perr *pe, const struct body_desc *d, const json_t *body,
                        const char *path_id, void *val)
{
        int rc;

        if (!val)
                return model_check(pe, d->model, body, false);
        rc = d->decode ? d->decode(pe, body, val) : model_decode(pe, d->model, body, val, false);
        if (!rc && d->id_first)
                rc = cfg_id_mismatch(pe, path_id, *(char **)val, d->net_ids);
        return rc;
}

int config_decode(enum cfg_body kind, const json_t *body, const struct json_src *src,
                  const char *path_id, struct cfg_value *out, struct err *e)
{
        struct perr pe = PERR_API(e);
        const struct body_desc *d = body_of(kind);
        int rc;

        pe.src = src;
        out->kind = kind;
        out->v = NULL;
        if (res_of(kind))
                return scratch_decode(&pe, res_of(kind), body, path_id, &out->v);
        if (!d || !d->model)
                return cfg_fail(&pe, -EINVAL, "no model for this body");
        if (d->size && !(out->v = calloc(1, d->size)))
                return cfg_fail(&pe, -ENOMEM, "out of memory");
        rc = decode_other(&pe, d, body, path_id, out->v);
        if (rc)
                config_value_free(out);
        return rc;
}

void config_value_free(struct cfg_value *val)
{
        const struct body_desc *d = body_of(val->kind);

        if (res_of(val->kind))
                scratch_free(res_of(val->kind), val->v);
        else if (val->v && d)
                model_release(d->model, val->v);
        if (!res_of(val->kind))
                free(val->v);
        val->v = NULL;
}

int config_store(struct vm_config *cfg, struct cfg_value *val, struct err *e)
{
        struct perr pe = PERR_API(e);
        const struct resource *r = res_of(val->kind);

        if (!r || !val->v)
                return cfg_fail(&pe, -EINVAL, "no PUT semantics for this body");
        return r->apply(&pe, cfg, val->v, NULL);
}

int config_check_body(enum cfg_body kind, const json_t *body, const char *path_id, struct err *e)
{
        struct cfg_value val;
        int rc;

        rc = config_decode(kind, body, NULL, path_id, &val, e);
        config_value_free(&val);
        return rc;
}

int config_put_body(enum cfg_body kind, struct vm_config *cfg, const json_t *body,
                    const char *path_id, struct err *e)
{
        struct cfg_value val;
        int rc;

        rc = config_decode(kind, body, NULL, path_id, &val, e);
        if (!rc)
                rc = config_store(cfg, &val, e);
        config_value_free(&val);
        return rc;
}

/* ---- the config file ---------------------------------------------------------------------- */

static const struct resource *find_key(const char *key)
{
        size_t i;

        for (i = 0; i < N_RES; i++)
                if (registry[i]->key && strcmp(registry[i]->key, key) == 0)
                        return registry[i];
        return NULL;
}

/* Pass 1 of one top-level value: decoded (each element) and released, in document order. */
static int section_check(struct perr *pe, const struct resource *r, const json_t *v)
{
        const json_t *e;
        size_t i;
        int rc;

        if (!is_list(r))
                return check_one(pe, r, v, NULL);
        if (!json_is_array(v))
                return cfg_type_error(pe, v, "a sequence");
        json_array_foreach(v, i, e)
        {
                rc = check_one(pe, r, e, NULL);
                if (rc)
                        return rc;
        }
        return 0;
}

static int file_check(struct perr *pe, const json_t *root)
{
        const struct resource *r;
        const char *key;
        json_t *v;
        int rc;

        if (!json_is_object(root))
                return cfg_type_error(pe, root, "struct VmmConfig");
        json_object_foreach((json_t *)(uintptr_t)root, key, v)
        {
                /* VmmConfig has no deny_unknown_fields: serde skips keys it does not know. */
                r = find_key(key);
                if (!r)
                        continue;
                pe->sect = r->key;
                rc = json_is_null(v) && r != &res_boot_source ? 0 : section_check(pe, r, v);
                pe->sect = NULL;
                if (rc)
                        return rc;
        }
        if (!json_object_get(root, "boot-source"))
                return cfg_missing_field(pe, "boot-source", root);
        return 0;
}

/* Pass 2 of one top-level value: each body stored, with the resource's error prefix. */
static int section_apply(struct perr *pe, const struct resource *r, const json_t *v,
                         struct vm_config *cfg)
{
        const json_t *e;
        size_t i;
        int rc = 0;

        pe->sect = r->key;
        pe->prefix = r->prefix;
        if (!is_list(r))
                rc = put_one(pe, r, cfg, v, NULL);
        json_array_foreach(is_list(r) ? v : NULL, i, e)
        {
                rc = put_one(pe, r, cfg, e, NULL);
                if (rc)
                        break;
        }
        pe->sect = NULL;
        pe->prefix = NULL;
        return rc;
}

/* from_json()'s step between its sections: the --metadata file, just before "mmds-config". */
struct file_step {
        config_step_fn fn;
        void *arg;
};

/* Pass 2: the sections in VmResources::from_json()'s order. */
static int file_apply(struct perr *pe, const json_t *root, struct vm_config *cfg,
                      const struct file_step *step)
{
        int step_rank = find_key("mmds-config")->apply_rank;
        const json_t *v;
        size_t rank, i;
        int rc;

        for (rank = 0; rank < N_RES; rank++) {
                if (step->fn && (int)rank == step_rank && (rc = step->fn(step->arg, cfg, pe->e)))
                        return rc;
                for (i = 0; i < N_RES; i++) {
                        if (registry[i]->apply_rank != (int)rank || !registry[i]->key)
                                continue;
                        v = model_given(root, registry[i]->key);
                        rc = v ? section_apply(pe, registry[i], v, cfg) : 0;
                        if (rc)
                                return rc;
                }
        }
        return 0;
}

static void json_error_msg(const json_error_t *jerr, char *out, size_t len)
{
        if (json_error_code(jerr) == json_error_numeric_overflow)
                snprintf(out, len, "invalid type: number out of range, %s at line %d column %d",
                         jerr->text, jerr->line, jerr->column);
        else
                snprintf(out, len, "%s at line %d column %d", jerr->text, jerr->line, jerr->column);
}

void config_json_error(const json_error_t *jerr, struct err *e)
{
        char msg[JSON_ERROR_TEXT_LENGTH + 96];

        json_error_msg(jerr, msg, sizeof(msg));
        err_set(e, -EBADMSG, "%s", msg);
}

int config_parse_file(const char *text, size_t len, struct vm_config *cfg, struct err *e)
{
        return config_parse_file_step(text, len, cfg, NULL, NULL, e);
}

int config_parse_file_step(const char *text, size_t len, struct vm_config *cfg, config_step_fn step,
                           void *arg, struct err *e)
{
        struct file_step fs = {step, arg};
        struct perr pe = {e, NULL, true, NULL, NULL};
        char jmsg[JSON_ERROR_TEXT_LENGTH + 96];
        struct json_src src = {text, len, NULL};
        json_error_t jerr;
        json_t *root;
        int rc;

        config_free(cfg);
        root = model_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                json_error_msg(&jerr, jmsg, sizeof(jmsg));
                return cfg_fail(&pe, -EBADMSG, "%s", jmsg);
        }
        src.root = root;
        pe.src = &src;
        rc = file_check(&pe, root);
        if (!rc)
                rc = file_apply(&pe, root, cfg, &fs);
        json_decref(root);
        if (rc)
                config_free(cfg);
        return rc;
}

/* ---- the whole configuration ------------------------------------------------------------- */

void config_init(struct vm_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        config_machine_defaults(&cfg->machine);
}

void config_free(struct vm_config *cfg)
{
        size_t i;

        for (i = 0; i < N_RES; i++)
                resource_release(cfg, registry[i]);
        config_init(cfg);
}

json_t *config_to_json(const struct vm_config *cfg)
{
        json_t *o = json_object();
        size_t i;

        for (i = 0; o && i < N_RES; i++) {
                if (!registry[i]->key)
                        continue;
                if (json_object_set_new(o, registry[i]->key, cfg_resource_show(registry[i], cfg))) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

int config_check_supported(const struct vm_config *cfg, struct err *e)
{
        const char *names[N_RES];
        char list[512] = "";
        size_t i, n = 0, at = 0;

        /* In the registry's order, that of the config file's keys. */
        for (i = 0; i < N_RES; i++)
                if (registry[i]->no_device && configured(cfg, registry[i]))
                        names[n++] = registry[i]->no_device;
        if (!n)
                return 0;
        for (i = 0; i < n; i++)
                at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
                                       i == 0 ? "" : (i + 1 == n ? " and " : ", "), names[i]);
        return err_set(e, -ENOTSUP, "%s %s not supported yet by brasa", list,
                       n == 1 ? "is" : "are");
}
