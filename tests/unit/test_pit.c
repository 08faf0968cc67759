/* Unit tests for the 8254 PIT model: counting, latches, read-back, the speaker port, arming. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "devices/legacy/pit.h"

enum { CH0 = 0, CH2 = 2, CTRL = 3 };

/* A clock the tests move by hand: one PIT tick is 1e9 / 1193182 ns, about 838 ns. */
static uint64_t fake_ns;

static uint64_t fake_now(void)
{
        return fake_ns;
}

static uint64_t ticks_ns(uint64_t n)
{
        return (uint64_t)((unsigned __int128)n * 1000000000u / PIT_FREQ_HZ) + 1;
}

struct fixture {
        struct pit p;
        struct bus_dev ports, speaker;
        unsigned int arms;
        uint64_t delay, period;
};

static void on_arm(void *ctx, uint64_t delay_ns, uint64_t period_ns)
{
        struct fixture *f = ctx;

        f->arms++;
        f->delay = delay_ns;
        f->period = period_ns;
}

static int setup(void **state)
{
        struct fixture *f = test_malloc(sizeof(*f));

        memset(f, 0, sizeof(*f));
        fake_ns = 1000000000ull;
        assert_int_equal(pit_init(&f->p, on_arm, f, fake_now), 0);
        f->ports = pit_bus_dev(&f->p);
        f->speaker = pit_speaker_bus_dev(&f->p);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        pit_destroy(&f->p);
        test_free(f);
        return 0;
}

static void out8(struct fixture *f, uint64_t off, uint8_t v)
{
        f->ports.write(f->ports.opaque, off, &v, 1);
}

static uint8_t in8(struct fixture *f, uint64_t off)
{
        uint8_t v = 0xaa;

        f->ports.read(f->ports.opaque, off, &v, 1);
        return v;
}

static uint8_t speaker_in(struct fixture *f)
{
        uint8_t v = 0xaa;

        f->speaker.read(f->speaker.opaque, 0, &v, 1);
        return v;
}

static void speaker_out(struct fixture *f, uint8_t v)
{
        f->speaker.write(f->speaker.opaque, 0, &v, 1);
}

/* Control word for channel ch, access 3 (low then high byte), mode m, binary. */
static void program(struct fixture *f, unsigned int ch, unsigned int m, uint16_t count)
{
        out8(f, CTRL, (uint8_t)(ch << 6 | 3 << 4 | m << 1));
        out8(f, ch, (uint8_t)count);
        out8(f, ch, (uint8_t)(count >> 8));
}

static uint16_t latched(struct fixture *f, unsigned int ch)
{
        uint16_t lo;

        out8(f, CTRL, (uint8_t)(ch << 6)); /* counter latch */
        lo = in8(f, ch);
        return (uint16_t)(lo | in8(f, ch) << 8);
}

static void test_windows(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(f->ports.base, 0x40);
        assert_int_equal(f->ports.len, 4);
        assert_int_equal(f->speaker.base, 0x61);
        assert_int_equal(f->speaker.len, 1);
        /* Power-on: channel 0 has no mode, so it is disarmed; gate 2 low. */
        assert_int_equal(f->arms, 1);
        assert_int_equal(f->delay, 0);
        assert_int_equal(speaker_in(f) & 1, 0);
}

static void test_periodic_channel0_arms_and_counts_down(void **state)
{
        struct fixture *f = *state;

        program(f, CH0, 2, 1193); /* rate generator, about 1 ms */
        assert_int_equal(f->arms, 2);
        assert_int_equal(f->delay, 999847);
        assert_int_equal(f->period, 999847);
        assert_int_equal(latched(f, CH0), 1193);
        fake_ns += ticks_ns(100);
        assert_int_equal(latched(f, CH0), 1093);
        fake_ns += ticks_ns(1093); /* reloads: mode 2 is periodic */
        assert_int_equal(latched(f, CH0), 1193);
}

static void test_short_periods_are_clamped(void **state)
{
        struct fixture *f = *state;

        program(f, CH0, 3, 2); /* a 1.6 us square wave would flood the host */
        assert_int_equal(f->delay, 1676);
        assert_int_equal(f->period, PIT_MIN_PERIOD_NS);
        program(f, CH0, 0, 2); /* one-shot: not clamped, it fires once */
        assert_int_equal(f->delay, 1676);
        assert_int_equal(f->period, 0);
}

static void test_one_shot_and_modes_6_7(void **state)
{
        struct fixture *f = *state;

        program(f, CH0, 0, 0); /* 0 is 65536 */
        assert_int_equal(f->period, 0);
        assert_int_equal(f->delay, 54925401);
        out8(f, CTRL, 0x3c); /* mode 6 is mode 2: the status says so */
        out8(f, CTRL, 0xe2); /* read-back: status only, channel 0 */
        assert_int_equal(in8(f, CH0) & 0x3f, 3 << 4 | 2 << 1);
}

static void test_byte_access_modes(void **state)
{
        struct fixture *f = *state;

        out8(f, CTRL, 0x10); /* channel 0, low byte only, mode 0 */
        out8(f, CH0, 0x34);
        assert_int_equal(in8(f, CH0), 0x34);
        out8(f, CTRL, 0x20); /* high byte only */
        out8(f, CH0, 0x12);
        assert_int_equal(in8(f, CH0), 0x12);
        assert_int_equal(latched(f, CH0) >> 8, 0x12); /* a latch with access 2: one byte */
        program(f, CH0, 0, 0x1234);
        assert_int_equal(in8(f, CH0), 0x34); /* low, then high, then low again */
        assert_int_equal(in8(f, CH0), 0x12);
        assert_int_equal(in8(f, CH0), 0x34);
}

static void test_latch_holds_until_read(void **state)
{
        struct fixture *f = *state;
        uint8_t lo;

        program(f, CH0, 2, 5000);
        fake_ns += ticks_ns(1000);
        out8(f, CTRL, 0x00);
        fake_ns += ticks_ns(1000);
        out8(f, CTRL, 0x00); /* a second latch before the read changes nothing */
        lo = in8(f, CH0);
        assert_int_equal(lo | in8(f, CH0) << 8, 4000);
}

static void test_read_back_status_and_out(void **state)
{
        struct fixture *f = *state;

        speaker_out(f, 1); /* gate 2 up */
        program(f, CH2, 0, 100);
        out8(f, CTRL, 0xe8);                 /* read-back: status of channel 2 */
        assert_int_equal(in8(f, CH2), 0x30); /* OUT low, access 3, mode 0, binary */
        assert_int_equal(speaker_in(f) & 0x21, 0x01);
        fake_ns += ticks_ns(100);
        out8(f, CTRL, 0xe8);
        assert_int_equal(in8(f, CH2), 0xb0); /* terminal count: OUT high */
        assert_int_equal(speaker_in(f) & 0x21, 0x21);
        /* Status and count latched together: status first, then the count. */
        out8(f, CTRL, 0xc8);
        assert_int_equal(in8(f, CH2), 0xb0);
        assert_int_equal(in8(f, CH2), 0);
        assert_int_equal(in8(f, CH2), 0);
}

static void test_speaker_gate_restarts_mode_2(void **state)
{
        struct fixture *f = *state;

        program(f, CH2, 2, 1000);
        fake_ns += ticks_ns(300);
        assert_int_equal(latched(f, CH2), 700);
        speaker_out(f, 3); /* rising gate: counting restarts; speaker data reads back */
        assert_int_equal(latched(f, CH2), 1000);
        assert_int_equal(speaker_in(f) & 3, 3);
        speaker_out(f, 0);
        assert_int_equal(speaker_in(f) & 3, 0);
}

static void test_save_restore(void **state)
{
        struct fixture *f = *state;
        struct kvm_pit_state2 s, bad;

        program(f, CH0, 2, 1193);
        speaker_out(f, 2);
        pit_save(&f->p, &s);
        assert_int_equal(s.channels[0].count, 1193);
        assert_int_equal(s.channels[0].mode, 2);
        assert_int_equal(s.flags, KVM_PIT_FLAGS_SPEAKER_DATA_ON);
        pit_reset(&f->p);
        assert_int_equal(f->delay, 0);
        assert_int_equal(pit_restore(&f->p, &s), 0);
        assert_int_equal(f->period, 999847); /* re-armed, as KVM_SET_PIT2 reloads counts */
        assert_int_equal(speaker_in(f) & 2, 2);
        bad = s;
        bad.channels[1].mode = 6;
        assert_int_equal(pit_restore(&f->p, &bad), -EINVAL);
        bad = s;
        bad.channels[0].count = 0x10001;
        assert_int_equal(pit_restore(&f->p, &bad), -EINVAL);
        bad = s;
        bad.channels[2].read_state = 5;
        assert_int_equal(pit_restore(&f->p, &bad), -EINVAL);
        bad = s;
        bad.flags = KVM_PIT_FLAGS_HPET_LEGACY;
        assert_int_equal(pit_restore(&f->p, &bad), -EINVAL);
        bad = s;
        bad.channels[0].count = 0; /* 0 is 65536, as a guest's write of 0 */
        assert_int_equal(pit_restore(&f->p, &bad), 0);
        assert_int_equal(f->period, 54925401);
}

static void test_odd_accesses(void **state)
{
        struct fixture *f = *state;
        uint8_t w[4] = {0x34, 0, 0, 0}, r[4] = {1, 2, 3, 4};

        f->ports.read(f->ports.opaque, CTRL, r, 4); /* the control port reads 0 */
        assert_memory_equal(r, ((uint8_t[4]){0}), 4);
        f->ports.write(f->ports.opaque, CTRL, w, 4); /* only the first byte counts */
        f->ports.write(f->ports.opaque, CTRL, w, 0);
        f->ports.read(f->ports.opaque, CH0, r, 0);
        f->ports.write(f->ports.opaque, 7, w, 1); /* outside the window: ignored */
        memset(r, 0xff, sizeof(r));
        f->ports.read(f->ports.opaque, CH0, r, 2);
        assert_int_equal(r[1], 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_windows, setup, teardown),
            cmocka_unit_test_setup_teardown(test_periodic_channel0_arms_and_counts_down, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_short_periods_are_clamped, setup, teardown),
            cmocka_unit_test_setup_teardown(test_one_shot_and_modes_6_7, setup, teardown),
            cmocka_unit_test_setup_teardown(test_byte_access_modes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_latch_holds_until_read, setup, teardown),
            cmocka_unit_test_setup_teardown(test_read_back_status_and_out, setup, teardown),
            cmocka_unit_test_setup_teardown(test_speaker_gate_restarts_mode_2, setup, teardown),
            cmocka_unit_test_setup_teardown(test_save_restore, setup, teardown),
            cmocka_unit_test_setup_teardown(test_odd_accesses, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
