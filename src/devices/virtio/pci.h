/* The virtio-pci transport (virtio 1.x, modern only): one BAR with every structure, MSI-X. */
#ifndef BRASA_DEVICES_VIRTIO_PCI_H
#define BRASA_DEVICES_VIRTIO_PCI_H

#include <pthread.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci_bus.h"
#include "devices/pci/pci_cfg.h"
#include "devices/virtio/virtio.h"

/* BAR 0's layout, as Firecracker's: offsets of each structure in the 512 KiB BAR. */
#define VIRTIO_PCI_BAR_SIZE    0x80000ULL
#define VIRTIO_PCI_COMMON_OFF  0x0000u
#define VIRTIO_PCI_COMMON_SIZE 56u
#define VIRTIO_PCI_ISR_OFF     0x2000u
#define VIRTIO_PCI_ISR_SIZE    1u
#define VIRTIO_PCI_DEVCFG_OFF  0x4000u
#define VIRTIO_PCI_DEVCFG_SIZE 0x1000u
#define VIRTIO_PCI_NOTIFY_OFF  0x6000u
#define VIRTIO_PCI_NOTIFY_SIZE 0x1000u
#define VIRTIO_PCI_NOTIFY_MULT 4u
#define VIRTIO_PCI_TABLE_OFF   0x8000u
#define VIRTIO_PCI_TABLE_SIZE  0x40000u
#define VIRTIO_PCI_PBA_OFF     0x48000u
#define VIRTIO_PCI_PBA_SIZE    0x800u

#define VIRTIO_PCI_VENDOR    0x1af4
#define VIRTIO_PCI_DEVICE_ID 0x1040 /* + the virtio device type */
#define VIRTIO_PCI_NO_VECTOR 0xffff

/* The VIRTIO_PCI_CAP_PCI_CFG window: its body from cap_len on (cap_len .. pci_cfg_data). */
#define VIRTIO_PCI_CFGCAP_BODY 18

struct virtio_pci {
        struct virtio_dev *dev;
        struct pci_cfg cfg; /* under dev's lock, as everything here but msix */
        uint16_t msix_cap;  /* offset of the MSI-X capability */
        uint16_t cfgcap;    /* offset of the pci_cfg capability's body */
        uint8_t cfgcap_body[VIRTIO_PCI_CFGCAP_BODY];
        uint32_t dfselect, gfselect;
        uint16_t queue_sel;
        uint16_t msix_config;
        uint16_t msix_queues[VIRTIO_MAX_QUEUES];
        pthread_mutex_t msix_lock; /* the device raises vectors from any thread */
        struct msix msix;
};

/*
 * Binds a transport to dev with its BAR at bar (VIRTIO_PCI_BAR_SIZE-aligned): the header
 * (vendor 0x1af4, device 0x1040 + type, revision 1), the five virtio capabilities and
 * MSI-X with one vector per queue plus one for configuration, whose deliveries go through
 * ops with ctx. Sets dev->raise. Returns 0 or -errno.
 */
int virtio_pci_init(struct virtio_pci *p, struct virtio_dev *dev, uint64_t bar,
                    const struct msix_ops *ops, void *ctx);
void virtio_pci_fini(struct virtio_pci *p);

/* The function's configuration space, for pci_bus_add(). */
extern const struct pci_fn_ops virtio_pci_fn_ops;

/* BAR 0 accesses (vCPU thread; any offset and width: hostile). */
void virtio_pci_bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void virtio_pci_bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* The bus window of BAR 0. */
struct bus_dev virtio_pci_bus_dev(struct virtio_pci *p);

/* Where the driver notifies queue q (the ioeventfd's address). */
uint64_t virtio_pci_notify_addr(const struct virtio_pci *p, unsigned int q);

#endif
