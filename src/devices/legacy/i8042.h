/* Minimal i8042 keyboard controller, as Firecracker's: CPU reset, control byte, Ctrl-Alt-Del. */
#ifndef BRASA_DEVICES_LEGACY_I8042_H
#define BRASA_DEVICES_LEGACY_I8042_H

#include <pthread.h>
#include <stdint.h>

#include "core/metrics.h"
#include "devices/bus.h"

#define I8042_BUF_SIZE 16

/*
 * Counters, by Firecracker's I8042DeviceMetrics names and in its order (core/metrics.h's
 * scheme): reset_count counts 0xFE commands (each called the reset callback),
 * missed_read_count reads of ports 0x62 and 0x63, missed_write_count writes of them and
 * unknown commands (0x61 is the PIT's speaker port on the bus); the others stay 0. Snapshot them
 * with i8042_get_stats().
 */
#define I8042_METRICS(X, T)                                                                        \
        X(T, COUNTER, error_count)                                                                 \
        X(T, COUNTER, missed_read_count)                                                           \
        X(T, COUNTER, missed_write_count)                                                          \
        X(T, COUNTER, read_count)                                                                  \
        X(T, COUNTER, reset_count)                                                                 \
        X(T, COUNTER, write_count)

struct i8042_stats {
        I8042_METRICS(METRICS_FIELD_PLAIN, _)
};

/* The fields of struct i8042_stats: the "i8042" group. */
extern const struct metrics_table i8042_metrics_table;

/*
 * Locking: every field is guarded by lock; register callbacks run on vCPU
 * threads, i8042_send_ctrl_alt_del() on the API/VMM thread. The reset
 * callback is called with the lock released.
 */
struct i8042 {
        pthread_mutex_t lock;
        int irq_fd; /* not owned; eventfd bound to GSI 1 (KVM irqfd) */
        void (*reset)(void *ctx);
        void *ctx;
        uint8_t status;  /* status register (port 0x64 reads) */
        uint8_t control; /* controller command byte ("CTR") */
        uint8_t outp;    /* output port */
        uint8_t cmd;     /* last command awaiting its data byte on port 0x60 */
        uint8_t buf[I8042_BUF_SIZE];
        unsigned int head, count;
        struct i8042_stats stats;
};

/* What a snapshot keeps of the controller (bytes only: no padding). */
struct i8042_state {
        uint8_t status, control, outp, cmd;
        uint8_t count;
        uint8_t buf[I8042_BUF_SIZE]; /* from its head */
};

/* Copies the snapshot state out of k. */
void i8042_save(struct i8042 *k, struct i8042_state *out);

/* Puts a saved state into k. Returns 0, or -EINVAL for a buffer count above its size. */
int i8042_restore(struct i8042 *k, const struct i8042_state *in);

/*
 * Initialises k in its power-on state (kbd enabled, kbd interrupt enabled,
 * empty buffer). irq_fd (not owned) is written with 1 to raise IRQ 1. reset
 * (may be NULL) is called with ctx on the vCPU thread when the guest writes
 * 0xFE to port 0x64; it must only signal the VMM (e.g. write an eventfd).
 * Returns 0 or -errno.
 */
int i8042_init(struct i8042 *k, int irq_fd, void (*reset)(void *ctx), void *ctx);

/* Back to the power-on state of i8042_init(), keeping irq_fd, the callback and the counters. */
void i8042_reset(struct i8042 *k);

/* Releases what i8042_init() created. k must not be on a bus any more. */
void i8042_destroy(struct i8042 *k);

/*
 * The register window, ports 0x60..0x64 (data at offset 0, status/command at
 * offset 4; 0x61..0x63 read 0 and ignore writes), with k as opaque.
 */
struct bus_dev i8042_bus_dev(struct i8042 *k);

/*
 * The same registers as the bus holds them, around the speaker port 0x61 (the PIT's): 0x60
 * alone, then 0x62..0x64 (reads 0 and ignored writes at 0x62 and 0x63, the command port).
 */
void i8042_bus_windows(struct i8042 *k, struct bus_dev out[2]);

/*
 * Queues the set-2 scancodes of Ctrl-Alt-Del press (0x14, 0x11, 0xE0 0x71)
 * and raises IRQ 1 if the guest enabled kbd interrupts in the control byte.
 * Returns 0, or -ENOSPC (nothing queued) when fewer than 4 slots are free.
 */
int i8042_send_ctrl_alt_del(struct i8042 *k);

/* Copies the counters under the lock. */
void i8042_get_stats(struct i8042 *k, struct i8042_stats *out);

#endif
