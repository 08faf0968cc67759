/* The boot timeline: per-phase first timestamps (CLOCK_MONOTONIC) and their one-line report. */
#include "core/timeline.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

static const char *const timeline_names[TL_PHASES] = {
    "exec", "api_ready", "instance_start", "kvm_ready", "kernel_loaded", "first_kvm_run", "guest",
};

/* 0: not recorded. Written once each (compare-and-swap), read at exit. */
static unsigned long long timeline_ns[TL_PHASES];
static unsigned long long timeline_setup_work_ns, timeline_setup_done_ns;

unsigned long long timeline_now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

void timeline_start(void)
{
        __atomic_store_n(&timeline_ns[TL_EXEC], timeline_now_ns(), __ATOMIC_RELEASE);
}

void timeline_mark(enum timeline_phase p)
{
        unsigned long long zero = 0;

        /* The load first: the serial port calls this for every byte. */
        if ((unsigned int)p >= TL_PHASES || __atomic_load_n(&timeline_ns[p], __ATOMIC_RELAXED))
                return;
        __atomic_compare_exchange_n(&timeline_ns[p], &zero, timeline_now_ns(), false,
                                    __ATOMIC_RELEASE, __ATOMIC_RELAXED);
}

void timeline_setup_thread(unsigned long long work_ns, unsigned long long done_ns)
{
        __atomic_store_n(&timeline_setup_work_ns, work_ns, __ATOMIC_RELAXED);
        __atomic_store_n(&timeline_setup_done_ns, done_ns, __ATOMIC_RELEASE);
}

/* t (ns, CLOCK_MONOTONIC) as microseconds since exec into buf, or "-" when unrecorded. */
static void timeline_us(unsigned long long t, unsigned long long origin, char *buf, size_t len)
{
        if (!t || t < origin)
                snprintf(buf, len, "-");
        else
                snprintf(buf, len, "%llu", (t - origin) / 1000);
}

int timeline_format(char *buf, size_t len)
{
        unsigned long long origin = __atomic_load_n(&timeline_ns[TL_EXEC], __ATOMIC_ACQUIRE);
        char v[TL_PHASES][24], done[24];
        unsigned int i;

        for (i = 0; i < TL_PHASES; i++)
                timeline_us(__atomic_load_n(&timeline_ns[i], __ATOMIC_ACQUIRE), origin, v[i],
                            sizeof(v[i]));
        timeline_us(__atomic_load_n(&timeline_setup_done_ns, __ATOMIC_ACQUIRE), origin, done,
                    sizeof(done));
        return snprintf(buf, len,
                        "Boot timeline (us since exec): %s=%s %s=%s %s=%s %s=%s %s=%s %s=%s; "
                        "set-up thread: done=%s work=%llu",
                        timeline_names[1], v[1], timeline_names[2], v[2], timeline_names[3], v[3],
                        timeline_names[4], v[4], timeline_names[5], v[5], timeline_names[6], v[6],
                        done, __atomic_load_n(&timeline_setup_work_ns, __ATOMIC_RELAXED) / 1000);
}
