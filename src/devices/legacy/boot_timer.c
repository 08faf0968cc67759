/* Boot timer: logs wall and CPU time from InstanceStart to the guest's magic write. */
#include "devices/legacy/boot_timer.h"

#include <stdint.h>
#include <string.h>

#include "arch/x86_64/layout.h"
#include "core/log.h"
#include "core/timeline.h"

/* Microseconds from a to b, clamped at 0 so a clock oddity never prints a huge value. */
static unsigned long long elapsed_us(const struct timespec *a, const struct timespec *b)
{
        long long ns =
            (long long)(b->tv_sec - a->tv_sec) * 1000000000LL + (b->tv_nsec - a->tv_nsec);

        return ns > 0 ? (unsigned long long)ns / 1000ULL : 0;
}

static void boot_timer_report(const struct boot_timer *t)
{
        struct timespec wall, cpu;
        unsigned long long us, cpu_us;

        clock_gettime(CLOCK_MONOTONIC, &wall);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
        us = elapsed_us(&t->start_wall, &wall);
        cpu_us = elapsed_us(&t->start_cpu, &cpu);
        /* Same text as Firecracker ("{:>6}" = width 6) so existing log scrapers keep working;
         * rate limited, as the guest decides how often it is written. */
        log_guest_info("Guest-boot-time = %6llu us %llu ms, %6llu CPU us %llu CPU ms", us,
                       us / 1000, cpu_us, cpu_us / 1000);
}

static void boot_timer_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
        (void)opaque;
        (void)off;
        memset(data, 0, len);
}

/* Like Firecracker, only a 1-byte write at offset 0 counts; the guest can repeat it. */
static void boot_timer_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
        if (len == 1 && off == 0 && data[0] == BOOT_TIMER_MAGIC) {
                timeline_mark(TL_GUEST);
                boot_timer_report(opaque);
        }
}

void boot_timer_init(struct boot_timer *t, const struct timespec *start_wall,
                     const struct timespec *start_cpu)
{
        t->start_wall = *start_wall;
        t->start_cpu = *start_cpu;
}

struct bus_dev boot_timer_bus_dev(struct boot_timer *t)
{
        return bus_dev_of(LAYOUT_BOOT_TIMER_START, LAYOUT_BOOT_TIMER_SIZE, t, boot_timer_read,
                          boot_timer_write);
}
