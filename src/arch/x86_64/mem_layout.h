/* The x86_64 guest RAM split: [0, 3 GiB) below the 32-bit MMIO gap, the rest from 4 GiB. */
#ifndef BRASA_ARCH_X86_64_MEM_LAYOUT_H
#define BRASA_ARCH_X86_64_MEM_LAYOUT_H

#include <stdint.h>

#include "core/guest_mem.h"

/*
 * Splits mem_bytes of RAM into the x86_64 regions ([0, 3 GiB) then from 4 GiB).
 * Fills out[] (GUEST_MEM_MAX_REGIONS entries) with gpa/size only, sets *nr.
 * Returns 0, or -EINVAL when mem_bytes is 0, not page aligned or too large.
 */
int mem_layout(uint64_t mem_bytes, struct guest_region *out, unsigned int *nr);

/*
 * Lays out mem_bytes with mem_layout() and backs it: over buf when it is not NULL (unit
 * tests, fuzzers; buf holds mem_bytes), else with guest_mem_create()'s fresh mapping.
 * Returns 0 or -errno; on failure *m is left empty.
 */
int mem_layout_map(struct guest_mem *m, uint8_t *buf, uint64_t mem_bytes);

/* As mem_layout_map() with a fresh mapping backed as pages says (guest_mem_create_paged()). */
int mem_layout_map_paged(struct guest_mem *m, uint64_t mem_bytes, enum guest_mem_pages pages);

/* Lays out mem_bytes and backs it with guest_mem_create_file() over fd. Returns 0 or -errno. */
int mem_layout_map_file(struct guest_mem *m, int fd, uint64_t mem_bytes);

#endif
