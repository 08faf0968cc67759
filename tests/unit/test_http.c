/* Unit tests for the HTTP parser (src/api/http.c) and in-process request serving. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/http.h"
#include "api/server.h"
#include "core/log.h"

static struct http_request req;
static char msg[HTTP_MAX_MSG];
static size_t used;

static enum http_status parse(const char *s)
{
        return http_parse((const uint8_t *)s, strlen(s), HTTP_DEFAULT_PAYLOAD, &req, &used, msg);
}

static void bad(const char *s, const char *want)
{
        if (parse(s) != HTTP_BAD)
                fail_msg("accepted: %s", s);
        if (want && strcmp(msg, want) != 0)
                fail_msg("message \"%s\", want \"%s\"", msg, want);
}

static void test_simple_get(void **state)
{
        (void)state;
        assert_int_equal(parse("GET /machine-config HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_COMPLETE);
        assert_int_equal(req.method, HTTP_GET);
        assert_string_equal(req.path, "/machine-config");
        assert_false(req.has_body);
        assert_int_equal(used, strlen("GET /machine-config HTTP/1.1\r\nHost: x\r\n\r\n"));
}

static void test_body_and_pipelining(void **state)
{
        const char *two = "PUT /a HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}GET / HTTP/1.0\r\n\r\n";

        (void)state;
        assert_int_equal(parse(two), HTTP_COMPLETE);
        assert_int_equal(req.method, HTTP_PUT);
        assert_int_equal(req.content_length, 2);
        assert_memory_equal(req.body, "{}", 2);
        assert_int_equal(http_parse((const uint8_t *)two + used, strlen(two) - used,
                                    HTTP_DEFAULT_PAYLOAD, &req, &used, msg),
                         HTTP_COMPLETE);
        assert_true(req.http10);
        assert_string_equal(req.path, "/");
}

static void test_incomplete(void **state)
{
        (void)state;
        assert_int_equal(parse("GET / HTTP/1.1\r\n"), HTTP_INCOMPLETE);
        assert_int_equal(req.head_len, 0);
        assert_int_equal(parse("GET / HTTP/1.1\r"), HTTP_INCOMPLETE);
        assert_int_equal(
            parse("PUT / HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n{"),
            HTTP_INCOMPLETE);
        assert_true(req.head_len > 0);
        assert_true(req.expect_continue);
        assert_int_equal(parse(""), HTTP_INCOMPLETE);
}

static void test_absolute_uri(void **state)
{
        (void)state;
        assert_int_equal(parse("GET http://localhost/vm/config HTTP/1.1\r\n\r\n"), HTTP_COMPLETE);
        assert_string_equal(req.path, "/vm/config");
        assert_int_equal(parse("GET http://localhost HTTP/1.1\r\n\r\n"), HTTP_COMPLETE);
        assert_string_equal(req.path, "");
        assert_int_equal(parse("GET * HTTP/1.1\r\n\r\n"), HTTP_COMPLETE);
        assert_string_equal(req.path, "");
}

static void test_bad_requests(void **state)
{
        char big[3000];

        (void)state;
        bad("GET / HTTP/1.1\n\n", "Invalid request.");
        bad("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", "Invalid request.");
        bad("BREW / HTTP/1.1\r\n\r\n", "Invalid HTTP Method: Unsupported HTTP method.");
        bad("GET / HTTP/1.2\r\n\r\n", "Invalid HTTP Version: Unsupported HTTP version.");
        bad("GET  HTTP/1.1\r\n\r\n", "Invalid URI: Empty URI not allowed.");
        bad("GET\r\n\r\n", "Invalid request.");
        bad("PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "Invalid header. Reason: Invalid value. Key:Content-Length; Value:-1");
        bad("PUT / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", NULL);
        bad("PUT / HTTP/1.1\r\nContent-Length: 4294967296\r\n\r\n", NULL);
        bad("PUT / HTTP/1.1\r\nContent-Length: 51201\r\n\r\n",
            "Request payload with size 51201 is larger than the limit of 51200 allowed by "
            "server.");
        bad("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", NULL);
        bad("GET / HTTP/1.1\r\n folded\r\n\r\n", NULL);
        memset(big, 'a', sizeof(big));
        memcpy(big, "GET /", 5);
        big[sizeof(big) - 1] = '\0';
        bad(big, "Invalid request."); /* a request line longer than 1024 bytes, unfinished */
}

static void test_header_limit(void **state)
{
        char *flood = malloc(HTTP_MAX_HEAD * 2);
        size_t n = 0;

        (void)state;
        n += (size_t)sprintf(flood, "GET / HTTP/1.1\r\n");
        while (n < HTTP_MAX_HEAD * 2 - 16)
                n += (size_t)sprintf(flood + n, "A: b\r\n");
        assert_int_equal(
            http_parse((const uint8_t *)flood, n, HTTP_DEFAULT_PAYLOAD, &req, &used, msg),
            HTTP_BAD);
        free(flood);
}

static void test_response_format(void **state)
{
        char out[512];
        int n;

        (void)state;
        n = http_format_response(out, sizeof(out), 204, false, false, NULL, 0);
        assert_int_equal(n, strlen("HTTP/1.1 204 \r\nServer: Firecracker API\r\n"
                                   "Connection: keep-alive\r\n\r\n"));
        assert_memory_equal(out, "HTTP/1.1 204 \r\nServer: Firecracker API\r\n", 40);
        n = http_format_response(out, sizeof(out), 400, true, true, "{}", 2);
        out[n] = '\0';
        assert_string_equal(out, "HTTP/1.1 400 \r\nServer: Firecracker API\r\nConnection: close\r\n"
                                 "Deprecation: true\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 2\r\n\r\n{}");
        assert_int_equal(http_format_response(out, 16, 200, false, false, "{}", 2), -ENOSPC);
}

/* The whole request path without sockets: parse, route, handle, format. */
static void test_serve_buffer(void **state)
{
        static const char reqs[] = "GET / HTTP/1.1\r\n\r\n"
                                   "PUT /machine-config HTTP/1.1\r\nContent-Length: 37\r\n\r\n"
                                   "{\"vcpu_count\": 4, \"mem_size_mib\": 64}"
                                   "GET /nope HTTP/1.1\r\n\r\n";
        struct vm_config cfg;
        struct api_ctx ctx;
        char out[4096];
        size_t outlen;
        long rc;

        (void)state;
        config_init(&cfg);
        api_ctx_init(&ctx, NULL, &cfg, NULL, 51200);
        rc = api_serve_buffer(&ctx, HTTP_DEFAULT_PAYLOAD, (const uint8_t *)reqs, strlen(reqs), out,
                              sizeof(out) - 1, &outlen);
        assert_int_equal(rc, strlen(reqs));
        out[outlen] = '\0';
        assert_non_null(strstr(out, "HTTP/1.1 200 "));
        assert_non_null(strstr(out, "HTTP/1.1 204 "));
        assert_non_null(strstr(out, "Invalid request method and/or path: GET nope."));
        assert_int_equal(cfg.machine.vcpu_count, 4);
        rc = api_serve_buffer(&ctx, HTTP_DEFAULT_PAYLOAD, (const uint8_t *)"XX\r\n\r\n", 6, out,
                              sizeof(out) - 1, &outlen);
        assert_int_equal(rc, -1); /* a parse error closes the connection */
        api_ctx_fini(&ctx);
        config_free(&cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_simple_get),      cmocka_unit_test(test_body_and_pipelining),
            cmocka_unit_test(test_incomplete),      cmocka_unit_test(test_absolute_uri),
            cmocka_unit_test(test_bad_requests),    cmocka_unit_test(test_header_limit),
            cmocka_unit_test(test_response_format), cmocka_unit_test(test_serve_buffer),
        };

        log_set_level(LOG_OFF);
        json_object_seed(1);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
