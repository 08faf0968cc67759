/* Unit tests for the boot timer: the magic write logs Firecracker's line, nothing else does. */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "devices/legacy/boot_timer.h"

struct fixture {
        struct boot_timer t;
        struct bus_dev dev;
        int log[2];
};

static int setup(void **state)
{
        struct fixture *f = test_malloc(sizeof(*f));
        struct timespec wall, cpu;

        assert_int_equal(pipe2(f->log, O_NONBLOCK | O_CLOEXEC), 0);
        log_set_fd(f->log[1]);
        log_set_level(LOG_INFO);
        clock_gettime(CLOCK_MONOTONIC, &wall);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
        wall.tv_sec -= 2; /* pretend InstanceStart was 2 s ago */
        boot_timer_init(&f->t, &wall, &cpu);
        f->dev = boot_timer_bus_dev(&f->t);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        log_set_fd(2);
        close(f->log[0]);
        close(f->log[1]);
        test_free(f);
        return 0;
}

static size_t read_log(struct fixture *f, char *buf, size_t cap)
{
        ssize_t n = read(f->log[0], buf, cap - 1);

        buf[n > 0 ? n : 0] = '\0';
        return n > 0 ? (size_t)n : 0;
}

static void write_bytes(struct fixture *f, uint64_t off, uint8_t v, uint32_t len)
{
        uint8_t data[8];

        memset(data, v, sizeof(data));
        f->dev.write(f->dev.opaque, off, data, len);
}

static void test_bus_window(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(f->dev.base, 0xc0000000ULL);
        assert_int_equal(f->dev.len, 0x1000);
}

static void test_magic_write_logs(void **state)
{
        struct fixture *f = *state;
        unsigned long long us, ms, cpu_us, cpu_ms;
        char buf[1024], *msg;

        write_bytes(f, 0, 123, 1);
        assert_true(read_log(f, buf, sizeof(buf)) > 0);
        msg = strstr(buf, "] Guest-boot-time = ");
        assert_non_null(msg);
        assert_int_equal(sscanf(msg, "] Guest-boot-time = %llu us %llu ms, %llu CPU us %llu CPU ms",
                                &us, &ms, &cpu_us, &cpu_ms),
                         4);
        assert_true(us >= 2000000 && us < 60000000);
        assert_int_equal(ms, us / 1000);
        assert_int_equal(cpu_ms, cpu_us / 1000);
        assert_string_equal(buf + strlen(buf) - strlen(" CPU ms\n"), " CPU ms\n");
        /* Every magic write reports again, as in Firecracker. */
        write_bytes(f, 0, 123, 1);
        read_log(f, buf, sizeof(buf));
        assert_non_null(strstr(buf, "] Guest-boot-time = "));
}

/* Firecracker pads the microsecond fields to 6 columns ("{:>6}"). */
static void test_small_values_padded(void **state)
{
        struct fixture *f = *state;
        struct timespec wall, cpu;
        char buf[1024];

        clock_gettime(CLOCK_MONOTONIC, &wall);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
        wall.tv_sec += 10; /* a start in the future clamps to 0 */
        cpu.tv_sec += 10;
        boot_timer_init(&f->t, &wall, &cpu);
        write_bytes(f, 0, 123, 1);
        read_log(f, buf, sizeof(buf));
        assert_non_null(
            strstr(buf, "] Guest-boot-time =      0 us 0 ms,      0 CPU us 0 CPU ms\n"));
}

static void test_other_writes_ignored(void **state)
{
        struct fixture *f = *state;
        char buf[256];
        uint8_t r[8];

        write_bytes(f, 0, 122, 1);
        write_bytes(f, 0, 124, 1);
        write_bytes(f, 1, 123, 1);
        write_bytes(f, 0xfff, 123, 1);
        write_bytes(f, 0, 123, 2);
        write_bytes(f, 0, 123, 4);
        write_bytes(f, 0, 123, 8);
        write_bytes(f, 0, 123, 0);
        assert_int_equal(read_log(f, buf, sizeof(buf)), 0);
        memset(r, 0xee, sizeof(r));
        f->dev.read(f->dev.opaque, 0, r, 8);
        for (size_t i = 0; i < sizeof(r); i++)
                assert_int_equal(r[i], 0);
        assert_int_equal(read_log(f, buf, sizeof(buf)), 0);
}

static void test_level_off_silences(void **state)
{
        struct fixture *f = *state;
        char buf[256];

        log_set_level(LOG_WARN);
        write_bytes(f, 0, 123, 1);
        log_set_level(LOG_INFO);
        assert_int_equal(read_log(f, buf, sizeof(buf)), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_bus_window, setup, teardown),
            cmocka_unit_test_setup_teardown(test_magic_write_logs, setup, teardown),
            cmocka_unit_test_setup_teardown(test_small_values_padded, setup, teardown),
            cmocka_unit_test_setup_teardown(test_other_writes_ignored, setup, teardown),
            cmocka_unit_test_setup_teardown(test_level_off_silences, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
