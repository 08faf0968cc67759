/* Firecracker's arg_parser rules over a sorted table of arguments, with its error texts. */
#include "core/argparse.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"

struct arg_spec *arg_find(struct arg_spec *specs, size_t n, const char *name)
{
        size_t i;

        for (i = 0; i < n; i++)
                if (strcmp(specs[i].name, name) == 0)
                        return &specs[i];
        return NULL;
}

static int fault(struct arg_fault *f, enum arg_error kind, const char *a, const char *b)
{
        f->kind = kind;
        f->a = a;
        f->b = b;
        return -EINVAL;
}

static bool is_option(const char *s)
{
        return strncmp(s, "--", 2) == 0;
}

/* True when the exact token tok is among argv[1..end). */
static bool given(int end, char **argv, const char *tok)
{
        int i;

        for (i = 1; i < end; i++)
                if (strcmp(argv[i], tok) == 0)
                        return true;
        return false;
}

/* True when "--name" is among argv[1..end) (Firecracker looks for the token itself). */
static bool given_flag(int end, char **argv, const char *name)
{
        char tok[128];

        snprintf(tok, sizeof(tok), "--%s", name);
        return given(end, argv, tok);
}

/* The spec whose name follows prev's in strcmp order (the first when prev is NULL), or NULL. */
static struct arg_spec *next_by_name(struct arg_spec *specs, size_t n, const struct arg_spec *prev)
{
        struct arg_spec *best = NULL;
        size_t i;

        for (i = 0; i < n; i++) {
                if (prev && strcmp(specs[i].name, prev->name) <= 0)
                        continue;
                if (!best || strcmp(specs[i].name, best->name) < 0)
                        best = &specs[i];
        }
        return best;
}

/* validate_requirements(): requires, then forbids, walking the names as its BTreeMap does. */
static int check_requirements(struct arg_spec *specs, size_t n, int end, char **argv,
                              struct arg_fault *f)
{
        struct arg_spec *s;

        for (s = next_by_name(specs, n, NULL); s; s = next_by_name(specs, n, s)) {
                if (!s->present)
                        continue;
                if (s->requires && !given_flag(end, argv, s->requires))
                        return fault(f, ARG_MISSING_ARGUMENT, s->requires, NULL);
                if (s->forbids && given_flag(end, argv, s->forbids))
                        return fault(f, ARG_FORBIDDEN, s->name, s->forbids);
        }
        return 0;
}

/* populate_args(): each "--name", its value if it takes one; no name twice. */
static int populate(struct arg_spec *specs, size_t n, int end, char **argv, struct arg_fault *f)
{
        struct arg_spec *s;
        int i;

        for (i = 1; i < end; i++) {
                if (!is_option(argv[i]))
                        return fault(f, ARG_UNEXPECTED, argv[i], NULL);
                s = arg_find(specs, n, argv[i] + 2);
                if (!s)
                        return fault(f, ARG_UNEXPECTED, argv[i] + 2, NULL);
                if (s->present)
                        return fault(f, ARG_DUPLICATE, s->name, NULL);
                if (s->takes_value) {
                        if (i + 1 >= end || is_option(argv[i + 1]))
                                return fault(f, ARG_MISSING_VALUE, s->name, NULL);
                        s->value = argv[++i];
                }
                s->present = true;
        }
        return check_requirements(specs, n, end, argv, f);
}

int argparse(struct arg_spec *specs, size_t n, int argc, char **argv, int *extra,
             struct arg_fault *f)
{
        int end = 1;

        while (end < argc && strcmp(argv[end], "--") != 0)
                end++;
        if (extra)
                *extra = end < argc ? end + 1 : argc;
        if (given(end, argv, "--help") || given(end, argv, "-h"))
                return ARGPARSE_HELP;
        if (given(end, argv, "--version"))
                return ARGPARSE_VERSION;
        return populate(specs, n, end, argv, f);
}

void arg_fault_text(const struct arg_fault *f, char *buf, size_t len)
{
        switch (f->kind) {
        case ARG_FORBIDDEN:
                snprintf(buf, len, "Argument '%s' cannot be used together with argument '%s'.",
                         f->b, f->a);
                break;
        case ARG_MISSING_ARGUMENT:
                snprintf(buf, len, "Argument '%s' required, but not found.", f->a);
                break;
        case ARG_MISSING_VALUE:
                snprintf(buf, len, "The argument '%s' requires a value, but none was supplied.",
                         f->a);
                break;
        case ARG_UNEXPECTED:
                snprintf(buf, len,
                         "Found argument '%s' which wasn't expected, or isn't valid in this "
                         "context.",
                         f->a);
                break;
        case ARG_DUPLICATE:
                snprintf(buf, len, "The argument '%s' was provided more than once.", f->a);
                break;
        }
}

void arg_fault_debug(const struct arg_fault *f, char *buf, size_t len)
{
        static const char *const names[] = {
            [ARG_FORBIDDEN] = "ForbiddenArgument", [ARG_MISSING_ARGUMENT] = "MissingArgument",
            [ARG_MISSING_VALUE] = "MissingValue",  [ARG_UNEXPECTED] = "UnexpectedArgument",
            [ARG_DUPLICATE] = "DuplicateArgument",
        };
        char a[256], b[256];

        text_debug_escape(f->a, strlen(f->a), 200, a, sizeof(a));
        if (f->kind == ARG_FORBIDDEN) {
                text_debug_escape(f->b, strlen(f->b), 200, b, sizeof(b));
                snprintf(buf, len, "%s(\"%s\", \"%s\")", names[f->kind], a, b);
        } else {
                snprintf(buf, len, "%s(\"%s\")", names[f->kind], a);
        }
}
