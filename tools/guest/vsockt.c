/*
 * vsockt: the guest Linux's vsock echo and connect tool (the images have no socat).
 *
 *   vsockt listen PORT             accept connections one after another; echo each one back
 *                                  until the peer shuts down its side, then close it
 *   vsockt connect CID PORT BYTES  send BYTES of a pattern, read the echo back, check it, and
 *                                  print "VSOCKT connect bytes=N ok=0|1 seconds=S MiB/s=R"
 *   vsockt sink PORT               one way, for bench/vsock.py: accept one connection, read it
 *                                  to EOF, print "VSOCKT sink bytes=N seconds=S MiB/s=R"
 *   vsockt send CID PORT BYTES     the other way: connect, write BYTES, close, print
 *                                  "VSOCKT send bytes=N seconds=S MiB/s=R"
 *
 * Built static (gcc -static) by tools/guest/images.sh. Both directions run at once through
 * poll(), so a transfer far larger than the socket buffers never deadlocks.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define CHUNK (64 << 10)

static unsigned char pattern_at(unsigned long long off)
{
        /* Not periodic in the buffer sizes, so a lost or repeated chunk shows up. */
        return (unsigned char)(off * 7 + off / 251);
}

static int die(const char *what)
{
        fprintf(stderr, "vsockt: %s: %s\n", what, strerror(errno));
        return 1;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
        while (n > 0) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

static void echo(int fd)
{
        static unsigned char buf[CHUNK];
        ssize_t n;

        while ((n = read(fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
                if (n > 0 && write_all(fd, buf, (size_t)n) < 0)
                        break;
        close(fd);
}

static int listen_mode(unsigned port)
{
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY};
        int s = socket(AF_VSOCK, SOCK_STREAM, 0);

        a.svm_port = port;
        if (s < 0)
                return die("socket");
        if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 8) < 0)
                return die("bind/listen");
        printf("VSOCKT listening port=%u\n", port);
        fflush(stdout);
        for (;;) {
                int c = accept(s, NULL, NULL);
                if (c >= 0)
                        echo(c);
                else if (errno != EINTR)
                        return die("accept");
        }
}

static double since(const struct timespec *t0)
{
        struct timespec t1;

        clock_gettime(CLOCK_MONOTONIC, &t1);
        return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void report(const char *mode, unsigned long long bytes, const struct timespec *t0)
{
        double secs = since(t0);

        printf("VSOCKT %s bytes=%llu seconds=%.3f MiB/s=%.1f\n", mode, bytes, secs,
               (double)bytes / (1 << 20) / (secs > 0 ? secs : 1e-9));
        fflush(stdout);
}

/* The clock starts at accept(): the host measures from its side when it connects. */
static int sink_mode(unsigned port)
{
        static unsigned char buf[CHUNK];
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY};
        unsigned long long got = 0;
        struct timespec t0;
        int s = socket(AF_VSOCK, SOCK_STREAM, 0), c;
        ssize_t n;

        a.svm_port = port;
        if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0)
                return die("sink: socket/bind/listen");
        printf("VSOCKT sink listening port=%u\n", port);
        fflush(stdout);
        if ((c = accept(s, NULL, NULL)) < 0)
                return die("accept");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        while ((n = read(c, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR))
                got += n > 0 ? (unsigned long long)n : 0;
        report("sink", got, &t0);
        return 0;
}

static int send_mode(unsigned cid, unsigned port, unsigned long long bytes)
{
        static unsigned char buf[CHUNK];
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
        unsigned long long sent = 0;
        struct timespec t0;
        int s = socket(AF_VSOCK, SOCK_STREAM, 0);

        for (size_t i = 0; i < CHUNK; i++)
                buf[i] = pattern_at(i);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
                return die("send: connect");
        while (sent < bytes) {
                size_t len = bytes - sent < CHUNK ? bytes - sent : CHUNK;
                if (write_all(s, buf, len) < 0)
                        return die("send: write");
                sent += len;
        }
        report("send", sent, &t0);
        close(s);
        return 0;
}

struct xfer {
        unsigned long long total, sent, got;
        int bad;
};

/* One poll round: write what the socket takes, read and check what came back. */
static int step(int fd, struct xfer *x)
{
        static unsigned char buf[CHUNK];
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (x->sent < x->total)
                p.events |= POLLOUT;
        if (poll(&p, 1, 30000) <= 0)
                return -1;
        if (p.revents & POLLOUT) {
                size_t len = x->total - x->sent < CHUNK ? x->total - x->sent : CHUNK;
                for (size_t i = 0; i < len; i++)
                        buf[i] = pattern_at(x->sent + i);
                n = send(fd, buf, len, MSG_DONTWAIT);
                if (n < 0 && errno != EAGAIN)
                        return -1;
                /* No shutdown(SHUT_WR) at the end: the echo is counted, not awaited as EOF. */
                x->sent += n > 0 ? (unsigned long long)n : 0;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
                n = recv(fd, buf, CHUNK, MSG_DONTWAIT);
                if (n <= 0)
                        return n == 0 || errno != EAGAIN ? -1 : 0;
                for (ssize_t i = 0; i < n; i++)
                        x->bad |= buf[i] != pattern_at(x->got + (unsigned long long)i);
                x->got += (unsigned long long)n;
        }
        return 0;
}

static int connect_mode(unsigned cid, unsigned port, unsigned long long bytes)
{
        struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
        struct xfer x = {.total = bytes};
        struct timespec t0, t1;
        int s = socket(AF_VSOCK, SOCK_STREAM, 0);

        if (s < 0)
                return die("socket");
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
                return die("connect");
        while (x.got < x.total && step(s, &x) == 0)
                ;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        close(s);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        int ok = x.got == x.total && !x.bad;
        printf("VSOCKT connect bytes=%llu ok=%d seconds=%.3f MiB/s=%.1f\n", x.got, ok, secs,
               (double)x.got / (1 << 20) / (secs > 0 ? secs : 1e-9));
        return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
        if (argc == 3 && strcmp(argv[1], "listen") == 0)
                return listen_mode((unsigned)strtoul(argv[2], NULL, 0));
        if (argc == 5 && strcmp(argv[1], "connect") == 0)
                return connect_mode((unsigned)strtoul(argv[2], NULL, 0),
                                    (unsigned)strtoul(argv[3], NULL, 0),
                                    strtoull(argv[4], NULL, 0));
        if (argc == 3 && strcmp(argv[1], "sink") == 0)
                return sink_mode((unsigned)strtoul(argv[2], NULL, 0));
        if (argc == 5 && strcmp(argv[1], "send") == 0)
                return send_mode((unsigned)strtoul(argv[2], NULL, 0),
                                 (unsigned)strtoul(argv[3], NULL, 0), strtoull(argv[4], NULL, 0));
        fprintf(stderr, "usage: vsockt listen PORT | connect CID PORT BYTES | sink PORT | "
                        "send CID PORT BYTES\n");
        return 2;
}
