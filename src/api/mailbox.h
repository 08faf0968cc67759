/* One-slot request mailbox from the API thread to the VMM thread (two eventfds + a mutex). */
#ifndef BRASA_API_MAILBOX_H
#define BRASA_API_MAILBOX_H

#include <pthread.h>
#include <stdbool.h>

/*
 * Only eventfd reads/writes and an uncontended private mutex: no condition variable, so
 * the API thread's seccomp filter needs no futex timed-wait operations.
 */
struct mailbox {
        pthread_mutex_t lock;
        int efd;      /* request: written on post, polled by the VMM loop (non-blocking) */
        int resp_efd; /* reply: the caller blocks reading it */
        void *slot;   /* the posted item, until answered */
        bool done;    /* the VMM thread answered the posted item */
        bool closed;  /* no VMM thread any more: posts fail */
};

/* Initialises m with an empty slot and its eventfds. Returns 0 or -errno. */
int mailbox_init(struct mailbox *m);

/* Releases m's resources. No thread may use m any more. */
void mailbox_destroy(struct mailbox *m);

/*
 * API thread: posts item, wakes the VMM thread and blocks until mailbox_reply() (returns 0)
 * or mailbox_close() (returns -EPIPE: the item was not handled). One caller at a time.
 */
int mailbox_call(struct mailbox *m, void *item);

/* VMM thread, on request-eventfd readiness: consumes the wakeup and takes the item, or NULL. */
void *mailbox_take(struct mailbox *m);

/* VMM thread: the taken item is answered; wakes the waiting caller. */
void mailbox_reply(struct mailbox *m);

/*
 * Fails the pending and every later call. Call on the VMM thread (never while it handles
 * an item). Idempotent.
 */
void mailbox_close(struct mailbox *m);

#endif
