/* The snapshot state file: round trip, and every kind of damage refused with a clear error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/statefile.h"

static struct statefile sf;

/* A file of two sections, copied into buf; returns its length. */
static size_t sample(uint8_t *buf, size_t cap)
{
        struct statefile_writer w;
        const uint8_t *out;
        size_t len;

        statefile_writer_init(&w);
        statefile_add(&w, 7, 0, "hello", 5);
        statefile_add(&w, 9, 3, "0123456789abcdef", 16);
        assert_int_equal(statefile_finish(&w, &out, &len), 0);
        assert_true(len <= cap);
        memcpy(buf, out, len);
        statefile_writer_free(&w);
        return len;
}

static void refit_crc(uint8_t *buf, size_t len)
{
        uint64_t crc = statefile_crc64(0, buf, len - 8);

        for (int i = 0; i < 8; i++)
                buf[len - 8 + i] = (uint8_t)(crc >> (8 * i));
}

static void expect_error(const uint8_t *buf, size_t len, const char *what)
{
        struct err e = ERR_INIT;

        assert_int_equal(statefile_parse(buf, len, &sf, &e), -EINVAL);
        assert_non_null(strstr(e.msg, what));
}

static void test_crc64_check_value(void **state)
{
        (void)state;
        /* The catalogued check value of CRC-64/XZ. */
        assert_true(statefile_crc64(0, "123456789", 9) == 0x995DC9BBDF1939FAull);
}

static void test_round_trip(void **state)
{
        uint8_t buf[256];
        size_t len = sample(buf, sizeof(buf));
        const struct statefile_section *s;

        (void)state;
        assert_int_equal(statefile_parse(buf, len, &sf, NULL), 0);
        assert_int_equal(sf.nr, 2);
        s = statefile_find(&sf, 9, 3);
        assert_non_null(s);
        assert_int_equal(s->len, 16);
        assert_memory_equal(s->data, "0123456789abcdef", 16);
        s = statefile_find(&sf, 7, 0);
        assert_int_equal(s->len, 5);
        assert_memory_equal(s->data, "hello", 5);
        assert_null(statefile_find(&sf, 7, 1));
}

static void test_corrupt_truncated_and_foreign_files(void **state)
{
        uint8_t buf[256];
        size_t len = sample(buf, sizeof(buf));

        (void)state;
        expect_error(buf, 10, "too short");
        expect_error(buf, len - 1, "CRC64 mismatch"); /* truncated */
        buf[30] ^= 1;
        expect_error(buf, len, "CRC64 mismatch"); /* one bit flipped */
        buf[30] ^= 1;
        buf[0] = 'X';
        expect_error(buf, len, "bad magic");
}

static void test_wrong_version_and_arch(void **state)
{
        uint8_t buf[256];
        size_t len = sample(buf, sizeof(buf));

        (void)state;
        buf[8] = 1; /* version 1 (the PIT still in the VM section), with a matching CRC */
        refit_crc(buf, len);
        expect_error(buf, len, "unsupported state file version 1");
        buf[8] = 2;
        buf[12] = 5;
        refit_crc(buf, len);
        expect_error(buf, len, "another architecture");
}

static void test_lengths_that_lie(void **state)
{
        uint8_t buf[256];
        size_t len = sample(buf, sizeof(buf));

        (void)state;
        buf[16] += 8; /* payload_len */
        refit_crc(buf, len);
        expect_error(buf, len, "does not match the file size");
        buf[16] -= 8;
        /* The first section's length: huge, then just past the end. */
        memset(buf + STATEFILE_HDR_SIZE + 8, 0xff, 8);
        refit_crc(buf, len);
        expect_error(buf, len, "runs past the end");
        memset(buf + STATEFILE_HDR_SIZE + 8, 0, 8);
        buf[STATEFILE_HDR_SIZE + 8] = 200;
        refit_crc(buf, len);
        expect_error(buf, len, "runs past the end");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_crc64_check_value),
            cmocka_unit_test(test_round_trip),
            cmocka_unit_test(test_corrupt_truncated_and_foreign_files),
            cmocka_unit_test(test_wrong_version_and_arch),
            cmocka_unit_test(test_lengths_that_lie),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
