/* brasa-uffd-handler: serves a Uffd snapshot load's page faults from the snapshot's memory file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_REGIONS 16
#define MSG_MAX     4096
#define MAX_PENDING 1024

static const char usage_text[] =
    "NAME\n"
    "    brasa-uffd-handler - serve a snapshot's guest memory to brasa or Firecracker\n"
    "\n"
    "SYNOPSIS\n"
    "    brasa-uffd-handler [--fault-all] SOCKET MEMORY_FILE\n"
    "\n"
    "DESCRIPTION\n"
    "    Listens on the Unix socket SOCKET (which must not exist) and accepts one\n"
    "    connection: the VMM that loads a snapshot with\n"
    "        \"mem_backend\": {\"backend_type\": \"Uffd\", \"backend_path\": SOCKET}\n"
    "    sends its guest memory regions as JSON with a userfaultfd. MEMORY_FILE is the\n"
    "    snapshot's memory file (mem_file_path of PUT /snapshot/create); it must hold\n"
    "    every region, else the handler refuses it and exits, and the load fails.\n"
    "\n"
    "    By default each page is copied from MEMORY_FILE when the guest (or the VMM)\n"
    "    first touches it (UFFDIO_COPY). With --fault-all, all of guest memory is\n"
    "    copied at once, right after the handshake. Either way, a range the balloon\n"
    "    gives back (the remove event) is unregistered: it reads as zeros thereafter.\n"
    "\n"
    "    The handler serves until the VMM closes the connection (it exited), then\n"
    "    removes SOCKET and exits 0. brasa stops the microVM with an error when the\n"
    "    handler closes the connection first, so keep the handler running.\n"
    "\n"
    "OPTIONS\n"
    "    --fault-all    copy every page at once instead of on demand\n"
    "    --help, -h     print this help and exit\n"
    "\n"
    "EXIT STATUS\n"
    "    0 the VMM went away; 1 an error (a line on stderr says which); 2 bad arguments.\n";

struct region {
        uint64_t base, size, offset, page_size;
};

struct handler {
        int uffd, conn;
        struct region r[MAX_REGIONS];
        unsigned int nr;
        const uint8_t *file; /* the memory file, mapped read-only */
        size_t file_bytes;
        uint64_t pend[MAX_PENDING]; /* faults to retry (the kernel said EAGAIN) */
        unsigned int npend;
};

__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...)
{
        va_list ap;

        fputs("brasa-uffd-handler: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Listens on path and accepts the one VMM connection. Returns it or -1. */
static int accept_vmm(const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int l, c;

        if (strlen(path) >= sizeof(sa.sun_path))
                return fail("socket path too long: %s", path), -1;
        strcpy(sa.sun_path, path);
        l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
                return fail("cannot listen on %s: %s", path, strerror(errno)), -1;
        do
                c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        while (c < 0 && errno == EINTR);
        if (c < 0)
                fail("accept on %s: %s", path, strerror(errno));
        close(l);
        return c;
}

/* The VMM's one message: the regions' JSON text (NUL-terminated) and the userfaultfd. */
static int recv_handshake(struct handler *h, char *text, size_t cap)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = text, .iov_len = cap - 1};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf)};
        struct cmsghdr *c;
        ssize_t n;

        do
                n = recvmsg(h->conn, &msg, MSG_CMSG_CLOEXEC);
        while (n < 0 && errno == EINTR);
        if (n <= 0)
                return fail("no handshake from the VMM: %s", n ? strerror(errno) : "closed");
        text[n] = '\0';
        c = CMSG_FIRSTHDR(&msg);
        if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len != CMSG_LEN(sizeof(int)))
                return fail("the handshake carries no userfaultfd");
        memcpy(&h->uffd, CMSG_DATA(c), sizeof(int));
        return 0;
}

static int get_u64(const json_t *o, const char *key, uint64_t *out)
{
        const json_t *v = json_object_get(o, key);

        if (!json_is_integer(v) || json_integer_value(v) < 0)
                return -1;
        *out = (uint64_t)json_integer_value(v);
        return 0;
}

/* Firecracker's GuestRegionUffdMapping list; page_size_kib stands in for an absent page_size. */
static int parse_regions(struct handler *h, const char *text)
{
        json_error_t je;
        json_t *a = json_loads(text, 0, &je), *o;
        size_t i;
        int rc = 0;

        if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > MAX_REGIONS)
                rc = fail("the region list is not a JSON array of 1 to %d regions", MAX_REGIONS);
        json_array_foreach(a, i, o)
        {
                struct region *r = &h->r[i];

                if (rc)
                        break;
                if (get_u64(o, "page_size", &r->page_size) &&
                    get_u64(o, "page_size_kib", &r->page_size))
                        rc = fail("region %zu has no page size", i);
                else if (get_u64(o, "base_host_virt_addr", &r->base) ||
                         get_u64(o, "size", &r->size) || get_u64(o, "offset", &r->offset))
                        rc = fail("region %zu lacks base_host_virt_addr, size or offset", i);
                else if (!r->page_size || (r->page_size & (r->page_size - 1)) ||
                         (r->base | r->size) & (r->page_size - 1))
                        rc = fail("region %zu is not aligned to its page size", i);
                h->nr = (unsigned int)i + 1;
        }
        json_decref(a);
        return rc;
}

/* Maps the memory file, which must hold every region. */
static int map_file(struct handler *h, const char *path)
{
        struct stat st;
        uint64_t need = 0;
        unsigned int i;
        void *p;
        int fd;

        for (i = 0; i < h->nr; i++)
                if (h->r[i].offset + h->r[i].size > need)
                        need = h->r[i].offset + h->r[i].size;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0)
                return fail("cannot open the memory file %s: %s", path, strerror(errno));
        if ((uint64_t)st.st_size < need) {
                close(fd);
                return fail("the memory file %s is %lld bytes, the guest memory regions need %llu",
                            path, (long long)st.st_size, (unsigned long long)need);
        }
        p = mmap(NULL, need, PROT_READ, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        close(fd);
        if (p == MAP_FAILED)
                return fail("cannot map the memory file %s: %s", path, strerror(errno));
        h->file = p;
        h->file_bytes = need;
        return 0;
}

/*
 * Copies len bytes of region r from its offset off into place. Returns 0 (EEXIST: the page is
 * there already, and ENOENT: a range the balloon gave back, unregistered since, are skipped),
 * 1 when the kernel said EAGAIN (a remove event is pending: read the events, then retry),
 * 2 when the VMM is gone (ESRCH), or -errno.
 */
static int copy_in(struct handler *h, const struct region *r, uint64_t off, uint64_t len)
{
        while (len) {
                struct uffdio_copy c = {.dst = r->base + off,
                                        .src = (uintptr_t)(h->file + r->offset + off),
                                        .len = len};
                uint64_t step = len;

                if (ioctl(h->uffd, UFFDIO_COPY, &c) == 0)
                        step = len;
                else if (c.copy > 0)
                        step = (uint64_t)c.copy;
                else if (errno == EEXIST || errno == ENOENT)
                        step = r->page_size;
                else if (errno == EAGAIN)
                        return 1;
                else
                        return errno == ESRCH ? 2 : -errno;
                off += step;
                len -= step;
        }
        return 0;
}

/* The one page around addr. Returns as copy_in(); -EFAULT for an address in no region. */
static int serve_fault(struct handler *h, uint64_t addr)
{
        unsigned int i;

        for (i = 0; i < h->nr; i++) {
                const struct region *r = &h->r[i];

                if (addr >= r->base && addr - r->base < r->size)
                        return copy_in(h, r, (addr - r->base) & ~(r->page_size - 1), r->page_size);
        }
        return -EFAULT;
}

/* The balloon gave [start, end) back: the kernel serves it as zero pages from now on. */
static void on_remove(struct handler *h, uint64_t start, uint64_t end)
{
        struct uffdio_range range = {.start = start, .len = end - start};

        if (ioctl(h->uffd, UFFDIO_UNREGISTER, &range) < 0)
                fail("UFFDIO_UNREGISTER: %s", strerror(errno));
}

/*
 * Reads every pending event and serves it. Faults the kernel answered with EAGAIN wait in
 * pend for the next round. A thread blocked in a fault has one message queued at most, so
 * MAX_PENDING bounds the VMM's threads, not the faults. Returns 0 or 1 (an error, said on
 * stderr).
 */
static int drain_events(struct handler *h)
{
        uint64_t *pend = h->pend;
        struct uffd_msg m;
        unsigned int i, n = h->npend;
        int rc;

        h->npend = 0;
        while (read(h->uffd, &m, sizeof(m)) == (ssize_t)sizeof(m)) {
                if (m.event == UFFD_EVENT_REMOVE)
                        on_remove(h, m.arg.remove.start, m.arg.remove.end);
                else if (m.event == UFFD_EVENT_PAGEFAULT && n < MAX_PENDING)
                        pend[n++] = m.arg.pagefault.address;
        }
        for (i = 0; i < n; i++) {
                rc = serve_fault(h, pend[i]);
                if (rc == 1)
                        pend[h->npend++] = pend[i];
                else if (rc < 0)
                        return fail("cannot serve the fault at 0x%llx: %s",
                                    (unsigned long long)pend[i], strerror(-rc));
        }
        return 0;
}

/* Copies every region at once; faults and remove events that come meanwhile are served. */
static int fault_all(struct handler *h)
{
        uint64_t t0 = now_us(), bytes = 0;
        unsigned int i;
        int rc;

        for (i = 0; i < h->nr; i++) {
                while ((rc = copy_in(h, &h->r[i], 0, h->r[i].size)) == 1)
                        if (drain_events(h))
                                return 1;
                if (rc == 2)
                        return 0; /* the VMM is gone: serve() sees its hang-up */
                if (rc < 0)
                        return fail("cannot copy guest memory: %s", strerror(-rc));
                bytes += h->r[i].size;
        }
        fprintf(stderr, "brasa-uffd-handler: copied all %llu bytes in %llu us\n",
                (unsigned long long)bytes, (unsigned long long)(now_us() - t0));
        return 0;
}

/* Serves until the VMM hangs up. Returns the exit status. */
static int serve(struct handler *h)
{
        struct pollfd p[2] = {{.fd = h->uffd, .events = POLLIN},
                              {.fd = h->conn, .events = POLLRDHUP}};

        for (;;) {
                if (poll(p, 2, h->npend ? 1 : -1) < 0 && errno != EINTR)
                        return fail("poll: %s", strerror(errno));
                if (p[1].revents & (POLLRDHUP | POLLHUP | POLLERR))
                        return 0;
                if (drain_events(h))
                        return 1;
        }
}

static int run(const char *sock, const char *mem, bool all)
{
        static struct handler h = {.uffd = -1};
        static char text[MSG_MAX];
        int rc;

        h.conn = accept_vmm(sock);
        if (h.conn < 0)
                return 1;
        rc = recv_handshake(&h, text, sizeof(text));
        if (!rc)
                rc = parse_regions(&h, text);
        if (!rc)
                rc = map_file(&h, mem);
        if (!rc)
                fprintf(stderr, "brasa-uffd-handler: serving %u region(s) from %s %s\n", h.nr, mem,
                        all ? "all at once" : "on demand");
        if (!rc && all)
                rc = fault_all(&h);
        if (!rc)
                rc = serve(&h);
        unlink(sock);
        return rc;
}

int main(int argc, char **argv)
{
        bool all = false;
        int i = 1;

        signal(SIGPIPE, SIG_IGN);
        if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
                fputs(usage_text, stdout);
                return 0;
        }
        if (argc > 1 && !strcmp(argv[1], "--fault-all")) {
                all = true;
                i++;
        }
        if (argc - i != 2 || argv[i][0] == '-') {
                fputs("Usage: brasa-uffd-handler [--fault-all] SOCKET MEMORY_FILE (--help)\n",
                      stderr);
                return 2;
        }
        return run(argv[i], argv[i + 1], all);
}
