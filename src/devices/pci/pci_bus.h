/* The PCI root bus: the host bridge, 31 device slots, ECAM and 0xCF8/0xCFC config access. */
#ifndef BRASA_DEVICES_PCI_PCI_BUS_H
#define BRASA_DEVICES_PCI_PCI_BUS_H

#include <pthread.h>
#include <stdint.h>

#include "devices/bus.h"
#include "devices/pci/pci_cfg.h"

#define PCI_BUS_SLOTS      32 /* device numbers; 0 is the host bridge */
#define PCI_PORT_CONFIG    0xcf8
#define PCI_PORT_CONFIG_SZ 8

/* A function's configuration space as the bus reaches it (function 0 of its slot). */
struct pci_fn_ops {
        /* The dword at reg (0..1023). */
        uint32_t (*read)(void *opaque, unsigned int reg);
        /* len (1, 2, 4) bytes at byte off of reg, off + len <= 4. */
        void (*write)(void *opaque, unsigned int reg, unsigned int off, const uint8_t *data,
                      unsigned int len);
};

struct pci_bus {
        pthread_mutex_t lock; /* one config access at a time; guards everything below */
        struct pci_cfg host;  /* device 0: Intel's virtual PCIe host bridge ID, as Firecracker */
        struct {
                const struct pci_fn_ops *ops;
                void *opaque;
        } slot[PCI_BUS_SLOTS];
        uint32_t config_address; /* the 0xCF8 register */
};

/* The bus with its host bridge and no device. Returns 0 or -errno. */
int pci_bus_init(struct pci_bus *b);
void pci_bus_fini(struct pci_bus *b);

/* Puts a function in the first free slot (1..31). Returns the device number or -ENOSPC. */
int pci_bus_add(struct pci_bus *b, const struct pci_fn_ops *ops, void *opaque);

/*
 * ECAM window accesses (off from the segment's base; vCPU thread; any off and len): bus 0,
 * function 0 only; everything else, a missing slot or an access crossing a dword reads all
 * ones and ignores writes.
 */
void pci_bus_ecam_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void pci_bus_ecam_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

/* Port I/O at 0xCF8 + off (0..7): CONFIG_ADDRESS, then CONFIG_DATA (256-byte space). */
void pci_bus_io_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len);
void pci_bus_io_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len);

#endif
