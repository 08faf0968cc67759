/* Process-wide logger in Firecracker's line format: "<time> [<id>:<thread>[:LEVEL][:file:line]]
 * <msg>". */
#ifndef BRASA_CORE_LOG_H
#define BRASA_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_OFF = 0, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* Sets the instance id shown in every line (copied; at most 64 bytes). */
void log_set_instance_id(const char *id);

/* Sets the most verbose level that is written. Default LOG_INFO. */
void log_set_level(enum log_level level);

/* True when a line at level would be written. */
bool log_enabled(enum log_level level);

/* Sets the fd lines go to (default 2, stderr). The fd is not owned. */
void log_set_fd(int fd);

/*
 * Sends lines to path (a file or FIFO, created if missing, opened O_NONBLOCK as
 * Firecracker's open_file_nonblock; a full FIFO drops lines and counts them in
 * logger.missed_log_count). The previous file opened this way is closed. Returns 0 or -errno.
 */
int log_open_path(const char *path);

/*
 * Shows ":LEVEL" and/or ":file:line" after the thread name (Firecracker's show_level and
 * show_log_origin): 1 on, 0 off, -1 unchanged.
 */
void log_set_format(int show_level, int show_origin);

/*
 * Firecracker's `module` filter: keeps only lines whose module path (log_module_path())
 * starts with prefix, e.g. "vmm::devices" or "firecracker::api_server". A prefix that starts
 * with "src/" is matched against brasa's source path instead. NULL or "": all lines.
 */
void log_set_module(const char *prefix);

/*
 * The Firecracker module path that the brasa source file stands for ("src/api/server.c":
 * "firecracker::api_server"), or NULL for a file outside brasa's tree.
 */
const char *log_module_path(const char *file);

/* Names the calling thread for log lines (and for the kernel, via prctl). */
void log_set_thread_name(const char *name);

/*
 * Names the calling thread for log lines only. The main thread uses this so the
 * process keeps its name for ps/pgrep/pkill.
 */
void log_set_thread_label(const char *name);

/* Writes one line at level, if enabled. Never blocks on a full pipe (drops and counts instead). */
void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Writes one ERROR line from a fatal signal handler: the log lock is only tried, since the
 * interrupted thread may hold it (a line may then interleave with that thread's).
 */
void log_write_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_fatal(...) log_write_fatal(__FILE__, __LINE__, __VA_ARGS__)

#define log_error(...) log_write(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_write(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)

/* Per-call-site state of log_guest_warn(). */
struct log_ratelimit {
        long window_start_s; /* CLOCK_MONOTONIC seconds */
        unsigned int count;
};

/*
 * True when the call site may log now: at most 10 lines per 5 s window, as Firecracker's
 * rate-limited macros; a refused line is counted in logger.rate_limited_log_count.
 */
bool log_ratelimit_ok(struct log_ratelimit *rl);

/*
 * Guest-triggerable messages: rate limited per call site so a hostile guest cannot
 * flood the host log.
 */
#define log_guest(level, ...)                                                                      \
        do {                                                                                       \
                static struct log_ratelimit log_rl_;                                               \
                if (log_ratelimit_ok(&log_rl_))                                                    \
                        log_write(level, __FILE__, __LINE__, __VA_ARGS__);                         \
        } while (0)
#define log_guest_warn(...) log_guest(LOG_WARN, __VA_ARGS__)
#define log_guest_info(...) log_guest(LOG_INFO, __VA_ARGS__)

#endif
