/* The API server: a Unix-socket HTTP/1.1 listener on its own thread (fc_api), feeding the VMM. */
#ifndef BRASA_API_SERVER_H
#define BRASA_API_SERVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "api/mailbox.h"
#include "core/err.h"
#include "core/evloop.h"

#define API_DEFAULT_SOCK       "/run/firecracker.socket"
#define API_MAX_CONNS          16
#define API_REQUEST_TIMEOUT_MS 10000 /* a started request must complete within this */
#define API_WRITE_TIMEOUT_MS   10000 /* a pending response must make progress within this */

struct api_server {
        int listen_fd;
        int stop_fd; /* eventfd: ends the API thread */
        int epfd;    /* the API thread's epoll set, created before its seccomp filter */
        char *sock_path;
        bool bound;   /* sock_path is ours to unlink */
        bool serving; /* set by the caller once the microVM runs: keep the socket file */
        uint32_t max_payload;
        struct mailbox mbox;
        struct ev_source mbox_src; /* on the VMM loop */
        struct evloop *vmm_loop;
        struct api_ctx *ctx;
        pthread_t thread;
        bool thread_started;
};

/*
 * Binds and listens on path (which must not exist: "Failed to open the API socket at:
 * <path>. Check that it is not already used.") and hooks the request mailbox into the VMM
 * loop, whose handler runs api_handle() on ctx. Call on the VMM thread after vmm_init().
 * Returns 0 or -errno with the reason in e (e->msg stays empty when there is nothing to
 * add to strerror(), e.g. -ENOMEM); s is then safe to api_server_close().
 */
int api_server_open(struct api_server *s, const char *path, uint32_t max_payload,
                    struct api_ctx *ctx, struct evloop *vmm_loop, struct err *e);

/* Starts the fc_api thread (blocking every signal). Returns 0 or -errno. */
int api_server_start(struct api_server *s);

/*
 * Fails any request in flight, stops and joins the API thread, closes every connection
 * and fd, unhooks the mailbox and removes the socket file unless s->serving (Firecracker
 * leaves it behind; removing it would also need a syscall the VMM thread's filter lacks).
 * Call on the VMM thread.
 */
void api_server_close(struct api_server *s);

/*
 * Serves the requests in buf[0..len) of one connection as the API thread does, with the
 * handlers run inline on ctx (no thread, no socket): responses are appended to out
 * (outcap bytes). Returns the bytes consumed, or -1 when the connection would be closed.
 * For the fuzzer and unit tests.
 */
long api_serve_buffer(struct api_ctx *ctx, uint32_t max_payload, const uint8_t *buf, size_t len,
                      char *out, size_t outcap, size_t *outlen);

#endif
