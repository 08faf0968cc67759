/* The legacy devices as device-table entries: creation, their irqfds, Ctrl-Alt-Del, metrics. */
#include "vmm/legacy.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/acpi/sleep.h"
#include "devices/acpi/vmclock.h"
#include "devices/acpi/vmgenid.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/pit.h"

/* An IRQ-driven legacy device's table entry and its owned irqfd. */
struct irq_dev {
        struct device base;
        int irq_fd;
};

struct legacy_uart {
        struct irq_dev irq; /* GSI 4 */
        struct serial serial;
        struct serial_stats prev; /* counters at the previous metrics line */
};

struct legacy_kbd {
        struct irq_dev irq; /* GSI 1 */
        struct i8042 i8042;
        struct i8042_stats prev;
};

struct legacy_timer {
        struct device base;
        struct boot_timer timer;
};

struct legacy_sleep {
        struct device base;
        struct acpi_sleep sleep;
};

struct legacy_vmgenid {
        struct irq_dev irq; /* the first legacy GSI after the virtio devices */
        struct vmgenid gen;
};

struct legacy_vmclock {
        struct irq_dev irq; /* the legacy GSI after VMGenID's */
        struct vmclock clock;
};

/*
 * The PIT: channel 0's interrupt comes from a timerfd on the VMM loop, which raises GSI 0
 * through the irqfd. KVM's in-kernel PIT would do the same from a kernel thread, but
 * destroying it costs the VM's close() two SRCU grace periods (12-28 ms on this project's
 * host), which bounded how fast VMs could be created and torn down.
 */
struct legacy_pit {
        struct irq_dev irq; /* GSI 0 */
        struct pit pit;
        int timer_fd;
        struct ev_source timer_src;
        struct evloop *loop;
};

/* irq_dev_release() frees the container through its irq_dev. */
_Static_assert(offsetof(struct legacy_uart, irq) == 0, "irq_dev first");
_Static_assert(offsetof(struct legacy_kbd, irq) == 0, "irq_dev first");
_Static_assert(offsetof(struct legacy_vmgenid, irq) == 0, "irq_dev first");
_Static_assert(offsetof(struct legacy_vmclock, irq) == 0, "irq_dev first");
_Static_assert(offsetof(struct legacy_pit, irq) == 0, "irq_dev first");

static struct legacy_uart *uart_of(struct device *d)
{
        return container_of(d, struct legacy_uart, irq.base);
}

static struct legacy_kbd *kbd_of(struct device *d)
{
        return container_of(d, struct legacy_kbd, irq.base);
}

/* ---- metrics ------------------------------------------------------------------------------ */

static void uart_metrics(struct device *d, const struct device_metrics_kind *k, void *sum,
                         json_t *root)
{
        struct legacy_uart *u = uart_of(d);
        struct serial_stats s, delta;

        (void)root; /* no per-device group: "uart" is the sum */
        serial_get_stats(&u->serial, &s);
        metrics_take(k->table, &s, &u->prev, &delta);
        metrics_add(k->table, sum, &delta);
}

const struct device_metrics_kind legacy_uart_metrics_kind = {
    .group = "uart",
    .kind = DEVICE_SERIAL,
    .table = &serial_metrics_table,
};

static void kbd_metrics(struct device *d, const struct device_metrics_kind *k, void *sum,
                        json_t *root)
{
        struct legacy_kbd *kbd = kbd_of(d);
        struct i8042_stats s, delta;

        (void)root; /* no per-device group: "i8042" is the sum */
        i8042_get_stats(&kbd->i8042, &s);
        metrics_take(k->table, &s, &kbd->prev, &delta);
        metrics_add(k->table, sum, &delta);
}

const struct device_metrics_kind legacy_i8042_metrics_kind = {
    .group = "i8042",
    .kind = DEVICE_I8042,
    .table = &i8042_metrics_table,
};

/* ---- device ops --------------------------------------------------------------------------- */

static void irq_dev_release(struct irq_dev *d)
{
        if (d->irq_fd >= 0)
                close(d->irq_fd);
        free(d); /* the first member of its container */
}

static void uart_destroy(struct device *d)
{
        struct legacy_uart *u = uart_of(d);

        serial_destroy(&u->serial);
        irq_dev_release(&u->irq);
}

static void kbd_destroy(struct device *d)
{
        struct legacy_kbd *k = kbd_of(d);

        i8042_destroy(&k->i8042);
        irq_dev_release(&k->irq);
}

static void timer_destroy(struct device *d)
{
        free(container_of(d, struct legacy_timer, base));
}

static void sleep_destroy(struct device *d)
{
        free(container_of(d, struct legacy_sleep, base));
}

static void vmgenid_destroy(struct device *d)
{
        irq_dev_release(container_of(d, struct irq_dev, base));
}

static void uart_reset(struct device *d)
{
        serial_reset(&uart_of(d)->serial);
}

static void kbd_reset(struct device *d)
{
        i8042_reset(&kbd_of(d)->i8042);
}

/* ---- snapshots: each state is a struct of bytes, so its size is its version check ---------- */

static int uart_save(struct device *d, void *buf, size_t cap, size_t *len)
{
        struct serial_state st;

        if (cap < sizeof(st))
                return -ENOSPC;
        serial_save(&uart_of(d)->serial, &st);
        memcpy(buf, &st, sizeof(st));
        *len = sizeof(st);
        return 0;
}

static int uart_restore(struct device *d, const void *buf, size_t len)
{
        struct serial_state st;

        if (len != sizeof(st))
                return -EINVAL;
        memcpy(&st, buf, sizeof(st));
        return serial_restore(&uart_of(d)->serial, &st);
}

static int kbd_save(struct device *d, void *buf, size_t cap, size_t *len)
{
        struct i8042_state st;

        if (cap < sizeof(st))
                return -ENOSPC;
        i8042_save(&kbd_of(d)->i8042, &st);
        memcpy(buf, &st, sizeof(st));
        *len = sizeof(st);
        return 0;
}

static int kbd_restore(struct device *d, const void *buf, size_t len)
{
        struct i8042_state st;

        if (len != sizeof(st))
                return -EINVAL;
        memcpy(&st, buf, sizeof(st));
        return i8042_restore(&kbd_of(d)->i8042, &st);
}

/* The boot timer keeps nothing: its origin is the restoring process's own start. */
/* The boot timer and the ACPI devices: nothing to save (see their ops below). */
static int timer_save(struct device *d, void *buf, size_t cap, size_t *len)
{
        (void)d, (void)buf, (void)cap;
        *len = 0;
        return 0;
}

static int timer_restore(struct device *d, const void *buf, size_t len)
{
        (void)d, (void)buf;
        return len ? -EINVAL : 0;
}

static const struct device_ops uart_ops = {
    .reset = uart_reset,
    .destroy = uart_destroy,
    .metrics = uart_metrics,
    .save = uart_save,
    .restore = uart_restore,
};
static const struct device_ops kbd_ops = {
    .reset = kbd_reset,
    .destroy = kbd_destroy,
    .metrics = kbd_metrics,
    .save = kbd_save,
    .restore = kbd_restore,
};
/* No reset: the boot timer's only state is InstanceStart's time. */
static const struct device_ops timer_ops = {
    .destroy = timer_destroy,
    .save = timer_save,
    .restore = timer_restore,
};
/*
 * No reset: none has state a guest changes. Their snapshot state is empty: the power-off
 * register holds nothing, and VMGenID's ID and VMClock's page live in guest memory, which the
 * snapshot keeps; after a load the VMM gives both their new-generation update
 * (vmm_vmgenid_regenerate(), vmm_vmclock_restored()).
 */
static const struct device_ops sleep_ops = {
    .destroy = sleep_destroy,
    .save = timer_save,
    .restore = timer_restore,
};
static const struct device_ops vmgenid_ops = {
    .destroy = vmgenid_destroy,
    .save = timer_save,
    .restore = timer_restore,
};
static const struct device_ops vmclock_ops = {
    .destroy = vmgenid_destroy, /* an irq_dev too */
    .save = timer_save,
    .restore = timer_restore,
};

/* ---- the PIT ------------------------------------------------------------------------------ */

static struct legacy_pit *pit_of(struct device *d)
{
        return container_of(d, struct legacy_pit, irq.base);
}

/* pit_arm_fn: channel 0 (re)programmed, on the vCPU thread that wrote it or the VMM thread. */
static void pit_arm(void *ctx, uint64_t delay_ns, uint64_t period_ns)
{
        struct legacy_pit *t = ctx;
        struct itimerspec its = {
            .it_value = {(time_t)(delay_ns / 1000000000u), (long)(delay_ns % 1000000000u)},
            .it_interval = {(time_t)(period_ns / 1000000000u), (long)(period_ns % 1000000000u)},
        };

        if (t->timer_fd >= 0 && timerfd_settime(t->timer_fd, 0, &its, NULL) < 0)
                log_error("PIT: cannot arm channel 0's timer: %s", strerror(errno));
}

/*
 * Channel 0 reached its terminal count: one IRQ 0 edge. Expiries the loop could not serve in
 * time (or that came while the microVM was paused) are one edge, not several: lost ticks are
 * dropped, where KVM's PIT queued them until the guest acknowledged each.
 */
static void pit_timer_fired(struct ev_source *src, uint32_t events)
{
        struct legacy_pit *t = src->opaque;
        uint64_t n = 0, one = 1;

        (void)events;
        if (read(t->timer_fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && n &&
            write(t->irq.irq_fd, &one, sizeof(one)) < 0)
                log_error("PIT: cannot raise IRQ 0: %s", strerror(errno));
}

static void pit_dev_destroy(struct device *d)
{
        struct legacy_pit *t = pit_of(d);

        if (t->loop)
                evloop_del(t->loop, &t->timer_src);
        pit_destroy(&t->pit);
        if (t->timer_fd >= 0)
                close(t->timer_fd);
        irq_dev_release(&t->irq);
}

static void pit_dev_reset(struct device *d)
{
        pit_reset(&pit_of(d)->pit);
}

/* KVM_GET_PIT2's layout, as when KVM emulated the PIT. */
static int pit_dev_save(struct device *d, void *buf, size_t cap, size_t *len)
{
        struct kvm_pit_state2 st;

        if (cap < sizeof(st))
                return -ENOSPC;
        pit_save(&pit_of(d)->pit, &st);
        memcpy(buf, &st, sizeof(st));
        *len = sizeof(st);
        return 0;
}

static int pit_dev_restore(struct device *d, const void *buf, size_t len)
{
        struct kvm_pit_state2 st;

        if (len != sizeof(st))
                return -EINVAL;
        memcpy(&st, buf, sizeof(st));
        return pit_restore(&pit_of(d)->pit, &st);
}

static const struct device_ops pit_ops = {
    .reset = pit_dev_reset,
    .destroy = pit_dev_destroy,
    .save = pit_dev_save,
    .restore = pit_dev_restore,
};

/* ---- creation ----------------------------------------------------------------------------- */

/*
 * Gives d, the head of a new zeroed container (NULL: its allocation failed), its table
 * entry and a new irqfd of gsi. On failure d is freed.
 */
static int irq_dev_open(struct irq_dev *d, struct kvm_vm *vm, unsigned int gsi, struct device base,
                        struct err *e)
{
        if (!d)
                return err_set(e, -ENOMEM, "cannot set up legacy devices: %s", strerror(ENOMEM));
        d->base = base;
        d->irq_fd = kvm_vm_irqfd(vm, gsi);
        if (d->irq_fd < 0) {
                irq_dev_release(d);
                return err_set(e, -EINVAL, "KVM_IRQFD failed for the legacy devices");
        }
        return 0;
}

/* The device's init returned rc: on failure, releases the half-made device. */
static int irq_dev_inited(struct irq_dev *d, int rc, struct err *e)
{
        if (!rc)
                return 0;
        irq_dev_release(d);
        return err_set(e, rc, "cannot set up legacy devices: %s", strerror(-rc));
}

/* Adds dev to the table, then its window to bus. */
static int add_dev(struct device_mgr *dm, struct device *dev, struct bus *bus, struct bus_dev bd,
                   const char *name, struct err *e)
{
        int rc = device_mgr_add(dm, dev, e);

        if (rc)
                return rc;
        rc = bus_add(bus, &bd);
        return rc ? err_set(e, rc, "cannot attach %s: %s", name, strerror(-rc)) : 0;
}

static int add_uart(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        struct device base = {.kind = DEVICE_SERIAL, .id = "com1", .ops = &uart_ops};
        struct legacy_uart *u = calloc(1, sizeof(*u));
        int rc = irq_dev_open(u ? &u->irq : NULL, p->vm, LAYOUT_IRQ_COM1, base, e);

        if (rc)
                return rc;
        rc = irq_dev_inited(&u->irq, serial_init(&u->serial, p->serial_out_fd, u->irq.irq_fd), e);
        if (rc)
                return rc;
        return add_dev(dm, &u->irq.base, p->pio, serial_bus_dev(&u->serial), "serial", e);
}

static int add_kbd(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        struct device base = {.kind = DEVICE_I8042, .id = "i8042", .ops = &kbd_ops};
        struct legacy_kbd *k = calloc(1, sizeof(*k));
        int rc = irq_dev_open(k ? &k->irq : NULL, p->vm, LAYOUT_IRQ_I8042, base, e);
        struct bus_dev win[2];

        if (rc)
                return rc;
        rc = irq_dev_inited(&k->irq, i8042_init(&k->i8042, k->irq.irq_fd, p->reset, p->ctx), e);
        if (rc)
                return rc;
        i8042_bus_windows(&k->i8042, win);
        rc = add_dev(dm, &k->irq.base, p->pio, win[0], "i8042", e);
        if (!rc && bus_add(p->pio, &win[1]))
                rc = err_set(e, -EEXIST, "cannot attach i8042: its ports are taken");
        return rc;
}

static int add_timer(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        struct legacy_timer *t = calloc(1, sizeof(*t));

        if (!t)
                return err_set(e, -ENOMEM, "cannot set up legacy devices: %s", strerror(ENOMEM));
        t->base = (struct device){.kind = DEVICE_BOOT_TIMER, .id = "boot_timer", .ops = &timer_ops};
        boot_timer_init(&t->timer, p->boot_wall, p->boot_cpu);
        return add_dev(dm, &t->base, p->mmio, boot_timer_bus_dev(&t->timer), "boot timer", e);
}

static int add_sleep(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        struct legacy_sleep *s = calloc(1, sizeof(*s));

        if (!s)
                return err_set(e, -ENOMEM, "cannot set up legacy devices: %s", strerror(ENOMEM));
        s->base = (struct device){.kind = DEVICE_ACPI_SLEEP, .id = "acpi_sleep", .ops = &sleep_ops};
        acpi_sleep_init(&s->sleep, p->s5_type, p->poweroff, p->ctx);
        return add_dev(dm, &s->base, p->pio, acpi_sleep_bus_dev(&s->sleep), "ACPI sleep", e);
}

static int add_vmgenid(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        struct device base = {.kind = DEVICE_VMGENID, .id = "vmgenid", .ops = &vmgenid_ops};
        struct legacy_vmgenid *g = calloc(1, sizeof(*g));
        int rc = irq_dev_open(g ? &g->irq : NULL, p->vm, p->vmgenid_gsi, base, e);

        if (rc)
                return rc;
        rc = vmgenid_init(&g->gen, p->mem, LAYOUT_VMGENID_START, p->vmgenid_gsi, g->irq.irq_fd);
        if (rc) {
                irq_dev_release(&g->irq);
                return err_set(e, rc, "VMGenID: cannot write the generation ID: %s", strerror(-rc));
        }
        return device_mgr_add(dm, &g->irq.base, e);
}

static int add_vmclock(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        struct device base = {.kind = DEVICE_VMCLOCK, .id = "vmclock", .ops = &vmclock_ops};
        struct legacy_vmclock *c = calloc(1, sizeof(*c));
        int rc = irq_dev_open(c ? &c->irq : NULL, p->vm, p->vmclock_gsi, base, e);

        if (rc)
                return rc;
        rc = vmclock_init(&c->clock, p->mem, LAYOUT_VMCLOCK_START, LAYOUT_VMCLOCK_SIZE,
                          p->vmclock_gsi, c->irq.irq_fd);
        if (rc) {
                irq_dev_release(&c->irq);
                return err_set(e, rc, "VMClock: cannot write its page: %s", strerror(-rc));
        }
        return device_mgr_add(dm, &c->irq.base, e);
}

static int add_pit(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        struct device base = {.kind = DEVICE_PIT, .id = "pit", .ops = &pit_ops};
        struct legacy_pit *t = calloc(1, sizeof(*t));
        int rc = irq_dev_open(t ? &t->irq : NULL, p->vm, LAYOUT_IRQ_PIT, base, e);
        struct bus_dev ports, speaker;

        if (rc)
                return rc;
        t->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        rc = t->timer_fd < 0 ? -errno : pit_init(&t->pit, pit_arm, t, NULL);
        if (rc) {
                if (t->timer_fd >= 0)
                        close(t->timer_fd);
                return irq_dev_inited(&t->irq, rc, e);
        }
        rc = device_mgr_add(dm, &t->irq.base, e); /* from here on dm releases it */
        if (rc)
                return rc;
        t->loop = dm->loop;
        t->timer_src = (struct ev_source){.fd = t->timer_fd, .fn = pit_timer_fired, .opaque = t};
        rc = dm->loop ? evloop_add(dm->loop, &t->timer_src, EPOLLIN) : 0;
        if (rc)
                return err_set(e, rc, "cannot set up the PIT's timer: %s", strerror(-rc));
        ports = pit_bus_dev(&t->pit);
        speaker = pit_speaker_bus_dev(&t->pit);
        rc = bus_add(p->pio, &ports);
        if (!rc)
                rc = bus_add(p->pio, &speaker);
        return rc ? err_set(e, rc, "cannot attach the PIT: %s", strerror(-rc)) : 0;
}

int legacy_devs_add(struct device_mgr *dm, const struct legacy_params *p, struct err *e)
{
        int rc = add_uart(dm, p, e);

        if (!rc)
                rc = add_kbd(dm, p, e);
        if (!rc && p->boot_wall)
                rc = add_timer(dm, p, e);
        if (!rc)
                rc = add_sleep(dm, p, e);
        if (!rc)
                rc = add_vmgenid(dm, p, e);
        if (!rc)
                rc = add_vmclock(dm, p, e);
        if (!rc)
                rc = add_pit(dm, p, e);
        return rc;
}

int legacy_vmgenid_regenerate(const struct device_mgr *dm, const struct guest_mem *mem,
                              struct err *e)
{
        struct device *d = device_mgr_find(dm, DEVICE_VMGENID, "vmgenid");
        int rc;

        if (!d)
                return err_set(e, -ENODEV, "VMGenID: the device is not ready");
        rc = vmgenid_regenerate(&container_of(d, struct legacy_vmgenid, irq.base)->gen, mem);
        return rc ? err_set(e, rc, "VMGenID: Could not notify guest: %s", strerror(-rc)) : 0;
}

struct serial *legacy_serial(const struct device_mgr *dm)
{
        struct device *d = device_mgr_find(dm, DEVICE_SERIAL, "com1");

        return d ? &uart_of(d)->serial : NULL;
}

int legacy_ctrl_alt_del(const struct device_mgr *dm, struct err *e)
{
        struct device *d = device_mgr_find(dm, DEVICE_I8042, "i8042");

        if (!d)
                return err_set(e, -ENODEV, "I8042 error: the device is not ready");
        if (i8042_send_ctrl_alt_del(&kbd_of(d)->i8042))
                return err_set(e, -ENOSPC,
                               "I8042 error: Could not trigger keyboard interrupt: "
                               "internal buffer full.");
        return 0;
}

int legacy_vmclock_restored(const struct device_mgr *dm, const struct guest_mem *mem, struct err *e)
{
        struct device *d = device_mgr_find(dm, DEVICE_VMCLOCK, "vmclock");
        int rc;

        if (!d)
                return err_set(e, -ENODEV, "VMClock: the device is not ready");
        rc = vmclock_restored(&container_of(d, struct legacy_vmclock, irq.base)->clock, mem);
        return rc ? err_set(e, rc, "VMClock: Could not notify guest: %s", strerror(-rc)) : 0;
}
