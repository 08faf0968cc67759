/* The boot timeline: when one start passed each of its phases, for --boot-timeline. */
#ifndef BRASA_CORE_TIMELINE_H
#define BRASA_CORE_TIMELINE_H

#include <stddef.h>

/* The phases of one start, in the order a start passes them. */
enum timeline_phase {
        TL_EXEC,           /* main() began: the origin of every other time */
        TL_API_READY,      /* the API socket accepts connections */
        TL_INSTANCE_START, /* InstanceStart (or the config file's boot) began building */
        TL_KVM_READY,      /* the KVM VM, its memory slots and vCPUs are in hand */
        TL_KERNEL_LOADED,  /* kernel, initrd and boot structures are in guest memory */
        TL_FIRST_RUN,      /* a vCPU enters KVM_RUN for the first time */
        TL_GUEST,          /* the guest's boot-timer write or its first serial byte */
        TL_PHASES,
};

/* Sets the origin (TL_EXEC) to now. Call once, first thing in main(). */
void timeline_start(void);

/* Records phase p at now unless it was recorded already. Any thread; lock-free. */
void timeline_mark(enum timeline_phase p);

/*
 * Records how long the KVM set-up thread worked (its last round) and when it finished, so
 * the line can show what was done off the critical path. Any thread.
 */
void timeline_setup_thread(unsigned long long work_ns, unsigned long long done_ns);

/* CLOCK_MONOTONIC now in ns (for timeline_setup_thread()). */
unsigned long long timeline_now_ns(void);

/*
 * Writes the line (docs/usage.md, "Boot timeline"):
 *   "Boot timeline (us since exec): api_ready=812 instance_start=2034 kvm_ready=2040
 *    kernel_loaded=2210 first_kvm_run=2301 guest=2389; set-up thread: done=1010 work=950"
 * with "-" for a phase this start did not pass. Returns the length snprintf() gives.
 */
int timeline_format(char *buf, size_t len);

#endif
