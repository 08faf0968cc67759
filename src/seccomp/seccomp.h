/* Per-thread seccomp filters: choosing them, installing them, and reporting a blocked syscall. */
#ifndef BRASA_SECCOMP_SECCOMP_H
#define BRASA_SECCOMP_SECCOMP_H

#include <stddef.h>

#include "core/err.h"
#include "seccomp/seccomp_filters.h"

/* Exit code after a blocked syscall, as Firecracker's FcExitCode::BadSyscall. */
#define SECCOMP_EXIT_BAD_SYSCALL 148
#define SECCOMP_EXIT_UNEXPECTED  2 /* a SIGSYS that no filter raised */

enum seccomp_policy {
        SECCOMP_POLICY_BUILTIN, /* compiled from the rule files in src/seccomp (default) */
        SECCOMP_POLICY_OFF,     /* --no-seccomp */
        SECCOMP_POLICY_FILE,    /* --seccomp-filter FILE */
};

/*
 * Chooses the filters (built-in, none, or those of the file at path), sets
 * no_new_privs and installs the SIGSYS handler. Call once from main() before
 * any other thread exists. Sanitizer builds turn filtering off (ASan and
 * LeakSanitizer need syscalls no policy should allow) and log that. Returns 0,
 * or -errno with one line in e (unreadable or malformed filter file).
 */
int seccomp_setup(enum seccomp_policy policy, const char *path, struct err *e);

/*
 * Installs role's filter on the calling thread only (no TSYNC), after
 * unblocking SIGSYS there so a violation always reaches the handler. Threads
 * the caller starts later inherit the filter. A no-op when filtering is off or
 * the role's filter is empty. Returns 0 or -errno.
 */
int seccomp_apply(enum seccomp_role role);

/*
 * Installs the VMM thread's filter on the calling thread, the KVM set-up thread (it does
 * what InstanceStart did on the VMM thread, nothing more), named as such in a SIGSYS report.
 * A no-op when filtering is off. Returns 0 or -errno.
 */
int seccomp_apply_setup(void);

/*
 * Stacks the stage filter on the calling thread, the VMM thread, once the VM runs (its
 * vmm filter stays: each call must pass both). What set-up alone needed then traps: new
 * threads, rings, eventfds, VM and vCPU creation, tap attachment, and with
 * SECCOMP_STAGE_RUN (--no-api) opening files too. A no-op with filtering off or with a
 * --seccomp-filter file. Returns 0 or -errno.
 */
int seccomp_narrow(enum seccomp_stage stage);

#endif
