/* Guest CPUID: Firecracker's normalization, the kvm_pvm CPU template, and PVM host detection. */
#include "arch/x86_64/cpuid.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <linux/kvm_para.h>

#include "arch/x86_64/layout.h"

/* Older UAPI headers only have the misspelled name. */
#ifndef KVM_CPUID_FLAG_SIGNIFICANT_INDEX
#define KVM_CPUID_FLAG_SIGNIFICANT_INDEX KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#endif

enum cpuid_reg { R_EAX, R_EBX, R_ECX, R_EDX };

enum cpuid_vendor { VENDOR_OTHER, VENDOR_INTEL, VENDOR_AMD };

/* Leaf 1 bits that normalization touches. */
#define CPUID1_ECX_PDCM         (1u << 15)
#define CPUID1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID1_ECX_HYPERVISOR   (1u << 31)
#define CPUID1_EDX_HTT          (1u << 28)

/* Leaf 0xB/0x1F level types (ECX[15:8]). */
#define TOPO_LEVEL_SMT  1u
#define TOPO_LEVEL_CORE 2u

/*
 * x2APIC-ID shift to the package level. Firecracker derives it from its vCPU
 * limit (not nr_vcpus) so it is the same on every VM: log2(32) = 5.
 */
#define TOPO_CORE_SHIFT 5u
_Static_assert((1u << TOPO_CORE_SHIFT) >= LAYOUT_MAX_VCPUS, "core shift too small");

/* Bytes per cache line in units of 8 (leaf 1 EBX[15:8]): 64-byte lines. */
#define CLFLUSH_LINE_QWORDS 8u

static uint32_t *entry_reg(struct kvm_cpuid_entry2 *e, enum cpuid_reg r)
{
        switch (r) {
        case R_EAX:
                return &e->eax;
        case R_EBX:
                return &e->ebx;
        case R_ECX:
                return &e->ecx;
        default:
                return &e->edx;
        }
}

/* Replaces bits [lo, hi] of *x with v (v is truncated to the field's width). */
static void set_field(uint32_t *x, unsigned int lo, unsigned int hi, uint32_t v)
{
        uint32_t mask = (hi - lo == 31) ? 0xffffffffu : (((1u << (hi - lo + 1)) - 1) << lo);

        *x = (*x & ~mask) | ((v << lo) & mask);
}

static uint32_t get_field(uint32_t x, unsigned int lo, unsigned int hi)
{
        uint32_t mask = (hi - lo == 31) ? 0xffffffffu : ((1u << (hi - lo + 1)) - 1);

        return (x >> lo) & mask;
}

static uint32_t next_pow2(uint32_t v)
{
        uint32_t p = 1;

        while (p < v)
                p <<= 1;
        return p;
}

struct kvm_cpuid_entry2 *cpuid_find(struct kvm_cpuid2 *c, uint32_t function, uint32_t index)
{
        uint32_t i;

        for (i = 0; i < c->nent; i++) {
                if (c->entries[i].function == function && c->entries[i].index == index)
                        return &c->entries[i];
        }
        return NULL;
}

/* Returns the (function, index) entry, appending a zeroed one when missing; NULL when full. */
static struct kvm_cpuid_entry2 *find_or_add(struct kvm_cpuid2 *c, size_t capacity,
                                            uint32_t function, uint32_t index, uint32_t flags)
{
        struct kvm_cpuid_entry2 *e = cpuid_find(c, function, index);

        if (e)
                return e;
        if (c->nent >= capacity)
                return NULL;
        e = &c->entries[c->nent++];
        memset(e, 0, sizeof(*e));
        e->function = function;
        e->index = index;
        e->flags = flags;
        return e;
}

static enum cpuid_vendor vendor_of(const struct kvm_cpuid_entry2 *leaf0)
{
        /* Leaf 0 spells the vendor in EBX, EDX, ECX order. */
        if (leaf0->ebx == 0x756e6547 && leaf0->edx == 0x49656e69 && leaf0->ecx == 0x6c65746e)
                return VENDOR_INTEL; /* "GenuineIntel" */
        if (leaf0->ebx == 0x68747541 && leaf0->edx == 0x69746e65 && leaf0->ecx == 0x444d4163)
                return VENDOR_AMD; /* "AuthenticAMD" */
        return VENDOR_OTHER;
}

static void normalize_leaf1(struct kvm_cpuid_entry2 *e, unsigned int cpu_index,
                            unsigned int nr_vcpus)
{
        set_field(&e->ebx, 8, 15, CLFLUSH_LINE_QWORDS);
        set_field(&e->ebx, 16, 23, next_pow2(nr_vcpus)); /* max logical IDs per package */
        set_field(&e->ebx, 24, 31, cpu_index);           /* initial APIC ID */
        e->ecx &= ~CPUID1_ECX_PDCM;                      /* no perf-capabilities MSR is emulated */
        e->ecx |= CPUID1_ECX_TSC_DEADLINE | CPUID1_ECX_HYPERVISOR;
        if (nr_vcpus > 1)
                e->edx |= CPUID1_EDX_HTT;
        else
                e->edx &= ~CPUID1_EDX_HTT;
}

/* Where one vCPU sits: its index, the VM's vCPU count, and threads per core (1, or 2 with SMT). */
struct topo {
        unsigned int cpu_index;
        unsigned int nr_vcpus;
        unsigned int per_core;
};

/*
 * One leaf 0xB/0x1F subleaf: level 0 is SMT (per_core threads, x2APIC shift
 * log2(per_core)), level 1 is the package (nr_vcpus logical CPUs); any other
 * subleaf is an invalid level, which ends the guest's enumeration. EDX is
 * always the x2APIC ID.
 */
static void fill_topology(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
        e->flags |= KVM_CPUID_FLAG_SIGNIFICANT_INDEX;
        e->eax = 0;
        e->ebx = 0;
        e->ecx = e->index & 0xff;
        e->edx = t->cpu_index;
        if (e->index == 0) {
                e->eax = t->per_core > 1 ? 1 : 0;
                e->ebx = t->per_core;
                e->ecx |= TOPO_LEVEL_SMT << 8;
        } else if (e->index == 1) {
                e->eax = TOPO_CORE_SHIFT;
                e->ebx = t->nr_vcpus;
                e->ecx |= TOPO_LEVEL_CORE << 8;
        }
}

static int normalize_topology_leaf(struct kvm_cpuid2 *c, size_t capacity, uint32_t leaf,
                                   const struct topo *t)
{
        uint32_t i;

        if (!find_or_add(c, capacity, leaf, 0, KVM_CPUID_FLAG_SIGNIFICANT_INDEX) ||
            !find_or_add(c, capacity, leaf, 1, KVM_CPUID_FLAG_SIGNIFICANT_INDEX))
                return -ENOSPC;
        for (i = 0; i < c->nent; i++) {
                if (c->entries[i].function == leaf)
                        fill_topology(&c->entries[i], t);
        }
        return 0;
}

/*
 * Leaf 4 / 0x8000001D EAX[25:14]: logical CPUs sharing the cache, minus one.
 * L1/L2 are shared by the threads of one core, L3 by the whole VM.
 */
static void set_cache_sharing(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
        uint32_t level = get_field(e->eax, 5, 7);

        if (level == 1 || level == 2)
                set_field(&e->eax, 14, 25, t->per_core - 1);
        else if (level == 3)
                set_field(&e->eax, 14, 25, t->nr_vcpus - 1);
}

static void normalize_intel_leaf4(struct kvm_cpuid2 *c, const struct topo *t)
{
        struct kvm_cpuid_entry2 *e;
        uint32_t i;

        for (i = 0; (e = cpuid_find(c, 4, i)) != NULL; i++) {
                if (!e->eax && !e->ebx && !e->ecx && !e->edx)
                        break; /* the null cache type ends the list */
                set_cache_sharing(e, t);
                set_field(&e->eax, 26, 31, t->nr_vcpus / t->per_core - 1); /* cores - 1 */
        }
}

/* Writes a 48-byte brand string into leaves 0x80000002..4 when all three exist. */
static void set_brand(struct kvm_cpuid2 *c, const char brand[CPUID_BRAND_LEN])
{
        struct kvm_cpuid_entry2 *e;
        uint32_t i;

        for (i = 0; i < 3; i++) {
                if (!cpuid_find(c, 0x80000002 + i, 0))
                        return;
        }
        for (i = 0; i < 3; i++) {
                e = cpuid_find(c, 0x80000002 + i, 0);
                memcpy(&e->eax, brand + 16 * i, 4);
                memcpy(&e->ebx, brand + 16 * i + 4, 4);
                memcpy(&e->ecx, brand + 16 * i + 8, 4);
                memcpy(&e->edx, brand + 16 * i + 12, 4);
        }
}

static void host_brand(char out[CPUID_BRAND_LEN])
{
        unsigned int r[4];
        uint32_t i;

        memset(out, 0, CPUID_BRAND_LEN);
        if ((unsigned int)__get_cpuid_max(0x80000000, NULL) < 0x80000004u)
                return;
        for (i = 0; i < 3; i++) {
                __cpuid(0x80000002 + i, r[0], r[1], r[2], r[3]);
                memcpy(out + 16 * i, r, sizeof(r));
        }
}

/* Returns the offset of the first "[MGT]Hz" in s, or -1. */
static int find_hz(const char *s)
{
        int i;

        for (i = 0; i + 3 <= CPUID_BRAND_LEN; i++) {
                if ((s[i] == 'M' || s[i] == 'G' || s[i] == 'T') && s[i + 1] == 'H' &&
                    s[i + 2] == 'z')
                        return i;
        }
        return -1;
}

void cpuid_intel_brand(const char host[CPUID_BRAND_LEN], char out[CPUID_BRAND_LEN])
{
        static const char base[] = "Intel(R) Xeon(R) Processor";
        int hz = find_hz(host), start;
        size_t len;

        memset(out, 0, CPUID_BRAND_LEN);
        memcpy(out, base, sizeof(base) - 1);
        if (hz < 0)
                return;
        /* Walk back over "3.00" to the space before it. */
        start = hz;
        while (start > 0 &&
               ((host[start - 1] >= '0' && host[start - 1] <= '9') || host[start - 1] == '.'))
                start--;
        if (start == hz || start == 0 || host[start - 1] != ' ')
                return;
        len = (size_t)(hz - start) + 3; /* digits plus "GHz" */
        if (sizeof(base) - 1 + 3 + len >= CPUID_BRAND_LEN)
                return; /* keep a terminating NUL */
        memcpy(out + sizeof(base) - 1, " @ ", 3);
        memcpy(out + sizeof(base) - 1 + 3, host + start, len);
}

static int normalize_intel(struct kvm_cpuid2 *c, size_t capacity, const struct topo *t)
{
        struct kvm_cpuid_entry2 *e;
        char host[CPUID_BRAND_LEN], brand[CPUID_BRAND_LEN];
        int rc = 0;

        normalize_intel_leaf4(c, t);
        if ((e = cpuid_find(c, 6, 0)) != NULL) {
                e->eax &= ~(1u << 1); /* Turbo Boost: the guest cannot control it */
                e->ecx &= ~(1u << 3); /* performance-energy bias (frequency selection) */
        }
        if ((e = cpuid_find(c, 7, 0)) != NULL) {
                e->ebx |= (1u << 6) | (1u << 13); /* FDP_EXCPTN_ONLY, FPU CS/DS deprecated */
                e->ecx &= ~(1u << 5);             /* WAITPKG: umwait would stall the host */
        }
        if ((e = cpuid_find(c, 0xa, 0)) != NULL) {
                e->eax = e->ebx = e->ecx = e->edx = 0; /* no vPMU */
        }
        /* Leaf 0x1F (V2 topology) must agree with 0xB when the CPU has it. */
        if (cpuid_find(c, 0x1f, 0))
                rc = normalize_topology_leaf(c, capacity, 0x1f, t);
        host_brand(host);
        cpuid_intel_brand(host, brand);
        set_brand(c, brand);
        return rc;
}

/* AMD extended APIC ID leaf: per_core threads per compute unit, one node. */
static void fill_amd_ext_apic(struct kvm_cpuid_entry2 *e, const struct topo *t)
{
        e->eax = t->cpu_index;
        set_field(&e->ebx, 0, 7, t->cpu_index / t->per_core); /* compute unit (core) id */
        set_field(&e->ebx, 8, 15, t->per_core - 1);           /* threads per compute unit - 1 */
        set_field(&e->ecx, 0, 10, 0); /* node id 0, nodes per processor - 1 = 0 */
}

static int normalize_amd(struct kvm_cpuid2 *c, size_t capacity, const struct topo *t)
{
        static const char brand[CPUID_BRAND_LEN] = "AMD EPYC";
        struct kvm_cpuid_entry2 *e;
        uint32_t i;

        if ((e = cpuid_find(c, 7, 0)) != NULL)
                e->edx &= ~(1u << 29); /* ARCH_CAPABILITIES: no such MSR on AMD */
        if ((e = cpuid_find(c, 0x80000001, 0)) != NULL)
                e->ecx |= 1u << 22; /* TOPOEXT: guest reads 0x8000001D/E below */
        if ((e = cpuid_find(c, 0x80000008, 0)) != NULL) {
                set_field(&e->ecx, 12, 15, 7);             /* APIC ID size (bits) */
                set_field(&e->ecx, 0, 7, t->nr_vcpus - 1); /* threads in package - 1 */
        }
        for (i = 0; (e = cpuid_find(c, 0x8000001d, i)) != NULL; i++)
                set_cache_sharing(e, t);
        e = find_or_add(c, capacity, 0x8000001e, 0, 0);
        if (!e)
                return -ENOSPC;
        fill_amd_ext_apic(e, t);
        set_brand(c, brand);
        return 0;
}

int cpuid_normalize(struct kvm_cpuid2 *c, size_t capacity, unsigned int cpu_index,
                    unsigned int nr_vcpus, bool smt)
{
        /* Two threads per core only with SMT and more than one vCPU, as Firecracker. */
        const struct topo t = {cpu_index, nr_vcpus, smt && nr_vcpus > 1 ? 2u : 1u};
        struct kvm_cpuid_entry2 *leaf0, *leaf1;
        int rc;

        if (nr_vcpus == 0 || nr_vcpus > LAYOUT_MAX_VCPUS || cpu_index >= nr_vcpus ||
            c->nent > capacity)
                return -EINVAL;
        leaf0 = cpuid_find(c, 0, 0);
        leaf1 = cpuid_find(c, 1, 0);
        if (!leaf0 || !leaf1)
                return -EINVAL;
        normalize_leaf1(leaf1, cpu_index, nr_vcpus);
        rc = normalize_topology_leaf(c, capacity, 0xb, &t);
        if (rc)
                return rc;
        switch (vendor_of(leaf0)) {
        case VENDOR_INTEL:
                return normalize_intel(c, capacity, &t);
        case VENDOR_AMD:
                return normalize_amd(c, capacity, &t);
        default:
                return 0; /* unknown vendor: the common part only */
        }
}

/*
 * The kvm_pvm CPU template. On kvm_pvm the guest kernel (CPL0) runs through
 * KVM's instruction emulator, which fails on these instructions; hiding the
 * CPUID bit makes Linux avoid them (docs/pvm-hosts.md: the guest booted with all of
 * them hidden; which are strictly needed was not isolated). Features whose
 * state lives in XSAVE areas go with XSAVE: without XSAVE the kernel would not
 * save their registers across context switches.
 *
 * Measured on this project's kvm_pvm host (pvm_native=Y): the guest still sees
 * the host's own leaf 7 and leaf 0xD, and leaf 1 ECX bits 0, 1, 9, 12, 19, 20,
 * 22, 23, 25, 26, 28, 29, 30 (SSE3..RDRAND, incl. XSAVE, POPCNT, AVX, MOVBE),
 * whatever KVM_SET_CPUID2 says; xgetbv still fails emulation. There the guest
 * kernel must turn those off itself (noxsave, nosmap, nosmep, clearcpuid=...).
 * CX16, PCID, leaf 0x8000xxxx and the KVM PV leaf do follow this table.
 */
struct cpuid_bit {
        uint32_t leaf;
        uint32_t subleaf;
        enum cpuid_reg reg;
        uint8_t bit;
        const char *why;
};

static const struct cpuid_bit pvm_hidden[] = {
    /* leaf       sub reg    bit  why */
    {0x1, 0, R_ECX, 12, "FMA: VEX-encoded, needs XSAVE"},
    {0x1, 0, R_ECX, 13, "CX16: lock cmpxchg16b (SLUB) fails emulation"},
    {0x1, 0, R_ECX, 17, "PCID: fails emulation"},
    {0x1, 0, R_ECX, 22, "MOVBE: fails emulation"},
    {0x1, 0, R_ECX, 23, "POPCNT: fails emulation"},
    {0x1, 0, R_ECX, 26, "XSAVE: xrstor in FPU init fails emulation"},
    {0x1, 0, R_ECX, 27, "OSXSAVE: follows XSAVE"},
    {0x1, 0, R_ECX, 28, "AVX: needs XSAVE"},
    {0x1, 0, R_ECX, 29, "F16C: VEX-encoded, needs XSAVE"},
    {0x1, 0, R_ECX, 30, "RDRAND: fails emulation"},
    {0x7, 0, R_EBX, 0, "FSGSBASE: fails emulation"},
    {0x7, 0, R_EBX, 3, "BMI1: fails emulation"},
    {0x7, 0, R_EBX, 5, "AVX2: needs XSAVE"},
    {0x7, 0, R_EBX, 7, "SMEP: fails emulation"},
    {0x7, 0, R_EBX, 8, "BMI2: fails emulation"},
    {0x7, 0, R_EBX, 9, "ERMS: fails emulation"},
    {0x7, 0, R_EBX, 10, "INVPCID: fails emulation"},
    {0x7, 0, R_EBX, 14, "MPX: XSAVE state"},
    {0x7, 0, R_EBX, 16, "AVX512F: needs XSAVE"},
    {0x7, 0, R_EBX, 17, "AVX512DQ: needs XSAVE"},
    {0x7, 0, R_EBX, 18, "RDSEED: fails emulation"},
    {0x7, 0, R_EBX, 20, "SMAP: fails emulation"},
    {0x7, 0, R_EBX, 21, "AVX512_IFMA: needs XSAVE"},
    {0x7, 0, R_EBX, 23, "CLFLUSHOPT: fails emulation"},
    {0x7, 0, R_EBX, 24, "CLWB: fails emulation"},
    {0x7, 0, R_EBX, 26, "AVX512PF: needs XSAVE"},
    {0x7, 0, R_EBX, 27, "AVX512ER: needs XSAVE"},
    {0x7, 0, R_EBX, 28, "AVX512CD: needs XSAVE"},
    {0x7, 0, R_EBX, 30, "AVX512BW: needs XSAVE"},
    {0x7, 0, R_EBX, 31, "AVX512VL: needs XSAVE"},
    {0x7, 0, R_ECX, 1, "AVX512_VBMI: needs XSAVE"},
    {0x7, 0, R_ECX, 3, "PKU: fails emulation"},
    {0x7, 0, R_ECX, 4, "OSPKE: follows PKU"},
    {0x7, 0, R_ECX, 6, "AVX512_VBMI2: needs XSAVE"},
    {0x7, 0, R_ECX, 7, "CET_SS: XSAVES state"},
    {0x7, 0, R_ECX, 9, "VAES: VEX-encoded, needs XSAVE"},
    {0x7, 0, R_ECX, 10, "VPCLMULQDQ: VEX-encoded, needs XSAVE"},
    {0x7, 0, R_ECX, 11, "AVX512_VNNI: needs XSAVE"},
    {0x7, 0, R_ECX, 12, "AVX512_BITALG: needs XSAVE"},
    {0x7, 0, R_ECX, 14, "AVX512_VPOPCNTDQ: needs XSAVE"},
    {0x7, 0, R_ECX, 22, "RDPID: fails emulation"},
    {0x7, 0, R_EDX, 2, "AVX512_4VNNIW: needs XSAVE"},
    {0x7, 0, R_EDX, 3, "AVX512_4FMAPS: needs XSAVE"},
    {0x7, 0, R_EDX, 4, "FSRM: fails emulation"},
    {0x7, 0, R_EDX, 8, "AVX512_VP2INTERSECT: needs XSAVE"},
    {0x7, 0, R_EDX, 20, "CET_IBT: XSAVES state"},
    {0x7, 0, R_EDX, 22, "AMX_BF16: needs XSAVE"},
    {0x7, 0, R_EDX, 23, "AVX512_FP16: needs XSAVE"},
    {0x7, 0, R_EDX, 24, "AMX_TILE: needs XSAVE"},
    {0x7, 0, R_EDX, 25, "AMX_INT8: needs XSAVE"},
    {0x7, 1, R_EAX, 4, "AVX_VNNI: needs XSAVE"},
    {0x7, 1, R_EAX, 5, "AVX512_BF16: needs XSAVE"},
    {0x7, 1, R_EAX, 10, "fast zero-length rep movsb: like ERMS/FSRM"},
    {0x7, 1, R_EAX, 11, "fast short rep stosb: like ERMS/FSRM"},
    {0x7, 1, R_EAX, 12, "fast short rep cmpsb/scasb: like ERMS/FSRM"},
    {0x7, 1, R_EAX, 23, "AVX_IFMA: needs XSAVE"},
    {0x80000001, 0, R_ECX, 11, "XOP (AMD): VEX-like, needs XSAVE"},
    {0x80000001, 0, R_ECX, 16, "FMA4 (AMD): needs XSAVE"},
    {KVM_CPUID_FEATURES, 0, R_EAX, KVM_FEATURE_PV_UNHALT, "PV_UNHALT: vmcall never returns"},
    {KVM_CPUID_FEATURES, 0, R_EAX, KVM_FEATURE_PV_SEND_IPI, "PV_SEND_IPI: vmcall never returns"},
    {KVM_CPUID_FEATURES, 0, R_EAX, KVM_FEATURE_PV_SCHED_YIELD,
     "PV_SCHED_YIELD: vmcall never returns"},
};

void cpuid_apply_pvm_template(struct kvm_cpuid2 *c)
{
        struct kvm_cpuid_entry2 *e;
        size_t i;
        uint32_t j;

        for (i = 0; i < sizeof(pvm_hidden) / sizeof(pvm_hidden[0]); i++) {
                e = cpuid_find(c, pvm_hidden[i].leaf, pvm_hidden[i].subleaf);
                if (e)
                        *entry_reg(e, pvm_hidden[i].reg) &= ~(1u << pvm_hidden[i].bit);
        }
        /* Leaf 0xD describes XSAVE areas; with XSAVE hidden it must say "none". */
        for (j = 0; j < c->nent; j++) {
                e = &c->entries[j];
                if (e->function == 0xd)
                        e->eax = e->ebx = e->ecx = e->edx = 0;
        }
}

bool cpuid_pvm_detect(bool host_vmx, bool host_svm, bool kvm_pvm_module)
{
        return !host_vmx && !host_svm && kvm_pvm_module;
}

bool cpuid_host_is_pvm(void)
{
        unsigned int a, b, c, d;
        bool vmx = false, svm = false;
        struct stat st;

        if (__get_cpuid(1, &a, &b, &c, &d))
                vmx = c & (1u << 5);
        if (__get_cpuid(0x80000001, &a, &b, &c, &d))
                svm = c & (1u << 2);
        /*
         * Inside a jail /sys is usually absent. A /dev/kvm that works without VMX or SVM
         * can then only be a software KVM, so treat "no sysfs" as "module present".
         */
        return cpuid_pvm_detect(
            vmx, svm, stat("/sys/module/kvm_pvm", &st) == 0 || stat("/sys/module", &st) != 0);
}

bool cpuid_template_wanted(enum cpu_template_mode mode, bool host_is_pvm)
{
        switch (mode) {
        case CPU_TEMPLATE_PVM_ON:
                return true;
        case CPU_TEMPLATE_PVM_OFF:
                return false;
        default:
                return host_is_pvm;
        }
}
