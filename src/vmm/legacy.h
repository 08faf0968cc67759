/* The legacy devices as one group: COM1, the i8042 and the optional boot timer, with their IRQs. */
#ifndef BRASA_VMM_LEGACY_H
#define BRASA_VMM_LEGACY_H

#include <stdbool.h>
#include <time.h>

#include <jansson.h>

#include "core/err.h"
#include "devices/bus.h"
#include "devices/legacy/boot_timer.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/serial.h"
#include "vmm/kvm_vm.h"

/* Where the legacy devices go and whom they call. */
struct legacy_params {
        struct kvm_vm *vm;
        struct bus *pio, *mmio;
        int serial_out_fd;        /* guest console output (not owned) */
        void (*reset)(void *ctx); /* the guest asked the i8042 for a CPU reset (vCPU thread) */
        void *ctx;
        const struct timespec *boot_wall, *boot_cpu; /* InstanceStart; NULL: no boot timer */
};

struct legacy_devs {
        bool up; /* every device below is initialised and on its bus */
        struct serial serial;
        struct i8042 i8042;
        struct boot_timer boot_timer;
        int serial_irq_fd, i8042_irq_fd; /* owned irqfds of GSI 4 and 1 */
        struct serial_stats uart_prev;   /* counters at the previous metrics line */
        struct i8042_stats kbd_prev;
};

/* Marks l as empty (no fds), so legacy_devs_destroy() and the metrics are safe before init. */
void legacy_devs_clear(struct legacy_devs *l);

/*
 * Creates the two irqfds, the UART and the i8042 and puts them on the PIO bus, then the
 * boot timer on the MMIO bus when asked. All or nothing: on failure everything made is
 * released again. Returns 0 or -errno with one line in e.
 */
int legacy_devs_init(struct legacy_devs *l, const struct legacy_params *p, struct err *e);

/* Releases the devices and closes the irqfds (the buses are the caller's); then as clear. */
void legacy_devs_destroy(struct legacy_devs *l);

/*
 * Queues Ctrl-Alt-Del on the i8042 (SendCtrlAltDel). Returns 0, or -ENODEV / -ENOSPC with
 * Firecracker's I8042 error text in e.
 */
int legacy_devs_ctrl_alt_del(struct legacy_devs *l, struct err *e);

/*
 * Writes the "i8042" and "uart" groups of one metrics line into root, as the increase
 * since the previous call (all zero while the devices are not up).
 */
void legacy_devs_metrics(struct legacy_devs *l, json_t *root);

#endif
