/* Unit tests for virtio-net through its transport over a SEQPACKET socketpair: features and config,
 * TX, RX placement (one buffer, merged buffers, no buffers, too small), spoofed MACs, rate limits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/virtio_net.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86_64/mem_layout.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net/virtio_net.h"
#include "vq_driver.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE (4ULL << 20)
#define QSIZE    16
#define RX_BASE  0x1000ULL /* desc, avail, used of RX at +0, +0x1000, +0x2000 */
#define TX_BASE  0x8000ULL
#define BUF_GPA  0x20000ULL /* RX buffers, 0x1000 apart */
#define TXB_GPA  0x100000ULL
#define HDR      TAP_VNET_HDR_LEN

struct nfx {
        uint8_t *ram;
        struct guest_mem mem;
        struct net_params cfg;
        struct virtio_net *n;
        struct virtio_mmio m;
        struct tdrv rx, tx;
        int peer; /* the host end: what the device writes to its "tap" arrives here */
};

static char iface[] = "eth0";
static char tapname[] = "tap0";
static const uint8_t guest_mac[6] = {0x06, 0, 0xac, 0x10, 0, 2};

static void queue(struct nfx *f, struct tdrv *t, uint32_t sel, uint64_t base)
{
        td_init(t, &f->mem, QSIZE);
        t->desc = base;
        t->avail = base + 0x1000;
        t->used = base + 0x2000;
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_SEL, sel);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)t->desc);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)t->avail);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)t->used);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_READY, 1);
}

/* Negotiates features_lo (VERSION_1 always) and brings both queues up. */
static void bring_up(struct nfx *f, uint32_t features_lo)
{
        mmio_negotiate(&f->m, features_lo);
        queue(f, &f->rx, NET_RXQ, RX_BASE);
        queue(f, &f->tx, NET_TXQ, TX_BASE);
        mmio_driver_ok(&f->m);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static int create(struct nfx *f)
{
        struct err e = ERR_INIT;
        int sv[2], rc;

        assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
        f->peer = sv[1];
        rc = virtio_net_create_fd(&f->n, &f->cfg, sv[0], &f->mem, NULL, &e);
        if (rc == 0)
                virtio_mmio_init(&f->m, &f->n->dev);
        return rc;
}

static int setup_cfg(void **state, bool mac, bool mrg)
{
        struct nfx *f = test_calloc(1, sizeof(*f));
        uint32_t feat = 1u << VIRTIO_NET_F_MAC | 1u << VIRTIO_NET_F_CSUM;

        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        f->cfg.iface_id = iface;
        f->cfg.host_dev_name = tapname;
        f->cfg.has_mac = mac;
        memcpy(f->cfg.mac, guest_mac, 6);
        assert_int_equal(create(f), 0);
        if (mrg)
                feat |= 1u << VIRTIO_NET_F_MRG_RXBUF;
        bring_up(f, feat);
        *state = f;
        return 0;
}

static int setup(void **state)
{
        return setup_cfg(state, true, true);
}

static int setup_nomrg(void **state)
{
        return setup_cfg(state, true, false);
}

static int teardown(void **state)
{
        struct nfx *f = *state;

        virtio_net_destroy(f->n);
        if (f->peer >= 0)
                close(f->peer);
        test_free(f->ram);
        test_free(f);
        return 0;
}

/* A frame of len bytes (vnet header included) from src, payload seeded with seed. */
static void make_frame(uint8_t *buf, uint32_t len, const uint8_t *src, uint8_t seed)
{
        memset(buf, 0, HDR);
        memset(buf + HDR, 0xff, 6);
        memcpy(buf + HDR + 6, src, 6);
        for (uint32_t i = HDR + 12; i < len; i++)
                buf[i] = (uint8_t)(seed + i * 13);
}

static void tx_offer(struct nfx *f, uint16_t head, uint64_t gpa, uint32_t len)
{
        td_desc(&f->tx, head, gpa, len, 0, 0);
        td_offer(&f->tx, head);
        virtio_dev_queue_event(&f->n->dev, NET_TXQ);
}

static void rx_offer(struct nfx *f, uint16_t head, uint32_t len)
{
        td_desc(&f->rx, head, BUF_GPA + 0x1000ULL * head, len, VRING_DESC_F_WRITE, 0);
        td_offer(&f->rx, head);
}

static void test_features_and_config(void **state)
{
        struct nfx *f = *state;
        uint8_t mac[6];
        uint32_t lo;

        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        lo = mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES);
        assert_true(lo & 1u << VIRTIO_NET_F_MAC);
        assert_false(lo & 1u << VIRTIO_NET_F_MTU);
        assert_true(lo & 1u << VIRTIO_NET_F_MRG_RXBUF);
        assert_true(lo & 1u << VIRTIO_NET_F_HOST_TSO4);
        assert_true(lo & 1u << VIRTIO_RING_F_EVENT_IDX);
        assert_false(lo & 1u << VIRTIO_NET_F_CTRL_VQ);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_NET);
        virtio_mmio_read(&f->m, VIRTIO_MMIO_CONFIG, mac, 6);
        assert_memory_equal(mac, guest_mac, 6);
}

static void test_no_mac_no_feature(void **state)
{
        struct nfx *f = test_calloc(1, sizeof(*f));

        (void)state;
        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        f->cfg.iface_id = iface;
        f->cfg.has_mtu = true;
        f->cfg.mtu = 9000;
        assert_int_equal(create(f), 0);
        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        assert_false(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES) & 1u << VIRTIO_NET_F_MAC);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES) & 1u << VIRTIO_NET_F_MTU);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 8) >> 16, 9000);
        teardown((void **)&f);
}

static void test_tx_frames_reach_the_tap(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[1526], got[2000];
        uint32_t id, len;

        make_frame(frame, sizeof(frame), guest_mac, 1);
        guest_mem_write(&f->mem, TXB_GPA, frame, sizeof(frame));
        tx_offer(f, 0, TXB_GPA, sizeof(frame));
        assert_int_equal(recv(f->peer, got, sizeof(got), 0), (ssize_t)sizeof(frame));
        assert_memory_equal(got, frame, sizeof(frame));
        assert_int_equal(td_used_idx(&f->tx), 1);
        td_used_elem(&f->tx, 0, &id, &len);
        assert_int_equal(id, 0);
        assert_int_equal(len, 0);
        assert_int_equal(f->n->metrics.tx_packets_count, 1);
        assert_int_equal(f->n->metrics.tx_bytes_count, sizeof(frame));
        assert_int_equal(f->n->metrics.tx_spoofed_mac_count, 0);
}

static void test_tx_chain_is_gathered(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[300], got[400];

        make_frame(frame, sizeof(frame), guest_mac, 2);
        guest_mem_write(&f->mem, TXB_GPA, frame, 5); /* header split over descriptors */
        guest_mem_write(&f->mem, TXB_GPA + 0x1000, frame + 5, sizeof(frame) - 5);
        td_desc(&f->tx, 0, TXB_GPA, 5, VRING_DESC_F_NEXT, 1);
        td_desc(&f->tx, 1, TXB_GPA + 0x1000, sizeof(frame) - 5, 0, 0);
        td_offer(&f->tx, 0);
        virtio_dev_queue_event(&f->n->dev, NET_TXQ);
        assert_int_equal(recv(f->peer, got, sizeof(got), 0), (ssize_t)sizeof(frame));
        assert_memory_equal(got, frame, sizeof(frame));
}

static void test_tx_malformed_and_spoofed(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[100], got[200];
        const uint8_t other[6] = {2, 2, 2, 2, 2, 2};

        tx_offer(f, 0, TXB_GPA, 4);                 /* shorter than the header */
        tx_offer(f, 1, TXB_GPA, NET_MAX_FRAME + 1); /* longer than any frame */
        assert_int_equal(f->n->metrics.tx_malformed_frames, 2);
        assert_int_equal(td_used_idx(&f->tx), 2);
        assert_int_equal(recv(f->peer, got, sizeof(got), 0), -1);
        make_frame(frame, sizeof(frame), other, 3);
        guest_mem_write(&f->mem, TXB_GPA, frame, sizeof(frame));
        tx_offer(f, 2, TXB_GPA, sizeof(frame));
        assert_int_equal(f->n->metrics.tx_spoofed_mac_count, 1);
        assert_int_equal(recv(f->peer, got, sizeof(got), 0),
                         (ssize_t)sizeof(frame)); /* counted, sent */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_tx_bad_descriptor_needs_reset(void **state)
{
        struct nfx *f = *state;

        tx_offer(f, 0, MEM_SIZE - 10, 100); /* runs past guest RAM */
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        bring_up(f, 1u << VIRTIO_NET_F_MRG_RXBUF); /* a reset brings it back */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static void inject(struct nfx *f, uint32_t len, uint8_t seed, uint8_t *frame)
{
        make_frame(frame, len, guest_mac, seed);
        assert_int_equal(send(f->peer, frame, len, 0), (ssize_t)len);
        virtio_net_tap_event(f->n);
}

static void test_rx_one_buffer(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[1526], got[1526];
        uint32_t id, len;

        rx_offer(f, 0, 4096);
        virtio_dev_queue_event(&f->n->dev, NET_RXQ);
        assert_true(f->n->tap_polled); /* buffers and an empty tap: wait for frames */
        inject(f, sizeof(frame), 4, frame);
        assert_int_equal(td_used_idx(&f->rx), 1);
        td_used_elem(&f->rx, 0, &id, &len);
        assert_int_equal(id, 0);
        assert_int_equal(len, sizeof(frame));
        guest_mem_read(&f->mem, BUF_GPA, got, sizeof(got));
        assert_int_equal(got[10] | got[11] << 8, 1); /* num_buffers */
        assert_memory_equal(got + HDR, frame + HDR, sizeof(frame) - HDR);
        assert_int_equal(f->n->metrics.rx_packets_count, 1);
        assert_int_equal(f->n->metrics.rx_bytes_count, sizeof(frame));
}

static void test_rx_merged_buffers(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[1526], got[1526];
        uint32_t id, len, off = 0;

        for (uint16_t i = 0; i < 3; i++)
                rx_offer(f, i, 600);
        inject(f, sizeof(frame), 5, frame);
        assert_int_equal(td_used_idx(&f->rx), 3);
        for (uint16_t i = 0; i < 3; i++) {
                td_used_elem(&f->rx, i, &id, &len);
                assert_int_equal(id, i);
                guest_mem_read(&f->mem, BUF_GPA + 0x1000ULL * i, got + off, len);
                off += len;
        }
        assert_int_equal(off, sizeof(frame));
        assert_int_equal(got[10] | got[11] << 8, 3);
        assert_memory_equal(got + HDR, frame + HDR, sizeof(frame) - HDR);
}

static void test_rx_waits_for_buffers(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[200], got[200];

        inject(f, sizeof(frame), 6, frame);
        assert_false(f->n->tap_polled); /* no buffers: the tap is left alone, frame kept */
        assert_int_equal(f->n->rx_len, sizeof(frame));
        assert_int_equal(f->n->metrics.no_rx_avail_buffer, 1);
        rx_offer(f, 0, 100); /* too small on its own: still waiting, nothing pushed */
        virtio_dev_queue_event(&f->n->dev, NET_RXQ);
        assert_int_equal(td_used_idx(&f->rx), 0);
        assert_int_equal(f->n->rx_len, sizeof(frame));
        rx_offer(f, 1, 100);
        virtio_dev_queue_event(&f->n->dev, NET_RXQ);
        assert_int_equal(td_used_idx(&f->rx), 2);
        assert_int_equal(f->n->rx_len, 0);
        assert_true(f->n->tap_polled);
        guest_mem_read(&f->mem, BUF_GPA, got, 100);
        guest_mem_read(&f->mem, BUF_GPA + 0x1000, got + 100, 100);
        assert_memory_equal(got + HDR, frame + HDR, sizeof(frame) - HDR);
        assert_int_equal(f->n->metrics.rx_fails, 0);
}

static void test_rx_runt_skipped_and_eof_stops(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[100], runt[4] = {0};

        rx_offer(f, 0, 4096);
        assert_int_equal(send(f->peer, runt, sizeof(runt), 0), (ssize_t)sizeof(runt));
        inject(f, sizeof(frame), 11, frame); /* one event reads past the runt */
        assert_int_equal(f->n->metrics.rx_fails, 1);
        assert_int_equal(td_used_idx(&f->rx), 1);
        assert_true(f->n->tap_polled);
        close(f->peer);
        f->peer = -1;
        virtio_net_tap_event(f->n); /* EOF: counted, and the fd is no longer watched */
        assert_int_equal(f->n->metrics.tap_read_fails, 1);
        assert_false(f->n->tap_polled);
}

static void test_rx_too_big_is_dropped(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[1526], small[60];
        uint32_t id, len;

        rx_offer(f, 0, 200);
        inject(f, sizeof(frame), 7, frame); /* without MRG_RXBUF one buffer must hold it */
        assert_int_equal(f->n->metrics.rx_fails, 1);
        assert_int_equal(td_used_idx(&f->rx), 0);
        inject(f, sizeof(small), 8, small); /* the buffer is still there for the next */
        assert_int_equal(td_used_idx(&f->rx), 1);
        td_used_elem(&f->rx, 0, &id, &len);
        assert_int_equal(len, sizeof(small));
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_rx_hostile_buffers(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[100];

        td_desc(&f->rx, 0, BUF_GPA, 4, VRING_DESC_F_WRITE, 0); /* no room for the header */
        td_offer(&f->rx, 0);
        inject(f, sizeof(frame), 9, frame);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        assert_int_equal(td_used_idx(&f->rx), 0);
        bring_up(f, 1u << VIRTIO_NET_F_MRG_RXBUF);
        rx_offer(f, 0, 4096);
        virtio_dev_queue_event(&f->n->dev, NET_RXQ); /* the kept frame lands after the reset */
        assert_int_equal(td_used_idx(&f->rx), 1);
}

/* One RX pass pops a bounded number of chains; the tap stays watched for the rest. */
static void test_rx_pass_bounded(void **state)
{
        struct nfx *f = *state;
        uint8_t frame[100];

        assert_int_equal(f->n->rx_pass_chains, 2 * 256);
        f->n->rx_pass_chains = 3;
        for (uint16_t i = 0; i < 8; i++)
                rx_offer(f, i, 4096);
        for (int i = 0; i < 7; i++) {
                make_frame(frame, sizeof(frame), guest_mac, (uint8_t)i);
                assert_int_equal(send(f->peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
        }
        virtio_net_tap_event(f->n);
        assert_int_equal(td_used_idx(&f->rx), 3);
        assert_true(f->n->tap_polled); /* frames left: the loop comes back */
        virtio_net_tap_event(f->n);
        assert_int_equal(td_used_idx(&f->rx), 6);
        virtio_net_tap_event(f->n);
        assert_int_equal(td_used_idx(&f->rx), 7);
        assert_true(f->n->tap_polled); /* the tap is empty: wait for the next frame */
        assert_int_equal(f->n->metrics.rx_packets_count, 7);
}

static void test_tx_rate_limited(void **state)
{
        struct nfx *f = *state;
        struct rate_limiter_update u = {.bandwidth_op = BUCKET_KEEP, .ops_op = BUCKET_SET};
        struct rate_limiter_update keep = {.bandwidth_op = BUCKET_KEEP, .ops_op = BUCKET_KEEP};
        uint8_t frame[100];

        u.ops.size = 1;
        u.ops.present = true;
        u.ops.refill_time_ms = 100000;
        virtio_net_update_rate_limiters(f->n, &keep, &u);
        make_frame(frame, sizeof(frame), guest_mac, 10);
        guest_mem_write(&f->mem, TXB_GPA, frame, sizeof(frame));
        td_desc(&f->tx, 0, TXB_GPA, sizeof(frame), 0, 0);
        td_desc(&f->tx, 1, TXB_GPA, sizeof(frame), 0, 0);
        td_offer(&f->tx, 0);
        td_offer(&f->tx, 1);
        virtio_dev_queue_event(&f->n->dev, NET_TXQ);
        assert_int_equal(td_used_idx(&f->tx), 1); /* one token: one frame */
        assert_int_equal(f->n->metrics.tx_rate_limiter_throttled, 1);
        assert_true(rate_limiter_blocked(&f->n->tx_rl));
}

/* ---- the interceptor (the metadata service's hook) ------------------------------------------ */

struct fake_icpt {
        unsigned int took, replies, destroyed;
        bool partial;
};

/* Takes frames whose first payload byte is 0x42 and answers each with one 60-byte frame. */
static bool icpt_tx(void *ctx, const uint8_t *frame, size_t len, bool csum_partial)
{
        struct fake_icpt *fi = ctx;

        if (len < 15 || frame[14] != 0x42)
                return false;
        fi->took++;
        fi->partial = csum_partial;
        return true;
}

static size_t icpt_rx(void *ctx, uint8_t *buf, size_t cap)
{
        struct fake_icpt *fi = ctx;

        if (fi->replies == fi->took || cap < 60)
                return 0;
        fi->replies++;
        memset(buf, 0x77, 60);
        return 60;
}

static void icpt_destroy(void *ctx)
{
        ((struct fake_icpt *)ctx)->destroyed++;
}

static void test_intercept(void **state)
{
        struct nfx *f = *state;
        struct fake_icpt fi = {0};
        struct net_intercept ic = {icpt_tx, icpt_rx, icpt_destroy, &fi};
        uint8_t frame[100], got[200];
        uint32_t id, len;

        virtio_net_set_intercept(f->n, &ic);
        make_frame(frame, sizeof(frame), guest_mac, 9);
        frame[HDR + 14] = 0x42;
        frame[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        guest_mem_write(&f->mem, TXB_GPA, frame, sizeof(frame));
        rx_offer(f, 0, 4096);
        tx_offer(f, 0, TXB_GPA, sizeof(frame));
        /* Taken: not on the tap, not counted as sent; the answer is in the guest at once. */
        assert_int_equal(fi.took, 1);
        assert_true(fi.partial);
        assert_int_equal(recv(f->peer, got, sizeof(got), MSG_DONTWAIT), -1);
        assert_int_equal(f->n->metrics.tx_packets_count, 0);
        assert_int_equal(td_used_idx(&f->tx), 1);
        assert_int_equal(td_used_idx(&f->rx), 1);
        td_used_elem(&f->rx, 0, &id, &len);
        assert_int_equal(len, HDR + 60);
        guest_mem_read(&f->mem, BUF_GPA, got, HDR + 60);
        assert_int_equal(got[0], 0); /* a clean virtio header */
        assert_int_equal(got[10], 1);
        assert_int_equal(got[HDR], 0x77);
        assert_int_equal(f->n->metrics.rx_packets_count, 1);
        /* Anything else still goes to the tap untouched. */
        frame[HDR + 14] = 0x43;
        guest_mem_write(&f->mem, TXB_GPA, frame, sizeof(frame));
        tx_offer(f, 1, TXB_GPA, sizeof(frame));
        assert_int_equal(recv(f->peer, got, sizeof(got), 0), (ssize_t)sizeof(frame));
        assert_memory_equal(got, frame, sizeof(frame));
        assert_int_equal(fi.took, 1);
        /* Without RX buffers the answer waits; the guest's next buffers get it. */
        frame[HDR + 14] = 0x42;
        guest_mem_write(&f->mem, TXB_GPA, frame, sizeof(frame));
        tx_offer(f, 2, TXB_GPA, sizeof(frame));
        assert_int_equal(td_used_idx(&f->rx), 1);
        rx_offer(f, 1, 4096);
        virtio_net_intercept_event(f->n);
        assert_int_equal(td_used_idx(&f->rx), 2);
        assert_int_equal(fi.replies, 2);
        virtio_net_destroy(f->n);
        f->n = NULL;
        assert_int_equal(fi.destroyed, 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_intercept, setup, teardown),
            cmocka_unit_test_setup_teardown(test_features_and_config, setup, teardown),
            cmocka_unit_test(test_no_mac_no_feature),
            cmocka_unit_test_setup_teardown(test_tx_frames_reach_the_tap, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tx_chain_is_gathered, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tx_malformed_and_spoofed, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tx_bad_descriptor_needs_reset, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rx_one_buffer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rx_merged_buffers, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rx_waits_for_buffers, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rx_runt_skipped_and_eof_stops, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rx_too_big_is_dropped, setup_nomrg, teardown),
            cmocka_unit_test_setup_teardown(test_rx_pass_bounded, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rx_hostile_buffers, setup, teardown),
            cmocka_unit_test_setup_teardown(test_tx_rate_limited, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
