/* The VMM thread: epoll loop over the exit eventfd, signals and the serial console input. */
#include "vmm/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/metrics.h"
#include "vmm/signals.h"
#include "vmm/vmm_priv.h"
#include "vmm/vmm_uffd.h"

#define VMM_STDIN_CHUNK 64
/* Console output written per wakeup of the loop: one ring's worth. */
#define VMM_CONSOLE_CHUNK SERIAL_TX_RING
/* Teardown waits this long at most for a reader to take the console's last output. */
#define VMM_CONSOLE_DRAIN_MS 500

static struct vmm *vmm_of(struct ev_source *src)
{
        return src->opaque;
}

static void vmm_on_exit(struct ev_source *src, uint32_t events)
{
        uint64_t v;

        (void)events;
        if (read(src->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                log_warn("reading the exit eventfd failed: %s", strerror(errno));
        evloop_stop(&vmm_of(src)->loop);
}

static void vmm_on_signal(struct ev_source *src, uint32_t events)
{
        struct signalfd_siginfo si;
        int code;

        (void)events;
        /* One signal per wakeup: a flood of SIGPIPE cannot hold the loop. */
        if (read(src->fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
                return;
        code = signals_handle(si.ssi_signo, si.ssi_code, si.ssi_pid);
        if (code < 0)
                return;
        if (code > 0)
                vmm_of(src)->signal_exit = true;
        vmm_request_exit(vmm_of(src), code);
}

static void vmm_stdin_pause(struct vmm *vmm)
{
        evloop_del(&vmm->loop, &vmm->stdin_src);
}

static void vmm_on_stdin(struct ev_source *src, uint32_t events)
{
        struct vmm *vmm = vmm_of(src);
        uint8_t buf[VMM_STDIN_CHUNK];
        size_t space = serial_input_space(vmm->console);
        ssize_t n;

        if (space == 0) {
                /* Resumed by the serial drain eventfd once the guest reads the FIFO. */
                vmm_stdin_pause(vmm);
                return;
        }
        if (space > sizeof(buf))
                space = sizeof(buf);
        n = read(src->fd, buf, space);
        if (n > 0) {
                serial_push_input(vmm->console, buf, (size_t)n);
                return;
        }
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (events & (EPOLLHUP | EPOLLERR) || n == 0) {
                vmm->stdin_eof = true;
                vmm_stdin_pause(vmm);
        }
}

static void vmm_on_serial_drain(struct ev_source *src, uint32_t events)
{
        struct vmm *vmm = vmm_of(src);
        uint64_t v;

        (void)events;
        if (read(src->fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return;
        if (!vmm->stdin_eof && !vmm->stdin_src.registered)
                evloop_add(&vmm->loop, &vmm->stdin_src, EPOLLIN);
}

/*
 * Writes COM1's buffered output, a ring's worth per wakeup. While console_out_fd is full
 * it is watched for EPOLLOUT; a budget spent re-signals the output eventfd.
 */
static void vmm_console_flush(struct vmm *vmm)
{
        int rc = serial_flush_output(vmm->console, VMM_CONSOLE_CHUNK);

        if (rc == -EAGAIN && !vmm->console_fd_src.registered &&
            evloop_add(&vmm->loop, &vmm->console_fd_src, EPOLLOUT) < 0)
                serial_drain_output(vmm->console, 0); /* cannot be watched: drop, counted */
        else if (rc != -EAGAIN)
                evloop_del(&vmm->loop, &vmm->console_fd_src);
}

static void vmm_on_console_out(struct ev_source *src, uint32_t events)
{
        (void)events;
        vmm_console_flush(vmm_of(src));
}

static void vmm_setup_console_out(struct vmm *vmm)
{
        /* Output the guest wrote before a pause still goes out while paused (it raises no
         * interrupt), as Firecracker writes serial output at once. */
        vmm->console_out_src = (struct ev_source){.fd = serial_output_eventfd(vmm->console),
                                                  .fn = vmm_on_console_out,
                                                  .opaque = vmm,
                                                  .keep_running = true};
        vmm->console_fd_src = (struct ev_source){.fd = vmm->console_out_fd,
                                                 .fn = vmm_on_console_out,
                                                 .opaque = vmm,
                                                 .keep_running = true};
        if (vmm->console_out_fd >= 0 && evloop_add(&vmm->loop, &vmm->console_out_src, EPOLLIN))
                log_warn("serial console output disabled: cannot watch its eventfd");
}

static void vmm_tty_raw(struct vmm *vmm)
{
        struct termios t;

        if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &vmm->tty_saved) < 0)
                return;
        t = vmm->tty_saved;
        /* Keystrokes go to the guest unchanged: no line editing, echo or signals. */
        t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG);
        t.c_iflag &= ~(tcflag_t)(ICRNL);
        if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0)
                vmm->tty_raw = true;
}

static void vmm_setup_stdin(struct vmm *vmm)
{
        int rc;

        if (vmm->serial_out_fd >= 0) {
                /* Firecracker's serial has no input when its output goes to a file. */
                vmm->stdin_eof = true;
                return;
        }

        vmm->stdin_src = (struct ev_source){.fd = STDIN_FILENO, .fn = vmm_on_stdin, .opaque = vmm};
        rc = evloop_add(&vmm->loop, &vmm->stdin_src, EPOLLIN);
        if (rc == -EPERM) {
                /* Regular files and /dev/null can't be polled: no console input then. */
                vmm->stdin_eof = true;
                return;
        }
        if (rc)
                log_warn("serial console input disabled: %s", strerror(-rc));
        vmm_tty_raw(vmm);
        vmm->serial_drain_src = (struct ev_source){
            .fd = serial_input_eventfd(vmm->console), .fn = vmm_on_serial_drain, .opaque = vmm};
        if (vmm->serial_drain_src.fd >= 0)
                evloop_add(&vmm->loop, &vmm->serial_drain_src, EPOLLIN);
}

static int vmm_setup_signals(struct vmm *vmm)
{
        sigset_t set;
        int fd;

        /* Blocked since signals_init(); blocking again covers a caller that skipped it. */
        signals_loop_set(&set);
        if (pthread_sigmask(SIG_BLOCK, &set, NULL))
                return -EINVAL;
        fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        vmm->signal_src =
            (struct ev_source){.fd = fd, .fn = vmm_on_signal, .opaque = vmm, .keep_running = true};
        return evloop_add(&vmm->loop, &vmm->signal_src, EPOLLIN);
}

int vmm_loop_init(struct vmm *vmm)
{
        int fd, rc;

        rc = evloop_init(&vmm->loop);
        if (rc)
                return rc;
        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        vmm->exit_src =
            (struct ev_source){.fd = fd, .fn = vmm_on_exit, .opaque = vmm, .keep_running = true};
        rc = evloop_add(&vmm->loop, &vmm->exit_src, EPOLLIN);
        if (rc)
                return rc;
        return vmm_setup_signals(vmm);
}

int vmm_start(struct vmm *vmm, struct err *e)
{
        unsigned int i;
        int rc;

        rc = vcpu_signal_setup();
        if (rc)
                return err_set(e, rc, "cannot install the vCPU kick handler: %s", strerror(-rc));
        if (vmm->console)
                vmm_setup_console_out(vmm);
        vmm_setup_stdin(vmm);
        /* Every device is attached: the set-up thread retires KVM's deferred frees now. */
        if (!kvm_setup_settle(&vmm->setup, vmm->vm.vm_fd))
                log_debug("no KVM set-up thread to settle the VM");
        for (i = 0; i < vmm->nr_vcpus; i++) {
                rc = vcpu_start(&vmm->vcpus[i]);
                if (rc)
                        return err_set(e, rc, "cannot start vCPU %u: %s", i, strerror(-rc));
        }
        return 0;
}

int vmm_loop(struct vmm *vmm)
{
        int rc;

        rc = evloop_run(&vmm->loop);
        if (rc) {
                log_error("VMM event loop failed: %s", strerror(-rc));
                vmm_request_exit(vmm, VMM_EXIT_GENERIC);
        }
        return __atomic_load_n(&vmm->exit_code, __ATOMIC_ACQUIRE);
}

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

void vmm_release_vm(struct vmm *vmm)
{
        unsigned int i;

        for (i = 0; i < vmm->nr_vcpus; i++)
                vcpu_kick(&vmm->vcpus[i]);
        vmm_uffd_release(vmm); /* a vCPU blocked in a page fault can be joined after it */
        for (i = 0; i < vmm->nr_vcpus; i++)
                vcpu_destroy(&vmm->vcpus[i]);
        vmm->nr_vcpus = 0;
        evloop_del(&vmm->loop, &vmm->stdin_src);
        evloop_del(&vmm->loop, &vmm->serial_drain_src);
        evloop_del(&vmm->loop, &vmm->console_out_src);
        evloop_del(&vmm->loop, &vmm->console_fd_src);
        if (vmm->tty_raw)
                tcsetattr(STDIN_FILENO, TCSANOW, &vmm->tty_saved);
        vmm->tty_raw = false;
        vmm->console = NULL;
        device_mgr_destroy(&vmm->devices); /* after the vCPUs: nothing touches them now */
        close_fd(&vmm->serial_out_fd);     /* after COM1, which wrote to it */
        memset(&vmm->pio, 0, sizeof(vmm->pio));
        memset(&vmm->mmio, 0, sizeof(vmm->mmio));
        guest_mem_destroy(&vmm->mem);
        free(vmm->supported_cpuid);
        vmm->supported_cpuid = NULL;
        kvm_setup_join_parked(&vmm->setup); /* its settle uses the VM fd */
        kvm_vm_destroy(&vmm->vm);
        vmm->started = false;
}

void vmm_destroy(struct vmm *vmm)
{
        /* The console's last output, for a while; what a full stdout refuses is counted. */
        if (vmm->console)
                serial_drain_output(vmm->console, VMM_CONSOLE_DRAIN_MS);
        /* The last line, so that a short-lived VM keeps its counters, as Firecracker's drop. */
        if ((vmm->started || vmm->signal_exit) && metrics_flush() < 0)
                log_error("Failed to write metrics while stopping");
        vmm_metrics_stop(vmm);
        kvm_setup_stop(&vmm->setup); /* a set-up thread no boot took */
        vmm_release_vm(vmm);
        evloop_fini(&vmm->loop);
        close_fd(&vmm->exit_src.fd);
        close_fd(&vmm->signal_src.fd);
}
