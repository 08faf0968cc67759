/* Unit tests for the 16550A model: output, LSR, IIR priority, RX FIFO, interrupts, DLAB, loopback.
 */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "devices/legacy/serial.h"

#include "bus_test_util.h"

enum { THR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

struct fixture {
        struct serial s;
        struct bus_dev dev;
        int out[2]; /* pipe: out[1] is the serial's out_fd */
        int irq;
};

static int setup(void **state)
{
        struct fixture *f = test_malloc(sizeof(*f));

        assert_int_equal(pipe2(f->out, O_NONBLOCK | O_CLOEXEC), 0);
        f->irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(f->irq >= 0);
        assert_int_equal(serial_init(&f->s, f->out[1], f->irq), 0);
        f->dev = serial_bus_dev(&f->s);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        serial_destroy(&f->s);
        close(f->out[0]);
        close(f->out[1]);
        close(f->irq);
        test_free(f);
        return 0;
}

#define inb(f, off)     bus_test_inb(&(f)->dev, (off))
#define outb(f, off, v) bus_test_outb(&(f)->dev, (off), (v))

/* The VMM thread's part (serial_flush_output()), then what reached the pipe. */
static size_t drain_out(struct fixture *f, char *buf, size_t cap)
{
        ssize_t n;

        assert_int_equal(serial_flush_output(&f->s, SIZE_MAX), 0);
        n = read(f->out[0], buf, cap);

        return n > 0 ? (size_t)n : 0;
}

static void test_bus_window(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(f->dev.base, LAYOUT_PORT_COM1);
        assert_int_equal(f->dev.len, 8);
        assert_ptr_equal(f->dev.opaque, &f->s);
}

static void test_output_through_pipe(void **state)
{
        struct fixture *f = *state;
        struct serial_stats st;
        char buf[16];

        outb(f, THR, 'h');
        outb(f, THR, 'i');
        assert_int_equal(drain_out(f, buf, sizeof(buf)), 2);
        assert_memory_equal(buf, "hi", 2);
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.write_count, 2);
        assert_int_equal(st.error_count, 0);
        /* THRE interrupts are disabled: no IRQ. */
        assert_int_equal(evt_take(f->irq), 0);
}

static void test_output_dropped_on_error(void **state)
{
        struct fixture *f = *state;
        struct serial_stats st;

        /* Broken pipe: write() fails with EPIPE (SIGPIPE is ignored in main). */
        close(f->out[0]);
        f->out[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
        outb(f, THR, 'x');
        assert_int_equal(serial_flush_output(&f->s, SIZE_MAX), 0);
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.write_count, 0);
        assert_int_equal(st.error_count, 1);
        assert_int_equal(st.missed_write_count, 1); /* Firecracker's tx_lost_byte */
        /* The guest still sees an empty transmitter. */
        assert_int_equal(inb(f, LSR) & 0x60, 0x60);
}

static void test_output_discarded_without_fd(void **state)
{
        struct serial s;
        struct bus_dev d;
        struct serial_stats st;
        uint8_t c = 'z';

        (void)state;
        assert_int_equal(serial_init(&s, -1, -1), 0);
        d = serial_bus_dev(&s);
        d.write(d.opaque, THR, &c, 1);
        serial_get_stats(&s, &st);
        assert_int_equal(st.write_count, 1);
        serial_destroy(&s);
}

/*
 * What the pipe takes goes straight out; what a pipe nobody reads cannot take waits in the
 * ring, then is dropped and counted.
 */
static void test_output_ring_bounded(void **state)
{
        struct fixture *f = *state;
        int pipe_bytes = fcntl(f->out[1], F_SETPIPE_SZ, 4096);
        struct serial_stats st;
        uint64_t v;
        char c;

        assert_int_equal(pipe_bytes, 4096);
        for (int i = 0; i < pipe_bytes; i++)
                outb(f, THR, 'a' + i % 26);
        assert_true(read(serial_output_eventfd(&f->s), &v, sizeof(v)) < 0); /* all went out */
        for (int i = pipe_bytes; i < pipe_bytes + (int)SERIAL_TX_RING + 100; i++)
                outb(f, THR, 'a' + i % 26);
        /* The guest still sees an empty transmitter. */
        assert_int_equal(inb(f, LSR) & 0x60, 0x60);
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.write_count, pipe_bytes); /* the vCPU's side: until the pipe filled */
        assert_int_equal(st.missed_write_count, 100);
        assert_int_equal(st.error_count, 100);
        assert_true(read(serial_output_eventfd(&f->s), &v, sizeof(v)) == sizeof(v));
        /* The pipe is full: the VMM thread leaves the ring for EPOLLOUT. */
        assert_int_equal(serial_flush_output(&f->s, SIZE_MAX), -EAGAIN);
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.write_count, pipe_bytes);
        /* A budget: one pass writes at most that much, and comes back. */
        assert_int_equal(read(f->out[0], &c, 1), 1);
        assert_int_equal(c, 'a');
        for (int i = 1; i < pipe_bytes; i++)
                assert_int_equal(read(f->out[0], &c, 1), 1);
        assert_int_equal(serial_flush_output(&f->s, 10), -EBUSY);
        assert_true(read(serial_output_eventfd(&f->s), &v, sizeof(v)) == sizeof(v));
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.write_count, pipe_bytes + 10);
        /* Teardown's drain gives a reader nobody is 20 ms, then counts what it drops. */
        serial_drain_output(&f->s, 20);
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.write_count, 2 * pipe_bytes);
        assert_int_equal(st.write_count + st.missed_write_count, pipe_bytes + SERIAL_TX_RING + 100);
        assert_int_equal(serial_flush_output(&f->s, SIZE_MAX), 0);
}

/* Drained as it goes, nothing is lost. */
static void test_output_ring_drained(void **state)
{
        struct fixture *f = *state;
        struct serial_stats st;
        char buf[4096];
        size_t got = 0;

        for (int i = 0; i < 4 * (int)SERIAL_TX_RING; i++) {
                outb(f, THR, 'a' + i % 26);
                if (i % 1000 == 999)
                        got += drain_out(f, buf, sizeof(buf));
        }
        got += drain_out(f, buf, sizeof(buf));
        assert_int_equal(got, 4 * SERIAL_TX_RING);
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.write_count, 4 * SERIAL_TX_RING);
        assert_int_equal(st.missed_write_count, 0);
}

static void test_lsr_and_reset_values(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(inb(f, LSR), 0x60); /* THRE | TEMT, no DR */
        assert_int_equal(inb(f, IIR), 0x01); /* no interrupt, FIFOs off */
        assert_int_equal(inb(f, IER), 0x00);
        assert_int_equal(inb(f, LCR), 0x03);
        assert_int_equal(inb(f, MCR), 0x08);
        assert_int_equal(inb(f, MSR), 0xb0); /* DCD | DSR | CTS */
        assert_int_equal(serial_push_input(&f->s, (const uint8_t *)"a", 1), 1);
        assert_int_equal(inb(f, LSR), 0x61);
        assert_int_equal(inb(f, THR), 'a');
        assert_int_equal(inb(f, LSR), 0x60);
}

static void test_scratch_and_ier_mask(void **state)
{
        struct fixture *f = *state;

        outb(f, SCR, 0x5a);
        assert_int_equal(inb(f, SCR), 0x5a);
        outb(f, IER, 0xff);
        assert_int_equal(inb(f, IER), 0x0f);
}

static void test_iir_priority(void **state)
{
        struct fixture *f = *state;

        outb(f, FCR, 0x01);
        assert_int_equal(inb(f, IIR), 0xc1);
        outb(f, IER, 0x03); /* RDA + THRE: THR is empty, so THRE is pending at once */
        assert_int_equal(evt_take(f->irq), 1);
        assert_int_equal(serial_push_input(&f->s, (const uint8_t *)"ab", 2), 2);
        /* RDA outranks THRE, and reporting RDA does not ack THRE. */
        assert_int_equal(inb(f, IIR), 0xc4);
        assert_int_equal(inb(f, IIR), 0xc4);
        assert_int_equal(inb(f, THR), 'a');
        assert_int_equal(inb(f, IIR), 0xc4); /* RDA holds until the FIFO is empty */
        assert_int_equal(inb(f, THR), 'b');
        assert_int_equal(inb(f, IIR), 0xc2); /* now THRE, and this read acks it */
        assert_int_equal(inb(f, IIR), 0xc1);
}

static void test_thre_interrupt(void **state)
{
        struct fixture *f = *state;
        char buf[4];

        outb(f, IER, 0x02);
        assert_int_equal(evt_take(f->irq), 1);
        assert_int_equal(inb(f, IIR), 0x02);
        assert_int_equal(inb(f, IIR), 0x01);
        /* Writing THR empties at once: THRE re-arms and the line rises again. */
        outb(f, THR, 'q');
        assert_int_equal(evt_take(f->irq), 1);
        /* While the line is high, further bytes give no new edge. */
        outb(f, THR, 'r');
        assert_int_equal(evt_take(f->irq), 0);
        assert_int_equal(inb(f, IIR), 0x02);
        assert_int_equal(drain_out(f, buf, sizeof(buf)), 2);
        /* Disabling and re-enabling ETBEI re-raises THRE (Linux's UART_BUG_THRE probe). */
        outb(f, IER, 0x00);
        outb(f, IER, 0x02);
        assert_int_equal(evt_take(f->irq), 1);
        assert_int_equal(inb(f, IIR), 0x02);
}

static void test_rx_fifo_full(void **state)
{
        struct fixture *f = *state;
        uint8_t in[100];
        struct serial_stats st;
        size_t i;

        for (i = 0; i < sizeof(in); i++)
                in[i] = (uint8_t)i;
        assert_int_equal(serial_input_space(&f->s), 64);
        assert_int_equal(serial_push_input(&f->s, in, sizeof(in)), 64);
        assert_int_equal(serial_input_space(&f->s), 0);
        assert_int_equal(serial_push_input(&f->s, in, 1), 0);
        for (i = 0; i < 64; i++)
                assert_int_equal(inb(f, THR), i);
        assert_int_equal(inb(f, LSR) & 0x01, 0);
        assert_int_equal(inb(f, THR), 0); /* empty: reads 0 and counts a miss */
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.read_count, 64);
        assert_int_equal(st.missed_read_count, 1);
        assert_int_equal(serial_input_space(&f->s), 64);
}

static void test_rda_interrupt(void **state)
{
        struct fixture *f = *state;

        /* Disabled: data arrives silently. */
        assert_int_equal(serial_push_input(&f->s, (const uint8_t *)"x", 1), 1);
        assert_int_equal(evt_take(f->irq), 0);
        assert_int_equal(inb(f, IIR), 0x01);
        /* Enabling ERBFI with data waiting raises it. */
        outb(f, IER, 0x01);
        assert_int_equal(evt_take(f->irq), 1);
        assert_int_equal(serial_push_input(&f->s, (const uint8_t *)"y", 1), 1);
        assert_int_equal(evt_take(f->irq), 0); /* still high: no new edge */
        assert_int_equal(inb(f, THR), 'x');
        assert_int_equal(inb(f, THR), 'y');
        assert_int_equal(inb(f, IIR), 0x01);
        assert_int_equal(serial_push_input(&f->s, (const uint8_t *)"z", 1), 1);
        assert_int_equal(evt_take(f->irq), 1);
        assert_int_equal(inb(f, IIR), 0x04);
}

static void test_dlab_divisor(void **state)
{
        struct fixture *f = *state;
        char buf[4];

        outb(f, IER, 0x00);
        outb(f, LCR, 0x83);
        assert_int_equal(inb(f, THR), 12); /* 9600 baud reset divisor */
        assert_int_equal(inb(f, IER), 0);
        outb(f, THR, 0x01);
        outb(f, IER, 0x02);
        assert_int_equal(inb(f, THR), 0x01);
        assert_int_equal(inb(f, IER), 0x02);
        assert_int_equal(drain_out(f, buf, sizeof(buf)), 0);
        assert_int_equal(evt_take(f->irq), 0);
        outb(f, LCR, 0x03);
        assert_int_equal(inb(f, IER), 0x00); /* DLM write did not reach IER */
        assert_int_equal(inb(f, LCR), 0x03);
}

static void test_loopback(void **state)
{
        struct fixture *f = *state;
        char buf[4];

        outb(f, MCR, 0x10 | 0x0a);                  /* LOOP | RTS | OUT2 */
        assert_int_equal(inb(f, MSR) & 0xf0, 0x90); /* CTS | DCD: Linux's probe */
        outb(f, MCR, 0x10 | 0x05);                  /* LOOP | DTR | OUT1 */
        assert_int_equal(inb(f, MSR) & 0xf0, 0x60); /* DSR | RI */
        outb(f, IER, 0x01);
        outb(f, THR, 'L');
        assert_int_equal(drain_out(f, buf, sizeof(buf)), 0);
        assert_int_equal(evt_take(f->irq), 1);
        assert_int_equal(inb(f, LSR) & 0x01, 0x01);
        assert_int_equal(inb(f, THR), 'L');
        /* The line input is disconnected in loopback. */
        assert_int_equal(serial_input_space(&f->s), 0);
        assert_int_equal(serial_push_input(&f->s, (const uint8_t *)"h", 1), 0);
        outb(f, MCR, 0x08);
        assert_int_equal(inb(f, MSR), 0xb0);
        outb(f, THR, 'o');
        assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
}

static void test_loopback_overrun(void **state)
{
        struct fixture *f = *state;
        struct serial_stats st;
        int i;

        outb(f, MCR, 0x10);
        for (i = 0; i < 65; i++)
                outb(f, THR, (uint8_t)i);
        assert_int_equal(inb(f, LSR), 0x63); /* DR | OE | THRE | TEMT */
        assert_int_equal(inb(f, LSR), 0x61); /* OE clears on read */
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.error_count, 1);
        assert_int_equal(st.read_count, 64);
}

static void test_reset(void **state)
{
        struct fixture *f = *state;
        int efd = serial_input_eventfd(&f->s);
        uint8_t in[70] = {0};
        struct serial_stats st;

        outb(f, LCR, 0x83); /* DLAB */
        outb(f, THR, 0x01);
        outb(f, LCR, 0x1b);
        outb(f, IER, 0x03);
        outb(f, SCR, 0x5a);
        outb(f, FCR, 0x01);
        assert_int_equal(serial_push_input(&f->s, in, sizeof(in)), 64); /* refused: waiting */
        serial_reset(&f->s);
        assert_int_equal(evt_take(efd), 1); /* the emptied FIFO wakes the input */
        assert_int_equal(inb(f, LSR), 0x60);
        assert_int_equal(inb(f, IIR), 0x01);
        assert_int_equal(inb(f, IER), 0x00);
        assert_int_equal(inb(f, LCR), 0x03);
        assert_int_equal(inb(f, MCR), 0x08);
        assert_int_equal(inb(f, SCR), 0x00);
        outb(f, LCR, 0x83);
        assert_int_equal(inb(f, THR), 12); /* the 9600-baud divisor */
        outb(f, LCR, 0x03);
        serial_get_stats(&f->s, &st);
        assert_int_equal(st.read_count, 64); /* the counters stay */
}

static void test_input_eventfd_after_drain(void **state)
{
        struct fixture *f = *state;
        int efd = serial_input_eventfd(&f->s);
        uint8_t in[70] = {0};
        int i;

        assert_true(efd >= 0);
        /* Not refused yet: draining does not signal. */
        assert_int_equal(serial_push_input(&f->s, in, 10), 10);
        for (i = 0; i < 10; i++)
                inb(f, THR);
        assert_int_equal(evt_take(efd), 0);
        /* Refused: signalled only when the guest has emptied the FIFO. */
        assert_int_equal(serial_push_input(&f->s, in, sizeof(in)), 64);
        for (i = 0; i < 63; i++)
                inb(f, THR);
        assert_int_equal(evt_take(efd), 0);
        inb(f, THR);
        assert_int_equal(evt_take(efd), 1);
        inb(f, THR); /* extra empty reads do not signal again */
        assert_int_equal(evt_take(efd), 0);
        /* FCR RX reset empties the FIFO too. */
        assert_int_equal(serial_push_input(&f->s, in, sizeof(in)), 64);
        outb(f, FCR, 0x03);
        assert_int_equal(evt_take(efd), 1);
        /* A space query of 0 (loopback) arms it; leaving loopback wakes. */
        outb(f, MCR, 0x10);
        assert_int_equal(serial_input_space(&f->s), 0);
        outb(f, MCR, 0x08);
        assert_int_equal(evt_take(efd), 1);
}

static void test_wide_and_odd_accesses(void **state)
{
        struct fixture *f = *state;
        uint8_t w[8] = {'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H'};
        uint8_t r[8];
        char buf[8];

        memset(r, 0xee, sizeof(r));
        f->dev.read(f->dev.opaque, LSR, r, 4);
        assert_int_equal(r[0], 0x60);
        assert_int_equal(r[1], 0);
        assert_int_equal(r[3], 0);
        assert_int_equal(r[4], 0xee);
        f->dev.write(f->dev.opaque, THR, w, 8);
        assert_int_equal(drain_out(f, buf, sizeof(buf)), 1);
        assert_int_equal(buf[0], 'A');
        /* Offsets beyond the window and zero lengths are harmless. */
        f->dev.write(f->dev.opaque, 100, w, 1);
        f->dev.read(f->dev.opaque, 100, r, 2);
        assert_int_equal(r[0], 0);
        f->dev.write(f->dev.opaque, THR, w, 0);
        f->dev.read(f->dev.opaque, THR, r, 0);
        assert_int_equal(drain_out(f, buf, sizeof(buf)), 0);
        /* Writes to LSR/MSR are ignored. */
        outb(f, LSR, 0xff);
        outb(f, MSR, 0xff);
        assert_int_equal(inb(f, LSR), 0x60);
        assert_int_equal(inb(f, MSR), 0xb0);
}

/* A hostile guest pokes every register with every size; state must stay consistent. */
static void test_random_pokes(void **state)
{
        struct fixture *f = *state;
        static const uint32_t sizes[] = {1, 2, 4, 8};
        uint64_t x = 0x9e3779b97f4a7c15ULL;
        uint8_t data[8], sink[256];
        int i;

        for (i = 0; i < 200000; i++) {
                uint64_t off;
                uint32_t len;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                off = x % 8;
                len = sizes[(x >> 8) % 4];
                memcpy(data, &x, sizeof(data));
                if ((x >> 20) & 1)
                        f->dev.write(f->dev.opaque, off, data, len);
                else
                        f->dev.read(f->dev.opaque, off, data, len);
                if ((x >> 24) % 16 == 0)
                        serial_push_input(&f->s, data, (x >> 28) % 9);
                assert_true(f->s.rx_count <= SERIAL_FIFO_SIZE);
                if (i % 1024 == 0) {
                        while (drain_out(f, (char *)sink, sizeof(sink)) > 0)
                                ;
                }
        }
        evt_take(f->irq);
}

/* The VMM thread pushes while a "vCPU" thread reads: every byte arrives once, in order. */
struct stress {
        struct fixture *f;
        int total;
};

static void *stress_pusher(void *arg)
{
        struct stress *st = arg;
        int sent = 0;

        while (sent < st->total) {
                uint8_t b = (uint8_t)sent;

                if (serial_push_input(&st->f->s, &b, 1) == 1)
                        sent++;
        }
        return NULL;
}

static void test_concurrent_input(void **state)
{
        struct stress st = {.f = *state, .total = 20000};
        pthread_t t;
        int got = 0;

        assert_int_equal(pthread_create(&t, NULL, stress_pusher, &st), 0);
        while (got < st.total) {
                if (inb(st.f, LSR) & 0x01) {
                        assert_int_equal(inb(st.f, THR), (uint8_t)got);
                        got++;
                }
        }
        pthread_join(t, NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_bus_window, setup, teardown),
            cmocka_unit_test_setup_teardown(test_output_through_pipe, setup, teardown),
            cmocka_unit_test_setup_teardown(test_output_dropped_on_error, setup, teardown),
            cmocka_unit_test(test_output_discarded_without_fd),
            cmocka_unit_test_setup_teardown(test_output_ring_bounded, setup, teardown),
            cmocka_unit_test_setup_teardown(test_output_ring_drained, setup, teardown),
            cmocka_unit_test_setup_teardown(test_lsr_and_reset_values, setup, teardown),
            cmocka_unit_test_setup_teardown(test_scratch_and_ier_mask, setup, teardown),
            cmocka_unit_test_setup_teardown(test_iir_priority, setup, teardown),
            cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rx_fifo_full, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rda_interrupt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_dlab_divisor, setup, teardown),
            cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
            cmocka_unit_test_setup_teardown(test_loopback_overrun, setup, teardown),
            cmocka_unit_test_setup_teardown(test_input_eventfd_after_drain, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_wide_and_odd_accesses, setup, teardown),
            cmocka_unit_test_setup_teardown(test_random_pokes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_concurrent_input, setup, teardown),
        };

        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
