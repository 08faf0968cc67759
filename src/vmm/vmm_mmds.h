/* The metadata service on a network interface: its network stack, steering hooks and timer. */
#ifndef BRASA_VMM_VMM_MMDS_H
#define BRASA_VMM_VMM_MMDS_H

#include <stdint.h>

#include "core/err.h"
#include "core/evloop.h"
#include "devices/virtio/net/virtio_net.h"
#include "netstack/tcp_endpoint.h"

/*
 * Puts a metadata network stack answering at ipv4 (host order) on n: frames the guest sends
 * to that address are taken off the TX path and answered through fn(ctx); a timerfd in loop
 * drives retransmissions. The stack lives as long as n (its destroy hook frees it). VMM
 * thread, before the guest runs. Returns 0 or -errno with one line in e.
 */
int vmm_mmds_attach(struct virtio_net *n, struct evloop *loop, uint32_t ipv4, netstack_answer_fn fn,
                    void *ctx, struct err *e);

#endif
