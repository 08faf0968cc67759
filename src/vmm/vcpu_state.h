/* A vCPU's architectural state for snapshots: what KVM holds, read and written back in order. */
#ifndef BRASA_VMM_VCPU_STATE_H
#define BRASA_VMM_VCPU_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "core/err.h"
#include "vmm/kvm_vm.h"
#include "vmm/vcpu.h"

#define VCPU_STATE_MAX_MSRS 512u

/* Which optional parts this host's KVM gave (kvm_pvm lacks some); a restore sets only these. */
enum {
        VCPU_STATE_XSAVE = 1u << 0, /* xsave valid, else fpu */
        VCPU_STATE_XCRS = 1u << 1,
        VCPU_STATE_DEBUGREGS = 1u << 2,
};

/* Fixed-size, so a state file section is exactly sizeof(struct vcpu_state). */
struct vcpu_state {
        uint32_t flags; /* VCPU_STATE_* */
        uint32_t nmsrs;
        struct kvm_regs regs;
        struct kvm_sregs sregs;
        struct kvm_fpu fpu;
        /* struct kvm_xsave's 4 KiB region: the struct itself ends in a flexible array
         * (used by KVM_GET_XSAVE2 only), which may not sit inside another struct. */
        uint32_t xsave[1024];
        struct kvm_xcrs xcrs;
        struct kvm_debugregs dregs;
        struct kvm_lapic_state lapic;
        struct kvm_mp_state mp;
        struct kvm_vcpu_events events;
        struct kvm_msr_entry msrs[VCPU_STATE_MAX_MSRS];
};

_Static_assert(sizeof(((struct vcpu_state *)0)->xsave) == sizeof(struct kvm_xsave),
               "the XSAVE region is struct kvm_xsave without its flexible tail");

/*
 * Reads the state of a parked vCPU: MP state, registers, special registers, XSAVE (or the
 * legacy FPU where XSAVE is refused), XCRs, debug registers, LAPIC, every MSR of KVM's
 * save list that reads back (the TSC and TSC deadline among them) and the pending events.
 * Returns 0 or -errno with the failing ioctl named in e.
 */
int vcpu_state_save(struct vcpu *v, const struct kvm_vm *vm, struct vcpu_state *s, struct err *e);

/*
 * Puts n MSRs (as saved) in the order and form a restore needs, as Firecracker does: the TSC
 * deadline moves last, after the TSC that KVM arms its timer against; a deadline of 0 becomes
 * the TSC, so that its timer fires at once. A paused vCPU's deadline timer still expires on the
 * host, which clears the MSR and leaves the interrupt pending inside KVM where no save sees it:
 * restored as 0, that interrupt is lost and an idle vCPU may wait for it for good. An extra
 * timer interrupt is harmless: the guest finds nothing expired and re-arms.
 */
void vcpu_state_fix_msrs(struct kvm_msr_entry *m, uint32_t n);

/*
 * Writes s into a created and CPUID-configured vCPU that has not run, in the order KVM needs
 * (LAPIC before MSRs such as the TSC deadline, events last). A hostile s is bounded: nmsrs
 * above VCPU_STATE_MAX_MSRS is refused. Returns 0 or -errno with the ioctl named in e.
 */
int vcpu_state_restore(struct vcpu *v, const struct vcpu_state *s, struct err *e);

#endif
