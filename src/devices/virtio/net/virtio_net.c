/* virtio-net device: RX frame placement, bounded TX, rate limiting, offloads, PATCH, metrics. */
#include "devices/virtio/net/virtio_net.h"

#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

/* Offset of num_buffers in virtio_net_hdr_v1. */
#define HDR_NUM_BUFFERS 10
#define ETH_HLEN_BYTES  14

enum rx_result { RX_DONE, RX_NO_BUF, RX_DROP, RX_BROKEN };

static struct virtio_net *net_of(struct virtio_dev *d)
{
        return (struct virtio_net *)(void *)d; /* dev is the first member */
}

/* Watches the tap or stops watching it (VMM thread; only a flag without a loop). */
static void tap_poll(struct virtio_net *n, bool on)
{
        if (on == n->tap_polled)
                return;
        n->tap_polled = on;
        if (!n->loop)
                return;
        if (!on) {
                evloop_del(n->loop, &n->tap_src);
        } else if (evloop_add(n->loop, &n->tap_src, EPOLLIN)) {
                n->metrics.event_fails++;
                n->tap_polled = false;
        }
}

static void publish_and_notify(struct virtio_net *n, unsigned int qi)
{
        struct virtq *q = &n->dev.queues[qi];

        virtq_publish(q);
        if (virtq_should_notify(q))
                virtio_dev_signal_queue(&n->dev, qi);
}

/* ---- RX ---------------------------------------------------------------------------------- */

/* Copies up to len bytes into the chain's writable segments from byte off on. */
static uint32_t chain_write(const struct virtq_chain *c, uint64_t off, const uint8_t *src,
                            uint32_t len)
{
        uint32_t done = 0, n;
        unsigned int i;

        for (i = c->nreadable; i < c->nsegs && done < len; i++) {
                const struct virtq_seg *s = &c->segs[i];

                if (off >= s->len) {
                        off -= s->len;
                        continue;
                }
                n = s->len - (uint32_t)off;
                if (n > len - done)
                        n = len - done;
                memcpy(s->hva + off, src + done, n);
                done += n;
                off = 0;
        }
        return done;
}

static void rx_unpop(struct virtq *q, unsigned int count)
{
        while (count--)
                virtq_undo_pop(q);
}

/*
 * Places the pending frame: one chain without MRG_RXBUF, as many as it takes with it
 * (num_buffers tells the driver how many). Nothing is pushed unless the whole frame fits;
 * on RX_NO_BUF the chains go back to the ring and the frame stays pending.
 */
static enum rx_result rx_place(struct virtio_net *n, unsigned int *nbufs, const char **why)
{
        struct virtq *q = &n->dev.queues[NET_RXQ];
        bool mrg = virtio_dev_has_feature(&n->dev, VIRTIO_NET_F_MRG_RXBUF);
        uint32_t off = 0, w;
        unsigned int cnt = 0;
        int rc;

        while (off < n->rx_len) {
                rc = virtq_pop(q, &n->chain, why);
                if (rc <= 0) {
                        rx_unpop(q, cnt);
                        if (rc < 0)
                                return RX_BROKEN;
                        /* The whole ring could not hold it: it never will. */
                        return cnt >= q->size ? RX_DROP : RX_NO_BUF;
                }
                n->rx_popped++;
                if (n->chain.writable_bytes < (cnt ? 1 : TAP_VNET_HDR_LEN)) {
                        rx_unpop(q, cnt + 1);
                        *why = "RX buffer too small for a virtio-net header";
                        return RX_BROKEN;
                }
                if (cnt == 0)
                        memcpy(&n->first_chain, &n->chain, sizeof(n->chain));
                w = chain_write(&n->chain, 0, n->rx_buf + off, n->rx_len - off);
                n->rx_heads[cnt] = n->chain.head;
                n->rx_lens[cnt++] = w;
                off += w;
                if (off < n->rx_len && (!mrg || cnt >= q->size)) {
                        rx_unpop(q, cnt);
                        return RX_DROP;
                }
        }
        *nbufs = cnt;
        return RX_DONE;
}

/* Delivers the pending frame. Returns what happened; RX_DONE and RX_DROP clear it. */
static enum rx_result rx_deliver(struct virtio_net *n, bool *used_any)
{
        struct virtq *q = &n->dev.queues[NET_RXQ];
        const char *why = "";
        unsigned int nbufs = 0, i;
        uint8_t num[2];
        enum rx_result res;

        res = rx_place(n, &nbufs, &why);
        switch (res) {
        case RX_DONE:
                num[0] = (uint8_t)nbufs;
                num[1] = (uint8_t)(nbufs >> 8);
                chain_write(&n->first_chain, HDR_NUM_BUFFERS, num, sizeof(num));
                for (i = 0; i < nbufs; i++)
                        virtq_push(q, n->rx_heads[i], n->rx_lens[i]);
                *used_any = true;
                n->metrics.rx_bytes_count += n->rx_len;
                n->metrics.rx_packets_count++;
                n->metrics.rx_count++;
                n->rx_len = 0;
                break;
        case RX_DROP:
                /* Defined outcome for a frame larger than the guest's buffers: dropped, counted. */
                n->metrics.rx_fails++;
                log_guest_warn("%s: dropped a %u-byte frame larger than the RX buffers",
                               n->dev.name, n->rx_len);
                n->rx_len = 0;
                break;
        case RX_BROKEN:
                n->metrics.rx_fails++;
                virtio_dev_needs_reset(&n->dev, why);
                break;
        case RX_NO_BUF:
        default:
                n->metrics.no_rx_avail_buffer++;
                break;
        }
        return res;
}

/* The interceptor's next frame, behind a zeroed virtio header. Returns 1 (got one) or 0. */
static int rx_from_intercept(struct virtio_net *n)
{
        size_t len;

        if (!n->icpt.rx)
                return 0;
        len = n->icpt.rx(n->icpt.ctx, n->rx_buf + TAP_VNET_HDR_LEN,
                         sizeof(n->rx_buf) - TAP_VNET_HDR_LEN);
        if (!len)
                return 0;
        memset(n->rx_buf, 0, TAP_VNET_HDR_LEN);
        n->rx_buf[HDR_NUM_BUFFERS] = 1;
        n->rx_len = (uint32_t)(TAP_VNET_HDR_LEN + len);
        return 1;
}

/* Reads the next frame from the tap. Returns 1 (got one), 0 (tap empty) or -errno. */
static int rx_read(struct virtio_net *n)
{
        ssize_t r = read(n->tap_fd, n->rx_buf, sizeof(n->rx_buf));

        if (r < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                        return 0;
                n->metrics.tap_read_fails++;
                return -errno;
        }
        if (r == 0) { /* end of file: not a tap any more (a socketpair whose peer left) */
                n->metrics.tap_read_fails++;
                return -EPIPE;
        }
        if ((size_t)r < TAP_VNET_HDR_LEN) {
                n->metrics.rx_fails++; /* not a frame: skip it */
                return 1;
        }
        /* The tap leaves num_buffers alone; it is 1 unless rx_deliver() merges buffers. */
        n->rx_buf[HDR_NUM_BUFFERS] = 1;
        n->rx_buf[HDR_NUM_BUFFERS + 1] = 0;
        n->rx_len = (uint32_t)r;
        return 1;
}

static bool rx_rate_limited(struct virtio_net *n)
{
        return !rate_limiter_consume_request(&n->rx_rl, n->rx_len);
}

/*
 * Moves frames from the tap into the guest, at most a queue's worth and NET_RX_PASS_CHAINS
 * chains popped (the loop calls again while the tap stays readable). Decides whether the tap
 * stays watched. Lock held.
 */
static void rx_run(struct virtio_net *n)
{
        bool used_any = false, poll = false;
        unsigned int budget = NET_QUEUE_SIZE;
        enum rx_result res;
        int rc;

        n->rx_popped = 0;
        while (budget--) {
                if (n->rx_popped >= n->rx_pass_chains) {
                        poll = true; /* the chain budget is spent: come back */
                        break;
                }
                if (!n->rx_len && !rx_from_intercept(n)) {
                        rc = rx_read(n);
                        if (rc == 0)
                                poll = true; /* empty: wait for the next frame */
                        if (rc < 0)
                                log_guest_warn("%s: reading the tap failed: %s; RX resumes at the "
                                               "guest's next RX notification",
                                               n->dev.name, strerror(-rc));
                        if (rc <= 0)
                                break; /* an error stops polling: a dead tap must not spin */
                        if (!n->rx_len)
                                continue; /* a runt that was skipped */
                }
                if (rx_rate_limited(n)) {
                        n->metrics.rx_rate_limiter_throttled++;
                        break; /* the limiter's timer resumes */
                }
                res = rx_deliver(n, &used_any);
                if (res == RX_NO_BUF) {
                        rate_limiter_replenish(&n->rx_rl, 1, RL_OPS);
                        rate_limiter_replenish(&n->rx_rl, n->rx_len, RL_BYTES);
                        break; /* the driver's next RX notification resumes */
                }
                if (res == RX_BROKEN)
                        break;
        }
        if (budget == (unsigned int)-1)
                poll = true; /* budget spent with frames left: come back */
        if (used_any)
                publish_and_notify(n, NET_RXQ);
        tap_poll(n, poll);
        /* The interceptor's frames do not wake the tap: a spent budget comes back by itself. */
        if (n->icpt.rx && (budget == (unsigned int)-1 || n->rx_popped >= n->rx_pass_chains))
                virtio_dev_kick(&n->dev, NET_RXQ);
}

/* ---- TX ---------------------------------------------------------------------------------- */

/* Gathers the readable part of the chain. Returns its length, or 0 when it is malformed. */
static uint32_t tx_gather(struct virtio_net *n)
{
        const struct virtq_chain *c = &n->chain;
        uint32_t len = 0;
        unsigned int i;

        if (c->readable_bytes < TAP_VNET_HDR_LEN || c->readable_bytes > NET_MAX_FRAME)
                return 0;
        for (i = 0; i < c->nreadable; i++) {
                memcpy(n->tx_buf + len, c->segs[i].hva, c->segs[i].len);
                len += c->segs[i].len;
        }
        return len;
}

static bool tx_rate_limited(struct virtio_net *n, uint32_t len)
{
        return !rate_limiter_consume_request(&n->tx_rl, len);
}

/* Sends one gathered frame to the tap, counting what happened. */
static void tx_send(struct virtio_net *n, uint32_t len)
{
        const uint8_t *src_mac = n->tx_buf + TAP_VNET_HDR_LEN + 6;
        uint64_t t0;
        ssize_t w;

        /* As Firecracker: a frame from another MAC is counted, not stopped. */
        if (n->has_mac && len >= TAP_VNET_HDR_LEN + ETH_HLEN_BYTES &&
            memcmp(src_mac, n->mac, sizeof(n->mac)) != 0)
                n->metrics.tx_spoofed_mac_count++;
        t0 = now_us();
        w = write(n->tap_fd, n->tx_buf, len);
        metric_latency_record(&n->metrics.tap_write_agg, now_us() - t0);
        if (w < 0) {
                n->metrics.tap_write_fails++;
                n->metrics.tx_fails++;
                log_guest_warn("%s: tap write of %u bytes failed: %s", n->dev.name, len,
                               strerror(errno));
                return;
        }
        n->metrics.tx_bytes_count += len;
        n->metrics.tx_packets_count++;
        n->metrics.tx_count++;
}

/* Handles one popped chain. Returns false when processing must stop (throttled). */
static bool tx_chain(struct virtio_net *n)
{
        struct virtq *q = &n->dev.queues[NET_TXQ];
        uint32_t len = tx_gather(n);

        if (!len) {
                n->metrics.tx_malformed_frames++;
                log_guest_warn("%s: malformed TX frame of %llu bytes", n->dev.name,
                               (unsigned long long)n->chain.readable_bytes);
                virtq_push(q, n->chain.head, 0);
                return true;
        }
        /* As Firecracker: frames for the metadata service skip the TX limiter and the tap. */
        if (n->icpt.tx &&
            n->icpt.tx(n->icpt.ctx, n->tx_buf + TAP_VNET_HDR_LEN, len - TAP_VNET_HDR_LEN,
                       n->tx_buf[0] & VIRTIO_NET_HDR_F_NEEDS_CSUM)) {
                n->icpt_took = true;
                virtq_push(q, n->chain.head, 0);
                return true;
        }
        if (tx_rate_limited(n, len)) {
                virtq_undo_pop(q);
                n->metrics.tx_rate_limiter_throttled++;
                return false;
        }
        tx_send(n, len);
        virtq_push(q, n->chain.head, 0);
        return true;
}

/*
 * Sends at most a queue's worth of frames; with more waiting it kicks its own queue so
 * the VMM loop serves other events first. Lock held.
 */
static void tx_run(struct virtio_net *n)
{
        struct virtq *q = &n->dev.queues[NET_TXQ];
        unsigned int budget = NET_QUEUE_SIZE, done = 0;
        const char *why = "";
        int rc = 0;

        while (done < budget) {
                rc = virtq_pop(q, &n->chain, &why);
                if (rc < 0)
                        virtio_dev_needs_reset(&n->dev, why);
                if (rc <= 0)
                        break;
                n->metrics.tx_remaining_reqs_count += virtq_pending(q);
                if (!tx_chain(n))
                        break;
                done++;
        }
        if (done == 0 && rc == 0)
                n->metrics.no_tx_avail_buffer++;
        if (done)
                publish_and_notify(n, NET_TXQ);
        if (done == budget && virtio_dev_running(&n->dev) && virtq_pending(q))
                virtio_dev_kick(&n->dev, NET_TXQ);
        /* The interceptor may have answers now (Firecracker runs RX after such a TX pass). */
        if (n->icpt_took && !rate_limiter_blocked(&n->rx_rl))
                rx_run(n);
        n->icpt_took = false;
}

/* ---- virtio_dev_ops ---------------------------------------------------------------------- */

static void net_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        struct virtio_net *n = net_of(d);
        uint32_t i;

        for (i = 0; i < len; i++)
                data[i] = off + i < sizeof(n->config) ? n->config[off + i] : 0;
}

/* As Firecracker: the driver may write the MAC bytes; anything else is refused. */
static void net_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data, uint32_t len)
{
        struct virtio_net *n = net_of(d);

        if (off >= sizeof(n->mac) || len > sizeof(n->mac) - off) {
                n->metrics.cfg_fails++;
                log_guest_warn("%s: driver wrote config space outside the MAC (offset 0x%llx, "
                               "%u bytes)",
                               d->name, (unsigned long long)off, len);
                return;
        }
        memcpy(n->config + off, data, len);
        n->metrics.mac_address_updates++;
}

static int net_activate(struct virtio_dev *d)
{
        struct virtio_net *n = net_of(d);

        /* vCPU thread: the tap's offloads and polling are set up by the VMM thread. */
        n->offloads_pending = true;
        virtio_dev_kick(d, NET_RXQ);
        return 0;
}

static void net_reset(struct virtio_dev *d)
{
        /* The tap stops being read on its next event (the device is not running then). */
        (void)d;
}

static unsigned int offload_flags(const struct virtio_dev *d)
{
        unsigned int f = 0;

        if (virtio_dev_has_feature(d, VIRTIO_NET_F_GUEST_CSUM)) {
                f |= TUN_F_CSUM;
                if (virtio_dev_has_feature(d, VIRTIO_NET_F_GUEST_TSO4))
                        f |= TUN_F_TSO4;
                if (virtio_dev_has_feature(d, VIRTIO_NET_F_GUEST_TSO6))
                        f |= TUN_F_TSO6;
                if (virtio_dev_has_feature(d, VIRTIO_NET_F_GUEST_UFO))
                        f |= TUN_F_UFO;
        }
        return f;
}

static void apply_offloads(struct virtio_net *n)
{
        int rc;

        n->offloads_pending = false;
        if (n->host_dev_name == NULL)
                return; /* not a tap (tests) */
        rc = tap_set_offload(n->tap_fd, offload_flags(&n->dev));
        if (rc) {
                n->metrics.activate_fails++;
                log_error("%s: TUNSETOFFLOAD failed: %s", n->dev.name, strerror(-rc));
        }
}

static void net_queue_notify(struct virtio_dev *d, unsigned int q)
{
        struct virtio_net *n = net_of(d);

        if (n->offloads_pending)
                apply_offloads(n);
        if (q == NET_RXQ) {
                n->metrics.rx_queue_event_count++;
                if (rate_limiter_blocked(&n->rx_rl))
                        n->metrics.rx_rate_limiter_throttled++;
                else
                        rx_run(n);
        } else if (q == NET_TXQ) {
                n->metrics.tx_queue_event_count++;
                if (rate_limiter_blocked(&n->tx_rl))
                        n->metrics.tx_rate_limiter_throttled++;
                else
                        tx_run(n);
        }
}

static void net_destroy(struct virtio_dev *d)
{
        virtio_net_destroy(net_of(d));
}

/* "net_<iface_id>", as Firecracker's NetMetricsPerDevice. */
const struct device_metrics_kind virtio_net_metrics_kind = {
    .group = "net",
    .kind = DEVICE_VIRTIO_NET,
    .sum_first = false,
    .key_size = 300,
    .table = &net_metrics_table,
};

/*
 * The queues hold the device's state; what a snapshot leaves out is a frame read from the tap
 * that no guest buffer took yet (the loaded VM never sees it, as if the wire dropped it) and
 * the rate limiters' buckets (full again after a load).
 */
static int net_snapshot_check(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

static const struct virtio_dev_ops net_ops = {
    .snapshot_check = net_snapshot_check,
    .read_config = net_read_config,
    .write_config = net_write_config,
    .activate = net_activate,
    .reset = net_reset,
    .queue_notify = net_queue_notify,
    .destroy = net_destroy,
};

/* ---- events from the VMM loop ------------------------------------------------------------ */

void virtio_net_tap_event(struct virtio_net *n)
{
        virtio_dev_lock(&n->dev);
        n->metrics.rx_tap_event_count++;
        if (!virtio_dev_running(&n->dev) || rate_limiter_blocked(&n->rx_rl))
                tap_poll(n, false); /* resumed by activation or the limiter's timer */
        else
                rx_run(n);
        virtio_dev_unlock(&n->dev);
}

void virtio_net_set_intercept(struct virtio_net *n, const struct net_intercept *ic)
{
        virtio_dev_lock(&n->dev);
        n->icpt = *ic;
        virtio_dev_unlock(&n->dev);
}

void virtio_net_intercept_event(struct virtio_net *n)
{
        virtio_dev_lock(&n->dev);
        if (virtio_dev_running(&n->dev) && !rate_limiter_blocked(&n->rx_rl))
                rx_run(n);
        virtio_dev_unlock(&n->dev);
}

void virtio_net_rx_rate_limiter_event(struct virtio_net *n)
{
        virtio_dev_lock(&n->dev);
        n->metrics.rx_event_rate_limiter_count++;
        if (rate_limiter_event(&n->rx_rl) == 0 && virtio_dev_running(&n->dev))
                rx_run(n);
        virtio_dev_unlock(&n->dev);
}

void virtio_net_tx_rate_limiter_event(struct virtio_net *n)
{
        virtio_dev_lock(&n->dev);
        n->metrics.tx_rate_limiter_event_count++;
        if (rate_limiter_event(&n->tx_rl) == 0 && virtio_dev_running(&n->dev))
                tx_run(n);
        virtio_dev_unlock(&n->dev);
}

static void on_tap(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_net_tap_event(src->opaque);
}

static void on_rx_rl(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_net_rx_rate_limiter_event(src->opaque);
}

static void on_tx_rl(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_net_tx_rate_limiter_event(src->opaque);
}

/* ---- lifecycle ----------------------------------------------------------------------------- */

static uint64_t net_features(const struct net_params *p)
{
        uint64_t f = 0;

        f |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM;
        f |= 1ULL << VIRTIO_NET_F_GUEST_TSO4 | 1ULL << VIRTIO_NET_F_GUEST_TSO6;
        f |= 1ULL << VIRTIO_NET_F_GUEST_UFO;
        f |= 1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6;
        f |= 1ULL << VIRTIO_NET_F_HOST_UFO;
        f |= 1ULL << VIRTIO_NET_F_MRG_RXBUF | 1ULL << VIRTIO_RING_F_EVENT_IDX;
        if (p->has_mac)
                f |= 1ULL << VIRTIO_NET_F_MAC;
        if (p->has_mtu)
                f |= 1ULL << VIRTIO_NET_F_MTU;
        return f;
}

static int watch(struct virtio_net *n, struct ev_source *src, int fd, ev_handler_fn fn)
{
        *src = (struct ev_source){.fd = fd, .fn = fn, .opaque = n};
        return n->loop ? evloop_add(n->loop, src, EPOLLIN) : 0;
}

static int net_setup(struct virtio_net *n, const struct net_params *p, struct err *e)
{
        int rc;

        n->iface_id = strdup(p->iface_id);
        if (!n->iface_id)
                return err_errno(e, -ENOMEM);
        n->dev.base.id = n->iface_id;
        n->dev.metrics = &n->metrics;
        n->dev.metrics_prev = &n->metrics_prev;
        n->has_mac = p->has_mac;
        memcpy(n->mac, p->mac, sizeof(n->mac));
        if (p->has_mac)
                memcpy(n->config, p->mac, sizeof(n->mac));
        if (p->has_mtu) {
                n->config[10] = (uint8_t)p->mtu;
                n->config[11] = (uint8_t)(p->mtu >> 8);
        }
        rc = rate_limiter_init(&n->rx_rl, &p->rx_rate_limiter);
        if (!rc)
                rc = rate_limiter_init(&n->tx_rl, &p->tx_rate_limiter);
        if (rc)
                return err_set(e, rc, "cannot create the rate limiters: %s", strerror(-rc));
        n->tap_src = (struct ev_source){.fd = n->tap_fd, .fn = on_tap, .opaque = n};
        rc = watch(n, &n->rx_rl_src, n->rx_rl.timer_fd, on_rx_rl);
        if (!rc)
                rc = watch(n, &n->tx_rl_src, n->tx_rl.timer_fd, on_tx_rl);
        return rc ? err_errno(e, rc) : 0;
}

/* The device over fd; a borrowed fd is never closed here, an owned one always on failure. */
static int net_create_on(struct virtio_net **out, const struct net_params *p, int fd, bool borrowed,
                         const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        struct virtio_net *n;
        char name[80];
        int rc;

        *out = NULL;
        n = calloc(1, sizeof(*n));
        if (!n) {
                if (!borrowed)
                        close(fd);
                return -ENOMEM;
        }
        n->tap_fd = fd;
        n->tap_borrowed = borrowed;
        n->rx_pass_chains = NET_RX_PASS_CHAINS;
        n->loop = loop;
        snprintf(name, sizeof(name), "net %s", p->iface_id);
        rc = virtio_dev_init(&n->dev, &net_ops, name, VIRTIO_ID_NET, net_features(p), 2,
                             NET_QUEUE_SIZE, mem);
        if (rc) {
                if (!borrowed)
                        close(fd);
                free(n);
                return err_set(e, rc, "network interface %s: %s", p->iface_id, strerror(-rc));
        }
        rc = net_setup(n, p, e);
        if (rc) {
                err_prefix(e, "network interface %s: ", p->iface_id);
                virtio_net_destroy(n);
                return rc;
        }
        *out = n;
        return 0;
}

int virtio_net_create_fd(struct virtio_net **out, const struct net_params *p, int fd,
                         const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        return net_create_on(out, p, fd, false, mem, loop, e);
}

int virtio_net_create(struct virtio_net **out, const struct net_params *p,
                      const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        char *dev_name;
        int rc;

        *out = NULL;
        if (p->tap_fd < 0)
                return err_set(e, -EBADF, "network interface %s: no tap is open", p->iface_id);
        dev_name = strdup(p->host_dev_name);
        if (!dev_name)
                return -ENOMEM;
        rc = net_create_on(out, p, p->tap_fd, true, mem, loop, e);
        if (rc) {
                free(dev_name);
                return rc;
        }
        (*out)->host_dev_name = dev_name;
        return 0;
}

void virtio_net_destroy(struct virtio_net *n)
{
        if (!n)
                return;
        if (n->loop) {
                evloop_del(n->loop, &n->tap_src);
                evloop_del(n->loop, &n->rx_rl_src);
                evloop_del(n->loop, &n->tx_rl_src);
        }
        if (n->icpt.destroy)
                n->icpt.destroy(n->icpt.ctx);
        if (n->tap_fd >= 0 && !n->tap_borrowed)
                close(n->tap_fd);
        rate_limiter_destroy(&n->rx_rl);
        rate_limiter_destroy(&n->tx_rl);
        virtio_dev_fini(&n->dev);
        free(n->iface_id);
        free(n->host_dev_name);
        free(n);
}

/* ---- PATCH and metrics -------------------------------------------------------------------- */

void virtio_net_update_rate_limiters(struct virtio_net *n, const struct rate_limiter_update *rx,
                                     const struct rate_limiter_update *tx)
{
        virtio_dev_lock(&n->dev);
        rate_limiter_update(&n->rx_rl, rx);
        rate_limiter_update(&n->tx_rl, tx);
        virtio_dev_unlock(&n->dev);
}
