/* The metadata service's HTTP side: one guest request in, Firecracker's MMDS answer out. */
#ifndef BRASA_MMDS_MMDS_HTTP_H
#define BRASA_MMDS_MMDS_HTTP_H

#include <stddef.h>
#include <stdint.h>

/*
 * The service one microVM's guests talk to: its version (V1/V2), imds_compat, the session
 * token key, and the data store it reads. Lives on the VMM thread, which is also the thread
 * that changes the store through the API, so it takes no lock.
 */
struct mmds_service;

/*
 * Answers one HTTP/1.x request from the guest, as Firecracker's parse_request_bytes() and
 * MMDS callback do. req[0, len) is the request up to and including the blank line that
 * ends its headers (the TCP endpoint finds that line; a body is never included). Every
 * request gets an answer, malformed ones Firecracker's 400/501/413. Returns 0 with *resp
 * set to the whole response (status line, headers, body) in a malloc'd buffer the caller
 * frees, and *resp_len its size; or -ENOMEM (nothing allocated).
 */
int mmds_http_answer(struct mmds_service *svc, const uint8_t *req, size_t len, uint8_t **resp,
                     size_t *resp_len);

#endif
