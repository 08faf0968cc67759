/*
 * brasa-seccomp-gen: build-time tool that compiles brasa's seccomp rule files
 * into classic BPF with libseccomp, and writes them as C arrays (embedded in
 * brasa), as a filter file for `brasa --seccomp-filter`, or as a listing.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <seccomp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "rules.h"
#include "seccomp/seccomp_filters.h"

#define NR_ROLES       SECCOMP_ROLE_COUNT
#define MAX_INSNS      4096 /* BPF_MAXINSNS */
#define FILE_MAGIC     "BRASABPF"
#define FILE_VERSION   1u
#define FILE_NAME_LEN  16
#define SYSCALL_NR_MAX SECCOMP_SYSCALL_NAMES

static const char *const role_names[NR_ROLES] = {"vmm", "api", "vcpu"};
/* The vmm filter's stage filters (stacked once the VM runs) and the rule tags each drops. */
static const char *const stage_names[SECCOMP_STAGE_COUNT] = {"vmm_api_run", "vmm_run"};
static const unsigned int stage_drops[SECCOMP_STAGE_COUNT] = {RULE_TAG_BOOT,
                                                              RULE_TAG_BOOT | RULE_TAG_API};

struct bpf_insn8 {
        uint16_t code;
        uint8_t jt;
        uint8_t jf;
        uint32_t k;
};

struct role_input {
        const char *path;
        struct rule_set rules; /* owned by the role's input; a stage borrows the vmm rules */
        unsigned int drop;     /* rules with any of these tags are left out */
        struct bpf_insn8 *insns;
        size_t nr_insns;
};

static const char usage_text[] =
    "Usage: brasa-seccomp-gen MODE [OUT] vmm=FILE api=FILE vcpu=FILE\n"
    "  c OUT     write the compiled filters as C arrays (embedded in brasa)\n"
    "  bin OUT   write a filter file for brasa --seccomp-filter (format: docs/security.md)\n"
    "  list      print every rule: role, syscall, condition, comment (tab-separated)\n";

static int role_index(const char *name, size_t len)
{
        int i;

        for (i = 0; i < NR_ROLES; i++)
                if (strlen(role_names[i]) == len && strncmp(role_names[i], name, len) == 0)
                        return i;
        return -1;
}

static int add_rule(scmp_filter_ctx ctx, const struct rule *r)
{
        struct scmp_arg_cmp cmp[RULE_MAX_CONDS];
        uint32_t action =
            r->errno_value ? SCMP_ACT_ERRNO((uint32_t)r->errno_value) : SCMP_ACT_ALLOW;
        unsigned int i;
        int nr = seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, r->syscall);

        for (i = 0; i < r->nr_conds; i++) {
                /* Compare the low 32 bits only, as the kernel reads int arguments. */
                cmp[i] = (struct scmp_arg_cmp){.arg = r->conds[i].index,
                                               .op = SCMP_CMP_MASKED_EQ,
                                               .datum_a = r->conds[i].mask,
                                               .datum_b = r->conds[i].value};
        }
        return seccomp_rule_add_exact_array(ctx, action, nr, r->nr_conds, cmp);
}

/* Exports ctx as BPF into a memory file and reads the instructions back. */
static int export_bpf(scmp_filter_ctx ctx, struct role_input *in)
{
        int fd = memfd_create("bpf", MFD_CLOEXEC), rc = -1;
        off_t size;

        if (fd < 0)
                return -1;
        if (seccomp_export_bpf(ctx, fd) < 0)
                goto out;
        size = lseek(fd, 0, SEEK_END);
        if (size <= 0 || size % 8 || size / 8 > MAX_INSNS)
                goto out;
        in->insns = malloc((size_t)size);
        if (!in->insns || pread(fd, in->insns, (size_t)size, 0) != size)
                goto out;
        in->nr_insns = (size_t)size / 8;
        rc = 0;
out:
        close(fd);
        return rc;
}

static int compile_role(const char *role, struct role_input *in)
{
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
        size_t i;
        int rc = -1;

        if (!ctx)
                return -1;
        /* Foreign-ABI calls (int 0x80, x32) trap too, so the SIGSYS handler reports them. */
        if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_TRAP) ||
            seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2))
                goto out;
        for (i = 0; i < in->rules.count; i++) {
                if (in->rules.rules[i].tags & in->drop)
                        continue;
                if (add_rule(ctx, &in->rules.rules[i])) {
                        fprintf(stderr, "%s:%u: libseccomp refused the rule '%s'\n", in->path,
                                in->rules.rules[i].line, in->rules.rules[i].text);
                        goto out;
                }
        }
        rc = export_bpf(ctx, in);
        if (rc)
                fprintf(stderr, "%s: cannot compile the %s filter\n", in->path, role);
out:
        seccomp_release(ctx);
        return rc;
}

static void emit_c_filter(FILE *f, const char *name, const struct role_input *in)
{
        size_t i;

        fprintf(f, "\n/* %s: %zu rules from %s */\n", name, in->rules.count, in->path);
        fprintf(f, "static const struct sock_filter filter_%s[%zu] = {\n", name, in->nr_insns);
        for (i = 0; i < in->nr_insns; i++)
                fprintf(f, "    {0x%04x, %u, %u, 0x%08x},\n", in->insns[i].code, in->insns[i].jt,
                        in->insns[i].jf, in->insns[i].k);
        fprintf(f, "};\n");
}

static void emit_c_names(FILE *f)
{
        int nr;

        fprintf(f, "\nconst char *const seccomp_syscall_names[SECCOMP_SYSCALL_NAMES] = {\n");
        for (nr = 0; nr < SYSCALL_NR_MAX; nr++) {
                char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_X86_64, nr);

                if (name)
                        fprintf(f, "    [%d] = \"%s\",\n", nr, name);
                free(name);
        }
        fprintf(f, "};\n");
}

static int write_c(const char *out, struct role_input *in, struct role_input *stage)
{
        FILE *f = fopen(out, "we");
        int i;

        if (!f)
                return -1;
        fprintf(f, "/* Generated by brasa-seccomp-gen from the rule files in src/seccomp: do not "
                   "edit. */\n");
        fprintf(f, "#include \"seccomp/seccomp_filters.h\"\n");
        for (i = 0; i < NR_ROLES; i++)
                emit_c_filter(f, role_names[i], &in[i]);
        for (i = 0; i < SECCOMP_STAGE_COUNT; i++)
                emit_c_filter(f, stage_names[i], &stage[i]);
        fprintf(f, "\nconst struct seccomp_prog seccomp_builtin_filters[SECCOMP_ROLE_COUNT] = {\n");
        for (i = 0; i < NR_ROLES; i++)
                fprintf(f, "    {filter_%s, %zu},\n", role_names[i], in[i].nr_insns);
        fprintf(f, "};\n");
        fprintf(f, "\nconst struct seccomp_prog seccomp_stage_filters[SECCOMP_STAGE_COUNT] = {\n");
        for (i = 0; i < SECCOMP_STAGE_COUNT; i++)
                fprintf(f, "    {filter_%s, %zu},\n", stage_names[i], stage[i].nr_insns);
        fprintf(f, "};\n");
        emit_c_names(f);
        return fclose(f) ? -1 : 0;
}

static void put_le32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

/* Layout: docs/security.md "Custom filter files". Little-endian throughout. */
static int write_bin(const char *out, const struct role_input *in)
{
        uint8_t hdr[16], name[FILE_NAME_LEN + 4], insn[8];
        FILE *f = fopen(out, "we");
        size_t i;
        int r, bad = 0;

        if (!f)
                return -1;
        memcpy(hdr, FILE_MAGIC, 8);
        put_le32(hdr + 8, FILE_VERSION);
        put_le32(hdr + 12, NR_ROLES);
        bad |= fwrite(hdr, sizeof(hdr), 1, f) != 1;
        for (r = 0; r < NR_ROLES; r++) {
                memset(name, 0, sizeof(name));
                memcpy(name, role_names[r], strlen(role_names[r]));
                put_le32(name + FILE_NAME_LEN, (uint32_t)in[r].nr_insns);
                bad |= fwrite(name, sizeof(name), 1, f) != 1;
                for (i = 0; i < in[r].nr_insns; i++) {
                        insn[0] = (uint8_t)in[r].insns[i].code;
                        insn[1] = (uint8_t)(in[r].insns[i].code >> 8);
                        insn[2] = in[r].insns[i].jt;
                        insn[3] = in[r].insns[i].jf;
                        put_le32(insn + 4, in[r].insns[i].k);
                        bad |= fwrite(insn, sizeof(insn), 1, f) != 1;
                }
        }
        bad |= fclose(f) != 0;
        return bad ? -1 : 0;
}

static void list_rules(const struct role_input *in)
{
        size_t i;
        int r;

        for (r = 0; r < NR_ROLES; r++) {
                if (!in[r].path)
                        continue;
                for (i = 0; i < in[r].rules.count; i++) {
                        const struct rule *x = &in[r].rules.rules[i];
                        const char *cond = x->text + strlen(x->syscall);

                        cond += strspn(cond, " \t");
                        while (*cond == '@') { /* the tags are not part of the condition */
                                cond += strcspn(cond, " \t");
                                cond += strspn(cond, " \t");
                        }
                        printf("%s\t%s\t%s\t%s\n", role_names[r], x->syscall, cond, x->comment);
                }
        }
}

/* Parses "role=path" arguments; every role at most once. */
static int parse_inputs(int argc, char **argv, struct role_input *in)
{
        int i, r;

        for (i = 0; i < argc; i++) {
                const char *eq = strchr(argv[i], '=');

                r = eq ? role_index(argv[i], (size_t)(eq - argv[i])) : -1;
                if (r < 0 || in[r].path) {
                        fprintf(stderr, "brasa-seccomp-gen: bad or repeated input '%s'\n", argv[i]);
                        return -1;
                }
                in[r].path = eq + 1;
                if (rules_parse_file(in[r].path, &in[r].rules))
                        return -1;
        }
        return 0;
}

static int compile_all(struct role_input *in, struct role_input *stage)
{
        int r;

        for (r = 0; r < NR_ROLES; r++) {
                if (!in[r].path) {
                        fprintf(stderr, "brasa-seccomp-gen: missing %s=FILE\n", role_names[r]);
                        return -1;
                }
                if (compile_role(role_names[r], &in[r]))
                        return -1;
        }
        for (r = 0; r < SECCOMP_STAGE_COUNT; r++) {
                stage[r].path = in[SECCOMP_ROLE_VMM].path;
                stage[r].rules = in[SECCOMP_ROLE_VMM].rules;
                stage[r].drop = stage_drops[r];
                if (compile_role(stage_names[r], &stage[r]))
                        return -1;
        }
        return 0;
}

static int run(const char *mode, int argc, char **argv, struct role_input *in,
               struct role_input *stage)
{
        const char *out = NULL;

        if (strcmp(mode, "list") != 0) {
                if (argc < 1)
                        return -1;
                out = argv[0];
                argc--;
                argv++;
        }
        if (parse_inputs(argc, argv, in))
                return 1;
        if (strcmp(mode, "list") == 0) {
                list_rules(in);
                return 0;
        }
        if (compile_all(in, stage))
                return 1;
        if (strcmp(mode, "c") == 0 ? write_c(out, in, stage) : write_bin(out, in)) {
                fprintf(stderr, "brasa-seccomp-gen: cannot write %s: %s\n", out, strerror(errno));
                unlink(out);
                return 1;
        }
        return 0;
}

int main(int argc, char **argv)
{
        struct role_input in[NR_ROLES], stage[SECCOMP_STAGE_COUNT];
        int r, rc;

        memset(in, 0, sizeof(in));
        memset(stage, 0, sizeof(stage));
        if (argc < 2 ||
            (strcmp(argv[1], "c") && strcmp(argv[1], "bin") && strcmp(argv[1], "list"))) {
                fputs(usage_text, stderr);
                return 2;
        }
        rc = run(argv[1], argc - 2, argv + 2, in, stage);
        if (rc < 0) {
                fputs(usage_text, stderr);
                rc = 2;
        }
        for (r = 0; r < NR_ROLES; r++) {
                rules_free(&in[r].rules);
                free(in[r].insns);
        }
        for (r = 0; r < SECCOMP_STAGE_COUNT; r++)
                free(stage[r].insns); /* the rules are the vmm input's */
        return rc;
}
