/*
 * libFuzzer target: guest memory with a TX and an RX virtqueue laid out from the input bytes,
 * then the virtio-vsock device's TX pass (packets parsed and handed to the Unix-socket
 * backend) and RX pass (packets for the guest), with one connection on a socket pair whose
 * host end holds data.
 *
 * Input: [0..2) TX queue size, [2..4) RX queue size, then bytes copied into guest memory from
 * address 0 (TX: descriptor table at 0x0, avail ring at 0x100, used ring at 0x200; RX: at
 * 0x400, 0x500, 0x600; overlapping as a hostile driver may make them). Checks: no more chains
 * completed than each queue holds, no RX packet longer than a header and 64 KiB, never more
 * connections than the limit.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "devices/virtio/mmio.h"
#include "../virtio_mmio_driver.h"
#include "devices/virtio/vsock/virtio_vsock.h"

#define MEM_SIZE (256u << 10)
#define RXQ_BASE 0x400u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_vsock *v;
        struct virtio_mmio m;
};

static struct ctx *ctx_get(void)
{
        static struct ctx c;
        struct vsock_params p = {
            .guest_cid = 3, .uds_path = "/nonexistent/fuzz.sock", .listen_fd = -1};
        struct err e;

        if (!c.ram) {
                log_set_level(LOG_OFF);
                c.ram = calloc(1, MEM_SIZE);
                if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE))
                        abort();
                if (virtio_vsock_create(&c.v, &p, &c.mem, NULL, &e))
                        abort();
                virtio_mmio_init(&c.m, &c.v->dev);
        }
        return &c;
}

static void bring_up(struct virtio_mmio *m, uint16_t txsize, uint16_t rxsize)
{
        mmio_negotiate(m, 0);
        mmio_queue(m, VSOCK_RXQ, rxsize, RXQ_BASE, RXQ_BASE + 0x100, RXQ_BASE + 0x200);
        mmio_queue(m, VSOCK_TXQ, txsize, 0, 0x100, 0x200);
        mmio_queue(m, VSOCK_EVQ, 1, 0x800, 0x900, 0xa00);
        mmio_driver_ok(m);
}

/* One established connection (host port 1024, guest port 1025) whose host end holds data. */
static int add_conn(struct virtio_vsock *v)
{
        struct vsock_conn c;
        int sv[2];

        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
                abort();
        vsock_conn_init_peer(&c, sv[0], 3, 1024, 1025, 4096);
        c.state = VC_ESTABLISHED;
        c.pending_rx = VC_RX_RW;
        if (vsock_muxer_add(&v->mux, &c) < 0)
                abort();
        if (write(sv[1], "host data", 9) != 9)
                abort();
        return sv[1];
}

static void check_rx(struct ctx *c, uint16_t before, uint16_t rxsize)
{
        struct virtq *q = &c->v->dev.queues[VSOCK_RXQ];
        uint16_t i;

        if ((uint16_t)(q->next_used - before) > rxsize)
                abort();
        for (i = before; i != q->next_used; i++) {
                uint32_t len;

                memcpy(&len, q->used + 4 + 8 * (i & (q->size - 1)) + 4, 4);
                if (len > VSOCK_HDR_SIZE + VSOCK_MAX_PKT_BUF)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ctx *c = ctx_get();
        struct virtio_vsock *v = c->v;
        uint16_t txsize, rxsize, tx0, rx0;
        int host;

        if (size < 4)
                return 0;
        txsize = (uint16_t)(data[0] | data[1] << 8);
        rxsize = (uint16_t)(data[2] | data[3] << 8);
        data += 4;
        size -= 4;
        memset(c->ram, 0, MEM_SIZE);
        bring_up(&c->m, txsize, rxsize);
        vsock_muxer_stop(&v->mux); /* what the reset's stop does on the VMM thread */
        v->stop_pending = false;
        host = add_conn(v);
        memcpy(c->ram, data, size < MEM_SIZE ? size : MEM_SIZE);
        tx0 = v->dev.queues[VSOCK_TXQ].next_used;
        rx0 = v->dev.queues[VSOCK_RXQ].next_used;
        virtio_dev_queue_event(&v->dev, VSOCK_TXQ);
        virtio_dev_queue_event(&v->dev, VSOCK_RXQ);
        if (virtio_dev_running(&v->dev)) {
                if ((uint16_t)(v->dev.queues[VSOCK_TXQ].next_used - tx0) > txsize)
                        abort();
                check_rx(c, rx0, rxsize);
        }
        if (v->mux.nslots > VSOCK_MAX_CONNECTIONS)
                abort();
        close(host);
        return 0;
}
