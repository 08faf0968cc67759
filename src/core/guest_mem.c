/* Guest RAM mapping and the single checked guest-physical accessor. */
#include "core/guest_mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <linux/mman.h>

/* Sums the region sizes; 0 for a table guest_mem cannot hold. */
static uint64_t layout_bytes(const struct guest_region *layout, unsigned int nr)
{
        uint64_t total = 0;
        unsigned int i;

        if (nr == 0 || nr > GUEST_MEM_MAX_REGIONS)
                return 0;
        for (i = 0; i < nr; i++) {
                if (layout[i].size == 0 || __builtin_add_overflow(total, layout[i].size, &total))
                        return 0;
        }
        return total;
}

int guest_mem_attach(struct guest_mem *m, uint8_t *buf, const struct guest_region *layout,
                     unsigned int nr)
{
        uint64_t total = layout_bytes(layout, nr), off = 0;
        unsigned int i;

        memset(m, 0, sizeof(*m));
        if (total == 0)
                return -EINVAL;
        for (i = 0; i < nr; i++) {
                m->regions[i] = (struct guest_region){
                    .gpa = layout[i].gpa, .size = layout[i].size, .hva = buf + off};
                off += layout[i].size;
        }
        m->nr_regions = nr;
        m->total_bytes = total;
        m->map = buf;
        return 0;
}

#define GUEST_MEM_HUGE_BYTES (2ull << 20)

/* An anonymous private mapping of total bytes, 2 MiB aligned: over-map, trim both ends. */
static void *map_aligned(uint64_t total)
{
        uint64_t span = total + GUEST_MEM_HUGE_BYTES, head;
        uint8_t *p;

        p = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
        if (p == MAP_FAILED)
                return MAP_FAILED;
        head = (GUEST_MEM_HUGE_BYTES - ((uintptr_t)p & (GUEST_MEM_HUGE_BYTES - 1))) &
               (GUEST_MEM_HUGE_BYTES - 1);
        if (head)
                munmap(p, head);
        if (span - head > total)
                munmap(p + head + total, span - head - total);
        return p + head;
}

static void *map_pages(uint64_t total, enum guest_mem_pages pages)
{
        void *p;

        switch (pages) {
        case GUEST_MEM_PAGES_HUGETLB:
                /* No MAP_NORESERVE: the pool is charged now, or mmap fails with ENOMEM. */
                return mmap(NULL, total, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
        case GUEST_MEM_PAGES_THP:
                p = map_aligned(total);
                if (p != MAP_FAILED && madvise(p, total, MADV_HUGEPAGE) < 0) {
                        int err = errno;

                        munmap(p, total);
                        errno = err;
                        return MAP_FAILED;
                }
                return p;
        default:
                return mmap(NULL, total, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        }
}

int guest_mem_create_paged(struct guest_mem *m, const struct guest_region *layout, unsigned int nr,
                           enum guest_mem_pages pages)
{
        uint64_t total = layout_bytes(layout, nr);
        unsigned int i;
        void *p;

        memset(m, 0, sizeof(*m));
        if (total == 0)
                return -EINVAL;
        for (i = 0; pages == GUEST_MEM_PAGES_HUGETLB && i < nr; i++)
                if (layout[i].size & (GUEST_MEM_HUGE_BYTES - 1))
                        return -EINVAL;
        p = map_pages(total, pages);
        if (p == MAP_FAILED)
                return -errno;
        guest_mem_attach(m, p, layout, nr);
        m->map_bytes = total;
        return 0;
}

int guest_mem_create(struct guest_mem *m, const struct guest_region *layout, unsigned int nr)
{
        return guest_mem_create_paged(m, layout, nr, GUEST_MEM_PAGES_4K);
}

int guest_mem_create_file(struct guest_mem *m, const struct guest_region *layout, unsigned int nr,
                          int fd)
{
        uint64_t total = layout_bytes(layout, nr);
        void *p;

        memset(m, 0, sizeof(*m));
        if (total == 0)
                return -EINVAL;
        p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
        if (p == MAP_FAILED)
                return -errno;
        guest_mem_attach(m, p, layout, nr);
        m->map_bytes = total;
        return 0;
}

#define GUEST_MEM_PAGE 4096u

int guest_mem_track_dirty(struct guest_mem *m)
{
        uint64_t pages = (m->total_bytes + GUEST_MEM_PAGE - 1) / GUEST_MEM_PAGE;

        if (m->dirty)
                return 0;
        m->dirty = calloc((pages + 63) / 64, sizeof(*m->dirty));
        return m->dirty ? 0 : -ENOMEM;
}

void guest_mem_mark_dirty(const struct guest_mem *m, const void *hva, uint64_t len)
{
        uint64_t first, last, p;

        if (__builtin_expect(!m->dirty, 1) || (const uint8_t *)hva < m->map)
                return;
        first = (uint64_t)((const uint8_t *)hva - m->map) / GUEST_MEM_PAGE;
        last = ((uint64_t)((const uint8_t *)hva - m->map) + (len ? len : 1) - 1) / GUEST_MEM_PAGE;
        if (last >= (m->total_bytes + GUEST_MEM_PAGE - 1) / GUEST_MEM_PAGE)
                return;
        for (p = first; p <= last; p++)
                if (!(__atomic_load_n(&m->dirty[p / 64], __ATOMIC_RELAXED) & (1ull << (p % 64))))
                        __atomic_fetch_or(&m->dirty[p / 64], 1ull << (p % 64), __ATOMIC_RELAXED);
}

void guest_mem_take_dirty(const struct guest_mem *m, unsigned char *vec)
{
        uint64_t pages = (m->total_bytes + GUEST_MEM_PAGE - 1) / GUEST_MEM_PAGE, w, bits, i;

        if (!m->dirty)
                return;
        for (w = 0; w < (pages + 63) / 64; w++) {
                bits = __atomic_exchange_n(&m->dirty[w], 0, __ATOMIC_ACQ_REL);
                for (i = 0; vec && bits && i < 64; i++)
                        if (bits & (1ull << i))
                                vec[w * 64 + i] |= 1;
        }
}

void guest_mem_destroy(struct guest_mem *m)
{
        free(m->dirty);
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

                if (gpa >= r->gpa && end <= r->gpa + r->size) {
                        guest_mem_mark_dirty(m, r->hva + (gpa - r->gpa), len);
                        return r->hva + (gpa - r->gpa);
                }
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
