/* Saving and restoring a vCPU's KVM state, for snapshots. */
#include "vmm/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/metrics.h"

/* One vCPU ioctl; names it in e when it fails. */
static int vcpu_ioctl(const struct vcpu *v, unsigned long req, const void *arg, const char *name,
                      struct err *e)
{
        int rc;

        if (ioctl(v->fd, req, arg) >= 0)
                return 0;
        rc = -errno;
        return err_set(e, rc, "vCPU %u: %s failed: %s", v->index, name, strerror(-rc));
}

/* KVM's list of MSRs to save (KVM_GET_MSR_INDEX_LIST), into s->msrs' indices. */
static int msr_index_list(const struct kvm_vm *vm, struct vcpu_state *s, struct err *e)
{
        struct kvm_msr_list *l;
        uint32_t i;
        int rc = 0;

        l = calloc(1, sizeof(*l) + VCPU_STATE_MAX_MSRS * sizeof(l->indices[0]));
        if (!l)
                return -ENOMEM;
        l->nmsrs = VCPU_STATE_MAX_MSRS;
        if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
                rc = -errno;
                err_set(e, rc, "KVM_GET_MSR_INDEX_LIST failed: %s", strerror(-rc));
        } else {
                s->nmsrs = l->nmsrs;
                for (i = 0; i < l->nmsrs; i++)
                        s->msrs[i] = (struct kvm_msr_entry){.index = l->indices[i]};
        }
        free(l);
        return rc;
}

/*
 * Reads every MSR of the list. KVM stops at the first one it cannot read; that one is
 * dropped (this KVM does not keep it, so there is nothing to restore) and reading goes on.
 */
static int msrs_read(struct vcpu *v, struct vcpu_state *s)
{
        struct kvm_msrs *m;
        uint32_t done = 0;
        int n, rc = 0;

        m = calloc(1, sizeof(*m) + VCPU_STATE_MAX_MSRS * sizeof(m->entries[0]));
        if (!m)
                return -ENOMEM;
        while (done < s->nmsrs) {
                m->nmsrs = s->nmsrs - done;
                memcpy(m->entries, s->msrs + done, m->nmsrs * sizeof(m->entries[0]));
                n = ioctl(v->fd, KVM_GET_MSRS, m);
                if (n < 0) {
                        rc = -errno;
                        break;
                }
                memcpy(s->msrs + done, m->entries, (size_t)n * sizeof(m->entries[0]));
                done += (uint32_t)n;
                if (done < s->nmsrs) {
                        memmove(s->msrs + done, s->msrs + done + 1,
                                (s->nmsrs - done - 1) * sizeof(s->msrs[0]));
                        s->nmsrs--;
                }
        }
        free(m);
        return rc;
}

/* The parts kvm_pvm may refuse: XSAVE falls back to the legacy FPU; XCRs and debug registers
 * are left out when refused. */
static int save_fpu_parts(struct vcpu *v, struct vcpu_state *s, struct err *e)
{
        if (ioctl(v->fd, KVM_GET_XSAVE, s->xsave) == 0)
                s->flags |= VCPU_STATE_XSAVE;
        else if (vcpu_ioctl(v, KVM_GET_FPU, &s->fpu, "KVM_GET_FPU", e))
                return e ? e->rc : -EIO;
        if (ioctl(v->fd, KVM_GET_XCRS, &s->xcrs) == 0)
                s->flags |= VCPU_STATE_XCRS;
        if (ioctl(v->fd, KVM_GET_DEBUGREGS, &s->dregs) == 0)
                s->flags |= VCPU_STATE_DEBUGREGS;
        return 0;
}

int vcpu_state_save(struct vcpu *v, const struct kvm_vm *vm, struct vcpu_state *s, struct err *e)
{
        int rc;

        memset(s, 0, sizeof(*s));
        rc = vcpu_ioctl(v, KVM_GET_MP_STATE, &s->mp, "KVM_GET_MP_STATE", e);
        if (!rc)
                rc = vcpu_ioctl(v, KVM_GET_REGS, &s->regs, "KVM_GET_REGS", e);
        if (!rc)
                rc = vcpu_ioctl(v, KVM_GET_SREGS, &s->sregs, "KVM_GET_SREGS", e);
        if (!rc)
                rc = save_fpu_parts(v, s, e);
        if (!rc)
                rc = vcpu_ioctl(v, KVM_GET_LAPIC, &s->lapic, "KVM_GET_LAPIC", e);
        if (!rc)
                rc = msr_index_list(vm, s, e);
        if (!rc) {
                rc = msrs_read(v, s);
                if (rc)
                        err_set(e, rc, "vCPU %u: KVM_GET_MSRS failed: %s", v->index, strerror(-rc));
        }
        if (!rc)
                rc = vcpu_ioctl(v, KVM_GET_VCPU_EVENTS, &s->events, "KVM_GET_VCPU_EVENTS", e);
        return rc;
}

#define MSR_IA32_TSC          0x00000010u
#define MSR_IA32_TSC_DEADLINE 0x000006e0u

void vcpu_state_fix_msrs(struct kvm_msr_entry *m, uint32_t n)
{
        struct kvm_msr_entry deadline;
        uint64_t tsc = 0;
        uint32_t i, at = n;

        for (i = 0; i < n; i++) {
                if (m[i].index == MSR_IA32_TSC)
                        tsc = m[i].data;
                else if (m[i].index == MSR_IA32_TSC_DEADLINE && at == n)
                        at = i;
        }
        if (at == n)
                return;
        deadline = m[at];
        memmove(m + at, m + at + 1, (n - at - 1) * sizeof(m[0]));
        if (!deadline.data)
                deadline.data = tsc;
        m[n - 1] = deadline;
}

static int restore_msrs(struct vcpu *v, const struct vcpu_state *s, struct err *e)
{
        struct kvm_msrs *m;
        int n, rc = 0;

        m = calloc(1, sizeof(*m) + s->nmsrs * sizeof(m->entries[0]));
        if (!m)
                return -ENOMEM;
        m->nmsrs = s->nmsrs;
        memcpy(m->entries, s->msrs, s->nmsrs * sizeof(m->entries[0]));
        vcpu_state_fix_msrs(m->entries, m->nmsrs);
        n = ioctl(v->fd, KVM_SET_MSRS, m);
        if (n < 0 || (uint32_t)n != s->nmsrs)
                rc = err_set(e, -EINVAL,
                             "vCPU %u: KVM_SET_MSRS set %d of %u MSRs (first refused: %#x)",
                             v->index, n, s->nmsrs, n >= 0 ? m->entries[n].index : 0);
        free(m);
        return rc;
}

static int restore_fpu_parts(struct vcpu *v, const struct vcpu_state *s, struct err *e)
{
        int rc;

        if (s->flags & VCPU_STATE_XSAVE)
                rc = vcpu_ioctl(v, KVM_SET_XSAVE, s->xsave, "KVM_SET_XSAVE", e);
        else
                rc = vcpu_ioctl(v, KVM_SET_FPU, &s->fpu, "KVM_SET_FPU", e);
        if (!rc && (s->flags & VCPU_STATE_XCRS))
                rc = vcpu_ioctl(v, KVM_SET_XCRS, &s->xcrs, "KVM_SET_XCRS", e);
        if (!rc && (s->flags & VCPU_STATE_DEBUGREGS))
                rc = vcpu_ioctl(v, KVM_SET_DEBUGREGS, &s->dregs, "KVM_SET_DEBUGREGS", e);
        return rc;
}

/*
 * As Firecracker after a restore: the guest's watchdogs (RCU stall, soft lockup) must not count
 * the time the snapshot spent on disk. The pause's own KVM_KVMCLOCK_CTRL does not travel: KVM
 * writes its flag into the guest's kvmclock page only at the next entry, which never came.
 * Where the host cannot offset the guest's TSC (kvm_pvm), a guest on the TSC clocksource sees
 * that time pass at once, which Linux's RCU stall detector took for a stall without this call
 * (and may still, see docs/pvm-hosts.md). EINVAL only means the guest never enabled kvmclock.
 */
static void restored_clock_ctrl(struct vcpu *v)
{
        if (ioctl(v->fd, KVM_KVMCLOCK_CTRL, 0) < 0) {
                metrics_inc(&metrics.vcpu.kvmclock_ctrl_fails);
                log_warn("KVM_KVMCLOCK_CTRL call failed %s (os error %d)", strerror(errno), errno);
        }
}

int vcpu_state_restore(struct vcpu *v, const struct vcpu_state *s, struct err *e)
{
        int rc;

        if (s->nmsrs > VCPU_STATE_MAX_MSRS)
                return err_set(e, -EINVAL, "vCPU %u: %u MSRs in the state (at most %u)", v->index,
                               s->nmsrs, VCPU_STATE_MAX_MSRS);
        rc = vcpu_ioctl(v, KVM_SET_MP_STATE, &s->mp, "KVM_SET_MP_STATE", e);
        if (!rc)
                rc = vcpu_ioctl(v, KVM_SET_REGS, &s->regs, "KVM_SET_REGS", e);
        if (!rc)
                rc = vcpu_ioctl(v, KVM_SET_SREGS, &s->sregs, "KVM_SET_SREGS", e);
        if (!rc)
                rc = restore_fpu_parts(v, s, e);
        if (!rc)
                rc = vcpu_ioctl(v, KVM_SET_LAPIC, &s->lapic, "KVM_SET_LAPIC", e);
        if (!rc)
                rc = restore_msrs(v, s, e);
        if (!rc)
                rc = vcpu_ioctl(v, KVM_SET_VCPU_EVENTS, &s->events, "KVM_SET_VCPU_EVENTS", e);
        if (!rc)
                restored_clock_ctrl(v);
        return rc;
}
