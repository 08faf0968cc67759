/* Unit tests for the logger's line format (src/core/log.c): every show_level/show_log_origin mix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"

#define STAMP_LEN 30 /* "2026-12-03T08:00:00.123456789 " */

/* Logs one line with the given format flags and returns what was written (NUL-terminated). */
static void log_one(int show_level, int show_origin, char *out, size_t len, int *line)
{
        int fds[2];
        ssize_t n;

        assert_int_equal(pipe(fds), 0);
        log_set_fd(fds[1]);
        log_set_format(show_level, show_origin);
        *line = __LINE__ + 1;
        log_info("hello %d", 42);
        log_set_fd(2);
        n = read(fds[0], out, len - 1);
        assert_true(n > 0);
        out[n] = '\0';
        close(fds[0]);
        close(fds[1]);
}

static void expect_line(int show_level, int show_origin)
{
        char got[512], want[512], where[300] = "", level[16] = "";
        int line;

        log_one(show_level, show_origin, got, sizeof(got), &line);
        if (show_level)
                snprintf(level, sizeof(level), ":INFO");
        if (show_origin)
                snprintf(where, sizeof(where), ":%s:%d", __FILE__, line);
        snprintf(want, sizeof(want), "[anonymous-instance:main%s%s] hello 42\n", level, where);
        assert_true(strlen(got) > STAMP_LEN);
        assert_int_equal(got[4], '-');
        assert_int_equal(got[10], 'T');
        assert_int_equal(got[STAMP_LEN - 1], ' ');
        assert_string_equal(got + STAMP_LEN, want);
        /* One line: the only newline is the last byte (no stack bytes leak into it). */
        assert_ptr_equal(strchr(got, '\n'), got + strlen(got) - 1);
}

static void test_plain(void **state)
{
        (void)state;
        expect_line(0, 0);
}

static void test_level_only(void **state)
{
        (void)state;
        expect_line(1, 0);
}

static void test_origin_only(void **state)
{
        (void)state;
        expect_line(0, 1);
}

static void test_level_and_origin(void **state)
{
        (void)state;
        expect_line(1, 1);
}

static void test_module_paths(void **state)
{
        (void)state;
        assert_string_equal(log_module_path("/b/src/main.c"), "firecracker");
        assert_string_equal(log_module_path("/b/src/api/server.c"), "firecracker::api_server");
        assert_string_equal(log_module_path("src/api/router.c"),
                            "firecracker::api_server::parsed_request");
        assert_string_equal(log_module_path("/b/src/devices/virtio/block/virtio_blk.c"),
                            "vmm::devices::virtio::block");
        assert_string_equal(log_module_path("/b/src/devices/virtio/mmio.c"),
                            "vmm::devices::virtio::transport::mmio");
        assert_string_equal(log_module_path("/b/src/devices/legacy/serial.c"),
                            "vmm::devices::legacy::serial");
        assert_string_equal(log_module_path("/b/src/vmm/vcpu.c"), "vmm::vstate::vcpu");
        assert_string_equal(log_module_path("/b/src/vmm/vmm_run.c"), "vmm");
        assert_null(log_module_path("/b/tests/unit/test_log.c"));
}

/* True when a line logged as coming from file passes the module filter. */
static bool passes(const char *module, const char *file)
{
        char buf[512];
        int fds[2];
        ssize_t n;

        assert_int_equal(pipe(fds), 0);
        log_set_fd(fds[1]);
        log_set_format(0, 0);
        log_set_module(module);
        log_write(LOG_INFO, file, 1, "x");
        log_set_module(NULL);
        log_write(LOG_INFO, file, 1, "end");
        log_set_fd(2);
        n = read(fds[0], buf, sizeof(buf) - 1);
        assert_true(n > 0);
        buf[n] = '\0';
        close(fds[0]);
        close(fds[1]);
        return strstr(buf, "] x\n") != NULL;
}

static void test_module_filter(void **state)
{
        (void)state;
        /* Firecracker's test: the record's module path starts with the filter. */
        assert_true(passes("vmm", "/b/src/devices/virtio/net/virtio_net.c"));
        assert_true(passes("vmm::devices", "/b/src/devices/legacy/i8042.c"));
        assert_true(passes("vmm::devices::virtio::block", "/b/src/devices/virtio/block/io_sync.c"));
        assert_false(
            passes("vmm::devices::virtio::block", "/b/src/devices/virtio/net/virtio_net.c"));
        assert_false(passes("vmm", "/b/src/api/server.c"));
        assert_true(passes("firecracker", "/b/src/api/server.c"));
        assert_true(passes("firecracker", "/b/src/main.c"));
        assert_false(passes("firecracker::api_server", "/b/src/main.c"));
        /* A plain string prefix, as Rust's starts_with: "vm" keeps vmm's lines. */
        assert_true(passes("vm", "/b/src/vmm/vcpu.c"));
        /* A file outside the tree has no module path: never shown under a filter. */
        assert_false(passes("vmm", "/b/tests/x.c"));
        /* brasa's own form: a source path prefix. */
        assert_true(passes("src/api/", "/b/src/api/server.c"));
        assert_false(passes("src/api/", "/b/src/vmm/vcpu.c"));
        assert_true(passes("", "/b/tests/x.c"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_plain),        cmocka_unit_test(test_level_only),
            cmocka_unit_test(test_origin_only),  cmocka_unit_test(test_level_and_origin),
            cmocka_unit_test(test_module_paths), cmocka_unit_test(test_module_filter),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
