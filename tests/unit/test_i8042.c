/* Unit tests for the i8042 model: reset, control byte/output port commands, acks, Ctrl-Alt-Del. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "devices/legacy/i8042.h"

#include "bus_test_util.h"

enum { DATA = 0, PORT61 = 1, CMD = 4 };

struct fixture {
        struct i8042 k;
        struct bus_dev dev;
        int irq;
        int resets;
};

static void on_reset(void *ctx)
{
        struct fixture *f = ctx;

        f->resets++;
}

static int setup(void **state)
{
        struct fixture *f = test_malloc(sizeof(*f));

        memset(f, 0, sizeof(*f));
        f->irq = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(f->irq >= 0);
        assert_int_equal(i8042_init(&f->k, f->irq, on_reset, f), 0);
        f->dev = i8042_bus_dev(&f->k);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        i8042_destroy(&f->k);
        close(f->irq);
        test_free(f);
        return 0;
}

#define inb(f, off)     bus_test_inb(&(f)->dev, (off))
#define outb(f, off, v) bus_test_outb(&(f)->dev, (off), (v))

static void test_bus_window(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(f->dev.base, 0x60);
        assert_int_equal(f->dev.len, 5);
}

static void test_reset_command(void **state)
{
        struct fixture *f = *state;
        struct i8042_stats st;

        outb(f, CMD, 0xfd);
        outb(f, DATA, 0xfe); /* 0xFE on the data port is a keyboard command, not a reset */
        assert_int_equal(f->resets, 0);
        outb(f, CMD, 0xfe);
        assert_int_equal(f->resets, 1);
        i8042_get_stats(&f->k, &st);
        assert_int_equal(st.reset_count, 1);
        assert_int_equal(st.missed_write_count, 1); /* the unknown 0xFD */
}

static void test_reset_without_callback(void **state)
{
        struct i8042 k;
        struct bus_dev d;
        struct i8042_stats st;
        uint8_t v = 0xfe;

        (void)state;
        assert_int_equal(i8042_init(&k, -1, NULL, NULL), 0);
        d = i8042_bus_dev(&k);
        d.write(d.opaque, CMD, &v, 1);
        i8042_get_stats(&k, &st);
        assert_int_equal(st.reset_count, 1);
        /* No irq fd: the ack path must not crash either. */
        d.write(d.opaque, DATA, &v, 1);
        i8042_destroy(&k);
}

static void test_status_and_control_byte(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(inb(f, CMD), 0x10); /* kbd enabled, OBF clear */
        assert_int_equal(inb(f, DATA), 0);   /* empty buffer reads 0 */
        outb(f, CMD, 0x20);
        assert_int_equal(inb(f, CMD), 0x11);  /* OBF */
        assert_int_equal(inb(f, DATA), 0x05); /* POST ok | kbd int */
        assert_int_equal(inb(f, CMD), 0x10);
        outb(f, CMD, 0x60);
        assert_int_equal(inb(f, CMD), 0x18); /* expecting a parameter */
        outb(f, DATA, 0x44);
        assert_int_equal(inb(f, CMD), 0x10);
        assert_int_equal(evt_take(f->irq), 0); /* a parameter is not acked */
        outb(f, CMD, 0x20);
        assert_int_equal(inb(f, DATA), 0x44);
}

static void test_reset(void **state)
{
        struct fixture *f = *state;

        outb(f, CMD, 0x60);
        outb(f, DATA, 0x44); /* control byte: no kbd interrupt */
        outb(f, CMD, 0xd1);
        outb(f, DATA, 0x03);
        assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
        outb(f, CMD, 0x60); /* awaiting a parameter */
        i8042_reset(&f->k);
        assert_int_equal(inb(f, CMD), 0x10); /* kbd enabled, OBF clear, no command pending */
        assert_int_equal(inb(f, DATA), 0);
        outb(f, CMD, 0x20);
        assert_int_equal(inb(f, DATA), 0x05);
        outb(f, CMD, 0xd0);
        assert_int_equal(inb(f, DATA), 0x00);
        assert_int_equal(f->resets, 0);
}

static void test_output_port(void **state)
{
        struct fixture *f = *state;

        outb(f, CMD, 0xd0);
        assert_int_equal(inb(f, DATA), 0x00);
        outb(f, CMD, 0xd1);
        outb(f, DATA, 0x03);
        outb(f, CMD, 0xd0);
        assert_int_equal(inb(f, DATA), 0x03);
        assert_int_equal(f->resets, 0);
}

static void test_data_write_acked(void **state)
{
        struct fixture *f = *state;

        outb(f, DATA, 0xff); /* keyboard reset command */
        assert_int_equal(evt_take(f->irq), 1);
        assert_int_equal(inb(f, CMD) & 0x01, 0x01);
        assert_int_equal(inb(f, DATA), 0xfa);
        assert_int_equal(inb(f, CMD) & 0x01, 0x00);
        /* Each ack replaces whatever was queued. */
        outb(f, DATA, 0xed);
        outb(f, DATA, 0x00);
        assert_int_equal(inb(f, DATA), 0xfa);
        assert_int_equal(inb(f, DATA), 0x00);
}

static void test_ctrl_alt_del_irq_enabled(void **state)
{
        struct fixture *f = *state;
        const uint8_t want[] = {0x14, 0x11, 0xe0, 0x71};
        size_t i;

        assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
        assert_int_equal(evt_take(f->irq), 1);
        for (i = 0; i < sizeof(want); i++) {
                assert_int_equal(inb(f, CMD) & 0x01, 0x01);
                assert_int_equal(inb(f, DATA), want[i]);
                /* More bytes queued: the read re-raises IRQ 1. */
                assert_int_equal(evt_take(f->irq), i + 1 < sizeof(want) ? 1 : 0);
        }
        assert_int_equal(inb(f, CMD) & 0x01, 0x00);
}

static void test_ctrl_alt_del_irq_disabled(void **state)
{
        struct fixture *f = *state;

        outb(f, CMD, 0x60);
        outb(f, DATA, 0x04); /* POST ok, kbd interrupt off */
        assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
        assert_int_equal(evt_take(f->irq), 0);
        assert_int_equal(inb(f, DATA), 0x14);
        assert_int_equal(inb(f, DATA), 0x11);
        assert_int_equal(evt_take(f->irq), 0);
}

static void test_ctrl_alt_del_buffer_full(void **state)
{
        struct fixture *f = *state;
        int i;

        for (i = 0; i < 4; i++)
                assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
        assert_int_equal(i8042_send_ctrl_alt_del(&f->k), -ENOSPC);
        inb(f, DATA);
        assert_int_equal(i8042_send_ctrl_alt_del(&f->k), -ENOSPC); /* 1 free < 4 */
        for (i = 0; i < 3; i++)
                inb(f, DATA);
        assert_int_equal(i8042_send_ctrl_alt_del(&f->k), 0);
        /* FIFO order survives the ring wrapping. */
        for (i = 0; i < 12; i++)
                inb(f, DATA);
        assert_int_equal(inb(f, DATA), 0x14);
}

static void test_port_61_and_wide(void **state)
{
        struct fixture *f = *state;
        struct i8042_stats st;
        uint8_t r[8], w[4] = {0xfe, 0xfe, 0xfe, 0xfe};

        assert_int_equal(inb(f, PORT61), 0);
        outb(f, PORT61, 0xfe);
        outb(f, 2, 0xfe);
        outb(f, 3, 0x20);
        assert_int_equal(f->resets, 0);
        assert_int_equal(inb(f, CMD), 0x10);
        i8042_get_stats(&f->k, &st);
        assert_int_equal(st.missed_read_count, 1);
        assert_int_equal(st.missed_write_count, 3);
        /* A wide read fills every byte; a wide write acts on its first byte. */
        memset(r, 0xee, sizeof(r));
        f->dev.read(f->dev.opaque, PORT61, r, 4);
        assert_int_equal(r[0], 0);
        assert_int_equal(r[3], 0);
        f->dev.read(f->dev.opaque, CMD, r, 2);
        assert_int_equal(r[0], 0x10);
        assert_int_equal(r[1], 0);
        f->dev.write(f->dev.opaque, CMD, w, 4);
        assert_int_equal(f->resets, 1);
        f->dev.write(f->dev.opaque, CMD, w, 0);
        f->dev.read(f->dev.opaque, CMD, r, 0);
        assert_int_equal(f->resets, 1);
}

/* A hostile guest pokes every port with every size while the API injects keys. */
static void test_random_pokes(void **state)
{
        struct fixture *f = *state;
        static const uint32_t sizes[] = {1, 2, 4, 8};
        uint64_t x = 0x243f6a8885a308d3ULL;
        uint8_t data[8];
        int i;

        for (i = 0; i < 200000; i++) {
                uint64_t off;
                uint32_t len;

                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                off = x % 5;
                len = sizes[(x >> 8) % 4];
                memcpy(data, &x, sizeof(data));
                if ((x >> 20) & 1)
                        f->dev.write(f->dev.opaque, off, data, len);
                else
                        f->dev.read(f->dev.opaque, off, data, len);
                if ((x >> 24) % 8 == 0)
                        i8042_send_ctrl_alt_del(&f->k);
                assert_true(f->k.count <= I8042_BUF_SIZE);
                assert_true(f->k.head < I8042_BUF_SIZE);
        }
        evt_take(f->irq);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_bus_window, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reset_command, setup, teardown),
            cmocka_unit_test(test_reset_without_callback),
            cmocka_unit_test_setup_teardown(test_status_and_control_byte, setup, teardown),
            cmocka_unit_test_setup_teardown(test_output_port, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_data_write_acked, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ctrl_alt_del_irq_enabled, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ctrl_alt_del_irq_disabled, setup, teardown),
            cmocka_unit_test_setup_teardown(test_ctrl_alt_del_buffer_full, setup, teardown),
            cmocka_unit_test_setup_teardown(test_port_61_and_wide, setup, teardown),
            cmocka_unit_test_setup_teardown(test_random_pokes, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
