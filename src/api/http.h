/* Strict HTTP/1.1 request parser (Content-Length bodies only) and response writer. */
#ifndef BRASA_API_HTTP_H
#define BRASA_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_LINE        1024u  /* request line or one header line, CRLF excluded */
#define HTTP_MAX_HEAD        8192u  /* request line + headers + blank line */
#define HTTP_MAX_HEADERS     64u    /* header lines per request */
#define HTTP_DEFAULT_PAYLOAD 51200u /* Firecracker's HTTP_MAX_PAYLOAD_SIZE */
#define HTTP_MAX_MSG         512u

enum http_method { HTTP_GET, HTTP_PUT, HTTP_PATCH, HTTP_DELETE };

/* One parsed request; pointers borrow from the buffer handed to http_parse(). */
struct http_request {
        enum http_method method;
        const char *path; /* absolute path ("" when the URI has none), NUL-terminated copy */
        char path_buf[HTTP_MAX_LINE + 1];
        bool http10;
        bool has_body; /* Content-Length > 0 */
        uint32_t content_length;
        const uint8_t *body; /* content_length bytes */
        bool expect_continue;
        bool connection_close;
        size_t head_len; /* bytes of request line + headers + blank line */
};

enum http_status {
        HTTP_INCOMPLETE, /* need more bytes (see req->head_len: nonzero once headers are in) */
        HTTP_COMPLETE,   /* *req is a whole request of *consumed bytes */
        HTTP_BAD,        /* malformed: msg holds micro_http's description; close after the 400 */
};

/*
 * Parses the first request in buf[0..len). max_payload bounds Content-Length. On
 * HTTP_COMPLETE, *consumed is the request's length (head + body), so pipelined requests
 * follow at buf + *consumed. On HTTP_INCOMPLETE with req->head_len != 0 the head is
 * complete and valid and only body bytes are missing (time to answer Expect: 100-continue).
 * On HTTP_BAD msg (HTTP_MAX_MSG bytes) gets one line such as "Invalid request." or
 * "Request payload with size N is larger than the limit of M allowed by server.".
 * Never reads outside buf; any byte sequence is safe.
 */
enum http_status http_parse(const uint8_t *buf, size_t len, uint32_t max_payload,
                            struct http_request *req, size_t *consumed, char *msg);

/* "GET", "PUT", ... */
const char *http_method_name(enum http_method m);

/* Firecracker's Debug name of a method: "Get", "Put", "Patch", "Delete". */
const char *http_method_debug(enum http_method m);

/*
 * Formats a response as micro_http does: "HTTP/1.1 <code> \r\n", Server, Connection,
 * [Deprecation: true], and for codes other than 100/204 Content-Type: application/json
 * and Content-Length, then body. Returns the byte count written to out (at most outlen)
 * or -ENOSPC. close selects "Connection: close" instead of keep-alive.
 */
int http_format_response(char *out, size_t outlen, int code, bool deprecation, bool close,
                         const char *body, size_t body_len);

#endif
