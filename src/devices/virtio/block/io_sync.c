/* The Sync block engine: preadv/pwritev/fsync on the VMM thread, short transfers retried. */
#include "devices/virtio/block/io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

void blk_iov_advance(struct iovec **iov, unsigned int *niov, size_t n)
{
        while (*niov && n >= (*iov)->iov_len) {
                n -= (*iov)->iov_len;
                (*iov)++;
                (*niov)--;
        }
        if (*niov && n) {
                (*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
                (*iov)->iov_len -= n;
        }
}

ssize_t blk_io_rw(int fd, bool write, uint64_t offset, const struct iovec *iov, unsigned int niov)
{
        struct iovec local[BLK_IO_MAX_IOV], *cur = local;
        ssize_t total = 0, n;

        if (niov > BLK_IO_MAX_IOV)
                return -EINVAL;
        memcpy(local, iov, niov * sizeof(*iov));
        while (niov) {
                if (offset + (uint64_t)total > (uint64_t)INT64_MAX)
                        return -EINVAL;
                if (write)
                        n = pwritev(fd, cur, (int)niov, (off_t)(offset + (uint64_t)total));
                else
                        n = preadv(fd, cur, (int)niov, (off_t)(offset + (uint64_t)total));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break; /* end of file: the caller reports a partial transfer */
                total += n;
                blk_iov_advance(&cur, &niov, (size_t)n);
        }
        return total;
}

int blk_io_flush(int fd)
{
        return fsync(fd) < 0 ? -errno : 0;
}
