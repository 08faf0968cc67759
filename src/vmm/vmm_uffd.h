/* The Uffd memory backend of a snapshot load: the userfaultfd, the handler handshake, its watch. */
#ifndef BRASA_VMM_VMM_UFFD_H
#define BRASA_VMM_VMM_UFFD_H

#include <stdint.h>

#include "core/err.h"

struct vmm;

/*
 * Connects to the page-fault handler listening on sock_path, first of all, so that a missing
 * or refusing handler is the load's error as in Firecracker, whatever else is wrong. Returns
 * the connected socket or -errno with Firecracker's "Failed to connect to UDS Unix stream:
 * ..." text in e.
 */
int vmm_uffd_connect(const char *sock_path, struct err *e);

/*
 * Hands guest memory (vmm->mem: anonymous, private, not yet touched) to the page-fault
 * handler listening on sock_path, as Firecracker's guest_memory_from_uffd() does: a
 * userfaultfd (close-on-exec, non-blocking, kernel faults included, with the remove event
 * that balloon inflation raises) registered in MISSING mode over every region, then one
 * message on sock (from vmm_uffd_connect(), owned by this call from now on): the regions' JSON
 * (core/uffd_regions.h, page_size bytes per page) with the userfaultfd as SCM_RIGHTS. brasa keeps
 * its own copy of the userfaultfd and the connection open, and starts a thread that watches the
 * connection: when the handler hangs up, nothing can serve a missing page again, so the watcher
 * stops the vCPUs, asks the VMM to exit with an error, and unregisters guest memory so that a
 * thread blocked in a fault moves on (the process is ending; nothing reads that memory
 * again). Returns 0 or -errno with Firecracker's text in e (without the "Failed to load
 * guest memory: Error creating guest memory from uffd: " prefix, which the caller adds); on
 * failure nothing is left behind.
 */
int vmm_uffd_attach(struct vmm *vmm, int sock, uint64_t page_size, struct err *e);

/*
 * After the load touched guest memory (device and VMGenID state): -EPIPE with one line in e
 * when the handler already hung up, else 0. A handler that closes the connection without
 * reading it makes every load fail here or at the send, never hang.
 */
int vmm_uffd_check(struct vmm *vmm, struct err *e);

/*
 * Teardown, after the vCPUs were kicked and before they are joined: stops the watcher (which
 * kicks vCPUs itself), unregisters guest memory so that a thread blocked in a fault can end,
 * and closes brasa's userfaultfd and connection (the handler's cue to exit). Safe when none.
 */
void vmm_uffd_release(struct vmm *vmm);

#endif
