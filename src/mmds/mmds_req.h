/* A guest's MMDS request as micro_http's one-shot Request::try_from() reads it. */
#ifndef BRASA_MMDS_MMDS_REQ_H
#define BRASA_MMDS_MMDS_REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A run of bytes inside the request buffer (not NUL-terminated). */
struct mmds_span {
        const char *p;
        size_t n;
};

enum mmds_method { MMDS_GET, MMDS_PUT, MMDS_PATCH, MMDS_DELETE };

/* One custom header the service looks at: the name as written (trimmed) and its value. */
struct mmds_hdr {
        bool present;
        struct mmds_span name, value;
};

/* Why a request cannot be parsed: what the TCP endpoint answers (always HTTP/1.1, JSON type). */
enum mmds_req_error {
        MMDS_REQ_OK,
        MMDS_REQ_INVALID,     /* 400 "Invalid request." */
        MMDS_REQ_EMPTY_URI,   /* 400 "Empty URI not allowed." */
        MMDS_REQ_URI_UTF8,    /* 400 "Cannot parse URI as UTF-8." */
        MMDS_REQ_METHOD,      /* 501 "Unsupported HTTP method." */
        MMDS_REQ_VERSION,     /* 501 "Unsupported HTTP version." */
        MMDS_REQ_HDR_FORMAT,  /* 400 "Header is incorrectly formatted. Key: <err_a>" */
        MMDS_REQ_HDR_VALUE,   /* 400 "Invalid value. Key:<err_a>; Value:<err_b>" */
        MMDS_REQ_HDR_ENCODING /* 400 as MMDS_REQ_HDR_VALUE, Key is "Accept-Encoding" */
};

/* What the MMDS answer needs of a request; spans point into the parsed buffer. */
struct mmds_req {
        enum mmds_method method;
        bool http10;
        struct mmds_span path; /* Uri::get_abs_path(): "" when the URI has no absolute path */
        bool accept_json;      /* the last supported Accept value was application/json */
        /*
         * Custom headers, matched case-insensitively. micro_http keeps them in a HashMap
         * whose iteration order decides between two matching names; here the last line wins.
         */
        struct mmds_hdr token;     /* X-metadata-token, X-aws-ec2-metadata-token */
        struct mmds_hdr ttl;       /* X-metadata-token-ttl-seconds, X-aws-ec2-...-ttl-seconds */
        struct mmds_hdr forwarded; /* X-Forwarded-For */
        enum mmds_req_error error;
        struct mmds_span err_a, err_b; /* the texts an error message quotes */
};

/*
 * Parses buf[0, len) as micro_http's Request::try_from(bytes, None): the request line up
 * to the first CRLF, headers up to the first CRLFCRLF after it, and a body that must be
 * exactly Content-Length bytes (never allowed on GET or DELETE). Fills *req and returns
 * req->error (MMDS_REQ_OK when the request is usable). Any byte sequence is safe; nothing
 * is allocated.
 */
enum mmds_req_error mmds_req_parse(const uint8_t *buf, size_t len, struct mmds_req *req);

/* Rust's str::trim() on valid UTF-8: strips White_Space code points at both ends. */
struct mmds_span mmds_trim(struct mmds_span s);

/*
 * Rust's u32 FromStr: an optional '+', then one or more ASCII digits, at most u32::MAX.
 * Returns 0 with *out set, or -EINVAL.
 */
int mmds_parse_u32(struct mmds_span s, uint32_t *out);

#endif
