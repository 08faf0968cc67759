/* Guest RAM: the mapping, its regions, and the one checked guest-physical accessor. */
#ifndef BRASA_VMM_GUEST_MEM_H
#define BRASA_VMM_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 2

struct guest_region {
        uint64_t gpa;  /* first guest-physical address */
        uint64_t size; /* bytes */
        uint8_t *hva;  /* host mapping of gpa */
};

struct guest_mem {
        struct guest_region regions[GUEST_MEM_MAX_REGIONS];
        unsigned int nr_regions;
        uint64_t total_bytes;
        uint8_t *map;     /* one host mapping that backs every region */
        size_t map_bytes; /* 0 when the caller owns the backing (tests) */
};

/*
 * Splits mem_bytes of RAM into the x86_64 regions ([0, 3 GiB) then from 4 GiB).
 * Fills out[] (GUEST_MEM_MAX_REGIONS entries) with gpa/size only, sets *nr.
 * Returns 0, or -EINVAL when mem_bytes is 0, not page aligned or too large.
 */
int guest_mem_layout(uint64_t mem_bytes, struct guest_region *out, unsigned int *nr);

/*
 * Maps mem_bytes of anonymous, private, non-reserved memory and lays it out.
 * Returns 0 or -errno; on failure *m is left empty.
 */
int guest_mem_create(struct guest_mem *m, uint64_t mem_bytes);

/*
 * Lays out mem_bytes over a caller-owned buffer (unit tests, fuzzers).
 * buf must hold mem_bytes. Returns 0 or -EINVAL.
 */
int guest_mem_attach(struct guest_mem *m, uint8_t *buf, uint64_t mem_bytes);

/* Unmaps memory from guest_mem_create(); a no-op for attached buffers. */
void guest_mem_destroy(struct guest_mem *m);

/*
 * The checked accessor: returns the host address of [gpa, gpa + len) when that
 * whole range lies inside one RAM region (overflow-safe), else NULL.
 * len 0 is treated as 1.
 */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/* Copies len bytes into guest memory at gpa. Returns 0 or -EFAULT. */
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);

/* Copies len bytes from guest memory at gpa. Returns 0 or -EFAULT. */
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);

/* Returns the end (exclusive) of the RAM region that contains gpa, or 0 if none. */
uint64_t guest_mem_region_end(const struct guest_mem *m, uint64_t gpa);

#endif
