/* epoll event loop used by the VMM thread. */
#include "core/evloop.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define EVLOOP_BATCH 32

int evloop_init(struct evloop *l)
{
        l->stop = false;
        l->frozen = false;
        l->parked = NULL;
        l->epfd = epoll_create1(EPOLL_CLOEXEC);
        return l->epfd < 0 ? -errno : 0;
}

void evloop_fini(struct evloop *l)
{
        if (l->epfd >= 0)
                close(l->epfd);
        l->epfd = -1;
}

/* Takes src off the parked list. */
static void evloop_unpark(struct evloop *l, struct ev_source *src)
{
        struct ev_source **pp;

        for (pp = &l->parked; *pp; pp = &(*pp)->next_parked) {
                if (*pp == src) {
                        *pp = src->next_parked;
                        break;
                }
        }
        src->parked = false;
        src->next_parked = NULL;
}

int evloop_add(struct evloop *l, struct ev_source *src, uint32_t events)
{
        struct epoll_event ev = {.events = events, .data.ptr = src};

        if (src->parked)
                evloop_unpark(l, src); /* watched again at once, not at the thaw */
        if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0)
                return -errno;
        src->registered = true;
        src->parked = false;
        src->events = events;
        return 0;
}

void evloop_del(struct evloop *l, struct ev_source *src)
{
        if (!src->registered)
                return;
        if (src->parked)
                evloop_unpark(l, src); /* already out of epoll */
        else
                epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd, NULL);
        src->registered = false;
}

/* A frozen loop's source fired: out of epoll and onto the parked list, unhandled. */
static void evloop_park(struct evloop *l, struct ev_source *src)
{
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, src->fd, NULL);
        src->parked = true;
        src->next_parked = l->parked;
        l->parked = src;
}

void evloop_freeze(struct evloop *l)
{
        l->frozen = true;
}

int evloop_thaw(struct evloop *l)
{
        struct ev_source *src;
        int rc = 0;

        l->frozen = false;
        while ((src = l->parked)) {
                struct epoll_event ev = {.events = src->events, .data.ptr = src};

                l->parked = src->next_parked;
                src->parked = false;
                src->next_parked = NULL;
                if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0 && !rc)
                        rc = -errno;
        }
        return rc;
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

                /* A handler earlier in this batch may have unregistered or parked src. */
                if (!src->registered || src->parked)
                        continue;
                if (l->frozen && !src->keep_running)
                        evloop_park(l, src);
                else
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
