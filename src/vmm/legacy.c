/* The legacy device group: irqfds, one all-or-nothing init, Ctrl-Alt-Del and their metrics. */
#include "vmm/legacy.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"

static void close_fd(int *fd)
{
        if (*fd >= 0)
                close(*fd);
        *fd = -1;
}

void legacy_devs_clear(struct legacy_devs *l)
{
        memset(l, 0, sizeof(*l));
        l->serial_irq_fd = l->i8042_irq_fd = -1;
}

static int add_dev(struct bus *bus, const struct bus_dev *dev, const char *name, struct err *e)
{
        int rc = bus_add(bus, dev);

        return rc ? err_set(e, rc, "cannot attach %s: %s", name, strerror(-rc)) : 0;
}

/* Puts the devices on their buses; the boot timer only when asked. */
static int add_devs(struct legacy_devs *l, const struct legacy_params *p, struct err *e)
{
        struct bus_dev dev;
        int rc;

        dev = serial_bus_dev(&l->serial);
        rc = add_dev(p->pio, &dev, "serial", e);
        if (rc)
                return rc;
        dev = i8042_bus_dev(&l->i8042);
        rc = add_dev(p->pio, &dev, "i8042", e);
        if (rc || !p->boot_wall)
                return rc;
        boot_timer_init(&l->boot_timer, p->boot_wall, p->boot_cpu);
        dev = boot_timer_bus_dev(&l->boot_timer);
        return add_dev(p->mmio, &dev, "boot timer", e);
}

int legacy_devs_init(struct legacy_devs *l, const struct legacy_params *p, struct err *e)
{
        int rc;

        legacy_devs_clear(l);
        l->serial_irq_fd = kvm_vm_irqfd(p->vm, LAYOUT_IRQ_COM1);
        l->i8042_irq_fd = kvm_vm_irqfd(p->vm, LAYOUT_IRQ_I8042);
        if (l->serial_irq_fd < 0 || l->i8042_irq_fd < 0) {
                rc = err_set(e, -EINVAL, "KVM_IRQFD failed for the legacy devices");
                goto out_fds;
        }
        rc = serial_init(&l->serial, p->serial_out_fd, l->serial_irq_fd);
        if (rc)
                goto out_setup;
        rc = i8042_init(&l->i8042, l->i8042_irq_fd, p->reset, p->ctx);
        if (rc)
                goto out_serial;
        rc = add_devs(l, p, e);
        if (rc)
                goto out_i8042;
        l->up = true;
        return 0;
out_setup:
        err_set(e, rc, "cannot set up legacy devices: %s", strerror(-rc));
        goto out_fds;
out_i8042:
        i8042_destroy(&l->i8042);
out_serial:
        serial_destroy(&l->serial);
out_fds:
        close_fd(&l->serial_irq_fd);
        close_fd(&l->i8042_irq_fd);
        return rc;
}

void legacy_devs_destroy(struct legacy_devs *l)
{
        if (l->up) {
                i8042_destroy(&l->i8042);
                serial_destroy(&l->serial);
        }
        close_fd(&l->serial_irq_fd);
        close_fd(&l->i8042_irq_fd);
        legacy_devs_clear(l);
}

int legacy_devs_ctrl_alt_del(struct legacy_devs *l, struct err *e)
{
        if (!l->up)
                return err_set(e, -ENODEV, "I8042 error: the device is not ready");
        if (i8042_send_ctrl_alt_del(&l->i8042))
                return err_set(e, -ENOSPC,
                               "I8042 error: Could not trigger keyboard interrupt: "
                               "internal buffer full.");
        return 0;
}

static void add_i8042(struct legacy_devs *l, json_t *root)
{
        struct i8042_stats s = {0};

        if (l->up)
                i8042_get_stats(&l->i8042, &s);
        metrics_group_write(root, "i8042", &i8042_metrics_table, &s, &l->kbd_prev);
}

static void add_uart(struct legacy_devs *l, json_t *root)
{
        struct serial_stats s = {0};

        if (l->up)
                serial_get_stats(&l->serial, &s);
        metrics_group_write(root, "uart", &serial_metrics_table, &s, &l->uart_prev);
}

void legacy_devs_metrics(struct legacy_devs *l, json_t *root)
{
        add_i8042(l, root);
        add_uart(l, root);
}
