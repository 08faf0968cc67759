/* The virtio-mmio transport, version 2 ("modern"), register window of one device. */
#ifndef BRASA_DEVICES_VIRTIO_MMIO_H
#define BRASA_DEVICES_VIRTIO_MMIO_H

#include <linux/virtio_mmio.h>
#include <stdint.h>

#include "devices/virtio/virtio.h"
#include "devices/bus.h"

/* Register offsets (VIRTIO_MMIO_STATUS, ...) come from the UAPI header; these are values. */
#define VIRTIO_MMIO_MAGIC_VAL   0x74726976u /* "virt" */
#define VIRTIO_MMIO_VERSION_VAL 2u
#define VIRTIO_MMIO_VENDOR_VAL  0u /* Firecracker's */

/* Transport registers that select what other registers show; the device state is in dev. */
struct virtio_mmio {
        struct virtio_dev *dev;
        uint32_t features_sel;
        uint32_t driver_features_sel;
        uint32_t queue_sel;
};

/* Binds a transport to dev with every select register at 0. */
void virtio_mmio_init(struct virtio_mmio *m, struct virtio_dev *dev);

/*
 * Register read at off (vCPU thread; any width, any offset: hostile). Control registers
 * (0x000-0x0ff) need 32-bit aligned accesses, anything else reads as 0 and is logged;
 * 0x100 onward is the device's config space.
 */
void virtio_mmio_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);

/*
 * Register write at off (vCPU thread). Status writes follow the virtio state machine
 * (0 resets); queue registers are accepted only between FEATURES_OK and DRIVER_OK, and a
 * queue change after DRIVER_OK or a notify of a queue that does not exist puts the
 * device in NEEDS_RESET.
 */
void virtio_mmio_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* The bus window of this transport at base (LAYOUT_VIRTIO_MMIO_SIZE bytes). */
struct bus_dev virtio_mmio_bus_dev(struct virtio_mmio *m, uint64_t base);

#endif
