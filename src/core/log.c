/* Logger: formats lines with a timestamp, instance id and thread name. */
#include "core/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

static char log_instance_id[65] = "anonymous-instance";
static enum log_level log_level_max = LOG_INFO;
static int log_fd = 2;
static __thread char log_thread[16] = "main";

void log_set_instance_id(const char *id)
{
        snprintf(log_instance_id, sizeof(log_instance_id), "%s", id);
}

void log_set_level(enum log_level level)
{
        log_level_max = level;
}

void log_set_fd(int fd)
{
        log_fd = fd;
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

void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
        char buf[1024];
        struct timespec ts;
        struct tm tm;
        va_list ap;
        int n, m;

        (void)file;
        (void)line;
        if (level == LOG_OFF || level > log_level_max)
                return;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        n = snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%09ld [%s:%s] ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec, log_instance_id, log_thread);
        if (n < 0 || (size_t)n >= sizeof(buf))
                return;
        va_start(ap, fmt);
        m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m < 0)
                return;
        n += m;
        if ((size_t)n > sizeof(buf) - 2)
                n = (int)sizeof(buf) - 2;
        buf[n++] = '\n';
        /* One write() per line keeps lines whole when threads interleave. */
        if (write(log_fd, buf, (size_t)n) < 0)
                return;
}
