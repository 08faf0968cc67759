/* Strict HTTP/1.1 parsing: one request at a time from a byte buffer, micro_http's error texts. */
#include "api/http.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/text.h"

#define MSG_INVALID "Invalid request."

/* A header's text, bounded (not NUL-terminated in the buffer). */
struct span {
        const char *p;
        size_t n;
};

/* Position of the first "\r\n" in s[0..n), or n. */
static size_t find_crlf(const char *s, size_t n)
{
        size_t i;

        for (i = 0; i + 1 < n; i++)
                if (s[i] == '\r' && s[i + 1] == '\n')
                        return i;
        return n;
}

static struct span trim(struct span s)
{
        while (s.n && (s.p[0] == ' ' || s.p[0] == '\t')) {
                s.p++;
                s.n--;
        }
        while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
                s.n--;
        return s;
}

static bool span_is(struct span s, const char *lit)
{
        return s.n == strlen(lit) && strncasecmp(s.p, lit, s.n) == 0;
}

/* Bytes a head may hold: visible ASCII, SP, HTAB, and UTF-8 bytes (no CTLs, no bare CR/LF). */
static bool head_byte_ok(unsigned char c)
{
        return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static enum http_status bad(char *msg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static enum http_status bad(char *msg, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, HTTP_MAX_MSG, fmt, ap);
        va_end(ap);
        return HTTP_BAD;
}

static int parse_method(struct span m, enum http_method *out)
{
        static const char *const names[] = {"GET", "PUT", "PATCH", "DELETE"};
        size_t i;

        for (i = 0; i < 4; i++) {
                if (m.n == strlen(names[i]) && memcmp(m.p, names[i], m.n) == 0) {
                        *out = (enum http_method)i;
                        return 0;
                }
        }
        return -EINVAL;
}

/* micro_http's Uri::get_abs_path(): "http://host/p" -> "/p", "/p" -> "/p", else "". */
static void abs_path(struct span uri, struct http_request *req)
{
        static const char scheme[] = "http://";
        const char *p = uri.p, *slash;
        size_t n = uri.n;

        req->path_buf[0] = '\0';
        req->path = req->path_buf;
        if (n >= sizeof(scheme) - 1 && memcmp(p, scheme, sizeof(scheme) - 1) == 0) {
                p += sizeof(scheme) - 1;
                n -= sizeof(scheme) - 1;
                slash = memchr(p, '/', n);
                if (!slash)
                        return;
                n -= (size_t)(slash - p);
                p = slash;
        } else if (n == 0 || p[0] != '/') {
                return;
        }
        memcpy(req->path_buf, p, n);
        req->path_buf[n] = '\0';
}

/* "METHOD SP URI SP VERSION", split at the first two spaces as micro_http does. */
static enum http_status parse_request_line(struct span line, struct http_request *req, char *msg)
{
        const char *sp1, *sp2;
        struct span m, uri, ver;

        sp1 = memchr(line.p, ' ', line.n);
        if (!sp1)
                return bad(msg, MSG_INVALID);
        sp2 = memchr(sp1 + 1, ' ', line.n - (size_t)(sp1 + 1 - line.p));
        if (!sp2)
                return bad(msg, MSG_INVALID);
        m = (struct span){line.p, (size_t)(sp1 - line.p)};
        uri = (struct span){sp1 + 1, (size_t)(sp2 - sp1 - 1)};
        ver = (struct span){sp2 + 1, line.n - (size_t)(sp2 + 1 - line.p)};
        if (parse_method(m, &req->method))
                return bad(msg, "Invalid HTTP Method: Unsupported HTTP method.");
        if (uri.n == 0)
                return bad(msg, "Invalid URI: Empty URI not allowed.");
        if (!utf8_valid(uri.p, uri.n))
                return bad(msg, "Invalid URI: Cannot parse URI as UTF-8.");
        if (ver.n == 8 && memcmp(ver.p, "HTTP/1.1", 8) == 0)
                req->http10 = false;
        else if (ver.n == 8 && memcmp(ver.p, "HTTP/1.0", 8) == 0)
                req->http10 = true;
        else
                return bad(msg, "Invalid HTTP Version: Unsupported HTTP version.");
        abs_path(uri, req);
        return HTTP_COMPLETE;
}

/* Content-Length: digits only (no sign, no spaces inside), at most u32. */
static int parse_length(struct span v, uint32_t *out)
{
        uint64_t n = 0;
        size_t i;

        if (v.n == 0 || v.n > 10)
                return -EINVAL;
        for (i = 0; i < v.n; i++) {
                if (v.p[i] < '0' || v.p[i] > '9')
                        return -EINVAL;
                n = n * 10 + (uint64_t)(v.p[i] - '0');
        }
        if (n > UINT32_MAX)
                return -EINVAL;
        *out = (uint32_t)n;
        return 0;
}

static enum http_status parse_header(struct span line, struct http_request *req, bool *seen_len,
                                     char *msg)
{
        const char *colon = memchr(line.p, ':', line.n);
        struct span name, val;

        if (line.n && (line.p[0] == ' ' || line.p[0] == '\t'))
                return bad(msg, "Invalid header. Reason: Header is incorrectly formatted. Key: "
                                "(obsolete line folding)");
        if (!colon)
                return bad(msg,
                           "Invalid header. Reason: Header is incorrectly formatted. Key: %.*s",
                           (int)(line.n > 64 ? 64 : line.n), line.p);
        name = trim((struct span){line.p, (size_t)(colon - line.p)});
        val = trim((struct span){colon + 1, line.n - (size_t)(colon + 1 - line.p)});
        if (span_is(name, "Content-Length")) {
                if (*seen_len || parse_length(val, &req->content_length))
                        return bad(msg,
                                   "Invalid header. Reason: Invalid value. Key:%.*s; Value:%.*s",
                                   (int)name.n, name.p, (int)(val.n > 32 ? 32 : val.n), val.p);
                *seen_len = true;
        } else if (span_is(name, "Transfer-Encoding")) {
                if (!span_is(val, "identity"))
                        return bad(msg,
                                   "Invalid header. Reason: Unsupported feature. Key: %.*s; Value: "
                                   "%.*s",
                                   (int)name.n, name.p, (int)(val.n > 32 ? 32 : val.n), val.p);
        } else if (span_is(name, "Expect")) {
                req->expect_continue = span_is(val, "100-continue");
        } else if (span_is(name, "Connection")) {
                req->connection_close = span_is(val, "close");
        }
        return HTTP_COMPLETE;
}

/* Validates the head's bytes and line endings up to limit; finds the blank line. */
static enum http_status scan_head(const char *s, size_t len, size_t *head_end, char *msg)
{
        size_t i, line_start = 0, lines = 0;

        for (i = 0; i < len; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '\r') {
                        if (i + 1 == len)
                                break; /* CR at the end: wait for its LF */
                        if (s[i + 1] != '\n')
                                return bad(msg, MSG_INVALID);
                        if (i - line_start > HTTP_MAX_LINE)
                                return bad(msg, MSG_INVALID);
                        if (i == line_start && lines > 0) {
                                *head_end = i + 2;
                                return HTTP_COMPLETE;
                        }
                        if (++lines > HTTP_MAX_HEADERS + 1)
                                return bad(msg, "Invalid request. Too many headers.");
                        i++;
                        line_start = i + 1;
                        continue;
                }
                if (!head_byte_ok(c))
                        return bad(msg, MSG_INVALID);
                if (i - line_start >= HTTP_MAX_LINE)
                        return bad(msg, MSG_INVALID);
        }
        if (len >= HTTP_MAX_HEAD)
                return bad(msg, MSG_INVALID);
        return HTTP_INCOMPLETE;
}

static enum http_status parse_head(const char *s, size_t head_end, struct http_request *req,
                                   char *msg)
{
        size_t pos, eol;
        bool seen_len = false;
        enum http_status st;

        eol = find_crlf(s, head_end);
        st = parse_request_line((struct span){s, eol}, req, msg);
        if (st != HTTP_COMPLETE)
                return st;
        for (pos = eol + 2; pos + 2 < head_end; pos = eol + 2) {
                eol = pos + find_crlf(s + pos, head_end - pos);
                st = parse_header((struct span){s + pos, eol - pos}, req, &seen_len, msg);
                if (st != HTTP_COMPLETE)
                        return st;
        }
        return HTTP_COMPLETE;
}

enum http_status http_parse(const uint8_t *buf, size_t len, uint32_t max_payload,
                            struct http_request *req, size_t *consumed, char *msg)
{
        const char *s = (const char *)buf;
        size_t head_end = 0;
        enum http_status st;

        memset(req, 0, sizeof(*req));
        req->path = req->path_buf;
        *consumed = 0;
        msg[0] = '\0';
        st = scan_head(s, len > HTTP_MAX_HEAD ? HTTP_MAX_HEAD : len, &head_end, msg);
        if (st != HTTP_COMPLETE)
                return st;
        st = parse_head(s, head_end, req, msg);
        if (st != HTTP_COMPLETE)
                return st;
        if (req->content_length > max_payload)
                return bad(msg,
                           "Request payload with size %u is larger than the limit of %u allowed "
                           "by server.",
                           req->content_length, max_payload);
        req->head_len = head_end;
        req->has_body = req->content_length > 0;
        if (len - head_end < req->content_length)
                return HTTP_INCOMPLETE;
        req->body = buf + head_end;
        *consumed = head_end + req->content_length;
        return HTTP_COMPLETE;
}

const char *http_method_name(enum http_method m)
{
        static const char *const names[] = {"GET", "PUT", "PATCH", "DELETE"};

        return names[m];
}

const char *http_method_debug(enum http_method m)
{
        static const char *const names[] = {"Get", "Put", "Patch", "Delete"};

        return names[m];
}

int http_format_response(char *out, size_t outlen, int code, bool deprecation, bool close,
                         const char *body, size_t body_len)
{
        int n;

        n = snprintf(out, outlen, "HTTP/1.1 %d \r\nServer: Firecracker API\r\nConnection: %s\r\n%s",
                     code, close ? "close" : "keep-alive",
                     deprecation ? "Deprecation: true\r\n" : "");
        if (n < 0 || (size_t)n >= outlen)
                return -ENOSPC;
        if (code == 100 || code == 204) {
                if ((size_t)n + 2 >= outlen)
                        return -ENOSPC;
                memcpy(out + n, "\r\n", 2);
                return n + 2;
        }
        n += snprintf(out + n, outlen - (size_t)n,
                      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", body_len);
        if ((size_t)n + body_len >= outlen)
                return -ENOSPC;
        if (body_len)
                memcpy(out + n, body, body_len);
        return n + (int)body_len;
}
