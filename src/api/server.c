/* fc_api: accepts clients on the API socket, parses requests, hands each to the VMM thread. */
#define _GNU_SOURCE /* accept4 */
#include "api/server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "seccomp/seccomp.h"
#include "vmm/vmm.h"

#define READ_CHUNK     65536
#define OUT_HIGH_WATER (256 * 1024) /* stop serving a client that does not read its answers */
#define MSG_DROPPED    "\nAll previous unanswered requests will be dropped."
#define MSG_TOO_MANY   "Too many open connections"

struct conn {
        int fd;
        uint8_t *in;
        size_t in_len, in_cap;
        char *out;
        size_t out_len, out_pos, out_cap;
        bool close_after;   /* close once out is flushed */
        bool continue_sent; /* "100 Continue" sent for the pending request */
        uint64_t req_start; /* ms: first byte of the pending request; 0 = none */
        uint64_t out_since; /* ms: last write progress while output is pending */
        uint64_t last_used; /* ms: last activity, to evict the idlest when full */
};

typedef void (*dispatch_fn)(void *opaque, struct api_call *call);

/* ---- output ------------------------------------------------------------------------------ */

static int out_reserve(struct conn *c, size_t more)
{
        size_t cap = c->out_cap ? c->out_cap : 4096;
        char *p;

        if (c->out_pos && c->out_pos == c->out_len)
                c->out_pos = c->out_len = 0;
        while (cap < c->out_len + more)
                cap *= 2;
        if (cap == c->out_cap)
                return 0;
        p = realloc(c->out, cap);
        if (!p)
                return -ENOMEM;
        c->out = p;
        c->out_cap = cap;
        return 0;
}

static void queue_response(struct conn *c, int code, bool deprecation, const char *body, size_t len)
{
        int n;

        if (out_reserve(c, len + 256)) {
                c->close_after = true;
                return;
        }
        n = http_format_response(c->out + c->out_len, c->out_cap - c->out_len, code, deprecation,
                                 c->close_after, body, len);
        if (n < 0) {
                c->close_after = true;
                return;
        }
        if (c->out_len == c->out_pos)
                c->out_since = now_ms();
        c->out_len += (size_t)n;
}

/*
 * A malformed request: micro_http's answer byte for byte, a 400 whose body is
 * '{ "error": "<msg>\nAll previous ..." }' with the raw newline (so not valid JSON), and
 * "Connection: keep-alive". micro_http then parses on from wherever the bad bytes left
 * it; brasa ends the connection instead, as nothing after them can be trusted.
 */
static void queue_parse_error(struct conn *c, const char *msg)
{
        char body[HTTP_MAX_MSG + 96];
        int n;

        n = snprintf(body, sizeof(body), "{ \"error\": \"%s" MSG_DROPPED "\" }", msg);
        queue_response(c, 400, false, body, n > 0 ? strnlen(body, sizeof(body) - 1) : 0);
        c->close_after = true;
}

/* ---- one request ------------------------------------------------------------------------- */

static void log_outcome(const struct api_call *call)
{
        const struct api_response *r = &call->resp;
        json_t *o;

        if (r->status == 204) {
                log_info("The request was executed successfully. Status code: 204 No Content.");
        } else if (r->status == 200) {
                log_info("The request was executed successfully. Status code: 200 OK.");
        } else if (call->route) {
                o = r->body ? json_loadb(r->body, r->len, 0, NULL) : NULL;
                log_error("Received Error. Status code: %s. Message: %s",
                          r->status == 413 ? "413 Payload too large" : "400 Bad Request",
                          json_string_value(json_object_get(o, "fault_message")));
                json_decref(o);
                if (r->hint)
                        log_error("Hint: %s", r->hint);
        }
        if (call->deprecation)
                log_warn("%s", call->deprecation);
}

static void serve_one(const struct http_request *req, struct conn *c, dispatch_fn dispatch,
                      void *opaque)
{
        uint64_t start = now_us();
        struct api_call call;

        api_route(req, &call);
        if (call.route)
                dispatch(opaque, &call);
        log_outcome(&call);
        if (call.resp.status >= 400)
                api_count_failure(&call);
        if (req->connection_close)
                c->close_after = true;
        queue_response(c, call.resp.status, call.deprecation != NULL, call.resp.body,
                       call.resp.len);
        api_call_fini(&call);
        log_debug("Total previous API call duration: %llu us.",
                  (unsigned long long)(now_us() - start));
}

/*
 * Serves every complete request in c->in (pipelining), stopping when output backs up.
 * Consumed bytes are removed from c->in.
 */
static void serve_input(struct conn *c, uint32_t max_payload, dispatch_fn dispatch, void *opaque)
{
        struct http_request *req = malloc(sizeof(*req));
        char msg[HTTP_MAX_MSG];
        enum http_status st;
        size_t used = 0, n;

        if (!req) {
                c->close_after = true;
                return;
        }
        while (!c->close_after && used < c->in_len && c->out_len - c->out_pos < OUT_HIGH_WATER) {
                st = http_parse(c->in + used, c->in_len - used, max_payload, req, &n, msg);
                if (st == HTTP_BAD) {
                        queue_parse_error(c, msg);
                        break;
                }
                if (st == HTTP_INCOMPLETE) {
                        if (req->head_len && req->expect_continue && !c->continue_sent) {
                                c->continue_sent = true;
                                queue_response(c, 100, false, NULL, 0);
                        }
                        break;
                }
                serve_one(req, c, dispatch, opaque);
                c->continue_sent = false;
                used += n;
        }
        free(req);
        memmove(c->in, c->in + used, c->in_len - used);
        c->in_len -= used;
        c->req_start = c->in_len ? (used || !c->req_start ? now_ms() : c->req_start) : 0;
}

/* ---- in-process serving (fuzzer, unit tests) --------------------------------------------- */

static void dispatch_inline(void *opaque, struct api_call *call)
{
        api_handle(opaque, call);
}

long api_serve_buffer(struct api_ctx *ctx, uint32_t max_payload, const uint8_t *buf, size_t len,
                      char *out, size_t outcap, size_t *outlen)
{
        struct conn c = {.fd = -1};
        long rc;

        c.in = malloc(len ? len : 1);
        if (!c.in)
                return -1;
        memcpy(c.in, buf, len);
        c.in_len = c.in_cap = len;
        serve_input(&c, max_payload, dispatch_inline, ctx);
        *outlen = c.out_len < outcap ? c.out_len : outcap;
        if (*outlen)
                memcpy(out, c.out, *outlen);
        rc = c.close_after ? -1 : (long)(len - c.in_len);
        free(c.in);
        free(c.out);
        return rc;
}

/* ---- the VMM side of the mailbox --------------------------------------------------------- */

static void on_mailbox(struct ev_source *src, uint32_t events)
{
        struct api_server *s = src->opaque;
        struct api_call *call;

        (void)events;
        call = mailbox_take(&s->mbox);
        if (!call)
                return;
        api_handle(s->ctx, call);
        mailbox_reply(&s->mbox);
}

static void dispatch_mailbox(void *opaque, struct api_call *call)
{
        struct api_server *s = opaque;

        if (mailbox_call(&s->mbox, call))
                api_fault(&call->resp, 400, "The microVM is shutting down.");
}

/* ---- the API thread ---------------------------------------------------------------------- */

struct api_loop {
        struct api_server *s;
        int epfd;
        struct conn *conns[API_MAX_CONNS];
};

static void conn_close(struct api_loop *l, struct conn *c)
{
        size_t i;

        for (i = 0; i < API_MAX_CONNS; i++)
                if (l->conns[i] == c)
                        l->conns[i] = NULL;
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c->in);
        free(c->out);
        free(c);
}

static void conn_watch(struct api_loop *l, struct conn *c)
{
        struct epoll_event ev = {.data.ptr = c};
        bool pending = c->out_pos < c->out_len;

        /* Not reading while answers back up: a client that never reads can't grow our buffers. */
        ev.events =
            (pending ? EPOLLOUT : 0) |
            (!c->close_after && (!pending || c->out_len - c->out_pos < OUT_HIGH_WATER) ? EPOLLIN
                                                                                       : 0);
        epoll_ctl(l->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Writes what it can; false when the connection is finished or broken. */
static bool conn_flush(struct conn *c)
{
        ssize_t n;

        while (c->out_pos < c->out_len) {
                n = send(c->fd, c->out + c->out_pos, c->out_len - c->out_pos, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0 && errno == EAGAIN)
                        return true;
                if (n <= 0)
                        return false;
                c->out_pos += (size_t)n;
                c->out_since = now_ms();
        }
        c->out_pos = c->out_len = 0;
        return !c->close_after;
}

/* Reads what is there into c->in, bounded by one request's maximum size. */
static bool conn_read(struct api_loop *l, struct conn *c)
{
        size_t limit = HTTP_MAX_HEAD + l->s->max_payload, want;
        uint8_t *p;
        ssize_t n;

        want = c->in_len + READ_CHUNK;
        if (want > c->in_cap) {
                p = realloc(c->in, want);
                if (!p)
                        return false;
                c->in = p;
                c->in_cap = want;
        }
        n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR;
        if (n == 0)
                return false;
        if (!c->req_start)
                c->req_start = now_ms();
        c->in_len += (size_t)n;
        c->last_used = now_ms();
        serve_input(c, l->s->max_payload, dispatch_mailbox, l->s);
        /* Whatever is left must be one incomplete request; the parser bounds head and body. */
        if (c->in_len > limit)
                c->close_after = true;
        return true;
}

static void conn_event(struct api_loop *l, struct conn *c, uint32_t events)
{
        bool alive = true;

        if (events & EPOLLIN)
                alive = conn_read(l, c);
        if (alive && (c->out_pos < c->out_len || c->close_after))
                alive = conn_flush(c);
        if (alive && (events & (EPOLLHUP | EPOLLERR)) && c->out_pos >= c->out_len)
                alive = false;
        if (!alive) {
                conn_close(l, c);
                return;
        }
        /* Requests left unserved while output was backed up. */
        if (c->in_len && c->out_pos >= c->out_len && !c->close_after) {
                serve_input(c, l->s->max_payload, dispatch_mailbox, l->s);
                if (!conn_flush(c)) {
                        conn_close(l, c);
                        return;
                }
        }
        conn_watch(l, c);
}

/* A slot for a new client: a free one, else the idlest connection without work in flight. */
static int free_slot(struct api_loop *l)
{
        struct conn *victim = NULL;
        int i, vi = -1;

        for (i = 0; i < API_MAX_CONNS; i++)
                if (!l->conns[i])
                        return i;
        for (i = 0; i < API_MAX_CONNS; i++) {
                struct conn *c = l->conns[i];

                if (c->in_len || c->out_pos < c->out_len)
                        continue;
                if (!victim || c->last_used < victim->last_used) {
                        victim = c;
                        vi = i;
                }
        }
        if (victim)
                conn_close(l, victim);
        return vi;
}

static void refuse(int fd)
{
        static const char body[] = "{\"fault_message\":\"" MSG_TOO_MANY "\"}";
        char buf[512];
        int n;

        n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 503 \r\nServer: Firecracker API\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     sizeof(body) - 1, body);
        if (send(fd, buf, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
                log_debug("API: refusing a client failed: %s", strerror(errno));
        close(fd);
}

static void accept_clients(struct api_loop *l)
{
        struct epoll_event ev = {.events = EPOLLIN};
        struct conn *c;
        int fd, slot;

        for (;;) {
                fd = accept4(l->s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                slot = free_slot(l);
                c = slot >= 0 ? calloc(1, sizeof(*c)) : NULL;
                if (!c) {
                        refuse(fd);
                        continue;
                }
                c->fd = fd;
                c->last_used = now_ms();
                ev.data.ptr = c;
                if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
                        close(fd);
                        free(c);
                        continue;
                }
                l->conns[slot] = c;
        }
}

/* Closes connections whose request or response stalled; returns ms to the next deadline. */
static int expire(struct api_loop *l)
{
        uint64_t t = now_ms(), next = UINT64_MAX, d;
        int i;

        for (i = 0; i < API_MAX_CONNS; i++) {
                struct conn *c = l->conns[i];

                if (!c)
                        continue;
                if (c->out_pos < c->out_len) {
                        d = c->out_since + API_WRITE_TIMEOUT_MS;
                } else if (c->req_start) {
                        d = c->req_start + API_REQUEST_TIMEOUT_MS;
                } else {
                        continue;
                }
                if (d <= t) {
                        log_warn("API: closing a client that stalled for %d ms",
                                 API_REQUEST_TIMEOUT_MS);
                        conn_close(l, c);
                        continue;
                }
                if (d < next)
                        next = d;
        }
        return next == UINT64_MAX ? -1 : (int)(next - t);
}

static void *api_thread(void *arg)
{
        struct api_loop l = {.s = arg, .epfd = ((struct api_server *)arg)->epfd};
        struct epoll_event ev[API_MAX_CONNS + 2];
        sigset_t all;
        int i, n, rc;

        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, NULL);
        log_set_thread_name("fc_api");
        /* Everything this thread creates exists already: from here it only serves clients. */
        rc = seccomp_apply(SECCOMP_ROLE_API);
        if (rc) {
                log_error("Failed to set the requested seccomp filters on the API thread: %s",
                          strerror(-rc));
                if (l.s->ctx->vmm)
                        vmm_request_exit(l.s->ctx->vmm, VMM_EXIT_GENERIC);
                return NULL;
        }
        log_info("API server started.");
        for (;;) {
                n = epoll_wait(l.epfd, ev, API_MAX_CONNS + 2, expire(&l));
                for (i = 0; i < n; i++) {
                        if (ev[i].data.ptr == &l.s->stop_fd)
                                goto out;
                        if (ev[i].data.ptr == &l.s->listen_fd)
                                accept_clients(&l);
                        else
                                conn_event(&l, ev[i].data.ptr, ev[i].events);
                }
        }
out:
        for (i = 0; i < API_MAX_CONNS; i++)
                if (l.conns[i])
                        conn_close(&l, l.conns[i]);
        return NULL;
}

/* ---- setup and teardown ------------------------------------------------------------------ */

static int in_use(const char *path, struct err *e)
{
        err_set(e, -EADDRINUSE,
                "Failed to open the API socket at: %s. Check that it is not already used.", path);
        return err_hint(e, "if no brasa or Firecracker serves it any more, remove the file (both "
                           "leave it behind when they exit), or give another --api-sock path");
}

static int io_error(struct err *e)
{
        int n = errno;

        return err_set(e, -n, "Failed to bind and run the HTTP server: IO error: %s (os error %d)",
                       strerror(n), n);
}

/*
 * Binds and listens under a temporary name, then links it to path: the socket file
 * appears only once it accepts connections (clients poll for it), and link() fails if
 * path exists, as Firecracker's bind does.
 */
static int bind_socket(struct api_server *s, const char *path, struct err *e)
{
        struct sockaddr_un addr = {.sun_family = AF_UNIX};
        int n, rc;

        n = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s.%d.tmp", path, (int)getpid());
        if (n < 0 || (size_t)n >= sizeof(addr.sun_path)) {
                return err_set(e, -ENAMETOOLONG,
                               "Failed to bind and run the HTTP server: socket path %s is too long",
                               path);
        }
        if (access(path, F_OK) == 0)
                return in_use(path, e);
        s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s->listen_fd < 0)
                return io_error(e);
        unlink(addr.sun_path); /* a leftover of this pid's earlier life */
        if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
                return io_error(e);
        rc = listen(s->listen_fd, 64) < 0 ? io_error(e) : 0;
        if (!rc && link(addr.sun_path, path) < 0)
                rc = errno == EEXIST ? in_use(path, e) : io_error(e);
        unlink(addr.sun_path);
        s->bound = rc == 0;
        return rc;
}

/* The API thread's epoll set starts with the listener and the stop eventfd. */
static int watch_listener(struct api_server *s)
{
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &s->listen_fd};

        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->listen_fd, &ev))
                return -errno;
        ev.data.ptr = &s->stop_fd;
        if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->stop_fd, &ev))
                return -errno;
        return 0;
}

int api_server_open(struct api_server *s, const char *path, uint32_t max_payload,
                    struct api_ctx *ctx, struct evloop *vmm_loop, struct err *e)
{
        int rc;

        memset(s, 0, sizeof(*s));
        s->listen_fd = s->stop_fd = s->epfd = -1;
        s->mbox.efd = s->mbox.resp_efd = -1;
        s->mbox_src.fd = -1;
        s->max_payload = max_payload;
        s->ctx = ctx;
        s->vmm_loop = vmm_loop;
        s->sock_path = strdup(path);
        if (!s->sock_path)
                return -ENOMEM;
        rc = bind_socket(s, path, e);
        if (rc)
                return rc;
        s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        s->epfd = epoll_create1(EPOLL_CLOEXEC);
        rc = s->stop_fd < 0 || s->epfd < 0 ? -errno : watch_listener(s);
        if (!rc)
                rc = mailbox_init(&s->mbox);
        if (rc)
                return err_set(e, rc, "Cannot create the API eventfds: %s", strerror(-rc));
        s->mbox_src = (struct ev_source){
            .fd = s->mbox.efd, .fn = on_mailbox, .opaque = s, .keep_running = true};
        rc = evloop_add(vmm_loop, &s->mbox_src, EPOLLIN);
        if (rc)
                err_set(e, rc, "Cannot watch the API mailbox: %s", strerror(-rc));
        else
                log_info("Listening on API socket (\"%s\").", path);
        return rc;
}

int api_server_start(struct api_server *s)
{
        int rc = pthread_create(&s->thread, NULL, api_thread, s);

        if (rc)
                return -rc;
        s->thread_started = true;
        return 0;
}

void api_server_close(struct api_server *s)
{
        int rc;

        if (!s->sock_path)
                return; /* never opened */
        if (s->mbox.efd >= 0)
                mailbox_close(&s->mbox);
        if (s->thread_started) {
                rc = efd_signal(s->stop_fd);
                if (rc)
                        log_warn("cannot stop the API thread: %s", strerror(-rc));
                pthread_join(s->thread, NULL);
                s->thread_started = false;
        }
        if (s->vmm_loop && s->mbox_src.registered)
                evloop_del(s->vmm_loop, &s->mbox_src);
        mailbox_destroy(&s->mbox);
        if (s->stop_fd >= 0)
                close(s->stop_fd);
        if (s->listen_fd >= 0)
                close(s->listen_fd);
        if (s->epfd >= 0)
                close(s->epfd);
        s->stop_fd = s->listen_fd = s->epfd = -1;
        /* Once serving, the socket file stays after exit, as Firecracker's does. */
        if (s->bound && !s->serving)
                unlink(s->sock_path);
        s->bound = false;
        free(s->sock_path);
        s->sock_path = NULL;
}
