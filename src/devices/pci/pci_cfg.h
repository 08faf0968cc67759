/* A PCI type-0 configuration space: registers, writable bits, the capability list, BARs. */
#ifndef BRASA_DEVICES_PCI_PCI_CFG_H
#define BRASA_DEVICES_PCI_PCI_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCI_CFG_REGS      1024 /* 4 KiB of extended configuration space, in dwords */
#define PCI_CFG_BARS      6
#define PCI_CFG_BAR0_REG  4
#define PCI_CFG_CAP_FIRST 0x40
#define PCI_CFG_CAP_END   0xc0 /* capabilities stay below: Firecracker's limit */

#define PCI_CAP_ID_MSIX   0x11
#define PCI_CAP_ID_VENDOR 0x09

/* Class codes brasa's functions use. */
#define PCI_CLASS_STORAGE     0x01
#define PCI_CLASS_NETWORK     0x02
#define PCI_CLASS_BRIDGE      0x06
#define PCI_CLASS_UNASSIGNED  0xff
#define PCI_SUBCLASS_HOST     0x00
#define PCI_SUBCLASS_ETHERNET 0x00
#define PCI_SUBCLASS_STORAGE  0x80
#define PCI_SUBCLASS_OTHER    0xff

/* One BAR register: what it reads, and what it reads right after an all-ones write (sizing). */
struct pci_bar {
        uint32_t addr, size;
        bool sizing;
};

struct pci_cfg {
        uint32_t regs[PCI_CFG_REGS];
        uint32_t wmask[PCI_CFG_REGS];   /* the bits a driver may change */
        uint8_t last_cap, last_cap_len; /* 0: no capability yet */
        struct pci_bar bars[PCI_CFG_BARS];
};

/* The identity of a function, as the header's read-only fields show it. */
struct pci_id {
        uint16_t vendor, device;
        uint8_t revision, class_code, subclass;
        uint16_t subsys_vendor, subsys;
};

/*
 * A type-0 header: IDs, class, writable Command, Cache Line Size and Interrupt Line;
 * everything else reads as written here (zero) and ignores writes.
 */
void pci_cfg_init(struct pci_cfg *c, const struct pci_id *id);

/*
 * Appends a capability with this id and body (the bytes after ID and Next) at the next
 * dword-aligned offset, links it and sets Status.CapList. An MSI-X capability's Message
 * Control gets its two writable bits. Returns its offset, or -ENOSPC past 0xc0.
 */
int pci_cfg_add_cap(struct pci_cfg *c, uint8_t id, const uint8_t *body, size_t len);

/* Places a 64-bit memory BAR at idx, idx+1 (size a power of two, addr aligned to it). */
void pci_cfg_set_bar64(struct pci_cfg *c, unsigned int idx, uint64_t addr, uint64_t size);

/* The address of the 64-bit BAR at idx. */
uint64_t pci_cfg_bar64(const struct pci_cfg *c, unsigned int idx);

/*
 * The dword at reg (any value: past the space reads all ones). A BAR reads its size mask
 * once after an all-ones write, its fixed address otherwise: BARs do not move.
 */
uint32_t pci_cfg_read(struct pci_cfg *c, unsigned int reg);

/*
 * A driver's write of len (1, 2 or 4) bytes at byte off (0..3) of reg; only writable bits
 * change; other widths, a write crossing the dword, or reg past the space are ignored.
 */
void pci_cfg_write(struct pci_cfg *c, unsigned int reg, unsigned int off, const uint8_t *data,
                   unsigned int len);

#endif
