/* `brasa run`: the one-line way to start a VM, turned into the same JSON as --config-file. */
#include "model/run_args.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/argparse.h"

const char run_args_usage[] =
    "Usage: brasa run --kernel PATH [--initrd PATH] [--rootfs PATH] [--cpus N] [--mem MIB]\n"
    "                 [--tap NAME [--mac MAC]] [--cmdline ARGS] [--api-sock PATH] [--dry-run]\n"
    "Starts a microVM without a config file: the flags make the JSON of --config-file\n"
    "(--dry-run prints it and exits). Without --api-sock there is no API server.\n"
    "  --kernel PATH     guest kernel: ELF vmlinux or bzImage (required)\n"
    "  --initrd PATH     initrd or initramfs\n"
    "  --rootfs PATH     root filesystem image: read-write virtio-block root, /dev/vda\n"
    "  --cpus N          vCPUs, 1 to 32 (default 1)\n"
    "  --mem MIB         guest memory in MiB (default 128)\n"
    "  --tap NAME        an existing tap device (ip tuntap add NAME mode tap) as eth0\n"
    "  --mac MAC         eth0's guest MAC, such as 06:00:AC:10:00:02 (needs --tap)\n"
    "  --cmdline ARGS    kernel boot_args (default \"" RUN_ARGS_DEFAULT_CMDLINE "\")\n"
    "  --api-sock PATH   also serve the REST API on PATH (must not exist)\n"
    "  --dry-run         print the configuration and exit\n"
    "brasa's own flags (--log-path, --level, --id, --pvm-cpu-template, --no-pvm-boot-args,\n"
    "--no-seccomp, ...) go with them, except --config-file and --no-api.\n"
    "Exit codes: those of brasa; 153 for a bad flag of brasa run. Docs: man brasa.\n";

enum {
        R_API_SOCK,
        R_CMDLINE,
        R_CPUS,
        R_DRY_RUN,
        R_INITRD,
        R_KERNEL,
        R_MAC,
        R_MEM,
        R_ROOTFS,
        R_TAP,
        R_COUNT
};

/* brasa run's own flags; argparse() fills a copy. */
static const struct arg_spec run_specs[R_COUNT] = {
    [R_API_SOCK] = {.name = "api-sock", .takes_value = true},
    [R_CMDLINE] = {.name = "cmdline", .takes_value = true},
    [R_CPUS] = {.name = "cpus", .takes_value = true},
    [R_DRY_RUN] = {.name = "dry-run"},
    [R_INITRD] = {.name = "initrd", .takes_value = true},
    [R_KERNEL] = {.name = "kernel", .takes_value = true},
    [R_MAC] = {.name = "mac", .takes_value = true},
    [R_MEM] = {.name = "mem", .takes_value = true},
    [R_ROOTFS] = {.name = "rootfs", .takes_value = true},
    [R_TAP] = {.name = "tap", .takes_value = true},
};

int run_args_flag(const char *name)
{
        size_t i;

        for (i = 0; i < R_COUNT; i++)
                if (strcmp(run_specs[i].name, name) == 0)
                        return run_specs[i].takes_value ? 1 : 0;
        return -1;
}

/* A decimal number in [min, max], or -EINVAL. */
static int parse_num(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (max - (uint64_t)(*s - '0')) / 10)
                        return -EINVAL;
                v = v * 10 + (uint64_t)(*s - '0');
        }
        if (v < min)
                return -EINVAL;
        *out = v;
        return 0;
}

/* Six hex byte pairs separated by ':', as Firecracker's MacAddr parses them. */
static bool mac_ok(const char *s)
{
        int i;

        for (i = 0; i < 17; i++) {
                if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
                        return false;
        }
        return s[17] == '\0';
}

/* The values of the parsed table; -EINVAL with e for a bad one. */
static int take_values(const struct arg_spec *a, struct run_args *ra, struct err *e)
{
        uint64_t v;

        ra->kernel = a[R_KERNEL].value;
        ra->initrd = a[R_INITRD].value;
        ra->rootfs = a[R_ROOTFS].value;
        ra->tap = a[R_TAP].value;
        ra->mac = a[R_MAC].value;
        ra->api_sock = a[R_API_SOCK].value;
        ra->dry_run = a[R_DRY_RUN].present;
        ra->cmdline = a[R_CMDLINE].value ? a[R_CMDLINE].value : RUN_ARGS_DEFAULT_CMDLINE;
        if (!ra->kernel)
                return err_set(e, -EINVAL, "--kernel PATH is required");
        if (a[R_CPUS].value && parse_num(a[R_CPUS].value, 1, 32, &v))
                return err_set(e, -EINVAL, "--cpus: expected a number from 1 to 32, got '%s'",
                               a[R_CPUS].value);
        ra->cpus = a[R_CPUS].value ? (unsigned int)v : 1;
        if (a[R_MEM].value && parse_num(a[R_MEM].value, 1, UINT64_MAX >> 20, &v))
                return err_set(e, -EINVAL,
                               "--mem: expected a size in MiB (a number from 1), got '%s'",
                               a[R_MEM].value);
        ra->mem_mib = a[R_MEM].value ? v : 128;
        if (ra->mac && !ra->tap)
                return err_set(e, -EINVAL, "--mac needs --tap: it is the MAC of that interface");
        if (ra->mac && !mac_ok(ra->mac))
                return err_set(e, -EINVAL,
                               "--mac: expected six hex bytes such as 06:00:AC:10:00:02, got '%s'",
                               ra->mac);
        return 0;
}

int run_args_parse(int argc, char **argv, struct run_args *ra, struct err *e)
{
        struct arg_spec a[R_COUNT];
        struct arg_fault af;
        char text[256];
        int rc, extra;

        memcpy(a, run_specs, sizeof(a));
        memset(ra, 0, sizeof(*ra));
        rc = argparse(a, R_COUNT, argc, argv, &extra, &af);
        if (rc == ARGPARSE_HELP)
                return RUN_ARGS_HELP;
        if (rc == ARGPARSE_VERSION)
                return err_set(e, -EINVAL, "--version is not a flag of brasa run");
        if (rc) {
                arg_fault_text(&af, text, sizeof(text));
                return err_set(e, -EINVAL, "%s", text);
        }
        if (extra < argc) /* "--" and what follows: run has no use for it */
                return err_set(e, -EINVAL, "unexpected argument '%s' after --", argv[extra]);
        return take_values(a, ra, e);
}

/* boot-source and machine-config; NULL when out of memory. */
static json_t *boot_and_machine(const struct run_args *ra)
{
        json_t *boot =
            json_pack("{s:s, s:s}", "kernel_image_path", ra->kernel, "boot_args", ra->cmdline);

        if (boot && ra->initrd && json_object_set_new(boot, "initrd_path", json_string(ra->initrd)))
                json_decref(boot), boot = NULL;
        if (!boot)
                return NULL;
        return json_pack("{s:o, s:{s:I, s:I}}", "boot-source", boot, "machine-config", "vcpu_count",
                         (json_int_t)ra->cpus, "mem_size_mib", (json_int_t)ra->mem_mib);
}

/* The drives and network-interfaces that --rootfs and --tap ask for, into cfg. */
static int devices(const struct run_args *ra, json_t *cfg)
{
        json_t *d, *n;

        if (ra->rootfs) {
                d = json_pack("[{s:s, s:s, s:b, s:b}]", "drive_id", "rootfs", "path_on_host",
                              ra->rootfs, "is_root_device", 1, "is_read_only", 0);
                if (!d || json_object_set_new(cfg, "drives", d))
                        return -ENOMEM;
        }
        if (!ra->tap)
                return 0;
        n = json_pack("{s:s, s:s}", "iface_id", "eth0", "host_dev_name", ra->tap);
        if (n && ra->mac && json_object_set_new(n, "guest_mac", json_string(ra->mac)))
                json_decref(n), n = NULL;
        if (!n || json_object_set_new(cfg, "network-interfaces", json_pack("[o]", n)))
                return -ENOMEM;
        return 0;
}

int run_args_config(const struct run_args *ra, char **text)
{
        json_t *cfg = boot_and_machine(ra);
        int rc = cfg ? devices(ra, cfg) : -ENOMEM;

        *text = rc ? NULL : json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (!rc && !*text)
                rc = -ENOMEM;
        json_decref(cfg);
        return rc;
}
