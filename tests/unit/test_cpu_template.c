/* Unit tests for CPU templates: the engine, the static templates, the host check, the parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/cpu_template.h"
#include "model/config.h"

#define CAP 16

static struct err fault;

static struct kvm_cpuid2 *new_table(void)
{
        struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + CAP * sizeof(t->entries[0]));

        assert_non_null(t);
        return t;
}

/* One entry with every register set to fill. */
static void add(struct kvm_cpuid2 *t, uint32_t fn, uint32_t idx, uint32_t fill)
{
        struct kvm_cpuid_entry2 *e = &t->entries[t->nent++];

        assert_true(t->nent <= CAP);
        memset(e, 0, sizeof(*e));
        e->function = fn;
        e->index = idx;
        e->flags = 0x7; /* the templates' flags replace these */
        e->eax = e->ebx = e->ecx = e->edx = fill;
}

/* The leaves every static template touches, each register all fill. */
static struct kvm_cpuid2 *host_table(uint32_t fill)
{
        struct kvm_cpuid2 *t = new_table();

        add(t, 0x1, 0, fill);
        add(t, 0x7, 0, fill);
        add(t, 0xd, 0, fill);
        add(t, 0xd, 1, fill);
        add(t, 0x80000001, 0, fill);
        add(t, 0x80000008, 0, fill);
        return t;
}

static struct kvm_cpuid_entry2 *get(struct kvm_cpuid2 *t, uint32_t fn, uint32_t idx)
{
        uint32_t i;

        for (i = 0; i < t->nent; i++)
                if (t->entries[i].function == fn && t->entries[i].index == idx)
                        return &t->entries[i];
        fail_msg("no entry 0x%x/0x%x", fn, idx);
        return NULL;
}

static const struct cpu_template *tmpl(unsigned int which)
{
        const struct cpu_template *t = cpu_template_static(which);

        assert_non_null(t);
        return t;
}

/* A static template applied to hosts of all ones and all zeros. */
struct applied {
        struct kvm_cpuid2 *ones, *zeros;
};

static struct applied apply_static(unsigned int which)
{
        struct applied a = {host_table(0xffffffffu), host_table(0)};
        const struct cpuid_mod *missing = NULL;

        assert_int_equal(cpu_template_apply_cpuid(tmpl(which), a.ones, &missing), 0);
        assert_int_equal(cpu_template_apply_cpuid(tmpl(which), a.zeros, &missing), 0);
        assert_null(missing);
        return a;
}

static void free_applied(struct applied *a)
{
        free(a->ones);
        free(a->zeros);
}

/* Intel/AMD SDM bit positions, written out independently of the tables. */
#define BIT(n) (1u << (n))

static void check_t2_family(struct applied *a, uint32_t fms, bool amd)
{
        struct kvm_cpuid_entry2 *e;

        /* Leaf 1 EAX: family/model/stepping of the T2 (or C3) host; processor type kept. */
        assert_int_equal(get(a->zeros, 1, 0)->eax, fms);
        assert_int_equal(get(a->ones, 1, 0)->eax, fms | 0xf000c000u);
        e = get(a->ones, 1, 0);
        assert_false(e->ecx & BIT(2));  /* DTES64 */
        assert_false(e->ecx & BIT(3));  /* MONITOR */
        assert_true(e->ecx & BIT(0));   /* SSE3: the host's */
        assert_true(e->edx & BIT(7));   /* MCE: forced on */
        assert_true(e->edx & BIT(12));  /* MTRR: forced on */
        assert_false(e->edx & BIT(31)); /* PBE */
        assert_true(get(a->zeros, 1, 0)->edx == (BIT(7) | BIT(12)));
        e = get(a->ones, 7, 0);
        assert_int_equal(e->flags, 1);  /* KVM_CPUID_FLAG_SIGNIFICANT_INDEX */
        assert_false(e->ebx & BIT(16)); /* AVX512F */
        assert_false(e->ebx & BIT(18)); /* RDSEED */
        assert_false(e->ecx & BIT(1));  /* AVX512_VBMI */
        assert_int_equal(get(a->ones, 0xd, 0)->eax & 0x2f8u, 0); /* no MPX/AVX-512/PKRU state */
        assert_int_equal(get(a->ones, 0xd, 1)->eax & 0xeu, 0);   /* XSAVEC, XGETBV1, XSAVES */
        e = get(a->ones, 0x80000001, 0);
        assert_false(e->ecx & BIT(8));  /* PREFETCHW */
        assert_false(e->edx & BIT(26)); /* 1 GiB pages */
        assert_int_equal(get(a->ones, 0x80000001, 0)->flags, 0);
        if (amd) {
                assert_false(e->ecx & BIT(2)); /* SVM */
                assert_false(e->edx & BIT(22));
        }
}

static void test_static_intel(void **state)
{
        struct applied a;

        (void)state;
        a = apply_static(STATIC_TMPL_T2);
        check_t2_family(&a, 0x000306f2u, false);
        assert_false(get(a.ones, 1, 0)->ecx & BIT(18));         /* DCA */
        assert_true(get(a.zeros, 7, 0)->ebx & BIT(9));          /* ERMS forced on */
        assert_false(get(a.ones, 0x80000008, 0)->ebx & BIT(9)); /* WBNOINVD */
        free_applied(&a);
        a = apply_static(STATIC_TMPL_T2S);
        check_t2_family(&a, 0x000306f2u, false);
        free_applied(&a);
        a = apply_static(STATIC_TMPL_T2CL);
        check_t2_family(&a, 0x000306f2u, false);
        assert_false(get(a.ones, 0x80000001, 0)->edx & BIT(22));
        free_applied(&a);
        a = apply_static(STATIC_TMPL_C3);
        check_t2_family(&a, 0x000306e4u, false);
        assert_int_equal(get(a.zeros, 7, 0)->ebx, 0);             /* nothing forced on */
        assert_true(get(a.ones, 0x80000008, 0)->ebx & BIT(9));    /* C3 leaves 0x80000008 */
        assert_int_equal(get(a.ones, 0x80000008, 0)->flags, 0x7); /* untouched */
        assert_int_equal(tmpl(STATIC_TMPL_C3)->n_msrs, 0);
        free_applied(&a);
}

static void test_static_amd(void **state)
{
        struct applied a;

        (void)state;
        a = apply_static(STATIC_TMPL_T2A);
        check_t2_family(&a, 0x000306f2u, true);
        /* 0x80000008 EBX: IBPB, IBRS, STIBP as Milan's T2A shows them. */
        assert_int_equal(get(a.zeros, 0x80000008, 0)->ebx, 0x001c0004u);
        assert_int_equal(get(a.ones, 0x80000008, 0)->ebx, 0xfffffdfeu | 0x1c0004u);
        free_applied(&a);
}

static void test_static_msrs(void **state)
{
        struct kvm_msr_entry m[2] = {{.index = 0x10a, .data = ~0ull}, {.index = 0x1a0, .data = 5}};
        const struct msr_mod *missing = NULL;

        (void)state;
        /* T2S: IA32_ARCH_CAPABILITIES is a fixed value. */
        assert_int_equal(cpu_template_apply_msrs(tmpl(STATIC_TMPL_T2S), m, 2, &missing), 0);
        assert_int_equal(m[0].data, 0x0c080c4cull);
        assert_int_equal(m[1].data, 5);
        /* T2CL: the host's bits stay, except those the template clears. */
        m[0].data = ~0ull;
        assert_int_equal(cpu_template_apply_msrs(tmpl(STATIC_TMPL_T2CL), m, 2, &missing), 0);
        assert_int_equal(m[0].data, ~0xffffffffe2f51e00ull);
        m[0].data = 0x1ff;
        assert_int_equal(cpu_template_apply_msrs(tmpl(STATIC_TMPL_T2CL), m, 2, &missing), 0);
        assert_int_equal(m[0].data, 0x1ff);
        /* The template's MSR was not read: Firecracker's MsrNotSupported. */
        m[0].index = 0x10b;
        assert_int_equal(cpu_template_apply_msrs(tmpl(STATIC_TMPL_T2S), m, 2, &missing), -ENOENT);
        assert_int_equal(missing->addr, 0x10a);
        assert_null(cpu_template_static(STATIC_TMPL_NONE));
        assert_null(cpu_template_static(99));
}

#define INTEL CPU_VENDOR_INTEL
#define AMD   CPU_VENDOR_AMD

static void test_host_check(void **state)
{
        const uint32_t skylake = 0x00050654, cascade = 0x00050657, ice = 0x000606a6;
        const uint32_t milan = 0x00a00f11, genoa = 0x00a10f11, sapphire = 0x000806f8;

        (void)state;
        /* Processor type (bits 13:12) and the reserved bits 31:28 do not count. */
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2, INTEL, skylake | 0xf0003000u), 0);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2, INTEL, cascade), 0);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2, INTEL, ice), 0);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_C3, INTEL, ice), 0);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2S, INTEL, ice), -ENODEV);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2S, INTEL, skylake), 0);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2CL, INTEL, skylake), -ENODEV);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2CL, INTEL, cascade), 0);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2, INTEL, sapphire), -ENODEV);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2A, AMD, milan), 0);
        /* This project's host: Genoa is not Milan; an Intel template is the wrong vendor. */
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2A, AMD, genoa), -ENODEV);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2, AMD, genoa), -EXDEV);
        /* The vendor is checked before the model. */
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_T2A, INTEL, milan), -EXDEV);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_C3, CPU_VENDOR_OTHER, skylake),
                         -EXDEV);
        assert_int_equal(cpu_template_check_host(STATIC_TMPL_NONE, INTEL, skylake), -EINVAL);
}

/* ---- the parser (PUT /cpu-config, "cpu-config") and the engine on what it parsed ---- */

static int parse(const char *text, struct cfg_value *v)
{
        json_error_t jerr;
        json_t *j = json_loads(text, 0, &jerr);
        int rc;

        if (!j)
                fail_msg("bad test JSON: %s", jerr.text);
        err_clear(&fault);
        rc = config_decode(CFG_RES_cpu_config, j, NULL, NULL, v, &fault);
        json_decref(j);
        return rc;
}

static void parse_fails(const char *text, const char *msg)
{
        struct cfg_value v;

        if (parse(text, &v) != -EBADMSG)
                fail_msg("%s accepted", text);
        if (strcmp(fault.msg, msg) != 0)
                fail_msg("message \"%s\", want \"%s\"", fault.msg, msg);
}

/* A template with one leaf modifier whose leaf, subleaf, register and bitmap are given. */
#define LEAF(leaf, sub, reg, bitmap)                                                               \
        "{\"cpuid_modifiers\": [{\"leaf\": \"" leaf "\", \"subleaf\": \"" sub "\", \"flags\": 0, " \
        "\"modifiers\": [{\"register\": \"" reg "\", \"bitmap\": \"" bitmap "\"}]}]}"
#define MSR(addr, bitmap)                                                                          \
        "{\"msr_modifiers\": [{\"addr\": \"" addr "\", \"bitmap\": \"" bitmap "\"}]}"
#define CAPS(c) "{\"kvm_capabilities\": [" c "]}"

#define Z16 "0000000000000000"
#define Z32 Z16 Z16

static void test_parse_good(void **state)
{
        struct cfg_value v;
        const struct cpu_config_cfg *c;

        (void)state;
        assert_int_equal(
            parse("{\"kvm_capabilities\": [\"171\", \"!56\"], \"cpuid_modifiers\": ["
                  "{\"leaf\": \"0x80000001\", \"subleaf\": \"0b0\", \"flags\": 1, \"modifiers\": ["
                  "{\"register\": \"ecx\", \"bitmap\": "
                  "\"0bxxxx_xxxx_xxxx_xxxx_xxxx_xxxx_xx1x_xxx0\"},"
                  "{\"register\": \"eax\", \"bitmap\": \"10x\"}]},"
                  "{\"leaf\": \"0xd\", \"subleaf\": \"0x1\", \"flags\": 0, \"modifiers\": []}],"
                  "\"msr_modifiers\": [{\"addr\": \"0x10A\", \"bitmap\": \"0b1" Z16
                  "00000000000000x" Z32 "\"}]}",
                  &v),
            0);
        c = v.v;
        assert_int_equal(c->t.n_caps, 2);
        assert_int_equal(c->t.caps[0].cap, 171);
        assert_false(c->t.caps[0].remove);
        assert_int_equal(c->t.caps[1].cap, 56);
        assert_true(c->t.caps[1].remove);
        assert_int_equal(c->t.n_cpuid, 3);
        assert_int_equal(c->t.cpuid[0].leaf, 0x80000001u);
        assert_int_equal(c->t.cpuid[0].subleaf, 0);
        assert_int_equal(c->t.cpuid[0].flags, 1);
        assert_int_equal(c->t.cpuid[0].reg, CPU_REG_ECX);
        assert_int_equal(c->t.cpuid[0].filter, 0x21u);
        assert_int_equal(c->t.cpuid[0].value, 0x20u);
        assert_int_equal(c->t.cpuid[1].reg, CPU_REG_EAX); /* a short bitmap: high bits kept */
        assert_int_equal(c->t.cpuid[1].filter, 0x6u);
        assert_int_equal(c->t.cpuid[1].value, 0x4u);
        assert_int_equal(c->t.cpuid[2].leaf, 0xd);
        assert_int_equal(c->t.cpuid[2].reg, CPU_REG_NONE); /* a leaf without modifiers */
        assert_int_equal(c->t.n_msrs, 1);
        assert_int_equal(c->t.msrs[0].addr, 0x10a);
        assert_int_equal(c->t.msrs[0].filter, 0xfffffffeffffffffull);
        assert_int_equal(c->t.msrs[0].value, 1ull << 63);
        config_value_free(&v);
        assert_int_equal(parse("{}", &v), 0);
        assert_int_equal(((const struct cpu_config_cfg *)v.v)->t.n_cpuid, 0);
        config_value_free(&v);
}

static void test_parse_bad(void **state)
{
        (void)state;
        parse_fails(LEAF("1", "0x0", "eax", "0b1"),
                    "No supported number system prefix found in value [1]. Make sure to prefix the "
                    "number with '0x' for hexadecimal numbers or '0b' for binary numbers.");
        parse_fails(LEAF("0x1", "0x", "eax", "0b1"),
                    "Failed to parse string [0x] as a number for CPU template - ParseIntError { "
                    "kind: Empty }");
        parse_fails(LEAF("0xg", "0x0", "eax", "0b1"),
                    "Failed to parse string [0xg] as a number for CPU template - ParseIntError { "
                    "kind: InvalidDigit }");
        parse_fails(LEAF("0x100000000", "0x0", "eax", "0b1"),
                    "Failed to parse string [0x100000000] as a number for CPU template - "
                    "ParseIntError { kind: PosOverflow }");
        parse_fails(LEAF("0x1", "0x0", "EAX", "0b1"),
                    "Invalid CPUID register. Must be one of [eax, ebx, ecx, edx]");
        parse_fails(LEAF("0x1", "0x0", "eax", "0b12"),
                    "Failed to parse string [0b12] as a bitmap - unknown character: 50");
        parse_fails(LEAF("0x1", "0x0", "eax", "0b1" Z32),
                    "Failed to parse string [0b1" Z32 "] as a bitmap - string is too long");
        /* 32 digits, then an underscore: too long too, as Firecracker counts. */
        parse_fails(LEAF("0x1", "0x0", "eax", "0b_" Z32),
                    "Failed to parse string [0b_" Z32 "] as a bitmap - string is too long");
        parse_fails(MSR("0x10a", "0b1" Z32 Z32),
                    "Failed to parse string [0b1" Z32 Z32 "] as a bitmap - string is too long");
        parse_fails(MSR("10a", "0b1"),
                    "No supported number system prefix found in value [10a]. Make sure to prefix "
                    "the number with '0x' for hexadecimal numbers or '0b' for binary numbers.");
        parse_fails(CAPS("\"abc\""), "Failed to parse string [abc] as a kvm capability - can not "
                                     "convert to numeric: invalid digit found in string");
        parse_fails(CAPS("\"!\""), "Failed to parse string [!] as a kvm capability - can not "
                                   "convert to numeric: cannot parse integer from empty string");
        parse_fails(CAPS("\"4294967296\""),
                    "Failed to parse string [4294967296] as a kvm capability - can not convert to "
                    "numeric: number too large to fit in target type");
}

static void test_engine(void **state)
{
        struct kvm_cpuid2 *t = host_table(0x0f0f0f0fu);
        const struct cpuid_mod *missing = NULL;
        struct cfg_value v;

        (void)state;
        assert_int_equal(parse(LEAF("0x80000001", "0x0", "edx", "0b1111_0000_xxxx_xxxx"), &v), 0);
        assert_int_equal(cpu_template_apply_cpuid(&((struct cpu_config_cfg *)v.v)->t, t, &missing),
                         0);
        assert_int_equal(get(t, 0x80000001, 0)->edx, 0x0f0ff00fu);
        assert_int_equal(get(t, 0x80000001, 0)->ecx, 0x0f0f0f0fu);
        assert_int_equal(get(t, 0x80000001, 0)->flags, 0);
        config_value_free(&v);
        /* A leaf KVM does not offer: Firecracker's CpuidFeatureNotSupported. */
        assert_int_equal(parse(LEAF("0x80000099", "0x2", "eax", "0b1"), &v), 0);
        assert_int_equal(cpu_template_apply_cpuid(&((struct cpu_config_cfg *)v.v)->t, t, &missing),
                         -ENOENT);
        assert_int_equal(missing->leaf, 0x80000099u);
        assert_int_equal(missing->subleaf, 2);
        config_value_free(&v);
        free(t);
}

/* Firecracker's one template slot: machine-config's cpu_template and PUT /cpu-config. */
static void test_template_slot(void **state)
{
        struct vm_config cfg;
        struct machine_cfg m;
        struct cfg_value v;

        (void)state;
        config_init(&cfg);
        assert_int_equal(parse(CAPS("\"1\""), &v), 0);
        assert_int_equal(config_store(&cfg, &v, &fault), 0);
        config_value_free(&v);
        assert_true(cfg.cpu.present);
        m = cfg.machine; /* a PUT without cpu_template keeps the custom template */
        config_machine_commit(&cfg, &m);
        assert_true(cfg.cpu.present);
        m.has_cpu_template = true; /* T2 replaces it */
        m.cpu_template = STATIC_TMPL_T2;
        config_machine_commit(&cfg, &m);
        assert_false(cfg.cpu.present);
        assert_int_equal(cfg.cpu.t.n_caps, 0);
        assert_true(cfg.machine.has_cpu_template);
        m.has_cpu_template = false; /* kept */
        config_machine_commit(&cfg, &m);
        assert_true(cfg.machine.has_cpu_template);
        assert_int_equal(cfg.machine.cpu_template, STATIC_TMPL_T2);
        assert_int_equal(parse(CAPS("\"2\""), &v), 0); /* a custom template replaces T2 */
        assert_int_equal(config_store(&cfg, &v, &fault), 0);
        config_value_free(&v);
        assert_false(cfg.machine.has_cpu_template);
        assert_int_equal(cfg.cpu.t.caps[0].cap, 2);
        m.has_cpu_template = true; /* None clears both */
        m.cpu_template = STATIC_TMPL_NONE;
        config_machine_commit(&cfg, &m);
        assert_false(cfg.machine.has_cpu_template);
        assert_false(cfg.cpu.present);
        config_free(&cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_static_intel), cmocka_unit_test(test_static_amd),
            cmocka_unit_test(test_static_msrs),  cmocka_unit_test(test_host_check),
            cmocka_unit_test(test_parse_good),   cmocka_unit_test(test_parse_bad),
            cmocka_unit_test(test_engine),       cmocka_unit_test(test_template_slot),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
