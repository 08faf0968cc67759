/* Unit tests for virtio-block through its transport, on both engines: I/O against a host file,
 * request validation, framing errors, GET_ID, PATCH, rate limiting, host errors, metrics. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/mem_layout.h"
#include "devices/virtio/block/virtio_blk.h"
#include "devices/virtio/mmio.h"
#include "vq_driver.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE  (4ULL << 20)
#define QSIZE     16
#define HDR_GPA   0x8000ULL
#define STAT_GPA  0x9000ULL
#define DISK_SIZE (1 << 20)

struct bfx {
        uint8_t *ram;
        struct guest_mem mem;
        struct blk_params cfg;
        struct virtio_blk *b;
        struct virtio_mmio m;
        struct tdrv t;
        char path[64], path2[64];
        uint16_t next_head;
        uint16_t used_seen;
};

static void make_file(char *path, size_t pathlen, size_t size, uint8_t seed)
{
        uint8_t *buf = malloc(size);
        int fd;

        assert_non_null(buf);
        for (size_t i = 0; i < size; i++)
                buf[i] = (uint8_t)(seed + i * 7 + (i >> 9));
        snprintf(path, pathlen, "/tmp/brasa-blk-XXXXXX");
        fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, size), (ssize_t)size);
        close(fd);
        free(buf);
}

static void file_read(const char *path, uint64_t off, void *out, size_t len)
{
        int fd = open(path, O_RDONLY);

        assert_true(fd >= 0);
        assert_int_equal(pread(fd, out, len, (off_t)off), (ssize_t)len);
        close(fd);
}

static void bring_up(struct bfx *f)
{
        mmio_negotiate(&f->m, 0xffffffffu);
        mmio_queue(&f->m, 0, QSIZE, (uint32_t)TD_DESC, (uint32_t)TD_AVAIL, (uint32_t)TD_USED);
        mmio_driver_ok(&f->m);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
        td_init(&f->t, &f->mem, QSIZE);
        f->next_head = 0;
        f->used_seen = 0;
}

static int create(struct bfx *f)
{
        struct err e = ERR_INIT;
        int rc = virtio_blk_create(&f->b, &f->cfg, &f->mem, NULL, &e);

        if (rc == 0)
                virtio_mmio_init(&f->m, &f->b->dev);
        return rc;
}

static char drive_id[] = "rootfs";

static int setup_engine(void **state, enum blk_engine engine)
{
        struct bfx *f = test_calloc(1, sizeof(*f));

        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        make_file(f->path, sizeof(f->path), DISK_SIZE, 1);
        f->cfg.drive_id = drive_id;
        f->cfg.path = f->path;
        f->cfg.cache = BLK_CACHE_WRITEBACK;
        f->cfg.engine = engine;
        assert_int_equal(create(f), 0);
        bring_up(f);
        *state = f;
        return 0;
}

static int setup_sync(void **state)
{
        return setup_engine(state, BLK_ENGINE_SYNC);
}

static int setup_async(void **state)
{
        return setup_engine(state, BLK_ENGINE_ASYNC);
}

static int teardown(void **state)
{
        struct bfx *f = *state;

        virtio_blk_destroy(f->b);
        unlink(f->path);
        if (f->path2[0])
                unlink(f->path2);
        test_free(f->ram);
        test_free(f);
        return 0;
}

/* Builds header / data / status descriptors from head on; returns the head. */
static uint16_t req(struct bfx *f, uint32_t type, uint64_t sector, uint64_t data_gpa, uint32_t len,
                    bool device_writes)
{
        uint16_t h = f->next_head;
        uint8_t hdr[16] = {0};
        uint8_t st = 0xee;

        memcpy(hdr, &type, 4);
        memcpy(hdr + 8, &sector, 8);
        guest_mem_write(&f->mem, HDR_GPA + 16ULL * h, hdr, 16);
        guest_mem_write(&f->mem, STAT_GPA + h, &st, 1);
        td_desc(&f->t, h, HDR_GPA + 16ULL * h, 16, VRING_DESC_F_NEXT, (uint16_t)(h + 1));
        td_desc(&f->t, (uint16_t)(h + 1), data_gpa, len,
                VRING_DESC_F_NEXT | (device_writes ? VRING_DESC_F_WRITE : 0), (uint16_t)(h + 2));
        td_desc(&f->t, (uint16_t)(h + 2), STAT_GPA + h, 1, VRING_DESC_F_WRITE, 0);
        f->next_head = (uint16_t)((h + 3) % (QSIZE - 2));
        return h;
}

static uint8_t status_of(struct bfx *f, uint16_t head)
{
        uint8_t st = 0;

        guest_mem_read(&f->mem, STAT_GPA + head, &st, 1);
        return st;
}

/* Notifies the device and waits (Async) until want more used entries appear. */
static void run(struct bfx *f, unsigned int want)
{
        struct pollfd pfd;
        int spins = 0;

        virtio_dev_queue_event(&f->b->dev, 0);
        while (f->b->aio && (uint16_t)(td_used_idx(&f->t) - f->used_seen) < want) {
                pfd = (struct pollfd){.fd = blk_aio_eventfd(f->b->aio), .events = POLLIN};
                assert_true(poll(&pfd, 1, 5000) >= 0);
                virtio_blk_aio_event(f->b);
                assert_true(++spins < 1000);
        }
        assert_int_equal((uint16_t)(td_used_idx(&f->t) - f->used_seen), want);
        f->used_seen = td_used_idx(&f->t);
}

/* One request, run to completion; returns its status byte and the used length. */
static uint8_t one(struct bfx *f, uint32_t type, uint64_t sector, uint64_t gpa, uint32_t len,
                   bool device_writes, uint32_t *used_len)
{
        uint16_t h = req(f, type, sector, gpa, len, device_writes);
        uint32_t id, ulen;

        td_offer(&f->t, h);
        run(f, 1);
        td_used_elem(&f->t, (uint16_t)(f->used_seen - 1), &id, &ulen);
        assert_int_equal(id, h);
        if (used_len)
                *used_len = ulen;
        return status_of(f, h);
}

static void test_read(void **state)
{
        struct bfx *f = *state;
        uint8_t expect[4096];
        uint32_t used;

        file_read(f->path, 8 * 512, expect, sizeof(expect));
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 8, TD_DATA, 4096, true, &used), VIRTIO_BLK_S_OK);
        assert_int_equal(used, 4097);
        assert_memory_equal(f->ram + TD_DATA, expect, sizeof(expect));
        assert_int_equal(f->b->metrics.read_count, 1);
        assert_int_equal(f->b->metrics.read_bytes, 4096);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_VRING);
}

static void test_write_and_flush(void **state)
{
        struct bfx *f = *state;
        uint8_t got[1024];
        uint32_t used;

        for (int i = 0; i < 1024; i++)
                f->ram[TD_DATA + i] = (uint8_t)(i * 13);
        assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 100, TD_DATA, 1024, false, &used),
                         VIRTIO_BLK_S_OK);
        assert_int_equal(used, 1);
        assert_int_equal(one(f, VIRTIO_BLK_T_FLUSH, 0, TD_DATA, 0, false, NULL), VIRTIO_BLK_S_OK);
        file_read(f->path, 100 * 512, got, sizeof(got));
        assert_memory_equal(got, f->ram + TD_DATA, sizeof(got));
        assert_int_equal(f->b->metrics.write_count, 1);
        assert_int_equal(f->b->metrics.write_bytes, 1024);
        assert_int_equal(f->b->metrics.flush_count, 1);
}

static void test_get_id(void **state)
{
        struct bfx *f = *state;
        char expect[64] = {0};
        struct stat st;
        uint32_t used;

        assert_int_equal(stat(f->path, &st), 0);
        snprintf(expect, sizeof(expect), "%llu%llu%llu", (unsigned long long)st.st_dev,
                 (unsigned long long)st.st_rdev, (unsigned long long)st.st_ino);
        expect[20] = 0;
        memset(f->ram + TD_DATA, 0xff, 32);
        assert_int_equal(one(f, VIRTIO_BLK_T_GET_ID, 0, TD_DATA, 32, true, &used), VIRTIO_BLK_S_OK);
        assert_int_equal(used, 21);
        assert_memory_equal(f->ram + TD_DATA, expect, 20);
        /* A buffer shorter than 20 bytes is an error. */
        assert_int_equal(one(f, VIRTIO_BLK_T_GET_ID, 0, TD_DATA, 8, true, NULL),
                         VIRTIO_BLK_S_IOERR);
}

static void test_invalid_requests(void **state)
{
        struct bfx *f = *state;
        const uint64_t last = DISK_SIZE / 512;

        assert_int_equal(one(f, VIRTIO_BLK_T_IN, last, TD_DATA, 512, true, NULL),
                         VIRTIO_BLK_S_IOERR);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, last - 1, TD_DATA, 1024, true, NULL),
                         VIRTIO_BLK_S_IOERR);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, UINT64_MAX, TD_DATA, 512, true, NULL),
                         VIRTIO_BLK_S_IOERR);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 100, true, NULL), VIRTIO_BLK_S_IOERR);
        /* Data in the wrong direction. */
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, false, NULL), VIRTIO_BLK_S_IOERR);
        assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_IOERR);
        assert_int_equal(one(f, 77, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
        assert_int_equal(f->b->metrics.invalid_reqs_count, 7);
        /* The device is still fine. */
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, last - 1, TD_DATA, 512, true, NULL),
                         VIRTIO_BLK_S_OK);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_read_only_drive(void **state)
{
        struct bfx *f = *state;
        uint8_t before[512], after[512];

        virtio_blk_destroy(f->b);
        f->cfg.read_only = true;
        assert_int_equal(create(f), 0);
        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_BLK_F_RO));
        bring_up(f);
        file_read(f->path, 0, before, sizeof(before));
        memset(f->ram + TD_DATA, 0x5a, 512);
        assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, TD_DATA, 512, false, NULL),
                         VIRTIO_BLK_S_IOERR);
        file_read(f->path, 0, after, sizeof(after));
        assert_memory_equal(before, after, sizeof(before));
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_features_follow_config(void **state)
{
        struct bfx *f = *state;

        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES) & (1u << VIRTIO_BLK_F_FLUSH));
        virtio_blk_destroy(f->b);
        f->cfg.cache = BLK_CACHE_UNSAFE;
        assert_int_equal(create(f), 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES),
                         1u << VIRTIO_RING_F_EVENT_IDX | 1u << VIRTIO_RING_F_INDIRECT_DESC);
        /* Capacity in 512-byte sectors, through 32-bit config reads. */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG), DISK_SIZE / 512);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 4), 0);
}

static void test_scattered_request(void **state)
{
        struct bfx *f = *state;
        uint8_t expect[1536];

        /* Header split 10 + 6, data in three pieces, status alone: framing is not assumed. */
        uint32_t type = VIRTIO_BLK_T_IN;
        uint64_t sector = 3;
        uint8_t hdr[16] = {0}, st = 0xee;

        memcpy(hdr, &type, 4);
        memcpy(hdr + 8, &sector, 8);
        guest_mem_write(&f->mem, HDR_GPA, hdr, 16);
        guest_mem_write(&f->mem, STAT_GPA, &st, 1);
        td_desc(&f->t, 0, HDR_GPA, 10, VRING_DESC_F_NEXT, 1);
        td_desc(&f->t, 1, HDR_GPA + 10, 6, VRING_DESC_F_NEXT, 2);
        td_desc(&f->t, 2, TD_DATA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
        td_desc(&f->t, 3, TD_DATA + 0x1000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 4);
        td_desc(&f->t, 4, TD_DATA + 0x2000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 5);
        td_desc(&f->t, 5, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        run(f, 1);
        assert_int_equal(status_of(f, 0), VIRTIO_BLK_S_OK);
        file_read(f->path, 3 * 512, expect, sizeof(expect));
        assert_memory_equal(f->ram + TD_DATA, expect, 512);
        assert_memory_equal(f->ram + TD_DATA + 0x1000, expect + 512, 512);
        assert_memory_equal(f->ram + TD_DATA + 0x2000, expect + 1024, 512);
}

static void test_indirect_request(void **state)
{
        struct bfx *f = *state;
        uint8_t expect[512];
        uint32_t type = VIRTIO_BLK_T_IN;
        uint8_t hdr[16] = {0}, st = 0xee;

        memcpy(hdr, &type, 4);
        guest_mem_write(&f->mem, HDR_GPA, hdr, 16);
        guest_mem_write(&f->mem, STAT_GPA, &st, 1);
        td_desc_at(&f->t, TD_INDIRECT, 0, HDR_GPA, 16, VRING_DESC_F_NEXT, 1);
        td_desc_at(&f->t, TD_INDIRECT, 1, TD_DATA, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
        td_desc_at(&f->t, TD_INDIRECT, 2, STAT_GPA, 1, VRING_DESC_F_WRITE, 0);
        td_desc(&f->t, 9, TD_INDIRECT, 48, VRING_DESC_F_INDIRECT, 0);
        td_offer(&f->t, 9);
        run(f, 1);
        assert_int_equal(status_of(f, 0), VIRTIO_BLK_S_OK);
        file_read(f->path, 0, expect, sizeof(expect));
        assert_memory_equal(f->ram + TD_DATA, expect, sizeof(expect));
}

static void test_framing_errors_need_reset(void **state)
{
        struct bfx *f = *state;

        /* Header only: nowhere to put a status. */
        td_desc(&f->t, 0, HDR_GPA, 16, 0, 0);
        td_offer(&f->t, 0);
        virtio_dev_queue_event(&f->b->dev, 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
        assert_int_equal(td_used_idx(&f->t), 0);
        /* Reset, set up again, and it works. */
        mmio_wr32(&f->m, VIRTIO_MMIO_STATUS, 0);
        memset(f->ram + TD_AVAIL, 0, 0x2000);
        bring_up(f);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
        /* A zero-length chain. */
        td_desc(&f->t, 0, TD_DATA, 0, 0, 0);
        td_offer(&f->t, 0);
        virtio_dev_queue_event(&f->b->dev, 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
}

static void test_broken_ring_needs_reset(void **state)
{
        struct bfx *f = *state;

        td_set_avail_idx(&f->t, 1000);
        virtio_dev_queue_event(&f->b->dev, 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        /* Further notifications are ignored until the reset. */
        virtio_dev_queue_event(&f->b->dev, 0);
        assert_int_equal(td_used_idx(&f->t), 0);
}

static void test_many_requests(void **state)
{
        struct bfx *f = *state;
        uint16_t heads[4];
        uint8_t expect[512];

        for (int i = 0; i < 4; i++) {
                heads[i] = req(f, VIRTIO_BLK_T_IN, (uint64_t)i, TD_DATA + 0x1000ULL * i, 512, true);
                td_offer(&f->t, heads[i]);
        }
        run(f, 4);
        for (int i = 0; i < 4; i++) {
                assert_int_equal(status_of(f, heads[i]), VIRTIO_BLK_S_OK);
                file_read(f->path, 512ULL * i, expect, sizeof(expect));
                assert_memory_equal(f->ram + TD_DATA + 0x1000ULL * i, expect, sizeof(expect));
        }
}

static void test_update_path(void **state)
{
        struct bfx *f = *state;
        uint8_t expect[512];
        struct err e = ERR_INIT;

        make_file(f->path2, sizeof(f->path2), 3 * DISK_SIZE, 9);
        mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS);
        mmio_wr32(&f->m, VIRTIO_MMIO_INTERRUPT_ACK, 3);
        assert_int_equal(virtio_blk_update_path(f->b, f->path2, &e), 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG), 3 * DISK_SIZE / 512);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), 1);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 2 * DISK_SIZE / 512, TD_DATA, 512, true, NULL),
                         VIRTIO_BLK_S_OK);
        file_read(f->path2, 2 * DISK_SIZE, expect, sizeof(expect));
        assert_memory_equal(f->ram + TD_DATA, expect, sizeof(expect));
        /* A file that cannot be opened changes nothing. */
        assert_int_equal(virtio_blk_update_path(f->b, "/nonexistent/disk", &e), -ENOENT);
        assert_non_null(strstr(e.msg, "/nonexistent/disk"));
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG), 3 * DISK_SIZE / 512);
        assert_int_equal(f->b->metrics.update_count, 1);
        assert_int_equal(f->b->metrics.update_fails, 1);
}

static void test_rate_limited(void **state)
{
        struct bfx *f = *state;
        struct pollfd pfd;
        uint16_t h;

        virtio_blk_destroy(f->b);
        f->cfg.rate_limiter.ops =
            (struct token_bucket_cfg){.present = true, .size = 1, .refill_time_ms = 100};
        assert_int_equal(create(f), 0);
        bring_up(f);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
        h = req(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true);
        td_offer(&f->t, h);
        virtio_dev_queue_event(&f->b->dev, 0);
        assert_int_equal(td_used_idx(&f->t), 1); /* held back */
        assert_true(f->b->metrics.rate_limiter_throttled_events >= 1);
        /* The limiter's timer resumes the queue. */
        pfd = (struct pollfd){.fd = f->b->rl.timer_fd, .events = POLLIN};
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        virtio_blk_rate_limiter_event(f->b);
        run(f, 1);
        assert_int_equal(status_of(f, h), VIRTIO_BLK_S_OK);
}

static void test_host_io_error(void **state)
{
        struct bfx *f = *state;
        struct rlimit old, lim = {.rlim_cur = 64 << 10, .rlim_max = RLIM_INFINITY};
        uint8_t st;

        /* Writes past RLIMIT_FSIZE fail with EFBIG, as on a full disk they fail with ENOSPC. */
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim.rlim_max = old.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        st = one(f, VIRTIO_BLK_T_OUT, 1024, TD_DATA, 512, false, NULL);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, SIG_DFL);
        assert_int_equal(st, VIRTIO_BLK_S_IOERR);
        assert_int_equal(f->b->metrics.execute_fails, 1);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_metrics_deltas(void **state)
{
        struct bfx *f = *state;
        struct blk_metrics d, sum;
        json_t *m, *root;

        one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL);
        virtio_dev_metrics_take(&f->b->dev, &blk_metrics_table, &d);
        assert_int_equal(d.read_count, 1);
        assert_int_equal(d.read_bytes, 512);
        assert_int_equal(d.read_agg.count, 1);
        root = json_object();
        assert_int_equal(metrics_group_write(root, "block_x", &blk_metrics_table, &d, NULL), 0);
        m = json_object_get(root, "block_x");
        assert_non_null(m);
        assert_int_equal(json_integer_value(json_object_get(m, "read_bytes")), 512);
        assert_non_null(json_object_get(json_object_get(m, "read_agg"), "sum_us"));
        assert_non_null(json_object_get(m, "rate_limiter_throttled_events"));
        json_decref(root);
        /* The next line only has what happened since. */
        one(f, VIRTIO_BLK_T_OUT, 0, TD_DATA, 1024, false, NULL);
        virtio_dev_metrics_take(&f->b->dev, &blk_metrics_table, &d);
        assert_int_equal(d.read_count, 0);
        assert_int_equal(d.read_agg.count, 0);
        assert_int_equal(d.write_bytes, 1024);
        memset(&sum, 0, sizeof(sum));
        metrics_add(&blk_metrics_table, &sum, &d);
        metrics_add(&blk_metrics_table, &sum, &d);
        assert_int_equal(sum.write_bytes, 2048);
        assert_int_equal(sum.write_agg.count, 2);
}

static void test_reset_while_busy(void **state)
{
        struct bfx *f = *state;

        for (int i = 0; i < 4; i++)
                td_offer(&f->t, req(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 4096, true));
        virtio_dev_queue_event(&f->b->dev, 0);
        mmio_wr32(&f->m, VIRTIO_MMIO_STATUS, 0); /* in-flight I/O is waited for, then dropped */
        if (f->b->aio)
                assert_int_equal(blk_aio_inflight(f->b->aio), 0);
        memset(f->ram + TD_AVAIL, 0, 0x2000);
        bring_up(f);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true, NULL), VIRTIO_BLK_S_OK);
}

static void test_missing_file(void **state)
{
        struct blk_params cfg = {.drive_id = "x", .path = "/nonexistent/x.img"};
        struct guest_mem mem = {0};
        struct virtio_blk *b = NULL;
        struct err e = ERR_INIT;

        (void)state;
        assert_int_equal(virtio_blk_create(&b, &cfg, &mem, NULL, &e), -ENOENT);
        assert_null(b);
        assert_non_null(strstr(e.msg, "/nonexistent/x.img"));
}

/* Whether the device signalled its queue's eventfd again (and clears it). */
static bool kicked(struct bfx *f)
{
        uint64_t v;

        return read(f->b->dev.notify_fds[0], &v, sizeof(v)) == (ssize_t)sizeof(v);
}

static void test_pass_bytes_bounded(void **state)
{
        struct bfx *f = *state;
        uint16_t h = req(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 512, true);
        uint8_t expect[512];

        assert_int_equal(virtio_dev_open_notify(&f->b->dev), 0);
        assert_int_equal(f->b->pass_bytes, BLK_PASS_BYTES);
        f->b->pass_bytes = 2048; /* four 512-byte reads a pass */
        /* The same chain offered ten times, as a hostile driver repeats a huge read. */
        for (int i = 0; i < 10; i++)
                td_offer(&f->t, h);
        run(f, 4);
        assert_true(kicked(f)); /* the rest is left to the next wakeup */
        run(f, 4);
        assert_true(kicked(f));
        run(f, 2);
        assert_false(kicked(f)); /* nothing left: no wakeup */
        assert_int_equal(status_of(f, h), VIRTIO_BLK_S_OK);
        file_read(f->path, 0, expect, sizeof(expect));
        assert_memory_equal(f->ram + TD_DATA, expect, sizeof(expect));
        assert_int_equal(f->b->metrics.read_count, 10);
}

static void test_pass_requests_bounded(void **state)
{
        struct bfx *f = *state;
        uint16_t h = req(f, VIRTIO_BLK_T_GET_ID, 0, TD_DATA, 20, true);

        assert_int_equal(virtio_dev_open_notify(&f->b->dev), 0);
        assert_int_equal(f->b->pass_reqs, 256); /* a ring's worth */
        f->b->pass_reqs = 3;
        for (int i = 0; i < 7; i++)
                td_offer(&f->t, h);
        run(f, 3);
        assert_true(kicked(f));
        run(f, 3);
        assert_true(kicked(f));
        run(f, 1);
        assert_false(kicked(f));
}

/* A request longer than guest RAM is refused, as Firecracker's single data descriptor is. */
static void test_request_bounded_by_ram(void **state)
{
        struct bfx *f = *state;

        assert_int_equal(f->b->max_data, MEM_SIZE);
        f->b->max_data = 4096;
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 4096, true, NULL), VIRTIO_BLK_S_OK);
        assert_int_equal(one(f, VIRTIO_BLK_T_IN, 0, TD_DATA, 4608, true, NULL), VIRTIO_BLK_S_IOERR);
        assert_int_equal(one(f, VIRTIO_BLK_T_OUT, 0, TD_DATA, 4608, false, NULL),
                         VIRTIO_BLK_S_IOERR);
        assert_int_equal(f->b->metrics.invalid_reqs_count, 2);
        assert_int_equal(f->b->metrics.read_bytes, 4096);
        assert_int_equal(f->b->metrics.write_bytes, 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

#define BOTH(t)                                                                                    \
        cmocka_unit_test_setup_teardown(t, setup_sync, teardown),                                  \
            cmocka_unit_test_setup_teardown(t, setup_async, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
            BOTH(test_read),
            BOTH(test_write_and_flush),
            BOTH(test_get_id),
            BOTH(test_invalid_requests),
            BOTH(test_read_only_drive),
            BOTH(test_features_follow_config),
            BOTH(test_scattered_request),
            BOTH(test_indirect_request),
            BOTH(test_framing_errors_need_reset),
            BOTH(test_broken_ring_needs_reset),
            BOTH(test_many_requests),
            BOTH(test_update_path),
            BOTH(test_rate_limited),
            BOTH(test_host_io_error),
            BOTH(test_metrics_deltas),
            BOTH(test_reset_while_busy),
            BOTH(test_pass_bytes_bounded),
            BOTH(test_pass_requests_bounded),
            BOTH(test_request_bounded_by_ram),
            cmocka_unit_test(test_missing_file),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
