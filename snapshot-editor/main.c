/* brasa-snapshot-editor: Firecracker's snapshot-editor command line over brasa's snapshots. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/statefile.h"
#include "rebase.h"

#define PROG "brasa-snapshot-editor"

static const char usage_top[] =
    "Usage: " PROG " <COMMAND>\n\n"
    "Commands:\n"
    "  edit-memory   Edit a memory file (rebase a Diff snapshot's memory onto its base)\n"
    "  info-vmstate  Show what a brasa state file holds\n"
    "  help          Print this message\n\n"
    "Options:\n"
    "  -h, --help     Print help\n"
    "  -V, --version  Print version\n";

static const char usage_rebase[] =
    "Apply a diff snapshot on top of a base one\n\n"
    "Usage: " PROG " edit-memory rebase --memory-path <MEMORY_PATH> --diff-path <DIFF_PATH>\n\n"
    "Options:\n"
    "  -m, --memory-path <MEMORY_PATH>  Path to the memory file\n"
    "  -d, --diff-path <DIFF_PATH>      Path to the diff file\n"
    "  -h, --help                       Print help\n";

static const char usage_version[] =
    "Print snapshot version\n\n"
    "Usage: " PROG " info-vmstate version --vmstate-path <VMSTATE_PATH>\n\n"
    "Options:\n"
    "  -v, --vmstate-path <VMSTATE_PATH>  Path to the vmstate file\n"
    "  -h, --help                         Print help\n";

/* A usage error, as clap reports one: the message, the usage, exit status 2. */
static int __attribute__((format(printf, 2, 3)))
usage_error(const char *usage, const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "error: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n\n%s\nFor more information, try '--help'.\n", usage);
        return 2;
}

/* Takes "--long V", "--long=V" or "-s V" at argv[*i] into *val. 1: taken, 0: not this one. */
static int take_opt(int argc, char **argv, int *i, const char *lng, const char *shrt,
                    const char **val)
{
        size_t n = strlen(lng);
        const char *a = argv[*i];

        if (strncmp(a, lng, n) == 0 && a[n] == '=') {
                *val = a + n + 1;
                return 1;
        }
        if ((strcmp(a, lng) == 0 || strcmp(a, shrt) == 0) && *i + 1 < argc) {
                *val = argv[++*i];
                return 1;
        }
        return 0;
}

/* Parses the options of a subcommand that takes two (or one, b NULL) path options. */
static int parse_paths(int argc, char **argv, const char *usage, const char *const opt[4],
                       const char **a, const char **b)
{
        for (int i = 0; i < argc; i++) {
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        fputs(usage, stdout);
                        return 1;
                }
                if (take_opt(argc, argv, &i, opt[0], opt[1], a))
                        continue;
                if (b && take_opt(argc, argv, &i, opt[2], opt[3], b))
                        continue;
                return usage_error(usage, "unexpected argument '%s' found", argv[i]);
        }
        if (!*a)
                return usage_error(
                    usage, "the following required arguments were not provided:\n  %s", opt[0]);
        if (b && !*b)
                return usage_error(
                    usage, "the following required arguments were not provided:\n  %s", opt[2]);
        return 0;
}

static int cmd_rebase(int argc, char **argv)
{
        static const char *const opt[4] = {"--memory-path", "-m", "--diff-path", "-d"};
        const char *mem = NULL, *diff = NULL;
        char msg[512];
        int rc = parse_paths(argc, argv, usage_rebase, opt, &mem, &diff);

        if (rc)
                return rc == 1 ? 0 : rc;
        if (rebase_memory(mem, diff, msg, sizeof(msg))) {
                fprintf(stderr, "Error during editing memory file: %s\n", msg);
                return 1;
        }
        return 0;
}

/* Reads a whole state file (at most STATEFILE_MAX_SIZE bytes) into *buf. */
static int read_state(const char *path, uint8_t **buf, size_t *len, struct err *e)
{
        struct stat st;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

        if (fd < 0)
                return err_set(e, -errno, "%s (os error %d)", strerror(errno), errno);
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
            (uint64_t)st.st_size > STATEFILE_MAX_SIZE) {
                close(fd);
                return err_set(e, -EINVAL, "not a brasa snapshot state file (size)");
        }
        *len = (size_t)st.st_size;
        *buf = malloc(*len ? *len : 1);
        n = *buf ? pread(fd, *buf, *len, 0) : -1;
        if (n < 0 || (size_t)n != *len)
                rc = err_set(e, -EIO, "cannot read the state file");
        close(fd);
        return rc;
}

static int cmd_version(int argc, char **argv)
{
        static const char *const opt[4] = {"--vmstate-path", "-v", NULL, NULL};
        const char *path = NULL;
        struct err e = ERR_INIT;
        struct statefile *sf = malloc(sizeof(*sf));
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = parse_paths(argc, argv, usage_version, opt, &path, NULL);

        if (rc) {
                free(sf);
                return rc == 1 ? 0 : rc;
        }
        rc = sf ? read_state(path, &buf, &len, &e) : err_set(&e, -ENOMEM, "out of memory");
        if (!rc)
                rc = statefile_parse(buf, len, sf, &e);
        if (rc)
                fprintf(stderr, "Error during getting info from a vmstate file: %s\n", e.msg);
        else
                printf("v%u.0.0\n", sf->version);
        free(buf);
        free(sf);
        return rc ? 1 : 0;
}

/* "<group> <command> ...": dispatches to the command's handler. */
static int dispatch(int argc, char **argv)
{
        const char *g = argv[1], *c = argc > 2 ? argv[2] : "";

        if (strcmp(g, "edit-memory") == 0 && strcmp(c, "rebase") == 0)
                return cmd_rebase(argc - 3, argv + 3);
        if (strcmp(g, "info-vmstate") == 0 && strcmp(c, "version") == 0)
                return cmd_version(argc - 3, argv + 3);
        if (strcmp(g, "edit-memory") == 0 && (!*c || strcmp(c, "help") == 0 || *c == '-')) {
                printf("Usage: " PROG " edit-memory <COMMAND>\n\nCommands:\n  rebase  Apply a "
                       "diff snapshot on top of a base one\n");
                return *c && strcmp(c, "-h") && strcmp(c, "--help") && strcmp(c, "help") ? 2 : 0;
        }
        if (strcmp(g, "info-vmstate") == 0 && (!*c || strcmp(c, "help") == 0 || *c == '-')) {
                printf("Usage: " PROG " info-vmstate <COMMAND>\n\nCommands:\n  version  Print "
                       "snapshot version\n");
                return *c && strcmp(c, "-h") && strcmp(c, "--help") && strcmp(c, "help") ? 2 : 0;
        }
        if (strcmp(g, "edit-memory") == 0 || strcmp(g, "info-vmstate") == 0)
                return usage_error(usage_top, "unrecognized subcommand '%s'", c);
        return usage_error(usage_top, "unrecognized subcommand '%s'", g);
}

int main(int argc, char **argv)
{
        if (argc < 2) {
                fputs(usage_top, stderr);
                return 2;
        }
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
            strcmp(argv[1], "help") == 0) {
                fputs(usage_top, stdout);
                return 0;
        }
        if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
                printf(PROG " v%s\n", BRASA_VERSION);
                return 0;
        }
        return dispatch(argc, argv);
}
