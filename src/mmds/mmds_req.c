/* micro_http's one-shot request parsing (the MMDS path), with its error cases and texts. */
#include "mmds/mmds_req.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "core/text.h"

/* Method SP version CRLF: "GET" + 1 + "HTTP/1.0" + 2, micro_http's RequestLine::min_len(). */
#define MIN_REQUEST_LINE 14u

/* Byte length of a White_Space code point starting at p (n bytes left), or 0. */
static size_t ws_at(const unsigned char *p, size_t n)
{
        if (p[0] == ' ' || (p[0] >= 0x09 && p[0] <= 0x0d))
                return 1;
        if (n >= 2 && p[0] == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0))
                return 2;
        if (n < 3)
                return 0;
        if (p[0] == 0xe1 && p[1] == 0x9a && p[2] == 0x80) /* U+1680 */
                return 3;
        if (p[0] == 0xe3 && p[1] == 0x80 && p[2] == 0x80) /* U+3000 */
                return 3;
        if (p[0] != 0xe2)
                return 0;
        if (p[1] == 0x80 && (p[2] <= 0x8a || p[2] == 0xa8 || p[2] == 0xa9 || p[2] == 0xaf))
                return 3;                 /* U+2000..200A, U+2028, U+2029, U+202F */
        if (p[1] == 0x81 && p[2] == 0x9f) /* U+205F */
                return 3;
        return 0;
}

/* Byte length of a White_Space code point ending at p + n, or 0 (valid UTF-8 assumed). */
static size_t ws_before(const unsigned char *p, size_t n)
{
        size_t k;

        for (k = 1; k <= 3 && k <= n; k++) {
                /* the code point starts at the first non-continuation byte going back */
                if ((p[n - k] & 0xc0) != 0x80)
                        return ws_at(p + n - k, k) == k ? k : 0;
        }
        return 0;
}

struct mmds_span mmds_trim(struct mmds_span s)
{
        size_t k;

        while (s.n && (k = ws_at((const unsigned char *)s.p, s.n)) != 0) {
                s.p += k;
                s.n -= k;
        }
        while (s.n && (k = ws_before((const unsigned char *)s.p, s.n)) != 0)
                s.n -= k;
        return s;
}

int mmds_parse_u32(struct mmds_span s, uint32_t *out)
{
        uint64_t v = 0;
        size_t i = 0;

        if (s.n && s.p[0] == '+')
                i = 1;
        if (i == s.n)
                return -EINVAL;
        for (; i < s.n; i++) {
                if (s.p[i] < '0' || s.p[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s.p[i] - '0');
                if (v > UINT32_MAX)
                        return -EINVAL;
        }
        *out = (uint32_t)v;
        return 0;
}

/* Position of the first occurrence of pat (m bytes) in s[0, n), or n. */
static size_t find(const char *s, size_t n, const char *pat, size_t m)
{
        size_t i;

        for (i = 0; i + m <= n; i++)
                if (memcmp(s + i, pat, m) == 0)
                        return i;
        return n;
}

static bool span_eq(struct mmds_span s, const char *lit)
{
        return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

static bool span_caseeq(struct mmds_span s, const char *lit)
{
        return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

static enum mmds_req_error fail(struct mmds_req *req, enum mmds_req_error e, struct mmds_span a,
                                struct mmds_span b)
{
        req->error = e;
        req->err_a = a;
        req->err_b = b;
        return e;
}

static const struct mmds_span none;

/* Uri::get_abs_path(): "http://host/p" -> "/p", "/p" -> "/p", anything else -> "". */
static struct mmds_span abs_path(struct mmds_span uri)
{
        static const char scheme[] = "http://";
        const size_t sl = sizeof(scheme) - 1;
        const char *slash;

        if (uri.n >= sl && memcmp(uri.p, scheme, sl) == 0) {
                slash = memchr(uri.p + sl, '/', uri.n - sl);
                if (!slash)
                        return (struct mmds_span){uri.p, 0};
                return (struct mmds_span){slash, uri.n - (size_t)(slash - uri.p)};
        }
        if (uri.n && uri.p[0] == '/')
                return uri;
        return (struct mmds_span){uri.p, 0};
}

static int parse_method(struct mmds_span m, enum mmds_method *out)
{
        static const char *const names[] = {"GET", "PUT", "PATCH", "DELETE"};
        unsigned int i;

        for (i = 0; i < 4; i++) {
                if (span_eq(m, names[i])) {
                        *out = (enum mmds_method)i;
                        return 0;
                }
        }
        return -EINVAL;
}

/* RequestLine::try_from(): split at the first two spaces; method, URI, version in turn. */
static enum mmds_req_error parse_request_line(struct mmds_span line, struct mmds_req *req)
{
        const char *sp1, *sp2;
        struct mmds_span m, uri, ver;

        sp1 = memchr(line.p, ' ', line.n);
        if (!sp1)
                return fail(req, MMDS_REQ_INVALID, none, none);
        sp2 = memchr(sp1 + 1, ' ', line.n - (size_t)(sp1 + 1 - line.p));
        if (!sp2)
                return fail(req, MMDS_REQ_INVALID, none, none);
        m = (struct mmds_span){line.p, (size_t)(sp1 - line.p)};
        uri = (struct mmds_span){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
        ver = (struct mmds_span){sp2 + 1, line.n - (size_t)(sp2 + 1 - line.p)};
        if (parse_method(m, &req->method))
                return fail(req, MMDS_REQ_METHOD, none, none);
        if (uri.n == 0)
                return fail(req, MMDS_REQ_EMPTY_URI, none, none);
        if (!utf8_valid(uri.p, uri.n))
                return fail(req, MMDS_REQ_URI_UTF8, none, none);
        if (span_eq(ver, "HTTP/1.0"))
                req->http10 = true;
        else if (!span_eq(ver, "HTTP/1.1"))
                return fail(req, MMDS_REQ_VERSION, none, none);
        req->path = abs_path(uri);
        return MMDS_REQ_OK;
}

/* Encoding::try_from(): "identity;q=0", or "*;q=0" without "identity", refuses identity. */
static enum mmds_req_error check_encoding(struct mmds_span v, struct mmds_req *req)
{
        static const struct mmds_span key = {"Accept-Encoding", 15};
        const char *p = v.p, *end = v.p + v.n, *comma;
        bool has_identity = find(v.p, v.n, "identity", 8) < v.n;
        struct mmds_span piece, t;

        if (v.n == 0)
                return fail(req, MMDS_REQ_INVALID, none, none);
        for (;;) {
                comma = memchr(p, ',', (size_t)(end - p));
                piece = (struct mmds_span){p, (size_t)((comma ? comma : end) - p)};
                t = mmds_trim(piece);
                if (span_eq(t, "identity;q=0") || (span_eq(t, "*;q=0") && !has_identity))
                        return fail(req, MMDS_REQ_HDR_ENCODING, key, piece);
                if (!comma)
                        return MMDS_REQ_OK;
                p = comma + 1;
        }
}

/* A header micro_http does not know: kept if it is one the service reads. */
static void custom_header(struct mmds_span name, struct mmds_span value, struct mmds_req *req)
{
        struct mmds_hdr h = {true, mmds_trim(name), mmds_trim(value)};

        if (span_caseeq(h.name, "x-metadata-token") ||
            span_caseeq(h.name, "x-aws-ec2-metadata-token"))
                req->token = h;
        else if (span_caseeq(h.name, "x-metadata-token-ttl-seconds") ||
                 span_caseeq(h.name, "x-aws-ec2-metadata-token-ttl-seconds"))
                req->ttl = h;
        else if (span_caseeq(h.name, "x-forwarded-for"))
                req->forwarded = h;
}

/* Headers::parse_header_line(), with Headers::try_from()'s tolerance of unsupported values. */
static enum mmds_req_error parse_header(struct mmds_span line, struct mmds_req *req,
                                        uint32_t *content_length)
{
        const char *colon = memchr(line.p, ':', line.n);
        struct mmds_span name, value, tname, tval;

        if (!colon)
                return fail(req, MMDS_REQ_HDR_FORMAT, line, none);
        name = (struct mmds_span){line.p, (size_t)(colon - line.p)};
        value = (struct mmds_span){colon + 1, line.n - name.n - 1};
        tname = mmds_trim(name);
        tval = mmds_trim(value);
        if (span_caseeq(tname, "content-length")) {
                if (mmds_parse_u32(tval, content_length))
                        return fail(req, MMDS_REQ_HDR_VALUE, name, value);
        } else if (span_caseeq(tname, "accept")) {
                /* an unsupported media type is ignored: the previous choice stays */
                if (span_eq(tval, "application/json"))
                        req->accept_json = true;
                else if (span_eq(tval, "text/plain"))
                        req->accept_json = false;
        } else if (span_caseeq(tname, "accept-encoding")) {
                return check_encoding(tval, req);
        } else if (!span_caseeq(tname, "content-type") && !span_caseeq(tname, "expect") &&
                   !span_caseeq(tname, "transfer-encoding") && !span_caseeq(tname, "server")) {
                custom_header(name, value, req);
        }
        return MMDS_REQ_OK;
}

/* Headers::try_from(): the header block (without its final CRLF) split at CRLFs. */
static enum mmds_req_error parse_headers(struct mmds_span h, struct mmds_req *req,
                                         uint32_t *content_length)
{
        size_t pos = 0, eol;
        enum mmds_req_error e;

        if (!utf8_valid(h.p, h.n))
                return fail(req, MMDS_REQ_INVALID, none, none);
        while (pos <= h.n) {
                eol = pos + find(h.p + pos, h.n - pos, "\r\n", 2);
                if (eol == pos)
                        break; /* an empty line ends the headers */
                e = parse_header((struct mmds_span){h.p + pos, eol - pos}, req, content_length);
                if (e != MMDS_REQ_OK)
                        return e;
                pos = eol + 2;
        }
        return MMDS_REQ_OK;
}

enum mmds_req_error mmds_req_parse(const uint8_t *buf, size_t len, struct mmds_req *req)
{
        const char *s = (const char *)buf;
        size_t rl_end, hdr_end, body_at;
        uint32_t content_length = 0;
        enum mmds_req_error e;

        memset(req, 0, sizeof(*req));
        rl_end = find(s, len, "\r\n", 2);
        if (rl_end == len || rl_end < MIN_REQUEST_LINE)
                return fail(req, MMDS_REQ_INVALID, none, none);
        e = parse_request_line((struct mmds_span){s, rl_end}, req);
        if (e != MMDS_REQ_OK)
                return e;
        /* the CRLF that ends the request line may begin the blank line's CRLFCRLF */
        hdr_end = rl_end + find(s + rl_end, len - rl_end, "\r\n\r\n", 4);
        if (hdr_end == len)
                return fail(req, MMDS_REQ_INVALID, none, none);
        if (hdr_end > rl_end) {
                e = parse_headers((struct mmds_span){s + rl_end + 2, hdr_end - rl_end - 2}, req,
                                  &content_length);
                if (e != MMDS_REQ_OK)
                        return e;
        }
        body_at = hdr_end + 4;
        if (content_length && (req->method == MMDS_GET || req->method == MMDS_DELETE ||
                               len - body_at != content_length))
                return fail(req, MMDS_REQ_INVALID, none, none);
        return MMDS_REQ_OK;
}
