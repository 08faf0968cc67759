/* Unit tests for mmds/: every answer of mmds_http_answer(), byte for byte, with a fake clock. */
#define _GNU_SOURCE /* asprintf */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "mmds/mmds_json.h"
#include "mmds/mmds_req.h"
#include "mmds/mmds_service.h"

#define NO_TOKEN                                                                                   \
        "No MMDS token provided. Use `X-metadata-token` or `X-aws-ec2-metadata-token` header to "  \
        "specify the session token."
#define NO_TTL                                                                                     \
        "Token time to live value not found. Use `X-metadata-token-ttl-seconds` or "               \
        "`X-aws-ec2-metadata-token-ttl-seconds` header to specify the token's lifetime."
#define TEXT "text/plain"
#define JSON "application/json"

static const char store_text[] =
    "{\"phones\": {\"mobile\": \"+442345678\", \"home\": {\"UK\": \"+441234567\", "
    "\"RO\": \"+401234567\"}}, \"name\": {\"second\": \"Doe\", \"first\": \"John\"}, "
    "\"age\": 43, \"list\": [\"zero\", {\"k\": \"v\"}, 2], \"a/b\": \"slash\", \"t~\": \"tilde\","
    "\"empty\": {}}";

static uint64_t fake_now = 1000000;

static uint64_t fake_clock(void)
{
        return fake_now;
}

struct fixture {
        json_t *store;
        struct mmds_service svc;
};

static struct fixture *setup(unsigned int version, bool imds_compat)
{
        struct fixture *f = calloc(1, sizeof(*f));
        struct mmds_cfg cfg = {.present = true, .version = version, .imds_compat = imds_compat};

        assert_non_null(f);
        f->store = json_loads(store_text, 0, NULL);
        assert_non_null(f->store);
        assert_int_equal(mmds_service_start(&f->svc, &f->store, &cfg, "vm-1"), 0);
        f->svc.tokens.now_ms = fake_clock;
        return f;
}

static void teardown(struct fixture *f)
{
        mmds_service_fini(&f->svc);
        json_decref(f->store);
        free(f);
}

/* The whole answer to req as a NUL-terminated string (freed by the caller). */
static char *ask(struct fixture *f, const char *req, size_t req_len)
{
        uint8_t *resp = NULL;
        size_t n = 0;
        char *s;

        assert_int_equal(mmds_http_answer(&f->svc, (const uint8_t *)req, req_len, &resp, &n), 0);
        s = malloc(n + 1);
        assert_non_null(s);
        memcpy(s, resp, n);
        s[n] = '\0';
        free(resp);
        return s;
}

/* micro_http's bytes for a response: status line, fixed headers, extra, type, length, body. */
static char *expected(const char *ver, int code, const char *extra, const char *type,
                      const char *body)
{
        char *s = NULL;

        assert_true(asprintf(&s,
                             "HTTP/%s %d \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
                             "%sContent-Type: %s\r\nContent-Length: %zu\r\n\r\n%s",
                             ver, code, extra, type, strlen(body), body) > 0);
        return s;
}

static void check_len(struct fixture *f, const char *req, size_t len, const char *ver, int code,
                      const char *extra, const char *type, const char *body)
{
        char *got = ask(f, req, len), *want = expected(ver, code, extra, type, body);

        assert_string_equal(got, want);
        free(got);
        free(want);
}

static void check(struct fixture *f, const char *req, const char *ver, int code, const char *type,
                  const char *body)
{
        check_len(f, req, strlen(req), ver, code, "", type, body);
}

/* The body of an answer (after the blank line), copied. */
static char *body_of(const char *resp)
{
        const char *p = strstr(resp, "\r\n\r\n");

        assert_non_null(p);
        return strdup(p + 4);
}

/* A token from PUT /latest/api/token with the given ttl header value. */
static char *get_token(struct fixture *f, const char *ttl)
{
        char req[256], *resp, *tok;

        snprintf(req, sizeof(req),
                 "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: %s\r\n\r\n", ttl);
        resp = ask(f, req, strlen(req));
        assert_non_null(strstr(resp, "HTTP/1.1 200 \r\n"));
        tok = body_of(resp);
        free(resp);
        assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
        return tok;
}

static char *get_with_token(const char *path, const char *hdr, const char *tok)
{
        char *s = NULL;

        assert_true(asprintf(&s, "GET %s HTTP/1.1\r\n%s: %s\r\n\r\n", path, hdr, tok) > 0);
        return s;
}

/* ---- requests micro_http cannot parse: the TCP endpoint's answers ---------------------------- */

static void bad(struct fixture *f, const char *req, int code, const char *body)
{
        check_len(f, req, strlen(req), "1.1", code, "", JSON, body);
}

static void test_unparsable(void **state)
{
        struct fixture *f = setup(1, false);

        (void)state;
        bad(f, "GET / HTTP/1.1\r\n", 400, "Invalid request.");     /* no blank line */
        bad(f, "GET / HTTP/1.1\n\n", 400, "Invalid request.");     /* LF only */
        bad(f, "GET /\r\n\r\n", 400, "Invalid request.");          /* request line too short */
        bad(f, "GET_/_HTTP/1.1\r\n\r\n", 400, "Invalid request."); /* no spaces */
        bad(f, "POST / HTTP/1.1\r\n\r\n", 501, "Unsupported HTTP method.");
        bad(f, "get / HTTP/1.1\r\n\r\n", 501, "Unsupported HTTP method.");
        bad(f, "GET / HTTP/2.0\r\n\r\n", 501, "Unsupported HTTP version.");
        bad(f, "GET / HTTP/1.1 x\r\n\r\n", 501, "Unsupported HTTP version.");
        bad(f, "GET  HTTP/1.1x\r\n\r\n", 400, "Empty URI not allowed.");
        bad(f, "GET /\xff HTTP/1.1\r\n\r\n", 400, "Cannot parse URI as UTF-8.");
        bad(f, "GET / HTTP/1.1\r\nno colon\r\n\r\n", 400,
            "Header is incorrectly formatted. Key: no colon");
        bad(f, "GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400,
            "Invalid value. Key:Content-Length; Value: abc");
        bad(f, "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400,
            "Invalid value. Key:Content-Length; Value: -1");
        /* a body is never allowed on GET, and a PUT's must be there in full */
        bad(f, "GET / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", 400, "Invalid request.");
        bad(f, "PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\n", 400, "Invalid request.");
        bad(f, "GET / HTTP/1.1\r\nAccept-Encoding: gzip, identity;q=0\r\n\r\n", 400,
            "Invalid value. Key:Accept-Encoding; Value: identity;q=0");
        bad(f, "GET / HTTP/1.1\r\nAccept-Encoding: *;q=0\r\n\r\n", 400,
            "Invalid value. Key:Accept-Encoding; Value:*;q=0");
        bad(f, "GET / HTTP/1.1\r\nAccept-Encoding:  \r\n\r\n", 400, "Invalid request.");
        bad(f, "GET / HTTP/1.1\r\nX-a: \xc3\r\n\r\n", 400, "Invalid request.");
        teardown(f);
}

/* What micro_http lets through: unsupported values of known headers are ignored. */
static void test_tolerated_headers(void **state)
{
        struct fixture *f = setup(1, false);
        const char *req = "GET /age HTTP/1.1\r\nAccept: */*\r\nExpect: 103-checkpoint\r\n"
                          "Transfer-Encoding: gzip\r\nContent-Type: x/y\r\nServer: s\r\n"
                          "Accept-Encoding: *;q=0, identity\r\nContent-Length: 0\r\n\r\n";

        (void)state;
        check(f, req, "1.1", 501, TEXT,
              "Cannot retrieve value. The value has an unsupported type.");
        /* an unsupported Accept keeps the previous one */
        check(f, "GET /age HTTP/1.1\r\nAccept: application/json\r\nAccept: */*\r\n\r\n", "1.1", 200,
              JSON, "43");
        /* names and values are trimmed; names are case-insensitive */
        check(f, "GET /age HTTP/1.1\r\n  aCCept \t:\t application/json  \r\n\r\n", "1.1", 200, JSON,
              "43");
        teardown(f);
}

/*
 * No 413 on this path: micro_http parses the guest's bytes without a size limit (the TCP
 * endpoint's receive buffer bounds a request), so a long request is answered normally.
 */
static void test_no_size_limit(void **state)
{
        struct fixture *f = setup(1, false);
        size_t n = 20000;
        char *req = malloc(n + 64);

        (void)state;
        assert_non_null(req);
        strcpy(req, "GET /name/second HTTP/1.1\r\nX-pad: ");
        memset(req + strlen(req), 'p', n);
        strcpy(req + strlen("GET /name/second HTTP/1.1\r\nX-pad: ") + n, "\r\n\r\n");
        check(f, req, "1.1", 200, TEXT, "Doe");
        free(req);
        teardown(f);
}

/* ---- convert_to_response() ------------------------------------------------------------------- */

static void test_invalid_uri_and_methods(void **state)
{
        struct fixture *f = setup(2, false);

        (void)state;
        check(f, "GET http://169.254.169.254 HTTP/1.0\r\n\r\n", "1.0", 400, TEXT, "Invalid URI.");
        check(f, "GET latest HTTP/1.1\r\n\r\n", "1.1", 400, TEXT, "Invalid URI.");
        check_len(f, "PATCH / HTTP/1.0\r\n\r\n", 20, "1.0", 405, "Allow: GET, PUT\r\n", TEXT,
                  "Not allowed HTTP method.");
        check_len(f, "DELETE /x HTTP/1.1\r\n\r\n", 22, "1.1", 405, "Allow: GET, PUT\r\n", TEXT,
                  "Not allowed HTTP method.");
        teardown(f);
}

static void test_v1_json_and_imds(void **state)
{
        struct fixture *f = setup(1, false);

        (void)state;
        check(f, "GET / HTTP/1.0\r\nAccept: application/json\r\n\r\n", "1.0", 200, JSON,
              "{\"a/b\":\"slash\",\"age\":43,\"empty\":{},\"list\":[\"zero\",{\"k\":\"v\"},2],"
              "\"name\":{\"first\":\"John\",\"second\":\"Doe\"},\"phones\":{\"home\":{\"RO\":"
              "\"+401234567\",\"UK\":\"+441234567\"},\"mobile\":\"+442345678\"},\"t~\":\"tilde\"}");
        /* IMDS: keys in order, '/' after objects; the default Accept is text/plain */
        check(f, "GET http://169.254.169.254/ HTTP/1.1\r\n\r\n", "1.1", 200, TEXT,
              "a/b\nage\nempty/\nlist\nname/\nphones/\nt~");
        check(f, "GET /phones/home HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "RO\nUK");
        check(f, "GET /phones/home/ HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "RO\nUK");
        check(f, "GET //phones///home// HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "RO\nUK");
        check(f, "GET /phones/home/UK HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "+441234567");
        check(f, "GET /phones/home/UK/ HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "+441234567");
        check(f, "GET /empty HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "");
        check(f, "GET /name HTTP/1.1\r\nAccept: application/json\r\n\r\n", "1.1", 200, JSON,
              "{\"first\":\"John\",\"second\":\"Doe\"}");
        check(f, "GET /name/first HTTP/1.1\r\nAccept: application/json\r\n\r\n", "1.1", 200, JSON,
              "\"John\"");
        /* arrays: JSON only; indexes as serde_json's pointer reads them */
        check(f, "GET /list HTTP/1.1\r\nAccept: application/json\r\n\r\n", "1.1", 200, JSON,
              "[\"zero\",{\"k\":\"v\"},2]");
        check(f, "GET /list/1/k HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "v");
        check(f, "GET /list/0 HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "zero");
        check(f, "GET /list/01 HTTP/1.1\r\n\r\n", "1.1", 404, TEXT,
              "Resource not found: /list/01.");
        check(f, "GET /list/+1 HTTP/1.1\r\n\r\n", "1.1", 404, TEXT,
              "Resource not found: /list/+1.");
        check(f, "GET /list/3 HTTP/1.1\r\n\r\n", "1.1", 404, TEXT, "Resource not found: /list/3.");
        check(f, "GET /list HTTP/1.1\r\n\r\n", "1.1", 501, TEXT,
              "Cannot retrieve value. The value has an unsupported type.");
        check(f, "GET /age HTTP/1.1\r\n\r\n", "1.1", 501, TEXT,
              "Cannot retrieve value. The value has an unsupported type.");
        /* JSON pointer escapes */
        check(f, "GET /a~1b HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "slash");
        check(f, "GET /t~0 HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "tilde");
        /* 404 quotes the path as the guest wrote it */
        check(f, "GET //nope//x HTTP/1.1\r\n\r\n", "1.1", 404, TEXT,
              "Resource not found: //nope//x.");
        check(f, "GET /name/first/x HTTP/1.1\r\n\r\n", "1.1", 404, TEXT,
              "Resource not found: /name/first/x.");
        teardown(f);
}

static void test_imds_compat(void **state)
{
        struct fixture *f = setup(1, true);

        (void)state;
        /* the text ignores Accept, the Content-Type does not */
        check(f, "GET /name HTTP/1.1\r\nAccept: application/json\r\n\r\n", "1.1", 200, JSON,
              "first\nsecond");
        check(f, "GET /name/first HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "John");
        check(f, "GET /age HTTP/1.1\r\nAccept: application/json\r\n\r\n", "1.1", 501, TEXT,
              "Cannot retrieve value. The value has an unsupported type.");
        teardown(f);
}

static void test_v1_tokens_only_counted(void **state)
{
        struct fixture *f = setup(1, false);
        uint64_t none = metrics.mmds.rx_no_token.value;
        uint64_t invalid = metrics.mmds.rx_invalid_token.value;
        char *tok, *req;

        (void)state;
        check(f, "GET /name/first HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "John");
        assert_int_equal(metrics.mmds.rx_no_token.value, none + 1);
        check(f, "GET /name/first HTTP/1.1\r\nX-metadata-token: bogus\r\n\r\n", "1.1", 200, TEXT,
              "John");
        assert_int_equal(metrics.mmds.rx_invalid_token.value, invalid + 1);
        tok = get_token(f, "60");
        req = get_with_token("/name/first", "X-metadata-token", tok);
        check(f, req, "1.1", 200, TEXT, "John");
        assert_int_equal(metrics.mmds.rx_no_token.value, none + 1);
        assert_int_equal(metrics.mmds.rx_invalid_token.value, invalid + 1);
        free(req);
        free(tok);
        teardown(f);
}

/* ---- V2 sessions ----------------------------------------------------------------------------- */

static void test_v2_requires_token(void **state)
{
        struct fixture *f = setup(2, false);
        uint64_t none = metrics.mmds.rx_no_token.value;
        uint64_t invalid = metrics.mmds.rx_invalid_token.value;
        char *tok, *req;

        (void)state;
        check(f, "GET /name/first HTTP/1.0\r\n\r\n", "1.0", 401, TEXT, NO_TOKEN);
        assert_int_equal(metrics.mmds.rx_no_token.value, none + 1);
        check(f, "GET /name/first HTTP/1.1\r\nX-metadata-token: bogus\r\n\r\n", "1.1", 401, TEXT,
              "MMDS token not valid.");
        assert_int_equal(metrics.mmds.rx_invalid_token.value, invalid + 1);
        tok = get_token(f, "60");
        req = get_with_token("/name/first", "x-METADATA-token", tok);
        check(f, req, "1.1", 200, TEXT, "John");
        free(req);
        req = get_with_token("/name/first", "X-aws-ec2-metadata-token", tok);
        check(f, req, "1.1", 200, TEXT, "John");
        free(req);
        /* a ttl header on a GET is ignored, whatever its value */
        req = get_with_token("/name/first", "X-metadata-token-ttl-seconds: x\r\nX-metadata-token",
                             tok);
        check(f, req, "1.1", 200, TEXT, "John");
        free(req);
        /* one changed character */
        tok[10] = tok[10] == 'A' ? 'B' : 'A';
        req = get_with_token("/name/first", "X-metadata-token", tok);
        check(f, req, "1.1", 401, TEXT, "MMDS token not valid.");
        free(req);
        free(tok);
        teardown(f);
}

static void test_token_expiry(void **state)
{
        struct fixture *f = setup(2, false);
        char *tok = get_token(f, "2"), *req = get_with_token("/age", "X-metadata-token", tok);

        (void)state;
        fake_now += 1999;
        check(f, req, "1.1", 501, TEXT,
              "Cannot retrieve value. The value has an unsupported type.");
        fake_now += 1;
        check(f, req, "1.1", 401, TEXT, "MMDS token not valid.");
        free(req);
        free(tok);
        teardown(f);
}

static void test_token_ttl_bounds(void **state)
{
        struct fixture *f = setup(2, false);

        (void)state;
        free(get_token(f, "1"));
        free(get_token(f, "21600"));
        free(get_token(f, "+7"));
        check(f, "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 0\r\n\r\n", "1.1",
              400, TEXT,
              "Invalid time to live value provided for token: 0. Please provide a value between 1 "
              "and 21600.");
        check(f, "PUT /latest/api/token HTTP/1.0\r\nX-metadata-token-ttl-seconds: 21601\r\n\r\n",
              "1.0", 400, TEXT,
              "Invalid time to live value provided for token: 21601. Please provide a value "
              "between 1 and 21600.");
        check(f,
              "PUT /latest/api/token HTTP/1.1\r\nx-metadata-token-ttl-seconds: application/json\r\n"
              "\r\n",
              "1.1", 400, TEXT,
              "Invalid header. Reason: Invalid value. Key:x-metadata-token-ttl-seconds; "
              "Value:application/json");
        check(f,
              "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 4294967296\r\n\r\n",
              "1.1", 400, TEXT,
              "Invalid header. Reason: Invalid value. Key:X-metadata-token-ttl-seconds; "
              "Value:4294967296");
        check(f, "PUT /latest/api/token HTTP/1.1\r\n\r\n", "1.1", 400, TEXT, NO_TTL);
        teardown(f);
}

/* The token's bytes change every time: compare everything else. */
static void test_token_response_shape(void **state)
{
        struct fixture *f = setup(1, false);
        const char *req = "PUT //latest//api/token HTTP/1.0\r\nX-aws-ec2-metadata-token-ttl-"
                          "seconds: 007\r\n\r\n";
        char *got = ask(f, req, strlen(req)), *tok = body_of(got), *want;

        (void)state;
        assert_int_equal(strlen(tok), MMDS_TOKEN_LEN);
        want = NULL;
        assert_true(
            asprintf(&want,
                     "HTTP/1.0 200 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n"
                     "X-aws-ec2-metadata-token-ttl-seconds: 7\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 48\r\n\r\n%s",
                     tok) > 0);
        assert_string_equal(got, want);
        free(want);
        free(tok);
        free(got);
        teardown(f);
}

static void test_put_refusals(void **state)
{
        struct fixture *f = setup(2, false);

        (void)state;
        check(f,
              "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n"
              "x-fOrWaRdEd-FoR : 203.0.113.195\r\n\r\n",
              "1.1", 400, TEXT,
              "Invalid header. Reason: Unsupported header name. Key: x-fOrWaRdEd-FoR");
        check(f, "PUT /token HTTP/1.0\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n", "1.0", 404,
              TEXT, "Resource not found: /token.");
        check(f, "PUT /latest/api/token/ HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n",
              "1.1", 404, TEXT, "Resource not found: /latest/api/token/.");
        /* the forwarded check comes before the path check */
        check(f, "PUT /x HTTP/1.1\r\nX-Forwarded-For: a\r\n\r\n", "1.1", 400, TEXT,
              "Invalid header. Reason: Unsupported header name. Key: X-Forwarded-For");
        teardown(f);
}

/* Tokens are bound to the key and to the instance id (the AEAD's associated data). */
static void test_token_binding(void **state)
{
        struct fixture *a = setup(2, false), *b = setup(2, false);
        struct mmds_cfg cfg = {.present = true, .version = 2};
        char *tok = get_token(a, "60"),
             *req = get_with_token("/name/first", "X-metadata-token", tok);

        (void)state;
        check(b, req, "1.1", 401, TEXT, "MMDS token not valid."); /* another key */
        /* same key, other instance id */
        b->svc.tokens.gcm = a->svc.tokens.gcm;
        b->svc.tokens.aad_len =
            (size_t)snprintf(b->svc.tokens.aad, sizeof(b->svc.tokens.aad), "microvmid=vm-2");
        check(b, req, "1.1", 401, TEXT, "MMDS token not valid.");
        memcpy(b->svc.tokens.aad, a->svc.tokens.aad, sizeof(a->svc.tokens.aad));
        b->svc.tokens.aad_len = a->svc.tokens.aad_len;
        check(b, req, "1.1", 200, TEXT, "John");
        /* a restart draws a new key */
        mmds_service_fini(&a->svc);
        assert_int_equal(mmds_service_start(&a->svc, &a->store, &cfg, "vm-1"), 0);
        a->svc.tokens.now_ms = fake_clock;
        check(a, req, "1.1", 401, TEXT, "MMDS token not valid.");
        free(req);
        free(tok);
        teardown(a);
        teardown(b);
}

static void test_key_rotation(void **state)
{
        struct fixture *f = setup(2, false);
        char *t1, *t2, *t3, *r1, *r3;

        (void)state;
        f->svc.tokens.key_limit = 2;
        t1 = get_token(f, "60");
        t2 = get_token(f, "60");
        assert_string_not_equal(t1, t2);
        t3 = get_token(f, "60"); /* the third needs a new key: the first two die */
        r1 = get_with_token("/name/first", "X-metadata-token", t1);
        r3 = get_with_token("/name/first", "X-metadata-token", t3);
        check(f, r1, "1.1", 401, TEXT, "MMDS token not valid.");
        check(f, r3, "1.1", 200, TEXT, "John");
        free(r1);
        free(r3);
        free(t1);
        free(t2);
        free(t3);
        teardown(f);
}

/* The service reads the store through its owner's pointer: replacements are served at once. */
static void test_store_changes(void **state)
{
        struct fixture *f = setup(1, false);

        (void)state;
        json_decref(f->store);
        f->store = NULL; /* never written: serde_json's Value::Null */
        check(f, "GET / HTTP/1.1\r\nAccept: application/json\r\n\r\n", "1.1", 200, JSON, "null");
        check(f, "GET / HTTP/1.1\r\n\r\n", "1.1", 501, TEXT,
              "Cannot retrieve value. The value has an unsupported type.");
        check(f, "GET /x HTTP/1.1\r\n\r\n", "1.1", 404, TEXT, "Resource not found: /x.");
        f->store = json_pack("{s:s}", "new", "value");
        check(f, "GET /new HTTP/1.1\r\n\r\n", "1.1", 200, TEXT, "value");
        teardown(f);
}

/* ---- serde_json's writer --------------------------------------------------------------------- */

static void expect_json(const char *in, const char *out)
{
        json_t *v = json_loads(in, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        struct mmds_buf b = {0};

        assert_non_null(v);
        mmds_json_write(&b, v);
        mmds_buf_add(&b, "", 1);
        assert_false(b.oom);
        assert_string_equal(b.p, out);
        assert_int_equal(mmds_json_size(v), strlen(out)); /* what the size limit counts */
        free(b.p);
        json_decref(v);
}

static void test_json_writer(void **state)
{
        (void)state;
        expect_json(
            "[1.0, 0.1, 1e-7, 1e16, 1e15, 123.456, -0.0, 0.0, 1.5e300, 2.5e-5, 2.5e-6, 0.00012]",
            "[1.0,0.1,1e-7,1e16,1000000000000000.0,123.456,-0.0,0.0,1.5e300,0.000025,2.5e-6,"
            "0.00012]");
        expect_json("[-7, 9223372036854775807, true, false, null, {}, []]",
                    "[-7,9223372036854775807,true,false,null,{},[]]");
        expect_json("\"q\\\" b\\\\ /\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u00e9\"",
                    "\"q\\\" b\\\\ /\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xc3\xa9\"");
        /* keys in byte order, the shorter first on a common prefix */
        expect_json("{\"b\":1,\"B\":2,\"ab\":3,\"a\":4,\"\\u00e9\":5}",
                    "{\"B\":2,\"a\":4,\"ab\":3,\"b\":1,\"\xc3\xa9\":5}");
}

static void test_helpers(void **state)
{
        uint32_t v;
        struct mmds_span s;

        (void)state;
        assert_int_equal(mmds_parse_u32((struct mmds_span){"4294967295", 10}, &v), 0);
        assert_int_equal(v, 4294967295u);
        assert_int_not_equal(mmds_parse_u32((struct mmds_span){"+", 1}, &v), 0);
        assert_int_not_equal(mmds_parse_u32((struct mmds_span){"", 0}, &v), 0);
        assert_int_not_equal(mmds_parse_u32((struct mmds_span){"1 2", 3}, &v), 0);
        /* Unicode White_Space: NBSP, U+3000, U+2028 and ASCII VT are trimmed; U+200B is not */
        s = mmds_trim((struct mmds_span){"\xc2\xa0\v a \xe3\x80\x80\xe2\x80\xa8", 12});
        assert_int_equal(s.n, 1);
        assert_int_equal(s.p[0], 'a');
        s = mmds_trim((struct mmds_span){"\xe2\x80\x8b"
                                         "a",
                                         4});
        assert_int_equal(s.n, 4);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_unparsable),
            cmocka_unit_test(test_tolerated_headers),
            cmocka_unit_test(test_no_size_limit),
            cmocka_unit_test(test_invalid_uri_and_methods),
            cmocka_unit_test(test_v1_json_and_imds),
            cmocka_unit_test(test_imds_compat),
            cmocka_unit_test(test_v1_tokens_only_counted),
            cmocka_unit_test(test_v2_requires_token),
            cmocka_unit_test(test_token_expiry),
            cmocka_unit_test(test_token_ttl_bounds),
            cmocka_unit_test(test_token_response_shape),
            cmocka_unit_test(test_put_refusals),
            cmocka_unit_test(test_token_binding),
            cmocka_unit_test(test_key_rotation),
            cmocka_unit_test(test_store_changes),
            cmocka_unit_test(test_json_writer),
            cmocka_unit_test(test_helpers),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
