/* The SRCU settle helper: an ioeventfd registered and removed on the running VM, then exit. */
#include "vmm/kvm_settle.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/textpages.h"
#include "seccomp/seccomp.h"

/* The helper only makes two ioctls, or writes a log line; 32 KiB holds either. */
#define KVM_SETTLE_STACK (32u << 10)

static void *settle_thread(void *arg)
{
        struct kvm_settle *s = arg;
        /*
         * A port no device of the machine has, and a value to match: while it is registered
         * (a few ms) only a guest write of exactly that byte there lands in the eventfd
         * instead of being ignored by brasa, which the guest cannot tell apart.
         */
        struct kvm_ioeventfd io = {
            .datamatch = LAYOUT_SETTLE_MATCH,
            .addr = LAYOUT_PORT_SETTLE,
            .len = 1,
            .fd = s->efd,
            .flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH,
        };

        log_set_thread_name("fc_kvm_settle");
        if (seccomp_apply_setup())
                return NULL;
        /* Removing an I/O-bus device waits for an expedited grace period: that is the point. */
        if (ioctl(s->vm_fd, KVM_IOEVENTFD, &io) < 0)
                return NULL;
        io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        if (ioctl(s->vm_fd, KVM_IOEVENTFD, &io) < 0)
                log_warn("KVM settle: cannot remove its ioeventfd: %s", strerror(errno));
        /* This thread ran after the boot's drop: its code and the filter leave our RSS too. */
        textpages_release();
        return NULL;
}

int kvm_settle_start(struct kvm_settle *s, int vm_fd)
{
        pthread_attr_t attr;
        sigset_t all, old;
        int rc;

        s->started = false;
        s->vm_fd = vm_fd;
        s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->efd < 0)
                return -errno;
        rc = -pthread_attr_init(&attr);
        if (!rc)
                rc = -pthread_attr_setstacksize(&attr, KVM_SETTLE_STACK);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if (!rc)
                rc = -pthread_create(&s->thread, &attr, settle_thread, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (rc) {
                close(s->efd);
                s->efd = -1;
                return rc;
        }
        s->started = true;
        return 0;
}

void kvm_settle_join(struct kvm_settle *s)
{
        if (!s->started)
                return;
        pthread_join(s->thread, NULL);
        close(s->efd);
        s->efd = -1;
        s->started = false;
}
