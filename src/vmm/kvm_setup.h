/* KVM set-up off the critical path: VM, irqchip, guest RAM, slots and vCPUs on a thread. */
#ifndef BRASA_VMM_KVM_SETUP_H
#define BRASA_VMM_KVM_SETUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "arch/x86_64/layout.h"
#include "core/err.h"
#include "core/guest_mem.h"
#include "model/config.h"
#include "vmm/kvm_vm.h"
#include "vmm/vcpu.h"

/* The machine-config fields the KVM objects depend on: what one set-up builds. */
struct kvm_setup_want {
        bool mem; /* guest RAM and its slots; false: the caller maps it (a snapshot's file) */
        uint64_t mem_mib;
        enum huge_pages huge_pages;
        bool dirty_log;
        unsigned int nr_vcpus; /* 0: the VM alone (its irqchip comes with vCPUs) */
};

/* What a set-up built; owned by whoever holds it (the set-up, then the VMM). */
struct kvm_setup_res {
        struct kvm_vm vm;
        struct guest_mem mem;
        struct vcpu vcpus[LAYOUT_MAX_VCPUS];
        unsigned int nr_vcpus;
        bool irqchip;             /* TSS and irqchip are in vm (before any vCPU) */
        struct kvm_cpuid2 *cpuid; /* KVM_GET_SUPPORTED_CPUID (vcpu_supported_cpuid()), or NULL */
};

struct kvm_setup {
        pthread_t thread;
        bool running;  /* the thread serves requests (until kvm_setup_take() or _stop()) */
        bool joinable; /* the thread exists: joined by the next start or kvm_setup_stop() */
        pthread_mutex_t mu;
        pthread_cond_t cv;
        /* Under mu: */
        struct kvm_setup_want want;  /* what the VMM asks for now */
        struct kvm_setup_want cur;   /* what the thread is building (busy) or built last */
        struct kvm_setup_want built; /* what res holds (has_built) */
        bool busy, has_round, mem_ready, quit, has_built;
        bool parked;   /* its result was taken: it only waits for a settle or its end */
        int settle_fd; /* the VM fd kvm_setup_settle() gave it, or -1 */
        int rc;        /* of the last round: 0, or -errno with e */
        struct err e;
        struct kvm_setup_res res;
        const struct vcpu_env *env; /* given to each vCPU */
};

/* The set-up for cfg's machine-config (the defaults when none was given). */
void kvm_setup_want_of(const struct vm_config *cfg, bool mem, struct kvm_setup_want *w);

/* An idle set-up (no thread); env goes to the vCPUs it creates. */
void kvm_setup_init(struct kvm_setup *s, const struct vcpu_env *env);

/*
 * Asks for w: starts the set-up thread (its own seccomp filter, signals blocked) if none runs,
 * otherwise lets it redo what no longer matches w once its current round ends (a VM whose
 * slots or vCPUs do not match w is thrown away whole, never booted). Never waits for KVM;
 * a failure is kept for kvm_setup_take(). VMM thread.
 */
void kvm_setup_request(struct kvm_setup *s, const struct kvm_setup_want *w);

/*
 * Asks for w (with w->mem) and waits until guest RAM for it is mapped, so that the caller can
 * load the kernel while the slow ioctls go on. *mem points into s (valid until
 * kvm_setup_take()). Returns 0, or the set-up's -errno with its text in e.
 */
int kvm_setup_wait_memory(struct kvm_setup *s, const struct kvm_setup_want *w,
                          const struct guest_mem **mem, struct err *e);

/*
 * Asks for w, waits until it is built, parks the thread and moves the result to *out
 * (fds, mappings: *out owns them, also on failure, so kvm_setup_release_res() frees them).
 * Returns 0, or -errno with Firecracker's text of the failing step in e.
 */
int kvm_setup_take(struct kvm_setup *s, const struct kvm_setup_want *w, struct kvm_setup_res *out,
                   struct err *e);

/*
 * Adds the TSS and irqchip to r's VM unless there, then vCPUs up to nr (env to each),
 * on the calling thread: what a round does last, for a caller that registered its own slots
 * first (a snapshot's memory file). Returns 0 or -errno with e set.
 */
int kvm_setup_vcpus(struct kvm_setup_res *r, unsigned int nr, const struct vcpu_env *env,
                    struct err *e);

/*
 * Once the VM built from a taken result runs: has the parked set-up thread make one expedited
 * SRCU grace period on vm_fd (kvm_vm_settle()), hand back brasa's read-only pages again and
 * end. KVM frees what device registration replaced after a normal grace period, and the VM's
 * destruction waits for those frees: about 10 ms on this project's host for a VM that dies
 * within a few milliseconds of its set-up, 0.4 ms once settled (docs/design.md). Returns
 * false, asking nothing, when no parked thread is there (best effort). VMM thread.
 */
bool kvm_setup_settle(struct kvm_setup *s, int vm_fd);

/*
 * Ends and joins a parked thread, after the settle it was asked for: before the VM fd it
 * settles is closed. A thread still building for a later boot is left alone.
 */
void kvm_setup_join_parked(struct kvm_setup *s);

/* Ends the thread (after its current round) and frees what it built. Safe when idle. */
void kvm_setup_stop(struct kvm_setup *s);

/* Frees a result: vCPUs, memory slots' RAM, the VM. */
void kvm_setup_release_res(struct kvm_setup_res *r);

/*
 * The checks before guest RAM is mapped (Firecracker's size limit, RAM + swap), and the
 * text of a failed mapping: shared with a snapshot's file-backed memory. Return 0 or -errno
 * with one line in e.
 */
int kvm_setup_check_mem(uint64_t mem_mib, struct err *e);
int kvm_setup_map_error(uint64_t mem_mib, enum huge_pages hp, int rc, struct err *e);

/*
 * Fresh anonymous guest RAM of mem_mib MiB backed as hp says, into mem, after
 * kvm_setup_check_mem(): what the set-up thread maps for a boot, and a Uffd load maps itself.
 * Returns 0 or -errno with Firecracker's text in e.
 */
int kvm_setup_map_ram(struct guest_mem *mem, uint64_t mem_mib, enum huge_pages hp, struct err *e);

#endif
