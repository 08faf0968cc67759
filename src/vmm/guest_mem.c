/* Guest RAM mapping and the single checked guest-physical accessor. */
#include "vmm/guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86_64/layout.h"

int guest_mem_layout(uint64_t mem_bytes, struct guest_region *out, unsigned int *nr)
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

static int guest_mem_setup(struct guest_mem *m, uint8_t *buf, uint64_t mem_bytes)
{
        uint64_t off = 0;
        unsigned int i;
        int rc;

        rc = guest_mem_layout(mem_bytes, m->regions, &m->nr_regions);
        if (rc)
                return rc;
        for (i = 0; i < m->nr_regions; i++) {
                m->regions[i].hva = buf + off;
                off += m->regions[i].size;
        }
        m->total_bytes = mem_bytes;
        m->map = buf;
        return 0;
}

int guest_mem_create(struct guest_mem *m, uint64_t mem_bytes)
{
        void *p;
        int rc;

        memset(m, 0, sizeof(*m));
        if (mem_bytes == 0 || mem_bytes > LAYOUT_MAX_MEM_BYTES)
                return -EINVAL;
        p = mmap(NULL, mem_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
                return -errno;
        rc = guest_mem_setup(m, p, mem_bytes);
        if (rc) {
                munmap(p, mem_bytes);
                memset(m, 0, sizeof(*m));
                return rc;
        }
        m->map_bytes = mem_bytes;
        return 0;
}

int guest_mem_attach(struct guest_mem *m, uint8_t *buf, uint64_t mem_bytes)
{
        memset(m, 0, sizeof(*m));
        return guest_mem_setup(m, buf, mem_bytes);
}

void guest_mem_destroy(struct guest_mem *m)
{
        if (m->map_bytes)
                munmap(m->map, m->map_bytes);
        memset(m, 0, sizeof(*m));
}

void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
        uint64_t end;
        unsigned int i;

        if (len == 0)
                len = 1;
        if (__builtin_add_overflow(gpa, len, &end))
                return NULL;
        for (i = 0; i < m->nr_regions; i++) {
                const struct guest_region *r = &m->regions[i];

                if (gpa >= r->gpa && end <= r->gpa + r->size)
                        return r->hva + (gpa - r->gpa);
        }
        return NULL;
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *src, uint64_t len)
{
        void *p = guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        if (len)
                memcpy(p, src, len);
        return 0;
}

int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
        const void *p = guest_mem_ptr(m, gpa, len);

        if (!p)
                return -EFAULT;
        if (len)
                memcpy(dst, p, len);
        return 0;
}

uint64_t guest_mem_region_end(const struct guest_mem *m, uint64_t gpa)
{
        unsigned int i;

        for (i = 0; i < m->nr_regions; i++)
                if (gpa >= m->regions[i].gpa && gpa < m->regions[i].gpa + m->regions[i].size)
                        return m->regions[i].gpa + m->regions[i].size;
        return 0;
}
