/* brasa entry point: parse the command line, boot from a config file, map errors to exit codes. */
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
#include <unistd.h>

#include "api/server.h"
#include "core/log.h"
#include "core/metrics.h"
#include "seccomp/seccomp.h"
#include "model/config.h"
#include "vmm/signals.h"
#include "vmm/vmm.h"
#include "vmm/vmm_boot.h"

#define FC_COMPAT_VERSION "1.16.1"
#define CONFIG_FILE_MAX   (1u << 20)

struct cli {
        const char *config_file;
        const char *api_sock;
        const char *id;
        const char *log_path;
        const char *metrics_path;
        const char *module;
        enum log_level level;
        bool show_level, show_origin;
        uint32_t max_payload; /* --http-api-max-payload-size */
        uint64_t mmds_limit;  /* --mmds-size-limit; 0 = the payload limit */
        bool no_api;
        enum seccomp_policy seccomp;
        const char *seccomp_filter;
        struct vmm_opts vmm;
};

static const char usage_text[] =
    "Usage: brasa [OPTIONS]\n"
    "  --api-sock PATH            API socket path (default /run/firecracker.socket)\n"
    "  --config-file PATH         boot the microVM described by this JSON file\n"
    "  --no-api                   do not start the API server (needs --config-file)\n"
    "  --id ID                    instance id, 1-64 chars of [A-Za-z0-9-]\n"
    "  --boot-timer               attach the boot-timer device at 0xc0000000\n"
    "  --log-path PATH            write the log to PATH instead of stdout\n"
    "  --level LEVEL              Error, Warning, Info (default), Debug, Trace or Off\n"
    "  --show-level, --show-log-origin  add the level / the source file:line to log lines\n"
    "  --module PREFIX            log only lines from source files under PREFIX\n"
    "  --metrics-path PATH        write metrics (one JSON line per flush) to PATH\n"
    "  --http-api-max-payload-size BYTES  largest API request body (default 51200)\n"
    "  --mmds-size-limit BYTES    largest MMDS data store (default: the payload limit)\n"
    "  --pvm-cpu-template MODE    auto (default), on or off: hide the CPU features that\n"
    "                             a kvm_pvm host cannot emulate\n"
    "  --no-seccomp               do not install the per-thread seccomp filters\n"
    "  --seccomp-filter FILE      install the filters of FILE instead of the built-in ones\n"
    "                             (format: docs/security.md; brasa-seccomp-gen bin)\n"
    "  --start-time-us US, --start-time-cpu-us US, --parent-cpu-time-us US\n"
    "                             passed by the jailer; accepted and not used yet\n"
    "  --version                  print the version and exit\n"
    "  --help                     print this help and exit\n";

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "brasa: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n%s", usage_text);
        return VMM_EXIT_ARG_PARSING;
}

static bool valid_instance_id(const char *id)
{
        size_t i, n = strlen(id);

        if (n == 0 || n > 64)
                return false;
        for (i = 0; i < n; i++) {
                char c = id[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-'))
                        return false;
        }
        return true;
}

/* The jailer's timestamps: decimal microseconds. */
static bool valid_u64(const char *s)
{
        char *end;

        errno = 0;
        if (*s < '0' || *s > '9')
                return false;
        (void)strtoull(s, &end, 10);
        return errno == 0 && *end == '\0';
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

/* Flags that take a value: --flag VALUE or --flag=VALUE. */
static const char *const value_flags[] = {"--api-sock",
                                          "--config-file",
                                          "--id",
                                          "--log-path",
                                          "--level",
                                          "--pvm-cpu-template",
                                          "--metrics-path",
                                          "--http-api-max-payload-size",
                                          "--seccomp-filter",
                                          "--start-time-us",
                                          "--start-time-cpu-us",
                                          "--parent-cpu-time-us",
                                          "--mmds-size-limit",
                                          "--module"};

static bool takes_value(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof(value_flags) / sizeof(value_flags[0]); i++)
                if (strcmp(name, value_flags[i]) == 0)
                        return true;
        return false;
}

/* A byte count: decimal digits only, at most max. */
static int parse_size(const char *s, uint64_t max, uint64_t *out)
{
        char *end;

        errno = 0;
        if (*s < '0' || *s > '9')
                return -EINVAL;
        *out = strtoull(s, &end, 10);
        return errno || *end || *out > max ? -EINVAL : 0;
}

/* The API and logging flags (Firecracker's names and semantics). */
static int apply_api_value(struct cli *c, const char *name, const char *val)
{
        uint64_t v;

        if (strcmp(name, "--metrics-path") == 0) {
                c->metrics_path = val;
        } else if (strcmp(name, "--module") == 0) {
                c->module = val;
        } else if (strcmp(name, "--http-api-max-payload-size") == 0) {
                if (parse_size(val, UINT32_MAX, &v))
                        return usage_error("invalid value for %s: %s", name, val);
                c->max_payload = (uint32_t)v;
        } else if (strcmp(name, "--mmds-size-limit") == 0) {
                if (parse_size(val, UINT64_MAX, &c->mmds_limit))
                        return usage_error("invalid value for %s: %s", name, val);
        } else {
                return usage_error("%s is not supported yet by brasa", name);
        }
        return 0;
}

static int apply_value(struct cli *c, const char *name, const char *val)
{
        if (strcmp(name, "--api-sock") == 0)
                c->api_sock = val;
        else if (strcmp(name, "--config-file") == 0)
                c->config_file = val;
        else if (strcmp(name, "--id") == 0)
                c->id = val;
        else if (strcmp(name, "--log-path") == 0)
                c->log_path = val;
        else if (strcmp(name, "--level") == 0)
                return parse_level(val, &c->level) ? usage_error("invalid log level: %s", val) : 0;
        else if (strcmp(name, "--seccomp-filter") == 0)
                c->seccomp_filter = val;
        else if (strncmp(name, "--start-time", 12) == 0 ||
                 strcmp(name, "--parent-cpu-time-us") == 0)
                return valid_u64(val) ? 0 : usage_error("invalid value for %s: %s", name, val);
        else if (strcmp(name, "--pvm-cpu-template") == 0)
                return parse_template_mode(val, &c->vmm.pvm_template)
                           ? usage_error("invalid --pvm-cpu-template mode: %s", val)
                           : 0;
        else
                return apply_api_value(c, name, val);
        return 0;
}

static int apply_switch(struct cli *c, const char *name)
{
        if (strcmp(name, "--no-api") == 0)
                c->no_api = true;
        else if (strcmp(name, "--boot-timer") == 0)
                c->vmm.boot_timer = true;
        else if (strcmp(name, "--no-seccomp") == 0)
                c->seccomp = SECCOMP_POLICY_OFF;
        else if (strcmp(name, "--show-level") == 0)
                c->show_level = true;
        else if (strcmp(name, "--show-log-origin") == 0)
                c->show_origin = true;
        else
                return usage_error("unknown argument: %s", name);
        return 0;
}

/* Returns 0 to go on, -1 when --help/--version was handled, or an exit code. */
static int parse_args(int argc, char **argv, struct cli *c)
{
        int i, rc;

        for (i = 1; i < argc; i++) {
                char name[64];
                const char *arg = argv[i], *eq = strchr(arg, '='), *val = NULL;

                if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
                        fputs(usage_text, stdout);
                        return -1;
                }
                if (strcmp(arg, "--version") == 0) {
                        /* Firecracker's line alone first: version probes parse it. */
                        printf("Firecracker v%s\nbrasa v%s\n", FC_COMPAT_VERSION, BRASA_VERSION);
                        return -1;
                }
                snprintf(name, sizeof(name), "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
                if (!takes_value(name)) {
                        rc = eq ? usage_error("argument %s takes no value", arg)
                                : apply_switch(c, name);
                } else {
                        val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
                        rc = val ? apply_value(c, name, val)
                                 : usage_error("argument %s needs a value", name);
                }
                if (rc)
                        return rc;
        }
        return 0;
}

static int check_args(const struct cli *c)
{
        if (c->id && !valid_instance_id(c->id))
                return usage_error("invalid instance id: %s", c->id);
        if (c->no_api && !c->config_file)
                return usage_error("%s", "--no-api requires --config-file");
        if (c->seccomp_filter && c->seccomp == SECCOMP_POLICY_OFF)
                return usage_error("%s",
                                   "--seccomp-filter and --no-seccomp cannot be used together");
        return 0;
}

static int setup_logging(const struct cli *c)
{
        int rc;

        tzset(); /* log lines use local time; read the zone once, before threads and seccomp */
        log_set_level(c->level);
        log_set_format(c->show_level, c->show_origin);
        log_set_module(c->module);
        if (c->id)
                log_set_instance_id(c->id);
        if (c->metrics_path && (rc = metrics_init(c->metrics_path))) {
                fprintf(stderr, "brasa: cannot open metrics file %s: %s\n", c->metrics_path,
                        strerror(-rc));
                return VMM_EXIT_ARG_PARSING;
        }
        if (!c->log_path)
                return 0;
        /* Firecracker's open_file_nonblock(): a FIFO without a reader is fine. */
        rc = log_open_path(c->log_path);
        if (rc) {
                fprintf(stderr, "brasa: cannot open log file %s: %s\n", c->log_path, strerror(-rc));
                return VMM_EXIT_ARG_PARSING;
        }
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

/* Firecracker's BuildFromJsonError::StartMicroVM, after its caller's own words. */
#define BOOT_FAILED "Could not Start MicroVM from one single json: %s"

static int load_config(const char *path, struct vm_config *cfg)
{
        struct err e = ERR_INIT;
        uint8_t *text;
        size_t len;
        int rc;

        rc = vmm_read_file("config file", path, CONFIG_FILE_MAX, &text, &len, &e);
        if (rc == 0) {
                rc = config_parse_file((const char *)text, len, cfg, &e);
                free(text);
        }
        if (rc == 0)
                rc = apply_file_logging(cfg, &e);
        if (rc == 0)
                rc = config_check_supported(cfg, &e);
        if (rc)
                log_error("Configuration for VMM from one single json failed: %s", e.msg);
        return rc;
}

/* Set-up is over: from here the VMM thread only runs the loop, under its seccomp filter. */
static int confine_vmm_thread(void)
{
        int rc;

        log_set_thread_label("main"); /* Firecracker's VMM thread is its main thread */
        rc = seccomp_apply(SECCOMP_ROLE_VMM);
        if (rc) {
                log_error("Cannot install the seccomp filter of the VMM thread: %s", strerror(-rc));
                return VMM_EXIT_GENERIC;
        }
        return 0;
}

static int boot_from_config(const struct cli *c)
{
        static struct vmm vmm; /* large: keep it off the stack */
        struct vm_config cfg;
        struct err e = ERR_INIT;
        int rc;

        config_init(&cfg);
        if (load_config(c->config_file, &cfg)) {
                config_free(&cfg);
                return VMM_EXIT_BAD_CONFIG;
        }
        rc = vmm_init(&vmm, &c->vmm);
        if (rc) {
                log_error("Cannot set up the VMM: %s", strerror(-rc));
                rc = VMM_EXIT_GENERIC;
                goto out;
        }
        rc = vmm_boot(&vmm, &cfg, &e);
        if (rc) {
                log_error(
                    "RunWithoutApiError error: Failed to build MicroVM from Json: " BOOT_FAILED,
                    e.msg);
                rc = VMM_EXIT_BAD_CONFIG;
                goto out;
        }
        /* As Firecracker's run_without_api(): a line now, then one every 60 s. */
        rc = vmm_metrics_start(&vmm);
        if (rc) {
                log_error("Cannot start the metrics timer: %s", strerror(-rc));
                rc = VMM_EXIT_GENERIC;
                goto out;
        }
        metrics_flush();
        rc = confine_vmm_thread();
        if (rc)
                goto out;
        log_info("Successfully started microvm that was configured from one single json");
        rc = vmm_loop(&vmm);
out:
        vmm_destroy(&vmm);
        config_free(&cfg);
        return rc;
}

/* The API-mode process: everything run_with_api() sets up, torn down in reverse. */
struct api_run {
        struct vmm vmm;
        struct vm_config cfg;
        struct api_ctx ctx;
        struct api_server server;
};

/* --config-file with the API up: boot now, keep serving (exit 152 if the file is bad). */
static int api_boot_from_file(const struct cli *c, struct api_run *r)
{
        struct err e = ERR_INIT;

        if (load_config(c->config_file, &r->cfg))
                return VMM_EXIT_BAD_CONFIG;
        if (vmm_boot(&r->vmm, &r->cfg, &e)) {
                log_error("RunWithApiError error: Failed to build MicroVM from Json: " BOOT_FAILED,
                          e.msg);
                return VMM_EXIT_BAD_CONFIG;
        }
        r->ctx.started = true;
        r->ctx.boot_path = true;
        metrics_flush();
        log_info("Successfully started microvm that was configured from one single json");
        return 0;
}

static int api_setup(const struct cli *c, struct api_run *r)
{
        uint32_t payload = c->max_payload ? c->max_payload : HTTP_DEFAULT_PAYLOAD;
        struct err e = ERR_INIT;
        int rc;

        rc = vmm_init(&r->vmm, &c->vmm);
        if (rc) {
                log_error("Cannot set up the VMM: %s", strerror(-rc));
                return VMM_EXIT_GENERIC;
        }
        api_ctx_init(&r->ctx, &r->vmm, &r->cfg, c->id, c->mmds_limit ? c->mmds_limit : payload);
        /* Device hooks for post-boot PATCH requests are set here as devices land. */
        r->ctx.hooks.update_drive = vmm_update_drive;
        r->ctx.hooks.update_net = vmm_update_net;
        rc = api_server_open(&r->server, c->api_sock, payload, &r->ctx, &r->vmm.loop, &e);
        if (!rc)
                rc = vmm_metrics_start(&r->vmm);
        if (!rc)
                rc = api_server_start(&r->server);
        if (rc) {
                log_error("%s", e.msg[0] ? e.msg : strerror(-rc));
                return VMM_EXIT_GENERIC;
        }
        return c->config_file ? api_boot_from_file(c, r) : 0;
}

/* Firecracker's default mode: the API on a Unix socket, InstanceStart boots the VM. */
static int run_with_api(const struct cli *c)
{
        static struct api_run r; /* large: keep it off the stack */
        int rc;

        config_init(&r.cfg);
        rc = api_setup(c, &r);
        if (rc)
                goto out;
        rc = confine_vmm_thread();
        if (rc)
                goto out;
        r.server.serving = true;
        rc = vmm_loop(&r.vmm);
out:
        api_server_close(&r.server);
        vmm_destroy(&r.vmm);
        api_ctx_fini(&r.ctx);
        config_free(&r.cfg);
        return rc;
}

/* Before any thread starts: every thread inherits no_new_privs and the SIGSYS handler. */
static int setup_seccomp(struct cli *c)
{
        struct err e = ERR_INIT;

        if (c->seccomp_filter)
                c->seccomp = SECCOMP_POLICY_FILE;
        if (seccomp_setup(c->seccomp, c->seccomp_filter, &e) == 0)
                return 0;
        log_error("Seccomp error: %s", e.msg);
        return VMM_EXIT_GENERIC;
}

/* Firecracker's last log line, which its tooling parses for the exit code. */
static int log_exit(int rc)
{
        if (rc == 0)
                log_info("Firecracker exiting successfully. exit_code=0");
        else
                log_error("Firecracker exiting with error. exit_code=%d", rc);
        return rc;
}

/* Everything after the logger is set up; returns the exit code. */
static int run(struct cli *c)
{
        int rc;

        /* jansson seeds its hash from /dev/urandom on first use; do it before any sandboxing. */
        json_object_seed(0);
        /*
         * One malloc arena (brk) for every thread: glibc's first trim of a per-thread arena
         * opens /proc/sys/vm/overcommit_memory, which the API and vCPU filters forbid.
         */
        mallopt(M_ARENA_MAX, 1);
        rc = setup_seccomp(c);
        if (rc)
                return rc;
        if (!c->no_api)
                return run_with_api(c);
        return boot_from_config(c);
}

int main(int argc, char **argv)
{
        struct cli c = {.api_sock = "/run/firecracker.socket", .level = LOG_INFO};
        int rc;

        log_set_fd(STDOUT_FILENO);
        /* First, while this is the only thread: every later one inherits the signal mask. */
        rc = signals_init();
        if (rc) {
                fprintf(stderr, "brasa: cannot set up signal handling: %s\n", strerror(-rc));
                return VMM_EXIT_GENERIC;
        }
        rc = parse_args(argc, argv, &c);
        if (rc)
                return rc < 0 ? 0 : rc;
        rc = check_args(&c);
        if (rc)
                return rc;
        rc = setup_logging(&c);
        if (rc)
                return rc;
        log_info("Running Firecracker v%s", FC_COMPAT_VERSION);
        return log_exit(run(&c));
}
