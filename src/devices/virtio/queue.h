/* The split virtqueue (virtio 1.x), walked with strict validation of everything the guest wrote. */
#ifndef BRASA_DEVICES_VIRTIO_QUEUE_H
#define BRASA_DEVICES_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/guest_mem.h"

/* Largest queue brasa offers (Firecracker's FIRECRACKER_MAX_QUEUE_SIZE). */
#define VIRTQ_MAX_SIZE 256

/*
 * The longest chain accepted, indirect tables included: the spec forbids chains longer
 * than the queue size, so this also ends descriptor loops.
 */
#define VIRTQ_MAX_CHAIN VIRTQ_MAX_SIZE

/* One guest buffer of a chain, already translated and bounds-checked. */
struct virtq_seg {
        uint8_t *hva;
        uint32_t len;
        bool write; /* device-writable */
};

/* A popped descriptor chain: readable segments first, then writable ones. */
struct virtq_chain {
        uint16_t head;
        unsigned int nsegs;
        unsigned int nreadable; /* segs[0..nreadable) readable, the rest writable */
        uint64_t readable_bytes;
        uint64_t writable_bytes;
        struct virtq_seg segs[VIRTQ_MAX_CHAIN];
};

struct virtq {
        /* Driver-programmed registers (transport side). */
        uint16_t max_size;
        uint16_t size;
        bool ready;
        uint64_t desc_gpa, avail_gpa, used_gpa;

        /* Set by virtq_activate(). */
        const struct guest_mem *mem;
        uint8_t *desc;  /* size x 16 bytes */
        uint8_t *avail; /* flags, idx, ring[size], used_event */
        uint8_t *used;  /* flags, idx, ring[size] x 8 bytes, avail_event */
        bool event_idx;
        uint16_t next_avail;
        uint16_t next_used;
        uint16_t num_added; /* used entries since the last virtq_should_notify() */
};

/* Sets the queue to its reset state with the given maximum size. */
void virtq_init(struct virtq *q, uint16_t max_size);

/* Back to the reset state (not ready, size = max_size, addresses 0), keeping max_size. */
void virtq_reset(struct virtq *q);

/*
 * Checks a driver-programmed queue when the device goes live: ready, size a power of two
 * in [1, max_size], rings aligned (16/2/4) and wholly inside guest RAM. Caches the host
 * pointers. Returns 0 or -EINVAL with the reason in e.
 */
int virtq_activate(struct virtq *q, const struct guest_mem *mem, bool event_idx, struct err *e);

/*
 * Takes the next available chain into *c. With EVENT_IDX, an empty queue re-enables
 * notifications (avail_event) and checks again, so no buffer is missed.
 * Returns 1 (chain popped), 0 (queue empty) or -EPROTO when the driver broke the
 * ring: the avail index ran more than size ahead, a head or next index is out of
 * range, a descriptor or indirect table lies outside guest RAM or its address + length
 * overflows, an indirect table is badly sized or holds another indirect descriptor,
 * INDIRECT is combined with NEXT, a readable descriptor follows a writable one, the
 * chain is longer than VIRTQ_MAX_CHAIN (loops), or its total length exceeds 4 GiB.
 * *why then names the problem (a static string). Nothing is consumed on -EPROTO.
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c, const char **why);

/* Returns the last popped chain to the ring (it will be popped again). */
void virtq_undo_pop(struct virtq *q);

/* Records a finished chain (head id, bytes written to guest buffers) in the used ring. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t len);

/* Publishes the entries pushed so far (used->idx, after a release fence). */
void virtq_publish(struct virtq *q);

/*
 * After virtq_publish(): whether the driver wants an interrupt for the entries added
 * since the last call (EVENT_IDX used_event; else always when any was added).
 */
bool virtq_should_notify(struct virtq *q);

/* Chains that are available but not popped yet (may be garbage if the driver is broken). */
uint16_t virtq_pending(const struct virtq *q);

#endif
