/* brasa-jailer argument parsing and validation (Firecracker's flags, numeric uid/gid only). */
#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct flag {
        const char *name;
        bool value;
        bool repeat;
};

static const struct flag flags[] = {
    {"id", true, false},
    {"exec-file", true, false},
    {"uid", true, false},
    {"gid", true, false},
    {"chroot-base-dir", true, false},
    {"netns", true, false},
    {"daemonize", false, false},
    {"new-pid-ns", false, false},
    {"cgroup", true, true},
    {"cgroup-version", true, false},
    {"parent-cgroup", true, false},
    {"resource-limit", true, true},
    {"reuse-chroot", false, false}, /* brasa's own */
    {"help", false, false},
    {"version", false, false},
};

#define NR_FLAGS (sizeof(flags) / sizeof(flags[0]))

/* The last value given for each single flag; repeated flags are applied as they come. */
struct raw_args {
        const char *value[NR_FLAGS];
        bool seen[NR_FLAGS];
};

static const char usage_text[] =
    "Usage: brasa-jailer --id ID --exec-file PATH --uid UID --gid GID [OPTIONS] [-- ARGS...]\n"
    "  --id ID                    jail id, 1-64 chars of [A-Za-z0-9-]\n"
    "  --exec-file PATH           the binary to copy into the jail and exec (brasa)\n"
    "  --uid UID, --gid GID       numeric ids the jailed process runs as\n"
    "  --chroot-base-dir DIR      absolute base of the jails (default " JAIL_DEFAULT_BASE ")\n"
    "  --netns PATH               network namespace to join (e.g. /var/run/netns/NAME)\n"
    "  --daemonize                detach: setsid, stdio to /dev/null\n"
    "  --new-pid-ns               exec into a new PID namespace\n"
    "  --cgroup FILE=VALUE        cgroup setting, e.g. cpu.shares=512 (repeatable)\n"
    "  --cgroup-version 1|2       cgroup hierarchy to use (default 1)\n"
    "  --parent-cgroup PATH       relative parent cgroup (default: the exec file name)\n"
    "  --resource-limit R=N       fsize=BYTES or no-file=N (repeatable; no-file default 2048)\n"
    "  --reuse-chroot             (brasa) run again over a chroot a jailer already set up\n"
    "  --version, --help\n"
    "Arguments after -- go to the jailed binary, after --id and the start-time flags.\n"
    "\n"
    "Exit codes: 1 when the jail cannot be set up (one line \"brasa-jailer: <reason>\" on\n"
    "stderr); once the jail is ready the jailer becomes the jailed binary, so brasa's own.\n"
    "Docs: man brasa-jailer (brasa-jailer(1)) and docs/security.md.\n";

static int find_flag(const char *name)
{
        size_t i;

        for (i = 0; i < NR_FLAGS; i++)
                if (strcmp(flags[i].name, name) == 0)
                        return (int)i;
        return -1;
}

static const char *value_of(const struct raw_args *r, const char *name)
{
        int i = find_flag(name);

        return i < 0 ? NULL : r->value[i];
}

static bool present(const struct raw_args *r, const char *name)
{
        int i = find_flag(name);

        return i >= 0 && r->seen[i];
}

static int add_cgroup(struct jail *j, const char *spec)
{
        const char *eq = strchr(spec, '=');
        struct jail_cgroup *c;
        size_t flen;

        if (!eq || strchr(eq + 1, '=') || !eq[1] || eq == spec)
                return jail_err("Invalid format for cgroups: %s (expected FILE=VALUE)", spec);
        flen = (size_t)(eq - spec);
        if (j->nr_cgroups == JAIL_MAX_CGROUPS)
                return jail_err("too many --cgroup arguments (at most %d)", JAIL_MAX_CGROUPS);
        c = &j->cgroups[j->nr_cgroups];
        if (flen >= sizeof(c->file) || strlen(eq + 1) >= sizeof(c->value) || strchr(eq + 1, '\n'))
                return jail_err("Invalid format for cgroups: %s", spec);
        memcpy(c->file, spec, flen);
        c->file[flen] = '\0';
        /* One file name: "<controller>.<property>", never a path. */
        if (strchr(c->file, '/') || strcmp(c->file, ".") == 0 || strcmp(c->file, "..") == 0 ||
            !strchr(c->file + 1, '.'))
                return jail_err("Cgroup invalid file: %s", spec);
        snprintf(c->value, sizeof(c->value), "%s", eq + 1);
        j->nr_cgroups++;
        return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
        char *end;

        if (*s < '0' || *s > '9')
                return -1;
        errno = 0;
        *out = strtoull(s, &end, 10);
        return errno || *end ? -1 : 0;
}

static int add_rlimit(struct jail *j, const char *spec)
{
        const char *eq = strchr(spec, '=');
        uint64_t v;

        if (!eq)
                return jail_err("Invalid format for resources limits: %s", spec);
        if (parse_u64(eq + 1, &v))
                return jail_err("Invalid limit value for resource: %s", spec);
        if ((size_t)(eq - spec) == 5 && strncmp(spec, "fsize", 5) == 0) {
                j->have_fsize = true;
                j->fsize = v;
        } else if ((size_t)(eq - spec) == 7 && strncmp(spec, "no-file", 7) == 0) {
                j->nofile = v;
        } else {
                return jail_err("Invalid resource argument: %.*s", (int)(eq - spec), spec);
        }
        return 0;
}

static int take_flag(struct raw_args *r, struct jail *j, int f, const char *val)
{
        if (flags[f].repeat)
                return strcmp(flags[f].name, "cgroup") == 0 ? add_cgroup(j, val)
                                                            : add_rlimit(j, val);
        if (r->seen[f])
                return jail_err("Argument '%s' was provided more than once", flags[f].name);
        r->seen[f] = true;
        r->value[f] = val;
        return 0;
}

/* Walks argv: "--name value", "--name=value", switches, then "--" and the jailed arguments. */
static int scan(int argc, char **argv, struct raw_args *r, struct jail *j)
{
        int i, f;

        for (i = 1; i < argc; i++) {
                char name[64];
                const char *a = argv[i], *eq, *val = NULL;

                if (strcmp(a, "--") == 0) {
                        j->extra_args = argv + i + 1;
                        j->nr_extra_args = argc - i - 1;
                        return 0;
                }
                eq = strchr(a, '=');
                snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - a) : (int)strlen(a), a);
                f = strncmp(name, "--", 2) == 0 ? find_flag(name + 2) : -1;
                if (strcmp(a, "-h") == 0)
                        f = find_flag("help");
                if (f < 0)
                        return jail_err("Found argument '%s' which wasn't expected, or isn't "
                                        "valid in this context",
                                        a);
                if (flags[f].value) {
                        val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                        if (!val)
                                return jail_err("Argument '%s' requires a value", name + 2);
                } else if (eq) {
                        return jail_err("Argument '%s' takes no value", name + 2);
                }
                if (take_flag(r, j, f, val ? val : ""))
                        return -1;
        }
        return 0;
}

static int check_id(const char *id)
{
        size_t i, n = strlen(id);

        if (n < 1 || n > JAIL_ID_MAX)
                return jail_err("Invalid instance ID: Invalid len (%zu); the length must be "
                                "between 1 and %d",
                                n, JAIL_ID_MAX);
        for (i = 0; i < n; i++) {
                char c = id[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-'))
                        return jail_err("Invalid instance ID: Invalid char (%c) at position %zu", c,
                                        i);
        }
        return 0;
}

/* uid/gid: decimal only (no names: a static binary must not use NSS); -1 is not an id. */
static int parse_id(const char *what, const char *s, unsigned int *out)
{
        uint64_t v;

        if (parse_u64(s, &v) || v >= UINT32_MAX)
                return jail_err("Invalid %s: %s (a numeric id is required)", what, s);
        *out = (unsigned int)v;
        return 0;
}

static int check_exec(struct jail *j, const char *path)
{
        struct stat st;
        const char *slash;

        if (!realpath(path, j->exec_path))
                return jail_err("Failed to canonicalize path %s: %s", path, strerror(errno));
        if (stat(j->exec_path, &st) < 0 || !S_ISREG(st.st_mode))
                return jail_err("%s is not a file", j->exec_path);
        slash = strrchr(j->exec_path, '/');
        return jail_fmt(j->exec_name, sizeof(j->exec_name), "%s", slash ? slash + 1 : j->exec_path);
}

static int check_base(struct jail *j, const char *base)
{
        struct stat st;

        if (base[0] != '/')
                return jail_err("--chroot-base-dir must be an absolute path: %s", base);
        if (!realpath(base, j->base))
                return jail_err("Failed to canonicalize path %s: %s", base, strerror(errno));
        if (stat(j->base, &st) < 0 || !S_ISDIR(st.st_mode))
                return jail_err("%s is not a directory", j->base);
        return jail_fmt(j->chroot, sizeof(j->chroot), "%s/%s/%s/root",
                        strcmp(j->base, "/") ? j->base : "", j->exec_name, j->id);
}

/* Relative, and no "." or ".." component: the jail's cgroup stays below the hierarchy root. */
static int check_parent_cgroup(struct jail *j, const char *p)
{
        char copy[PATH_MAX], *save = NULL, *c;

        if (!*p || p[0] == '/' || strlen(p) >= sizeof(copy))
                goto bad;
        snprintf(copy, sizeof(copy), "%s", p);
        for (c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save))
                if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0)
                        goto bad;
        return jail_fmt(j->parent_cgroup, sizeof(j->parent_cgroup), "%s", p);
bad:
        return jail_err("Parent cgroup path is invalid. Path should not be absolute or contain "
                        "'..' or '.'");
}

static int check_required(const struct raw_args *r)
{
        static const char *const required[] = {"id", "exec-file", "uid", "gid"};
        size_t i;

        for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
                if (!present(r, required[i]))
                        return jail_err("Argument '%s' required, but not found", required[i]);
        return 0;
}

static int validate(const struct raw_args *r, struct jail *j)
{
        const char *ver = present(r, "cgroup-version") ? value_of(r, "cgroup-version") : "1";
        const char *base =
            present(r, "chroot-base-dir") ? value_of(r, "chroot-base-dir") : JAIL_DEFAULT_BASE;

        if (check_required(r) || check_id(value_of(r, "id")))
                return -1;
        snprintf(j->id, sizeof(j->id), "%s", value_of(r, "id"));
        if (check_exec(j, value_of(r, "exec-file")) || check_base(j, base) ||
            parse_id("uid", value_of(r, "uid"), &j->uid) ||
            parse_id("gid", value_of(r, "gid"), &j->gid))
                return -1;
        if (strcmp(ver, "1") != 0 && strcmp(ver, "2") != 0)
                return jail_err("%s is an invalid cgroup version specifier", ver);
        j->cgroup_version = ver[0] - '0';
        j->netns_path = present(r, "netns") ? value_of(r, "netns") : NULL;
        j->daemonize = present(r, "daemonize");
        j->new_pid_ns = present(r, "new-pid-ns");
        j->reuse_chroot = present(r, "reuse-chroot");
        return check_parent_cgroup(j, present(r, "parent-cgroup") ? value_of(r, "parent-cgroup")
                                                                  : j->exec_name);
}

enum args_result args_parse(int argc, char **argv, struct jail *j)
{
        struct raw_args r;

        memset(&r, 0, sizeof(r));
        j->nofile = JAIL_DEFAULT_NOFILE;
        if (scan(argc, argv, &r, j))
                return ARGS_ERROR;
        if (present(&r, "help")) {
                printf("brasa-jailer v%s\n\n%s", BRASA_VERSION, usage_text);
                return ARGS_DONE;
        }
        if (present(&r, "version")) {
                printf("brasa-jailer v%s\n", BRASA_VERSION);
                return ARGS_DONE;
        }
        return validate(&r, j) ? ARGS_ERROR : ARGS_RUN;
}
