/* The legacy devices in the device table: COM1, the i8042, the boot timer, the ACPI devices. */
#ifndef BRASA_VMM_LEGACY_H
#define BRASA_VMM_LEGACY_H

#include <time.h>

#include "core/err.h"
#include "devices/bus.h"
#include "devices/device.h"
#include "core/guest_mem.h"
#include "devices/legacy/serial.h"
#include "vmm/device_mgr.h"
#include "vmm/kvm_vm.h"

/* Where the legacy devices go and whom they call. */
struct legacy_params {
        struct kvm_vm *vm;
        struct bus *pio, *mmio;
        int serial_out_fd;           /* guest console output (not owned) */
        void (*reset)(void *ctx);    /* the guest asked the i8042 for a CPU reset (vCPU thread) */
        void (*poweroff)(void *ctx); /* the guest powered off through ACPI (vCPU thread) */
        void *ctx;
        const struct timespec *boot_wall, *boot_cpu; /* InstanceStart; NULL: no boot timer */
        const struct guest_mem *mem;                 /* where VMGenID writes its ID */
        unsigned int vmgenid_gsi, vmclock_gsi;
        uint8_t s5_type; /* the SLP_TYP of the DSDT's \_S5 */
};

/* The "i8042" and "uart" metrics groups (all zero while the devices do not exist). */
extern const struct device_metrics_kind legacy_i8042_metrics_kind;
extern const struct device_metrics_kind legacy_uart_metrics_kind;

/*
 * Creates the UART (with the irqfd of GSI 4) and the i8042 (GSI 1) and puts them on the
 * PIO bus, then the boot timer on the MMIO bus when asked, then the ACPI sleep registers
 * (PIO), VMGenID (its ID written at LAYOUT_VMGENID_START, irqfd of p->vmgenid_gsi) and
 * VMClock (its page at LAYOUT_VMCLOCK_START, irqfd of p->vmclock_gsi), then the PIT (ports
 * 0x40..0x43 and 0x61, the irqfd of GSI 0, its timer on dm's loop when it has one),
 * each added to dm, which owns them from then on (what was added stays there on failure, released
 * with dm). Returns 0 or -errno with one line in e.
 */
int legacy_devs_add(struct device_mgr *dm, const struct legacy_params *p, struct err *e);

/* The COM1 UART in dm, or NULL when there is none. */
struct serial *legacy_serial(const struct device_mgr *dm);

/*
 * Queues Ctrl-Alt-Del on the i8042 in dm (SendCtrlAltDel). Returns 0, or -ENODEV / -ENOSPC
 * with Firecracker's I8042 error text in e.
 */
int legacy_ctrl_alt_del(const struct device_mgr *dm, struct err *e);

/*
 * Gives the guest a new VMGenID and raises its interrupt (after a snapshot restore).
 * Returns 0, or -ENODEV / -errno with one line in e.
 */
int legacy_vmgenid_regenerate(const struct device_mgr *dm, const struct guest_mem *mem,
                              struct err *e);

/*
 * Moves VMClock's disruption marker and VM generation counter on and raises its interrupt
 * (after a snapshot restore). Returns 0, or -ENODEV / -errno with one line in e.
 */
int legacy_vmclock_restored(const struct device_mgr *dm, const struct guest_mem *mem,
                            struct err *e);

#endif
