/* Guest RAM: the mapping, its regions, and the one checked guest-physical accessor. */
#ifndef BRASA_CORE_GUEST_MEM_H
#define BRASA_CORE_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 2

struct guest_region {
        uint64_t gpa;  /* first guest-physical address */
        uint64_t size; /* bytes */
        uint8_t *hva;  /* host mapping of gpa */
};

/* What backs guest RAM (machine-config huge_pages). */
enum guest_mem_pages {
        GUEST_MEM_PAGES_4K,      /* anonymous, private, not reserved */
        GUEST_MEM_PAGES_THP,     /* as 4K, 2 MiB aligned, madvise(MADV_HUGEPAGE) */
        GUEST_MEM_PAGES_HUGETLB, /* 2 MiB hugetlbfs pages (MAP_HUGETLB), reserved at mmap */
};

struct guest_mem {
        struct guest_region regions[GUEST_MEM_MAX_REGIONS];
        unsigned int nr_regions;
        uint64_t total_bytes;
        uint8_t *map;     /* one host mapping that backs every region */
        size_t map_bytes; /* 0 when the caller owns the backing (tests) */
        /* the host-side dirty log (guest_mem_track_dirty()): a bit per page of map, set
         * atomically; NULL while not tracking */
        uint64_t *dirty;
};

/*
 * Maps the total size of layout[0..nr) (gpa/size only; hva is ignored) as one anonymous,
 * private, non-reserved mapping and places the regions in it, in order. The caller computes
 * the layout (arch/x86_64/mem_layout.h). Returns 0, -EINVAL (no regions, more than
 * GUEST_MEM_MAX_REGIONS, or an empty one) or -errno; on failure *m is left empty.
 */
int guest_mem_create(struct guest_mem *m, const struct guest_region *layout, unsigned int nr);

/*
 * As guest_mem_create(), backed as pages says. THP: the mapping starts on a 2 MiB boundary,
 * so that every 2 MiB of guest-physical memory can be one huge page, and is advised
 * MADV_HUGEPAGE (the host's "madvise" THP mode then uses huge pages for it). HUGETLB: the
 * pages are taken from the host's 2 MiB pool at mmap time, so a pool too small fails here
 * with -ENOMEM, never later with SIGBUS; every region size must be a multiple of 2 MiB
 * (-EINVAL otherwise). Returns 0 or -errno; on failure *m is left empty.
 */
int guest_mem_create_paged(struct guest_mem *m, const struct guest_region *layout, unsigned int nr,
                           enum guest_mem_pages pages);

/*
 * As guest_mem_create(), but a private copy-on-write mapping of fd (a snapshot's memory
 * file, the regions' bytes back to back from offset 0): pages are read from the file when the
 * guest first touches them, and the guest's writes never reach the file. The caller checks
 * that the file is long enough (a page past its end would fault). Returns 0 or -errno.
 */
int guest_mem_create_file(struct guest_mem *m, const struct guest_region *layout, unsigned int nr,
                          int fd);

/*
 * As guest_mem_create() over a caller-owned buffer (unit tests, fuzzers), which must hold
 * the regions' total size. Returns 0 or -EINVAL.
 */
int guest_mem_attach(struct guest_mem *m, uint8_t *buf, const struct guest_region *layout,
                     unsigned int nr);

/* Unmaps memory from guest_mem_create(); a no-op for attached buffers. */
void guest_mem_destroy(struct guest_mem *m);

/*
 * The checked accessor: returns the host address of [gpa, gpa + len) when that
 * whole range lies inside one RAM region (overflow-safe), else NULL.
 * len 0 is treated as 1.
 */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);

/*
 * Starts the host-side dirty log: from now on every range guest_mem_ptr() hands out (what
 * brasa itself may write into guest memory: device buffers, rings, VMGenID) marks its pages,
 * which KVM's dirty log cannot see. Reads mark too: a superset is safe for a Diff snapshot.
 * Returns 0 or -ENOMEM. guest_mem_destroy() frees it.
 */
int guest_mem_track_dirty(struct guest_mem *m);

/* Marks the pages of [hva, hva + len) (inside map) in the host-side log; no-op when off. */
void guest_mem_mark_dirty(const struct guest_mem *m, const void *hva, uint64_t len);

/*
 * Moves the host-side log into vec (one byte per page of map, bit 0 set for a marked page;
 * NULL: the log is only cleared) and clears it. No-op when off.
 */
void guest_mem_take_dirty(const struct guest_mem *m, unsigned char *vec);

/* Copies len bytes into guest memory at gpa. Returns 0 or -EFAULT. */
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len);

/* Copies len bytes from guest memory at gpa. Returns 0 or -EFAULT. */
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);

/* Returns the end (exclusive) of the RAM region that contains gpa, or 0 if none. */
uint64_t guest_mem_region_end(const struct guest_mem *m, uint64_t gpa);

#endif
