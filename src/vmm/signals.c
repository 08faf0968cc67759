/* The process's signals: Firecracker's fatal ones end brasa with its codes, SIGTERM/SIGINT gently.
 */
#include "vmm/signals.h"

#include <errno.h>
#include <stdbool.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

/* A signal that ends brasa as it ends Firecracker: its exit code and its signals.<name>. */
struct fatal_signal {
        int signo;
        int exit_code;
        struct metric_gauge *metric;
};

static const struct fatal_signal fatal_signals[] = {
    {SIGBUS, SIGNALS_EXIT_SIGBUS, &metrics.signals.sigbus},
    {SIGSEGV, SIGNALS_EXIT_SIGSEGV, &metrics.signals.sigsegv},
    {SIGXFSZ, SIGNALS_EXIT_SIGXFSZ, &metrics.signals.sigxfsz},
    {SIGXCPU, SIGNALS_EXIT_SIGXCPU, &metrics.signals.sigxcpu},
    {SIGHUP, SIGNALS_EXIT_SIGHUP, &metrics.signals.sighup},
    {SIGILL, SIGNALS_EXIT_SIGILL, &metrics.signals.sigill},
};

/* Raised by faults, so never blocked: these are handled where they land. */
static const int fault_signals[] = {SIGBUS, SIGSEGV, SIGILL};

static const struct fatal_signal *fatal_of(int signo)
{
        size_t i;

        for (i = 0; i < ARRAY_SIZE(fatal_signals); i++)
                if (fatal_signals[i].signo == signo)
                        return &fatal_signals[i];
        return NULL;
}

/*
 * A fault signal (or one sent with kill): the thread it interrupted cannot be trusted to go
 * on, so this ends the process here, as Firecracker's handler does. The log and metrics locks
 * are only tried; the metrics line allocates, which is the risk Firecracker takes as well.
 */
static void signals_on_fault(int sig, siginfo_t *si, void *ucontext)
{
        const struct fatal_signal *f = fatal_of(sig);

        (void)ucontext;
        if (!f || si->si_signo != sig)
                _exit(2); /* Firecracker's UnexpectedError */
        metrics_store(f->metric, 1);
        log_fatal("Shutting down VM after intercepting signal %d, code %d.", si->si_signo,
                  si->si_code);
        if (metrics_flush_fatal() < 0)
                log_fatal("Failed to write metrics while stopping");
        log_fatal("Firecracker exiting with error. exit_code=%d", f->exit_code);
        _exit(f->exit_code);
}

void signals_loop_set(sigset_t *set)
{
        sigemptyset(set);
        sigaddset(set, SIGTERM);
        sigaddset(set, SIGINT);
        sigaddset(set, SIGHUP);
        sigaddset(set, SIGXFSZ);
        sigaddset(set, SIGXCPU);
        sigaddset(set, SIGPIPE);
}

int signals_init(void)
{
        struct sigaction sa;
        sigset_t set;
        size_t i;

        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = signals_on_fault;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        for (i = 0; i < ARRAY_SIZE(fault_signals); i++)
                if (sigaction(fault_signals[i], &sa, NULL) < 0)
                        return -errno;
        /*
         * Blocked in every thread, the loop's signals wait for its signalfd. Blocked signals
         * are queued even when brasa is PID 1 of a PID namespace, where the kernel drops
         * signals whose action is the default one.
         */
        signals_loop_set(&set);
        return -pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/*
 * The SIGXFSZ that the kernel raises for a write of ours past RLIMIT_FSIZE comes from
 * ourselves (send_sig() with SI_USER and our own pid, directed at the writing thread, which
 * keeps it blocked): the write already failed with EFBIG and its caller reports that (a
 * virtio-block write is an IOERR for the guest). Only a SIGXFSZ sent by someone else ends brasa.
 */
static bool own_write_xfsz(uint32_t signo, int32_t code, uint32_t pid)
{
        return signo == SIGXFSZ && code == SI_USER && pid == (uint32_t)getpid();
}

int signals_handle(uint32_t signo, int32_t code, uint32_t pid)
{
        const struct fatal_signal *f = fatal_of((int)signo);

        if (own_write_xfsz(signo, code, pid)) {
                log_warn("Signal %u (SIGXFSZ) from a write past RLIMIT_FSIZE: the write failed "
                         "(EFBIG) and brasa goes on.",
                         signo);
                return -1;
        }

        if (signo == SIGTERM || signo == SIGINT) {
                log_info("Received signal %u (%s), shutting down", signo, strsignal((int)signo));
                return 0;
        }
        if (signo == SIGPIPE) {
                /* Firecracker goes on: a vanished reader must not end the VM. */
                metrics_inc(&metrics.signals.sigpipe);
                log_error("Received signal %u, code %d.", signo, code);
                return -1;
        }
        if (!f)
                return -1;
        metrics_store(f->metric, 1);
        log_error("Shutting down VM after intercepting signal %u, code %d.", signo, code);
        return f->exit_code;
}
