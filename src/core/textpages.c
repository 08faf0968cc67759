/* Read-only segment pages: MADV_DONTNEED over PT_LOAD segments without PF_W (dl_iterate_phdr). */
#define _GNU_SOURCE /* dl_iterate_phdr() */
#include "core/textpages.h"

#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

static int textpages_object(struct dl_phdr_info *info, size_t size, void *data)
{
        uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a, b;
        unsigned long *done = data;
        int i;

        (void)size;
        for (i = 0; i < info->dlpi_phnum; i++) {
                const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

                if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
                        continue;
                /* Whole pages only: a page shared with a written segment stays. */
                a = (info->dlpi_addr + ph->p_vaddr + pg - 1) & ~(pg - 1);
                b = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(pg - 1);
                if (b > a && madvise((void *)a, b - a, MADV_DONTNEED) == 0)
                        *done += b - a;
        }
        return 1; /* the executable only: a static binary has nothing else */
}

unsigned long textpages_release(void)
{
        unsigned long done = 0;

        dl_iterate_phdr(textpages_object, &done);
        return done;
}
