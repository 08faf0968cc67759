/* Opening the host files behind guest resources (kernel, initrd, disks) without ever blocking. */
#include "core/hostfile.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

int hostfile_open(const char *path, int flags)
{
        struct stat st;
        int fd, rc;

        fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0) {
                rc = -errno;
                goto fail;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
                rc = -EINVAL;
                goto fail;
        }
        /* O_NONBLOCK would make io_uring give -EAGAIN back on files without NOWAIT support. */
        if (fcntl(fd, F_SETFL, 0) < 0) {
                rc = -errno;
                goto fail;
        }
        return fd;
fail:
        close(fd);
        return rc;
}
