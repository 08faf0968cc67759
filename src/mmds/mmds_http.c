/* Firecracker's MMDS answers: parse errors, GET (V1/V2) into the store, PUT for session tokens. */
#include "mmds/mmds_http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"
#include "mmds/mmds_json.h"
#include "mmds/mmds_req.h"
#include "mmds/mmds_service.h"

#define PATH_TO_TOKEN "/latest/api/token"

#define MSG_INVALID_URI "Invalid URI."
#define MSG_NOT_ALLOWED "Not allowed HTTP method."
#define MSG_BAD_TOKEN   "MMDS token not valid."
#define MSG_UNSUPPORTED "Cannot retrieve value. The value has an unsupported type."
#define MSG_NO_TOKEN                                                                               \
        "No MMDS token provided. Use `X-metadata-token` or `X-aws-ec2-metadata-token` header to "  \
        "specify the session token."
#define MSG_NO_TTL                                                                                 \
        "Token time to live value not found. Use `X-metadata-token-ttl-seconds` or "               \
        "`X-aws-ec2-metadata-token-ttl-seconds` header to specify the token's lifetime."

/* A micro_http Response being built. */
struct resp {
        bool http10;
        int status;
        bool json;  /* Content-Type: application/json (else text/plain) */
        bool allow; /* Allow: GET, PUT */
        struct mmds_span hname;
        char hval[16]; /* one custom header: hname: hval (hname.p NULL: none) */
        struct mmds_buf body;
};

static void set(struct resp *r, int status, bool json, const char *body)
{
        r->status = status;
        r->json = json;
        r->body.n = 0;
        mmds_buf_str(&r->body, body);
}

static void add_span(struct mmds_buf *b, struct mmds_span s)
{
        mmds_buf_add(b, s.p, s.n);
}

/* parse_request_bytes(): what the TCP endpoint answers a request micro_http cannot parse. */
static void parse_error(const struct mmds_req *req, struct resp *r)
{
        static const char *const texts[] = {
            [MMDS_REQ_INVALID] = "Invalid request.",
            [MMDS_REQ_EMPTY_URI] = "Empty URI not allowed.",
            [MMDS_REQ_URI_UTF8] = "Cannot parse URI as UTF-8.",
            [MMDS_REQ_METHOD] = "Unsupported HTTP method.",
            [MMDS_REQ_VERSION] = "Unsupported HTTP version.",
        };

        /* the endpoint's Response::new(Version::default(), ..) keeps the JSON content type */
        r->http10 = false;
        r->status = req->error == MMDS_REQ_METHOD || req->error == MMDS_REQ_VERSION ? 501 : 400;
        r->json = true;
        if (req->error == MMDS_REQ_HDR_FORMAT) {
                mmds_buf_str(&r->body, "Header is incorrectly formatted. Key: ");
                add_span(&r->body, req->err_a);
        } else if (req->error == MMDS_REQ_HDR_VALUE || req->error == MMDS_REQ_HDR_ENCODING) {
                mmds_buf_str(&r->body, "Invalid value. Key:");
                add_span(&r->body, req->err_a);
                mmds_buf_str(&r->body, "; Value:");
                add_span(&r->body, req->err_b);
        } else {
                mmds_buf_str(&r->body, texts[req->error]);
        }
}

/* sanitize_uri(): every run of '/' becomes one; a malloc'd copy (NULL on ENOMEM). */
static char *sanitize(struct mmds_span path, size_t *n)
{
        char *out = malloc(path.n + 1);
        size_t i, o = 0;

        if (!out)
                return NULL;
        for (i = 0; i < path.n; i++)
                if (!(path.p[i] == '/' && o && out[o - 1] == '/'))
                        out[o++] = path.p[i];
        out[o] = '\0';
        *n = o;
        return out;
}

static void not_found(const struct mmds_req *req, struct resp *r)
{
        set(r, 404, false, "Resource not found: ");
        add_span(&r->body, req->path);
        mmds_buf_str(&r->body, ".");
}

/* respond_to_get_request() with Mmds::get_value(): the value at the path, JSON or IMDS. */
static void get_value(const struct mmds_service *svc, const struct mmds_req *req, struct resp *r)
{
        const json_t *v;
        size_t n;
        char *path = sanitize(req->path, &n);

        if (!path) {
                r->body.oom = true;
                return;
        }
        /* a trailing '/' names the same node (serde's pointer would look for a "" key) */
        v = mmds_json_pointer(*svc->store, path, n && path[n - 1] == '/' ? n - 1 : n);
        free(path);
        if (!v) {
                not_found(req, r);
                return;
        }
        /* the Content-Type follows Accept even when imds_compat forces the IMDS text */
        set(r, 200, req->accept_json, "");
        if (!svc->imds_compat && req->accept_json)
                mmds_json_write(&r->body, v);
        else if (mmds_json_imds(&r->body, v))
                set(r, 501, false, MSG_UNSUPPORTED);
}

/* V1 serves everyone and only counts missing or bad tokens; V2 requires a valid one. */
static void get(struct mmds_service *svc, const struct mmds_req *req, struct resp *r)
{
        bool ok = req->token.present &&
                  mmds_tokens_valid(&svc->tokens, req->token.value.p, req->token.value.n);

        if (!req->token.present)
                metrics_inc(&metrics.mmds.rx_no_token);
        else if (!ok)
                metrics_inc(&metrics.mmds.rx_invalid_token);
        if (svc->version == 2 && !ok) {
                set(r, 401, false, req->token.present ? MSG_BAD_TOKEN : MSG_NO_TOKEN);
                return;
        }
        get_value(svc, req, r);
}

/* The token's lifetime header: 400 texts for a missing, unparsable or out-of-range value. */
static int ttl_of(const struct mmds_req *req, struct resp *r, uint32_t *ttl)
{
        char msg[128];

        if (!req->ttl.present) {
                set(r, 400, false, MSG_NO_TTL);
                return -EINVAL;
        }
        if (mmds_parse_u32(req->ttl.value, ttl)) {
                set(r, 400, false, "Invalid header. Reason: Invalid value. Key:");
                add_span(&r->body, req->ttl.name);
                mmds_buf_str(&r->body, "; Value:");
                add_span(&r->body, req->ttl.value);
                return -EINVAL;
        }
        if (*ttl < MMDS_TOKEN_TTL_MIN || *ttl > MMDS_TOKEN_TTL_MAX) {
                snprintf(msg, sizeof(msg),
                         "Invalid time to live value provided for token: %" PRIu32
                         ". Please provide a value between %u and %u.",
                         *ttl, MMDS_TOKEN_TTL_MIN, MMDS_TOKEN_TTL_MAX);
                set(r, 400, false, msg);
                return -EINVAL;
        }
        return 0;
}

/* respond_to_put_request(): only PUT /latest/api/token, never with X-Forwarded-For. */
static void put(struct mmds_service *svc, const struct mmds_req *req, struct resp *r)
{
        char token[MMDS_TOKEN_LEN + 1];
        uint32_t ttl;
        size_t n;
        char *path;
        bool is_token;

        if (req->forwarded.present) {
                set(r, 400, false, "Invalid header. Reason: Unsupported header name. Key: ");
                add_span(&r->body, req->forwarded.name);
                return;
        }
        path = sanitize(req->path, &n);
        if (!path) {
                r->body.oom = true;
                return;
        }
        is_token = strcmp(path, PATH_TO_TOKEN) == 0 && n == strlen(PATH_TO_TOKEN);
        free(path);
        if (!is_token) {
                not_found(req, r);
                return;
        }
        if (ttl_of(req, r, &ttl))
                return;
        if (mmds_tokens_issue(&svc->tokens, ttl, token)) {
                set(r, 400, false, "Failed to generate a key");
                return;
        }
        set(r, 200, false, token);
        r->hname = req->ttl.name;
        snprintf(r->hval, sizeof(r->hval), "%" PRIu32, ttl);
}

/* convert_to_response(). */
static void respond(struct mmds_service *svc, const struct mmds_req *req, struct resp *r)
{
        r->http10 = req->http10;
        if (req->path.n == 0) {
                set(r, 400, false, MSG_INVALID_URI);
                return;
        }
        if (req->method == MMDS_GET) {
                get(svc, req, r);
        } else if (req->method == MMDS_PUT) {
                put(svc, req, r);
        } else {
                set(r, 405, false, MSG_NOT_ALLOWED);
                r->allow = true;
        }
}

/* Response::write_all(): status line, Server, Connection, Allow, custom, type, length, body. */
static int serialize(const struct resp *r, uint8_t **out, size_t *out_len)
{
        struct mmds_buf b = {0};
        char line[64];

        snprintf(line, sizeof(line), "HTTP/1.%c %d \r\n", r->http10 ? '0' : '1', r->status);
        mmds_buf_str(&b, line);
        mmds_buf_str(&b, "Server: Firecracker API\r\nConnection: keep-alive\r\n");
        if (r->allow)
                mmds_buf_str(&b, "Allow: GET, PUT\r\n");
        if (r->hname.p) {
                add_span(&b, r->hname);
                mmds_buf_str(&b, ": ");
                mmds_buf_str(&b, r->hval);
                mmds_buf_str(&b, "\r\n");
        }
        snprintf(line, sizeof(line), "Content-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                 r->json ? "application/json" : "text/plain", r->body.n);
        mmds_buf_str(&b, line);
        mmds_buf_add(&b, r->body.p, r->body.n);
        if (b.oom) {
                free(b.p);
                return -ENOMEM;
        }
        *out = (uint8_t *)b.p;
        *out_len = b.n;
        return 0;
}

int mmds_http_answer(struct mmds_service *svc, const uint8_t *req, size_t len, uint8_t **resp,
                     size_t *resp_len)
{
        struct resp r = {0};
        struct mmds_req q;
        int rc;

        if (mmds_req_parse(req, len, &q) != MMDS_REQ_OK)
                parse_error(&q, &r);
        else
                respond(svc, &q, &r);
        rc = r.body.oom ? -ENOMEM : serialize(&r, resp, resp_len);
        free(r.body.p);
        return rc;
}
