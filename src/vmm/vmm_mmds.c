/* Ties a netstack to a virtio-net device: TX steering, RX injection, a retransmission timer. */
#include "vmm/vmm_mmds.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "netstack/netstack.h"

struct mmds_link {
        struct netstack *ns;
        struct virtio_net *net;
        struct evloop *loop;
        struct ev_source timer_src;
        uint64_t armed; /* the deadline the timer is set for, 0: disarmed */
};

static uint64_t mono_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Sets the timer for the stack's next retransmission deadline. A deadline already past is
 * left to the RX pass under way (or the guest's next RX notification, when the RX queue is
 * full), so that a guest that stops taking frames cannot make the timer spin.
 */
static void rearm(struct mmds_link *l, uint64_t now)
{
        struct itimerspec its = {0};
        uint64_t when = 0;

        if (!netstack_deadline(l->ns, &when) || when <= now)
                when = 0;
        if (when == l->armed)
                return;
        l->armed = when;
        if (when) {
                its.it_value.tv_sec = (time_t)(when / 1000000000ULL);
                its.it_value.tv_nsec = (long)(when % 1000000000ULL);
        }
        if (timerfd_settime(l->timer_src.fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
                log_error("MMDS: timerfd_settime failed: %s", strerror(errno));
}

static bool link_tx(void *ctx, const uint8_t *frame, size_t len, bool csum_partial)
{
        struct mmds_link *l = ctx;
        uint64_t now;

        if (!netstack_wants(l->ns, frame, len))
                return false;
        now = mono_ns();
        netstack_take(l->ns, frame, len, csum_partial, now);
        rearm(l, now);
        return true;
}

static size_t link_rx(void *ctx, uint8_t *buf, size_t cap)
{
        struct mmds_link *l = ctx;
        uint64_t now = mono_ns();
        size_t n = netstack_next(l->ns, buf, cap, now);

        rearm(l, now);
        return n;
}

static void link_destroy(void *ctx)
{
        struct mmds_link *l = ctx;

        if (l->loop)
                evloop_del(l->loop, &l->timer_src);
        if (l->timer_src.fd >= 0)
                close(l->timer_src.fd);
        netstack_destroy(l->ns);
        free(l);
}

static void on_timer(struct ev_source *src, uint32_t events)
{
        struct mmds_link *l = src->opaque;
        uint64_t ticks;

        (void)events;
        if (read(src->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
                log_error("MMDS: reading the timer failed: %s", strerror(errno));
        l->armed = 0;
        virtio_net_intercept_event(l->net);
}

int vmm_mmds_attach(struct virtio_net *n, struct evloop *loop, uint32_t ipv4, netstack_answer_fn fn,
                    void *ctx, struct err *e)
{
        struct mmds_link *l = calloc(1, sizeof(*l));
        struct net_intercept ic = {link_tx, link_rx, link_destroy, NULL};
        int rc = -ENOMEM;

        if (!l)
                return err_errno(e, rc);
        l->net = n;
        l->timer_src = (struct ev_source){.fd = -1, .fn = on_timer, .opaque = l};
        rc = netstack_create(&l->ns, ipv4, fn, ctx);
        if (rc)
                goto fail;
        l->timer_src.fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (l->timer_src.fd < 0) {
                rc = -errno;
                goto fail;
        }
        rc = loop ? evloop_add(loop, &l->timer_src, EPOLLIN) : 0;
        if (rc)
                goto fail;
        l->loop = loop;
        ic.ctx = l;
        virtio_net_set_intercept(n, &ic);
        return 0;
fail:
        link_destroy(l);
        return err_set(e, rc, "network interface %s: cannot start the MMDS network stack: %s",
                       n->iface_id, strerror(-rc));
}
