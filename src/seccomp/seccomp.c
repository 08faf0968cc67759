/* Seccomp installer: per-thread BPF via seccomp(2), the SIGSYS report, and the test-build hooks. */
#define _GNU_SOURCE
#include "seccomp/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "seccomp/seccomp_file.h"

#if defined(__SANITIZE_ADDRESS__)
#define SECCOMP_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECCOMP_SANITIZER_BUILD 1
#endif
#endif

/* si_code of a SIGSYS raised by a filter (the kernel's SYS_SECCOMP; glibc does not export it). */
#define SECCOMP_SI_CODE 1

static bool seccomp_on;
static struct seccomp_file seccomp_custom;
static const struct seccomp_prog *seccomp_progs = seccomp_builtin_filters;

/* Who this thread is, for the SIGSYS report (recorded when its filter goes on). */
static __thread char seccomp_thread_name[16];
static __thread const char *seccomp_thread_role;

static const char *syscall_name(int nr)
{
        if (nr >= 0 && nr < SECCOMP_SYSCALL_NAMES && seccomp_syscall_names[nr])
                return seccomp_syscall_names[nr];
        return "unknown";
}

/* The last metrics line and log line, then the end: no atexit handlers, other threads run on. */
static __attribute__((noreturn)) void seccomp_fatal_exit(int code)
{
        if (metrics_flush_fatal() < 0)
                log_fatal("Failed to write metrics while stopping");
        log_fatal("Firecracker exiting with error. exit_code=%d", code);
        _exit(code);
}

/*
 * SIGSYS: a blocked syscall, or a SIGSYS sent with kill. A filter's thread stopped at a
 * syscall that no filter allows, so it is not inside log_write(); a sent one may land
 * anywhere, so the log and metrics locks are only tried.
 */
static void seccomp_sigsys(int sig, siginfo_t *si, void *ucontext)
{
        const char *thread = seccomp_thread_name[0] ? seccomp_thread_name : "unnamed";
        const char *role = seccomp_thread_role ? seccomp_thread_role : "inherited";

        (void)ucontext;
        metrics_store(&metrics.seccomp.num_faults, 1);
        log_fatal("Shutting down VM after intercepting signal %d, code %d.", sig, si->si_code);
        if (si->si_code != SECCOMP_SI_CODE)
                seccomp_fatal_exit(SECCOMP_EXIT_UNEXPECTED); /* sent with kill: not a filter's */
        if (si->si_arch == AUDIT_ARCH_X86_64)
                log_fatal("Shutting down VM after intercepting a bad syscall (%d: %s) on thread "
                          "%s (%s filter)",
                          si->si_syscall, syscall_name(si->si_syscall), thread, role);
        else
                log_fatal("Shutting down VM after intercepting a bad syscall (%d, foreign ABI "
                          "0x%x) on thread %s (%s filter)",
                          si->si_syscall, si->si_arch, thread, role);
        seccomp_fatal_exit(SECCOMP_EXIT_BAD_SYSCALL);
}

#ifdef BRASA_TEST_HOOKS
/* Test builds only: BRASA_TEST_SECCOMP_VIOLATE=<role> makes that thread break its filter. */
static const char *seccomp_hook_role;

static void seccomp_hook_violate(enum seccomp_role role)
{
        long rc = -1;

        if (!seccomp_hook_role || strcmp(seccomp_hook_role, seccomp_role_name(role)) != 0)
                return;
        log_info("test hook: %s thread calls a forbidden syscall", seccomp_role_name(role));
        if (role == SECCOMP_ROLE_VMM) /* allowed syscall, forbidden argument: PROT_EXEC */
                rc = syscall(SYS_mprotect, NULL, 0, PROT_READ | PROT_EXEC);
        else if (role == SECCOMP_ROLE_VCPU) /* a vCPU thread never opens files */
                rc = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else /* the API thread never creates sockets */
                rc = syscall(SYS_socket, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        log_error("test hook: the forbidden syscall was allowed (returned %ld)", rc);
        if (rc >= 0 && role != SECCOMP_ROLE_VMM)
                close((int)rc);
}

/*
 * Test builds only: BRASA_TEST_SECCOMP_AFTER_BOOT=<name> makes the VMM thread make that
 * set-up call once its stage filter is on (each must now end brasa with 148).
 */
static void seccomp_hook_after_boot(void)
{
        const char *what = getenv("BRASA_TEST_SECCOMP_AFTER_BOOT");
        long rc = -1;

        if (!what)
                return;
        log_info("test hook: the VMM thread calls %s after boot", what);
        if (strcmp(what, "io_uring_setup") == 0)
                rc = syscall(SYS_io_uring_setup, 1, NULL);
        else if (strcmp(what, "openat") == 0)
                rc = syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        else if (strcmp(what, "unlink") == 0)
                rc = syscall(SYS_unlink, "/nonexistent/brasa-test-hook");
        else if (strcmp(what, "clone3") == 0)
                rc = syscall(SYS_clone3, NULL, 0);
        else if (strcmp(what, "eventfd2") == 0)
                rc = syscall(SYS_eventfd2, 0, EFD_CLOEXEC | EFD_NONBLOCK);
        else if (strcmp(what, "KVM_CREATE_VCPU") == 0)
                rc = syscall(SYS_ioctl, -1, KVM_CREATE_VCPU, 0);
        else if (strcmp(what, "KVM_SET_USER_MEMORY_REGION") == 0)
                rc = syscall(SYS_ioctl, -1, KVM_SET_USER_MEMORY_REGION, NULL);
        else if (strcmp(what, "TUNSETIFF") == 0)
                rc = syscall(SYS_ioctl, -1, TUNSETIFF, NULL);
        else if (strcmp(what, "mmap-guest-ram") == 0)
                rc = (long)mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        log_error("test hook: %s was allowed after boot (returned %ld)", what, rc);
}

static void seccomp_hooks_init(void)
{
        seccomp_hook_role = getenv("BRASA_TEST_SECCOMP_VIOLATE");
        /* Proves the vmm filter allows InstanceStart: filter the VMM thread before boot. */
        if (seccomp_on && getenv("BRASA_TEST_SECCOMP_VMM_EARLY"))
                if (seccomp_apply(SECCOMP_ROLE_VMM))
                        log_error("test hook: early vmm filter failed");
}
#else
static void seccomp_hook_violate(enum seccomp_role role)
{
        (void)role;
}

static void seccomp_hook_after_boot(void)
{
}

static void seccomp_hooks_init(void)
{
}
#endif

static int seccomp_install_handler(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = seccomp_sigsys;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}

static int seccomp_choose(enum seccomp_policy policy, const char *path, struct err *e)
{
        int rc;

        if (policy == SECCOMP_POLICY_FILE) {
                rc = seccomp_file_load(path, &seccomp_custom, e);
                if (rc)
                        return rc;
                seccomp_progs = seccomp_custom.progs;
        }
#ifdef SECCOMP_SANITIZER_BUILD
        if (policy != SECCOMP_POLICY_OFF)
                log_warn("Seccomp filters are off: this is a sanitizer build (docs/security.md)");
        policy = SECCOMP_POLICY_OFF;
#endif
        seccomp_on = policy != SECCOMP_POLICY_OFF;
        return 0;
}

int seccomp_setup(enum seccomp_policy policy, const char *path, struct err *e)
{
        int rc;

        /* Firecracker handles SIGSYS with its filters on or off. */
        rc = seccomp_install_handler();
        if (rc)
                return err_set(e, rc, "cannot install the SIGSYS handler: %s", strerror(-rc));
        rc = seccomp_choose(policy, path, e);
        if (rc || !seccomp_on)
                return rc;
        /* Inherited by every later thread; needed to filter without CAP_SYS_ADMIN. */
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                rc = -errno;
                return err_set(e, rc, "cannot set no_new_privs: %s", strerror(-rc));
        }
        /* glibc reads /etc/localtime on the first time conversion (log lines): do it unfiltered. */
        tzset();
        /*
         * One malloc arena for all threads: a thread arena's first shrink opens
         * /proc/sys/vm/overcommit_memory (glibc's check_may_shrink_heap), at a
         * moment no filtered thread can predict. The main arena only uses brk/mmap.
         */
        if (mallopt(M_ARENA_MAX, 1) != 1)
                return err_set(e, -EINVAL, "cannot limit malloc to one arena");
        seccomp_hooks_init();
        return 0;
}

/* Installs p on the calling thread, after unblocking SIGSYS there; 0 or -errno. */
static int seccomp_install(const struct seccomp_prog *p)
{
        struct sock_fprog prog;
        sigset_t set;

        sigemptyset(&set);
        sigaddset(&set, SIGSYS);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        prog.len = (unsigned short)p->len;
        prog.filter = (struct sock_filter *)(uintptr_t)p->insns; /* the kernel only reads it */
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
                return -errno;
        log_debug("Seccomp filter '%s' installed on thread %s", seccomp_thread_role,
                  seccomp_thread_name);
        return 0;
}

int seccomp_apply(enum seccomp_role role)
{
        const struct seccomp_prog *p;
        int rc;

        if (!seccomp_on || (unsigned int)role >= SECCOMP_ROLE_COUNT)
                return seccomp_on ? -EINVAL : 0;
        p = &seccomp_progs[role];
        if (p->len == 0)
                return 0;
        /* The main thread keeps its process name and is "fc_vmm" in log lines only. */
        if (role == SECCOMP_ROLE_VMM)
                snprintf(seccomp_thread_name, sizeof(seccomp_thread_name), "fc_vmm");
        else if (prctl(PR_GET_NAME, seccomp_thread_name, 0, 0, 0) < 0)
                seccomp_thread_name[0] = '\0';
        seccomp_thread_role = seccomp_role_name(role);
        rc = seccomp_install(p);
        if (rc == 0)
                seccomp_hook_violate(role);
        return rc;
}

int seccomp_apply_setup(void)
{
        const struct seccomp_prog *p;

        if (!seccomp_on)
                return 0;
        p = &seccomp_progs[SECCOMP_ROLE_VMM];
        if (p->len == 0)
                return 0;
        if (prctl(PR_GET_NAME, seccomp_thread_name, 0, 0, 0) < 0)
                seccomp_thread_name[0] = '\0';
        seccomp_thread_role = "vmm (KVM set-up)";
        return seccomp_install(p);
}

int seccomp_narrow(enum seccomp_stage stage)
{
        static const char *const names[SECCOMP_STAGE_COUNT] = {"vmm_api_run", "vmm_run"};
        int rc;

        /* A --seccomp-filter file is the whole policy: it has no stages. */
        if (!seccomp_on || seccomp_progs != seccomp_builtin_filters)
                return 0;
        if ((unsigned int)stage >= SECCOMP_STAGE_COUNT)
                return -EINVAL;
        seccomp_thread_role = names[stage];
        rc = seccomp_install(&seccomp_stage_filters[stage]);
        if (rc == 0)
                seccomp_hook_after_boot();
        return rc;
}
