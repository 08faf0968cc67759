/*
 * libFuzzer target: virtio-net TX and RX frame placement. Guest memory with both queues laid
 * out from the input, one frame injected on the "tap" (a datagram socketpair), then the RX path
 * (tap event) and the TX path (queue notify) of the device over its transport.
 *
 * Input: [0] flags (bit 0 MRG_RXBUF, bit 1 EVENT_IDX, bit 2 TX before RX), [1..3) injected
 * frame length (0: none), [3] RX queue size, [4] TX queue size, then bytes copied into guest
 * memory from address 0: RX descriptors at 0x0, avail at 0x1000, used at 0x2000; TX at 0x3000,
 * 0x4000, 0x5000; the rest is buffer space. tests/fuzz/net_seeds.py writes valid seeds.
 */
#define _GNU_SOURCE
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net/virtio_net.h"

#define MEM_SIZE (256u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_net *n;
        struct virtio_mmio m;
        int peer;
        uint8_t frame[NET_MAX_FRAME];
};

static void wr(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
        uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};

        virtio_mmio_write(m, off, b, 4);
}

static struct ctx *ctx_get(void)
{
        static struct ctx c;
        struct net_params cfg;
        struct err e;
        int sv[2];

        if (c.ram)
                return &c;
        log_set_level(LOG_OFF);
        c.ram = calloc(1, MEM_SIZE);
        if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE))
                abort();
        if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv))
                abort();
        memset(&cfg, 0, sizeof(cfg));
        cfg.iface_id = (char[]){"fuzz"};
        cfg.has_mac = true;
        if (virtio_net_create_fd(&c.n, &cfg, sv[0], &c.mem, NULL, &e))
                abort();
        c.peer = sv[1];
        for (size_t i = 0; i < sizeof(c.frame); i++)
                c.frame[i] = (uint8_t)(i * 7);
        virtio_mmio_init(&c.m, &c.n->dev);
        return &c;
}

static void queue(struct virtio_mmio *m, uint32_t sel, uint16_t qsize, uint32_t base)
{
        wr(m, VIRTIO_MMIO_QUEUE_SEL, sel);
        wr(m, VIRTIO_MMIO_QUEUE_NUM, qsize);
        wr(m, VIRTIO_MMIO_QUEUE_DESC_LOW, base);
        wr(m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, base + 0x1000);
        wr(m, VIRTIO_MMIO_QUEUE_USED_LOW, base + 0x2000);
        wr(m, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void bring_up(struct virtio_mmio *m, uint8_t flags, uint16_t rxq, uint16_t txq)
{
        wr(m, VIRTIO_MMIO_STATUS, 0);
        wr(m, VIRTIO_MMIO_STATUS, 1);
        wr(m, VIRTIO_MMIO_STATUS, 3);
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES,
           (flags & 1 ? 1u << VIRTIO_NET_F_MRG_RXBUF : 0) |
               (flags & 2 ? 1u << VIRTIO_RING_F_EVENT_IDX : 0) | 1u << VIRTIO_NET_F_MAC);
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
        wr(m, VIRTIO_MMIO_DRIVER_FEATURES, 1);
        wr(m, VIRTIO_MMIO_STATUS, 0xb);
        queue(m, NET_RXQ, rxq, 0);
        queue(m, NET_TXQ, txq, 0x3000);
        wr(m, VIRTIO_MMIO_STATUS, 0xf);
}

static void drain(int fd)
{
        uint8_t buf[64];

        while (recv(fd, buf, sizeof(buf), MSG_TRUNC) >= 0)
                ;
}

static void check(const struct virtio_net *n, unsigned int q, uint16_t before)
{
        const struct virtq *vq = &n->dev.queues[q];

        /* The device never completes more chains than the ring can hold. */
        if (virtio_dev_running(&n->dev) && (uint16_t)(vq->next_used - before) > vq->size)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ctx *c = ctx_get();
        struct virtio_net *n = c->n;
        uint16_t len, rx_before, tx_before;
        uint8_t flags;

        if (size < 5)
                return 0;
        flags = data[0];
        len = (uint16_t)(data[1] | data[2] << 8);
        memset(c->ram, 0, MEM_SIZE);
        n->rx_len = 0; /* each input starts with an empty tap */
        drain(c->peer);
        drain(n->tap_fd);
        bring_up(&c->m, flags, data[3], data[4]);
        memcpy(c->ram, data + 5, size - 5 < MEM_SIZE ? size - 5 : MEM_SIZE);
        rx_before = n->dev.queues[NET_RXQ].next_used;
        tx_before = n->dev.queues[NET_TXQ].next_used;
        if (len && send(c->peer, c->frame, len, 0) < 0)
                abort();
        if (flags & 4)
                virtio_dev_queue_event(&n->dev, NET_TXQ);
        virtio_net_tap_event(n);
        virtio_dev_queue_event(&n->dev, NET_RXQ);
        if (!(flags & 4))
                virtio_dev_queue_event(&n->dev, NET_TXQ);
        check(n, NET_RXQ, rx_before);
        check(n, NET_TXQ, tx_before);
        return 0;
}
