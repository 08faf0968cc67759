/* An MSI-X function: the vector table, the pending-bit array and Message Control. */
#ifndef BRASA_DEVICES_PCI_MSIX_H
#define BRASA_DEVICES_PCI_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#define MSIX_MAX_VECTORS 64 /* one PBA qword */
#define MSIX_ENTRY_SIZE  16
#define MSIX_CTL_ENABLE  0x8000u
#define MSIX_CTL_MASKALL 0x4000u
#define MSIX_VEC_MASKED  0x1u

struct msix_entry {
        uint32_t addr_lo, addr_hi, data, ctl;
};

/*
 * What the function's owner does for it: route() tells that vector v now delivers entry's
 * message (on) or nothing (off); inject() raises vector v now.
 */
struct msix_ops {
        void (*route)(void *ctx, unsigned int v, const struct msix_entry *e, bool on);
        void (*inject)(void *ctx, unsigned int v);
};

/* The state; the caller serialises every call on one msix. */
struct msix {
        unsigned int nr;
        struct msix_entry table[MSIX_MAX_VECTORS];
        uint64_t pba;
        bool enabled, masked;
        const struct msix_ops *ops;
        void *ctx;
};

/* nr vectors (1..64), all masked, the function disabled and masked. */
void msix_init(struct msix *m, unsigned int nr, const struct msix_ops *ops, void *ctx);

/* The capability's body after ID/Next: Message Control, Table and PBA offset/BIR. */
void msix_cap_body(const struct msix *m, uint8_t bir, uint32_t table_off, uint32_t pba_off,
                   uint8_t out[10]);

/* A config write to the capability's first dword (off 0..3): takes Enable and Function Mask. */
void msix_write_ctl(struct msix *m, unsigned int off, const uint8_t *data, unsigned int len);

/* Table access at off into the table window: 4 or 8 bytes, entry-aligned fields; else all ones. */
void msix_table_read(const struct msix *m, uint64_t off, uint8_t *data, unsigned int len);
void msix_table_write(struct msix *m, uint64_t off, const uint8_t *data, unsigned int len);

/* PBA reads (past the vectors: all ones); writes are ignored, the PBA is read-only. */
void msix_pba_read(const struct msix *m, uint64_t off, uint8_t *data, unsigned int len);

/*
 * The device wants vector v: injected when delivered, made pending when masked, dropped
 * while MSI-X is off or v does not exist. Returns true when injected.
 */
bool msix_fire(struct msix *m, unsigned int v);

#endif
