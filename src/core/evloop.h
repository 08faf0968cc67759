/* A minimal epoll event loop: one handler per fd, dispatched through data.ptr. */
#ifndef BRASA_CORE_EVLOOP_H
#define BRASA_CORE_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

struct ev_source;
typedef void (*ev_handler_fn)(struct ev_source *src, uint32_t events);

/* Embed this in the owner and recover the owner with container_of-style casts. */
struct ev_source {
        int fd;
        ev_handler_fn fn;
        void *opaque;
        bool registered;
        bool keep_running; /* served while the loop is frozen: the VMM's own control sources */
        bool parked;       /* fired while frozen: out of epoll until evloop_thaw() */
        uint32_t events;   /* what evloop_add() watches, to watch it again after a thaw */
        struct ev_source *next_parked;
};

struct evloop {
        int epfd;
        bool stop;
        bool frozen;              /* a paused microVM: guest-facing sources wait */
        struct ev_source *parked; /* sources that fired while frozen */
};

/* Creates the epoll instance. Returns 0 or -errno. */
int evloop_init(struct evloop *l);

/* Closes the epoll instance; sources stay owned by their owners. */
void evloop_fini(struct evloop *l);

/* Watches src->fd for events (EPOLLIN...). Returns 0 or -errno (-EPERM: fd not pollable). */
int evloop_add(struct evloop *l, struct ev_source *src, uint32_t events);

/* Stops watching src. Safe to call on an unregistered source. */
void evloop_del(struct evloop *l, struct ev_source *src);

/*
 * Waits up to timeout_ms (-1: forever) and runs the handlers of ready fds.
 * Returns the number of events handled, or -errno (EINTR is returned as 0).
 */
int evloop_run_once(struct evloop *l, int timeout_ms);

/* Runs until evloop_stop() is called from a handler. Returns 0 or -errno. */
int evloop_run(struct evloop *l);

/*
 * Freezes the loop (a paused microVM): from now on a source without keep_running that fires
 * is taken out of epoll, unhandled, until evloop_thaw(), so no device touches guest memory,
 * and a level-triggered fd does not spin the loop.
 */
void evloop_freeze(struct evloop *l);

/*
 * Watches every parked source again; a still-ready fd fires on the next pass, so nothing the
 * guest or the host asked for while frozen is lost. Returns 0 or the first -errno (the other
 * sources are still watched again).
 */
int evloop_thaw(struct evloop *l);

/* Makes evloop_run() return after the current batch of handlers. */
void evloop_stop(struct evloop *l);

#endif
