/* PCI type-0 configuration space: the header, capability list and fixed 64-bit BARs. */
#include "devices/pci/pci_cfg.h"

#include <errno.h>
#include <string.h>

#include "core/util.h"

#define STATUS_CAP_LIST   0x00100000u
#define CAP_POINTER       0x34
#define MSIX_CTL_WRITABLE 0xc0000000u /* Enable and Function Mask */

void pci_cfg_init(struct pci_cfg *c, const struct pci_id *id)
{
        memset(c, 0, sizeof(*c));
        c->regs[0] = (uint32_t)id->device << 16 | id->vendor;
        c->wmask[1] = 0x0000ffff; /* Command; Status is read-only */
        c->regs[2] = (uint32_t)id->class_code << 24 | (uint32_t)id->subclass << 16 | id->revision;
        c->wmask[3] = 0x000000ff; /* Cache Line Size; header type 0 */
        c->regs[11] = (uint32_t)id->subsys << 16 | id->subsys_vendor;
        c->wmask[15] = 0x000000ff; /* Interrupt Line */
}

static void put_byte(struct pci_cfg *c, unsigned int off, uint8_t v)
{
        unsigned int shift = (off % 4) * 8;

        c->regs[off / 4] = (c->regs[off / 4] & ~(0xffu << shift)) | (uint32_t)v << shift;
}

int pci_cfg_add_cap(struct pci_cfg *c, uint8_t id, const uint8_t *body, size_t len)
{
        unsigned int off, link, i;

        if (c->last_cap) {
                off = (c->last_cap + c->last_cap_len + 3u) & ~3u;
                link = c->last_cap + 1u;
        } else {
                off = PCI_CFG_CAP_FIRST;
                link = CAP_POINTER;
        }
        if (len + 2 > PCI_CFG_CAP_END || off + len + 2 > PCI_CFG_CAP_END)
                return -ENOSPC;
        c->regs[1] |= STATUS_CAP_LIST;
        put_byte(c, link, (uint8_t)off);
        put_byte(c, off, id);
        put_byte(c, off + 1, 0);
        for (i = 0; i < len; i++)
                put_byte(c, off + 2 + i, body[i]);
        c->last_cap = (uint8_t)off;
        c->last_cap_len = (uint8_t)(len + 2);
        if (id == PCI_CAP_ID_MSIX)
                c->wmask[off / 4] = MSIX_CTL_WRITABLE;
        return (int)off;
}

void pci_cfg_set_bar64(struct pci_cfg *c, unsigned int idx, uint64_t addr, uint64_t size)
{
        uint64_t mask = ~(size - 1);

        c->bars[idx].addr = (uint32_t)(addr & 0xfffffff0u) | 0x4; /* 64-bit, not prefetchable */
        c->bars[idx].size = (uint32_t)mask;
        c->bars[idx + 1].addr = (uint32_t)(addr >> 32);
        c->bars[idx + 1].size = (uint32_t)(mask >> 32);
}

uint64_t pci_cfg_bar64(const struct pci_cfg *c, unsigned int idx)
{
        return (uint64_t)c->bars[idx + 1].addr << 32 | (c->bars[idx].addr & ~0xfu);
}

static struct pci_bar *bar_of(struct pci_cfg *c, unsigned int reg)
{
        if (reg < PCI_CFG_BAR0_REG || reg >= PCI_CFG_BAR0_REG + PCI_CFG_BARS)
                return NULL;
        return &c->bars[reg - PCI_CFG_BAR0_REG];
}

uint32_t pci_cfg_read(struct pci_cfg *c, unsigned int reg)
{
        struct pci_bar *b = bar_of(c, reg);

        if (b) {
                bool sizing = b->sizing;

                b->sizing = false;
                return sizing ? b->size : b->addr;
        }
        return reg < PCI_CFG_REGS ? c->regs[reg] : 0xffffffffu;
}

void pci_cfg_write(struct pci_cfg *c, unsigned int reg, unsigned int off, const uint8_t *data,
                   unsigned int len)
{
        struct pci_bar *b = bar_of(c, reg);
        uint32_t v, mask;

        if (reg >= PCI_CFG_REGS || off + len > 4 || (len != 1 && len != 2 && len != 4))
                return;
        if (b) {
                /* Only a whole all-ones dword asks for the size; addresses are brasa's. */
                b->sizing = len == 4 && ld_le32(data) == 0xffffffffu;
                return;
        }
        v = len == 1 ? data[0] : len == 2 ? (uint32_t)ld_le(data, 2) : ld_le32(data);
        mask = (len == 4 ? 0xffffffffu : ((1u << (len * 8)) - 1)) << (off * 8);
        mask &= c->wmask[reg];
        c->regs[reg] = (c->regs[reg] & ~mask) | ((v << (off * 8)) & mask);
}
