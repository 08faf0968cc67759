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
#include "arch/x86_64/mem_layout.h"
#include "core/util.h"
#include "devices/acpi/vmclock.h"
#include "devices/acpi/vmgenid.h"
#include "vmm/legacy.h"

#define RAM_SIZE MiB(2) /* holds VMGenID's bytes below 1 MiB */
#define S5_TYPE  5

struct fx {
        struct kvm_vm vm;
        struct bus pio, mmio;
        struct device_mgr dm;
        struct timespec wall, cpu;
        int out; /* /dev/null: the guest console */
        int resets, poweroffs;
        struct guest_mem mem;
        uint8_t *ram;
};

static void on_reset(void *ctx)
{
        ((struct fx *)ctx)->resets++;
}

static void on_poweroff(void *ctx)
{
        ((struct fx *)ctx)->poweroffs++;
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
        f->ram = calloc(1, RAM_SIZE);
        assert_non_null(f->ram);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, RAM_SIZE), 0);
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
        guest_mem_destroy(&f->mem);
        free(f->ram);
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
            .poweroff = on_poweroff,
            .ctx = f,
            .boot_wall = boot_timer ? &f->wall : NULL,
            .boot_cpu = &f->cpu,
            .mem = &f->mem,
            .vmgenid_gsi = 6,
            .vmclock_gsi = 7,
            .s5_type = S5_TYPE,
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
        assert_int_equal(f->dm.nr_devs, 7);
        assert_int_equal(f->dm.devs[0]->kind, DEVICE_SERIAL);
        assert_string_equal(f->dm.devs[0]->id, "com1");
        assert_int_equal(f->dm.devs[1]->kind, DEVICE_I8042);
        assert_int_equal(f->dm.devs[2]->kind, DEVICE_BOOT_TIMER);
        assert_int_equal(f->dm.devs[3]->kind, DEVICE_ACPI_SLEEP);
        assert_int_equal(f->dm.devs[4]->kind, DEVICE_VMGENID);
        assert_int_equal(f->dm.devs[5]->kind, DEVICE_VMCLOCK);
        assert_int_equal(f->dm.devs[6]->kind, DEVICE_PIT);
        assert_non_null(bus_find(&f->pio, LAYOUT_PORT_ACPI_SLEEP_CTL, 1));
        assert_non_null(bus_find(&f->pio, LAYOUT_PORT_ACPI_SLEEP_STS, 1));
        assert_non_null(bus_find(&f->pio, LAYOUT_PORT_COM1, 1));
        assert_non_null(bus_find(&f->pio, LAYOUT_PORT_I8042_DATA, 1));
        assert_non_null(bus_find(&f->pio, LAYOUT_PORT_I8042_CMD, 1));
        /* The speaker port between the i8042's data and command ports is the PIT's. */
        assert_ptr_equal(bus_find(&f->pio, LAYOUT_PORT_SPEAKER, 1)->opaque,
                         bus_find(&f->pio, LAYOUT_PORT_PIT, 1)->opaque);
        assert_ptr_equal(bus_find(&f->pio, LAYOUT_PORT_SPEAKER + 1, 1)->opaque,
                         bus_find(&f->pio, LAYOUT_PORT_I8042_CMD, 1)->opaque);
        assert_ptr_not_equal(bus_find(&f->pio, LAYOUT_PORT_SPEAKER, 1)->opaque,
                             bus_find(&f->pio, LAYOUT_PORT_I8042_DATA, 1)->opaque);
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
        assert_int_equal(f->dm.nr_devs, 6);
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

/* Writes v to the sleep-control register as a guest's outb. */
static void sleep_ctl(struct fx *f, uint8_t v)
{
        const struct bus_dev *d = bus_find(&f->pio, LAYOUT_PORT_ACPI_SLEEP_CTL, 1);

        assert_non_null(d);
        d->write(d->opaque, 0, &v, 1);
}

static void test_acpi_sleep_powers_off_on_s5_only(void **state)
{
        struct fx *f = *state;
        const struct bus_dev *d;
        struct legacy_params p;
        struct err e = ERR_INIT;
        uint8_t sts = 0xff, wide[2] = {0x34, 0};

        NEED_KVM(f);
        p = params(f, false);
        assert_int_equal(legacy_devs_add(&f->dm, &p, &e), 0);
        sleep_ctl(f, S5_TYPE << 2);    /* SLP_EN clear: nothing */
        sleep_ctl(f, (3 << 2) | 0x20); /* S3: not offered, ignored */
        d = bus_find(&f->pio, LAYOUT_PORT_ACPI_SLEEP_STS, 1);
        d->write(d->opaque, 1, (const uint8_t *)"\x80", 1); /* WAK_STS clear on the status port */
        d->write(d->opaque, 0, wide, 2);                    /* a word write: not a register */
        assert_int_equal(f->poweroffs, 0);
        sleep_ctl(f, (S5_TYPE << 2) | 0x20);
        assert_int_equal(f->poweroffs, 1);
        d->read(d->opaque, 1, &sts, 1);
        assert_int_equal(sts, 0); /* never woken */
}

static void test_vmgenid_writes_and_regenerates_the_id(void **state)
{
        struct fx *f = *state;
        struct legacy_params p;
        struct err e = ERR_INIT;
        uint8_t first[VMGENID_ID_SIZE], zero[VMGENID_ID_SIZE] = {0};

        NEED_KVM(f);
        assert_int_equal(legacy_vmgenid_regenerate(&f->dm, &f->mem, &e), -ENODEV);
        p = params(f, false);
        assert_int_equal(legacy_devs_add(&f->dm, &p, &e), 0);
        assert_int_equal(guest_mem_read(&f->mem, LAYOUT_VMGENID_START, first, sizeof(first)), 0);
        assert_memory_not_equal(first, zero, sizeof(first)); /* 2^-128 to fail by chance */
        assert_int_equal(legacy_vmgenid_regenerate(&f->dm, &f->mem, &e), 0);
        assert_memory_not_equal(f->ram + LAYOUT_VMGENID_START, first, sizeof(first));
}

static void test_vmclock_page_and_restore(void **state)
{
        struct fx *f = *state;
        struct legacy_params p;
        struct err e = ERR_INIT;
        struct vmclock_abi c;

        NEED_KVM(f);
        assert_int_equal(legacy_vmclock_restored(&f->dm, &f->mem, &e), -ENODEV);
        assert_string_equal(e.msg, "VMClock: the device is not ready");
        p = params(f, false);
        assert_int_equal(legacy_devs_add(&f->dm, &p, &e), 0);
        memcpy(&c, f->ram + LAYOUT_VMCLOCK_START, sizeof(c));
        assert_int_equal(c.magic, VMCLOCK_MAGIC);
        assert_int_equal(c.size, LAYOUT_VMCLOCK_SIZE);
        assert_int_equal(c.version, 1);
        assert_int_equal(c.counter_id, VMCLOCK_COUNTER_INVALID);
        assert_int_equal(c.clock_status, VMCLOCK_STATUS_UNKNOWN);
        assert_int_equal(c.flags, (1 << 8) | (1 << 9));
        assert_int_equal(c.seq_count, 0);
        assert_int_equal(c.vm_generation_counter, 0);
        /* A guest scribbling on the page does not change what brasa writes next. */
        memset(f->ram + LAYOUT_VMCLOCK_START, 0xee, sizeof(c));
        assert_int_equal(legacy_vmclock_restored(&f->dm, &f->mem, &e), 0);
        memcpy(&c, f->ram + LAYOUT_VMCLOCK_START, sizeof(c));
        assert_int_equal(c.seq_count, 2); /* odd during the update, even (and moved) after */
        assert_int_equal(c.disruption_marker, 1);
        assert_int_equal(c.vm_generation_counter, 1);
        assert_int_equal(legacy_vmclock_restored(&f->dm, &f->mem, &e), 0);
        memcpy(&c, f->ram + LAYOUT_VMCLOCK_START, sizeof(c));
        assert_int_equal(c.seq_count, 4);
        assert_int_equal(c.vm_generation_counter, 2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_entries_and_windows, setup, teardown),
            cmocka_unit_test_setup_teardown(test_no_boot_timer_unless_asked, setup, teardown),
            cmocka_unit_test_setup_teardown(test_taken_window_fails_and_the_table_owns_it, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_uart_metrics_through_the_table, setup, teardown),
            cmocka_unit_test_setup_teardown(test_acpi_sleep_powers_off_on_s5_only, setup, teardown),
            cmocka_unit_test_setup_teardown(test_vmclock_page_and_restore, setup, teardown),
            cmocka_unit_test_setup_teardown(test_vmgenid_writes_and_regenerates_the_id, setup,
                                            teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
