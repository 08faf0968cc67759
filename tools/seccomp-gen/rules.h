/* Seccomp rule files: parse "<syscall> [@tag]... [aN == V | aN & M == V]... [-> ERRNO] # why"
 * lines. */
#ifndef BRASA_SECCOMP_GEN_RULES_H
#define BRASA_SECCOMP_GEN_RULES_H

#include <stddef.h>
#include <stdint.h>

#define RULE_MAX_CONDS   6
#define RULE_NAME_MAX    64
#define RULE_COMMENT_MAX 256
#define RULE_TEXT_MAX    512

/* One argument check: (arg[index] & mask) == value, on the low 32 bits (a "dword"). */
struct rule_cond {
        unsigned int index;
        uint32_t mask;
        uint32_t value;
};

/* Tags: when, after set-up, a vmm rule is no longer needed (the stage filters drop it). */
#define RULE_TAG_BOOT 1u /* @boot: only until the VM runs */
#define RULE_TAG_API  2u /* @api: once the VM runs, only while the API serves (PATCH /drives) */

struct rule {
        char syscall[RULE_NAME_MAX];
        unsigned int tags; /* RULE_TAG_* */
        struct rule_cond conds[RULE_MAX_CONDS];
        unsigned int nr_conds;
        int errno_value;                /* 0: allow; otherwise the call fails with this errno */
        char text[RULE_TEXT_MAX];       /* the rule as written, without the comment */
        char comment[RULE_COMMENT_MAX]; /* why the rule exists (required) */
        unsigned int line;
};

struct rule_set {
        struct rule *rules;
        size_t count;
};

/*
 * Parses the rule file at path into set (which the caller zeroes first).
 * Returns 0, or -1 after printing "path:line: reason" to stderr: unknown
 * syscall or constant, bad syntax, an argument checked twice, or a rule
 * without a comment.
 */
int rules_parse_file(const char *path, struct rule_set *set);

/* Frees what rules_parse_file() allocated. */
void rules_free(struct rule_set *set);

#endif
