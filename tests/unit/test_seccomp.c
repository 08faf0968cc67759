/*
 * Unit tests for the seccomp module: filter-file parsing, and the built-in
 * filters enforced in forked children (blocked call -> SIGSYS report + exit 148,
 * argument filters, clone3 -> ENOSYS so pthread_create still works).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "seccomp/seccomp.h"
#include "seccomp/seccomp_file.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZER_BUILD 1
#else
#define SANITIZER_BUILD 0
#endif

/* ---- filter files ---- */

struct image {
        uint8_t buf[1024];
        size_t len;
};

static void put32(struct image *im, uint32_t v)
{
        int i;

        for (i = 0; i < 4; i++)
                im->buf[im->len++] = (uint8_t)(v >> (8 * i));
}

static void put_header(struct image *im, const char *magic, uint32_t version, uint32_t count)
{
        memcpy(im->buf, magic, 8);
        im->len = 8;
        put32(im, version);
        put32(im, count);
}

/* An entry of n instructions; instruction i is {code=0x06 (ret), jt=i, jf=1, k=0x7fff0000+i}. */
static void put_entry(struct image *im, const char *name, uint32_t n)
{
        uint32_t i;

        memset(im->buf + im->len, 0, SECCOMP_FILE_NAME_LEN);
        memcpy(im->buf + im->len, name, strlen(name));
        im->len += SECCOMP_FILE_NAME_LEN;
        put32(im, n);
        for (i = 0; i < n; i++) {
                im->buf[im->len++] = 0x06;
                im->buf[im->len++] = 0x00;
                im->buf[im->len++] = (uint8_t)i;
                im->buf[im->len++] = 1;
                put32(im, 0x7fff0000u + i);
        }
}

static struct image valid_image(void)
{
        struct image im;

        put_header(&im, SECCOMP_FILE_MAGIC, 1, 3);
        put_entry(&im, "vcpu", 2);
        put_entry(&im, "vmm", 1);
        put_entry(&im, "api", 0);
        return im;
}

static int parse(const struct image *im, struct seccomp_file *f, struct err *e)
{
        return seccomp_file_parse(im->buf, im->len, f, e);
}

static void test_file_valid(void **state)
{
        struct image im = valid_image();
        struct seccomp_file f;
        struct err e = ERR_INIT;

        (void)state;
        assert_int_equal(parse(&im, &f, &e), 0);
        assert_int_equal(f.progs[SECCOMP_ROLE_VCPU].len, 2);
        assert_int_equal(f.progs[SECCOMP_ROLE_VMM].len, 1);
        assert_int_equal(f.progs[SECCOMP_ROLE_API].len, 0);
        assert_int_equal(f.progs[SECCOMP_ROLE_VCPU].insns[1].code, 0x06);
        assert_int_equal(f.progs[SECCOMP_ROLE_VCPU].insns[1].jt, 1);
        assert_int_equal(f.progs[SECCOMP_ROLE_VCPU].insns[1].jf, 1);
        assert_int_equal(f.progs[SECCOMP_ROLE_VCPU].insns[1].k, 0x7fff0001u);
        assert_int_equal(f.progs[SECCOMP_ROLE_VMM].insns[0].k, 0x7fff0000u);
        seccomp_file_free(&f);
}

static void expect_bad(const struct image *im, const char *why)
{
        struct seccomp_file f;
        struct err e = ERR_INIT;

        assert_int_equal(parse(im, &f, &e), -EINVAL);
        assert_non_null(strstr(e.msg, why));
        assert_null(f.insns);
}

static void test_file_bad_header(void **state)
{
        struct image im = valid_image();

        (void)state;
        memcpy(im.buf, "BRASABPX", 8);
        expect_bad(&im, "bad magic");
        im = valid_image();
        im.buf[8] = 2;
        expect_bad(&im, "version 2");
        im = valid_image();
        im.buf[12] = 2;
        expect_bad(&im, "3 thread entries");
        im.len = 5;
        expect_bad(&im, "bad magic");
}

static void test_file_bad_entries(void **state)
{
        struct image im;

        (void)state;
        put_header(&im, SECCOMP_FILE_MAGIC, 1, 3);
        put_entry(&im, "vmm", 1);
        put_entry(&im, "vmm", 1);
        put_entry(&im, "api", 1);
        expect_bad(&im, "repeated");
        put_header(&im, SECCOMP_FILE_MAGIC, 1, 3);
        put_entry(&im, "vmm", 1);
        put_entry(&im, "fc_api", 1);
        put_entry(&im, "vcpu", 1);
        expect_bad(&im, "unknown");
        im = valid_image();
        im.len -= 3; /* cut into the last entry's header */
        expect_bad(&im, "truncated");
        im = valid_image();
        im.buf[im.len++] = 0;
        expect_bad(&im, "1 trailing bytes");
}

/* An entry header that claims n instructions, with none following. */
static void put_raw_entry(struct image *im, const char *name, uint32_t n)
{
        memset(im->buf + im->len, 0, SECCOMP_FILE_NAME_LEN);
        memcpy(im->buf + im->len, name, strlen(name));
        im->len += SECCOMP_FILE_NAME_LEN;
        put32(im, n);
}

static void test_file_bad_counts(void **state)
{
        struct image im;

        (void)state;
        put_header(&im, SECCOMP_FILE_MAGIC, 1, 3);
        put_entry(&im, "vmm", 1);
        put_entry(&im, "api", 1);
        put_raw_entry(&im, "vcpu", 2);
        put_entry(&im, "", 0);           /* 20 more bytes: still short of 2 instructions */
        im.len -= SECCOMP_FILE_NAME_LEN; /* leaves 4 bytes, half an instruction */
        expect_bad(&im, "bad instruction count 2 for thread vcpu");
        put_header(&im, SECCOMP_FILE_MAGIC, 1, 3);
        put_raw_entry(&im, "vmm", SECCOMP_FILE_MAX_INSNS + 1);
        expect_bad(&im, "bad instruction count 4097 for thread vmm");
}

static void test_role_names(void **state)
{
        (void)state;
        assert_string_equal(seccomp_role_name(SECCOMP_ROLE_VMM), "vmm");
        assert_string_equal(seccomp_role_name(SECCOMP_ROLE_API), "api");
        assert_string_equal(seccomp_role_name(SECCOMP_ROLE_VCPU), "vcpu");
        assert_string_equal(seccomp_role_name(SECCOMP_ROLE_COUNT), "unknown");
}

static void test_builtin_filters_present(void **state)
{
        int r;

        (void)state;
        for (r = 0; r < SECCOMP_ROLE_COUNT; r++) {
                assert_true(seccomp_builtin_filters[r].len > 10);
                assert_true(seccomp_builtin_filters[r].len <= SECCOMP_FILE_MAX_INSNS);
        }
        assert_string_equal(seccomp_syscall_names[SYS_getppid], "getppid");
        assert_string_equal(seccomp_syscall_names[SYS_ioctl], "ioctl");
}

/* ---- enforcement, in forked children ---- */

#define CHILD_OK 42

struct child_result {
        int status;
        char log[1024];
};

/* Runs fn in a child whose log goes to a pipe; collects its exit status and log. */
static void run_child(void (*fn)(void), struct child_result *res)
{
        int p[2];
        pid_t pid;
        ssize_t n;
        size_t got = 0;

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                struct err e;

                close(p[0]);
                log_set_fd(p[1]);
                log_set_level(LOG_INFO);
                if (seccomp_setup(SECCOMP_POLICY_BUILTIN, NULL, &e))
                        _exit(3);
                fn();
                _exit(CHILD_OK);
        }
        close(p[1]);
        while ((n = read(p[0], res->log + got, sizeof(res->log) - 1 - got)) > 0)
                got += (size_t)n;
        res->log[got] = '\0';
        close(p[0]);
        assert_int_equal(waitpid(pid, &res->status, 0), pid);
}

static void expect_exit(const struct child_result *r, int code)
{
        if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != code)
                fail_msg("child status 0x%x, expected exit %d; log: %s", r->status, code, r->log);
}

static void vcpu_getppid(void)
{
        if (seccomp_apply(SECCOMP_ROLE_VCPU))
                _exit(4);
        if (write(STDERR_FILENO, "", 0) < 0) /* allowed */
                _exit(5);
        syscall(SYS_getppid);
}

static void vcpu_allowed_only(void)
{
        if (seccomp_apply(SECCOMP_ROLE_VCPU))
                _exit(4);
        log_info("still alive");
}

static void vmm_mmap_exec(void)
{
        void *p;

        if (seccomp_apply(SECCOMP_ROLE_VMM))
                _exit(4);
        p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
                _exit(5);
        log_info("plain mmap allowed");
        mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static int thread_token;

static void *thread_fn(void *arg)
{
        return arg;
}

static void vmm_threads(void)
{
        pthread_t t;
        void *ret = NULL;
        long rc;

        if (seccomp_apply(SECCOMP_ROLE_VMM))
                _exit(4);
        rc = syscall(SYS_clone3, NULL, 0);
        if (rc != -1 || errno != ENOSYS)
                _exit(6);
        if (pthread_create(&t, NULL, thread_fn, &thread_token) || pthread_join(t, &ret) ||
            ret != &thread_token)
                _exit(7);
}

/* Under the api filter: the allocation pattern of request bodies, growing and trimming the heap. */
static void *api_malloc_thread(void *arg)
{
        size_t i, n;

        if (seccomp_apply(SECCOMP_ROLE_API))
                return NULL;
        for (i = 0; i < 2000; i++) {
                n = (i * 7919) % (512 * 1024) + 1;
                char *p = malloc(n), *q = malloc(n / 3 + 1);

                if (!p || !q)
                        return NULL;
                memset(p, 1, n);
                free(p);
                free(q);
        }
        return arg;
}

static void api_thread_heap(void)
{
        pthread_t t;
        void *ret = NULL;

        if (pthread_create(&t, NULL, api_malloc_thread, &thread_token) || pthread_join(t, &ret) ||
            ret != &thread_token)
                _exit(7);
}

static void api_socket(void)
{
        if (seccomp_apply(SECCOMP_ROLE_API))
                _exit(4);
        syscall(SYS_socket, 2 /* AF_INET */, 1 /* SOCK_STREAM */, 0);
}

static void skip_in_sanitizer_builds(void)
{
        /* Sanitizer builds turn the filters off by design (docs/security.md). */
        if (SANITIZER_BUILD)
                skip();
}

static void test_vcpu_blocks_getppid(void **state)
{
        struct child_result r;

        (void)state;
        skip_in_sanitizer_builds();
        run_child(vcpu_getppid, &r);
        expect_exit(&r, SECCOMP_EXIT_BAD_SYSCALL);
        assert_non_null(strstr(r.log, "bad syscall (110: getppid)"));
        assert_non_null(strstr(r.log, "(vcpu filter)"));
}

static void test_vcpu_allows_its_calls(void **state)
{
        struct child_result r;

        (void)state;
        skip_in_sanitizer_builds();
        run_child(vcpu_allowed_only, &r);
        expect_exit(&r, CHILD_OK);
        assert_non_null(strstr(r.log, "still alive"));
}

static void test_vmm_argument_filter(void **state)
{
        struct child_result r;

        (void)state;
        skip_in_sanitizer_builds();
        run_child(vmm_mmap_exec, &r);
        expect_exit(&r, SECCOMP_EXIT_BAD_SYSCALL);
        assert_non_null(strstr(r.log, "plain mmap allowed"));
        assert_non_null(strstr(r.log, "bad syscall (9: mmap)"));
}

static void test_vmm_clone3_enosys_threads_work(void **state)
{
        struct child_result r;

        (void)state;
        skip_in_sanitizer_builds();
        run_child(vmm_threads, &r);
        expect_exit(&r, CHILD_OK);
}

static void test_api_blocks_socket(void **state)
{
        struct child_result r;

        (void)state;
        skip_in_sanitizer_builds();
        run_child(api_socket, &r);
        expect_exit(&r, SECCOMP_EXIT_BAD_SYSCALL);
        assert_non_null(strstr(r.log, "bad syscall (41: socket)"));
}

static void test_api_thread_heap_use(void **state)
{
        struct child_result r;

        (void)state;
        skip_in_sanitizer_builds();
        run_child(api_thread_heap, &r);
        expect_exit(&r, CHILD_OK);
}

static void test_setup_bad_file(void **state)
{
        struct err e = ERR_INIT;

        (void)state;
        assert_int_equal(seccomp_setup(SECCOMP_POLICY_FILE, "/nonexistent/filter.bpf", &e),
                         -ENOENT);
        assert_non_null(strstr(e.msg, "/nonexistent/filter.bpf"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_file_valid),
            cmocka_unit_test(test_file_bad_header),
            cmocka_unit_test(test_file_bad_entries),
            cmocka_unit_test(test_file_bad_counts),
            cmocka_unit_test(test_role_names),
            cmocka_unit_test(test_builtin_filters_present),
            cmocka_unit_test(test_vcpu_blocks_getppid),
            cmocka_unit_test(test_vcpu_allows_its_calls),
            cmocka_unit_test(test_vmm_argument_filter),
            cmocka_unit_test(test_vmm_clone3_enosys_threads_work),
            cmocka_unit_test(test_api_blocks_socket),
            cmocka_unit_test(test_api_thread_heap_use),
            cmocka_unit_test(test_setup_bad_file),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
