/* The region list a Uffd snapshot load sends its page-fault handler, as Firecracker's JSON. */
#ifndef BRASA_CORE_UFFD_REGIONS_H
#define BRASA_CORE_UFFD_REGIONS_H

#include <stddef.h>
#include <stdint.h>

/* One guest memory region: where it is mapped in brasa and where its bytes are in the file. */
struct uffd_region {
        uint64_t base_host_virt_addr; /* first byte of the region in brasa's address space */
        uint64_t size;                /* bytes */
        uint64_t offset;              /* of its bytes in the snapshot's memory file */
        uint64_t page_size;           /* bytes per page: 4096, or 2 MiB with huge pages */
};

/*
 * Writes regions[0..nr) as Firecracker's serde_json of Vec<GuestRegionUffdMapping>: one
 * compact array of objects whose keys are base_host_virt_addr, size, offset, page_size and
 * page_size_kib (deprecated, and in bytes despite its name), in that order, NUL-terminated.
 * Pure. Returns the text's length, or -ENOSPC when it does not fit in cap bytes (the
 * NUL included); cap must be > 0.
 */
int uffd_regions_json(const struct uffd_region *regions, unsigned int nr, char *buf, size_t cap);

#endif
