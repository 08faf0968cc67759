/* The region list a Uffd snapshot load sends its page-fault handler, as Firecracker's JSON. */
#include "core/uffd_regions.h"

#include <errno.h>
#include <stdio.h>

int uffd_regions_json(const struct uffd_region *regions, unsigned int nr, char *buf, size_t cap)
{
        size_t len = 0;
        unsigned int i;
        int n;

        n = snprintf(buf, cap, "[");
        for (i = 0; i < nr && n >= 0 && (size_t)n < cap - len; i++) {
                const struct uffd_region *r = &regions[i];

                len += (size_t)n;
                n = snprintf(buf + len, cap - len,
                             "%s{\"base_host_virt_addr\":%llu,\"size\":%llu,\"offset\":%llu,"
                             "\"page_size\":%llu,\"page_size_kib\":%llu}",
                             i ? "," : "", (unsigned long long)r->base_host_virt_addr,
                             (unsigned long long)r->size, (unsigned long long)r->offset,
                             (unsigned long long)r->page_size, (unsigned long long)r->page_size);
        }
        if (n < 0 || (size_t)n >= cap - len)
                return -ENOSPC;
        len += (size_t)n;
        n = snprintf(buf + len, cap - len, "]");
        if (n < 0 || (size_t)n >= cap - len)
                return -ENOSPC;
        return (int)(len + (size_t)n);
}
