/* The x86_64 guest RAM split around the 32-bit MMIO gap, handed to core/guest_mem. */
#include "arch/x86_64/mem_layout.h"

#include <errno.h>
#include <string.h>

#include "arch/x86_64/layout.h"

int mem_layout(uint64_t mem_bytes, struct guest_region *out, unsigned int *nr)
{
        uint64_t low;

        if (mem_bytes == 0 || (mem_bytes & 0xfff) || mem_bytes > LAYOUT_MAX_MEM_BYTES)
                return -EINVAL;
        low = mem_bytes < LAYOUT_MMIO32_START ? mem_bytes : LAYOUT_MMIO32_START;
        out[0] = (struct guest_region){.gpa = 0, .size = low};
        *nr = 1;
        if (mem_bytes > low) {
                out[1] =
                    (struct guest_region){.gpa = LAYOUT_RAM_HIGH_START, .size = mem_bytes - low};
                *nr = 2;
        }
        return 0;
}

int mem_layout_map_file(struct guest_mem *m, int fd, uint64_t mem_bytes)
{
        struct guest_region layout[GUEST_MEM_MAX_REGIONS];
        unsigned int nr;
        int rc;

        memset(m, 0, sizeof(*m));
        rc = mem_layout(mem_bytes, layout, &nr);
        return rc ? rc : guest_mem_create_file(m, layout, nr, fd);
}

int mem_layout_map(struct guest_mem *m, uint8_t *buf, uint64_t mem_bytes)
{
        struct guest_region layout[GUEST_MEM_MAX_REGIONS];
        unsigned int nr;
        int rc;

        memset(m, 0, sizeof(*m));
        rc = mem_layout(mem_bytes, layout, &nr);
        if (rc)
                return rc;
        return buf ? guest_mem_attach(m, buf, layout, nr) : guest_mem_create(m, layout, nr);
}

int mem_layout_map_paged(struct guest_mem *m, uint64_t mem_bytes, enum guest_mem_pages pages)
{
        struct guest_region layout[GUEST_MEM_MAX_REGIONS];
        unsigned int nr;
        int rc;

        memset(m, 0, sizeof(*m));
        rc = mem_layout(mem_bytes, layout, &nr);
        if (rc)
                return rc;
        return guest_mem_create_paged(m, layout, nr, pages);
}
