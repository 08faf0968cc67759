/* Custom CPU templates (PUT /cpu-config, the config file's "cpu-config": a template or a path). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model/resource.h"

/* CustomCpuTemplate (x86_64): the model checks the JSON shape, template_parse() the strings. */
static const struct mfield reg_mod_fields[] = {
    F_CHECK("register", mt_str, MF_REQUIRED),
    F_CHECK("bitmap", mt_str, MF_REQUIRED),
};
static const struct model reg_mod_model =
    MODEL("struct CpuidRegisterModifier", reg_mod_fields, true);
static const struct mfield leaf_mod_fields[] = {
    F_CHECK("leaf", mt_str, MF_REQUIRED),
    F_CHECK("subleaf", mt_str, MF_REQUIRED),
    F_CHECK("flags", mt_u32, MF_REQUIRED),
    F_CHECK_SUB("modifiers", mt_array, MF_REQUIRED, &reg_mod_model),
};
static const struct model leaf_mod_model = MODEL("struct CpuidLeafModifier", leaf_mod_fields, true);
static const struct mfield msr_mod_fields[] = {
    F_CHECK("addr", mt_str, MF_REQUIRED),
    F_CHECK("bitmap", mt_str, MF_REQUIRED),
};
static const struct model msr_mod_model = MODEL("struct RegisterModifier", msr_mod_fields, true);
static const struct mfield cpu_fields[] = {
    {.name = "kvm_capabilities", .type = &mt_strings, .flags = MF_NOSTORE, .has = MF_NO_HAS},
    F_CHECK_SUB("cpuid_modifiers", mt_array, 0, &leaf_mod_model),
    F_CHECK_SUB("msr_modifiers", mt_array, 0, &msr_mod_model),
};
static const struct model cpu_model = MODEL("struct CustomCpuTemplate", cpu_fields, false);

/* ---- Firecracker's string formats (templates_serde.rs, RegisterValueFilter, KvmCapability) ----
 */

/* Rust's ParseIntError kinds, as Debug and Display show them. */
enum int_err { INT_OK, INT_EMPTY, INT_INVALID_DIGIT, INT_POS_OVERFLOW };
static const char *const int_err_debug[] = {"", "Empty", "InvalidDigit", "PosOverflow"};
static const char *const int_err_text[] = {"", "cannot parse integer from empty string",
                                           "invalid digit found in string",
                                           "number too large to fit in target type"};

static int digit_of(char c, unsigned int radix)
{
        int d = -1;

        if (c >= '0' && c <= '9')
                d = c - '0';
        else if (c >= 'a' && c <= 'z')
                d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'Z')
                d = c - 'A' + 10;
        return d >= 0 && (unsigned int)d < radix ? d : -1;
}

/* Rust's from_str_radix for an unsigned integer of bits (32 or 64) width. */
static enum int_err parse_uint(const char *s, unsigned int radix, unsigned int bits, uint64_t *out)
{
        const uint64_t max = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
        uint64_t v = 0;
        int d;

        if (!*s)
                return INT_EMPTY;
        if ((s[0] == '+' || s[0] == '-') && !s[1])
                return INT_INVALID_DIGIT;
        if (s[0] == '+')
                s++;
        for (; *s; s++) {
                d = digit_of(*s, radix);
                if (d < 0)
                        return INT_INVALID_DIGIT;
                if (v > (max - (uint64_t)d) / radix)
                        return INT_POS_OVERFLOW;
                v = v * radix + (uint64_t)d;
        }
        *out = v;
        return INT_OK;
}

/* A leaf, subleaf or MSR address: "0x..." or "0b..." (deserialize_from_str_u32). */
static int parse_prefixed(struct perr *pe, const char *s, uint32_t *out)
{
        enum int_err rc;
        uint64_t v = 0;

        if (strncmp(s, "0b", 2) == 0)
                rc = parse_uint(s + 2, 2, 32, &v);
        else if (strncmp(s, "0x", 2) == 0)
                rc = parse_uint(s + 2, 16, 32, &v);
        else
                return cfg_fail(pe, -EBADMSG,
                                "No supported number system prefix found in value [%s]. Make sure "
                                "to prefix the number with '0x' for hexadecimal numbers or '0b' "
                                "for binary numbers.",
                                s);
        if (rc != INT_OK)
                return cfg_fail(pe, -EBADMSG,
                                "Failed to parse string [%s] as a number for CPU template - "
                                "ParseIntError { kind: %s }",
                                s, int_err_debug[rc]);
        *out = (uint32_t)v;
        return 0;
}

/*
 * A bitmap: an optional "0b", then up to bits characters of 0, 1 or x (keep the
 * host's bit), read from the right; underscores are skipped.
 */
static int parse_bitmap(struct perr *pe, const char *s, unsigned int bits, uint64_t *filter,
                        uint64_t *value)
{
        const char *p = strncmp(s, "0b", 2) == 0 ? s + 2 : s;
        size_t n = strlen(p);
        unsigned int i = 0;

        *filter = *value = 0;
        while (n-- > 0) {
                if (i == bits)
                        return cfg_fail(pe, -EBADMSG,
                                        "Failed to parse string [%s] as a bitmap - string is too "
                                        "long",
                                        s);
                if (p[n] == '_')
                        continue;
                if (p[n] != 'x' && p[n] != '0' && p[n] != '1')
                        return cfg_fail(pe, -EBADMSG,
                                        "Failed to parse string [%s] as a bitmap - unknown "
                                        "character: %u",
                                        s, (unsigned int)(unsigned char)p[n]);
                if (p[n] != 'x')
                        *filter |= 1ull << i;
                if (p[n] == '1')
                        *value |= 1ull << i;
                i++;
        }
        return 0;
}

/* A KVM capability: "N" adds it, "!N" removes it (decimal). */
static int parse_cap(struct perr *pe, const char *s, struct kvm_cap_mod *out)
{
        enum int_err rc;
        uint64_t v = 0;

        out->remove = s[0] == '!';
        rc = parse_uint(s + out->remove, 10, 32, &v);
        if (rc != INT_OK)
                return cfg_fail(pe, -EBADMSG,
                                "Failed to parse string [%s] as a kvm capability - can not convert "
                                "to numeric: %s",
                                s, int_err_text[rc]);
        out->cap = (uint32_t)v;
        return 0;
}

static int parse_register(struct perr *pe, const char *s, uint8_t *reg)
{
        static const char *const names[] = {"eax", "ebx", "ecx", "edx"};
        uint8_t i;

        for (i = 0; i < 4; i++) {
                if (strcmp(s, names[i]) == 0) {
                        *reg = i;
                        return 0;
                }
        }
        return cfg_fail(pe, -EBADMSG,
                        "Invalid CPUID register. Must be one of [eax, ebx, ecx, edx]");
}

static const char *str_of(const json_t *o, const char *key)
{
        return json_string_value(json_object_get(o, key));
}

/* One CpuidLeafModifier (already checked by the model) as rows; a leaf without modifiers is one. */
static int parse_leaf(struct perr *pe, const json_t *l, struct cpuid_mod *rows, size_t *n)
{
        const json_t *mods = json_object_get(l, "modifiers");
        struct cpuid_mod base = {.reg = CPU_REG_NONE};
        uint64_t filter, value;
        const json_t *m;
        size_t i;
        int rc;

        rc = parse_prefixed(pe, str_of(l, "leaf"), &base.leaf);
        if (!rc)
                rc = parse_prefixed(pe, str_of(l, "subleaf"), &base.subleaf);
        if (rc)
                return rc;
        base.flags = (uint32_t)json_integer_value(json_object_get(l, "flags"));
        if (json_array_size(mods) == 0)
                rows[(*n)++] = base;
        json_array_foreach(mods, i, m)
        {
                rows[*n] = base;
                rc = parse_register(pe, str_of(m, "register"), &rows[*n].reg);
                if (!rc)
                        rc = parse_bitmap(pe, str_of(m, "bitmap"), 32, &filter, &value);
                if (rc)
                        return rc;
                rows[*n].filter = (uint32_t)filter;
                rows[(*n)++].value = (uint32_t)value;
        }
        return 0;
}

static size_t count_rows(const json_t *leaves)
{
        const json_t *l;
        size_t i, n = 0, k;

        json_array_foreach(leaves, i, l)
        {
                k = json_array_size(json_object_get(l, "modifiers"));
                n += k ? k : 1;
        }
        return n;
}

static int parse_cpuid_mods(struct perr *pe, const json_t *leaves, struct cpu_config_cfg *c)
{
        struct cpuid_mod *rows;
        const json_t *l;
        size_t i, n = 0;
        int rc;

        if (!count_rows(leaves))
                return 0;
        rows = calloc(count_rows(leaves), sizeof(*rows));
        if (!rows)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        c->cpuid = rows;
        c->t.cpuid = rows;
        json_array_foreach(leaves, i, l)
        {
                rc = parse_leaf(pe, l, rows, &n);
                if (rc)
                        return rc;
                c->t.n_cpuid = n;
        }
        return 0;
}

static int parse_msr_mods(struct perr *pe, const json_t *arr, struct cpu_config_cfg *c)
{
        struct msr_mod *msrs;
        const json_t *m;
        size_t i;
        int rc;

        if (!json_array_size(arr))
                return 0;
        msrs = calloc(json_array_size(arr), sizeof(*msrs));
        if (!msrs)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        c->msrs = msrs;
        c->t.msrs = msrs;
        json_array_foreach(arr, i, m)
        {
                rc = parse_prefixed(pe, str_of(m, "addr"), &msrs[i].addr);
                if (!rc)
                        rc = parse_bitmap(pe, str_of(m, "bitmap"), 64, &msrs[i].filter,
                                          &msrs[i].value);
                if (rc)
                        return rc;
                c->t.n_msrs = i + 1;
        }
        return 0;
}

static int parse_caps(struct perr *pe, const json_t *arr, struct cpu_config_cfg *c)
{
        struct kvm_cap_mod *caps;
        const json_t *s;
        size_t i;
        int rc;

        if (!json_array_size(arr))
                return 0;
        caps = calloc(json_array_size(arr), sizeof(*caps));
        if (!caps)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        c->caps = caps;
        c->t.caps = caps;
        json_array_foreach(arr, i, s)
        {
                rc = parse_cap(pe, json_string_value(s), &caps[i]);
                if (rc)
                        return rc;
                c->t.n_caps = i + 1;
        }
        return 0;
}

/* Frees the parsed template (not the JSON). */
static void template_release(struct cpu_config_cfg *c)
{
        free(c->cpuid);
        free(c->msrs);
        free(c->caps);
        c->cpuid = NULL;
        c->msrs = NULL;
        c->caps = NULL;
        memset(&c->t, 0, sizeof(c->t));
}

/*
 * The checked JSON template as the engine's structure, with Firecracker's
 * messages for its string formats, in its field order.
 */
static int template_parse(struct perr *pe, const json_t *j, struct cpu_config_cfg *c)
{
        int rc;

        rc = parse_caps(pe, json_object_get(j, "kvm_capabilities"), c);
        if (!rc)
                rc = parse_cpuid_mods(pe, json_object_get(j, "cpuid_modifiers"), c);
        if (!rc)
                rc = parse_msr_mods(pe, json_object_get(j, "msr_modifiers"), c);
        if (rc)
                template_release(c);
        return rc;
}

/* The template of a body, or (config file) of the file a path names, checked, parsed and kept. */
static int cpu_decode(struct perr *pe, const json_t *body, void *val)
{
        struct cpu_config_cfg *c = val;
        json_error_t jerr;
        json_t *t;
        int rc;

        if (!json_is_string(body) || !pe->file) { /* a path only in the config file */
                rc = model_check(pe, &cpu_model, body, false);
                if (!rc)
                        rc = template_parse(pe, body, c);
                c->tmpl = rc ? NULL : json_deep_copy(body);
                if (!rc && !c->tmpl) {
                        template_release(c);
                        return cfg_fail(pe, -ENOMEM, "out of memory");
                }
                return rc;
        }
        t = json_load_file(json_string_value(body), JSON_REJECT_DUPLICATES, &jerr);
        if (!t)
                return cfg_fail(pe, -EINVAL, "File operation error: %s", jerr.text);
        rc = model_check(pe, &cpu_model, t, false);
        if (!rc)
                rc = template_parse(pe, t, c);
        if (rc)
                json_decref(t);
        else
                c->tmpl = t;
        return rc;
}

static void cpu_free_val(void *val)
{
        struct cpu_config_cfg *c = val;

        json_decref(c->tmpl);
        c->tmpl = NULL;
        template_release(c);
}

void config_cpu_template_clear(struct vm_config *cfg)
{
        json_decref(cfg->cpu.tmpl);
        template_release(&cfg->cpu);
        memset(&cfg->cpu, 0, sizeof(cfg->cpu));
}

/*
 * One template slot, as Firecracker's MachineConfig::cpu_template: a custom
 * template replaces the previous one and any static template.
 */
static int cpu_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        struct cpu_config_cfg *c = val;

        (void)pe;
        (void)body;
        config_cpu_template_clear(cfg);
        cfg->cpu = *c;
        cfg->cpu.present = true;
        memset(c, 0, sizeof(*c));
        cfg->machine.has_cpu_template = false;
        return 0;
}

/*
 * CustomCpuTemplateOrPath: an untagged enum of a template and a path. As serde
 * tries each variant and keeps none of their messages, a template that fails
 * its own checks (shape or string formats) is "data did not match any variant".
 */
static int cpu_check(struct perr *pe, const json_t *v)
{
        struct perr quiet = {NULL, pe->sect, pe->file, pe->prefix, pe->src};
        struct cpu_config_cfg c;

        if (json_is_string(v))
                return 0; /* a path: read when applied */
        memset(&c, 0, sizeof(c));
        if (json_is_object(v) && model_check(&quiet, &cpu_model, v, false) == 0 &&
            template_parse(&quiet, v, &c) == 0) {
                template_release(&c);
                return 0;
        }
        return cfg_error_at(pe, v, JSON_AT_NEXT,
                            "data did not match any variant of untagged enum "
                            "CustomCpuTemplateOrPath");
}

/* Not shown in GET /vm/config (Firecracker shows null too). */
static json_t *cpu_show(const struct vm_config *cfg)
{
        (void)cfg;
        return json_null();
}

static void cpu_release(struct vm_config *cfg)
{
        config_cpu_template_clear(cfg);
}

const struct resource res_cpu_config = {
    .key = "cpu-config",
    .prefix = "",
    .model = &cpu_model,
    RES_ONE(struct cpu_config_cfg, cpu),
    .apply_rank = 3,
    .apply = cpu_apply,
    .decode = cpu_decode,
    .free_val = cpu_free_val,
    .check = cpu_check,
    .show = cpu_show,
    .release = cpu_release,
};
