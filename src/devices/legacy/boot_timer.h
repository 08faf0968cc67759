/* Boot-timer pseudo-device: the guest writes 123 once booted and we log the elapsed time. */
#ifndef BRASA_DEVICES_LEGACY_BOOT_TIMER_H
#define BRASA_DEVICES_LEGACY_BOOT_TIMER_H

#include <time.h>

#include "devices/bus.h"

#define BOOT_TIMER_MAGIC 123

/* Immutable after init, so the device needs no lock. */
struct boot_timer {
        struct timespec start_wall; /* CLOCK_MONOTONIC at InstanceStart */
        struct timespec start_cpu;  /* CLOCK_PROCESS_CPUTIME_ID at InstanceStart */
};

/*
 * Records the reference instants (when InstanceStart processing began):
 * start_wall from CLOCK_MONOTONIC, start_cpu from CLOCK_PROCESS_CPUTIME_ID.
 */
void boot_timer_init(struct boot_timer *t, const struct timespec *start_wall,
                     const struct timespec *start_cpu);

/*
 * The MMIO window (LAYOUT_BOOT_TIMER_START, 4 KiB) with t as opaque. A 1-byte
 * write of 123 at offset 0 logs, at INFO, Firecracker's line
 * "Guest-boot-time = <us> us <ms> ms, <cpu us> CPU us <cpu ms> CPU ms";
 * other writes are ignored and reads return zeros.
 */
struct bus_dev boot_timer_bus_dev(struct boot_timer *t);

#endif
