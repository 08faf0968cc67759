/* Unit tests for core/text, core/err and core/util: the helpers every layer shares. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/text.h"
#include "core/util.h"

static void test_utf8(void **state)
{
        (void)state;
        assert_true(utf8_valid("plain ascii", 11));
        assert_true(utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
        assert_false(utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
        assert_false(utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
        assert_false(utf8_valid("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
        assert_false(utf8_valid("\xe2\x82", 2));         /* cut short */
        assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3);
        assert_int_equal(utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 2), 0);
}

static void test_one_line(void **state)
{
        char s[] = "a\nb\tc\xff"
                   "d\xc3\xa9";

        (void)state;
        text_one_line(s);
        assert_string_equal(s, "a b c?d\xc3\xa9");
}

static void test_debug_escape(void **state)
{
        char out[64];
        char big[200];

        (void)state;
        text_debug_escape("q\"\\\n\r\t\x01\x7f", 8, 64, out, sizeof(out));
        assert_string_equal(out, "q\\\"\\\\\\n\\r\\t\\u{1}\\u{7f}");
        /* The input cap backs off to a UTF-8 boundary and marks the cut. */
        text_debug_escape("ab\xc3\xa9z", 5, 3, out, sizeof(out));
        assert_string_equal(out, "ab...");
        /* A short output buffer cuts too, and stays terminated. */
        memset(big, 'x', sizeof(big));
        text_debug_escape(big, sizeof(big), sizeof(big), out, sizeof(out));
        assert_int_equal(strlen(out), 52 + 3);
        assert_string_equal(out + 52, "...");
}

static void test_err(void **state)
{
        struct err e = ERR_INIT;

        (void)state;
        assert_int_equal(err_set(&e, -EINVAL, "bad %s\nthing", "x"), -EINVAL);
        assert_string_equal(e.msg, "bad x thing");
        assert_int_equal(err_prefix(&e, "Drive config error: "), -EINVAL);
        assert_string_equal(e.msg, "Drive config error: bad x thing");
        assert_int_equal(err_set(NULL, -ENOMEM, "ignored"), -ENOMEM);
        err_clear(&e);
        assert_int_equal(e.rc, 0);
        assert_string_equal(e.msg, "");
}

static void test_err_prefix_truncates(void **state)
{
        struct err e = ERR_INIT;
        char longmsg[ERR_MSG_MAX + 100];

        (void)state;
        memset(longmsg, 'm', sizeof(longmsg) - 1);
        longmsg[sizeof(longmsg) - 1] = '\0';
        err_set(&e, -EIO, "%s", longmsg);
        err_prefix(&e, "P: ");
        assert_int_equal(strlen(e.msg), ERR_MSG_MAX - 1);
        assert_memory_equal(e.msg, "P: mmm", 6);
}

static void test_util(void **state)
{
        uint8_t b[8];
        uint64_t v;
        int fd = eventfd(0, EFD_NONBLOCK);

        (void)state;
        st_le32(b, 0x11223344u);
        assert_int_equal(b[0], 0x44);
        assert_int_equal(ld_le32(b), 0x11223344u);
        st_le(b, 0x0102030405060708ull, 8);
        assert_true(ld_le(b, 8) == 0x0102030405060708ull);
        assert_true(fd >= 0);
        assert_int_equal(efd_signal(fd), 0);
        assert_int_equal(efd_signal(fd), 0);
        assert_int_equal(efd_drain(fd, &v), 0);
        assert_int_equal(v, 2);
        assert_int_equal(efd_drain(fd, &v), 0); /* empty: EAGAIN is not an error */
        assert_int_equal(v, 0);
        assert_int_equal(efd_signal(-1), -EBADF);
        close(fd);
        assert_true(now_ms() <= now_us());
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_utf8),
            cmocka_unit_test(test_one_line),
            cmocka_unit_test(test_debug_escape),
            cmocka_unit_test(test_err),
            cmocka_unit_test(test_err_prefix_truncates),
            cmocka_unit_test(test_util),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
