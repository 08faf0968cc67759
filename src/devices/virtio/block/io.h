/* Block I/O engines: blocking syscalls (Sync) and io_uring through liburing (Async). */
#ifndef BRASA_DEVICES_VIRTIO_BLOCK_IO_H
#define BRASA_DEVICES_VIRTIO_BLOCK_IO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* io_uring depth, as Firecracker's IO_URING_NUM_ENTRIES; also the in-flight request limit. */
#define BLK_AIO_DEPTH 128

/* Most iovecs in one request (a chain holds at most 256 buffers). */
#define BLK_IO_MAX_IOV 256

/*
 * Sync engine: reads or writes the whole iovec at offset, retrying short transfers and
 * EINTR. Returns the bytes transferred (less than asked only at end of file) or -errno
 * (-EINVAL for more than BLK_IO_MAX_IOV iovecs).
 */
ssize_t blk_io_rw(int fd, bool write, uint64_t offset, const struct iovec *iov, unsigned int niov);

/* Moves *iov and *niov past the first n bytes (the iovecs themselves are changed in place). */
void blk_iov_advance(struct iovec **iov, unsigned int *niov, size_t n);

/* Sync engine: fsync(fd). Returns 0 or -errno. */
int blk_io_flush(int fd);

struct blk_aio;

/* One finished operation. */
struct blk_aio_done {
        uint64_t cookie;
        int64_t res; /* bytes, or -errno */
};

/*
 * Creates an io_uring of BLK_AIO_DEPTH entries with fd as its only (fixed) file,
 * restricted to READV, WRITEV and FSYNC on fixed files, completions signalled on an
 * eventfd. Returns 0 or -errno (io_uring unavailable, e.g. -ENOSYS or -EPERM).
 */
int blk_aio_create(struct blk_aio **out, int fd);

/* Waits for in-flight operations (their results are dropped) and frees everything. */
void blk_aio_destroy(struct blk_aio *a);

/* The eventfd that becomes readable when completions are ready. */
int blk_aio_eventfd(const struct blk_aio *a);

/*
 * Queues a readv/writev or, with flush, an fsync (iov and niov are then ignored). iov is the
 * caller's private copy: it must stay valid until the completion is reaped, and the engine
 * advances it in place when a short transfer is queued again for the rest, so a read or write
 * completes, as blk_io_rw(), with every byte, fewer only at end of file, or -errno. Returns 0,
 * or -EBUSY when BLK_AIO_DEPTH operations are in flight or the submission queue is full
 * (submit, reap, retry later).
 */
int blk_aio_queue(struct blk_aio *a, bool write, bool flush, uint64_t offset, struct iovec *iov,
                  unsigned int niov, uint64_t cookie);

/* Hands queued operations to the kernel. Returns 0 or -errno. */
int blk_aio_submit(struct blk_aio *a);

/*
 * Clears the eventfd and takes up to max finished operations (a short transfer is queued
 * again, not returned). Returns how many.
 */
unsigned int blk_aio_reap(struct blk_aio *a, struct blk_aio_done *out, unsigned int max);

/* Operations queued or submitted and not yet reaped. */
unsigned int blk_aio_inflight(const struct blk_aio *a);

/*
 * Submits and blocks until one operation finishes, which is returned in *out.
 * Returns 0, -ENOENT when nothing is in flight, or -errno.
 */
int blk_aio_wait_one(struct blk_aio *a, struct blk_aio_done *out);

/* Replaces the ring's fixed file (nothing may be in flight). Returns 0 or -errno. */
int blk_aio_set_fd(struct blk_aio *a, int fd);

#endif
