/* Laying a Diff snapshot's memory file over the memory file it was taken on top of. */
#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include "rebase.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

/* Firecracker's EditMemoryError text for what failed, with the OS error as Rust shows it. */
static int fail(char *msg, size_t size, const char *what, int err)
{
        snprintf(msg, size, "%s: %s (os error %d)", what, strerror(err), err);
        return -err;
}

/* Copies [start, end) of diff to the same offset of base (sendfile moves the diff offset). */
static int copy_extent(int base, int diff, off_t start, off_t end, char *msg, size_t size)
{
        off_t cur = start;

        while (cur < end) {
                ssize_t n;

                if (lseek(base, cur, SEEK_SET) < 0)
                        return fail(msg, size, "Failed to seek in memory file", errno);
                n = sendfile(base, diff, &cur, (size_t)(end - cur));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return fail(msg, size, "Failed to send the file", errno);
                if (n == 0) /* the diff shrank under us */
                        return fail(msg, size, "Failed to send the file", EIO);
        }
        return 0;
}

/* The extents: data from SEEK_DATA up to the next hole (or the end), until ENXIO. */
static int copy_extents(int base, int diff, char *msg, size_t size)
{
        off_t cur = 0, end;
        int rc;

        for (;;) {
                off_t data = lseek(diff, cur, SEEK_DATA);

                if (data < 0 && errno == ENXIO)
                        return 0;
                if (data < 0)
                        return fail(msg, size, "Failed to seek data in diff file", errno);
                end = lseek(diff, data, SEEK_HOLE);
                if (end < 0)
                        return fail(msg, size, "Failed to seek hole in diff file", errno);
                rc = copy_extent(base, diff, data, end, msg, size);
                if (rc)
                        return rc;
                cur = end;
        }
}

int rebase_memory(const char *memory_path, const char *diff_path, char *msg, size_t size)
{
        int base, diff, rc;

        base = open(memory_path, O_WRONLY | O_CLOEXEC);
        if (base < 0)
                return fail(msg, size, "Could not open memory file", errno);
        diff = open(diff_path, O_RDONLY | O_CLOEXEC);
        if (diff < 0) {
                rc = fail(msg, size, "Could not open diff file", errno);
                goto out;
        }
        rc = copy_extents(base, diff, msg, size);
        close(diff);
out:
        close(base);
        return rc;
}
