/* Rule file parser: one rule per line, every rule with a comment saying who needs it. */
#define _GNU_SOURCE
#include "rules.h"

#include <ctype.h>
#include <errno.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consts.h"

#define LINE_MAX_LEN 1024
#define MAX_TOKENS   32

struct parse_ctx {
        const char *path;
        unsigned int line;
};

__attribute__((format(printf, 2, 3))) static int parse_error(const struct parse_ctx *p,
                                                             const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "%s:%u: ", p->path, p->line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -1;
}

/* One term of a value: a decimal/hex number or a known constant name. */
static int parse_term(const struct parse_ctx *p, const char *s, uint64_t *out)
{
        char *end;

        if (isdigit((unsigned char)s[0])) {
                errno = 0;
                *out = strtoull(s, &end, 0);
                if (errno || *end)
                        return parse_error(p, "bad number '%s'", s);
                return 0;
        }
        if (consts_lookup(s, out))
                return parse_error(p, "unknown constant '%s' (add it to consts.c)", s);
        return 0;
}

/* A value is terms joined by '|', with no spaces: MAP_PRIVATE|MAP_ANONYMOUS. */
static int parse_value(const struct parse_ctx *p, const char *s, uint32_t *out)
{
        char buf[RULE_TEXT_MAX], *save = NULL, *tok;
        uint64_t acc = 0, v;

        snprintf(buf, sizeof(buf), "%s", s);
        for (tok = strtok_r(buf, "|", &save); tok; tok = strtok_r(NULL, "|", &save)) {
                if (parse_term(p, tok, &v))
                        return -1;
                acc |= v;
        }
        if (acc > UINT32_MAX)
                return parse_error(p, "value '%s' does not fit in 32 bits", s);
        *out = (uint32_t)acc;
        return 0;
}

static int parse_arg_index(const struct parse_ctx *p, const char *s, unsigned int *index)
{
        if (s[0] != 'a' || s[1] < '0' || s[1] > '5' || s[2])
                return parse_error(p, "expected an argument a0..a5, got '%s'", s);
        *index = (unsigned int)(s[1] - '0');
        return 0;
}

/* "aN == V" (3 tokens) or "aN & M == V" (5 tokens). Returns the tokens used, or -1. */
static int parse_cond(const struct parse_ctx *p, char **tok, int left, struct rule *r)
{
        struct rule_cond c = {.mask = UINT32_MAX};
        unsigned int i;
        int used = 3;

        if (r->nr_conds == RULE_MAX_CONDS)
                return parse_error(p, "too many conditions");
        if (parse_arg_index(p, tok[0], &c.index))
                return -1;
        if (left >= 5 && strcmp(tok[1], "&") == 0) {
                if (parse_value(p, tok[2], &c.mask))
                        return -1;
                tok += 2;
                used = 5;
        } else if (left < 3) {
                return parse_error(p, "incomplete condition after '%s'", tok[0]);
        }
        if (strcmp(tok[1], "==") != 0)
                return parse_error(p, "expected '==', got '%s'", tok[1]);
        if (parse_value(p, tok[2], &c.value))
                return -1;
        if (c.value & ~c.mask)
                return parse_error(p, "value has bits outside the mask: never matches");
        for (i = 0; i < r->nr_conds; i++)
                if (r->conds[i].index == c.index)
                        return parse_error(p, "argument a%u checked twice in one rule", c.index);
        r->conds[r->nr_conds++] = c;
        return used;
}

static int parse_action(const struct parse_ctx *p, char **tok, int left, struct rule *r)
{
        uint64_t v;

        if (left != 2)
                return parse_error(p, "expected '-> ERRNO' at the end of the rule");
        if (consts_lookup(tok[1], &v) || v == 0 || v > 4095)
                return parse_error(p, "unknown errno '%s'", tok[1]);
        r->errno_value = (int)v;
        return 0;
}

static int parse_tag(const struct parse_ctx *p, const char *tok, struct rule *r)
{
        if (strcmp(tok, "@boot") == 0)
                r->tags |= RULE_TAG_BOOT;
        else if (strcmp(tok, "@api") == 0)
                r->tags |= RULE_TAG_API;
        else
                return parse_error(p, "unknown tag '%s' (@boot or @api)", tok);
        return 0;
}

static int parse_tokens(const struct parse_ctx *p, char **tok, int n, struct rule *r)
{
        int i = 1, used;

        if (strlen(tok[0]) >= sizeof(r->syscall))
                return parse_error(p, "syscall name too long");
        snprintf(r->syscall, sizeof(r->syscall), "%s", tok[0]);
        if (seccomp_syscall_resolve_name_arch(SCMP_ARCH_X86_64, r->syscall) == __NR_SCMP_ERROR)
                return parse_error(p, "unknown syscall '%s' on x86_64", r->syscall);
        while (i < n) {
                if (strcmp(tok[i], "->") == 0)
                        return parse_action(p, tok + i, n - i, r);
                if (tok[i][0] == '@') {
                        if (parse_tag(p, tok[i], r))
                                return -1;
                        i++;
                        continue;
                }
                used = parse_cond(p, tok + i, n - i, r);
                if (used < 0)
                        return -1;
                i += used;
        }
        return 0;
}

static void trim(char *s)
{
        size_t n = strlen(s);

        while (n && isspace((unsigned char)s[n - 1]))
                s[--n] = '\0';
}

/* Splits a line into rule text and comment; fills r. Returns 1 for a rule, 0 for none, -1. */
static int parse_line(const struct parse_ctx *p, char *line, struct rule *r)
{
        char *hash = strchr(line, '#'), *tok[MAX_TOKENS], *save = NULL, *t;
        const char *comment = "";
        int n = 0;

        if (hash) {
                *hash = '\0';
                comment = hash + 1;
                while (isspace((unsigned char)*comment))
                        comment++;
        }
        trim(line);
        memset(r, 0, sizeof(*r));
        snprintf(r->text, sizeof(r->text), "%s", line + strspn(line, " \t"));
        for (t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
                if (n == MAX_TOKENS)
                        return parse_error(p, "too many tokens");
                tok[n++] = t;
        }
        if (n == 0)
                return 0; /* blank or comment-only line: documentation, not a rule */
        if (*comment == '\0')
                return parse_error(p, "rule '%s' has no comment saying who needs it", r->text);
        snprintf(r->comment, sizeof(r->comment), "%s", comment);
        trim(r->comment);
        r->line = p->line;
        return parse_tokens(p, tok, n, r) ? -1 : 1;
}

static int rules_append(struct rule_set *set, const struct rule *r)
{
        struct rule *grown = realloc(set->rules, (set->count + 1) * sizeof(*grown));

        if (!grown)
                return -1;
        set->rules = grown;
        set->rules[set->count++] = *r;
        return 0;
}

int rules_parse_file(const char *path, struct rule_set *set)
{
        struct parse_ctx p = {.path = path};
        char line[LINE_MAX_LEN];
        struct rule r;
        FILE *f;
        int rc = 0, got;

        f = fopen(path, "re");
        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        while (rc == 0 && fgets(line, sizeof(line), f)) {
                p.line++;
                if (!strchr(line, '\n') && !feof(f)) {
                        rc = parse_error(&p, "line too long");
                        break;
                }
                line[strcspn(line, "\n")] = '\0';
                got = parse_line(&p, line, &r);
                if (got < 0 || (got == 1 && rules_append(set, &r)))
                        rc = -1;
        }
        fclose(f);
        if (rc == 0 && set->count == 0) {
                fprintf(stderr, "%s: no rules\n", path);
                rc = -1;
        }
        return rc;
}

void rules_free(struct rule_set *set)
{
        free(set->rules);
        set->rules = NULL;
        set->count = 0;
}
