/* Pausing and resuming a running microVM: park the vCPUs, then freeze the device loop. */
#include "vmm/vmm.h"

#include <errno.h>

int vmm_pause(struct vmm *vmm)
{
        unsigned int i;

        if (!vmm->started)
                return -EAGAIN;
        /* All kicked first, then all waited for: the parks overlap. */
        for (i = 0; i < vmm->nr_vcpus; i++)
                vcpu_pause(&vmm->vcpus[i]);
        for (i = 0; i < vmm->nr_vcpus; i++)
                vcpu_wait_parked(&vmm->vcpus[i]);
        /* No vCPU runs now, so no new notification comes; what is pending waits too. */
        evloop_freeze(&vmm->loop);
        vmm->paused = true;
        return 0;
}

int vmm_resume(struct vmm *vmm)
{
        unsigned int i;
        int rc;

        if (!vmm->started)
                return -EAGAIN;
        /* Devices first: what fired while paused is served before the guest runs on. */
        rc = evloop_thaw(&vmm->loop);
        for (i = 0; i < vmm->nr_vcpus; i++)
                vcpu_resume(&vmm->vcpus[i]);
        vmm->paused = false;
        return rc;
}

bool vmm_paused(const struct vmm *vmm)
{
        return vmm->paused;
}
