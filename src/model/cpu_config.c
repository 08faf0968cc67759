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

/* Keeps a copy of the checked template. */
static int keep(struct perr *pe, struct vm_config *cfg, const json_t *tmpl)
{
        json_t *copy = json_deep_copy(tmpl);

        if (!copy)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        json_decref(cfg->cpu.tmpl);
        cfg->cpu.tmpl = copy;
        cfg->cpu.present = true;
        return 0;
}

/* The body is the template, or (config file) a path to one, read and checked now. */
static int cpu_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        json_error_t jerr;
        json_t *t;
        int rc;

        (void)val;
        if (!json_is_string(body))
                return keep(pe, cfg, body);
        t = json_load_file(json_string_value(body), JSON_REJECT_DUPLICATES, &jerr);
        if (!t)
                return cfg_fail(pe, -EINVAL, "File operation error: %s", jerr.text);
        rc = model_check(pe, &cpu_model, t, false);
        if (!rc)
                rc = keep(pe, cfg, t);
        json_decref(t);
        return rc;
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
    .apply = cpu_apply,
    .check = cpu_check,
    .show = cpu_show,
    .release = cpu_release,
};
