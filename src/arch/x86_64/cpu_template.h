/* CPU templates: one data structure for static and custom templates, the engine that applies it. */
#ifndef BRASA_ARCH_X86_64_CPU_TEMPLATE_H
#define BRASA_ARCH_X86_64_CPU_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

/* A CPUID register; CPU_REG_NONE marks a leaf modifier without register modifiers. */
enum cpu_reg { CPU_REG_EAX, CPU_REG_EBX, CPU_REG_ECX, CPU_REG_EDX, CPU_REG_NONE };

/*
 * One register of one CPUID leaf: the bits set in filter become those of value,
 * the others keep the host's. The leaf's KVM flags are replaced by flags.
 */
struct cpuid_mod {
        uint32_t leaf;
        uint32_t subleaf;
        uint32_t flags;
        uint8_t reg; /* enum cpu_reg */
        uint32_t filter;
        uint32_t value;
};

/* One MSR: the bits set in filter become those of value. */
struct msr_mod {
        uint32_t addr;
        uint64_t filter;
        uint64_t value;
};

/* A KVM capability the template adds to (or removes from) those checked at start. */
struct kvm_cap_mod {
        uint32_t cap;
        bool remove;
};

/* A template: static ones are built-in tables, custom ones are parsed from JSON. */
struct cpu_template {
        const struct cpuid_mod *cpuid;
        size_t n_cpuid;
        const struct msr_mod *msrs;
        size_t n_msrs;
        const struct kvm_cap_mod *caps;
        size_t n_caps;
};

/* Firecracker's StaticCpuTemplate variants, in its declaration order. */
enum static_template {
        STATIC_TMPL_C3,
        STATIC_TMPL_T2,
        STATIC_TMPL_T2S,
        STATIC_TMPL_NONE,
        STATIC_TMPL_T2CL,
        STATIC_TMPL_T2A,
};

/* The host facts a static template is checked against. */
enum cpu_vendor { CPU_VENDOR_OTHER, CPU_VENDOR_INTEL, CPU_VENDOR_AMD };

/* The built-in template of a static variant; NULL for None or an unknown value. */
const struct cpu_template *cpu_template_static(unsigned int which);

/*
 * Firecracker's check of a static template against the host: the vendor
 * (leaf 0) first, then the model (leaf 1 EAX family/model/stepping). Pure.
 * Returns 0, -EXDEV (vendor mismatch), -ENODEV (model not allowed) or
 * -EINVAL (None or an unknown variant).
 */
int cpu_template_check_host(unsigned int which, enum cpu_vendor vendor, uint32_t leaf1_eax);

/* The running host's vendor and leaf 1 EAX, from the CPUID instruction. */
void cpu_template_host(enum cpu_vendor *vendor, uint32_t *leaf1_eax);

/* (x & ~filter) | value: one register modifier applied. */
static inline uint64_t cpu_template_bits(uint64_t x, uint64_t filter, uint64_t value)
{
        return (x & ~filter) | value;
}

/*
 * Applies t's CPUID modifiers to c in order: each names an entry that must
 * exist, whose flags it replaces and whose register it filters. Returns 0, or
 * -ENOENT with *missing set to the first modifier whose entry c lacks (c may
 * then be partly modified).
 */
int cpu_template_apply_cpuid(const struct cpu_template *t, struct kvm_cpuid2 *c,
                             const struct cpuid_mod **missing);

/*
 * Applies t's MSR modifiers to the n entries of msrs (read from the vCPU, one
 * per distinct template address). Returns 0, or -ENOENT with *missing set to
 * the first modifier whose address msrs lacks.
 */
int cpu_template_apply_msrs(const struct cpu_template *t, struct kvm_msr_entry *msrs, size_t n,
                            const struct msr_mod **missing);

#endif
