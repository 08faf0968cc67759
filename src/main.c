/* brasa entry point, as Firecracker's main.rs: parse the command line, set up, run, map errors to
 * exit codes. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <malloc.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/server.h"
#include "core/argparse.h"
#include "core/log.h"
#include "core/outfd.h"
#include "core/statefile.h"
#include "core/metrics.h"
#include "core/text.h"
#include "core/timeline.h"
#include "seccomp/seccomp.h"
#include "model/config.h"
#include "mmds/mmds_json.h"
#include "mmds/mmds_service.h"
#include "model/mmds_data.h"
#include "model/run_args.h"
#include "vmm/signals.h"
#include "vmm/vmm.h"
#include "vmm/vmm_boot.h"

#define FC_COMPAT_VERSION "1.16.1"

struct cli {
        const char *config_file;
        char *config_text; /* the file, read before the API comes up, as main.rs reads it */
        size_t config_len;
        char *metadata_text; /* --metadata's file, read right after the config file */
        size_t metadata_len;
        const char *api_sock;
        const char *id;
        const char *log_path;
        const char *metrics_path;
        const char *module;
        enum log_level level;
        bool show_level, show_origin;
        uint32_t max_payload; /* --http-api-max-payload-size */
        uint64_t mmds_limit;  /* --mmds-size-limit, else the payload limit */
        bool no_api;
        enum seccomp_policy seccomp;
        const char *seccomp_filter;
        struct vmm_opts vmm;
};

/*
 * An error main_exec() returns: Firecracker's exit code, the text its main() logs and the
 * one line it writes to stderr ("Error: " and Rust's Debug of the error). An empty text:
 * the exit line alone (the exits Firecracker takes from its signal handlers).
 */
struct fatal {
        int code;
        char text[ERR_MSG_MAX + 256];
        char debug[ERR_MSG_MAX + 256];
        const char *hint; /* what the user can do, logged after text; NULL: nothing to say */
};

__attribute__((format(printf, 3, 4))) static int fail(struct fatal *f, int code, const char *fmt,
                                                      ...)
{
        va_list ap;

        f->code = code;
        va_start(ap, fmt);
        vsnprintf(f->text, sizeof(f->text), fmt, ap);
        va_end(ap);
        return code;
}

/* Sets the Debug text of the error fail() set; returns its code. */
__attribute__((format(printf, 2, 3))) static int fail_debug(struct fatal *f, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(f->debug, sizeof(f->debug), fmt, ap);
        va_end(ap);
        return f->code;
}

/* s as Rust's Debug shows a String, quotes included. */
static const char *quoted(const char *s, char *buf, size_t len)
{
        buf[0] = '"';
        text_debug_escape(s, strlen(s), len - 32, buf + 1, len - 2);
        strcat(buf, "\"");
        return buf;
}

/*
 * Firecracker's expect() failures: its panic hook logs "Firecracker panicked at <where>:" and
 * the message, sets vmm.panic_count, writes the metrics, and the process dies by SIGABRT
 * (panic = "abort"). No exit line, nothing on stderr.
 */
__attribute__((noreturn, format(printf, 3, 4))) static void panic_at(const char *file, int line,
                                                                     const char *fmt, ...)
{
        const char *src = strstr(file, "src/");
        char msg[ERR_MSG_MAX + 256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_write(LOG_ERROR, file, line, "Firecracker panicked at %s:%d:\n%s", src ? src : file,
                  line, msg);
        metrics_store(&metrics.vmm.panic_count, 1);
        if (metrics_configured())
                metrics_flush();
        signal(SIGABRT, SIG_DFL);
        abort();
}

#define PANIC(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)

static const char usage_text[] =
    "Usage: brasa [OPTIONS] [-- IGNORED...]\n"
    "  --api-sock PATH            API socket path (default /run/firecracker.socket)\n"
    "  --config-file PATH         boot the microVM described by this JSON file\n"
    "  --no-api                   do not start the API server (needs --config-file)\n"
    "  --id ID                    instance id, 1-64 chars of [A-Za-z0-9-]\n"
    "  --boot-timer               attach the boot-timer device at 0xc0000000\n"
    "  --boot-timeline            log at exit when this start passed each of its phases\n"
    "                             (exec, API ready, InstanceStart, KVM set-up, kernel\n"
    "                             loaded, first KVM_RUN, guest's first output)\n"
    "  --log-path PATH            write the log to PATH instead of stdout\n"
    "  --level LEVEL              Error, Warning, Info (default), Debug, Trace or Off\n"
    "  --show-level, --show-log-origin  add the level / the source file:line to log lines\n"
    "  --module MODULE            log only lines of a Firecracker module path (vmm,\n"
    "                             vmm::devices::virtio::block, firecracker::api_server, ...)\n"
    "                             or of brasa's sources under a path (src/api/)\n"
    "  --metrics-path PATH        write metrics (one JSON line per flush) to PATH\n"
    "  --http-api-max-payload-size BYTES  largest API request body (default 51200)\n"
    "  --mmds-size-limit BYTES    largest MMDS data store (default: the payload limit)\n"
    "  --metadata PATH            fill the MMDS data store from this JSON file\n"
    "  --pvm-cpu-template MODE    auto (default), on or off: hide the CPU features that\n"
    "                             a kvm_pvm host cannot emulate\n"
    "  --no-pvm-boot-args         do not append the kernel arguments a Linux guest needs\n"
    "                             while that template is active (noxsave clearcpuid=...)\n"
    "  --no-seccomp               do not install the per-thread seccomp filters\n"
    "  --seccomp-filter FILE      install the filters of FILE instead of the built-in ones\n"
    "                             (format: docs/security.md; brasa-seccomp-gen bin)\n"
    "  --start-time-us US, --start-time-cpu-us US, --parent-cpu-time-us US\n"
    "                             passed by the jailer; checked as numbers, not used yet\n"
    "  --version                  print the version and exit\n"
    "  --snapshot-version         print the snapshot state format version brasa writes\n"
    "                             (v2.0.0: brasa's own format, not Firecracker's) and exit\n"
    "  --describe-snapshot FILE   print the format version of the state file FILE and exit\n"
    "                             (1 when FILE cannot be opened or is not a state file)\n"
    "  --help, -h                 print this help and exit\n"
    "  --enable-pci               put the virtio devices on a PCI bus (virtio-pci, MSI-X)\n"
    "Each flag at most once; arguments after \"--\" are ignored.\n"
    "\n"
    "Exit codes (Firecracker's): 0 ok; 1 error (bad config file, boot failure, API socket\n"
    "in use, unopenable log or metrics file); 2 unexpected error; 148 syscall blocked by\n"
    "seccomp; 149 SIGBUS; 150 SIGSEGV; 151 SIGXFSZ; 152 bad --level; 153 bad arguments;\n"
    "154 SIGXCPU; 156 SIGHUP; 157 SIGILL. An unreadable --config-file or --metadata file,\n"
    "--metadata that is not JSON, a bad --id or a non-numeric size ends the process with\n"
    "SIGABRT, as Firecracker's panics do.\n"
    "\n"
    "brasa run --kernel PATH [...] starts a VM without a config file: brasa run --help.\n"
    "Docs: man brasa (brasa(1)); README.md and docs/compatibility.md in brasa's sources.\n";

/* Firecracker's arguments (and brasa's --pvm-cpu-template), in its arg_parser's terms. */
enum arg_id {
        A_API_SOCK,
        A_BOOT_TIMER,
        A_BOOT_TIMELINE,
        A_CONFIG_FILE,
        A_DESCRIBE_SNAPSHOT,
        A_ENABLE_PCI,
        A_PAYLOAD,
        A_ID,
        A_LEVEL,
        A_LOG_PATH,
        A_METADATA,
        A_METRICS_PATH,
        A_MMDS_LIMIT,
        A_MODULE,
        A_NO_API,
        A_NO_PVM_ARGS,
        A_NO_SECCOMP,
        A_PARENT_CPU,
        A_PVM_TEMPLATE,
        A_SECCOMP_FILTER,
        A_SHOW_LEVEL,
        A_SHOW_ORIGIN,
        A_SNAPSHOT_VERSION,
        A_START_CPU,
        A_START_TIME,
        A_VERSION,
        A_COUNT
};

#define VALUE(n)                                                                                   \
        {                                                                                          \
                .name = n, .takes_value = true                                                     \
        }
#define SWITCH(n)                                                                                  \
        {                                                                                          \
                .name = n                                                                          \
        }

static struct arg_spec args[A_COUNT] = {
    [A_API_SOCK] = VALUE("api-sock"),
    [A_BOOT_TIMER] = SWITCH("boot-timer"),
    [A_BOOT_TIMELINE] = SWITCH("boot-timeline"),
    [A_CONFIG_FILE] = VALUE("config-file"),
    [A_DESCRIBE_SNAPSHOT] = VALUE("describe-snapshot"),
    [A_ENABLE_PCI] = SWITCH("enable-pci"),
    [A_PAYLOAD] = VALUE("http-api-max-payload-size"),
    [A_ID] = VALUE("id"),
    [A_LEVEL] = VALUE("level"),
    [A_LOG_PATH] = VALUE("log-path"),
    [A_METADATA] = VALUE("metadata"),
    [A_METRICS_PATH] = VALUE("metrics-path"),
    [A_MMDS_LIMIT] = VALUE("mmds-size-limit"),
    [A_MODULE] = VALUE("module"),
    [A_NO_API] = {.name = "no-api", .requires = "config-file"},
    [A_NO_PVM_ARGS] = SWITCH("no-pvm-boot-args"),
    [A_NO_SECCOMP] = {.name = "no-seccomp", .forbids = "seccomp-filter"},
    [A_PARENT_CPU] = VALUE("parent-cpu-time-us"),
    [A_PVM_TEMPLATE] = VALUE("pvm-cpu-template"),
    [A_SECCOMP_FILTER] = {.name = "seccomp-filter", .takes_value = true, .forbids = "no-seccomp"},
    [A_SHOW_LEVEL] = SWITCH("show-level"),
    [A_SHOW_ORIGIN] = SWITCH("show-log-origin"),
    [A_SNAPSHOT_VERSION] = SWITCH("snapshot-version"),
    [A_START_CPU] = VALUE("start-time-cpu-us"),
    [A_START_TIME] = VALUE("start-time-us"),
    [A_VERSION] = SWITCH("version"),
};

static const char *val(enum arg_id a)
{
        return args[a].value;
}

/* ParseArguments: returns 0, -1 after --help/--version, or 153. */
static int parse_cli(int argc, char **argv, struct fatal *f)
{
        char text[512], dbg[512];
        struct arg_fault af;
        int rc;

        rc = argparse(args, A_COUNT, argc, argv, NULL, &af);
        if (rc == ARGPARSE_HELP) {
                printf("Firecracker v%s\n\n%s", FC_COMPAT_VERSION, usage_text);
                fflush(stdout); /* before the exit line, which the logger writes to fd 1 */
                return -1;
        }
        if (rc == ARGPARSE_VERSION) {
                /* Firecracker's line alone first: version probes parse it. */
                printf("Firecracker v%s\nbrasa v%s\n", FC_COMPAT_VERSION, BRASA_VERSION);
                fflush(stdout);
                return -1;
        }
        if (rc == 0)
                return 0;
        arg_fault_text(&af, text, sizeof(text));
        arg_fault_debug(&af, dbg, sizeof(dbg));
        fail(f, VMM_EXIT_ARG_PARSING,
             "Arguments parsing error: %s \n\nFor more information try --help.", text);
        return fail_debug(f, "ParseArguments(%s)", dbg);
}

/*
 * --describe-snapshot FILE: the state file's format version, as --snapshot-version prints it.
 * The whole file is checked (size, magic, CRC) before its version is believed.
 */
static int describe_snapshot(const char *path, struct fatal *f)
{
        struct statefile *sf = malloc(sizeof(*sf));
        struct err e = ERR_INIT;
        char io[256], q[ERR_MSG_MAX + 64];
        uint8_t *buf = NULL;
        size_t len;
        int fd, rc;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || !sf) {
                rc = sf ? errno : ENOMEM;
                free(sf);
                text_io_error_debug(rc, io, sizeof(io));
                fail(f, VMM_EXIT_GENERIC,
                     "When printing Snapshot Data format: Unable to open snapshot state file: "
                     "%s (os error %d)",
                     strerror(rc), rc);
                return fail_debug(f, "PrintSnapshotDataFormat(OpenSnapshot(%s))", io);
        }
        close(fd);
        rc = vmm_read_file("snapshot file", path, STATEFILE_MAX_SIZE, &buf, &len, &e);
        if (!rc)
                rc = statefile_parse(buf, len, sf, &e);
        if (!rc)
                printf("v%u.0.0\n", sf->version);
        free(buf);
        free(sf);
        if (!rc)
                return -1;
        fail(f, VMM_EXIT_GENERIC,
             "When printing Snapshot Data format: Invalid data format version of snapshot "
             "file: %s",
             e.msg);
        return fail_debug(f, "PrintSnapshotDataFormat(SnapshotVersion(%s))",
                          quoted(e.msg, q, sizeof(q)));
}

/*
 * --snapshot-version and --describe-snapshot, after --help and --version as in main.rs: each
 * prints one line and ends the process. brasa's versions are its state file's (major.0.0).
 */
static int snapshot_flags(struct fatal *f)
{
        int rc = 0;

        if (args[A_SNAPSHOT_VERSION].present) {
                printf("v%u.0.0\n", STATEFILE_VERSION);
                rc = -1;
        } else if (args[A_DESCRIBE_SNAPSHOT].present) {
                rc = describe_snapshot(val(A_DESCRIBE_SNAPSHOT), f);
        }
        fflush(stdout); /* before the exit line, which the logger writes to fd 1 */
        return rc;
}

/* Rust's char Debug of the ASCII byte c, quotes included. */
static void char_debug(unsigned char c, char *buf, size_t len)
{
        static const char esc[] = {'\'', '\\', '\n', 'n', '\r', 'r', '\t', 't', '\0', '0'};
        size_t i;

        for (i = 0; i < sizeof(esc); i += 2) {
                if (c == (unsigned char)esc[i]) {
                        snprintf(buf, len, "'\\%c'", i < 4 ? esc[i] : esc[i + 1]);
                        return;
                }
        }
        if (c < 0x20 || c == 0x7f)
                snprintf(buf, len, "'\\u{%x}'", c);
        else
                snprintf(buf, len, "'%c'", c);
}

/* validate_instance_id(...).expect("Invalid instance ID"): a bad id is a panic. */
static void check_instance_id(const char *id)
{
        size_t i, pos = 0, n = strlen(id);
        char ch[16];

        if (n < 1 || n > 64)
                PANIC("Invalid instance ID: InvalidLen(%zu, 1, 64)", n);
        for (i = 0; i < n; i++) {
                unsigned char c = (unsigned char)id[i];

                if ((c & 0xc0) == 0x80)
                        continue; /* positions count characters, not bytes */
                if (c >= 0x80) {
                        int w = (int)utf8_seq_len((const unsigned char *)id + i, n - i);

                        PANIC("Invalid instance ID: InvalidChar('%.*s', %zu)", w ? w : 1, id + i,
                              pos);
                }
                if (!(isalnum(c) || c == '-')) {
                        char_debug(c, ch, sizeof(ch));
                        PANIC("Invalid instance ID: InvalidChar(%s, %zu)", ch, pos);
                }
                pos++;
        }
}

static int parse_level(const char *s, enum log_level *out)
{
        static const struct {
                const char *name;
                enum log_level level;
        } levels[] = {{"error", LOG_ERROR}, {"warning", LOG_WARN}, {"warn", LOG_WARN},
                      {"info", LOG_INFO},   {"debug", LOG_DEBUG},  {"trace", LOG_TRACE},
                      {"off", LOG_OFF}};
        size_t i;

        for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
                if (strcasecmp(s, levels[i].name) == 0) {
                        *out = levels[i].level;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_template_mode(const char *s, enum cpu_template_mode *out)
{
        if (strcmp(s, "auto") == 0)
                *out = CPU_TEMPLATE_AUTO;
        else if (strcmp(s, "on") == 0)
                *out = CPU_TEMPLATE_PVM_ON;
        else if (strcmp(s, "off") == 0)
                *out = CPU_TEMPLATE_PVM_OFF;
        else
                return -EINVAL;
        return 0;
}

/*
 * Rust's str::parse::<u64>(): an optional '+', then decimal digits. Returns NULL, or the
 * ParseIntError kind that Firecracker's expect() message shows.
 */
static const char *parse_rust_u64(const char *s, uint64_t *out)
{
        uint64_t v = 0;

        if (!*s)
                return "Empty";
        if (*s == '+' && s[1])
                s++;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return "InvalidDigit";
                if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
                        return "PosOverflow";
                v = v * 10 + (uint64_t)(*s - '0');
        }
        *out = v;
        return NULL;
}

/* main.rs's "'<name>' parameter expected to be of '<type>' type." expect()s. */
static uint64_t number_or_panic(enum arg_id a, const char *type)
{
        const char *kind;
        uint64_t v = 0;

        kind = parse_rust_u64(val(a), &v);
        if (kind)
                PANIC("'%s' parameter expected to be of '%s' type.: ParseIntError { kind: %s }",
                      args[a].name, type, kind);
        return v;
}

/* The values main_exec() takes before the logger: id, level, the log switches. */
static int take_log_args(struct cli *c, struct fatal *f)
{
        char q[256];

        c->id = val(A_ID);
        if (c->id)
                check_instance_id(c->id);
        if (val(A_LEVEL) && parse_level(val(A_LEVEL), &c->level)) {
                fail(f, VMM_EXIT_BAD_CONFIG,
                     "Invalid value for logger level: Failed to parse string to level filter: "
                     "%s.Possible values: [Error, Warning, Info, Debug]",
                     val(A_LEVEL));
                return fail_debug(f, "InvalidLogLevel(LevelFilterFromStrError(%s))",
                                  quoted(val(A_LEVEL), q, sizeof(q)));
        }
        c->log_path = val(A_LOG_PATH);
        c->module = val(A_MODULE);
        c->show_level = args[A_SHOW_LEVEL].present;
        c->show_origin = args[A_SHOW_ORIGIN].present;
        return 0;
}

/* The rest of the flags, in the order main.rs reads them (after the config file). */
static int take_run_args(struct cli *c, struct fatal *f)
{
        uint64_t v;

        c->vmm.boot_timer = args[A_BOOT_TIMER].present;
        c->vmm.no_pvm_boot_args = args[A_NO_PVM_ARGS].present;
        c->vmm.pci = args[A_ENABLE_PCI].present;
        c->no_api = args[A_NO_API].present;
        if (val(A_API_SOCK))
                c->api_sock = val(A_API_SOCK);
        if (val(A_PAYLOAD)) {
                v = number_or_panic(A_PAYLOAD, "usize");
                c->max_payload = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
        }
        /* main.rs: without --mmds-size-limit, the store gets the API's payload limit */
        c->mmds_limit = c->max_payload ? c->max_payload : HTTP_DEFAULT_PAYLOAD;
        if (val(A_MMDS_LIMIT))
                c->mmds_limit = number_or_panic(A_MMDS_LIMIT, "usize");
        if (!c->no_api) { /* run_with_api()'s ProcessTimeReporter arguments */
                if (val(A_START_TIME))
                        (void)number_or_panic(A_START_TIME, "u64");
                if (val(A_START_CPU))
                        (void)number_or_panic(A_START_CPU, "u64");
                if (val(A_PARENT_CPU))
                        (void)number_or_panic(A_PARENT_CPU, "u64");
        }
        if (val(A_PVM_TEMPLATE) && parse_template_mode(val(A_PVM_TEMPLATE), &c->vmm.pvm_template)) {
                fail(f, VMM_EXIT_ARG_PARSING,
                     "Arguments parsing error: invalid --pvm-cpu-template mode: %s (auto, on or "
                     "off) \n\nFor more information try --help.",
                     val(A_PVM_TEMPLATE));
                return fail_debug(f, "ParseArguments(InvalidValue(\"pvm-cpu-template\"))");
        }
        return 0;
}

/* LOGGER.update(): the log file first (nothing changes when it cannot be opened). */
static int setup_logging(const struct cli *c, struct fatal *f)
{
        char io[256];
        int rc;

        tzset(); /* log lines use local time; read the zone once, before threads and seccomp */
        if (c->id)
                log_set_instance_id(c->id);
        /* Firecracker's open_file_nonblock(): a FIFO without a reader is fine. */
        if (c->log_path && (rc = log_open_path(c->log_path))) {
                fail(f, VMM_EXIT_GENERIC,
                     "Could not initialize logger: Failed to open target file: %s (os error %d)",
                     strerror(-rc), -rc);
                text_io_error_debug(-rc, io, sizeof(io));
                return fail_debug(f, "LoggerInitialization(LoggerUpdateError(%s))", io);
        }
        log_set_level(c->level);
        log_set_format(c->show_level, c->show_origin);
        if (c->module)
                log_set_module(c->module);
        return 0;
}

static int setup_metrics(struct fatal *f)
{
        int rc;

        if (!val(A_METRICS_PATH) || !(rc = metrics_init(val(A_METRICS_PATH))))
                return 0;
        fail(f, VMM_EXIT_GENERIC,
             "Could not initialize metrics: Cannot initialize the metrics system due to bad user "
             "input: %s (os error %d)",
             strerror(-rc), -rc);
        return fail_debug(f, "MetricsInitialization(InitializationFailure(\"%s (os error %d)\"))",
                          strerror(-rc), -rc);
}

/* fs::read_to_string(): the whole file, which must be UTF-8. Returns 0 or -errno. */
static int read_text(const char *path, char **text, size_t *len)
{
        size_t cap = 4096, n = 0;
        char *buf = NULL, *nb;
        ssize_t r = 1;
        int fd, rc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        while (r > 0) {
                if (!buf || n == cap) {
                        nb = realloc(buf, buf ? (cap *= 2) + 1 : cap + 1);
                        if (!nb) {
                                rc = -ENOMEM;
                                break;
                        }
                        buf = nb;
                }
                r = read(fd, buf + n, cap - n);
                if (r < 0 && errno != EINTR)
                        rc = -errno;
                n += r > 0 ? (size_t)r : 0;
                r = r < 0 && errno == EINTR ? 1 : r;
        }
        close(fd);
        if (!rc && !utf8_valid(buf, n))
                rc = -EILSEQ;
        if (rc) {
                free(buf);
                return rc;
        }
        buf[n] = '\0';
        *text = buf;
        *len = n;
        return 0;
}

/* fs::read_to_string(...).expect("Unable to open or read from the configuration file"). */
static void read_config_or_panic(struct cli *c)
{
        char io[256];
        int rc;

        c->config_file = val(A_CONFIG_FILE);
        if (!c->config_file)
                return;
        rc = read_text(c->config_file, &c->config_text, &c->config_len);
        if (rc == -EILSEQ)
                PANIC("Unable to open or read from the configuration file: Error { kind: "
                      "InvalidData, message: \"stream did not contain valid UTF-8\" }");
        if (rc) {
                text_io_error_debug(-rc, io, sizeof(io));
                PANIC("Unable to open or read from the configuration file: %s", io);
        }
}

/* fs::read_to_string(...).expect("Unable to open or read from the mmds content file"). */
static void read_metadata_or_panic(struct cli *c)
{
        char io[256];
        int rc;

        if (!val(A_METADATA))
                return;
        rc = read_text(val(A_METADATA), &c->metadata_text, &c->metadata_len);
        if (rc == -EILSEQ)
                PANIC("Unable to open or read from the mmds content file: Error { kind: "
                      "InvalidData, message: \"stream did not contain valid UTF-8\" }");
        if (rc) {
                text_io_error_debug(-rc, io, sizeof(io));
                PANIC("Unable to open or read from the mmds content file: %s", io);
        }
}

/*
 * "Init the data store from file": Mmds::put_data(serde_json::from_str(..).expect(..)) into
 * *store. Invalid JSON is a panic; a store over the limit is -EFBIG with e set to the
 * MmdsDatastoreError's text.
 */
static int put_metadata(const struct cli *c, json_t **store, struct err *e)
{
        json_t *v = NULL;

        if (mmds_data_parse(c->metadata_text, c->metadata_len, &v, e))
                PANIC("MMDS error: metadata provided not valid json: %s", e->msg);
        if (mmds_json_size(v) > c->mmds_limit) {
                json_decref(v);
                return err_set(e, -EFBIG, "The MMDS patch request doesn't fit.");
        }
        json_decref(*store);
        *store = v;
        log_info("Successfully added metadata to mmds from file");
        return 0;
}

/* The config file's "logger" and "metrics", applied first as Firecracker's from_json() does. */
static int apply_file_logging(const struct vm_config *cfg, struct err *e)
{
        int rc;

        if (cfg->logger.present && (rc = api_apply_logger(&cfg->logger)))
                return err_set(e, rc, "Logger error: Failed to open target file: %s (os error %d)",
                               strerror(-rc), -rc);
        if (!cfg->metrics.present)
                return 0;
        rc = metrics_init(cfg->metrics.metrics_path);
        if (rc == -EALREADY)
                return err_set(e, rc,
                               "Metrics error: Cannot initialize the metrics system due to bad "
                               "user input: Reinitialization of metrics not allowed.");
        if (rc)
                return err_set(e, rc,
                               "Metrics error: Cannot initialize the metrics system due to bad "
                               "user input: %s (os error %d)",
                               strerror(-rc), -rc);
        return 0;
}

/* from_json()'s metadata step; the logger and metrics it found are applied before it logs. */
struct metadata_step {
        const struct cli *c;
        json_t **store;
        bool logging_done;
};

static int metadata_step(void *arg, const struct vm_config *cfg, struct err *e)
{
        struct metadata_step *m = arg;
        int rc;

        rc = apply_file_logging(cfg, e);
        if (rc)
                return rc;
        m->logging_done = true;
        rc = put_metadata(m->c, m->store, e);
        return rc ? err_prefix(e, "MMDS error: ") : 0;
}

/*
 * VmResources::from_json(): the text main() read, its logger and metrics, then the rest;
 * with --metadata, the MMDS data store goes to *mmds.
 */
static int load_config(const struct cli *c, struct vm_config *cfg, json_t **mmds, struct err *e)
{
        struct metadata_step m = {c, mmds, false};
        int rc;

        rc = config_parse_file_step(c->config_text, c->config_len, cfg,
                                    c->metadata_text ? metadata_step : NULL, &m, e);
        if (rc == 0 && !m.logging_done)
                rc = apply_file_logging(cfg, e);
        if (rc == 0)
                rc = config_check_supported(cfg, e);
        return rc;
}

/* Firecracker's FcExitCode names, as the Debug of MicroVMStoppedWithError shows them. */
static const char *exit_code_name(int code)
{
        static const struct {
                int code;
                const char *name;
        } names[] = {{1, "GenericError"},       {2, "UnexpectedError"}, {148, "BadSyscall"},
                     {149, "SIGBUS"},           {150, "SIGSEGV"},       {151, "SIGXFSZ"},
                     {152, "BadConfiguration"}, {153, "ArgParsing"},    {154, "SIGXCPU"},
                     {155, "SIGPIPE"},          {156, "SIGHUP"},        {157, "SIGILL"}};
        size_t i;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (names[i].code == code)
                        return names[i].name;
        return "GenericError";
}

/*
 * build_microvm_from_json()'s two failures, wrapped as run_with_api() (api) or
 * run_without_api() wraps them. boot: the file was read, the VM could not be built.
 */
static int fail_json(struct fatal *f, bool api, bool boot, const struct err *e)
{
        const char *what = boot ? "Could not Start MicroVM from one single json"
                                : "Configuration for VMM from one single json failed";
        char q[ERR_MSG_MAX + 16];

        fail(f, VMM_EXIT_GENERIC, "%s error: Failed to build MicroVM from Json: %s: %s",
             api ? "RunWithApiError" : "RunWithoutApiError", what, e->msg);
        f->hint = e->hint;
        return fail_debug(f, "%s(%s(%s(%s)))", api ? "RunWithApi" : "RunWithoutApiError",
                          api ? "BuildFromJson" : "BuildMicroVMFromJson",
                          boot ? "StartMicroVM" : "ParseFromJson", quoted(e->msg, q, sizeof(q)));
}

/*
 * The VMM loop ended with code: an error exit (1, 2) is main.rs's MicroVMStoppedWithError /
 * Shutdown; the signal codes end Firecracker in its handler, so they get the exit line only.
 */
static int fail_stopped(struct fatal *f, bool api, int code)
{
        f->code = code;
        if (code != VMM_EXIT_GENERIC && code != VMM_EXIT_UNEXPECTED)
                return code;
        if (api) {
                fail(f, code, "RunWithApiError error: MicroVM stopped with an error: %s",
                     exit_code_name(code));
                return fail_debug(f, "RunWithApi(MicroVMStoppedWithError(%s))",
                                  exit_code_name(code));
        }
        fail(f, code, "RunWithoutApiError error: MicroVMStopped without an error: %s",
             exit_code_name(code));
        return fail_debug(f, "RunWithoutApiError(Shutdown(%s))", exit_code_name(code));
}

/* A failure main.rs has no variant for (brasa's own set-up steps): exit 1, its text. */
static int fail_plain(struct fatal *f, const char *what, int rc)
{
        char q[256];

        fail(f, VMM_EXIT_GENERIC, "%s: %s", what, strerror(-rc));
        return fail_debug(f, "%s", quoted(f->text, q, sizeof(q)));
}

/*
 * brasa-jailer's readiness pipe (BRASA_READY_FD): the jailer's returning process waits until
 * this end closes. It is closed once the API socket accepts connections (or, with --no-api,
 * once the VM runs); a failure closes it by exiting.
 */
static int ready_fd = -1;

static void ready_take(void)
{
        const char *v = getenv("BRASA_READY_FD");
        struct stat st;
        char *end;
        long fd;

        if (!v)
                return;
        errno = 0;
        fd = strtol(v, &end, 10);
        unsetenv("BRASA_READY_FD");
        if (errno || *end || fd < 3 || fd > INT32_MAX || fstat((int)fd, &st) < 0 ||
            !S_ISFIFO(st.st_mode))
                return; /* not ours: leave that fd alone */
        ready_fd = (int)fd;
        (void)fcntl(ready_fd, F_SETFD, FD_CLOEXEC);
}

static void ready_signal(void)
{
        if (ready_fd >= 0)
                close(ready_fd);
        ready_fd = -1;
}

/* Set-up is over: from here the VMM thread only runs the loop, under its seccomp filter. */
static int confine_vmm_thread(struct fatal *f)
{
        int rc;

        log_set_thread_label("main"); /* Firecracker's VMM thread is its main thread */
        rc = seccomp_apply(SECCOMP_ROLE_VMM);
        return rc ? fail_plain(f, "Cannot install the seccomp filter of the VMM thread", rc) : 0;
}

/* Boots the VM of the config file (the --metadata store to *mmds, served by svc when the
 * file has an mmds-config); 0 or the exit code with f set. */
static int build_from_json(const struct cli *c, struct vmm *vmm, struct vm_config *cfg,
                           json_t **mmds, struct mmds_service *svc, struct fatal *f)
{
        struct err e = ERR_INIT;
        int rc;

        if (load_config(c, cfg, mmds, &e))
                return fail_json(f, !c->no_api, false, &e);
        vmm_prepare(vmm, cfg); /* the slow KVM ioctls overlap loading the kernel */
        if (cfg->mmds.present) {
                rc =
                    mmds_service_start(svc, mmds, &cfg->mmds, c->id ? c->id : "anonymous-instance");
                if (rc)
                        return fail_plain(f, "Cannot set up the MMDS token key", rc);
                vmm->mmds = svc;
        }
        if (vmm_boot(vmm, cfg, &e))
                return fail_json(f, !c->no_api, true, &e);
        metrics_flush_periodic(); /* the first line, as Firecracker's periodic writer's */
        log_info("Successfully started microvm that was configured from one single json");
        return 0;
}

/* run_without_api(). */
static int boot_from_config(const struct cli *c, struct fatal *f)
{
        static struct vmm vmm; /* large: keep it off the stack */
        struct vm_config cfg;
        json_t *mmds = NULL; /* the store no API serves: kept for its lifetime, as Firecracker */
        static struct mmds_service svc; /* the guest's view of that store */
        int rc;

        config_init(&cfg);
        rc = vmm_init(&vmm, &c->vmm);
        if (rc) {
                rc = fail_plain(f, "Cannot set up the VMM", rc);
                goto out;
        }
        /* As Firecracker's run_without_api(): a line once booted, with the devices in it,
         * then one every 60 s. */
        rc = vmm_metrics_start(&vmm);
        if (rc) {
                rc = fail_plain(f, "Cannot start the metrics timer", rc);
                goto out;
        }
        rc = build_from_json(c, &vmm, &cfg, &mmds, &svc, f);
        if (rc)
                goto out;
        ready_signal();
        rc = confine_vmm_thread(f);
        if (rc)
                goto out;
        rc = seccomp_narrow(SECCOMP_STAGE_RUN); /* the VM runs: set-up is over */
        if (rc) {
                rc = fail_plain(f, "Cannot narrow the seccomp filter of the VMM thread", rc);
                goto out;
        }
        rc = vmm_loop(&vmm);
        if (rc)
                rc = fail_stopped(f, false, rc);
out:
        vmm_destroy(&vmm);
        mmds_service_fini(&svc);
        config_free(&cfg);
        json_decref(mmds);
        return rc;
}

/* The API-mode process: everything run_with_api() sets up, torn down in reverse. */
struct api_run {
        struct vmm vmm;
        struct vm_config cfg;
        struct api_ctx ctx;
        struct api_server server;
};

/* HttpServer::new() failures: the socket in use, or another I/O error. */
static int fail_bind(struct fatal *f, const char *sock, const struct err *e, int rc)
{
        char q[256], io[256];

        fail(f, VMM_EXIT_GENERIC, "RunWithApiError error: %s", e->msg[0] ? e->msg : strerror(-rc));
        f->hint = e->hint;
        if (rc == -EADDRINUSE)
                return fail_debug(f, "RunWithApi(FailedToBindSocket(%s))",
                                  quoted(sock, q, sizeof(q)));
        text_io_error_debug(-rc, io, sizeof(io));
        return fail_debug(f, "RunWithApi(FailedToBindAndRunHttpServer(IOError(%s)))", io);
}

/* build_microvm_from_requests(): the --metadata store before the first request. */
static int api_put_metadata(const struct cli *c, struct api_run *r, struct fatal *f)
{
        struct err e = ERR_INIT;

        if (!c->metadata_text)
                return 0;
        r->ctx.mmds_exists = true;
        if (put_metadata(c, &r->ctx.mmds, &e) == 0)
                return 0;
        fail(f, VMM_EXIT_GENERIC,
             "RunWithApiError error: Failed to build MicroVM: Populating MMDS from file failed: "
             "%s.",
             e.msg);
        return fail_debug(f, "RunWithApi(BuildMicroVmError(PopulateMmds(DataStoreLimitExceeded)))");
}

static int api_setup(const struct cli *c, struct api_run *r, struct fatal *f)
{
        uint32_t payload = c->max_payload ? c->max_payload : HTTP_DEFAULT_PAYLOAD;
        struct err e = ERR_INIT;
        int rc;

        rc = vmm_init(&r->vmm, &c->vmm);
        if (rc)
                return fail_plain(f, "Cannot set up the VMM", rc);
        api_ctx_init(&r->ctx, &r->vmm, &r->cfg, c->id, c->mmds_limit);
        /* Device hooks for post-boot PATCH requests are set here as devices land. */
        r->ctx.hooks.update_drive = vmm_update_drive;
        r->ctx.hooks.update_net = vmm_update_net;
        r->ctx.hooks.update_pmem = vmm_update_pmem;
        r->ctx.hooks.balloon = vmm_balloon;
        r->ctx.hooks.mem_hotplug = vmm_mem_hotplug;
        rc = api_server_open(&r->server, c->api_sock, payload, &r->ctx, &r->vmm.loop, &e);
        if (rc)
                return fail_bind(f, c->api_sock, &e, rc);
        rc = vmm_metrics_start(&r->vmm);
        if (!rc)
                rc = api_server_start(&r->server);
        if (rc)
                return fail_plain(f, "Cannot start the API server", rc);
        ready_signal(); /* the socket takes connections from here on */
        timeline_mark(TL_API_READY);
        if (!c->config_text) {
                /* The VM and irqchip while the first requests come: the socket is up. */
                vmm_prepare(&r->vmm, NULL);
                return api_put_metadata(c, r, f);
        }
        /* --config-file with the API up: boot now, keep serving. */
        rc = build_from_json(c, &r->vmm, &r->cfg, &r->ctx.mmds, &r->ctx.mmds_svc, f);
        /* from_json() created the store for --metadata, or for mmds-config (Firecracker's
         * set_mmds_config() makes an empty one) */
        if (r->ctx.mmds || r->cfg.mmds.present)
                r->ctx.mmds_exists = true;
        if (rc)
                return rc;
        r->ctx.started = true;
        r->ctx.boot_path = true;
        return 0;
}

/* Firecracker's default mode: the API on a Unix socket, InstanceStart boots the VM. */
static int run_with_api(const struct cli *c, struct fatal *f)
{
        static struct api_run r; /* large: keep it off the stack */
        int rc;

        config_init(&r.cfg);
        rc = api_setup(c, &r, f);
        if (rc)
                goto out;
        rc = confine_vmm_thread(f);
        if (!rc && r.ctx.started) { /* booted from --config-file: set-up is over */
                rc = seccomp_narrow(SECCOMP_STAGE_API_RUN);
                if (rc)
                        rc =
                            fail_plain(f, "Cannot narrow the seccomp filter of the VMM thread", rc);
        }
        if (rc)
                goto out;
        r.server.serving = true;
        rc = vmm_loop(&r.vmm);
        if (rc && r.ctx.restore_failed) {
                fail(f, VMM_EXIT_GENERIC,
                     "RunWithApiError error: Failed to build MicroVM: Loading snapshot failed..");
                rc = fail_debug(f, "RunWithApi(BuildMicroVmError(Restore))");
        } else if (rc) {
                rc = fail_stopped(f, true, rc);
        }
out:
        api_server_close(&r.server);
        vmm_destroy(&r.vmm);
        api_ctx_fini(&r.ctx);
        config_free(&r.cfg);
        return rc;
}

/* Before any thread starts: every thread inherits no_new_privs and the SIGSYS handler. */
static int setup_seccomp(struct cli *c, struct fatal *f)
{
        struct err e = ERR_INIT;
        char q[ERR_MSG_MAX + 16];

        c->seccomp_filter = val(A_SECCOMP_FILTER);
        if (args[A_NO_SECCOMP].present)
                c->seccomp = SECCOMP_POLICY_OFF;
        if (c->seccomp_filter)
                c->seccomp = SECCOMP_POLICY_FILE;
        if (seccomp_setup(c->seccomp, c->seccomp_filter, &e) == 0)
                return 0;
        fail(f, VMM_EXIT_GENERIC, "Seccomp error: %s", e.msg);
        return fail_debug(f, "SeccompFilter(%s)", quoted(e.msg, q, sizeof(q)));
}

/* --boot-timeline: the phases of this start, one line (docs/usage.md, "Boot timeline"). */
static void log_timeline(void)
{
        char line[512];

        timeline_format(line, sizeof(line));
        log_info("%s", line);
}

/* main.rs's main_exec() from "Running Firecracker" on; 0 or the exit code with f set. */
static int run(struct cli *c, struct fatal *f)
{
        int rc;

        /* jansson seeds its hash from /dev/urandom on first use; do it before any sandboxing. */
        json_object_seed(0);
        /*
         * One malloc arena (brk) for every thread: glibc's first trim of a per-thread arena
         * opens /proc/sys/vm/overcommit_memory, which the API and vCPU filters forbid.
         */
        mallopt(M_ARENA_MAX, 1);
        rc = setup_metrics(f);
        if (!rc)
                rc = setup_seccomp(c, f);
        if (rc)
                return rc;
        read_config_or_panic(c);
        read_metadata_or_panic(c);
        rc = take_run_args(c, f);
        if (!rc)
                rc = c->no_api ? boot_from_config(c, f) : run_with_api(c, f);
        if (args[A_BOOT_TIMELINE].present)
                log_timeline();
        free(c->config_text);
        free(c->metadata_text);
        return rc;
}

/* Returned when brasa printed what was asked (brasa run --dry-run): no exit line follows. */
#define DONE_QUIET (-2)

/*
 * Splits `brasa run ...` (argv[1] is "run") into run's own flags, each with its value (to
 * rv: "run", then them) and everything else, brasa's flags for parse_cli() (to bv: argv[0],
 * then them). Everything from "--" on goes to run, which refuses it.
 */
static void split_run(int argc, char **argv, char **rv, int *rc_, char **bv, int *bc)
{
        struct arg_spec *a;
        int i, kind;

        rv[0] = argv[1];
        bv[0] = argv[0];
        *rc_ = *bc = 1;
        for (i = 2; i < argc; i++) {
                kind = -1;
                if (strcmp(argv[i], "--") == 0) {
                        while (i < argc)
                                rv[(*rc_)++] = argv[i++];
                        break;
                }
                if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
                        kind = 0;
                else if (strncmp(argv[i], "--", 2) == 0)
                        kind = run_args_flag(argv[i] + 2);
                if (kind >= 0) {
                        rv[(*rc_)++] = argv[i];
                        if (kind == 1 && i + 1 < argc)
                                rv[(*rc_)++] = argv[++i];
                        continue;
                }
                bv[(*bc)++] = argv[i];
                a = strncmp(argv[i], "--", 2) == 0 ? arg_find(args, A_COUNT, argv[i] + 2) : NULL;
                if (a && a->takes_value && i + 1 < argc)
                        bv[(*bc)++] = argv[++i];
        }
}

/* brasa run's own parse error: 153 with f set. */
static int fail_run(struct fatal *f, const char *msg)
{
        char q[ERR_MSG_MAX + 16];

        fail(f, VMM_EXIT_ARG_PARSING,
             "Arguments parsing error: brasa run: %s \n\nFor more information try brasa run "
             "--help.",
             msg);
        return fail_debug(f, "ParseArguments(RunArgs(%s))", quoted(msg, q, sizeof(q)));
}

/* brasa's flags that make no sense with run, among bv[1..bc) (before any "--"). */
static int refuse_in_run(int bc, char **bv, struct fatal *f)
{
        int i;

        for (i = 1; i < bc && strcmp(bv[i], "--") != 0; i++)
                if (strcmp(bv[i], "--config-file") == 0 || strcmp(bv[i], "--no-api") == 0)
                        return fail_run(f, "--config-file and --no-api are not for brasa run: it "
                                           "makes the configuration, and serves the API only "
                                           "with --api-sock");
        return 0;
}

/*
 * Run's flags (rv, rc_) into the config file they describe, as if given with --config-file,
 * with --no-api unless --api-sock. Returns 0, -1 after --help, DONE_QUIET after --dry-run, or
 * 153 with f set.
 */
static int take_run(int rc_, char **rv, struct cli *c, struct fatal *f)
{
        struct err e = ERR_INIT;
        struct run_args ra;
        int rc;

        rc = run_args_parse(rc_, rv, &ra, &e);
        if (rc == RUN_ARGS_HELP) {
                fputs(run_args_usage, stdout);
                fflush(stdout);
                return -1;
        }
        if (rc)
                return fail_run(f, e.msg);
        if (run_args_config(&ra, &c->config_text))
                return fail_plain(f, "brasa run: cannot build the configuration", -ENOMEM);
        c->config_len = strlen(c->config_text);
        if (ra.dry_run) {
                printf("%s\n", c->config_text);
                fflush(stdout);
                free(c->config_text);
                return DONE_QUIET;
        }
        args[A_NO_API].present = !ra.api_sock;
        args[A_API_SOCK].value = ra.api_sock;
        return 0;
}

/*
 * `brasa run ...`: brasa's own flags (--log-path, --level, --pvm-cpu-template, ...) as
 * parse_cli() takes them, then run's. Returns 0, -1 after --help or --version, DONE_QUIET
 * after --dry-run, or the exit code with f set.
 */
static int parse_run(int argc, char **argv, struct cli *c, struct fatal *f)
{
        char **rv = calloc((size_t)argc + 1, sizeof(*rv));
        char **bv = calloc((size_t)argc + 1, sizeof(*bv));
        int rc, nr, nb;

        if (!rv || !bv) {
                rc = fail_plain(f, "brasa run", -ENOMEM);
                goto out;
        }
        split_run(argc, argv, rv, &nr, bv, &nb);
        rc = refuse_in_run(nb, bv, f);
        /* The values argparse keeps point into argv's strings, not into rv or bv. */
        if (!rc)
                rc = parse_cli(nb, bv, f);
        if (!rc)
                rc = take_run(nr, rv, c, f);
out:
        free(rv);
        free(bv);
        return rc;
}

/* main_exec(): 0, -1 when --help/--version printed, or the exit code with f set. */
static int main_exec(int argc, char **argv, struct cli *c, struct fatal *f)
{
        int rc;

        /* First, while this is the only thread: every later one inherits the signal mask. */
        rc = signals_init();
        if (rc) {
                fail(f, VMM_EXIT_GENERIC, "Failed to register signal handlers: %s (os error %d)",
                     strerror(-rc), -rc);
                return fail_debug(f, "RegisterSignalHandlers(Error(%d))", -rc);
        }
        if (argc > 1 && strcmp(argv[1], "run") == 0)
                rc = parse_run(argc, argv, c, f);
        else
                rc = parse_cli(argc, argv, f);
        if (!rc)
                rc = snapshot_flags(f);
        if (!rc)
                rc = take_log_args(c, f);
        if (!rc)
                rc = setup_logging(c, f);
        if (rc)
                return rc;
        log_info("Running Firecracker v%s", FC_COMPAT_VERSION);
        return run(c, f);
}

/*
 * main.rs's main(): an error is logged, written to stderr as "Error: <Debug>", then the exit
 * line Firecracker's tooling parses.
 */
/* The exit line (and on failure the error), as main.rs; returns the exit code. */
static int main_finish(int rc, const struct fatal *f)
{
        if (rc == DONE_QUIET)
                return 0;
        if (rc <= 0) {
                log_info("Firecracker exiting successfully. exit_code=0");
                return 0;
        }
        if (f->text[0]) {
                /* Before the error: tools read Firecracker's error and exit lines as the last. */
                if (f->hint)
                        log_error("Hint: %s", f->hint);
                log_error("%s", f->text);
                fprintf(stderr, "Error: %s\n", f->debug);
        }
        log_error("Firecracker exiting with error. exit_code=%d", rc);
        return rc;
}

int main(int argc, char **argv)
{
        struct cli c = {.api_sock = "/run/firecracker.socket", .level = LOG_INFO};
        static struct fatal f;
        int rc;

        timeline_start();
        ready_take();
        /* Log lines and the console never wait on a stdout nobody reads. */
        log_set_fd(outfd_stdout());
        rc = main_finish(main_exec(argc, argv, &c, &f), &f);
        outfd_restore();
        return rc;
}
