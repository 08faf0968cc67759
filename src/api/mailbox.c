/* The API -> VMM handoff: one request in flight, answered before the next is posted. */
#include "api/mailbox.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/util.h"

int mailbox_init(struct mailbox *m)
{
        memset(m, 0, sizeof(*m));
        m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        m->resp_efd = eventfd(0, EFD_CLOEXEC);
        if (m->efd < 0 || m->resp_efd < 0) {
                mailbox_destroy(m);
                return -EMFILE;
        }
        pthread_mutex_init(&m->lock, NULL);
        return 0;
}

void mailbox_destroy(struct mailbox *m)
{
        if (m->efd >= 0)
                close(m->efd);
        if (m->resp_efd >= 0)
                close(m->resp_efd);
        m->efd = m->resp_efd = -1;
}

int mailbox_call(struct mailbox *m, void *item)
{
        uint64_t v;
        int rc;

        pthread_mutex_lock(&m->lock);
        if (m->closed) {
                pthread_mutex_unlock(&m->lock);
                return -EPIPE;
        }
        m->slot = item;
        m->done = false;
        pthread_mutex_unlock(&m->lock);
        efd_signal(m->efd);
        while (read(m->resp_efd, &v, sizeof(v)) < 0 && errno == EINTR)
                ;
        pthread_mutex_lock(&m->lock);
        rc = m->done ? 0 : -EPIPE;
        m->slot = NULL;
        pthread_mutex_unlock(&m->lock);
        return rc;
}

void *mailbox_take(struct mailbox *m)
{
        void *item;

        if (efd_drain(m->efd, NULL))
                return NULL;
        pthread_mutex_lock(&m->lock);
        item = m->done || m->closed ? NULL : m->slot;
        pthread_mutex_unlock(&m->lock);
        return item;
}

void mailbox_reply(struct mailbox *m)
{
        pthread_mutex_lock(&m->lock);
        m->done = true;
        pthread_mutex_unlock(&m->lock);
        efd_signal(m->resp_efd);
}

void mailbox_close(struct mailbox *m)
{
        pthread_mutex_lock(&m->lock);
        m->closed = true;
        pthread_mutex_unlock(&m->lock);
        efd_signal(m->resp_efd);
}
