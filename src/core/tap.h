/* Host TAP interfaces for virtio-net: an existing tap opened with a 12-byte vnet header. */
#ifndef BRASA_CORE_TAP_H
#define BRASA_CORE_TAP_H

#include <stddef.h>

#include "core/err.h"

/* The vnet header brasa exchanges with the tap: virtio_net_hdr_v1, num_buffers included. */
#define TAP_VNET_HDR_LEN 12

/*
 * Opens /dev/net/tun and attaches to the existing tap name with IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, non-blocking, and sets the vnet header size to TAP_VNET_HDR_LEN, as
 * Firecracker's Tap::open_named and set_vnet_hdr_size, with their texts. A name of 16 bytes
 * or more is -EINVAL; a tap another process (or device) holds is -EBUSY; a multi-queue tap
 * is -EINVAL; a missing (or not persistent) tap is -ENODEV. Returns the fd or -errno with
 * one line in e.
 */
int tap_open(const char *name, struct err *e);

/* TUNSETOFFLOAD with TUN_F_* flags. Returns 0 or -errno. */
int tap_set_offload(int fd, unsigned int flags);

#endif
