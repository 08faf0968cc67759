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

/* How guest RAM is backed: a caller's buffer, a file (a snapshot's memory), or fresh pages. */
struct backing {
        uint8_t *buf; /* NULL: not a caller's buffer */
        int fd;       /* -1: not a file */
        enum guest_mem_pages pages;
};

static int map_with(struct guest_mem *m, uint64_t mem_bytes, const struct backing *b)
{
        struct guest_region layout[GUEST_MEM_MAX_REGIONS];
        unsigned int nr;
        int rc;

        memset(m, 0, sizeof(*m));
        rc = mem_layout(mem_bytes, layout, &nr);
        if (rc)
                return rc;
        if (b->buf)
                return guest_mem_attach(m, b->buf, layout, nr);
        if (b->fd >= 0)
                return guest_mem_create_file(m, layout, nr, b->fd);
        return guest_mem_create_paged(m, layout, nr, b->pages);
}

int mem_layout_map_file(struct guest_mem *m, int fd, uint64_t mem_bytes)
{
        return map_with(m, mem_bytes, &(struct backing){.fd = fd});
}

int mem_layout_map(struct guest_mem *m, uint8_t *buf, uint64_t mem_bytes)
{
        return map_with(m, mem_bytes, &(struct backing){.buf = buf, .fd = -1});
}

int mem_layout_map_paged(struct guest_mem *m, uint64_t mem_bytes, enum guest_mem_pages pages)
{
        return map_with(m, mem_bytes, &(struct backing){.fd = -1, .pages = pages});
}
