/* vCPU threads: configure boot state, run KVM_RUN, dispatch PIO/MMIO, stop cleanly. */
#include "vmm/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/regs.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/timeline.h"
#include "seccomp/seccomp.h"

#define VCPU_CPUID_CAPACITY 256
#define VCPU_EXIT_GENERIC   1

static void vcpu_kick_handler(int sig)
{
        (void)sig; /* Only here to interrupt KVM_RUN with EINTR. */
}

int vcpu_signal_setup(void)
{
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = vcpu_kick_handler;
        sigemptyset(&sa.sa_mask);
        return sigaction(SIGRTMIN, &sa, NULL) < 0 ? -errno : 0;
}

int vcpu_create(struct vcpu *v, struct kvm_vm *vm, unsigned int index, const struct vcpu_env *env)
{
        void *run;
        int rc;

        memset(v, 0, sizeof(*v));
        v->index = index;
        v->env = env;
        v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
        if (v->fd < 0)
                return -errno;
        run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
        if (run == MAP_FAILED) {
                rc = -errno;
                close(v->fd);
                v->fd = -1;
                return rc;
        }
        v->run = run;
        v->run_size = vm->run_size;
        return 0;
}

struct kvm_cpuid2 *vcpu_supported_cpuid(struct kvm_vm *vm)
{
        struct kvm_cpuid2 *c;

        c = calloc(1, sizeof(*c) + VCPU_CPUID_CAPACITY * sizeof(c->entries[0]));
        if (!c)
                return NULL;
        /* Leave room so normalization can add leaves (0xB, 0x1F subleaves). */
        c->nent = VCPU_CPUID_CAPACITY - 32;
        if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
                free(c);
                return NULL;
        }
        return c;
}

static int vcpu_set_cpuid(struct vcpu *v, const struct vcpu_boot *boot, struct err *e)
{
        size_t bytes =
            sizeof(struct kvm_cpuid2) + VCPU_CPUID_CAPACITY * sizeof(struct kvm_cpuid_entry2);
        const struct cpuid_mod *missing;
        struct kvm_cpuid2 *c;
        int rc;

        c = calloc(1, bytes);
        if (!c)
                return -ENOMEM;
        memcpy(c, boot->supported_cpuid,
               sizeof(*c) + boot->supported_cpuid->nent * sizeof(c->entries[0]));
        if (boot->tmpl && cpu_template_apply_cpuid(boot->tmpl, c, &missing)) {
                rc = err_set(e, -EINVAL,
                             "System configuration error: Failed to create guest config: Template "
                             "changes a CPUID entry not supported by KVM: Leaf: %x, Subleaf: %x",
                             missing->leaf, missing->subleaf);
                goto out;
        }
        rc = cpuid_normalize(c, VCPU_CPUID_CAPACITY, v->index, boot->nr_vcpus, boot->smt);
        if (rc) {
                err_set(e, rc, "CPUID normalization failed: %s", strerror(-rc));
                goto out;
        }
        if (boot->pvm_template)
                cpuid_apply_pvm_template(c);
        if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0) {
                rc = -errno;
                err_set(e, rc, "KVM_SET_CPUID2 failed: %s", strerror(-rc));
        }
out:
        free(c);
        return rc;
}

/* The template's MSR addresses, each once, into m (room for n_msrs entries). */
static void vcpu_template_msr_list(const struct cpu_template *t, struct kvm_msrs *m)
{
        size_t i, j;

        m->nmsrs = 0;
        for (i = 0; i < t->n_msrs; i++) {
                for (j = 0; j < m->nmsrs && m->entries[j].index != t->msrs[i].addr; j++)
                        ;
                if (j == m->nmsrs)
                        m->entries[m->nmsrs++].index = t->msrs[i].addr;
        }
}

/* Reads the MSRs the template changes, applies its modifiers, writes them back. */
static int vcpu_set_template_msrs(struct vcpu *v, const struct cpu_template *t, struct err *e)
{
        const struct msr_mod *missing;
        struct kvm_msrs *m;
        int n, rc = 0;

        if (!t || !t->n_msrs)
                return 0;
        m = calloc(1, sizeof(*m) + t->n_msrs * sizeof(m->entries[0]));
        if (!m)
                return -ENOMEM;
        vcpu_template_msr_list(t, m);
        n = ioctl(v->fd, KVM_GET_MSRS, m);
        if (n < 0 || (uint32_t)n != m->nmsrs) {
                rc = err_set(e, -EINVAL,
                             "System configuration error: Failed to create guest config: KVM vcpu "
                             "ioctl failed: Failed to get KVM vcpu msr: %#x",
                             m->entries[n < 0 ? 0 : n].index);
                goto out;
        }
        if (cpu_template_apply_msrs(t, m->entries, m->nmsrs, &missing) == 0) {
                n = ioctl(v->fd, KVM_SET_MSRS, m);
                if (n < 0 || (uint32_t)n != m->nmsrs)
                        rc = err_set(e, -EINVAL,
                                     "System configuration error: Error configuring the vcpu for "
                                     "boot: Failed to set MSRs: Not all given MSRs were set.");
        }
out:
        free(m);
        return rc;
}

int vcpu_configure(struct vcpu *v, const struct vcpu_boot *boot, struct err *e)
{
        int rc;

        rc = vcpu_set_cpuid(v, boot, e);
        if (!rc)
                rc = vcpu_set_template_msrs(v, boot->tmpl, e);
        if (rc)
                return rc;
        rc = regs_setup_vcpu(v->fd, boot->pvh, boot->entry, v->index == 0);
        if (rc)
                return err_set(e, rc, "vCPU %u register setup failed: %s", v->index, strerror(-rc));
        return 0;
}

static int vcpu_handle_io(struct vcpu *v)
{
        struct kvm_run *r = v->run;
        uint8_t *data = (uint8_t *)r + r->io.data_offset;
        uint32_t i;

        /* data_offset/size/count come from KVM, but stay inside the mapping regardless. */
        if (r->io.data_offset >= v->run_size ||
            (uint64_t)r->io.size * r->io.count > v->run_size - r->io.data_offset)
                return -EINVAL;
        for (i = 0; i < r->io.count; i++, data += r->io.size) {
                if (r->io.direction == KVM_EXIT_IO_OUT)
                        bus_write(v->env->pio, r->io.port, data, r->io.size);
                else
                        bus_read(v->env->pio, r->io.port, data, r->io.size);
        }
        return 0;
}

static void vcpu_handle_mmio(struct vcpu *v)
{
        struct kvm_run *r = v->run;
        uint32_t len = r->mmio.len > 8 ? 8 : r->mmio.len;

        if (r->mmio.is_write) {
                if (bus_write(v->env->mmio, r->mmio.phys_addr, r->mmio.data, len))
                        log_guest_warn("vCPU %u: MMIO write to unmapped 0x%llx", v->index,
                                       (unsigned long long)r->mmio.phys_addr);
        } else if (bus_read(v->env->mmio, r->mmio.phys_addr, r->mmio.data, len)) {
                log_guest_warn("vCPU %u: MMIO read from unmapped 0x%llx", v->index,
                               (unsigned long long)r->mmio.phys_addr);
        }
}

/* Best effort: the bytes at the faulting RIP, for the error log line. */
static void vcpu_code_bytes(struct vcpu *v, uint64_t *rip, char *out, size_t outlen)
{
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        struct kvm_translation tr;
        uint8_t code[16];
        size_t i, n = 0;

        snprintf(out, outlen, "unavailable");
        *rip = 0;
        if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0)
                return;
        *rip = regs.rip;
        memset(&tr, 0, sizeof(tr));
        tr.linear_address = sregs.cs.base + regs.rip;
        if (ioctl(v->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
                return;
        if (guest_mem_read(v->env->mem, tr.physical_address, code, sizeof(code)))
                return;
        for (i = 0; i < sizeof(code) && n + 3 < outlen; i++)
                n += (size_t)snprintf(out + n, outlen - n, "%s%02x", i ? " " : "", code[i]);
}

static const char *vcpu_exit_name(uint32_t reason)
{
        switch (reason) {
        case KVM_EXIT_INTERNAL_ERROR:
                return "KVM_EXIT_INTERNAL_ERROR";
        case KVM_EXIT_SHUTDOWN:
                return "KVM_EXIT_SHUTDOWN";
        case KVM_EXIT_FAIL_ENTRY:
                return "KVM_EXIT_FAIL_ENTRY";
        case KVM_EXIT_HLT:
                return "KVM_EXIT_HLT";
        case KVM_EXIT_UNKNOWN:
                return "KVM_EXIT_UNKNOWN";
        case KVM_EXIT_EXCEPTION:
                return "KVM_EXIT_EXCEPTION";
        default:
                return "unexpected exit";
        }
}

static void vcpu_report_unexpected(struct vcpu *v)
{
        struct kvm_run *r = v->run;
        char code[64];
        uint64_t rip;
        uint32_t detail = 0;

        if (r->exit_reason == KVM_EXIT_INTERNAL_ERROR)
                detail = r->internal.suberror;
        else if (r->exit_reason == KVM_EXIT_FAIL_ENTRY)
                detail = (uint32_t)r->fail_entry.hardware_entry_failure_reason;
        vcpu_code_bytes(v, &rip, code, sizeof(code));
        log_error("vCPU %u: %s (exit reason %u, code %u) at RIP 0x%llx, code bytes: %s", v->index,
                  vcpu_exit_name(r->exit_reason), r->exit_reason, detail, (unsigned long long)rip,
                  code);
}

/* Returns 0 to keep running, 1 when the VM must stop. */
static int vcpu_handle_exit(struct vcpu *v)
{
        struct kvm_run *r = v->run;

        switch (r->exit_reason) {
        case KVM_EXIT_IO:
                if (vcpu_handle_io(v) == 0)
                        return 0;
                break;
        case KVM_EXIT_MMIO:
                vcpu_handle_mmio(v);
                return 0;
        case KVM_EXIT_SYSTEM_EVENT:
                if (r->system_event.type == KVM_SYSTEM_EVENT_RESET ||
                    r->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN) {
                        log_info("vCPU %u: guest requested %s", v->index,
                                 r->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset"
                                                                                : "shutdown");
                        v->env->request_exit(v->env->ctx, 0);
                        return 1;
                }
                break;
        default:
                break;
        }
        vcpu_report_unexpected(v);
        v->env->request_exit(v->env->ctx, VCPU_EXIT_GENERIC);
        return 1;
}

/* Sleeps while *word == val (spurious wake-ups are the caller's loop's business). */
static void vcpu_futex_wait(uint32_t *word, uint32_t val)
{
        syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void vcpu_futex_wake(uint32_t *word)
{
        syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void vcpu_set_parked(struct vcpu *v, uint32_t state)
{
        __atomic_store_n(&v->parked, state, __ATOMIC_RELEASE);
        vcpu_futex_wake(&v->parked);
}

static void vcpu_set_ready(struct vcpu *v)
{
        __atomic_store_n(&v->ready, 1, __ATOMIC_RELEASE);
        vcpu_futex_wake(&v->ready);
}

/*
 * Parks the thread while a pause is asked for. KVM_RUN with immediate_exit set first
 * completes the PIO/MMIO instruction of the last exit without entering the guest, so the
 * saved registers never point into a half-done instruction.
 */
static void vcpu_park(struct vcpu *v)
{
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
        if (ioctl(v->fd, KVM_RUN, 0) < 0 && errno != EINTR && errno != EAGAIN)
                log_warn("vCPU %u: completing the last exit failed: %s", v->index, strerror(errno));
        /* As Firecracker: the guest's watchdogs must not count the pause as a lockup. EINVAL
         * only means the guest never enabled kvmclock. */
        if (ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0) < 0) {
                metrics_inc(&metrics.vcpu.kvmclock_ctrl_fails);
                log_warn("KVM_KVMCLOCK_CTRL call failed %s (os error %d)", strerror(errno), errno);
        }
        vcpu_set_parked(v, VCPU_PARKED);
        while (__atomic_load_n(&v->pause_req, __ATOMIC_ACQUIRE) &&
               !__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE))
                vcpu_futex_wait(&v->pause_req, 1);
        __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_RELEASE);
        vcpu_set_parked(v, VCPU_RUNNING);
}

/* The KVM_RUN loop; returns when the vCPU must stop. */
static void vcpu_run_loop(struct vcpu *v)
{
        while (!__atomic_load_n(&v->stop, __ATOMIC_ACQUIRE)) {
                if (__atomic_load_n(&v->pause_req, __ATOMIC_ACQUIRE)) {
                        vcpu_park(v);
                        continue;
                }
                timeline_mark(TL_FIRST_RUN); /* one relaxed load once recorded */
                if (ioctl(v->fd, KVM_RUN, 0) < 0) {
                        if (errno == EINTR || errno == EAGAIN) {
                                v->run->immediate_exit = 0;
                                continue;
                        }
                        log_error("vCPU %u: KVM_RUN failed: %s", v->index, strerror(errno));
                        v->env->request_exit(v->env->ctx, VCPU_EXIT_GENERIC);
                        return;
                }
                if (vcpu_handle_exit(v))
                        return;
        }
}

static void *vcpu_thread(void *arg)
{
        struct vcpu *v = arg;
        char name[16];

        snprintf(name, sizeof(name), "fc_vcpu %u", v->index);
        log_set_thread_name(name);
        /* Before the first KVM_RUN: guest-triggered emulation only ever runs filtered. */
        if (seccomp_apply(SECCOMP_ROLE_VCPU)) {
                log_error("vCPU %u: cannot install the seccomp filter", v->index);
                v->env->request_exit(v->env->ctx, VCPU_EXIT_GENERIC);
                vcpu_set_parked(v, VCPU_GONE);
                vcpu_set_ready(v);
                return NULL;
        }
        vcpu_set_ready(v);
        vcpu_run_loop(v);
        vcpu_set_parked(v, VCPU_GONE);
        return NULL;
}

int vcpu_start(struct vcpu *v)
{
        sigset_t set, old;
        int rc;

        /* The thread inherits this mask: only the kick and the fault signals may interrupt it. */
        sigfillset(&set);
        sigdelset(&set, SIGRTMIN);
        /* Blocked, these would kill without Firecracker's report: a fault raises them here. */
        sigdelset(&set, SIGSYS);
        sigdelset(&set, SIGBUS);
        sigdelset(&set, SIGSEGV);
        sigdelset(&set, SIGILL);
        pthread_sigmask(SIG_SETMASK, &set, &old);
        rc = -pthread_create(&v->thread, NULL, vcpu_thread, v);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc)
                return rc;
        v->started = true;
        while (!__atomic_load_n(&v->ready, __ATOMIC_ACQUIRE))
                vcpu_futex_wait(&v->ready, 0);
        return 0;
}

void vcpu_kick(struct vcpu *v)
{
        __atomic_store_n(&v->stop, true, __ATOMIC_RELEASE);
        if (!v->started)
                return;
        /* A parked thread sleeps on pause_req: clearing it makes its wait return. */
        __atomic_store_n(&v->pause_req, 0, __ATOMIC_RELEASE);
        vcpu_futex_wake(&v->pause_req);
        /* immediate_exit closes the race where the signal lands just before KVM_RUN. */
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
        pthread_kill(v->thread, SIGRTMIN);
}

void vcpu_pause(struct vcpu *v)
{
        __atomic_store_n(&v->pause_req, 1, __ATOMIC_RELEASE);
        if (!v->started)
                return;
        /* As in vcpu_kick(): immediate_exit covers a signal that lands just before KVM_RUN. */
        __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_RELEASE);
        pthread_kill(v->thread, SIGRTMIN);
}

void vcpu_wait_parked(struct vcpu *v)
{
        uint32_t s;

        if (!v->started)
                return;
        while ((s = __atomic_load_n(&v->parked, __ATOMIC_ACQUIRE)) == VCPU_RUNNING)
                vcpu_futex_wait(&v->parked, s);
}

void vcpu_resume(struct vcpu *v)
{
        uint32_t s;

        __atomic_store_n(&v->pause_req, 0, __ATOMIC_RELEASE);
        vcpu_futex_wake(&v->pause_req);
        if (!v->started)
                return;
        /* Wait for the thread to leave its park, so a pause right after this one waits for a
         * fresh park rather than seeing this one's stale VCPU_PARKED. */
        while ((s = __atomic_load_n(&v->parked, __ATOMIC_ACQUIRE)) == VCPU_PARKED)
                vcpu_futex_wait(&v->parked, s);
}

void vcpu_destroy(struct vcpu *v)
{
        if (v->started) {
                pthread_join(v->thread, NULL);
                v->started = false;
        }
        if (v->run)
                munmap(v->run, v->run_size);
        if (v->fd >= 0)
                close(v->fd);
        v->run = NULL;
        v->fd = -1;
}
