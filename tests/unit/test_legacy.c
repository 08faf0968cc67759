/* Unit tests for the legacy devices as table entries (on a real KVM VM; they fail without one). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "core/util.h"
#include "vmm/legacy.h"

struct fx {
        struct kvm_vm vm;
        struct bus pio, mmio;
        struct device_mgr dm;
        struct timespec wall, cpu;
        int out; /* /dev/null: the guest console */
        int resets;
};

static void on_reset(void *ctx)
{
        ((struct fx *)ctx)->resets++;
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        struct err e = ERR_INIT;

        assert_non_null(f);
        if (kvm_vm_create(&f->vm, &e)) {
                free(f);
                *state = NULL;
                return 0;
        }
        f->out = open("/dev/null", O_WRONLY | O_CLOEXEC);
        clock_gettime(CLOCK_MONOTONIC, &f->wall);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &f->cpu);
        device_mgr_init(&f->dm, &f->vm, &f->mmio, NULL, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        if (!f)
                return 0;
        device_mgr_destroy(&f->dm);
        kvm_vm_destroy(&f->vm);
        close(f->out);
        free(f);
        return 0;
}

static struct legacy_params params(struct fx *f, bool boot_timer)
{
        return (struct legacy_params){
            .vm = &f->vm,
            .pio = &f->pio,
            .mmio = &f->mmio,
            .serial_out_fd = f->out,
            .reset = on_reset,
            .ctx = f,
            .boot_wall = boot_timer ? &f->wall : NULL,
            .boot_cpu = &f->cpu,
        };
}

#define NEED_KVM(f)                                                                                \
        do {                                                                                       \
                if (!(f))                                                                          \
                        fail_msg("these tests need /dev/kvm (a KVM VM to put the devices on)");    \
        } while (0)

static void test_entries_and_windows(void **state)
{
        struct fx *f = *state;
        struct legacy_params p;
        struct err e = ERR_INIT;

        NEED_KVM(f);
        assert_int_equal(legacy_ctrl_alt_del(&f->dm, &e), -ENODEV); /* not there yet */
        assert_string_equal(e.msg, "I8042 error: the device is not ready");
        p = params(f, true);
        assert_int_equal(legacy_devs_add(&f->dm, &p, &e), 0);
        assert_int_equal(f->dm.nr_devs, 3);
        assert_int_equal(f->dm.devs[0]->kind, DEVICE_SERIAL);
        assert_string_equal(f->dm.devs[0]->id, "com1");
        assert_int_equal(f->dm.devs[1]->kind, DEVICE_I8042);
        assert_int_equal(f->dm.devs[2]->kind, DEVICE_BOOT_TIMER);
        assert_non_null(bus_find(&f->pio, LAYOUT_PORT_COM1, 1));
        assert_non_null(bus_find(&f->pio, LAYOUT_PORT_I8042_DATA, 1));
        assert_non_null(bus_find(&f->mmio, LAYOUT_BOOT_TIMER_START, 1));
        assert_non_null(legacy_serial(&f->dm));
        assert_int_equal(legacy_ctrl_alt_del(&f->dm, &e), 0);
        device_mgr_reset(&f->dm); /* empties the i8042 buffer again */
        assert_int_equal(legacy_ctrl_alt_del(&f->dm, &e), 0);
        assert_int_equal(legacy_ctrl_alt_del(&f->dm, &e), 0);
        assert_int_equal(legacy_ctrl_alt_del(&f->dm, &e), 0);
        assert_int_equal(legacy_ctrl_alt_del(&f->dm, &e), 0);
        assert_int_equal(legacy_ctrl_alt_del(&f->dm, &e), -ENOSPC); /* 16 bytes hold 4 */
}

static void test_no_boot_timer_unless_asked(void **state)
{
        struct fx *f = *state;
        struct legacy_params p;
        struct err e = ERR_INIT;

        NEED_KVM(f);
        p = params(f, false);
        assert_int_equal(legacy_devs_add(&f->dm, &p, &e), 0);
        assert_int_equal(f->dm.nr_devs, 2);
        assert_null(bus_find(&f->mmio, LAYOUT_BOOT_TIMER_START, 1));
}

static void test_taken_window_fails_and_the_table_owns_it(void **state)
{
        struct fx *f = *state;
        struct bus_dev other = bus_dev_of(LAYOUT_PORT_COM1, 1, NULL, NULL, NULL);
        struct legacy_params p;
        struct err e = ERR_INIT;

        NEED_KVM(f);
        assert_int_equal(bus_add(&f->pio, &other), 0);
        p = params(f, true);
        assert_int_equal(legacy_devs_add(&f->dm, &p, &e), -EEXIST);
        assert_string_equal(e.msg, "cannot attach serial: File exists");
        assert_int_equal(f->dm.nr_devs, 1); /* released with the table in teardown */
}

static void test_uart_metrics_through_the_table(void **state)
{
        static const struct device_metrics_kind *const kinds[] = {&legacy_uart_metrics_kind};
        struct fx *f = *state;
        const struct bus_dev *d;
        struct legacy_params p;
        struct err e = ERR_INIT;
        json_t *root = json_object();
        uint8_t c = 'x';

        NEED_KVM(f);
        p = params(f, false);
        assert_int_equal(legacy_devs_add(&f->dm, &p, &e), 0);
        d = bus_find(&f->pio, LAYOUT_PORT_COM1, 1);
        d->write(d->opaque, 0, &c, 1);
        d->write(d->opaque, 0, &c, 1);
        assert_int_equal(serial_flush_output(legacy_serial(&f->dm), SIZE_MAX), 0);
        device_mgr_metrics(&f->dm, kinds, ARRAY_SIZE(kinds), root);
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(root, "uart"), "write_count")), 2);
        device_mgr_metrics(&f->dm, kinds, ARRAY_SIZE(kinds), root); /* the increase: none */
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(root, "uart"), "write_count")), 0);
        json_decref(root);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_entries_and_windows, setup, teardown),
            cmocka_unit_test_setup_teardown(test_no_boot_timer_unless_asked, setup, teardown),
            cmocka_unit_test_setup_teardown(test_taken_window_fails_and_the_table_owns_it, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_uart_metrics_through_the_table, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
