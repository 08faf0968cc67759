/* COM1 16550A UART register model: guest output to an fd, host input via a 64-byte RX FIFO. */
#ifndef BRASA_DEVICES_LEGACY_SERIAL_H
#define BRASA_DEVICES_LEGACY_SERIAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/metrics.h"
#include "core/rate_limiter.h"
#include "devices/bus.h"

#define SERIAL_FIFO_SIZE 64

/*
 * Guest output waiting for out_fd: the vCPU only appends here (a THR write never waits on the
 * host), the VMM thread writes it out (serial_flush_output()). A byte that finds it full is
 * dropped and counted.
 */
#define SERIAL_TX_RING (64u << 10)

/*
 * Counters, by Firecracker's SerialDeviceMetrics names and in its order (core/metrics.h's
 * scheme): missed_write_count counts THR bytes lost (the output ring was full, or write()
 * failed), as Firecracker's tx_lost_byte; error_count counts those too (Firecracker's
 * handle_write error) and loopback overruns; missed_read_count RBR reads while the RX FIFO
 * was empty (returned 0), read_count bytes that entered the RX FIFO (host input or loopback),
 * write_count THR bytes written to out_fd (or discarded when out_fd < 0); the others stay 0.
 * Snapshot them with serial_get_stats().
 */
#define SERIAL_METRICS(X, T)                                                                       \
        X(T, COUNTER, error_count)                                                                 \
        X(T, COUNTER, flush_count)                                                                 \
        X(T, COUNTER, missed_read_count)                                                           \
        X(T, COUNTER, missed_write_count)                                                          \
        X(T, COUNTER, read_count)                                                                  \
        X(T, COUNTER, write_count)                                                                 \
        X(T, COUNTER, rate_limiter_dropped_bytes)

struct serial_stats {
        SERIAL_METRICS(METRICS_FIELD_PLAIN, _)
};

/* The fields of struct serial_stats: the "uart" group. */
extern const struct metrics_table serial_metrics_table;

/*
 * Locking: every field below is guarded by lock. Register callbacks (vCPU
 * threads) and serial_push_input()/serial_input_space()/serial_flush_output() (VMM thread)
 * take it; the write() to out_fd happens on the VMM thread with it released, and never
 * waits (out_fd is non-blocking, or a regular file).
 */
struct serial {
        pthread_mutex_t lock;
        int out_fd;        /* not owned; < 0 discards output */
        int irq_fd;        /* not owned; eventfd bound to GSI 4 (KVM irqfd) */
        int input_evt_fd;  /* owned; see serial_input_eventfd() */
        int output_evt_fd; /* owned; see serial_output_eventfd() */
        uint8_t ier, lcr, mcr, scr, dll, dlm;
        bool fifo_enabled;  /* FCR bit 0: IIR reports FIFO bits */
        bool overrun;       /* LSR OE, set by loopback overrun, cleared by reading LSR */
        bool thre_pending;  /* THRE interrupt source armed (THR empty, not yet acked) */
        bool irq_level;     /* last computed interrupt output, for edge detection */
        bool input_waiting; /* the VMM was refused input; wake it when the FIFO empties */
        uint8_t rx[SERIAL_FIFO_SIZE];
        unsigned int rx_head, rx_count;
        uint8_t tx[SERIAL_TX_RING]; /* output ring: tx_count bytes from tx_head on */
        unsigned int tx_head, tx_count;
        struct token_bucket out_limit; /* guest output, in bytes; disabled by default */
        struct serial_stats stats;
};

/* What a snapshot keeps of the UART: registers and the receive FIFO (bytes only: no padding).
 * Output still in the ring belongs to the process that saved it and is not kept. */
struct serial_state {
        uint8_t ier, lcr, mcr, scr, dll, dlm;
        uint8_t flags; /* SERIAL_STATE_* */
        uint8_t rx_count;
        uint8_t rx[SERIAL_FIFO_SIZE]; /* the FIFO from its head */
};
enum {
        SERIAL_STATE_FIFO = 1u << 0,
        SERIAL_STATE_OVERRUN = 1u << 1,
        SERIAL_STATE_THRE = 1u << 2,
        SERIAL_STATE_IRQ = 1u << 3,
};

/* Copies the snapshot state out of s (any thread; vCPUs paused for a consistent one). */
void serial_save(struct serial *s, struct serial_state *out);

/* Puts a saved state into s. Returns 0, or -EINVAL for a FIFO count above its size. */
int serial_restore(struct serial *s, const struct serial_state *in);

/*
 * Initialises s in the 16550A reset state (9600 8N1 divisor, MCR.OUT2 set,
 * FIFO empty, no interrupt). out_fd receives guest output through serial_flush_output()
 * (not owned, may be < 0 to discard; it should be O_NONBLOCK unless it is a regular file);
 * irq_fd is an eventfd (not owned) written with 1 on each rising edge of the interrupt
 * line. Creates the input-ready and output-ready eventfds. Returns 0 or -errno.
 */
int serial_init(struct serial *s, int out_fd, int irq_fd);

/*
 * Limits guest output to the bucket cfg describes (Firecracker's serial rate_limiter, in
 * bytes): a byte over the limit is dropped and counted in rate_limiter_dropped_bytes, so the
 * vCPU never waits. A cfg that is not present leaves output unlimited. Any thread.
 */
void serial_set_output_limit(struct serial *s, const struct token_bucket_cfg *cfg);

/*
 * Releases what serial_init() created, after one last serial_drain_output(s, 0). s must not
 * be on a bus any more.
 */
void serial_destroy(struct serial *s);

/* The COM1 register window (LAYOUT_PORT_COM1, 8 ports) with s as opaque. */
struct bus_dev serial_bus_dev(struct serial *s);

/*
 * Back to the reset state of serial_init() (registers, an empty RX FIFO, no interrupt),
 * keeping the fds and the counters; wakes a refused input source. Any thread.
 */
void serial_reset(struct serial *s);

/*
 * Free RX FIFO slots: how many bytes serial_push_input() would accept now
 * (0 in loopback mode, where the line input is disconnected). A 0 answer arms
 * the input eventfd. VMM thread.
 */
size_t serial_input_space(struct serial *s);

/*
 * Queues up to len host bytes for the guest; returns how many were accepted
 * (0..SERIAL_FIFO_SIZE). Accepting fewer than len arms the input eventfd.
 * Raises the RDA interrupt if the guest enabled it. VMM thread.
 */
int serial_push_input(struct serial *s, const uint8_t *buf, size_t len);

/*
 * An EFD_NONBLOCK eventfd (owned by s) that becomes readable when the guest
 * has drained the RX FIFO to empty after the VMM was refused input (by
 * serial_input_space() returning 0 or a short serial_push_input()). The VMM
 * stops polling stdin when refused, polls this fd, reads it to clear it and
 * then resumes reading stdin. Signalled at most once per refusal.
 */
int serial_input_eventfd(struct serial *s);

/*
 * An EFD_NONBLOCK eventfd (owned by s) that becomes readable when guest output enters the
 * empty ring (and again after a serial_flush_output() that left output for later): the VMM
 * polls it and calls serial_flush_output().
 */
int serial_output_eventfd(struct serial *s);

/*
 * Writes buffered output to out_fd, at most budget bytes; clears the output eventfd.
 * Returns 0 when the ring is empty, -EAGAIN when out_fd is full (poll it for EPOLLOUT and
 * call again), -EBUSY when the budget was spent with output left (the output eventfd is
 * signalled again). A write error other than EAGAIN drops what the ring holds (counted in
 * missed_write_count and error_count). VMM thread.
 */
int serial_flush_output(struct serial *s, size_t budget);

/*
 * Teardown: writes what is buffered, waiting up to timeout_ms in all for a full out_fd to
 * take it; what is left then is dropped and counted in missed_write_count and error_count.
 */
void serial_drain_output(struct serial *s, int timeout_ms);

/* Copies the counters under the lock. */
void serial_get_stats(struct serial *s, struct serial_stats *out);

#endif
