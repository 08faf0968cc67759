/* virtio-vsock device: the three queues, config space (the guest CID), vsock metrics. */
#include "devices/virtio/vsock/virtio_vsock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"

static struct virtio_vsock *vsock_of(struct virtio_dev *d)
{
        return (struct virtio_vsock *)(void *)d; /* dev is the first member */
}

static uint64_t monotonic_ms(void)
{
        return now_ms();
}

/* ---- the queues --------------------------------------------------------------------------------
 */

static void publish(struct virtio_vsock *v, unsigned int qi)
{
        struct virtq *q = &v->dev.queues[qi];

        virtq_publish(q);
        if (virtq_should_notify(q))
                virtio_dev_signal_queue(&v->dev, qi);
}

/* Pops the next chain of queue qi; a broken ring puts the device in NEEDS_RESET. 1, 0 or <0. */
static int pop(struct virtio_vsock *v, unsigned int qi, struct metric_counter *fails)
{
        const char *why = "";
        int rc = virtq_pop(&v->dev.queues[qi], &v->chain, &why);

        if (rc < 0) {
                metrics_inc(fails);
                virtio_dev_needs_reset(&v->dev, why);
        }
        return rc;
}

/* One RX chain filled from the backend. Returns false when the backend had nothing (undone). */
static bool rx_one(struct virtio_vsock *v, uint32_t *used)
{
        const char *why = "";

        *used = 0;
        if (vsock_pkt_rx_parse(&v->pkt, &v->chain, &why)) {
                log_guest_warn("vsock: RX queue error: %s. Discarding the package.", why);
                return true;
        }
        if (vsock_muxer_recv_pkt(&v->mux, &v->pkt, v->clock_ms())) {
                virtq_undo_pop(&v->dev.queues[VSOCK_RXQ]);
                return false;
        }
        vsock_pkt_commit_hdr(&v->pkt, &v->chain);
        *used = VSOCK_HDR_SIZE + v->pkt.hdr.len;
        return true;
}

/*
 * Fills the guest's RX buffers while the backend has packets (process_rx). A bounded pass:
 * at most one ring's worth, then the queue re-kicks itself. Lock held.
 */
static void process_rx(struct virtio_vsock *v)
{
        struct virtq *q = &v->dev.queues[VSOCK_RXQ];
        unsigned int budget = VSOCK_QUEUE_SIZE;
        bool used_any = false;
        uint32_t used;

        if (v->await_reset_ack)
                return;
        while (vsock_muxer_has_rx(&v->mux)) {
                if (budget-- == 0) {
                        virtio_dev_kick(&v->dev, VSOCK_RXQ);
                        break;
                }
                if (pop(v, VSOCK_RXQ, &metrics.vsock.rx_queue_event_fails) <= 0 ||
                    !rx_one(v, &used))
                        break;
                virtq_push(q, v->chain.head, used);
                used_any = true;
        }
        if (used_any)
                publish(v, VSOCK_RXQ);
}

/* Hands the guest's TX packets to the backend (process_tx), one ring's worth a pass. */
static void process_tx(struct virtio_vsock *v)
{
        struct virtq *q = &v->dev.queues[VSOCK_TXQ];
        unsigned int budget = VSOCK_QUEUE_SIZE;
        bool used_any = false;
        const char *why = "";

        for (;;) {
                if (budget-- == 0) {
                        virtio_dev_kick(&v->dev, VSOCK_TXQ);
                        break;
                }
                if (pop(v, VSOCK_TXQ, &metrics.vsock.tx_queue_event_fails) <= 0)
                        break;
                if (vsock_pkt_tx_parse(&v->pkt, &v->chain, &why) == 0)
                        vsock_muxer_send_pkt(&v->mux, &v->pkt, v->clock_ms());
                else
                        log_guest_warn("vsock: error reading TX packet: %s", why);
                virtq_push(q, v->chain.head, 0);
                used_any = true;
        }
        if (used_any)
                publish(v, VSOCK_TXQ);
}

/* The backend starts on the VMM thread once the driver is live, after any reset's stop. */
static void backend_sync(struct virtio_vsock *v)
{
        int rc;

        if (v->stop_pending)
                vsock_muxer_stop(&v->mux);
        v->stop_pending = false;
        if (!virtio_dev_running(&v->dev) || v->mux.started)
                return;
        rc = vsock_muxer_start(&v->mux);
        if (rc) {
                metrics_inc(&metrics.vsock.activate_fails);
                log_error("vsock: cannot watch the host socket: %s", strerror(-rc));
        }
}

/* ---- virtio_dev_ops ------------------------------------------------------------------------- */

/* Config space: the guest CID as a u64, read as 8 bytes at 0 or 4 bytes at 0 or 4. */
static void vsock_read_config(struct virtio_dev *d, uint64_t off, uint8_t *data, uint32_t len)
{
        uint64_t cid = vsock_of(d)->cid;

        memset(data, 0, len);
        if (off == 0 && (len == 8 || len == 4)) {
                st_le(data, cid, len);
        } else if (off == 4 && len == 4) {
                st_le32(data, (uint32_t)(cid >> 32));
        } else {
                metrics_inc(&metrics.vsock.cfg_fails);
                log_guest_warn("vsock: virtio-vsock received invalid read request of %u bytes at "
                               "offset %llu",
                               len, (unsigned long long)off);
        }
}

static void vsock_write_config(struct virtio_dev *d, uint64_t off, const uint8_t *data,
                               uint32_t len)
{
        (void)d;
        (void)data;
        metrics_inc(&metrics.vsock.cfg_fails);
        log_guest_warn("vsock: guest driver attempted to write device config (offset=%#llx, "
                       "len=%#x)",
                       (unsigned long long)off, len);
}

/* vCPU thread: the backend starts on the VMM thread, which the RX queue's kick wakes. */
static int vsock_activate(struct virtio_dev *d)
{
        virtio_dev_kick(d, VSOCK_RXQ);
        return 0;
}

/* vCPU thread: connections end on the VMM thread (its next event or activation). */
static void vsock_reset(struct virtio_dev *d)
{
        vsock_of(d)->stop_pending = true;
        vsock_of(d)->await_reset_ack = false; /* a new driver starts afresh */
}

static void vsock_queue_notify(struct virtio_dev *d, unsigned int q)
{
        struct virtio_vsock *v = vsock_of(d);

        backend_sync(v);
        if (q == VSOCK_EVQ)
                v->await_reset_ack = false;
        if (q == VSOCK_TXQ) {
                process_tx(v);
                metrics_inc(&metrics.vsock.tx_queue_event_count);
        } else if (q == VSOCK_RXQ && vsock_muxer_has_rx(&v->mux)) {
                metrics_inc(&metrics.vsock.rx_queue_event_count);
        }
        if (vsock_muxer_has_rx(&v->mux))
                process_rx(v);
}

/* ---- snapshots (Firecracker's vsock persist.rs) -----------------------------------------------
 */

/* What a snapshot keeps of the device beyond the common virtio state (no implicit padding). */
struct vsock_snap {
        uint64_t cid;
        uint32_t local_port_last;
        uint32_t reserved;
};

static int vsock_snapshot_check(struct virtio_dev *d)
{
        (void)d;
        return 0;
}

/*
 * Host connections do not survive a snapshot: as Firecracker, the driver is told with a
 * TRANSPORT_RESET event written into its next event buffer before the state is saved, so
 * the event is in the memory file and the guest drops its connections once it runs again.
 */
static void vsock_prepare_save(struct virtio_dev *d)
{
        struct virtio_vsock *v = vsock_of(d);
        struct virtq *q = &d->queues[VSOCK_EVQ];
        uint32_t ev = VSOCK_EVENT_TRANSPORT_RESET;
        const char *why = "";
        int rc;

        if (!virtio_dev_running(d))
                return;
        rc = virtq_pop(q, &v->chain, &why);
        if (rc <= 0 || v->chain.nsegs == v->chain.nreadable ||
            v->chain.segs[v->chain.nreadable].len < sizeof(ev)) {
                metrics_inc(&metrics.vsock.ev_queue_event_fails);
                log_error("Failed to send reset transport event: %s",
                          rc < 0    ? why
                          : rc == 0 ? "the event queue is empty"
                                    : "short buffer");
                if (rc > 0)
                        virtq_undo_pop(q);
                return;
        }
        memcpy(v->chain.segs[v->chain.nreadable].hva, &ev, sizeof(ev));
        virtq_push(q, v->chain.head, (uint32_t)v->chain.writable_bytes);
        virtq_publish(q);
        virtio_dev_signal(d, VIRTIO_INT_VRING);
}

static int vsock_save_state(struct virtio_dev *d, void *buf, size_t cap, size_t *len)
{
        struct virtio_vsock *v = vsock_of(d);
        struct vsock_snap s = {.cid = v->cid, .local_port_last = v->mux.local_port_last};

        if (cap < sizeof(s))
                return -ENOSPC;
        memcpy(buf, &s, sizeof(s));
        *len = sizeof(s);
        return 0;
}

/* The backend comes back empty, on the configuration's (or vsock_override's) socket. */
static int vsock_restore_state(struct virtio_dev *d, const void *buf, size_t len)
{
        struct virtio_vsock *v = vsock_of(d);
        struct vsock_snap s;

        if (len != sizeof(s))
                return -EINVAL;
        memcpy(&s, buf, sizeof(s));
        if (s.cid != v->cid)
                return -EINVAL;
        v->mux.local_port_last = s.local_port_last;
        if (!virtio_dev_running(d))
                return 0;
        /* As Firecracker's kick: the guest looks at its event queue again, and packets for
         * it wait for its acknowledgement. The load's kick of every queue must not count as
         * that: the event queue's is taken back (no guest runs yet). */
        v->await_reset_ack = true;
        if (d->notify_fds[VSOCK_EVQ] >= 0)
                efd_drain(d->notify_fds[VSOCK_EVQ], NULL);
        virtio_dev_signal(d, VIRTIO_INT_VRING);
        return 0;
}

static void vsock_destroy_op(struct virtio_dev *d)
{
        virtio_vsock_destroy(vsock_of(d));
}

static const struct virtio_dev_ops vsock_ops = {
    .read_config = vsock_read_config,
    .write_config = vsock_write_config,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .queue_notify = vsock_queue_notify,
    .snapshot_check = vsock_snapshot_check,
    .prepare_save = vsock_prepare_save,
    .save_state = vsock_save_state,
    .restore_state = vsock_restore_state,
    .destroy = vsock_destroy_op,
};

/* ---- the backend's events ------------------------------------------------------------------- */

void virtio_vsock_backend_event(struct virtio_vsock *v)
{
        virtio_dev_lock(&v->dev);
        if (!virtio_dev_running(&v->dev))
                v->stop_pending = true; /* reset, or a broken driver: end the connections */
        backend_sync(v);
        if (virtio_dev_running(&v->dev)) {
                vsock_muxer_events(&v->mux, v->clock_ms());
                process_tx(v);
                if (vsock_muxer_has_rx(&v->mux))
                        process_rx(v);
        }
        virtio_dev_unlock(&v->dev);
}

static void on_backend(struct ev_source *src, uint32_t events)
{
        (void)events;
        virtio_vsock_backend_event(src->opaque);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

int virtio_vsock_create(struct virtio_vsock **out, const struct vsock_params *p,
                        const struct guest_mem *mem, struct evloop *loop, struct err *e)
{
        uint64_t f = 1ULL << VSOCK_F_IN_ORDER | 1ULL << VIRTIO_RING_F_EVENT_IDX;
        struct virtio_vsock *v;
        int rc;

        *out = NULL;
        v = calloc(1, sizeof(*v));
        if (!v)
                return err_errno(e, -ENOMEM);
        v->cid = p->guest_cid;
        v->loop = loop;
        v->clock_ms = monotonic_ms;
        rc = vsock_muxer_init(&v->mux, v->cid, p->uds_path, p->listen_fd);
        if (rc) {
                free(v);
                return err_set(e, rc, "vsock: cannot create the backend: %s", strerror(-rc));
        }
        rc = virtio_dev_init(&v->dev, &vsock_ops, "vsock", VIRTIO_ID_VSOCK, f, VSOCK_NUM_QUEUES,
                             VSOCK_QUEUE_SIZE, mem);
        if (rc) {
                vsock_muxer_fini(&v->mux);
                free(v);
                return err_set(e, rc, "vsock: %s", strerror(-rc));
        }
        v->dev.base.id = VSOCK_DEV_ID;
        v->mux_src =
            (struct ev_source){.fd = vsock_muxer_fd(&v->mux), .fn = on_backend, .opaque = v};
        rc = loop ? evloop_add(loop, &v->mux_src, EPOLLIN) : 0;
        if (rc) {
                virtio_vsock_destroy(v);
                return err_set(e, rc, "vsock: %s", strerror(-rc));
        }
        *out = v;
        return 0;
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
        if (!v)
                return;
        if (v->loop)
                evloop_del(v->loop, &v->mux_src);
        vsock_muxer_fini(&v->mux);
        virtio_dev_fini(&v->dev);
        free(v);
}
