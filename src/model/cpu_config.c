/* Custom CPU templates (PUT /cpu-config, the config file's "cpu-config": a template or a path). */
#include <errno.h>
#include <string.h>

#include "model/resource.h"

/* CustomCpuTemplate (x86_64); element fields are checked, their string formats are not. */
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

/* The template of a body, or (config file) of the file a path names, checked and kept. */
static int cpu_decode(struct perr *pe, const json_t *body, void *val)
{
        struct cpu_config_cfg *c = val;
        json_error_t jerr;
        json_t *t;
        int rc;

        if (!json_is_string(body) || !pe->file) { /* a path only in the config file */
                rc = model_check(pe, &cpu_model, body, false);
                c->tmpl = rc ? NULL : json_deep_copy(body);
                return rc || c->tmpl ? rc : cfg_fail(pe, -ENOMEM, "out of memory");
        }
        t = json_load_file(json_string_value(body), JSON_REJECT_DUPLICATES, &jerr);
        if (!t)
                return cfg_fail(pe, -EINVAL, "File operation error: %s", jerr.text);
        rc = model_check(pe, &cpu_model, t, false);
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
}

/* One template: a PUT replaces it. */
static int cpu_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        struct cpu_config_cfg *c = val;

        (void)pe;
        (void)body;
        json_decref(cfg->cpu.tmpl);
        cfg->cpu.tmpl = c->tmpl;
        cfg->cpu.present = true;
        c->tmpl = NULL;
        return 0;
}

/* CustomCpuTemplateOrPath: an untagged enum of a template and a path. */
static int cpu_check(struct perr *pe, const json_t *v)
{
        if (json_is_string(v))
                return 0; /* a path: read when applied */
        if (!json_is_object(v))
                return cfg_fail(pe, -EBADMSG,
                                "data did not match any variant of untagged enum "
                                "CustomCpuTemplateOrPath (field `cpu-config`)");
        return model_check(pe, &cpu_model, v, false);
}

/* Not shown in GET /vm/config (Firecracker shows null too). */
static json_t *cpu_show(const struct vm_config *cfg)
{
        (void)cfg;
        return json_null();
}

static void cpu_release(struct vm_config *cfg)
{
        json_decref(cfg->cpu.tmpl);
        memset(&cfg->cpu, 0, sizeof(cfg->cpu));
}

const struct resource res_cpu_config = {
    .key = "cpu-config",
    .prefix = "",
    .model = &cpu_model,
    RES_ONE(struct cpu_config_cfg, cpu),
    .apply_rank = 3,
    .no_device = "cpu-config",
    .apply = cpu_apply,
    .decode = cpu_decode,
    .free_val = cpu_free_val,
    .check = cpu_check,
    .show = cpu_show,
    .release = cpu_release,
};
