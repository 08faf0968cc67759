/* The metadata service's guest-facing network stack: ARP for its address, a passive TCP port. */
#ifndef BRASA_NETSTACK_NETSTACK_H
#define BRASA_NETSTACK_NETSTACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netstack/tcp_endpoint.h"

#define NETSTACK_MAX_CONNS 30  /* open connections (Firecracker's DEFAULT_MAX_CONNECTIONS) */
#define NETSTACK_MAX_RSTS  100 /* resets waiting to be sent (DEFAULT_MAX_PENDING_RESETS) */
#define NETSTACK_PORT      80
#define NETSTACK_MAC                                                                               \
        {                                                                                          \
                0x06, 0x01, 0x23, 0x45, 0x67, 0x01                                                 \
        } /* the service's MAC */

struct netstack_slot {
        bool used;
        uint32_t addr; /* the peer's IPv4 address (host order) and port */
        uint16_t port;
        struct tcp_endpoint ep;
};

struct netstack_rst {
        uint32_t addr;
        uint16_t port;
        struct tcp_rst rst;
};

/* Everything fixed-size: the only allocations are the answers the callback returns. */
struct netstack {
        uint8_t mac[ETH_ADDR_LEN], remote_mac[ETH_ADDR_LEN];
        uint32_t ipv4; /* the service's address (host order) */
        bool arp_pending;
        uint32_t arp_dest; /* who asked (host order) */
        netstack_answer_fn answer;
        void *answer_ctx;
        uint32_t isn_state; /* xorshift state for initial sequence numbers */
        unsigned int nconns, nrsts, scan;
        struct netstack_slot conns[NETSTACK_MAX_CONNS];
        struct netstack_rst rsts[NETSTACK_MAX_RSTS];
};

/*
 * A stack answering at ipv4 (host order), its requests going to fn(ctx). Returns 0 or
 * -ENOMEM.
 */
int netstack_create(struct netstack **out, uint32_t ipv4, netstack_answer_fn fn, void *ctx);

/* Frees ns and every connection's answer (NULL is fine). */
void netstack_destroy(struct netstack *ns);

/*
 * Is frame (Ethernet, no virtio header), which the guest sent, for the service? ARP whose
 * target address or IPv4 whose destination is ns's address, decided from the headers'
 * fixed offsets alone as Firecracker does.
 */
bool netstack_wants(const struct netstack *ns, const uint8_t *frame, size_t len);

/*
 * The guest sent frame to the service (netstack_wants() said so) at time now (ns): ARP
 * requests queue a reply, TCP to port 80 goes to its connection; anything else is counted
 * and dropped. csum_partial: the guest left the TCP checksum to the device (virtio's
 * NEEDS_CSUM), so it is not checked. Counts the mmds metrics.
 */
void netstack_take(struct netstack *ns, const uint8_t *frame, size_t len, bool csum_partial,
                   uint64_t now);

/*
 * Writes the next frame for the guest at time now into buf (cap bytes): an ARP reply
 * first, then a pending reset, then a connection's segment. Returns its length, or 0 when
 * there is nothing to send now.
 */
size_t netstack_next(struct netstack *ns, uint8_t *buf, size_t cap, uint64_t now);

/*
 * When something will be due: true with *when set to the earliest retransmission deadline
 * (possibly already past), false when nothing waits on time.
 */
bool netstack_deadline(const struct netstack *ns, uint64_t *when);

/* Frames are waiting to be sent now (netstack_next() would return one). */
bool netstack_ready(const struct netstack *ns, uint64_t now);

#endif
