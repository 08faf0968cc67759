/* The hardware-reduced ACPI sleep registers: how a guest powers the machine off (S5). */
#ifndef BRASA_DEVICES_ACPI_SLEEP_H
#define BRASA_DEVICES_ACPI_SLEEP_H

#include <stdint.h>

#include "devices/bus.h"

/* The sleep-control register's fields (ACPI 6.5, section 4.8.3.7). */
#define ACPI_SLEEP_CTL_TYPE_SHIFT 2
#define ACPI_SLEEP_CTL_TYPE_MASK  0x1c
#define ACPI_SLEEP_CTL_ENABLE     0x20

/*
 * Two byte-wide I/O registers: sleep control at LAYOUT_PORT_ACPI_SLEEP_CTL and sleep status
 * right after it. Only the power-off transition exists: a control write with SLP_EN set and
 * SLP_TYP = s5_type calls poweroff(ctx) (on the vCPU thread: it must only signal the VMM);
 * any other sleep type is ignored with a warning. Status reads 0 (never woken). No state.
 */
struct acpi_sleep {
        uint8_t s5_type;
        void (*poweroff)(void *ctx);
        void *ctx;
};

/* Sets up s; s5_type is the value the DSDT's \_S5 package gives. */
void acpi_sleep_init(struct acpi_sleep *s, uint8_t s5_type, void (*poweroff)(void *ctx), void *ctx);

/* The registers' window on the PIO bus. */
struct bus_dev acpi_sleep_bus_dev(struct acpi_sleep *s);

#endif
