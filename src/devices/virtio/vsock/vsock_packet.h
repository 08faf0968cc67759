/* virtio-vsock packets: the 44-byte header and a packet's view of a popped descriptor chain. */
#ifndef BRASA_DEVICES_VIRTIO_VSOCK_VSOCK_PACKET_H
#define BRASA_DEVICES_VIRTIO_VSOCK_VSOCK_PACKET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/queue.h"

/* The header's size on the wire (struct virtio_vsock_hdr, little-endian, packed). */
#define VSOCK_HDR_SIZE 44u

/* The most data bytes one packet carries (Firecracker's MAX_PKT_BUF_SIZE). */
#define VSOCK_MAX_PKT_BUF (64u * 1024u)

/* Operations, flags, socket type and the host's CID (include/uapi/linux/virtio_vsock.h). */
#define VSOCK_OP_REQUEST          1
#define VSOCK_OP_RESPONSE         2
#define VSOCK_OP_RST              3
#define VSOCK_OP_SHUTDOWN         4
#define VSOCK_OP_RW               5
#define VSOCK_OP_CREDIT_UPDATE    6
#define VSOCK_OP_CREDIT_REQUEST   7
#define VSOCK_FLAGS_SHUTDOWN_RCV  1u
#define VSOCK_FLAGS_SHUTDOWN_SEND 2u
#define VSOCK_TYPE_STREAM         1
#define VSOCK_HOST_CID            2u

/* struct virtio_vsock_hdr, decoded. */
struct vsock_hdr {
        uint64_t src_cid, dst_cid;
        uint32_t src_port, dst_port;
        uint32_t len;
        uint16_t type, op;
        uint32_t flags, buf_alloc, fwd_cnt;
};

/*
 * One packet over a chain: the header, and the data area (after the header's 44 bytes) as
 * iovecs into guest memory. A TX packet's iov holds exactly hdr.len bytes; an RX packet's
 * iov holds buf_size bytes, the room for data.
 */
struct vsock_pkt {
        struct vsock_hdr hdr;
        uint32_t buf_size; /* the chain's bytes after the header (RX: at most VSOCK_MAX_PKT_BUF) */
        unsigned int niov;
        struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* Decodes / encodes the 44 wire bytes. */
void vsock_hdr_decode(struct vsock_hdr *h, const uint8_t *b);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t *b);

/*
 * A TX chain (driver to device) as Firecracker's VsockPacketTx::parse checks it: only
 * readable buffers, at least a header, hdr.len at most VSOCK_MAX_PKT_BUF and within the
 * chain. Returns 0, or -EINVAL with *why naming the problem (a static string).
 */
int vsock_pkt_tx_parse(struct vsock_pkt *p, const struct virtq_chain *c, const char **why);

/*
 * An RX chain (device to driver) as VsockPacketRx::parse checks it: only writable buffers,
 * room for a header. The header is zeroed; the data area is capped at VSOCK_MAX_PKT_BUF.
 * Returns 0 or -EINVAL with *why.
 */
int vsock_pkt_rx_parse(struct vsock_pkt *p, const struct virtq_chain *c, const char **why);

/* Writes p's header into the first VSOCK_HDR_SIZE bytes of c (an RX chain p was parsed from). */
void vsock_pkt_commit_hdr(const struct vsock_pkt *p, const struct virtq_chain *c);

/* A short name for an op ("RW"), or "unknown", for log lines. */
const char *vsock_op_name(uint16_t op);

#endif
