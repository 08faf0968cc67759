/* Logger: formats lines with a local timestamp, instance id, thread name, level and origin. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "core/metrics.h"

#define RL_WINDOW_S 5
#define RL_BURST    10

static char log_instance_id[65] = "anonymous-instance";
static int log_level_max = LOG_INFO;
/* log_fd may be swapped by PUT /logger while other threads write: both under log_lock. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = 2;
static int log_owned_fd = -1;
static bool log_show_level, log_show_origin;
static char log_module[128];
static __thread char log_thread[16] = "main";

static const char *const level_names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};

void log_set_instance_id(const char *id)
{
        snprintf(log_instance_id, sizeof(log_instance_id), "%s", id);
}

void log_set_level(enum log_level level)
{
        __atomic_store_n(&log_level_max, (int)level, __ATOMIC_RELAXED);
}

bool log_enabled(enum log_level level)
{
        return level != LOG_OFF && (int)level <= __atomic_load_n(&log_level_max, __ATOMIC_RELAXED);
}

void log_set_fd(int fd)
{
        pthread_mutex_lock(&log_lock);
        log_fd = fd;
        pthread_mutex_unlock(&log_lock);
}

int log_open_path(const char *path)
{
        int fd, old;

        /* O_RDWR: opening a FIFO without a reader must not fail (Firecracker does the same). */
        fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        pthread_mutex_lock(&log_lock);
        old = log_owned_fd;
        log_owned_fd = fd;
        log_fd = fd;
        pthread_mutex_unlock(&log_lock);
        if (old >= 0)
                close(old); /* no writer can still be using it: they hold log_lock */
        return 0;
}

void log_set_format(int show_level, int show_origin)
{
        if (show_level >= 0)
                log_show_level = show_level;
        if (show_origin >= 0)
                log_show_origin = show_origin;
}

void log_set_module(const char *prefix)
{
        pthread_mutex_lock(&log_lock);
        snprintf(log_module, sizeof(log_module), "%s", prefix ? prefix : "");
        pthread_mutex_unlock(&log_lock);
}

void log_set_thread_label(const char *name)
{
        snprintf(log_thread, sizeof(log_thread), "%s", name);
}

void log_set_thread_name(const char *name)
{
        log_set_thread_label(name);
        prctl(PR_SET_NAME, log_thread, 0, 0, 0);
}

bool log_ratelimit_ok(struct log_ratelimit *rl)
{
        struct timespec ts;
        bool ok;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* Races between threads only blur the count a little; no lock on this path. */
        if (ts.tv_sec - __atomic_load_n(&rl->window_start_s, __ATOMIC_RELAXED) >= RL_WINDOW_S) {
                __atomic_store_n(&rl->window_start_s, (long)ts.tv_sec, __ATOMIC_RELAXED);
                __atomic_store_n(&rl->count, 0, __ATOMIC_RELAXED);
        }
        ok = __atomic_add_fetch(&rl->count, 1, __ATOMIC_RELAXED) <= RL_BURST;
        if (!ok)
                metrics_inc(&metrics.logger.rate_limited_log_count);
        return ok;
}

/* The source path from "src/" on, as Rust's file!() shows it relative to the crate. */
static const char *origin_path(const char *file)
{
        const char *p = strstr(file, "src/");

        return p ? p : file;
}

/*
 * The Firecracker module path each part of brasa's tree stands for (the longest source
 * prefix wins), so that --module takes Firecracker's paths (docs/compatibility.md).
 */
static const struct {
        const char *src, *module;
} module_map[] = {
    {"src/main.c", "firecracker"},
    {"src/api/", "firecracker::api_server"},
    {"src/api/router.c", "firecracker::api_server::parsed_request"},
    {"src/api/mailbox.c", "firecracker::api_server_adapter"},
    {"src/api/handlers.c", "vmm::rpc_interface"},
    {"src/api/api_mmds.c", "vmm::mmds"},
    {"src/seccomp/", "vmm::seccomp"},
    {"src/core/", "vmm::utils"},
    {"src/core/argparse.c", "utils::arg_parser"},
    {"src/core/log.c", "vmm::logger::logging"},
    {"src/core/metrics.c", "vmm::logger::metrics"},
    {"src/core/rate_limiter.c", "vmm::rate_limiter"},
    {"src/core/tap.c", "vmm::devices::virtio::net::tap"},
    {"src/core/guest_mem.c", "vmm::vstate::memory"},
    {"src/core/evloop.c", "event_manager"},
    {"src/arch/x86_64/", "vmm::arch::x86_64"},
    {"src/devices/", "vmm::devices"},
    {"src/devices/bus.c", "vmm::vstate::bus"},
    {"src/devices/legacy/", "vmm::devices::legacy"},
    {"src/devices/legacy/serial.c", "vmm::devices::legacy::serial"},
    {"src/devices/legacy/i8042.c", "vmm::devices::legacy::i8042"},
    {"src/devices/legacy/boot_timer.c", "vmm::devices::pseudo::boot_timer"},
    {"src/devices/virtio/", "vmm::devices::virtio"},
    {"src/devices/virtio/mmio.c", "vmm::devices::virtio::transport::mmio"},
    {"src/devices/virtio/queue.c", "vmm::devices::virtio::queue"},
    {"src/devices/virtio/block/", "vmm::devices::virtio::block"},
    {"src/devices/virtio/net/", "vmm::devices::virtio::net"},
    {"src/model/", "vmm::vmm_config"},
    {"src/model/config.c", "vmm::resources"},
    {"src/vmm/", "vmm"},
    {"src/vmm/vcpu.c", "vmm::vstate::vcpu"},
    {"src/vmm/kvm_vm.c", "vmm::vstate::vm"},
    {"src/vmm/signals.c", "vmm::signal_handler"},
    {"src/vmm/vmm_boot.c", "vmm::builder"},
    {"src/vmm/vmm_devices.c", "vmm::builder"},
    {"src/vmm/device_mgr.c", "vmm::device_manager"},
    {"src/vmm/legacy.c", "vmm::device_manager::legacy"},
};

const char *log_module_path(const char *file)
{
        const char *src = origin_path(file), *best = NULL;
        size_t i, best_len = 0, n;

        for (i = 0; i < sizeof(module_map) / sizeof(module_map[0]); i++) {
                n = strlen(module_map[i].src);
                if (n > best_len && strncmp(src, module_map[i].src, n) == 0) {
                        best = module_map[i].module;
                        best_len = n;
                }
        }
        return best;
}

/*
 * Firecracker's module filter: the line's module path starts with the filter (a line with
 * none never passes). A filter that starts with "src/" is brasa's own form: a prefix of the
 * source path. Call with log_lock held.
 */
static bool module_passes(const char *file)
{
        const char *module;

        if (!log_module[0])
                return true;
        if (strncmp(log_module, "src/", 4) == 0)
                return strncmp(origin_path(file), log_module, strlen(log_module)) == 0;
        module = log_module_path(file);
        return module && strncmp(module, log_module, strlen(log_module)) == 0;
}

/* Appends to buf[*pos..len); false (and nothing more written) once it no longer fits. */
static bool append(char *buf, size_t len, int *pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool append(char *buf, size_t len, int *pos, const char *fmt, ...)
{
        va_list ap;
        int m;

        va_start(ap, fmt);
        m = vsnprintf(buf + *pos, len - (size_t)*pos, fmt, ap);
        va_end(ap);
        if (m < 0 || (size_t)(*pos + m) >= len)
                return false;
        *pos += m;
        return true;
}

/* "<local time> [<instance>:<thread>[:<LEVEL>][:<file>:<line>]] "; its length, or -1. */
static int format_prefix(char *buf, size_t len, enum log_level level, const char *file, int line)
{
        struct timespec ts;
        struct tm tm;
        int n = 0;
        bool ok;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        ok = append(buf, len, &n, "%04d-%02d-%02dT%02d:%02d:%02d.%09ld [%s:%s", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec,
                    log_instance_id, log_thread);
        /* Each part is added once, whatever the others did (no length counted twice). */
        if (ok && log_show_level)
                ok = append(buf, len, &n, ":%s", level_names[level]);
        if (ok && log_show_origin)
                ok = append(buf, len, &n, ":%s:%d", origin_path(file), line);
        if (ok)
                ok = append(buf, len, &n, "] ");
        return ok ? n : -1;
}

/* Formats and writes one line; with try_lock, a held lock is not waited for (see log_fatal). */
static __attribute__((format(printf, 5, 0))) void log_vwrite(enum log_level level, const char *file,
                                                             int line, bool try_lock,
                                                             const char *fmt, va_list ap)
{
        char buf[2048];
        bool locked;
        int n, m;

        if (!log_enabled(level))
                return;
        n = format_prefix(buf, sizeof(buf), level, file, line);
        if (n < 0)
                return;
        m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
        if (m < 0)
                return;
        n += m;
        if ((size_t)n > sizeof(buf) - 2)
                n = (int)sizeof(buf) - 2;
        buf[n++] = '\n';
        /* One write() per line keeps lines whole when threads interleave. */
        if (try_lock)
                locked = pthread_mutex_trylock(&log_lock) == 0;
        else
                locked = pthread_mutex_lock(&log_lock) == 0;
        if (module_passes(file)) {
                if (write(log_fd, buf, (size_t)n) != n)
                        metrics_inc(&metrics.logger.missed_log_count);
        }
        if (locked)
                pthread_mutex_unlock(&log_lock);
}

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vwrite(level, file, line, false, fmt, ap);
        va_end(ap);
}

void log_write_fatal(const char *file, int line, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        log_vwrite(LOG_ERROR, file, line, true, fmt, ap);
        va_end(ap);
}
