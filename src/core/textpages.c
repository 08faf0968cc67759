/* Read-only segment pages: MADV_DONTNEED over PT_LOAD segments without PF_W (dl_iterate_phdr). */
#define _GNU_SOURCE /* dl_iterate_phdr() */
#include "core/textpages.h"

#include <link.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * Calls fn(start, end, page size, arg) for each loaded, never-written segment of the
 * executable (the only object of a static binary), over its whole pages only: a page shared
 * with a written segment is left out.
 */
struct ro_walk {
        void (*fn)(uintptr_t a, uintptr_t b, uintptr_t pg, void *arg);
        void *arg;
};

#define RO_MAX_SEGMENTS 8

static int ro_segments(struct dl_phdr_info *info, size_t size, void *data)
{
        uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), a[RO_MAX_SEGMENTS], b[RO_MAX_SEGMENTS];
        const struct ro_walk *w = data;
        int i, n = 0;

        (void)size;
        for (i = 0; i < info->dlpi_phnum && n < RO_MAX_SEGMENTS; i++) {
                const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

                if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W))
                        continue;
                a[n] = (info->dlpi_addr + ph->p_vaddr + pg - 1) & ~(pg - 1);
                b[n] = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz) & ~(pg - 1);
                n += b[n] > a[n];
        }
        /* Only now: the program headers lie in the first segment, and reading them after its
         * drop would map their page back, with the kernel's 64 KiB around it. */
        for (i = 0; i < n; i++)
                w->fn(a[i], b[i], pg, w->arg);
        return 1; /* the executable only */
}

static void drop(uintptr_t a, uintptr_t b, uintptr_t pg, void *arg)
{
        unsigned long *done = arg;

        (void)pg;
        if (madvise((void *)a, b - a, MADV_DONTNEED) == 0)
                *done += b - a;
}

#ifdef BRASA_TEXT_PROFILE
/*
 * A TEXT_PROFILE build (tools/text-order.py) only: from the start, before any seccomp
 * filter, one mapping per page of the read-only segments, so that the kernel's fault-around,
 * which never crosses a mapping, maps back exactly the pages that run after the drop, and
 * /proc/PID/smaps shows them. Never in a normal build: it costs a kernel VMA per page.
 */
static void split(uintptr_t a, uintptr_t b, uintptr_t pg, void *arg)
{
        (void)arg;
        for (; a < b; a += 2 * pg)
                madvise((void *)a, pg, MADV_NOHUGEPAGE); /* differing flags: its own VMA */
}

__attribute__((constructor)) static void textpages_profile(void)
{
        struct ro_walk w = {split, NULL};

        dl_iterate_phdr(ro_segments, &w);
}
#endif

unsigned long textpages_release(void)
{
        unsigned long done = 0;
        struct ro_walk w = {drop, &done};

        dl_iterate_phdr(ro_segments, &w);
        return done;
}
