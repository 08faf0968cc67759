/* An expedited SRCU grace period of a running VM on a helper thread: its teardown waits less. */
#ifndef BRASA_VMM_KVM_SETTLE_H
#define BRASA_VMM_KVM_SETTLE_H

#include <pthread.h>
#include <stdbool.h>

/*
 * Why: KVM frees the I/O-bus copies that device registration replaces (the in-kernel PIC and
 * IOAPIC, every ioeventfd) after a normal SRCU grace period, and destroying the VM waits for
 * those callbacks (srcu_barrier). On this project's host that is 10-14 ms when a VM dies within
 * a few milliseconds of its set-up. One expedited grace period asked for while the guest runs
 * (an ioeventfd registered and removed at once) retires them early, and the VM's close() then
 * takes about 0.4 ms.
 */
struct kvm_settle {
        pthread_t thread;
        bool started;
        int vm_fd;
        int efd;
};

/*
 * Starts the helper thread on vm_fd (the VMM's, not owned) with every signal blocked and the
 * VMM's seccomp filter. Best effort: a failure leaves nothing started and only costs the
 * teardown its wait. Returns 0 or -errno.
 */
int kvm_settle_start(struct kvm_settle *s, int vm_fd);

/* Waits for the helper (before the VM fd is closed). Safe when none was started. */
void kvm_settle_join(struct kvm_settle *s);

#endif
