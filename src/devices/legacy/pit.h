/* The Intel 8254 PIT (ports 0x40-0x43) and the speaker port 0x61, emulated in brasa, not in KVM. */
#ifndef BRASA_DEVICES_LEGACY_PIT_H
#define BRASA_DEVICES_LEGACY_PIT_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/bus.h"

#define PIT_FREQ_HZ 1193182u /* the 8254's input clock */
/* Shortest periodic interrupt a guest gets (KVM's min_timer_period_us): no guest floods us. */
#define PIT_MIN_PERIOD_NS 200000u

/*
 * Arms channel 0's interrupt: the first after delay_ns, then every period_ns (0: only once);
 * delay_ns 0 disarms it. Called with the PIT's lock held, on the thread that programmed it
 * (a vCPU thread, or the VMM thread for a reset or a restore); it must not call back in.
 */
typedef void (*pit_arm_fn)(void *ctx, uint64_t delay_ns, uint64_t period_ns);

/*
 * The state is KVM's own channel layout (struct kvm_pit_channel_state), so that a snapshot
 * keeps what KVM_GET_PIT2 gave when KVM emulated the PIT, and behaves as KVM_SET_PIT2 did.
 * Locking: every field is guarded by lock; the port callbacks run on vCPU threads.
 */
struct pit {
        pthread_mutex_t lock;
        struct kvm_pit_channel_state ch[3];
        bool speaker_data_on;  /* port 0x61 bit 1, read back as written */
        uint64_t (*now)(void); /* CLOCK_MONOTONIC in ns; the unit tests give their own */
        pit_arm_fn arm;
        void *ctx;
};

/*
 * Initialises p in KVM's power-on state: every channel's mode unset (0xff) and count 65536,
 * gates high on channels 0 and 1, channel 0 disarmed (arm is called once with 0). now may be
 * NULL (CLOCK_MONOTONIC). Returns 0 or -errno.
 */
int pit_init(struct pit *p, pit_arm_fn arm, void *ctx, uint64_t (*now)(void));

/* Back to the power-on state of pit_init(), channel 0 disarmed. */
void pit_reset(struct pit *p);

/* Releases what pit_init() created. p must not be on a bus any more. */
void pit_destroy(struct pit *p);

/*
 * The counters' window, ports 0x40..0x43 (channels 0-2 at offsets 0-2, the control word at
 * 3, which reads 0), and the speaker port 0x61 (bit 0 channel 2's gate, bit 1 speaker data,
 * bit 4 a refresh clock toggling every 16 us, bit 5 channel 2's output), with p as opaque.
 * Only the first byte of an access counts; wider reads return zeros above it.
 */
struct bus_dev pit_bus_dev(struct pit *p);
struct bus_dev pit_speaker_bus_dev(struct pit *p);

/* Copies the state out of p, in KVM_GET_PIT2's layout (flags: KVM_PIT_FLAGS_SPEAKER_DATA_ON). */
void pit_save(struct pit *p, struct kvm_pit_state2 *out);

/*
 * Puts a saved state (from a hostile file) into p, then reloads every channel's count as
 * KVM_SET_PIT2 does: counting restarts now, and channel 0 is armed for its mode. Returns 0,
 * or -EINVAL (p unchanged) for a field out of the 8254's range.
 */
int pit_restore(struct pit *p, const struct kvm_pit_state2 *in);

#endif
