/* epoll event loop used by the VMM thread. */
#include "core/evloop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EVLOOP_BATCH 32

int evloop_init(struct evloop *l)
{
        l->stop = false;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        return l->epfd < 0 ? -errno : 0;
}

void evloop_fini(struct evloop *l)
{
        if (l->epfd >= 0)
                close(l->epfd);
        l->epfd = -1;
}

int evloop_add(struct evloop *l, struct ev_source *src, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.ptr = src};

        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0)
                return -errno;
        src->registered = true;
        return 0;
}

void evloop_del(struct evloop *l, struct ev_source *src)
{
        if (!src->registered)
                return;
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd, NULL);
        src->registered = false;
}

int evloop_run_once(struct evloop *l, int timeout_ms)
{
        struct epoll_event evs[EVLOOP_BATCH];
        int i, n;

        n = epoll_wait(l->epfd, evs, EVLOOP_BATCH, timeout_ms);
        if (n < 0)
                return errno == EINTR ? 0 : -errno;
        for (i = 0; i < n; i++) {
                struct ev_source *src = evs[i].data.ptr;

                /* A handler earlier in this batch may have unregistered src. */
                if (src->registered)
                        src->fn(src, evs[i].events);
        }
        return n;
}

int evloop_run(struct evloop *l)
{
        int rc;

        while (!l->stop) {
                rc = evloop_run_once(l, -1);
                if (rc < 0)
                        return rc;
        }
        return 0;
}

void evloop_stop(struct evloop *l)
{
        l->stop = true;
}
