/* The Uffd memory backend of a snapshot load: the userfaultfd, the handler handshake, its watch. */
#define _GNU_SOURCE
#include "vmm/vmm_uffd.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"
#include "core/uffd_regions.h"
#include "core/util.h"
#include "vmm/vmm.h"

struct vmm_uffd {
        struct vmm *vmm;
        int uffd;    /* brasa's copy: pending faults stay pending, never silently zero-filled */
        int sock;    /* the handler connection, kept open as Firecracker keeps it */
        int stop_fd; /* eventfd: teardown ends the watcher */
        pthread_t watcher;
        bool watching;
        bool gone; /* the handler hung up; accessed atomically */
};

/* Firecracker's io::Error text: "<strerror> (os error N)". */
static int os_err(struct err *e, int rc, const char *what)
{
        return err_set(e, rc, "%s: %s (os error %d)", what, strerror(-rc), -rc);
}

/* The userfaultfd with Firecracker's UffdBuilder settings. Returns the fd or -errno. */
static int uffd_open(struct err *e)
{
        struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_EVENT_REMOVE};
        int fd, rc;

        fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) {
                rc = -errno;
                return err_set(e, rc, "Failed to UFFD object: System error: %s", strerror(-rc));
        }
        if (ioctl(fd, UFFDIO_API, &api) < 0) {
                rc = -errno;
                close(fd);
                return err_set(e, rc, "Failed to UFFD object: System error: %s", strerror(-rc));
        }
        return fd;
}

static int uffd_register(int fd, const struct guest_mem *m, struct err *e)
{
        unsigned int i;
        int rc;

        for (i = 0; i < m->nr_regions; i++) {
                struct uffdio_register reg = {
                    .range = {.start = (uintptr_t)m->regions[i].hva, .len = m->regions[i].size},
                    .mode = UFFDIO_REGISTER_MODE_MISSING,
                };

                if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0) {
                        rc = -errno;
                        return err_set(e, rc,
                                       "Failed to register memory address range with the "
                                       "userfaultfd object: System error: %s",
                                       strerror(-rc));
                }
        }
        return 0;
}

/* The regions' JSON: brasa's regions lie back to back in one mapping and in the file. */
static int regions_text(const struct guest_mem *m, uint64_t page_size, char *buf, size_t cap)
{
        struct uffd_region r[GUEST_MEM_MAX_REGIONS];
        unsigned int i;

        for (i = 0; i < m->nr_regions; i++)
                r[i] = (struct uffd_region){
                    .base_host_virt_addr = (uintptr_t)m->regions[i].hva,
                    .size = m->regions[i].size,
                    .offset = (uint64_t)(m->regions[i].hva - m->map),
                    .page_size = page_size,
                };
        return uffd_regions_json(r, m->nr_regions, buf, cap);
}

int vmm_uffd_connect(const char *path, struct err *e)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int s, rc;

        if (strlen(path) >= sizeof(sa.sun_path))
                return os_err(e, -ENAMETOOLONG, "Failed to connect to UDS Unix stream");
        memcpy(sa.sun_path, path, strlen(path) + 1);
        s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s < 0)
                return os_err(e, -errno, "Failed to connect to UDS Unix stream");
        if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                rc = -errno;
                close(s);
                return os_err(e, rc, "Failed to connect to UDS Unix stream");
        }
        return s;
}

/* One message: the JSON with the userfaultfd attached. */
static int handler_send(int s, const char *text, size_t len, int uffd, struct err *e)
{
        union {
                char buf[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
        } u;
        struct iovec iov = {.iov_base = (void *)(uintptr_t)text, .iov_len = len};
        struct msghdr msg = {.msg_iov = &iov,
                             .msg_iovlen = 1,
                             .msg_control = u.buf,
                             .msg_controllen = sizeof(u.buf)};
        struct cmsghdr *c;
        ssize_t n;

        memset(&u, 0, sizeof(u));
        c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &uffd, sizeof(int));
        do
                n = sendmsg(s, &msg, MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return os_err(e, -errno, "Failed to sends file descriptor");
        if ((size_t)n != len) /* a fresh connection's buffer takes a few hundred bytes */
                return os_err(e, -EMSGSIZE, "Failed to sends file descriptor");
        return 0;
}

/* Guest memory leaves the userfaultfd: threads blocked in a fault move on (onto zero pages). */
static void unregister_all(struct vmm_uffd *u)
{
        struct uffdio_range all = {.start = (uintptr_t)u->vmm->mem.map,
                                   .len = u->vmm->mem.map_bytes};

        if (u->uffd >= 0 && all.len && ioctl(u->uffd, UFFDIO_UNREGISTER, &all) < 0)
                log_error("UFFDIO_UNREGISTER: %s", strerror(errno));
}

/* The handler is gone: nothing may run on guest memory again. */
static void handler_gone(struct vmm_uffd *u)
{
        struct vmm *vmm = u->vmm;
        unsigned int i;

        __atomic_store_n(&u->gone, true, __ATOMIC_RELEASE);
        log_error("The page-fault handler of the Uffd memory backend closed its connection: "
                  "guest memory can no longer be served, the microVM stops");
        for (i = 0; i < vmm->nr_vcpus; i++)
                vcpu_kick(&vmm->vcpus[i]);
        vmm_request_exit(vmm, VMM_EXIT_GENERIC);
        /* Wakes every thread blocked in a fault: they see zero pages of a VM that is ending. */
        unregister_all(u);
}

/* Waits for the handler's hang-up (bytes it sends are read and dropped) or for teardown. */
static void *watch_handler(void *arg)
{
        struct vmm_uffd *u = arg;
        struct pollfd p[2] = {{.fd = u->sock, .events = POLLIN | POLLRDHUP},
                              {.fd = u->stop_fd, .events = POLLIN}};
        char junk[256];
        ssize_t n;

        log_set_thread_name("fc_uffd_watch");
        for (;;) {
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        break;
                }
                if (p[1].revents)
                        return NULL;
                if (p[0].revents & (POLLRDHUP | POLLHUP | POLLERR))
                        break;
                n = read(u->sock, junk, sizeof(junk));
                if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                        break;
        }
        handler_gone(u);
        return NULL;
}

static void uffd_free(struct vmm_uffd *u)
{
        if (u->watching) {
                efd_signal(u->stop_fd);
                pthread_join(u->watcher, NULL);
        }
        unregister_all(u);
        if (u->stop_fd >= 0)
                close(u->stop_fd);
        if (u->sock >= 0)
                close(u->sock);
        if (u->uffd >= 0)
                close(u->uffd);
        free(u);
}

/* Registers the memory, then connects and sends: every step fails with Firecracker's text. */
static int uffd_handshake(struct vmm_uffd *u, uint64_t page_size, struct err *e)
{
        char text[512];
        int len, rc;

        u->uffd = uffd_open(e);
        if (u->uffd < 0)
                return u->uffd;
        rc = uffd_register(u->uffd, &u->vmm->mem, e);
        if (rc)
                return rc;
        len = regions_text(&u->vmm->mem, page_size, text, sizeof(text));
        if (len < 0)
                return err_set(e, len, "Failed to restore guest memory: region list too long");
        return handler_send(u->sock, text, (size_t)len, u->uffd, e);
}

int vmm_uffd_attach(struct vmm *vmm, int sock, uint64_t page_size, struct err *e)
{
        struct vmm_uffd *u = calloc(1, sizeof(*u));
        int rc;

        if (!u) {
                close(sock);
                return err_errno(e, -ENOMEM);
        }
        *u = (struct vmm_uffd){.vmm = vmm, .uffd = -1, .sock = sock, .stop_fd = -1};
        rc = uffd_handshake(u, page_size, e);
        if (!rc) {
                u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                rc = u->stop_fd < 0 ? -errno : -pthread_create(&u->watcher, NULL, watch_handler, u);
                if (rc)
                        err_set(e, rc, "Failed to restore guest memory: %s", strerror(-rc));
                u->watching = !rc;
        }
        if (rc) {
                uffd_free(u);
                return rc;
        }
        vmm->uffd = u;
        return 0;
}

int vmm_uffd_check(struct vmm *vmm, struct err *e)
{
        struct vmm_uffd *u = vmm->uffd;
        struct pollfd p;

        if (!u)
                return 0;
        p = (struct pollfd){.fd = u->sock, .events = POLLRDHUP};
        if (__atomic_load_n(&u->gone, __ATOMIC_ACQUIRE) ||
            (poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))))
                return err_set(e, -EPIPE, "the page-fault handler closed its connection");
        return 0;
}

void vmm_uffd_release(struct vmm *vmm)
{
        if (!vmm->uffd)
                return;
        uffd_free(vmm->uffd);
        vmm->uffd = NULL;
}
