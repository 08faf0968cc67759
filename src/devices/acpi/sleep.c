/* The hardware-reduced ACPI sleep registers: a guest's S5 write ends the VM. */
#include "devices/acpi/sleep.h"

#include <string.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"

void acpi_sleep_init(struct acpi_sleep *s, uint8_t s5_type, void (*poweroff)(void *ctx), void *ctx)
{
        s->s5_type = s5_type;
        s->poweroff = poweroff;
        s->ctx = ctx;
}

static void sleep_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        (void)opaque;
        (void)off;
        /* WAK_STS stays clear: the machine never comes back from a sleep state. */
        memset(data, 0, len);
}

static void sleep_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct acpi_sleep *s = opaque;
        uint8_t v = data[0], type;

        /* The status register only takes WAK_STS clears; a wider write is a guest bug. */
        if (off != 0 || len != 1 || !(v & ACPI_SLEEP_CTL_ENABLE))
                return;
        type = (uint8_t)((v & ACPI_SLEEP_CTL_TYPE_MASK) >> ACPI_SLEEP_CTL_TYPE_SHIFT);
        if (type != s->s5_type) {
                log_guest_warn("ACPI: the guest asked for sleep type %u, only S5 (%u) exists", type,
                               s->s5_type);
                return;
        }
        if (s->poweroff)
                s->poweroff(s->ctx);
}

struct bus_dev acpi_sleep_bus_dev(struct acpi_sleep *s)
{
        return bus_dev_of(LAYOUT_PORT_ACPI_SLEEP_CTL,
                          LAYOUT_PORT_ACPI_SLEEP_STS - LAYOUT_PORT_ACPI_SLEEP_CTL + 1, s,
                          sleep_read, sleep_write);
}
