/* vCPUs: creation, boot configuration, the KVM_RUN thread and its exit dispatch. */
#ifndef BRASA_VMM_VCPU_H
#define BRASA_VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/cpu_template.h"
#include "core/err.h"
#include "core/guest_mem.h"
#include "devices/bus.h"
#include "vmm/kvm_vm.h"

/* What every vCPU thread shares: the buses, guest memory and how to stop the VM. */
struct vcpu_env {
        const struct bus *pio;
        const struct bus *mmio;
        const struct guest_mem *mem;
        /* Called from a vCPU thread when the VM must end with exit code code. */
        void (*request_exit)(void *ctx, int code);
        void *ctx;
};

enum { VCPU_RUNNING, VCPU_PARKED, VCPU_GONE };

struct vcpu {
        unsigned int index;
        int fd;
        struct kvm_run *run;
        size_t run_size;
        pthread_t thread;
        bool started;
        bool stop; /* accessed atomically */
        /* Pausing, accessed atomically and waited on as futex words: */
        uint32_t pause_req; /* 1: the VMM wants the thread parked */
        uint32_t parked;    /* VCPU_RUNNING, VCPU_PARKED or VCPU_GONE (the thread ended) */
        uint32_t ready;     /* 1: the thread is past its set-up, about to run (or gone) */
        const struct vcpu_env *env;
};

/* Boot-state inputs shared by all vCPUs. */
struct vcpu_boot {
        bool pvh;
        uint64_t entry;
        unsigned int nr_vcpus;
        bool smt; /* two threads per core (with nr_vcpus > 1) */
        bool pvm_template;
        const struct kvm_cpuid2 *supported_cpuid; /* from KVM_GET_SUPPORTED_CPUID */
        const struct cpu_template *tmpl;          /* static or custom CPU template; NULL: none */
};

/*
 * Installs the kick signal handler (SIGRTMIN, no SA_RESTART) once per process.
 * Returns 0 or -errno.
 */
int vcpu_signal_setup(void);

/* Creates vCPU index and maps its kvm_run. Returns 0 or -errno. */
int vcpu_create(struct vcpu *v, struct kvm_vm *vm, unsigned int index, const struct vcpu_env *env);

/*
 * Sets CPUID (the CPU template's modifiers, then Firecracker's normalization,
 * then the kvm_pvm template when asked), the template's MSRs, then the boot
 * MSRs, registers, FPU and LAPIC. Returns 0 or -errno; err names the step in
 * Firecracker's words where Firecracker has them.
 */
int vcpu_configure(struct vcpu *v, const struct vcpu_boot *boot, struct err *e);

/*
 * Starts the vCPU thread ("fc_vcpu N") and returns once it has its seccomp filter and is
 * about to run the guest (or has failed): Firecracker too answers InstanceStart only after
 * each vCPU thread acknowledged its resume. Returns 0 or -errno.
 */
int vcpu_start(struct vcpu *v);

/* Asks the vCPU thread to leave KVM_RUN and end (immediate_exit + signal). */
void vcpu_kick(struct vcpu *v);

/*
 * Asks the vCPU thread to leave KVM_RUN (immediate_exit + signal) and park: it lets KVM
 * finish the instruction of its last PIO/MMIO exit, then waits without running the guest.
 * Returns at once; vcpu_wait_parked() waits for it.
 */
void vcpu_pause(struct vcpu *v);

/*
 * Waits until the thread parked (or ended, or never started), so the vCPU state is at an
 * instruction boundary and no vCPU touches a device. VMM thread.
 */
void vcpu_wait_parked(struct vcpu *v);

/* Lets a parked (or parking) vCPU thread run the guest again; returns once it left its park. */
void vcpu_resume(struct vcpu *v);

/* Joins the thread (after vcpu_kick) and releases the vCPU. */
void vcpu_destroy(struct vcpu *v);

/*
 * Reads KVM_GET_SUPPORTED_CPUID into a newly allocated buffer with room to add
 * entries. Returns NULL on failure. The caller frees it.
 */
struct kvm_cpuid2 *vcpu_supported_cpuid(struct kvm_vm *vm);

#endif
