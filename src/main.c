/* brasa entry point: parse the command line, boot from a config file, map errors to exit codes. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "vmm/config.h"
#include "vmm/vmm.h"
#include "vmm/vmm_boot.h"

#define FC_COMPAT_VERSION "1.16.1"
#define CONFIG_FILE_MAX   (1u << 20)

struct cli {
        const char *config_file;
        const char *api_sock;
        const char *id;
        const char *log_path;
        enum log_level level;
        bool no_api;
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
    "  --show-level, --show-log-origin  accepted for compatibility\n"
    "  --pvm-cpu-template MODE    auto (default), on or off: hide the CPU features that\n"
    "                             a kvm_pvm host cannot emulate\n"
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
static const char *const value_flags[] = {
    "--api-sock", "--config-file",      "--id",           "--log-path",
    "--level",    "--pvm-cpu-template", "--metrics-path", "--http-api-max-payload-size"};

static bool takes_value(const char *name)
{
        size_t i;

        for (i = 0; i < sizeof(value_flags) / sizeof(value_flags[0]); i++)
                if (strcmp(name, value_flags[i]) == 0)
                        return true;
        return false;
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
        else if (strcmp(name, "--pvm-cpu-template") == 0)
                return parse_template_mode(val, &c->vmm.pvm_template)
                           ? usage_error("invalid --pvm-cpu-template mode: %s", val)
                           : 0;
        else
                return usage_error("%s is not supported yet by brasa", name);
        return 0;
}

static int apply_switch(struct cli *c, const char *name)
{
        if (strcmp(name, "--no-api") == 0)
                c->no_api = true;
        else if (strcmp(name, "--boot-timer") == 0)
                c->vmm.boot_timer = true;
        else if (strcmp(name, "--show-level") == 0 || strcmp(name, "--show-log-origin") == 0)
                return 0;
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
                        printf("Firecracker v%s (brasa v%s)\n", FC_COMPAT_VERSION, BRASA_VERSION);
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
        return 0;
}

static int setup_logging(const struct cli *c)
{
        int fd;

        log_set_level(c->level);
        if (c->id)
                log_set_instance_id(c->id);
        if (!c->log_path)
                return 0;
        fd = open(c->log_path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
        if (fd < 0) {
                fprintf(stderr, "brasa: cannot open log file %s: %s\n", c->log_path,
                        strerror(errno));
                return VMM_EXIT_ARG_PARSING;
        }
        log_set_fd(fd);
        return 0;
}

static int load_config(const char *path, struct vm_config *cfg)
{
        char err[512] = "";
        uint8_t *text;
        size_t len;
        int rc;

        rc = vmm_read_file("config file", path, CONFIG_FILE_MAX, &text, &len, err, sizeof(err));
        if (rc == 0) {
                rc = config_parse_file((const char *)text, len, cfg, err, sizeof(err));
                free(text);
        }
        if (rc)
                log_error("Configuration for VMM from one single json failed: %s", err);
        return rc;
}

static int boot_from_config(const struct cli *c)
{
        static struct vmm vmm; /* large: keep it off the stack */
        struct vm_config cfg;
        char err[512] = "";
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
        rc = vmm_boot(&vmm, &cfg, err, sizeof(err));
        if (rc) {
                log_error("Building VMM configured from cmdline json failed: %s", err);
                rc = VMM_EXIT_BAD_CONFIG;
                goto out;
        }
        log_info("Successfully started microvm that was configured from one single json");
        rc = vmm_loop(&vmm);
        log_info("Brasa exiting with code %d", rc);
out:
        vmm_destroy(&vmm);
        config_free(&cfg);
        return rc;
}

int main(int argc, char **argv)
{
        struct cli c = {.api_sock = "/run/firecracker.socket", .level = LOG_INFO};
        int rc;

        log_set_fd(STDOUT_FILENO);
        rc = parse_args(argc, argv, &c);
        if (rc)
                return rc < 0 ? 0 : rc;
        rc = check_args(&c);
        if (rc)
                return rc;
        rc = setup_logging(&c);
        if (rc)
                return rc;
        /* Like Firecracker (Rust ignores it): a vanished console reader must not kill the VMM. */
        signal(SIGPIPE, SIG_IGN);
        /* jansson seeds its hash from /dev/urandom on first use; do it before any sandboxing. */
        json_object_seed(0);
        if (!c.no_api) {
                log_error("The API server is not implemented yet: run with --no-api "
                          "--config-file PATH");
                return VMM_EXIT_GENERIC;
        }
        return boot_from_config(&c);
}
