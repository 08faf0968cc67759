/* Process-wide logger in Firecracker's line format: "<time> [<id>:<thread>] <msg>". */
#ifndef BRASA_CORE_LOG_H
#define BRASA_CORE_LOG_H

#include <stdarg.h>

enum log_level { LOG_OFF = 0, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* Sets the instance id shown in every line (copied; at most 64 bytes). */
void log_set_instance_id(const char *id);

/* Sets the most verbose level that is written. Default LOG_INFO. */
void log_set_level(enum log_level level);

/* Sets the fd lines go to (default 2, stderr). The fd is not owned. */
void log_set_fd(int fd);

/* Names the calling thread for log lines (and for the kernel, via prctl). */
void log_set_thread_name(const char *name);

/*
 * Names the calling thread for log lines only. The main thread uses this so the
 * process keeps its name for ps/pgrep/pkill.
 */
void log_set_thread_label(const char *name);

/* Writes one line at level, if enabled. Never blocks on a full pipe (drops instead). */
void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(...) log_write(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/*
 * Guest-triggerable messages: rate limited per call site (at most 10 lines,
 * then one every 1024 calls) so a hostile guest cannot flood the host log.
 */
#define log_guest_warn(...)                                                                        \
        do {                                                                                       \
                static unsigned long log_guest_count_;                                             \
                unsigned long n_ = __atomic_fetch_add(&log_guest_count_, 1, __ATOMIC_RELAXED);     \
                if (n_ < 10 || (n_ & 1023) == 0)                                                   \
                        log_write(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__);                      \
        } while (0)

#endif
