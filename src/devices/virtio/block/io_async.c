/* The Async block engine: a restricted io_uring on one fixed file, completions on an eventfd. */
#include <errno.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/util.h"
#include "devices/virtio/block/io.h"

/* One read or write in flight: what is left of it after short transfers. */
struct aio_op {
        bool busy, write, flush;
        uint64_t cookie, offset; /* offset: where the rest starts */
        struct iovec *iov;       /* the caller's copy, advanced past what is done */
        unsigned int niov;
        uint64_t done; /* bytes transferred so far */
};

struct blk_aio {
        struct io_uring ring;
        bool ring_ready;
        int efd;
        unsigned int inflight;
        struct aio_op ops[BLK_AIO_DEPTH]; /* an SQE's user_data is its index here */
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

/* Prepares an SQE for what is left of op. Returns 0, or -EBUSY when the SQ is full. */
static int prep_op(struct blk_aio *a, struct aio_op *op)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);

        if (!sqe)
                return -EBUSY;
        if (op->flush)
                io_uring_prep_fsync(sqe, 0, 0);
        else if (op->write)
                io_uring_prep_writev(sqe, 0, op->iov, op->niov, op->offset);
        else
                io_uring_prep_readv(sqe, 0, op->iov, op->niov, op->offset);
        io_uring_sqe_set_flags(sqe, IOSQE_FIXED_FILE);
        io_uring_sqe_set_data64(sqe, (uint64_t)(op - a->ops));
        return 0;
}

int blk_aio_queue(struct blk_aio *a, bool write, bool flush, uint64_t offset, struct iovec *iov,
                  unsigned int niov, uint64_t cookie)
{
        struct aio_op *op = NULL;
        unsigned int i;

        for (i = 0; i < BLK_AIO_DEPTH && !op; i++)
                if (!a->ops[i].busy)
                        op = &a->ops[i];
        if (!op)
                return -EBUSY;
        *op = (struct aio_op){.write = write,
                              .flush = flush,
                              .cookie = cookie,
                              .offset = offset,
                              .iov = iov,
                              .niov = flush ? 0 : niov};
        if (prep_op(a, op))
                return -EBUSY;
        op->busy = true;
        a->inflight++;
        return 0;
}

/*
 * Takes one CQE's result for its op. A read or write that moved some bytes but not all is
 * queued again for the rest (io_uring stops at MAX_RW_COUNT, 2 GiB - 4 KiB, and at signals),
 * as blk_io_rw() loops: returns false then. Otherwise fills *out and returns true.
 */
static bool op_result(struct blk_aio *a, uint64_t idx, int32_t res, struct blk_aio_done *out)
{
        struct aio_op *op;

        if (idx >= BLK_AIO_DEPTH || !a->ops[idx].busy)
                return false; /* cannot happen: user_data is the index of a busy op */
        op = &a->ops[idx];
        if (res > 0 && !op->flush) {
                op->done += (uint64_t)res;
                op->offset += (uint64_t)res;
                blk_iov_advance(&op->iov, &op->niov, (size_t)res);
                if (op->niov && prep_op(a, op) == 0)
                        return false;
        }
        out->cookie = op->cookie;
        out->res = res < 0 ? res : (int64_t)op->done; /* an error wins, as in blk_io_rw() */
        op->busy = false;
        a->inflight--;
        return true;
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
        uint64_t v, idx;
        int32_t res;

        if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
                return 0;
        while (n < max && io_uring_peek_cqe(&a->ring, &cqe) == 0) {
                idx = io_uring_cqe_get_data64(cqe);
                res = cqe->res;
                io_uring_cqe_seen(&a->ring, cqe);
                if (op_result(a, idx, res, &out[n]))
                        n++;
        }
        /* The rest of short transfers; if the kernel refuses now, come back and try again. */
        if (io_uring_sq_ready(&a->ring) && blk_aio_submit(a))
                efd_signal(a->efd);
        return n;
}

unsigned int blk_aio_inflight(const struct blk_aio *a)
{
        return a->inflight;
}

int blk_aio_wait_one(struct blk_aio *a, struct blk_aio_done *out)
{
        struct io_uring_cqe *cqe;
        uint64_t idx;
        int32_t res;
        int rc;

        for (;;) {
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
                idx = io_uring_cqe_get_data64(cqe);
                res = cqe->res;
                io_uring_cqe_seen(&a->ring, cqe);
                if (op_result(a, idx, res, out))
                        return 0;
        }
}

int blk_aio_set_fd(struct blk_aio *a, int fd)
{
        int rc;

        if (a->inflight)
                return -EBUSY;
        rc = io_uring_register_files_update(&a->ring, 0, &fd, 1);
        return rc < 0 ? rc : 0;
}
