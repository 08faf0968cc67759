/* `brasa run`: the one-line way to start a VM, turned into the same JSON as --config-file. */
#ifndef BRASA_MODEL_RUN_ARGS_H
#define BRASA_MODEL_RUN_ARGS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

/* What `brasa run` was given; the strings point into argv. */
struct run_args {
        const char *kernel, *initrd, *rootfs, *tap, *mac, *cmdline, *api_sock;
        unsigned int cpus; /* 1 by default */
        uint64_t mem_mib;  /* 128 by default */
        bool dry_run;
};

/* The boot_args `brasa run` gives without --cmdline: a Firecracker user's usual ones. */
#define RUN_ARGS_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"

/* `brasa run --help`. */
extern const char run_args_usage[];

enum { RUN_ARGS_HELP = 1 };

/*
 * Whether name (without "--") is one of brasa run's own flags: 1 when it takes a value, 0 for
 * a switch, -1 when it is not one (then it is one of brasa's, or unknown).
 */
int run_args_flag(const char *name);

/*
 * Parses argv[1..argc) (argv[0] is "run") into *ra. Returns 0, RUN_ARGS_HELP for --help or -h
 * (nothing else parsed), or -EINVAL with e saying which flag is wrong and what it wants.
 */
int run_args_parse(int argc, char **argv, struct run_args *ra, struct err *e);

/*
 * The Firecracker config file that *ra describes (boot-source, machine-config, and drives /
 * network-interfaces when given), pretty-printed, in *text (malloc'd, the caller frees).
 * Returns 0 or -ENOMEM.
 */
int run_args_config(const struct run_args *ra, char **text);

#endif
