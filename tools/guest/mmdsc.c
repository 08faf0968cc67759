/*
 * mmdsc: the guest Linux's metadata-service client (the images have no curl or wget with
 * custom headers).
 *
 *   mmdsc [-b] IP METHOD PATH ["Name: value"]...
 *
 * Sends "METHOD PATH HTTP/1.1" with the given headers to IP port 80 over TCP, reads one
 * response (its head, then Content-Length bytes of body) and prints
 *
 *   MMDSC status=N type=T length=N fnv=XXXXXXXX
 *   MMDSC body=<the body, '\n' as "\n", other control bytes as '?'>   (bodies <= 512 bytes)
 *
 * fnv is the 32-bit FNV-1a hash of the body, so a long body can be checked without printing
 * it. With -b only the raw body is written (to capture a token in a shell variable).
 * Built static (gcc -static) by tools/guest/images.sh.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MAX_RESP (1 << 20)

static int die(const char *what)
{
        fprintf(stderr, "mmdsc: %s: %s\n", what, errno ? strerror(errno) : "bad answer");
        return 1;
}

static int connect_to(const char *ip)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
        struct timeval tv = {.tv_sec = 60};
        int fd;

        if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
                return -1;
        fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0)
                return -1;
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
                close(fd);
                return -1;
        }
        return fd;
}

static int send_request(int fd, int argc, char **argv)
{
        char req[8192];
        size_t n;
        int i, k;

        k = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\n", argv[0], argv[1]);
        for (i = 2; i < argc && k > 0 && (size_t)k < sizeof(req); i++)
                k += snprintf(req + k, sizeof(req) - (size_t)k, "%s\r\n", argv[i]);
        if (k < 0 || (size_t)k + 2 >= sizeof(req))
                return -1;
        memcpy(req + k, "\r\n", 2);
        n = (size_t)k + 2;
        return write(fd, req, n) == (ssize_t)n ? 0 : -1;
}

/* Reads until the head and Content-Length bytes of body are in; returns the byte count. */
static long read_response(int fd, char *buf, char **body, long *body_len)
{
        long got = 0, need = -1;
        char *end, *cl;
        ssize_t r;

        while (need < 0 || got < need) {
                r = read(fd, buf + got, MAX_RESP - 1 - (size_t)got);
                if (r <= 0)
                        return -1;
                got += r;
                buf[got] = '\0';
                end = strstr(buf, "\r\n\r\n");
                if (need >= 0 || !end)
                        continue;
                cl = strstr(buf, "Content-Length: ");
                if (!cl || cl > end)
                        return -1;
                *body = end + 4;
                *body_len = atol(cl + 16);
                need = (long)(*body - buf) + *body_len;
        }
        return got;
}

static void print_summary(const char *buf, const char *body, long len)
{
        const char *type = strstr(buf, "Content-Type: ");
        unsigned int h = 2166136261u;
        long i;

        for (i = 0; i < len; i++)
                h = (h ^ (unsigned char)body[i]) * 16777619u;
        printf("MMDSC status=%d type=%.*s length=%ld fnv=%08x\n", atoi(buf + 9),
               type ? (int)strcspn(type + 14, "\r") : 1, type ? type + 14 : "-", len, h);
        if (len > 512)
                return;
        fputs("MMDSC body=", stdout);
        for (i = 0; i < len; i++) {
                if (body[i] == '\n')
                        fputs("\\n", stdout);
                else
                        putchar((unsigned char)body[i] < 0x20 ? '?' : body[i]);
        }
        putchar('\n');
}

int main(int argc, char **argv)
{
        int raw = argc > 1 && strcmp(argv[1], "-b") == 0;
        char *buf, *body = NULL;
        long body_len = 0;
        int fd;

        argv += raw;
        argc -= raw;
        if (argc < 4) {
                fprintf(stderr, "usage: mmdsc [-b] IP METHOD PATH [\"Name: value\"]...\n");
                return 2;
        }
        buf = malloc(MAX_RESP);
        fd = buf ? connect_to(argv[1]) : -1;
        if (fd < 0)
                return die("connect");
        if (send_request(fd, argc - 2, argv + 2))
                return die("send");
        errno = 0;
        if (read_response(fd, buf, &body, &body_len) < 0)
                return die("read");
        close(fd);
        if (raw)
                fwrite(body, 1, (size_t)body_len, stdout);
        else
                print_summary(buf, body, body_len);
        free(buf);
        return 0;
}
