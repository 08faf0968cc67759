/* CPU templates: one data structure for static and custom templates, the engine that applies it. */
#include "arch/x86_64/cpu_template.h"

#include <cpuid.h>
#include <errno.h>

/*
 * Firecracker's static templates (T2, T2S, C3, T2CL for Intel; T2A for AMD),
 * as register filters and values. Each row: leaf, subleaf, KVM flags,
 * register, filter, value.
 */
static const struct cpuid_mod c3_cpuid[] = {
    {0x1, 0x0, 0, CPU_REG_EAX, 0x0fff3fff, 0x000306e4},
    {0x1, 0x0, 0, CPU_REG_ECX, 0x0040dd3c, 0x00000000},
    {0x1, 0x0, 0, CPU_REG_EDX, 0xa8641080, 0x00001080},
    {0x7, 0x0, 1, CPU_REG_EBX, 0xffafdd3c, 0x00000000},
    {0x7, 0x0, 1, CPU_REG_ECX, 0x4041481e, 0x00000000},
    {0x7, 0x0, 1, CPU_REG_EDX, 0x0000000c, 0x00000000},
    {0xd, 0x0, 1, CPU_REG_EAX, 0x000002f8, 0x00000000},
    {0xd, 0x1, 1, CPU_REG_EAX, 0x0000000e, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_ECX, 0x00000120, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_EDX, 0x04000000, 0x00000000},
};
static const struct cpuid_mod t2_cpuid[] = {
    {0x1, 0x0, 0, CPU_REG_EAX, 0x0fff3fff, 0x000306f2},
    {0x1, 0x0, 0, CPU_REG_ECX, 0x0004cdfc, 0x00000000},
    {0x1, 0x0, 0, CPU_REG_EDX, 0xe8641080, 0x00001080},
    {0x7, 0x0, 1, CPU_REG_EBX, 0xffefda14, 0x00000200},
    {0x7, 0x0, 1, CPU_REG_ECX, 0x40415f5e, 0x00000000},
    {0x7, 0x0, 1, CPU_REG_EDX, 0x0000011c, 0x00000000},
    {0xd, 0x0, 1, CPU_REG_EAX, 0x000002f8, 0x00000000},
    {0xd, 0x1, 1, CPU_REG_EAX, 0x0000000e, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_ECX, 0x20000100, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_EDX, 0x04000000, 0x00000000},
    {0x80000008, 0x0, 0, CPU_REG_EBX, 0x00000200, 0x00000000},
};
static const struct cpuid_mod t2s_cpuid[] = {
    {0x1, 0x0, 0, CPU_REG_EAX, 0x0fff3fff, 0x000306f2},
    {0x1, 0x0, 0, CPU_REG_ECX, 0x0004cdfc, 0x00000000},
    {0x1, 0x0, 0, CPU_REG_EDX, 0xe8641080, 0x00001080},
    {0x7, 0x0, 1, CPU_REG_EBX, 0xffefda14, 0x00000200},
    {0x7, 0x0, 1, CPU_REG_ECX, 0x40415f5e, 0x00000000},
    {0x7, 0x0, 1, CPU_REG_EDX, 0x0000011c, 0x00000000},
    {0xd, 0x0, 1, CPU_REG_EAX, 0x000002f8, 0x00000000},
    {0xd, 0x1, 1, CPU_REG_EAX, 0x0000000e, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_ECX, 0x20000100, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_EDX, 0x04000000, 0x00000000},
    {0x80000008, 0x0, 0, CPU_REG_EBX, 0x00000200, 0x00000000},
};
static const struct msr_mod t2s_msrs[] = {
    {0x10a, 0xffffffffffffffffull, 0x000000000c080c4cull},
};
static const struct cpuid_mod t2cl_cpuid[] = {
    {0x1, 0x0, 0, CPU_REG_EAX, 0x0fff3fff, 0x000306f2},
    {0x1, 0x0, 0, CPU_REG_ECX, 0x0004cdfc, 0x00000000},
    {0x1, 0x0, 0, CPU_REG_EDX, 0xe8641080, 0x00001080},
    {0x7, 0x0, 1, CPU_REG_EBX, 0xffefda14, 0x00000200},
    {0x7, 0x0, 1, CPU_REG_ECX, 0x40415f5e, 0x00000000},
    {0x7, 0x0, 1, CPU_REG_EDX, 0x0000011c, 0x00000000},
    {0xd, 0x0, 1, CPU_REG_EAX, 0x000002f8, 0x00000000},
    {0xd, 0x1, 1, CPU_REG_EAX, 0x0000000e, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_ECX, 0x200001c0, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_EDX, 0x07c00000, 0x00000000},
    {0x80000008, 0x0, 0, CPU_REG_EBX, 0x00000200, 0x00000000},
};
static const struct msr_mod t2cl_msrs[] = {
    {0x10a, 0xffffffffe2f51e00ull, 0x0000000000000000ull},
};
static const struct cpuid_mod t2a_cpuid[] = {
    {0x1, 0x0, 0, CPU_REG_EAX, 0x0fff3fff, 0x000306f2},
    {0x1, 0x0, 0, CPU_REG_ECX, 0x0004cdfc, 0x00000000},
    {0x1, 0x0, 0, CPU_REG_EDX, 0xe8641080, 0x00001080},
    {0x7, 0x0, 1, CPU_REG_EBX, 0xffefda14, 0x00000200},
    {0x7, 0x0, 1, CPU_REG_ECX, 0x40415f5e, 0x00000000},
    {0x7, 0x0, 1, CPU_REG_EDX, 0x0000011c, 0x00000000},
    {0xd, 0x0, 1, CPU_REG_EAX, 0x000002f8, 0x00000000},
    {0xd, 0x1, 1, CPU_REG_EAX, 0x0000000e, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_ECX, 0x200001c4, 0x00000000},
    {0x80000001, 0x0, 0, CPU_REG_EDX, 0x06400000, 0x00000000},
    {0x80000008, 0x0, 0, CPU_REG_EBX, 0x001c0205, 0x001c0004},
};

#define TMPL(cpuid_, msrs_, nmsrs_)                                                                \
        {                                                                                          \
                .cpuid = (cpuid_), .n_cpuid = sizeof(cpuid_) / sizeof((cpuid_)[0]),                \
                .msrs = (msrs_), .n_msrs = (nmsrs_)                                                \
        }

static const struct cpu_template static_templates[] = {
    [STATIC_TMPL_C3] = TMPL(c3_cpuid, NULL, 0),
    [STATIC_TMPL_T2] = TMPL(t2_cpuid, NULL, 0),
    [STATIC_TMPL_T2S] = TMPL(t2s_cpuid, t2s_msrs, 1),
    [STATIC_TMPL_T2CL] = TMPL(t2cl_cpuid, t2cl_msrs, 1),
    [STATIC_TMPL_T2A] = TMPL(t2a_cpuid, NULL, 0),
};

/* Leaf 1 EAX family, model and stepping fields (processor type and reserved bits out). */
#define FMS_MASK    0x0fff0fffu
#define SKYLAKE     0x00050654u
#define CASCADELAKE 0x00050657u
#define ICELAKE     0x000606a6u
#define MILAN       0x00a00f11u

/* Each static template's vendor and the CPU models it may run on. */
static const struct {
        enum cpu_vendor vendor;
        uint32_t models[3]; /* 0 ends the list */
} static_hosts[] = {
    [STATIC_TMPL_C3] = {CPU_VENDOR_INTEL, {SKYLAKE, CASCADELAKE, ICELAKE}},
    [STATIC_TMPL_T2] = {CPU_VENDOR_INTEL, {SKYLAKE, CASCADELAKE, ICELAKE}},
    [STATIC_TMPL_T2S] = {CPU_VENDOR_INTEL, {SKYLAKE, CASCADELAKE}},
    [STATIC_TMPL_T2CL] = {CPU_VENDOR_INTEL, {CASCADELAKE, ICELAKE}},
    [STATIC_TMPL_T2A] = {CPU_VENDOR_AMD, {MILAN}},
};

#define N_STATIC (sizeof(static_templates) / sizeof(static_templates[0]))

const struct cpu_template *cpu_template_static(unsigned int which)
{
        if (which >= N_STATIC || which == STATIC_TMPL_NONE)
                return NULL;
        return &static_templates[which];
}

int cpu_template_check_host(unsigned int which, enum cpu_vendor vendor, uint32_t leaf1_eax)
{
        unsigned int i;

        if (!cpu_template_static(which))
                return -EINVAL;
        if (vendor != static_hosts[which].vendor)
                return -EXDEV;
        for (i = 0; i < 3 && static_hosts[which].models[i]; i++) {
                if ((leaf1_eax & FMS_MASK) == static_hosts[which].models[i])
                        return 0;
        }
        return -ENODEV;
}

void cpu_template_host(enum cpu_vendor *vendor, uint32_t *leaf1_eax)
{
        unsigned int a = 0, b = 0, c = 0, d = 0;

        __cpuid(0, a, b, c, d);
        /* Leaf 0 spells the vendor in EBX, EDX, ECX order. */
        if (b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e)
                *vendor = CPU_VENDOR_INTEL; /* "GenuineIntel" */
        else if (b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163)
                *vendor = CPU_VENDOR_AMD; /* "AuthenticAMD" */
        else
                *vendor = CPU_VENDOR_OTHER;
        __cpuid(1, a, b, c, d);
        *leaf1_eax = a;
}

static struct kvm_cpuid_entry2 *find_entry(struct kvm_cpuid2 *c, uint32_t leaf, uint32_t subleaf)
{
        uint32_t i;

        for (i = 0; i < c->nent; i++) {
                if (c->entries[i].function == leaf && c->entries[i].index == subleaf)
                        return &c->entries[i];
        }
        return NULL;
}

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, uint8_t reg)
{
        switch (reg) {
        case CPU_REG_EAX:
                return &e->eax;
        case CPU_REG_EBX:
                return &e->ebx;
        case CPU_REG_ECX:
                return &e->ecx;
        case CPU_REG_EDX:
                return &e->edx;
        default:
                return NULL;
        }
}

int cpu_template_apply_cpuid(const struct cpu_template *t, struct kvm_cpuid2 *c,
                             const struct cpuid_mod **missing)
{
        const struct cpuid_mod *m;
        struct kvm_cpuid_entry2 *e;
        uint32_t *r;
        size_t i;

        for (i = 0; i < t->n_cpuid; i++) {
                m = &t->cpuid[i];
                e = find_entry(c, m->leaf, m->subleaf);
                if (!e) {
                        *missing = m;
                        return -ENOENT;
                }
                e->flags = m->flags;
                r = entry_reg(e, m->reg);
                if (r)
                        *r = (uint32_t)cpu_template_bits(*r, m->filter, m->value);
        }
        return 0;
}

int cpu_template_apply_msrs(const struct cpu_template *t, struct kvm_msr_entry *msrs, size_t n,
                            const struct msr_mod **missing)
{
        const struct msr_mod *m;
        size_t i, j;

        for (i = 0; i < t->n_msrs; i++) {
                m = &t->msrs[i];
                for (j = 0; j < n && msrs[j].index != m->addr; j++)
                        ;
                if (j == n) {
                        *missing = m;
                        return -ENOENT;
                }
                msrs[j].data = cpu_template_bits(msrs[j].data, m->filter, m->value);
        }
        return 0;
}
