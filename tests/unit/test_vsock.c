/* Unit tests for virtio-vsock: the packet parser, the connection state machine, the muxer. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/metrics.h"
#include "devices/virtio/vsock/vsock_conn.h"
#include "devices/virtio/vsock/vsock_muxer.h"
#include "devices/virtio/vsock/vsock_packet.h"

static uint8_t bufa[VSOCK_HDR_SIZE + 8192], bufb[128 * 1024];
static struct virtq_chain chain;
static struct vsock_pkt pkt;

static void seg(struct virtq_chain *c, uint8_t *p, uint32_t len, bool write)
{
        c->segs[c->nsegs++] = (struct virtq_seg){.hva = p, .len = len, .write = write};
        if (write)
                c->writable_bytes += len;
        else {
                c->nreadable++;
                c->readable_bytes += len;
        }
}

static void put_hdr(uint8_t *b, uint16_t op, uint32_t len)
{
        struct vsock_hdr h = {.src_cid = 3,
                              .dst_cid = VSOCK_HOST_CID,
                              .src_port = 1000,
                              .dst_port = 2000,
                              .len = len,
                              .type = VSOCK_TYPE_STREAM,
                              .op = op,
                              .buf_alloc = 4096,
                              .fwd_cnt = 0};

        vsock_hdr_encode(&h, b);
}

/* ---- packets --------------------------------------------------------------------------- */

static void test_hdr_codec(void **state)
{
        struct vsock_hdr h = {0x1122334455667788ull, 2, 0xa1a2a3a4, 5, 6, 1, 5, 3, 0x10000, 77}, g;
        uint8_t b[VSOCK_HDR_SIZE];

        (void)state;
        vsock_hdr_encode(&h, b);
        assert_int_equal(b[0], 0x88); /* little-endian */
        assert_int_equal(b[30], 5);   /* op at 30 */
        assert_int_equal(b[40], 77);  /* fwd_cnt last */
        vsock_hdr_decode(&g, b);
        assert_true(g.src_cid == h.src_cid && g.dst_cid == h.dst_cid);
        assert_true(g.src_port == h.src_port && g.dst_port == h.dst_port && g.len == h.len);
        assert_true(g.type == h.type && g.op == h.op && g.flags == h.flags);
        assert_true(g.buf_alloc == h.buf_alloc && g.fwd_cnt == h.fwd_cnt);
        assert_string_equal(vsock_op_name(VSOCK_OP_CREDIT_REQUEST), "CREDIT_REQUEST");
        assert_string_equal(vsock_op_name(99), "unknown");
}

static void test_tx_parse(void **state)
{
        const char *why = "";

        (void)state;
        /* the header split over two buffers, data in a third */
        memset(&chain, 0, sizeof(chain));
        put_hdr(bufa, VSOCK_OP_RW, 10);
        seg(&chain, bufa, 20, false);
        seg(&chain, bufa + 20, 24, false);
        memcpy(bufb, "0123456789abc", 13);
        seg(&chain, bufb, 13, false);
        assert_int_equal(vsock_pkt_tx_parse(&pkt, &chain, &why), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RW);
        assert_int_equal(pkt.hdr.len, 10);
        assert_int_equal(pkt.buf_size, 13);
        assert_int_equal(pkt.niov, 1);
        assert_int_equal(pkt.iov[0].iov_len, 10);
        assert_ptr_equal(pkt.iov[0].iov_base, bufb);
        /* a length past the chain, past 64 KiB, a short header, a writable buffer */
        put_hdr(bufa, VSOCK_OP_RW, 14);
        assert_int_equal(vsock_pkt_tx_parse(&pkt, &chain, &why), -EINVAL);
        assert_string_equal(why, "TX chain too short for the packet length");
        put_hdr(bufa, VSOCK_OP_RW, VSOCK_MAX_PKT_BUF + 1);
        assert_int_equal(vsock_pkt_tx_parse(&pkt, &chain, &why), -EINVAL);
        assert_string_equal(why, "TX packet length above 64 KiB");
        memset(&chain, 0, sizeof(chain));
        seg(&chain, bufa, 43, false);
        assert_int_equal(vsock_pkt_tx_parse(&pkt, &chain, &why), -EINVAL);
        memset(&chain, 0, sizeof(chain));
        put_hdr(bufa, VSOCK_OP_REQUEST, 0);
        seg(&chain, bufa, 44, false);
        seg(&chain, bufb, 10, true);
        assert_int_equal(vsock_pkt_tx_parse(&pkt, &chain, &why), -EINVAL);
        assert_string_equal(why, "TX packet with a device-writable buffer");
}

static void test_rx_parse_and_commit(void **state)
{
        const char *why = "";

        (void)state;
        memset(&chain, 0, sizeof(chain));
        seg(&chain, bufa, 30, true);
        seg(&chain, bufb, sizeof(bufb), true);
        assert_int_equal(vsock_pkt_rx_parse(&pkt, &chain, &why), 0);
        assert_int_equal(pkt.buf_size, VSOCK_MAX_PKT_BUF); /* capped */
        assert_ptr_equal(pkt.iov[0].iov_base, bufb + 14);
        pkt.hdr.op = VSOCK_OP_RST;
        pkt.hdr.dst_port = 0x01020304;
        vsock_pkt_commit_hdr(&pkt, &chain);
        assert_int_equal(bufa[20], 0x04);
        assert_int_equal(bufb[0], VSOCK_OP_RST); /* offset 30: the first byte after bufa */
        memset(&chain, 0, sizeof(chain));
        seg(&chain, bufa, 43, true);
        assert_int_equal(vsock_pkt_rx_parse(&pkt, &chain, &why), -EINVAL);
        memset(&chain, 0, sizeof(chain));
        seg(&chain, bufa, 64, false);
        assert_int_equal(vsock_pkt_rx_parse(&pkt, &chain, &why), -EINVAL);
        assert_string_equal(why, "RX packet with a device-readable buffer");
}

/* ---- connections ------------------------------------------------------------------------- */

static int host_fd; /* the host's end of the connection's socket pair */

static void pair(int *conn_fd)
{
        int sv[2];

        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
        *conn_fd = sv[0];
        host_fd = sv[1];
}

/* An RX packet of data room into bufb. */
static void rx_room(uint32_t room)
{
        memset(&chain, 0, sizeof(chain));
        seg(&chain, bufa, VSOCK_HDR_SIZE, true);
        seg(&chain, bufb, room, true);
        assert_int_equal(vsock_pkt_rx_parse(&pkt, &chain, &(const char *){""}), 0);
}

/* A TX packet from the guest with op and len bytes of data. */
static void tx(uint16_t op, uint32_t len, uint32_t flags, uint32_t buf_alloc, uint32_t fwd_cnt)
{
        struct vsock_hdr h = {3,  VSOCK_HOST_CID, 1000,      1 << 30, len, 1,
                              op, flags,          buf_alloc, fwd_cnt};

        memset(&pkt, 0, sizeof(pkt));
        pkt.hdr = h;
        pkt.buf_size = len;
        if (len) {
                pkt.niov = 1;
                pkt.iov[0].iov_base = bufb;
                pkt.iov[0].iov_len = len;
        }
}

static void test_local_init_and_data(void **state)
{
        struct vsock_conn c;
        char got[64];
        int fd;

        (void)state;
        pair(&fd);
        vsock_conn_init_local(&c, fd, 3, 1u << 30, 1000);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 100), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_REQUEST);
        assert_int_equal(pkt.hdr.buf_alloc, VSOCK_CONN_TX_BUF_SIZE);
        assert_int_equal(c.expiry_ms, 100 + VSOCK_CONN_REQUEST_TIMEOUT_MS);
        assert_int_equal(vsock_conn_polled(&c), 0); /* no credit from the guest yet */
        tx(VSOCK_OP_RESPONSE, 0, 0, 100, 0);
        vsock_conn_send_pkt(&c, &pkt, 200);
        assert_int_equal(c.state, VC_ESTABLISHED);
        assert_int_equal(c.expiry_ms, 0);
        assert_int_equal(vsock_conn_polled(&c), EPOLLIN);
        /* host data, capped at the guest's credit of 100 bytes */
        memset(got, 'h', sizeof(got));
        for (int i = 0; i < 3; i++)
                assert_int_equal(write(host_fd, got, 64), 64);
        vsock_conn_notify(&c, EPOLLIN);
        assert_int_equal(vsock_conn_polled(&c), 0); /* no read while one is owed */
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 300), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RW);
        assert_int_equal(pkt.hdr.len, 100);
        assert_int_equal(vsock_conn_peer_credit(&c), 0);
        /* credit exhausted: the next read asks for credit */
        vsock_conn_notify(&c, EPOLLIN);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 300), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_CREDIT_REQUEST);
        assert_int_equal(vsock_conn_polled(&c), 0);
        /* guest data goes to the host socket; fwd_cnt counts it */
        memcpy(bufb, "guest!", 6);
        tx(VSOCK_OP_RW, 6, 0, 100, 100);
        vsock_conn_send_pkt(&c, &pkt, 400);
        assert_int_equal(read(host_fd, got, sizeof(got)), 6);
        assert_memory_equal(got, "guest!", 6);
        assert_int_equal(c.fwd_cnt, 6);
        assert_int_equal(vsock_conn_polled(&c), EPOLLIN); /* the guest freed its buffer */
        /* a CREDIT_REQUEST is answered */
        tx(VSOCK_OP_CREDIT_REQUEST, 0, 0, 100, 100);
        vsock_conn_send_pkt(&c, &pkt, 400);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 400), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_CREDIT_UPDATE);
        assert_int_equal(pkt.hdr.fwd_cnt, 6);
        /* the host closes: SHUTDOWN with both flags, then the guest has 2 s to RST */
        close(host_fd);
        vsock_conn_notify(&c, EPOLLIN | EPOLLHUP);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 500), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RW); /* the 92 bytes left first */
        vsock_conn_notify(&c, EPOLLIN);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 500), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_SHUTDOWN);
        assert_int_equal(pkt.hdr.flags, VSOCK_FLAGS_SHUTDOWN_RCV | VSOCK_FLAGS_SHUTDOWN_SEND);
        assert_int_equal(c.state, VC_LOCAL_CLOSED);
        assert_true(vsock_conn_expired(&c, 500 + VSOCK_CONN_SHUTDOWN_TIMEOUT_MS));
        vsock_conn_release(&c);
}

static void test_peer_init_shutdown(void **state)
{
        struct vsock_conn c;
        int fd;

        (void)state;
        pair(&fd);
        vsock_conn_init_peer(&c, fd, 3, 2000, 1000, 8192);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 0), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RESPONSE);
        assert_int_equal(c.state, VC_ESTABLISHED);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 0), -ENODATA);
        /* SHUTDOWN in two halves: RST once both are off and nothing is buffered */
        tx(VSOCK_OP_SHUTDOWN, 0, VSOCK_FLAGS_SHUTDOWN_SEND, 8192, 0);
        vsock_conn_send_pkt(&c, &pkt, 0);
        assert_false(vsock_conn_has_rx(&c));
        tx(VSOCK_OP_RW, 4, 0, 8192, 0); /* data after SHUTDOWN(SEND): dropped */
        vsock_conn_send_pkt(&c, &pkt, 0);
        assert_int_equal(c.fwd_cnt, 0);
        tx(VSOCK_OP_SHUTDOWN, 0, VSOCK_FLAGS_SHUTDOWN_RCV, 8192, 0);
        vsock_conn_send_pkt(&c, &pkt, 0);
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 0), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RST);
        vsock_conn_release(&c);
        close(host_fd);
}

static void test_tx_buffer_bound(void **state)
{
        struct vsock_conn c;
        int fd, sz = 4096;
        uint32_t pushed = 0;

        (void)state;
        pair(&fd);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        vsock_conn_init_peer(&c, fd, 3, 2000, 1000, 8192);
        c.state = VC_ESTABLISHED;
        c.pending_rx = 0;
        /* the host never reads: the socket fills, then the 64 KiB buffer, then the end */
        while (c.state == VC_ESTABLISHED && pushed < 4 * VSOCK_CONN_TX_BUF_SIZE) {
                tx(VSOCK_OP_RW, 8192, 0, 8192, 0);
                vsock_conn_send_pkt(&c, &pkt, 0);
                pushed += 8192;
        }
        assert_int_equal(c.state, VC_KILLED);
        assert_true(vsock_conn_tx_pending(&c) <= VSOCK_CONN_TX_BUF_SIZE);
        assert_int_equal(vsock_conn_polled(&c), 0); /* killed: its socket is not watched */
        rx_room(4096);
        assert_int_equal(vsock_conn_recv_pkt(&c, &pkt, 0), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RST);
        vsock_conn_release(&c);
        close(host_fd);
}

static void test_tx_buffer_flush(void **state)
{
        struct vsock_conn c;
        int fd, sz = 4096;
        static uint8_t sink[256 * 1024];
        ssize_t n, total = 0;

        (void)state;
        pair(&fd);
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        vsock_conn_init_peer(&c, fd, 3, 2000, 1000, 8192);
        c.state = VC_ESTABLISHED;
        c.pending_rx = 0;
        for (int i = 0; i < 4; i++) {
                memset(bufb, 'a' + i, 8192);
                tx(VSOCK_OP_RW, 8192, 0, 8192, 0);
                vsock_conn_send_pkt(&c, &pkt, 0);
        }
        assert_int_equal(c.state, VC_ESTABLISHED);
        assert_true(vsock_conn_tx_pending(&c) > 0);
        /* the host reads; EPOLLOUT flushes, in order, and fwd_cnt reaches all of it */
        while (total < 4 * 8192) {
                n = read(host_fd, sink + total, sizeof(sink) - (size_t)total);
                if (n > 0)
                        total += n;
                vsock_conn_notify(&c, EPOLLOUT);
        }
        assert_int_equal(total, 4 * 8192);
        assert_int_equal(vsock_conn_tx_pending(&c), 0);
        assert_int_equal(c.fwd_cnt, 4 * 8192);
        for (int i = 0; i < 4; i++)
                assert_int_equal(sink[i * 8192 + 100], 'a' + i);
        vsock_conn_release(&c);
        close(host_fd);
}

/* ---- the muxer ----------------------------------------------------------------------------- */

static struct vsock_muxer mux;

static void test_muxer_rst_and_drops(void **state)
{
        struct vsock_conn c;
        int fd;

        (void)state;
        assert_int_equal(vsock_muxer_init(&mux, 3, "/nonexistent/v.sock", -1), 0);
        /* a REQUEST to a port with no host listener: RST back, ports swapped */
        tx(VSOCK_OP_REQUEST, 0, 0, 8192, 0);
        pkt.hdr.dst_port = 77;
        vsock_muxer_send_pkt(&mux, &pkt, 0);
        rx_room(4096);
        assert_int_equal(vsock_muxer_recv_pkt(&mux, &pkt, 0), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RST);
        assert_int_equal(pkt.hdr.src_port, 77);
        assert_int_equal(pkt.hdr.dst_port, 1000);
        assert_int_equal(pkt.hdr.dst_cid, 3);
        /* another CID: dropped; a datagram: RST */
        tx(VSOCK_OP_RW, 0, 0, 8192, 0);
        pkt.hdr.dst_cid = 9;
        vsock_muxer_send_pkt(&mux, &pkt, 0);
        assert_false(vsock_muxer_has_rx(&mux));
        tx(VSOCK_OP_REQUEST, 0, 0, 8192, 0);
        pkt.hdr.type = 2;
        vsock_muxer_send_pkt(&mux, &pkt, 0);
        assert_true(vsock_muxer_has_rx(&mux));
        rx_room(4096);
        assert_int_equal(vsock_muxer_recv_pkt(&mux, &pkt, 0), 0);
        assert_int_equal(vsock_muxer_recv_pkt(&mux, &pkt, 0), -ENODATA);
        /* RSTs for no connection are bounded: 256 kept, the rest dropped */
        for (int i = 0; i < 1000; i++) {
                tx(VSOCK_OP_RW, 0, 0, 8192, 0);
                pkt.hdr.src_port = (uint32_t)i;
                vsock_muxer_send_pkt(&mux, &pkt, 0);
        }
        assert_int_equal(mux.rst_len, VSOCK_MUXER_RST_QUEUE);
        /* a connection: found by (local, peer) port; the guest's RST removes it */
        pair(&fd);
        vsock_conn_init_peer(&c, fd, 3, 2000, 1000, 8192);
        assert_true(vsock_muxer_add(&mux, &c) >= 0);
        assert_non_null(vsock_muxer_find(&mux, 2000, 1000));
        tx(VSOCK_OP_RST, 0, 0, 0, 0);
        pkt.hdr.dst_port = 2000;
        vsock_muxer_send_pkt(&mux, &pkt, 0);
        assert_null(vsock_muxer_find(&mux, 2000, 1000));
        vsock_muxer_fini(&mux);
        close(host_fd);
}

static void test_muxer_limit(void **state)
{
        struct vsock_conn c;
        int fd, i;

        (void)state;
        assert_int_equal(vsock_muxer_init(&mux, 3, "/nonexistent/v.sock", -1), 0);
        for (i = 0; i < VSOCK_MAX_CONNECTIONS; i++) {
                fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                vsock_conn_init_peer(&c, fd, 3, 2000, (uint32_t)i, 8192);
                assert_true(vsock_muxer_add(&mux, &c) >= 0);
        }
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        vsock_conn_init_peer(&c, fd, 3, 2000, 5000, 8192);
        assert_int_equal(vsock_muxer_add(&mux, &c), -ENOSPC);
        assert_non_null(vsock_muxer_find(&mux, 2000, 1022));
        vsock_muxer_fini(&mux);
}

/* A muxer listening on a socket in a private directory, and a host client connected to it. */
static int listening_muxer(char *dir, char *path, size_t len)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int lfd;

        assert_non_null(mkdtemp(dir));
        snprintf(path, len, "%s/v.sock", dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(listen(lfd, 16), 0);
        assert_int_equal(vsock_muxer_init(&mux, 3, path, lfd), 0);
        assert_int_equal(vsock_muxer_start(&mux), 0);
        return lfd;
}

static int client(const char *path, const char *line)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);

        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
        assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
        return fd;
}

/* Runs the muxer's events until none is left (each pass takes what epoll has now). */
static void pump(uint64_t now)
{
        for (int i = 0; i < 8; i++)
                vsock_muxer_events(&mux, now);
}

static void test_muxer_connect_line_and_timeout(void **state)
{
        char dir[] = "/tmp/brasa-vsock-XXXXXX", path[64], got[32] = "";
        uint64_t killed = metrics.vsock.conns_killed.value;
        int lfd, good, bad, later;

        (void)state;
        lfd = listening_muxer(dir, path, sizeof(path));
        bad = client(path, "HELLO 5\n");
        good = client(path, "  connect   5 \n");
        pump(0);
        assert_int_equal(read(bad, got, sizeof(got)), 0); /* dropped */
        /* the good one is a host-initiated connection: a REQUEST from port 2^30 to port 5 */
        rx_room(4096);
        assert_int_equal(vsock_muxer_recv_pkt(&mux, &pkt, 0), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_REQUEST);
        assert_int_equal(pkt.hdr.src_port, 1u << 30);
        assert_int_equal(pkt.hdr.dst_port, 5);
        /* a second one answered: "OK <port>" */
        later = client(path, "CONNECT 6\n");
        pump(0);
        rx_room(4096);
        assert_int_equal(vsock_muxer_recv_pkt(&mux, &pkt, 0), 0);
        tx(VSOCK_OP_RESPONSE, 0, 0, 4096, 0);
        pkt.hdr.src_port = 6;
        pkt.hdr.dst_port = (1u << 30) + 1;
        vsock_muxer_send_pkt(&mux, &pkt, 0);
        assert_int_equal(read(later, got, sizeof(got)), 14);
        assert_memory_equal(got, "OK 1073741825\n", 14);
        /* the first is never answered: 2 s later the timer kills it, the guest gets an RST
         * and the host socket is closed */
        usleep((VSOCK_CONN_REQUEST_TIMEOUT_MS + 100) * 1000);
        pump(VSOCK_CONN_REQUEST_TIMEOUT_MS + 1);
        assert_int_equal(metrics.vsock.conns_killed.value, killed + 1);
        rx_room(4096);
        assert_int_equal(vsock_muxer_recv_pkt(&mux, &pkt, 0), 0);
        assert_int_equal(pkt.hdr.op, VSOCK_OP_RST);
        assert_int_equal(pkt.hdr.dst_port, 5);
        assert_int_equal(read(good, got, sizeof(got)), 0);
        vsock_muxer_fini(&mux);
        close(bad);
        close(good);
        close(later);
        close(lfd);
        unlink(path);
        rmdir(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_hdr_codec),
            cmocka_unit_test(test_tx_parse),
            cmocka_unit_test(test_rx_parse_and_commit),
            cmocka_unit_test(test_local_init_and_data),
            cmocka_unit_test(test_peer_init_shutdown),
            cmocka_unit_test(test_tx_buffer_bound),
            cmocka_unit_test(test_tx_buffer_flush),
            cmocka_unit_test(test_muxer_rst_and_drops),
            cmocka_unit_test(test_muxer_limit),
            cmocka_unit_test(test_muxer_connect_line_and_timeout),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
