/* Unit tests for CPUID normalization, the kvm_pvm template and PVM host detection. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/cpuid.h"

#ifndef KVM_CPUID_FLAG_SIGNIFICANT_INDEX
#define KVM_CPUID_FLAG_SIGNIFICANT_INDEX KVM_CPUID_FLAG_SIGNIFCANT_INDEX
#endif

#define CAP 64
#define SIG KVM_CPUID_FLAG_SIGNIFICANT_INDEX

/* A kvm_cpuid2 with room for CAP entries. */
static struct kvm_cpuid2 *new_table(void)
{
        struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + CAP * sizeof(t->entries[0]));

        assert_non_null(t);
        return t;
}

static void add(struct kvm_cpuid2 *t, uint32_t fn, uint32_t idx, uint32_t flags, uint32_t a,
                uint32_t b, uint32_t c, uint32_t d)
{
        struct kvm_cpuid_entry2 *e = &t->entries[t->nent++];

        assert_true(t->nent <= CAP);
        memset(e, 0, sizeof(*e));
        e->function = fn;
        e->index = idx;
        e->flags = flags;
        e->eax = a;
        e->ebx = b;
        e->ecx = c;
        e->edx = d;
}

static struct kvm_cpuid_entry2 *get(struct kvm_cpuid2 *t, uint32_t fn, uint32_t idx)
{
        struct kvm_cpuid_entry2 *e = cpuid_find(t, fn, idx);

        assert_non_null(e);
        return e;
}

/* Leaf 1 ECX with PDCM and without TSC_DEADLINE/HYPERVISOR, as a bare host might report. */
#define HOST_LEAF1_ECX 0x7ffaf3ffu
#define HOST_LEAF1_EDX 0x1fabfbffu /* HTT set */

static struct kvm_cpuid2 *intel_table(void)
{
        struct kvm_cpuid2 *t = new_table();

        add(t, 0, 0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69); /* GenuineIntel */
        add(t, 1, 0, 0, 0x606a6, 0x07400800, HOST_LEAF1_ECX & ~(1u << 24), HOST_LEAF1_EDX);
        add(t, 4, 0, SIG, 0x1c004121, 0x02c0003f, 0x3f, 0);   /* L1d */
        add(t, 4, 1, SIG, 0x1c004122, 0x01c0003f, 0x3f, 0);   /* L1i */
        add(t, 4, 2, SIG, 0x1c004143, 0x03c0003f, 0x3ff, 0);  /* L2 */
        add(t, 4, 3, SIG, 0x1c07c163, 0x02c0003f, 0xbfff, 4); /* L3, 32 sharing */
        add(t, 4, 4, SIG, 0, 0, 0, 0);
        add(t, 6, 0, 0, 0x77, 0x2, 0x9, 0);
        add(t, 7, 0, SIG, 0, 0xffffffff, 0xffffffff, 0xffffffff);
        add(t, 7, 1, SIG, 0xffffffff, 0, 0, 0);
        add(t, 0xa, 0, 0, 0x07300805, 0xff, 0, 0x603);
        add(t, 0xb, 0, SIG, 1, 2, 0x100, 7); /* only subleaf 0, host values */
        add(t, 0xd, 0, SIG, 0x2e7, 0xa88, 0xa88, 0);
        add(t, 0xd, 1, SIG, 0xf, 0, 0, 0);
        add(t, 0x1f, 0, SIG, 1, 2, 0x100, 7);
        add(t, 0x1f, 1, SIG, 7, 64, 0x201, 7);
        add(t, 0x1f, 2, SIG, 9, 128, 0x502, 7); /* a die level we don't model */
        add(t, 0x40000001, 0, 0, 0x01007efb, 0, 0, 0);
        add(t, 0x80000000, 0, 0, 0x80000008, 0, 0, 0);
        add(t, 0x80000001, 0, 0, 0, 0, 0x121, 0x2c100800);
        add(t, 0x80000002, 0, 0, 1, 2, 3, 4);
        add(t, 0x80000003, 0, 0, 1, 2, 3, 4);
        add(t, 0x80000004, 0, 0, 1, 2, 3, 4);
        add(t, 0x80000008, 0, 0, 0x3030, 0, 0, 0);
        return t;
}

static struct kvm_cpuid2 *amd_table(void)
{
        struct kvm_cpuid2 *t = new_table();

        add(t, 0, 0, 0, 0x1c, 0x68747541, 0x444d4163, 0x69746e65); /* AuthenticAMD */
        add(t, 1, 0, 0, 0xa10f11, 0x01020800, HOST_LEAF1_ECX, HOST_LEAF1_EDX);
        add(t, 7, 0, SIG, 1, 0xffffffff, 0xffffffff, 0xffffffff);
        add(t, 0xb, 0, SIG, 0, 0, 0, 1);
        add(t, 0x80000000, 0, 0, 0x80000021, 0, 0, 0);
        add(t, 0x80000001, 0, 0, 0xa10f11, 0, 0x00000393, 0x23d3fbff);
        add(t, 0x80000002, 0, 0, 1, 2, 3, 4);
        add(t, 0x80000003, 0, 0, 1, 2, 3, 4);
        add(t, 0x80000004, 0, 0, 1, 2, 3, 4);
        add(t, 0x80000008, 0, 0, 0x3030, 0x50020005, 0x00007001 | 0x30000, 0);
        add(t, 0x8000001d, 0, SIG, 0x121, 0x01c0003f, 0x3f, 0);
        add(t, 0x8000001d, 1, SIG, 0x122, 0x01c0003f, 0x3f, 0);
        add(t, 0x8000001d, 2, SIG, 0x143, 0x01c0003f, 0x7ff, 2);
        add(t, 0x8000001d, 3, SIG, 0x3c163, 0x03c0003f, 0x7fff, 1);
        add(t, 0x8000001d, 4, SIG, 0, 0, 0, 0);
        return t;
}

static int norm(struct kvm_cpuid2 *t, unsigned int idx, unsigned int n)
{
        return cpuid_normalize(t, CAP, idx, n, false);
}

static void check_leaf1(struct kvm_cpuid2 *t, unsigned int idx, unsigned int n)
{
        struct kvm_cpuid_entry2 *e = get(t, 1, 0);
        uint32_t pow2 = 1;

        while (pow2 < n)
                pow2 <<= 1;
        assert_int_equal(e->ebx >> 24, idx);              /* initial APIC ID */
        assert_int_equal((e->ebx >> 16) & 0xff, pow2);    /* max logical IDs */
        assert_int_equal((e->ebx >> 8) & 0xff, 8);        /* CLFLUSH 64 bytes */
        assert_int_equal(e->ecx & (1u << 15), 0);         /* PDCM */
        assert_true(e->ecx & (1u << 24));                 /* TSC_DEADLINE */
        assert_true(e->ecx & (1u << 31));                 /* HYPERVISOR */
        assert_int_equal(!!(e->edx & (1u << 28)), n > 1); /* HTT */
        /* Bits normalization does not own are untouched. */
        assert_int_equal(e->ecx & ~((1u << 15) | (1u << 24) | (1u << 31)),
                         HOST_LEAF1_ECX & ~((1u << 15) | (1u << 24) | (1u << 31)));
}

static void check_topology(struct kvm_cpuid2 *t, uint32_t leaf, unsigned int idx, unsigned int n)
{
        struct kvm_cpuid_entry2 *e0 = get(t, leaf, 0), *e1 = get(t, leaf, 1);

        assert_int_equal(e0->eax, 0);
        assert_int_equal(e0->ebx, 1);
        assert_int_equal(e0->ecx, 0x100);
        assert_int_equal(e0->edx, idx);
        assert_true(e0->flags & SIG);
        assert_int_equal(e1->eax, 5);
        assert_int_equal(e1->ebx, n);
        assert_int_equal(e1->ecx, 0x201);
        assert_int_equal(e1->edx, idx);
        assert_true(e1->flags & SIG);
}

static void test_intel_one_vcpu(void **state)
{
        struct kvm_cpuid2 *t = intel_table();

        (void)state;
        assert_int_equal(norm(t, 0, 1), 0);
        check_leaf1(t, 0, 1);
        check_topology(t, 0xb, 0, 1);
        free(t);
}

static void test_intel_two_vcpus(void **state)
{
        struct kvm_cpuid2 *t = intel_table();
        struct kvm_cpuid_entry2 *e;

        (void)state;
        assert_int_equal(norm(t, 1, 2), 0);
        check_leaf1(t, 1, 2);
        check_topology(t, 0xb, 1, 2);
        check_topology(t, 0x1f, 1, 2);
        /* The die level the host had is now an invalid level (ends enumeration). */
        e = get(t, 0x1f, 2);
        assert_int_equal(e->eax, 0);
        assert_int_equal(e->ebx, 0);
        assert_int_equal(e->ecx, 2);
        assert_int_equal(e->edx, 1);
        /* Leaf 4: L1/L2 private, L3 shared by both, 2 cores per package. */
        assert_int_equal((get(t, 4, 0)->eax >> 14) & 0xfff, 0);
        assert_int_equal((get(t, 4, 2)->eax >> 14) & 0xfff, 0);
        assert_int_equal((get(t, 4, 3)->eax >> 14) & 0xfff, 1);
        assert_int_equal(get(t, 4, 0)->eax >> 26, 1);
        assert_int_equal(get(t, 4, 3)->eax >> 26, 1);
        assert_int_equal(get(t, 4, 3)->eax & 0x3fff, 0x0163);
        free(t);
}

static void test_intel_vendor_leaves(void **state)
{
        struct kvm_cpuid2 *t = intel_table();
        struct kvm_cpuid_entry2 *e;
        char brand[CPUID_BRAND_LEN];

        (void)state;
        assert_int_equal(norm(t, 3, 32), 0);
        e = get(t, 6, 0);
        assert_int_equal(e->eax, 0x75);
        assert_int_equal(e->ecx, 0x1);
        e = get(t, 7, 0);
        assert_true(e->ebx & (1u << 6));
        assert_true(e->ebx & (1u << 13));
        assert_int_equal(e->ecx, 0xffffffffu & ~(1u << 5));
        e = get(t, 0xa, 0);
        assert_int_equal(e->eax | e->ebx | e->ecx | e->edx, 0);
        assert_int_equal(get(t, 4, 3)->eax >> 26, 31);
        memcpy(brand, &get(t, 0x80000002, 0)->eax, 4);
        memcpy(brand + 4, &get(t, 0x80000002, 0)->ebx, 4);
        assert_memory_equal(brand, "Intel(R)", 8);
        free(t);
}

static void test_amd(void **state)
{
        struct kvm_cpuid2 *t = amd_table();
        struct kvm_cpuid_entry2 *e;
        char brand[16];

        (void)state;
        assert_int_equal(norm(t, 2, 4), 0);
        check_leaf1(t, 2, 4);
        check_topology(t, 0xb, 2, 4);
        assert_int_equal(get(t, 7, 0)->edx & (1u << 29), 0);
        assert_true(get(t, 0x80000001, 0)->ecx & (1u << 22));
        e = get(t, 0x80000008, 0);
        assert_int_equal(e->ecx & 0xffff, 0x7003);
        assert_int_equal(e->ecx >> 16, 0x3); /* bits above are kept */
        assert_int_equal((get(t, 0x8000001d, 0)->eax >> 14) & 0xfff, 0);
        assert_int_equal((get(t, 0x8000001d, 3)->eax >> 14) & 0xfff, 3);
        e = get(t, 0x8000001e, 0); /* added */
        assert_int_equal(e->eax, 2);
        assert_int_equal(e->ebx, 2);
        assert_int_equal(e->ecx, 0);
        memcpy(brand, &get(t, 0x80000002, 0)->eax, 16);
        assert_string_equal(brand, "AMD EPYC");
        free(t);
}

/* SMT: vCPU idx of n sees 2 threads per core in leaves 1, 0xB, 0x1F, 4 (Intel). */
static void check_smt_intel(unsigned int idx, unsigned int n)
{
        struct kvm_cpuid2 *t = intel_table();
        uint32_t leaf;

        assert_int_equal(cpuid_normalize(t, CAP, idx, n, true), 0);
        check_leaf1(t, idx, n);
        for (leaf = 0xb; leaf <= 0x1f; leaf += 0x1f - 0xb) {
                assert_int_equal(get(t, leaf, 0)->eax, 1); /* x2APIC shift to the core */
                assert_int_equal(get(t, leaf, 0)->ebx, 2); /* threads per core */
                assert_int_equal(get(t, leaf, 0)->ecx, 0x100);
                assert_int_equal(get(t, leaf, 0)->edx, idx);
                assert_int_equal(get(t, leaf, 1)->eax, 5);
                assert_int_equal(get(t, leaf, 1)->ebx, n); /* logical CPUs in the package */
                assert_int_equal(get(t, leaf, 1)->ecx, 0x201);
        }
        /* L1/L2 shared by the 2 threads of a core, L3 by all; n/2 cores. */
        assert_int_equal((get(t, 4, 0)->eax >> 14) & 0xfff, 1);
        assert_int_equal((get(t, 4, 2)->eax >> 14) & 0xfff, 1);
        assert_int_equal((get(t, 4, 3)->eax >> 14) & 0xfff, n - 1);
        assert_int_equal(get(t, 4, 0)->eax >> 26, n / 2 - 1);
        assert_int_equal(get(t, 4, 3)->eax >> 26, n / 2 - 1);
        free(t);
}

/* SMT on AMD: 0x80000008 NC counts threads, 0x8000001E pairs vCPUs into compute units. */
static void check_smt_amd(unsigned int idx, unsigned int n)
{
        struct kvm_cpuid2 *t = amd_table();
        struct kvm_cpuid_entry2 *e;

        assert_int_equal(cpuid_normalize(t, CAP, idx, n, true), 0);
        check_leaf1(t, idx, n);
        assert_int_equal(get(t, 0xb, 0)->eax, 1);
        assert_int_equal(get(t, 0xb, 0)->ebx, 2);
        assert_int_equal(get(t, 0xb, 1)->ebx, n);
        assert_int_equal(get(t, 0x80000008, 0)->ecx & 0xff, n - 1);
        assert_int_equal((get(t, 0x8000001d, 0)->eax >> 14) & 0xfff, 1);
        assert_int_equal((get(t, 0x8000001d, 2)->eax >> 14) & 0xfff, 1);
        assert_int_equal((get(t, 0x8000001d, 3)->eax >> 14) & 0xfff, n - 1);
        e = get(t, 0x8000001e, 0);
        assert_int_equal(e->eax, idx);
        assert_int_equal(e->ebx & 0xff, idx / 2);  /* compute unit */
        assert_int_equal((e->ebx >> 8) & 0xff, 1); /* 2 threads per unit */
        assert_int_equal(e->ecx & 0x7ff, 0);
        free(t);
}

static void test_smt(void **state)
{
        struct kvm_cpuid2 *t;

        (void)state;
        check_smt_intel(0, 2);
        check_smt_intel(1, 2);
        check_smt_intel(3, 4);
        check_smt_intel(5, 8);
        check_smt_intel(31, 32);
        check_smt_amd(0, 2);
        check_smt_amd(1, 2);
        check_smt_amd(3, 4);
        check_smt_amd(6, 16);
        /* One vCPU with SMT: one thread per core, as without. */
        t = intel_table();
        assert_int_equal(cpuid_normalize(t, CAP, 0, 1, true), 0);
        check_topology(t, 0xb, 0, 1);
        assert_int_equal((get(t, 4, 0)->eax >> 14) & 0xfff, 0);
        free(t);
}

static void test_errors(void **state)
{
        struct kvm_cpuid2 *t = intel_table();
        uint32_t nent = t->nent;

        (void)state;
        assert_int_equal(norm(t, 0, 0), -EINVAL);
        assert_int_equal(norm(t, 2, 2), -EINVAL);
        assert_int_equal(norm(t, 0, 33), -EINVAL);
        /* No room for leaf 0xB subleaf 1. */
        assert_int_equal(cpuid_normalize(t, nent, 0, 1, false), -ENOSPC);
        assert_int_equal(cpuid_normalize(t, nent - 1, 0, 1, false), -EINVAL);
        t->nent = 0;
        assert_int_equal(norm(t, 0, 1), -EINVAL); /* no leaf 0/1 */
        free(t);
}

/* Every bit the template must clear, written out independently of cpuid.c's table. */
struct hidden {
        uint32_t leaf, sub;
        int reg; /* 0..3 = eax..edx */
        uint32_t mask;
};

static const struct hidden expected_hidden[] = {
    {1, 0, 2,
     (1u << 12) | (1u << 13) | (1u << 17) | (1u << 22) | (1u << 23) | (1u << 26) | (1u << 27) |
         (1u << 28) | (1u << 29) | (1u << 30)},
    {7, 0, 1,
     (1u << 0) | (1u << 3) | (1u << 5) | (1u << 7) | (1u << 8) | (1u << 9) | (1u << 10) |
         (1u << 14) | (1u << 16) | (1u << 17) | (1u << 18) | (1u << 20) | (1u << 21) | (1u << 23) |
         (1u << 24) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31)},
    {7, 0, 2,
     (1u << 1) | (1u << 3) | (1u << 4) | (1u << 6) | (1u << 7) | (1u << 9) | (1u << 10) |
         (1u << 11) | (1u << 12) | (1u << 14) | (1u << 22)},
    {7, 0, 3,
     (1u << 2) | (1u << 3) | (1u << 4) | (1u << 8) | (1u << 20) | (1u << 22) | (1u << 23) |
         (1u << 24) | (1u << 25)},
    {7, 1, 0, (1u << 4) | (1u << 5) | (1u << 10) | (1u << 11) | (1u << 12) | (1u << 23)},
    {0x80000001, 0, 2, (1u << 11) | (1u << 16)},
    {0x40000001, 0, 0, (1u << 7) | (1u << 11) | (1u << 13)},
};

static uint32_t *reg_of(struct kvm_cpuid_entry2 *e, int r)
{
        uint32_t *regs[4] = {&e->eax, &e->ebx, &e->ecx, &e->edx};

        return regs[r];
}

static uint32_t expected_mask(uint32_t leaf, uint32_t sub, int reg)
{
        size_t i;

        for (i = 0; i < sizeof(expected_hidden) / sizeof(expected_hidden[0]); i++) {
                if (expected_hidden[i].leaf == leaf && expected_hidden[i].sub == sub &&
                    expected_hidden[i].reg == reg)
                        return expected_hidden[i].mask;
        }
        return 0;
}

static void test_pvm_template(void **state)
{
        struct kvm_cpuid2 *t = new_table();
        struct kvm_cpuid_entry2 *e;
        uint32_t i;
        int r;

        (void)state;
        add(t, 1, 0, 0, ~0u, ~0u, ~0u, ~0u);
        add(t, 7, 0, SIG, ~0u, ~0u, ~0u, ~0u);
        add(t, 7, 1, SIG, ~0u, ~0u, ~0u, ~0u);
        add(t, 0xd, 0, SIG, ~0u, ~0u, ~0u, ~0u);
        add(t, 0xd, 1, SIG, ~0u, ~0u, ~0u, ~0u);
        add(t, 0xd, 2, SIG, ~0u, ~0u, ~0u, ~0u);
        add(t, 0x40000000, 0, 0, ~0u, ~0u, ~0u, ~0u);
        add(t, 0x40000001, 0, 0, 0x01007efb, ~0u, ~0u, ~0u);
        add(t, 0x80000001, 0, 0, ~0u, ~0u, ~0u, ~0u);
        add(t, 0x80000008, 0, 0, ~0u, ~0u, ~0u, ~0u);
        cpuid_apply_pvm_template(t);
        for (i = 0; i < t->nent; i++) {
                e = &t->entries[i];
                for (r = 0; r < 4; r++) {
                        uint32_t before = ~0u;

                        if (e->function == 0xd) {
                                assert_int_equal(*reg_of(e, r), 0);
                                continue;
                        }
                        if (e->function == 0x40000001 && r == 0)
                                before = 0x01007efb;
                        assert_int_equal(*reg_of(e, r),
                                         before & ~expected_mask(e->function, e->index, r));
                }
        }
        /* KVM's other PV features (clocksource etc.) remain. */
        assert_int_equal(get(t, 0x40000001, 0)->eax, 0x01007efbu & ~0x2880u);
        free(t);
}

static void test_template_after_normalize(void **state)
{
        struct kvm_cpuid2 *t = intel_table();
        struct kvm_cpuid_entry2 *e;

        (void)state;
        assert_int_equal(norm(t, 0, 2), 0);
        cpuid_apply_pvm_template(t);
        e = get(t, 1, 0);
        assert_int_equal(e->ecx & ((1u << 13) | (1u << 26) | (1u << 23)), 0);
        assert_true(e->ecx & (1u << 31)); /* normalization's HYPERVISOR stays */
        assert_true(e->ecx & (1u << 24));
        assert_int_equal(get(t, 0xd, 0)->eax, 0);
        assert_int_equal(get(t, 0x40000001, 0)->eax & 0x2880u, 0);
        free(t);
}

static void test_pvm_detect(void **state)
{
        unsigned int i;

        (void)state;
        for (i = 0; i < 8; i++) {
                bool vmx = i & 1, svm = i & 2, mod = i & 4;

                assert_int_equal(cpuid_pvm_detect(vmx, svm, mod), !vmx && !svm && mod);
        }
        /* Host-dependent; only check it runs and agrees with itself. */
        assert_int_equal(cpuid_host_is_pvm(), cpuid_host_is_pvm());
}

static void test_template_wanted(void **state)
{
        (void)state;
        assert_true(cpuid_template_wanted(CPU_TEMPLATE_AUTO, true));
        assert_false(cpuid_template_wanted(CPU_TEMPLATE_AUTO, false));
        assert_true(cpuid_template_wanted(CPU_TEMPLATE_PVM_ON, false));
        assert_true(cpuid_template_wanted(CPU_TEMPLATE_PVM_ON, true));
        assert_false(cpuid_template_wanted(CPU_TEMPLATE_PVM_OFF, true));
        assert_false(cpuid_template_wanted(CPU_TEMPLATE_PVM_OFF, false));
}

static void brand_of(const char *host, char out[CPUID_BRAND_LEN])
{
        char h[CPUID_BRAND_LEN];

        memset(h, 0, sizeof(h));
        memcpy(h, host, strlen(host));
        cpuid_intel_brand(h, out);
}

static void test_intel_brand(void **state)
{
        char out[CPUID_BRAND_LEN];

        (void)state;
        brand_of("Intel(R) Xeon(R) Platinum 8275CL CPU @ 3.00GHz", out);
        assert_string_equal(out, "Intel(R) Xeon(R) Processor @ 3.00GHz");
        brand_of("Intel(R) Xeon(R) Platinum 8275CL CPU @ ", out);
        assert_string_equal(out, "Intel(R) Xeon(R) Processor");
        brand_of("Intel(R) Xeon(R) Platinum 8275CL CPU @3.00GHz", out);
        assert_string_equal(out, "Intel(R) Xeon(R) Processor");
        brand_of("@ 123456789876543212345678987654321234567898GHz", out);
        assert_string_equal(out, "Intel(R) Xeon(R) Processor");
        assert_int_equal(out[CPUID_BRAND_LEN - 1], 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_intel_one_vcpu),
            cmocka_unit_test(test_intel_two_vcpus),
            cmocka_unit_test(test_intel_vendor_leaves),
            cmocka_unit_test(test_amd),
            cmocka_unit_test(test_errors),
            cmocka_unit_test(test_smt),
            cmocka_unit_test(test_pvm_template),
            cmocka_unit_test(test_template_after_normalize),
            cmocka_unit_test(test_pvm_detect),
            cmocka_unit_test(test_template_wanted),
            cmocka_unit_test(test_intel_brand),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
