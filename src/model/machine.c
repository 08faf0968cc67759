/* MachineConfiguration (PUT/PATCH /machine-config, "machine-config"): vCPUs, memory, SMT, THP. */
#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "model/resource.h"

#define MSG_VCPUS                                                                                  \
        "The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even "       \
        "number if SMT is enabled."
#define MSG_MEM "The memory size (MiB) is either 0, or not a multiple of the configured page size."

static const char *const huge_variants[] = {"None", "Transparent", "2M", NULL};
/* x86_64 StaticCpuTemplate, in Firecracker's declaration order. */
static const char *const tmpl_variants[] = {"C3", "T2", "T2S", "None", "T2CL", "T2A", NULL};

#define MC struct machine_cfg
static const struct mfield machine_fields[] = {
    F_DFLT(MC, vcpu_count, "vcpu_count", mt_u8, MF_REQUIRED, CONFIG_DEFAULT_VCPUS),
    F_DFLT(MC, mem_size_mib, "mem_size_mib", mt_usize, MF_REQUIRED, CONFIG_DEFAULT_MEM_MIB),
    F(MC, smt, "smt", mt_bool, 0),
    {MFIELD(MC, cpu_template, "cpu_template", mt_enum, MF_OPTION | MF_OMIT_UNSET),
     .has = offsetof(MC, has_cpu_template), .arg = tmpl_variants,
     .expected = "enum StaticCpuTemplate"},
    F(MC, track_dirty_pages, "track_dirty_pages", mt_bool, 0),
    F_ENUM(MC, huge_pages, "huge_pages", 0, huge_variants, "enum HugePageConfig", 0),
};
const struct model model_machine = MODEL("struct MachineConfig", machine_fields, false);

void config_machine_defaults(struct machine_cfg *m)
{
        memset(m, 0, sizeof(*m));
        m->vcpu_count = CONFIG_DEFAULT_VCPUS;
        m->mem_size_mib = CONFIG_DEFAULT_MEM_MIB;
        m->huge_pages = HUGE_PAGES_NONE;
}

int config_check_mem_limit(uint64_t mem_mib, struct err *e)
{
        if (mem_mib <= LAYOUT_MAX_MEM_BYTES >> 20)
                return 0;
        /* What Firecracker answers when its mmap of that much fails. */
        return err_set(e, -ENOMEM,
                       "Invalid Memory Configuration: Cannot create mmap region: Out of memory "
                       "(os error 12)");
}

/* Firecracker's MachineConfig::update() checks. A static template is checked against the host at
 * InstanceStart, as Firecracker does. */
static int machine_validate(struct perr *pe, const struct machine_cfg *m)
{
        if (m->vcpu_count == 0 || m->vcpu_count > CONFIG_MAX_VCPUS)
                return cfg_fail(pe, -EINVAL, MSG_VCPUS);
        if (m->smt && m->vcpu_count > 1 && m->vcpu_count % 2)
                return cfg_fail(pe, -EINVAL, MSG_VCPUS);
        if (m->mem_size_mib == 0 || (m->huge_pages != HUGE_PAGES_NONE && m->mem_size_mib % 2))
                return cfg_fail(pe, -EINVAL, MSG_MEM);
        return 0;
}

int config_machine_validate(const struct machine_cfg *m, struct err *e)
{
        struct perr pe = PERR_API(e);

        return machine_validate(&pe, m);
}

int config_parse_machine_config(const json_t *body, struct machine_cfg *out, struct err *e)
{
        struct perr pe = PERR_API(e);
        struct machine_cfg m;
        int rc;

        config_machine_defaults(&m);
        rc = model_decode(&pe, &model_machine, body, &m, false);
        if (!rc)
                rc = machine_validate(&pe, &m);
        if (!rc)
                *out = m;
        return rc;
}

int cfg_machine_patch_decode(struct perr *pe, const json_t *body, void *val)
{
        struct machine_patch *p = val;
        size_t i;
        int rc;

        rc = model_decode(pe, &model_machine, body, &p->m, true);
        if (rc)
                return rc;
        for (i = 0; i < model_machine.n; i++)
                if (model_given(body, machine_fields[i].name))
                        p->given |= 1u << i;
        return p->given ? 0 : cfg_fail(pe, -ENODATA, "Empty PATCH request.");
}

void config_machine_merge(struct machine_cfg *m, const struct machine_patch *p)
{
        const struct mfield *f;
        size_t i;

        m->has_cpu_template = false;
        for (i = 0; i < model_machine.n; i++) {
                f = &machine_fields[i];
                if (!(p->given & (1u << i)))
                        continue;
                memcpy((char *)m + f->off, (const char *)&p->m + f->off, f->size);
                if (f->has != MF_NO_HAS)
                        *(bool *)((char *)m + f->has) = true;
        }
}

int config_patch_machine_config(const json_t *body, struct machine_cfg *inout, struct err *e)
{
        struct perr pe = PERR_API(e);
        struct machine_patch p;
        struct machine_cfg m = *inout;
        int rc;

        memset(&p, 0, sizeof(p));
        rc = cfg_machine_patch_decode(&pe, body, &p);
        if (rc)
                return rc;
        config_machine_merge(&m, &p);
        rc = machine_validate(&pe, &m);
        if (!rc)
                *inout = m;
        return rc;
}

json_t *config_machine_to_json(const struct machine_cfg *m)
{
        return model_encode(&model_machine, m);
}

void config_machine_commit(struct vm_config *cfg, const struct machine_cfg *m)
{
        struct machine_cfg n = *m;

        if (!n.has_cpu_template) {
                n.has_cpu_template = cfg->machine.has_cpu_template;
                n.cpu_template = cfg->machine.cpu_template;
        } else {
                config_cpu_template_clear(cfg);
                n.has_cpu_template = n.cpu_template != STATIC_TMPL_NONE;
        }
        cfg->machine = n;
}

static int machine_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        int rc;

        (void)body;
        rc = machine_validate(pe, val);
        if (!rc)
                config_machine_commit(cfg, val);
        return rc;
}

/* Machine config has no "configured" flag: a release puts back the defaults. */
static void machine_release(struct vm_config *cfg)
{
        config_machine_defaults(&cfg->machine);
}

const struct resource res_machine = {
    .key = "machine-config",
    .model = &model_machine,
    RES_AT(struct machine_cfg, machine),
    .count_off = RES_SINGLE,
    .present_off = MF_NO_HAS,
    .apply_rank = 2,
    .apply = machine_apply,
    .release = machine_release,
};
