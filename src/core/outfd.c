/* A non-blocking handle on stdout, shared by the console output and the logger. */
#include "core/outfd.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static int out_fd = -1;
static int saved_flags = -1; /* fd 1's flags before O_NONBLOCK was set on it, or -1 */

/* A new open file description of fd 1 with O_NONBLOCK, or -1. */
static int reopen_nonblocking(void)
{
        char path[32];

        snprintf(path, sizeof(path), "/proc/self/fd/%d", STDOUT_FILENO);
        /* O_NOCTTY: a terminal must not become our controlling one. */
        return open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

int outfd_stdout(void)
{
        struct stat st;
        int flags;

        if (out_fd >= 0)
                return out_fd;
        out_fd = STDOUT_FILENO;
        if (fstat(STDOUT_FILENO, &st) < 0)
                return out_fd;
        /* Only these wait on a reader; a file, a disk or /dev/null never keeps a writer. */
        if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode) &&
            !(S_ISCHR(st.st_mode) && isatty(STDOUT_FILENO)))
                return out_fd;
        flags = fcntl(STDOUT_FILENO, F_GETFL);
        if (flags < 0 || flags & O_NONBLOCK)
                return out_fd;
        if (!S_ISSOCK(st.st_mode)) {
                int fd = reopen_nonblocking();

                if (fd >= 0)
                        return out_fd = fd;
        }
        if (fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK) == 0)
                saved_flags = flags;
        return out_fd;
}

void outfd_restore(void)
{
        if (saved_flags >= 0)
                fcntl(STDOUT_FILENO, F_SETFL, saved_flags);
        saved_flags = -1;
}
