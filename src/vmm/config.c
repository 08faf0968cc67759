/* Strict parsing of Firecracker's VM configuration (config file and API bodies). */
#include "vmm/config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "core/text.h"
#include "vmm/config_priv.h"

#define MSG_VCPUS                                                                                  \
        "The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even "       \
        "number if SMT is enabled."
#define MSG_MEM    "The memory size (MiB) is either 0, or not a multiple of the configured page size."
#define MAX_ECHO   CFG_MAX_ECHO
#define MAX_FIELDS 16

/* ---- messages ---------------------------------------------------------------------------- */

struct sbuf {
        char *p;
        size_t len;
        size_t pos;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->pos + 1 >= b->len)
                return;
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->pos, b->len - b->pos, fmt, ap);
        va_end(ap);
        if (n > 0)
                b->pos += (size_t)n;
        if (b->pos >= b->len)
                b->pos = b->len - 1;
}

static const char *rc_prefix(const struct perr *pe, int rc)
{
        if (!pe->file)
                return "";
        if (rc == -EBADMSG)
                return "Invalid JSON: ";
        if (rc == -EINVAL)
                return pe->prefix ? pe->prefix : "VM config error: ";
        return "";
}

static int fail(struct perr *pe, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct perr *pe, int rc, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (!pe->buf || !pe->len)
                return rc;
        n = snprintf(pe->buf, pe->len, "%s", rc_prefix(pe, rc));
        if (n >= 0 && (size_t)n < pe->len) {
                va_start(ap, fmt);
                vsnprintf(pe->buf + n, pe->len - (size_t)n, fmt, ap);
                va_end(ap);
        }
        text_one_line(pe->buf);
        return rc;
}

/* Copies n bytes of s as Rust's Debug shows a str (escaped, one line), cut at MAX_ECHO. */
static void escape(const char *s, size_t n, char *out, size_t outlen)
{
        text_debug_escape(s, n, MAX_ECHO, out, outlen);
}

/* Shortest round-tripping form with a decimal point, as serde prints a float (1000.0). */
static void fmt_float(double d, char *out, size_t len)
{
        bool plain = (d > -1e17 && d < 1e17) && (d == 0 || d >= 1e-5 || d <= -1e-5);
        int prec;

        for (prec = plain ? 0 : 1; prec <= 17; prec++) {
                snprintf(out, len, plain ? "%.*f" : "%.*g", prec, d);
                if (strtod(out, NULL) == d)
                        break;
        }
        if (!strpbrk(out, ".e"))
                strncat(out, ".0", len - strlen(out) - 1);
}

/* serde_json's description of a value that has the wrong type ("string \"2\""). */
static void describe(const json_t *v, char *out, size_t len)
{
        char tmp[MAX_ECHO * 6 + 16];

        switch (json_typeof(v)) {
        case JSON_NULL:
                snprintf(out, len, "null");
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                snprintf(out, len, "boolean `%s`", json_is_true(v) ? "true" : "false");
                break;
        case JSON_INTEGER:
                snprintf(out, len, "integer `%" JSON_INTEGER_FORMAT "`", json_integer_value(v));
                break;
        case JSON_REAL:
                fmt_float(json_real_value(v), tmp, sizeof(tmp));
                snprintf(out, len, "floating point `%s`", tmp);
                break;
        case JSON_STRING:
                escape(json_string_value(v), json_string_length(v), tmp, sizeof(tmp));
                snprintf(out, len, "string \"%s\"", tmp);
                break;
        case JSON_ARRAY:
                snprintf(out, len, "sequence");
                break;
        default:
                snprintf(out, len, "map");
                break;
        }
}

/* serde's OneOf: "`a`", "`a` or `b`", "one of `a`, `b`, `c`". */
static void one_of(const char *const *names, size_t n, char *out, size_t len)
{
        struct sbuf b = {out, len, 0};
        size_t i;

        out[0] = '\0';
        if (n == 2) {
                sb_printf(&b, "`%s` or `%s`", names[0], names[1]);
                return;
        }
        if (n > 2)
                sb_printf(&b, "one of ");
        for (i = 0; i < n; i++)
                sb_printf(&b, "%s`%s`", i ? ", " : "", names[i]);
}

/* " (field `sect.name`)", naming where a bad value sits. */
static void field_ctx(const struct perr *pe, const char *field, char *out, size_t len)
{
        if (pe->sect && field)
                snprintf(out, len, " (field `%s.%s`)", pe->sect, field);
        else if (pe->sect || field)
                snprintf(out, len, " (field `%s`)", pe->sect ? pe->sect : field);
        else
                out[0] = '\0';
}

static int type_error(struct perr *pe, const json_t *v, const char *expected, const char *field)
{
        char what[MAX_ECHO * 6 + 32], ctx[128];

        describe(v, what, sizeof(what));
        field_ctx(pe, field, ctx, sizeof(ctx));
        return fail(pe, -EBADMSG, "invalid type: %s, expected %s%s", what, expected, ctx);
}

/* ---- table-driven field checker ------------------------------------------------------------ */

static size_t count_names(const char *const *names)
{
        size_t n = 0;

        while (names[n])
                n++;
        return n;
}

static int check_uint(struct perr *pe, const json_t *v, json_int_t max, const char *tname,
                      const char *field)
{
        char ctx[128];

        if (!json_is_integer(v))
                return type_error(pe, v, tname, field);
        if (json_integer_value(v) < 0 || json_integer_value(v) > max) {
                field_ctx(pe, field, ctx, sizeof(ctx));
                return fail(pe, -EBADMSG,
                            "invalid value: integer `%" JSON_INTEGER_FORMAT "`, expected %s%s",
                            json_integer_value(v), tname, ctx);
        }
        return 0;
}

static int check_enum(struct perr *pe, const json_t *v, const struct field *f)
{
        char got[MAX_ECHO * 6 + 16], list[256], ctx[128];
        const char *s;
        size_t i;

        if (!json_is_string(v))
                return type_error(pe, v, f->expected, f->name);
        s = json_string_value(v);
        for (i = 0; f->variants[i]; i++)
                if (strcmp(s, f->variants[i]) == 0 && strlen(s) == json_string_length(v))
                        return 0;
        escape(s, json_string_length(v), got, sizeof(got));
        one_of(f->variants, count_names(f->variants), list, sizeof(list));
        field_ctx(pe, f->name, ctx, sizeof(ctx));
        return fail(pe, -EBADMSG, "unknown variant `%s`, expected %s%s", got, list, ctx);
}

static int check_value(struct perr *pe, const json_t *v, const struct field *f, bool patch)
{
        if (json_is_null(v) && (f->nullable || patch))
                return 0;
        switch (f->kind) {
        case FK_U8:
                return check_uint(pe, v, 255, "u8", f->name);
        case FK_U16:
                return check_uint(pe, v, 65535, "u16", f->name);
        case FK_U32:
                return check_uint(pe, v, 4294967295LL, "u32", f->name);
        case FK_U64:
                return check_uint(pe, v, LLONG_MAX, "u64", f->name);
        case FK_OBJECT:
                return json_is_object(v) ? 0 : type_error(pe, v, f->expected, f->name);
        case FK_ARRAY:
                return json_is_array(v) ? 0 : type_error(pe, v, "a sequence", f->name);
        case FK_ANY:
                return 0;
        case FK_USIZE:
                return check_uint(pe, v, LLONG_MAX, "usize", f->name);
        case FK_BOOL:
                return json_is_boolean(v) ? 0 : type_error(pe, v, "a boolean", f->name);
        case FK_STR:
                if (!json_is_string(v))
                        return type_error(pe, v, "a string", f->name);
                if (strlen(json_string_value(v)) != json_string_length(v))
                        return type_error(pe, v, "a string without NUL bytes", f->name);
                return 0;
        default:
                return check_enum(pe, v, f);
        }
}

static const struct field *find_field(const struct field *fields, size_t n, const char *key)
{
        size_t i;

        for (i = 0; i < n; i++)
                if (strcmp(fields[i].name, key) == 0)
                        return &fields[i];
        return NULL;
}

static int unknown_field(struct perr *pe, const char *key, const char *const *names, size_t n)
{
        char got[MAX_ECHO * 6 + 16], list[512], ctx[128];

        escape(key, strlen(key), got, sizeof(got));
        one_of(names, n, list, sizeof(list));
        ctx[0] = '\0';
        if (pe->sect)
                snprintf(ctx, sizeof(ctx), " (in `%s`)", pe->sect);
        return fail(pe, -EBADMSG, "unknown field `%s`, expected %s%s", got, list, ctx);
}

static int missing_field(struct perr *pe, const char *name)
{
        char ctx[128];

        ctx[0] = '\0';
        if (pe->sect)
                snprintf(ctx, sizeof(ctx), " (in `%s`)", pe->sect);
        return fail(pe, -EBADMSG, "missing field `%s`%s", name, ctx);
}

/*
 * Checks obj against fields[] the way serde's derive does: an object, keys in document
 * order (unknown or mistyped first), then missing required ones (not for PATCH).
 */
static int check_object_ex(struct perr *pe, const json_t *obj, const struct field *fields, size_t n,
                           const char *type_name, bool patch, bool lax)
{
        const char *names[MAX_FIELDS];
        const struct field *f;
        const char *key;
        json_t *v;
        size_t i;
        int rc;

        if (!json_is_object(obj))
                return type_error(pe, obj, type_name, NULL);
        for (i = 0; i < n; i++)
                names[i] = fields[i].name;
        json_object_foreach((json_t *)(uintptr_t)obj, key, v)
        {
                f = find_field(fields, n, key);
                if (!f && lax)
                        continue; /* serde without deny_unknown_fields */
                if (!f)
                        return unknown_field(pe, key, names, n);
                rc = check_value(pe, v, f, patch);
                if (rc)
                        return rc;
        }
        for (i = 0; i < n && !patch; i++)
                if (fields[i].required && !json_object_get(obj, fields[i].name))
                        return missing_field(pe, fields[i].name);
        return 0;
}

static int check_object(struct perr *pe, const json_t *obj, const struct field *fields, size_t n,
                        const char *type_name, bool patch)
{
        return check_object_ex(pe, obj, fields, n, type_name, patch, false);
}

/* The value of a checked field, or NULL when it is absent or null. */
static const json_t *given(const json_t *obj, const char *name)
{
        const json_t *v = json_object_get(obj, name);

        return json_is_null(v) ? NULL : v;
}

/* ---- boot-source ---------------------------------------------------------------------- */

static const struct field boot_fields[] = {
    {"kernel_image_path", FK_STR, true, false, NULL, NULL},
    {"initrd_path", FK_STR, false, true, NULL, NULL},
    {"boot_args", FK_STR, false, true, NULL, NULL},
};

static int dup_opt(const json_t *obj, const char *name, char **out)
{
        const json_t *v = given(obj, name);

        *out = NULL;
        if (!v)
                return 0;
        *out = strdup(json_string_value(v));
        return *out ? 0 : -ENOMEM;
}

void config_boot_source_free(struct boot_source_cfg *b)
{
        free(b->kernel_image_path);
        free(b->boot_args);
        free(b->initrd_path);
        memset(b, 0, sizeof(*b));
}

static int boot_parse(struct perr *pe, const json_t *body, struct boot_source_cfg *out)
{
        struct boot_source_cfg b;
        int rc;

        rc = check_object(pe, body, boot_fields, 3, "struct BootSourceConfig", false);
        if (rc)
                return rc;
        memset(&b, 0, sizeof(b));
        if (dup_opt(body, "kernel_image_path", &b.kernel_image_path) ||
            dup_opt(body, "initrd_path", &b.initrd_path) ||
            dup_opt(body, "boot_args", &b.boot_args)) {
                config_boot_source_free(&b);
                return fail(pe, -ENOMEM, "out of memory");
        }
        *out = b;
        return 0;
}

int config_parse_boot_source(const json_t *body, struct boot_source_cfg *out, char *err,
                             size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};

        return boot_parse(&pe, body, out);
}

/* ---- exported to the other config parsers (config_priv.h) ---------------------------- */

int cfg_fail(struct perr *pe, int rc, const char *fmt, ...)
{
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return fail(pe, rc, "%s", msg);
}

int cfg_type_error(struct perr *pe, const json_t *v, const char *expected, const char *field)
{
        return type_error(pe, v, expected, field);
}

void cfg_escape(const char *s, size_t n, char *out, size_t outlen)
{
        escape(s, n, out, outlen);
}

int cfg_check_object(struct perr *pe, const json_t *obj, const struct field *fields, size_t n,
                     const char *type_name, bool patch, bool lax)
{
        return check_object_ex(pe, obj, fields, n, type_name, patch, lax);
}

const json_t *cfg_given(const json_t *obj, const char *name)
{
        return given(obj, name);
}

int cfg_dup_opt(const json_t *obj, const char *name, char **out)
{
        return dup_opt(obj, name, out);
}

void cfg_one_line(char *s)
{
        text_one_line(s);
}

/* ---- machine-config ------------------------------------------------------------------- */

static const char *const huge_variants[] = {"None", "Transparent", "2M", NULL};
/* x86_64 StaticCpuTemplate, in Firecracker's declaration order. */
static const char *const tmpl_variants[] = {"C3", "T2", "T2S", "None", "T2CL", "T2A", NULL};

static const struct field machine_fields[] = {
    {"vcpu_count", FK_U8, true, false, NULL, NULL},
    {"mem_size_mib", FK_USIZE, true, false, NULL, NULL},
    {"smt", FK_BOOL, false, false, NULL, NULL},
    {"cpu_template", FK_ENUM, false, true, tmpl_variants, "enum StaticCpuTemplate"},
    {"track_dirty_pages", FK_BOOL, false, false, NULL, NULL},
    {"huge_pages", FK_ENUM, false, false, huge_variants, "enum HugePageConfig"},
};
#define N_MACHINE_FIELDS (sizeof(machine_fields) / sizeof(machine_fields[0]))

/* A deserialized machine-config, not yet validated. */
struct machine_in {
        struct machine_cfg m;
        const char *cpu_template; /* borrowed from the body; NULL when not given */
        bool any;                 /* some field was given (PATCH needs one) */
};

void config_machine_defaults(struct machine_cfg *m)
{
        memset(m, 0, sizeof(*m));
        m->vcpu_count = CONFIG_DEFAULT_VCPUS;
        m->mem_size_mib = CONFIG_DEFAULT_MEM_MIB;
        m->huge_pages = HUGE_PAGES_NONE;
}

static enum huge_pages huge_from_name(const char *s)
{
        if (strcmp(s, "2M") == 0)
                return HUGE_PAGES_2M;
        if (strcmp(s, "Transparent") == 0)
                return HUGE_PAGES_TRANSPARENT;
        return HUGE_PAGES_NONE;
}

static const char *huge_name(enum huge_pages h)
{
        if (h == HUGE_PAGES_2M)
                return "2M";
        if (h == HUGE_PAGES_TRANSPARENT)
                return "Transparent";
        return "None";
}

/* Deserializes body over *base (PUT: the defaults; PATCH: the current config). */
static int machine_deserialize(struct perr *pe, const json_t *body, const struct machine_cfg *base,
                               bool patch, struct machine_in *in)
{
        const json_t *v;
        int rc;

        rc =
            check_object(pe, body, machine_fields, N_MACHINE_FIELDS, "struct MachineConfig", patch);
        if (rc)
                return rc;
        memset(in, 0, sizeof(*in));
        in->m = *base;
        if ((v = given(body, "vcpu_count")))
                in->m.vcpu_count = (unsigned int)json_integer_value(v);
        if ((v = given(body, "mem_size_mib")))
                in->m.mem_size_mib = (uint64_t)json_integer_value(v);
        if ((v = given(body, "smt")))
                in->m.smt = json_is_true(v);
        if ((v = given(body, "track_dirty_pages")))
                in->m.track_dirty_pages = json_is_true(v);
        if ((v = given(body, "huge_pages")))
                in->m.huge_pages = huge_from_name(json_string_value(v));
        if ((v = given(body, "cpu_template")))
                in->cpu_template = json_string_value(v);
        for (size_t i = 0; i < N_MACHINE_FIELDS; i++)
                in->any = in->any || given(body, machine_fields[i].name);
        return 0;
}

static int mem_limit(struct perr *pe, uint64_t mem_mib)
{
        const uint64_t max_mib = LAYOUT_MAX_MEM_BYTES >> 20;

        if (mem_mib <= max_mib)
                return 0;
        return fail(pe, -EINVAL,
                    "The memory size (MiB) %llu is larger than the %llu MiB brasa supports.",
                    (unsigned long long)mem_mib, (unsigned long long)max_mib);
}

int config_check_mem_limit(uint64_t mem_mib, char *err, size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};

        return mem_limit(&pe, mem_mib);
}

/* Firecracker's MachineConfig::update() checks, then what brasa cannot do yet. */
static int machine_validate(struct perr *pe, const struct machine_in *in)
{
        const struct machine_cfg *m = &in->m;
        int rc;

        if (m->vcpu_count == 0 || m->vcpu_count > CONFIG_MAX_VCPUS)
                return fail(pe, -EINVAL, MSG_VCPUS);
        if (m->smt && m->vcpu_count > 1 && m->vcpu_count % 2)
                return fail(pe, -EINVAL, MSG_VCPUS);
        if (m->mem_size_mib == 0 || (m->huge_pages != HUGE_PAGES_NONE && m->mem_size_mib % 2))
                return fail(pe, -EINVAL, MSG_MEM);
        rc = mem_limit(pe, m->mem_size_mib);
        if (rc)
                return rc;
        if (m->smt)
                return fail(pe, -ENOTSUP, "SMT is not supported yet by brasa");
        if (m->huge_pages != HUGE_PAGES_NONE)
                return fail(pe, -ENOTSUP, "huge_pages %s is not supported yet by brasa",
                            huge_name(m->huge_pages));
        if (in->cpu_template && strcmp(in->cpu_template, "None") != 0)
                return fail(pe, -ENOTSUP, "CPU template %s is not supported yet by brasa",
                            in->cpu_template);
        return 0;
}

int config_parse_machine_config(const json_t *body, struct machine_cfg *out, char *err,
                                size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};
        struct machine_cfg defaults;
        struct machine_in in;
        int rc;

        config_machine_defaults(&defaults);
        rc = machine_deserialize(&pe, body, &defaults, false, &in);
        if (!rc)
                rc = machine_validate(&pe, &in);
        if (!rc)
                *out = in.m;
        return rc;
}

int config_patch_machine_config(const json_t *body, struct machine_cfg *inout, char *err,
                                size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};
        struct machine_in in;
        int rc;

        rc = machine_deserialize(&pe, body, inout, true, &in);
        if (rc)
                return rc;
        if (!in.any)
                return fail(&pe, -ENODATA, "Empty PATCH request.");
        rc = machine_validate(&pe, &in);
        if (!rc)
                *inout = in.m;
        return rc;
}

/* ---- config file ---------------------------------------------------------------------- */

enum skind { SK_BOOT, SK_MACHINE, SK_OBJECT, SK_ARRAY, SK_CPU_CONFIG };

struct section {
        const char *key;
        enum skind kind;
        const char *expected; /* serde's name for the type, for type errors */
};

/* VmmConfig's fields in Firecracker's declaration order (that of its error messages). */
static const struct section sections[] = {
    {"balloon", SK_OBJECT, "struct BalloonDeviceConfig"},
    {"drives", SK_ARRAY, "a sequence"},
    {"boot-source", SK_BOOT, "struct BootSourceConfig"},
    {"cpu-config", SK_CPU_CONFIG, NULL},
    {"logger", SK_OBJECT, "struct LoggerConfig"},
    {"machine-config", SK_MACHINE, "struct MachineConfig"},
    {"metrics", SK_OBJECT, "struct MetricsConfig"},
    {"mmds-config", SK_OBJECT, "struct MmdsConfig"},
    {"network-interfaces", SK_ARRAY, "a sequence"},
    {"vsock", SK_OBJECT, "struct VsockDeviceConfig"},
    {"entropy", SK_OBJECT, "struct EntropyDeviceConfig"},
    {"pmem", SK_ARRAY, "a sequence"},
    {"memory-hotplug", SK_OBJECT, "struct MemoryHotplugConfig"},
};
#define N_SECTIONS (sizeof(sections) / sizeof(sections[0]))

/* The order VmResources::from_json() applies the sections in (so errors come in it). */
static const char *const apply_order[] = {
    "logger",
    "metrics",
    "machine-config",
    "cpu-config",
    "boot-source",
    "drives",
    "network-interfaces",
    "vsock",
    "balloon",
    "mmds-config",
    "entropy",
    "pmem",
    "memory-hotplug",
    NULL,
};

/* Parsed file, before it is applied to the vm_config. */
struct file_in {
        bool has_boot;
        struct boot_source_cfg boot;
        bool has_machine;
        struct machine_in machine;
};

static const struct section *find_section(const char *key)
{
        size_t i;

        for (i = 0; i < N_SECTIONS; i++)
                if (strcmp(sections[i].key, key) == 0)
                        return &sections[i];
        return NULL;
}

/* Deserializes one top-level value (pass 1: types only, in document order). */
static int section_deserialize(struct perr *pe, const struct section *s, const json_t *v,
                               struct file_in *in)
{
        const struct cfg_section_ops *ops = cfg_section_ops(s->key);
        struct machine_cfg defaults;

        pe->sect = s->key;
        if (s->kind == SK_BOOT) {
                in->has_boot = true;
                return boot_parse(pe, v, &in->boot);
        }
        if (json_is_null(v))
                return 0;
        if (ops)
                return ops->check(pe, v);
        switch (s->kind) {
        case SK_MACHINE:
                in->has_machine = true;
                config_machine_defaults(&defaults);
                return machine_deserialize(pe, v, &defaults, false, &in->machine);
        case SK_ARRAY:
                return json_is_array(v) ? 0 : type_error(pe, v, s->expected, NULL);
        case SK_OBJECT:
                return json_is_object(v) ? 0 : type_error(pe, v, s->expected, NULL);
        default:
                if (json_is_object(v) || json_is_string(v))
                        return 0;
                return fail(pe, -EBADMSG,
                            "data did not match any variant of untagged enum "
                            "CustomCpuTemplateOrPath (field `%s`)",
                            s->key);
        }
}

static int file_deserialize(struct perr *pe, const json_t *root, struct file_in *in)
{
        const char *names[N_SECTIONS];
        const struct section *s;
        const char *key;
        json_t *v;
        size_t i;
        int rc;

        if (!json_is_object(root))
                return type_error(pe, root, "struct VmmConfig", NULL);
        for (i = 0; i < N_SECTIONS; i++)
                names[i] = sections[i].key;
        json_object_foreach((json_t *)(uintptr_t)root, key, v)
        {
                s = find_section(key);
                if (!s)
                        return unknown_field(pe, key, names, N_SECTIONS);
                rc = section_deserialize(pe, s, v, in);
                pe->sect = NULL;
                if (rc)
                        return rc;
        }
        if (!in->has_boot)
                return missing_field(pe, "boot-source");
        return 0;
}

/* Applies a section that has handlers (config_res.c) into cfg. */
static int section_apply(struct perr *pe, const struct cfg_section_ops *ops, const json_t *v,
                         struct vm_config *cfg)
{
        int rc;

        pe->sect = ops->key;
        pe->prefix = ops->prefix;
        rc = ops->apply(pe, v, cfg);
        pe->sect = NULL;
        pe->prefix = NULL;
        return rc;
}

/* Pass 2: validates the sections in Firecracker's order; refuses what brasa lacks. */
static int file_validate(struct perr *pe, const json_t *root, const struct file_in *in,
                         struct vm_config *cfg)
{
        const struct cfg_section_ops *ops;
        const json_t *v;
        size_t i;
        int rc;

        for (i = 0; apply_order[i]; i++) {
                v = given(root, apply_order[i]);
                if (!v || strcmp(apply_order[i], "boot-source") == 0)
                        continue;
                ops = cfg_section_ops(apply_order[i]);
                if (ops) {
                        rc = section_apply(pe, ops, v, cfg);
                        if (rc)
                                return rc;
                        continue;
                }
                if (strcmp(apply_order[i], "machine-config") == 0) {
                        rc = machine_validate(pe, &in->machine);
                        if (rc)
                                return rc;
                        continue;
                }
                if (json_is_array(v) && json_array_size(v) == 0)
                        continue;
                return fail(pe, -ENOTSUP, "%s is not supported yet by brasa", apply_order[i]);
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

void config_json_error(const json_error_t *jerr, char *err, size_t errlen)
{
        if (!err || !errlen)
                return;
        json_error_msg(jerr, err, errlen);
        text_one_line(err);
}

int config_parse_file(const char *text, size_t len, struct vm_config *cfg, char *err, size_t errlen)
{
        struct perr pe = {err, errlen, NULL, true, NULL};
        char jmsg[JSON_ERROR_TEXT_LENGTH + 96];
        struct file_in in;
        json_error_t jerr;
        json_t *root;
        int rc;

        config_free(cfg);
        memset(&in, 0, sizeof(in));
        root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!root) {
                json_error_msg(&jerr, jmsg, sizeof(jmsg));
                return fail(&pe, -EBADMSG, "%s", jmsg);
        }
        rc = file_deserialize(&pe, root, &in);
        if (!rc)
                rc = file_validate(&pe, root, &in, cfg);
        json_decref(root); /* in.machine.cpu_template dangles from here on; not used */
        if (rc) {
                config_boot_source_free(&in.boot);
                config_free(cfg);
                return rc;
        }
        cfg->has_boot_source = true;
        cfg->boot = in.boot;
        if (in.has_machine)
                cfg->machine = in.machine.m;
        return 0;
}

/* ---- defaults and output -------------------------------------------------------------- */

void config_init(struct vm_config *cfg)
{
        memset(cfg, 0, sizeof(*cfg));
        config_machine_defaults(&cfg->machine);
}

void config_free(struct vm_config *cfg)
{
        cfg_free_resources(cfg);
        config_boot_source_free(&cfg->boot);
        config_init(cfg);
}

static json_t *str_or_null(const char *s)
{
        return s ? json_string(s) : json_null();
}

json_t *config_machine_to_json(const struct machine_cfg *m)
{
        json_t *o = json_object();
        int bad;

        if (!o)
                return NULL;
        bad = json_object_set_new(o, "vcpu_count", json_integer(m->vcpu_count));
        bad |= json_object_set_new(o, "mem_size_mib", json_integer((json_int_t)m->mem_size_mib));
        bad |= json_object_set_new(o, "smt", json_boolean(m->smt));
        bad |= json_object_set_new(o, "track_dirty_pages", json_boolean(m->track_dirty_pages));
        bad |= json_object_set_new(o, "huge_pages", json_string(huge_name(m->huge_pages)));
        if (bad) {
                json_decref(o);
                return NULL;
        }
        return o;
}

/* BootSourceConfig as Firecracker serializes it (the default one when none is set). */
static json_t *boot_to_json(const struct vm_config *cfg)
{
        const struct boot_source_cfg *b = &cfg->boot;
        json_t *o = json_object();
        int bad;

        if (!o)
                return NULL;
        bad = json_object_set_new(o, "kernel_image_path",
                                  json_string(b->kernel_image_path ? b->kernel_image_path : ""));
        bad |= json_object_set_new(o, "initrd_path", str_or_null(b->initrd_path));
        bad |= json_object_set_new(o, "boot_args", str_or_null(b->boot_args));
        if (bad) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *section_to_json(const struct vm_config *cfg, const struct section *s)
{
        const struct cfg_section_ops *ops = cfg_section_ops(s->key);

        if (ops && ops->to_json)
                return ops->to_json(cfg);
        switch (s->kind) {
        case SK_BOOT:
                return boot_to_json(cfg);
        case SK_MACHINE:
                return config_machine_to_json(&cfg->machine);
        case SK_ARRAY:
                return json_array();
        default:
                return json_null();
        }
}

json_t *config_to_json(const struct vm_config *cfg)
{
        json_t *o = json_object();
        size_t i;

        if (!o)
                return NULL;
        for (i = 0; i < N_SECTIONS; i++) {
                if (json_object_set_new(o, sections[i].key, section_to_json(cfg, &sections[i]))) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}
