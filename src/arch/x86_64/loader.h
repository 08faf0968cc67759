/* Guest kernel and initrd loading (ELF vmlinux, PVH ELF, bzImage), from files or buffers. */
#ifndef BRASA_ARCH_X86_64_LOADER_H
#define BRASA_ARCH_X86_64_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

#include "core/err.h"
#include "core/guest_mem.h"

enum boot_protocol { BOOT_PROTO_LINUX64, BOOT_PROTO_PVH };

struct kernel_info {
        enum boot_protocol proto;
        uint64_t entry;        /* Linux 64-bit entry, or 32-bit PVH entry */
        uint64_t load_end;     /* first GPA after the loaded image */
        bool has_setup_header; /* bzImage: hdr seeds the zero page */
        struct setup_header hdr;
};

/*
 * Loads the kernel image img[0..len) into guest memory and fills *ki.
 *
 * ELF is tried first: ELF64, little-endian, EM_X86_64, ET_EXEC; every
 * non-empty PT_LOAD segment is copied to p_paddr (which must be >= 1 MiB and
 * lie inside one RAM region) and its bss (memsz - filesz) is zeroed. A Xen
 * note of type XEN_ELFNOTE_PHYS32_ENTRY (in a PT_NOTE segment, or in an
 * SHT_NOTE section when there is no PT_NOTE) selects BOOT_PROTO_PVH with that
 * entry; otherwise BOOT_PROTO_LINUX64 with e_entry.
 * Without ELF magic the image must be a bzImage (boot protocol >= 2.12,
 * LOADED_HIGH, XLF_KERNEL_64): its protected-mode part is copied to 1 MiB,
 * entry = 1 MiB + 0x200, and its setup header is returned in ki->hdr (with
 * code32_start set to 1 MiB).
 *
 * Every header is validated before guest memory is written. Never reads
 * outside img[0..len). Returns 0, -EINVAL for a malformed or unsupported
 * image, or -ENOMEM when it does not fit in guest memory; on error e (may be
 * NULL) says why in one line.
 */
int kernel_load(const struct guest_mem *m, const uint8_t *img, size_t len, struct kernel_info *ki,
                struct err *e);

/*
 * As kernel_load() for the len-byte file open at fd (offsets from 0, the file position is
 * not used): headers are read with pread() and segments straight into guest memory, so the
 * image is never copied twice nor held whole in the VMM's memory; and, unlike a mapping of
 * the file, a file that shrinks meanwhile is a read error (-EIO), never a SIGBUS.
 */
int kernel_load_fd(const struct guest_mem *m, int fd, size_t len, struct kernel_info *ki,
                   struct err *e);

/*
 * Copies the initrd img[0..len) to the top of the first RAM region (the one
 * at GPA 0, below 3 GiB), at the highest page-aligned GPA that holds it, and
 * returns that GPA in *gpa. The initrd must not overlap [1 MiB, kernel_end)
 * nor the low boot area below 1 MiB.
 * Returns 0, -EINVAL for an empty initrd, or -ENOMEM when it does not fit;
 * on error e (may be NULL) says why.
 */
int initrd_load(const struct guest_mem *m, const uint8_t *img, size_t len, uint64_t kernel_end,
                uint64_t *gpa, struct err *e);

/* As initrd_load() for the len-byte file open at fd, read straight into guest memory. */
int initrd_load_fd(const struct guest_mem *m, int fd, size_t len, uint64_t kernel_end,
                   uint64_t *gpa, struct err *e);

#endif
