/* The Async block engine: a restricted io_uring on one fixed file, completions on an eventfd. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/virtio/block/io.h"

struct blk_aio {
        struct io_uring ring;
        bool ring_ready;
        int efd;
        unsigned int inflight;
};

/* Defence in depth: the ring can only read, write and fsync the drive's own file. */
static int restrict_ring(struct io_uring *ring)
{
        struct io_uring_restriction res[5];

        memset(res, 0, sizeof(res));
        res[0].opcode = IORING_RESTRICTION_SQE_OP;
        res[0].sqe_op = IORING_OP_READV;
        res[1].opcode = IORING_RESTRICTION_SQE_OP;
        res[1].sqe_op = IORING_OP_WRITEV;
        res[2].opcode = IORING_RESTRICTION_SQE_OP;
        res[2].sqe_op = IORING_OP_FSYNC;
        res[3].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
        res[3].sqe_flags = IOSQE_FIXED_FILE;
        res[4].opcode = IORING_RESTRICTION_REGISTER_OP; /* the file swap of PATCH /drives */
        res[4].register_op = IORING_REGISTER_FILES_UPDATE;
        /* Raw register calls: Debian's liburing.so 2.3 does not export the helpers for these. */
        return io_uring_register((unsigned int)ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, 5);
}

static int setup_ring(struct blk_aio *a, int fd)
{
        struct io_uring_params p;
        int rc;

        memset(&p, 0, sizeof(p));
        p.flags = IORING_SETUP_R_DISABLED;
        rc = io_uring_queue_init_params(BLK_AIO_DEPTH, &a->ring, &p);
        if (rc)
                return rc;
        a->ring_ready = true;
        rc = io_uring_register_files(&a->ring, &fd, 1);
        if (rc)
                return rc;
        rc = io_uring_register_eventfd(&a->ring, a->efd);
        if (rc)
                return rc;
        rc = restrict_ring(&a->ring);
        if (rc)
                return rc;
        return io_uring_register((unsigned int)a->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
                                 0);
}

int blk_aio_create(struct blk_aio **out, int fd)
{
        struct blk_aio *a = calloc(1, sizeof(*a));
        int rc;

        *out = NULL;
        if (!a)
                return -ENOMEM;
        a->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (a->efd < 0) {
                rc = -errno;
                goto fail;
        }
        rc = setup_ring(a, fd);
        if (rc)
                goto fail;
        *out = a;
        return 0;
fail:
        blk_aio_destroy(a);
        return rc;
}

void blk_aio_destroy(struct blk_aio *a)
{
        struct blk_aio_done done;

        if (!a)
                return;
        while (a->ring_ready && blk_aio_wait_one(a, &done) == 0)
                ;
        if (a->ring_ready)
                io_uring_queue_exit(&a->ring);
        if (a->efd >= 0)
                close(a->efd);
        free(a);
}

int blk_aio_eventfd(const struct blk_aio *a)
{
        return a->efd;
}

int blk_aio_queue(struct blk_aio *a, bool write, bool flush, uint64_t offset,
                  const struct iovec *iov, unsigned int niov, uint64_t cookie)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);

        if (!sqe)
                return -EBUSY;
        if (flush)
                io_uring_prep_fsync(sqe, 0, 0);
        else if (write)
                io_uring_prep_writev(sqe, 0, iov, niov, offset);
        else
                io_uring_prep_readv(sqe, 0, iov, niov, offset);
        io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
        io_uring_sqe_set_data64(sqe, cookie);
        a->inflight++;
        return 0;
}

int blk_aio_submit(struct blk_aio *a)
{
        int rc;

        do {
                rc = io_uring_submit(&a->ring);
        } while (rc == -EINTR);
        return rc < 0 ? rc : 0;
}

unsigned int blk_aio_reap(struct blk_aio *a, struct blk_aio_done *out, unsigned int max)
{
        struct io_uring_cqe *cqe;
        unsigned int n = 0;
        uint64_t v;

        if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return 0;
        while (n < max && io_uring_peek_cqe(&a->ring, &cqe) == 0) {
                out[n].cookie = io_uring_cqe_get_data64(cqe);
                out[n].res = cqe->res;
                io_uring_cqe_seen(&a->ring, cqe);
                a->inflight--;
                n++;
        }
        return n;
}

unsigned int blk_aio_inflight(const struct blk_aio *a)
{
        return a->inflight;
}

int blk_aio_wait_one(struct blk_aio *a, struct blk_aio_done *out)
{
        struct io_uring_cqe *cqe;
        int rc;

        if (a->inflight == 0)
                return -ENOENT;
        rc = blk_aio_submit(a);
        if (rc)
                return rc;
        do {
                rc = io_uring_wait_cqe(&a->ring, &cqe);
        } while (rc == -EINTR);
        if (rc)
                return rc;
        out->cookie = io_uring_cqe_get_data64(cqe);
        out->res = cqe->res;
        io_uring_cqe_seen(&a->ring, cqe);
        a->inflight--;
        return 0;
}

int blk_aio_set_fd(struct blk_aio *a, int fd)
{
        int rc;

        if (a->inflight)
                return -EBUSY;
        rc = io_uring_register_files_update(&a->ring, 0, &fd, 1);
        return rc < 0 ? rc : 0;
}
