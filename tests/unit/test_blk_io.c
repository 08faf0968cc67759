/* The block I/O engines: Sync and Async give the same results, past io_uring's 2 GiB cap too. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "devices/virtio/block/io.h"

#define CHUNK   (16u << 20)  /* one buffer that many iovecs alias */
#define TWO_GIB (2ull << 30) /* io_uring moves at most 2 GiB - 4 KiB per READV/WRITEV */
#define TAIL    8192u        /* a separate last iovec, so its bytes can be checked */
#define SPARSE  "blk-io-sparse.img"

static uint8_t *chunk;

/* Reads or writes the whole iovec through the engine asked for; returns bytes or -errno. */
static int64_t run_engine(bool async, int fd, bool write, uint64_t off, struct iovec *iov,
                          unsigned int niov)
{
        struct blk_aio *a;
        struct blk_aio_done done;
        int rc;

        if (!async)
                return blk_io_rw(fd, write, off, iov, niov);
        rc = blk_aio_create(&a, fd);
        if (rc)
                fail_msg("io_uring: %s", strerror(-rc));
        assert_int_equal(blk_aio_queue(a, write, false, off, iov, niov, 42), 0);
        assert_int_equal(blk_aio_wait_one(a, &done), 0);
        assert_int_equal(done.cookie, 42);
        assert_int_equal(blk_aio_inflight(a), 0);
        blk_aio_destroy(a);
        return done.res;
}

/* 128 iovecs of CHUNK (all the same buffer: 2 GiB) and a TAIL-byte one of its own. */
static unsigned int big_iov(struct iovec *iov, uint8_t *tail)
{
        unsigned int i, n = (unsigned int)(TWO_GIB / CHUNK);

        for (i = 0; i < n; i++)
                iov[i] = (struct iovec){chunk, CHUNK};
        iov[n] = (struct iovec){tail, TAIL};
        return n + 1;
}

/* A read of 2 GiB + 8 KiB from a sparse file: every byte, the tail's pattern where it belongs. */
static void read_past_2gib(bool async)
{
        static uint8_t pattern[TAIL], tail[TAIL];
        struct iovec iov[BLK_IO_MAX_IOV];
        unsigned int niov = big_iov(iov, tail);
        int fd = open(SPARSE, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        memset(pattern, 0xa5, sizeof(pattern));
        assert_int_equal(pwrite(fd, pattern, TAIL, (off_t)(4096 + TWO_GIB)), TAIL);
        memset(tail, 0, sizeof(tail));
        assert_int_equal(run_engine(async, fd, false, 4096, iov, niov), TWO_GIB + TAIL);
        assert_memory_equal(tail, pattern, TAIL);
        close(fd);
        unlink(SPARSE);
}

/* A write of 2 GiB + 8 KiB (to /dev/null, which takes anything): every byte written. */
static void write_past_2gib(bool async)
{
        static uint8_t tail[TAIL];
        struct iovec iov[BLK_IO_MAX_IOV];
        unsigned int niov = big_iov(iov, tail);
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(run_engine(async, fd, true, 0, iov, niov), TWO_GIB + TAIL);
        close(fd);
}

/* A read that runs past the end of the file gives what is there, in both engines. */
static void read_past_eof(bool async)
{
        static uint8_t buf[3 * 4096];
        struct iovec iov[2] = {{buf, 4096}, {buf + 4096, 2 * 4096}};
        int fd = open(SPARSE, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        memset(buf, 0x11, sizeof(buf));
        assert_int_equal(pwrite(fd, buf, 6000, 0), 6000);
        assert_int_equal(run_engine(async, fd, false, 0, iov, 2), 6000);
        close(fd);
        unlink(SPARSE);
}

/* An error is the error, in both engines. */
static void read_error(bool async)
{
        static uint8_t buf[4096];
        struct iovec iov = {buf, sizeof(buf)};
        int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(run_engine(async, fd, false, 0, &iov, 1), -EBADF);
        close(fd);
}

static void test_sync_read_past_2gib(void **state)
{
        (void)state;
        read_past_2gib(false);
}

static void test_async_read_past_2gib(void **state)
{
        (void)state;
        read_past_2gib(true);
}

static void test_sync_write_past_2gib(void **state)
{
        (void)state;
        write_past_2gib(false);
}

static void test_async_write_past_2gib(void **state)
{
        (void)state;
        write_past_2gib(true);
}

static void test_read_past_eof(void **state)
{
        (void)state;
        read_past_eof(false);
        read_past_eof(true);
}

static void test_read_error(void **state)
{
        (void)state;
        read_error(false);
        read_error(true);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sync_read_past_2gib),
            cmocka_unit_test(test_async_read_past_2gib),
            cmocka_unit_test(test_sync_write_past_2gib),
            cmocka_unit_test(test_async_write_past_2gib),
            cmocka_unit_test(test_read_past_eof),
            cmocka_unit_test(test_read_error),
        };

        chunk = calloc(1, CHUNK);
        if (!chunk)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
