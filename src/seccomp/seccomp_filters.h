/* The filters compiled at build time from the rule files in src/seccomp (seccomp_filters.c). */
#ifndef BRASA_SECCOMP_SECCOMP_FILTERS_H
#define BRASA_SECCOMP_SECCOMP_FILTERS_H

#include <linux/filter.h>
#include <stddef.h>

/* Thread roles, each with its own filter; the order matches the generator's. */
enum seccomp_role { SECCOMP_ROLE_VMM, SECCOMP_ROLE_API, SECCOMP_ROLE_VCPU, SECCOMP_ROLE_COUNT };

/*
 * The VMM thread's stage filters, stacked on its vmm filter once the VM runs: the vmm rules
 * without those tagged @boot (API_RUN: the API still serves post-boot routes), and also
 * without those tagged @api (RUN: --no-api). The order matches the generator's.
 */
enum seccomp_stage { SECCOMP_STAGE_API_RUN, SECCOMP_STAGE_RUN, SECCOMP_STAGE_COUNT };

/* A classic BPF program; len 0 means "no filter for this role". */
struct seccomp_prog {
        const struct sock_filter *insns;
        size_t len;
};

#define SECCOMP_SYSCALL_NAMES 512

/* The built-in filters, indexed by enum seccomp_role. */
extern const struct seccomp_prog seccomp_builtin_filters[SECCOMP_ROLE_COUNT];

/* The built-in stage filters, indexed by enum seccomp_stage. */
extern const struct seccomp_prog seccomp_stage_filters[SECCOMP_STAGE_COUNT];

/* x86_64 syscall names by number (NULL where unassigned), for the SIGSYS report. */
extern const char *const seccomp_syscall_names[SECCOMP_SYSCALL_NAMES];

#endif
