/* The process's signals: Firecracker's fatal ones end brasa with its codes, SIGTERM/SIGINT gently.
 */
#ifndef BRASA_VMM_SIGNALS_H
#define BRASA_VMM_SIGNALS_H

#include <signal.h>
#include <stdint.h>

/* Exit codes of Firecracker's FcExitCode for the signals it intercepts. */
enum signals_exit_code {
        SIGNALS_EXIT_SIGBUS = 149,
        SIGNALS_EXIT_SIGSEGV = 150,
        SIGNALS_EXIT_SIGXFSZ = 151,
        SIGNALS_EXIT_SIGXCPU = 154,
        SIGNALS_EXIT_SIGHUP = 156,
        SIGNALS_EXIT_SIGILL = 157,
};

/*
 * Call on the main thread before any other thread exists (every thread inherits the mask):
 * blocks the signals that the VMM loop reads from its signalfd (signals_loop_set) and
 * installs the handlers of SIGBUS, SIGSEGV and SIGILL, which cannot be blocked since a
 * fault raises them synchronously. SIGSYS is the seccomp module's. Returns 0 or -errno.
 */
int signals_init(void);

/* The signals the VMM loop takes from its signalfd: TERM, INT, HUP, XFSZ, XCPU, PIPE. */
void signals_loop_set(sigset_t *set);

/*
 * Acts on one signal read from the signalfd (signo, ssi_code, ssi_pid), as Firecracker does:
 * logs it and updates signals.<name>. Returns the exit code the process must end with, or -1
 * to go on (SIGPIPE, and the SIGXFSZ the kernel raises at brasa's own write past
 * RLIMIT_FSIZE, which failed with EFBIG: only logged). SIGTERM and SIGINT return 0: brasa
 * shuts down gracefully on them.
 */
int signals_handle(uint32_t signo, int32_t code, uint32_t pid);

#endif
