/* virtio-blk requests: a validated descriptor chain turned into header, data iovecs and status. */
#ifndef BRASA_DEVICES_VIRTIO_BLOCK_REQUEST_H
#define BRASA_DEVICES_VIRTIO_BLOCK_REQUEST_H

#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtio/queue.h"

#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR_SIZE  (1u << BLK_SECTOR_SHIFT)
#define BLK_ID_BYTES     VIRTIO_BLK_ID_BYTES /* 20 */
#define BLK_STATUS_NONE  0xffu               /* not decided yet: execute the request */

struct blk_request {
        uint32_t type; /* VIRTIO_BLK_T_* */
        uint64_t sector;
        uint16_t head;
        uint8_t *status;   /* the guest's status byte */
        uint8_t result;    /* VIRTIO_BLK_S_*, or BLK_STATUS_NONE when it must be executed */
        uint32_t data_len; /* bytes in iov */
        unsigned int niov;
        struct iovec iov[VIRTQ_MAX_CHAIN];
};

/* What a request may touch. */
struct blk_limits {
        uint64_t nsectors; /* the disk's size */
        uint64_t max_data; /* the most data bytes one request may move (guest RAM) */
        bool read_only;
};

/*
 * Frames the chain as a virtio-blk request: a 16-byte header in the readable bytes, the
 * status byte as the last writable byte, data in between (readable for OUT, writable for
 * IN and GET_ID). Requests the driver may legitimately get wrong are judged here and get
 * result IOERR (data length not a multiple of 512, sectors past the end, a write to a
 * read-only drive, data in the wrong direction, more data than lim->max_data, GET_ID buffer
 * under 20 bytes) or UNSUPP
 * (unknown type); result is BLK_STATUS_NONE for a request to execute.
 * Returns 0, or -EPROTO with *why set when the chain has no header or no status byte:
 * nothing can be reported to such a driver, so the device needs a reset.
 */
int blk_request_parse(const struct virtq_chain *c, const struct blk_limits *lim,
                      struct blk_request *r, const char **why);

/* Byte offset of the request on the disk. */
uint64_t blk_request_offset(const struct blk_request *r);

/*
 * Writes code into the guest's status byte and returns the used length to report: bytes
 * written into guest buffers (to_guest, for IN/GET_ID) plus the status byte.
 */
uint32_t blk_request_finish(uint8_t *status, uint8_t code, uint32_t to_guest);

/* Copies up to len bytes from src into the request's iovecs (GET_ID). Returns bytes copied. */
uint32_t blk_request_fill(struct blk_request *r, const uint8_t *src, uint32_t len);

#endif
