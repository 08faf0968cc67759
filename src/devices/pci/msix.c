/* MSI-X: vector table and PBA semantics of PCI 3.0 §6.8.2, as Firecracker applies them. */
#include "devices/pci/msix.h"

#include <string.h>

#include "core/log.h"
#include "core/util.h"

void msix_init(struct msix *m, unsigned int nr, const struct msix_ops *ops, void *ctx)
{
        unsigned int i;

        memset(m, 0, sizeof(*m));
        m->nr = nr > MSIX_MAX_VECTORS ? MSIX_MAX_VECTORS : nr;
        for (i = 0; i < MSIX_MAX_VECTORS; i++)
                m->table[i].ctl = MSIX_VEC_MASKED;
        m->masked = true;
        m->ops = ops;
        m->ctx = ctx;
}

void msix_cap_body(const struct msix *m, uint8_t bir, uint32_t table_off, uint32_t pba_off,
                   uint8_t out[10])
{
        st_le(out, (m->nr - 1) & 0x7ff, 2);
        st_le32(out + 2, table_off | bir);
        st_le32(out + 6, pba_off | bir);
}

static bool delivers(const struct msix *m, unsigned int v)
{
        return m->enabled && !m->masked && !(m->table[v].ctl & MSIX_VEC_MASKED);
}

/* A vector that became deliverable sends what it held pending. */
static void flush_pending(struct msix *m, unsigned int v)
{
        if (delivers(m, v) && (m->pba >> v & 1)) {
                m->pba &= ~(1ULL << v);
                m->ops->inject(m->ctx, v);
        }
}

static void set_ctl(struct msix *m, uint16_t ctl)
{
        bool was_on = m->enabled && !m->masked;
        unsigned int v;

        m->enabled = ctl & MSIX_CTL_ENABLE;
        m->masked = ctl & MSIX_CTL_MASKALL;
        if (was_on != (m->enabled && !m->masked))
                for (v = 0; v < m->nr; v++)
                        m->ops->route(m->ctx, v, &m->table[v], delivers(m, v));
        for (v = 0; v < m->nr; v++)
                flush_pending(m, v);
}

void msix_write_ctl(struct msix *m, unsigned int off, const uint8_t *data, unsigned int len)
{
        if (off == 2 && len == 2)
                set_ctl(m, (uint16_t)ld_le(data, 2));
        else if (off == 0 && len == 4)
                set_ctl(m, (uint16_t)(ld_le32(data) >> 16));
        else if (off + len > 2 && off < 4)
                log_guest_warn("msi-x: %u-byte write at %u of Message Control ignored", len, off);
}

static uint32_t *field(struct msix_entry *e, unsigned int i)
{
        uint32_t *f[] = {&e->addr_lo, &e->addr_hi, &e->data, &e->ctl};

        return f[i & 3];
}

void msix_table_read(const struct msix *m, uint64_t off, uint8_t *data, unsigned int len)
{
        uint64_t v = off / MSIX_ENTRY_SIZE, in = off % MSIX_ENTRY_SIZE;
        struct msix_entry e;

        memset(data, 0xff, len);
        if (v >= m->nr || (len != 4 && len != 8) || in % len) {
                log_guest_warn("msi-x: %u-byte table read at 0x%llx ignored", len,
                               (unsigned long long)off);
                return;
        }
        e = m->table[v];
        st_le32(data, *field(&e, (unsigned int)in / 4));
        if (len == 8)
                st_le32(data + 4, *field(&e, (unsigned int)in / 4 + 1));
}

void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, unsigned int len)
{
        uint64_t v = off / MSIX_ENTRY_SIZE, in = off % MSIX_ENTRY_SIZE;
        struct msix_entry old, *e;

        if (v >= m->nr || (len != 4 && len != 8) || in % len) {
                log_guest_warn("msi-x: %u-byte table write at 0x%llx ignored", len,
                               (unsigned long long)off);
                return;
        }
        e = &m->table[v];
        old = *e;
        *field(e, (unsigned int)in / 4) = ld_le32(data);
        if (len == 8)
                *field(e, (unsigned int)in / 4 + 1) = ld_le32(data + 4);
        if (memcmp(&old, e, sizeof(old)) == 0)
                return;
        if (delivers(m, (unsigned int)v) ||
            (old.ctl & MSIX_VEC_MASKED) != (e->ctl & MSIX_VEC_MASKED))
                m->ops->route(m->ctx, (unsigned int)v, e, delivers(m, (unsigned int)v));
        flush_pending(m, (unsigned int)v);
}

void msix_pba_read(const struct msix *m, uint64_t off, uint8_t *data, unsigned int len)
{
        uint64_t pba = m->pba;
        unsigned int i;

        for (i = 0; i < len; i++)
                data[i] = off + i < 8 ? (uint8_t)(pba >> ((off + i) * 8)) : 0xff;
}

bool msix_fire(struct msix *m, unsigned int v)
{
        if (v >= m->nr || !m->enabled)
                return false;
        if (m->masked || (m->table[v].ctl & MSIX_VEC_MASKED)) {
                m->pba |= 1ULL << v;
                return false;
        }
        m->ops->inject(m->ctx, v);
        return true;
}
