/* Loads ELF (Linux 64-bit or PVH) and bzImage kernels and the initrd into guest memory. */
#include "arch/x86_64/loader.h"

#include <elf.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define LOADER_PAGE_SIZE         4096ULL

/* bzImage file offsets and values (Linux x86 boot protocol). */
#define BZ_HDR_OFFSET          0x1f1
#define BZ_MAGIC_OFFSET        0x202
#define BZ_HDR_MAGIC           0x53726448U /* "HdrS" */
#define BZ_MIN_VERSION         0x020c
#define BZ_SECTOR_SIZE         512ULL
#define BZ_DEFAULT_SETUP_SECTS 4
#define BZ_ENTRY64_OFFSET      0x200

/* One load attempt: the target memory, the image and where errors go. */
struct ld {
        const struct guest_mem *m;
        const uint8_t *img; /* the image in memory, or NULL: read it from fd */
        int fd;
        size_t len;
        const char *what; /* "kernel image" or "initrd", for a read error */
        struct err *e;
};

/* A PVH entry note, once found. */
struct pvh_scan {
        bool found;
        uint64_t entry;
};

__attribute__((format(printf, 3, 4))) static int fail(const struct ld *c, int rc, const char *fmt,
                                                      ...)
{
        va_list ap;

        va_start(ap, fmt);
        rc = err_vset(c->e, rc, fmt, ap);
        va_end(ap);
        return rc;
}

/*
 * Copies image bytes [off, off + n) to dst; the caller has checked that they lie inside the
 * image. A file is read with pread() straight into dst (guest memory for the big copies),
 * so no second copy of the image is ever made. A file that shrank under us is -EIO.
 */
static int src_read(const struct ld *c, uint64_t off, void *dst, size_t n)
{
        uint8_t *p = dst;
        ssize_t got;

        if (c->img) {
                memcpy(dst, c->img + off, n);
                return 0;
        }
        while (n) {
                got = pread(c->fd, p, n, (off_t)off);
                if (got < 0 && errno == EINTR)
                        continue;
                if (got <= 0)
                        return fail(c, -EIO, "cannot read the %s at offset %" PRIu64 ": %s",
                                    c->what, off,
                                    got < 0 ? strerror(errno) : "the file shrank while loading");
                p += got;
                off += (uint64_t)got;
                n -= (size_t)got;
        }
        return 0;
}

/* True when [off, off + size) lies inside the image. */
static bool in_file(const struct ld *c, uint64_t off, uint64_t size)
{
        return off <= c->len && size <= c->len - off;
}

/* How many whole entries of entsize fit in the image from off on. */
static uint64_t entries_in_file(const struct ld *c, uint64_t off, uint64_t entsize)
{
        return off <= c->len ? (c->len - off) / entsize : 0;
}

/* Rounds v up to a (a power of two); false on overflow. */
static bool align_up(uint64_t v, uint64_t a, uint64_t *out)
{
        if (__builtin_add_overflow(v, a - 1, out))
                return false;
        *out &= ~(a - 1);
        return true;
}

/* End of the RAM region holding gpa, else the end of the highest region. */
static uint64_t ram_end_near(const struct guest_mem *m, uint64_t gpa)
{
        uint64_t end = guest_mem_region_end(m, gpa);

        if (!end && m->nr_regions)
                end = m->regions[m->nr_regions - 1].gpa + m->regions[m->nr_regions - 1].size;
        return end;
}

/* A program or section header table: entries of the expected size, all inside the file. */
static int check_header_table(const struct ld *c, const char *what, uint64_t off, unsigned int num,
                              unsigned int entsize, size_t expected)
{
        uint64_t n;

        if (entsize != expected)
                return fail(c, -EINVAL, "kernel image has bad %s header size %u (expected %zu)",
                            what, entsize, expected);
        n = entries_in_file(c, off, expected);
        if (n < num)
                return fail(c, -EINVAL,
                            "kernel image is truncated: %s header %" PRIu64
                            " extends past end of file",
                            what, n);
        return 0;
}

static int elf_check_ehdr(const struct ld *c, Elf64_Ehdr *eh)
{
        if (c->len < sizeof(*eh))
                return fail(c, -EINVAL,
                            "kernel image is truncated: ELF header needs %zu bytes, file has %zu",
                            sizeof(*eh), c->len);
        if (src_read(c, 0, eh, sizeof(*eh)))
                return -EIO;
        if (eh->e_ident[EI_CLASS] != ELFCLASS64)
                return fail(c, -EINVAL,
                            "kernel image is not a 64-bit ELF (ELF class %u): brasa boots 64-bit "
                            "x86_64 kernels (CONFIG_64BIT)",
                            eh->e_ident[EI_CLASS]);
        if (eh->e_ident[EI_DATA] != ELFDATA2LSB)
                return fail(c, -EINVAL, "kernel image is not little-endian (ELF data encoding %u)",
                            eh->e_ident[EI_DATA]);
        if (eh->e_machine != EM_X86_64)
                return fail(c, -EINVAL,
                            "kernel image is not x86_64 (ELF machine %u): brasa runs x86_64 "
                            "guests, give a kernel built for x86_64",
                            eh->e_machine);
        if (eh->e_type != ET_EXEC)
                return fail(c, -EINVAL,
                            "kernel image is not an executable (ELF type %u): give the vmlinux at "
                            "the top of the kernel build tree, not a module or an object file",
                            eh->e_type);
        if (eh->e_phnum == 0)
                return fail(c, -EINVAL, "kernel image has no program headers");
        return check_header_table(c, "program", eh->e_phoff, eh->e_phnum, eh->e_phentsize,
                                  sizeof(Elf64_Phdr));
}

/* Reads program header i; the table was bounds-checked by elf_check_ehdr(). */
static int elf_phdr(const struct ld *c, const Elf64_Ehdr *eh, unsigned int i, Elf64_Phdr *ph)
{
        return src_read(c, eh->e_phoff + (uint64_t)i * sizeof(*ph), ph, sizeof(*ph));
}

static int elf_check_load(const struct ld *c, const Elf64_Phdr *ph, unsigned int i, uint64_t *end)
{
        if (ph->p_filesz > ph->p_memsz)
                return fail(c, -EINVAL,
                            "kernel image segment %u is malformed: file size 0x%" PRIx64
                            " exceeds memory size 0x%" PRIx64,
                            i, ph->p_filesz, ph->p_memsz);
        if (!in_file(c, ph->p_offset, ph->p_filesz))
                return fail(c, -EINVAL,
                            "kernel image is truncated: segment %u extends past end of file", i);
        if (ph->p_paddr < LAYOUT_HIMEM_START)
                return fail(c, -EINVAL,
                            "kernel image segment %u loads at 0x%" PRIx64 ", below 1 MiB", i,
                            ph->p_paddr);
        if (__builtin_add_overflow(ph->p_paddr, ph->p_memsz, end))
                return fail(c, -EINVAL, "kernel image segment %u address range overflows", i);
        if (!guest_mem_ptr(c->m, ph->p_paddr, ph->p_memsz))
                return fail(
                    c, -ENOMEM,
                    "kernel image does not fit in guest memory: segment %u ends at 0x%" PRIx64
                    ", RAM ends at 0x%" PRIx64,
                    i, *end, ram_end_near(c->m, ph->p_paddr));
        return 0;
}

static int pvh_note_desc(const struct ld *c, const uint8_t *desc, uint32_t descsz,
                         struct pvh_scan *s)
{
        uint32_t e32;
        uint64_t e64;

        if (descsz == sizeof(e32)) {
                memcpy(&e32, desc, sizeof(e32));
                e64 = e32;
        } else if (descsz == sizeof(e64)) {
                memcpy(&e64, desc, sizeof(e64));
                if (e64 > UINT32_MAX)
                        return fail(c, -EINVAL,
                                    "kernel image PVH entry point 0x%" PRIx64
                                    " is not a 32-bit address",
                                    e64);
        } else {
                return fail(
                    c, -EINVAL,
                    "kernel image PVH entry note has a %u-byte descriptor (expected 4 or 8)",
                    descsz);
        }
        s->found = true;
        s->entry = e64;
        return 0;
}

static bool is_pvh_note(const Elf64_Nhdr *nh, const uint8_t *name)
{
        return nh->n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh->n_namesz == 4 &&
               memcmp(name, "Xen", 4) == 0;
}

/*
 * Walks the notes in img[off, off + size) (already bounds-checked) with the
 * given alignment, stopping at the first PVH entry note.
 */
static int notes_scan(const struct ld *c, uint64_t off, uint64_t size, uint64_t align,
                      const char *what, unsigned int idx, struct pvh_scan *s)
{
        uint64_t pos = 0, name_end, desc_off, desc_end;
        uint8_t name[4], desc[8];
        Elf64_Nhdr nh;
        int rc;

        while (!s->found && pos <= size && size - pos >= sizeof(nh)) {
                if (src_read(c, off + pos, &nh, sizeof(nh)))
                        return -EIO;
                name_end = pos + sizeof(nh) + nh.n_namesz; /* all terms < 2^33 */
                if (!align_up(name_end, align, &desc_off))
                        break;
                desc_end = nh.n_descsz ? desc_off + nh.n_descsz : name_end;
                if (name_end > size || desc_end > size)
                        return fail(
                            c, -EINVAL,
                            "kernel image is truncated: a note in %s %u extends past its end", what,
                            idx);
                if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == sizeof(name)) {
                        if (src_read(c, off + pos + sizeof(nh), name, sizeof(name)))
                                return -EIO;
                        if (is_pvh_note(&nh, name)) {
                                if (nh.n_descsz <= sizeof(desc) &&
                                    src_read(c, off + desc_off, desc, nh.n_descsz))
                                        return -EIO;
                                rc = pvh_note_desc(c, desc, nh.n_descsz, s);
                                if (rc)
                                        return rc;
                        }
                }
                if (!align_up(desc_end, align, &pos))
                        break;
        }
        return 0;
}

static int elf_scan_phdr_notes(const struct ld *c, const Elf64_Phdr *ph, unsigned int i,
                               struct pvh_scan *s)
{
        if (!in_file(c, ph->p_offset, ph->p_filesz))
                return fail(c, -EINVAL,
                            "kernel image is truncated: note segment %u extends past end of file",
                            i);
        return notes_scan(c, ph->p_offset, ph->p_filesz, ph->p_align == 8 ? 8 : 4, "program header",
                          i, s);
}

/* Used only when there is no PT_NOTE: SHT_NOTE sections may carry the PVH note. */
static int elf_scan_section_notes(const struct ld *c, const Elf64_Ehdr *eh, struct pvh_scan *s)
{
        Elf64_Shdr sh;
        unsigned int i;
        int rc;

        if (eh->e_shoff == 0 || eh->e_shnum == 0)
                return 0;
        rc =
            check_header_table(c, "section", eh->e_shoff, eh->e_shnum, eh->e_shentsize, sizeof(sh));
        if (rc)
                return rc;
        for (i = 0; i < eh->e_shnum && !s->found; i++) {
                if (src_read(c, eh->e_shoff + (uint64_t)i * sizeof(sh), &sh, sizeof(sh)))
                        return -EIO;
                if (sh.sh_type != SHT_NOTE)
                        continue;
                if (!in_file(c, sh.sh_offset, sh.sh_size))
                        return fail(
                            c, -EINVAL,
                            "kernel image is truncated: note section %u extends past end of file",
                            i);
                rc = notes_scan(c, sh.sh_offset, sh.sh_size, sh.sh_addralign == 8 ? 8 : 4,
                                "section", i, s);
                if (rc)
                        return rc;
        }
        return 0;
}

/* Validates every program header; finds the image end and any PVH note. */
static int elf_check_phdrs(const struct ld *c, const Elf64_Ehdr *eh, struct pvh_scan *s,
                           bool *had_notes, uint64_t *load_end)
{
        unsigned int i, loads = 0;
        uint64_t end = 0;
        Elf64_Phdr ph;
        int rc = 0;

        for (i = 0; i < eh->e_phnum && !rc; i++) {
                if (elf_phdr(c, eh, i, &ph))
                        return -EIO;
                if (ph.p_type == PT_LOAD && ph.p_memsz) {
                        rc = elf_check_load(c, &ph, i, &end);
                        if (!rc && end > *load_end)
                                *load_end = end;
                        loads++;
                } else if (ph.p_type == PT_NOTE) {
                        *had_notes = true;
                        if (!s->found)
                                rc = elf_scan_phdr_notes(c, &ph, i, s);
                }
        }
        if (!rc && !loads)
                return fail(c, -EINVAL, "kernel image has no loadable segments");
        return rc;
}

/* Copies every PT_LOAD segment (validated beforehand) and zeroes its bss. */
static int elf_copy_segments(const struct ld *c, const Elf64_Ehdr *eh)
{
        unsigned int i;
        Elf64_Phdr ph;
        uint8_t *dst;

        for (i = 0; i < eh->e_phnum; i++) {
                /* Read again: a file's header may not have changed since it was checked. */
                if (elf_phdr(c, eh, i, &ph))
                        return -EIO;
                if (ph.p_type != PT_LOAD || !ph.p_memsz)
                        continue;
                dst = guest_mem_ptr(c->m, ph.p_paddr, ph.p_memsz);
                if (!dst || ph.p_filesz > ph.p_memsz || !in_file(c, ph.p_offset, ph.p_filesz))
                        return fail(c, -EIO, "kernel image changed while it was loaded");
                if (src_read(c, ph.p_offset, dst, ph.p_filesz))
                        return -EIO;
                memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
        }
        return 0;
}

static int elf_load(const struct ld *c, struct kernel_info *ki)
{
        struct pvh_scan pvh = {0};
        bool had_notes = false;
        Elf64_Ehdr eh;
        int rc;

        rc = elf_check_ehdr(c, &eh);
        if (!rc)
                rc = elf_check_phdrs(c, &eh, &pvh, &had_notes, &ki->load_end);
        if (!rc && !had_notes)
                rc = elf_scan_section_notes(c, &eh, &pvh);
        if (rc)
                return rc;
        ki->proto = pvh.found ? BOOT_PROTO_PVH : BOOT_PROTO_LINUX64;
        ki->entry = pvh.found ? pvh.entry : eh.e_entry;
        if (ki->entry < LAYOUT_HIMEM_START)
                return fail(c, -EINVAL, "kernel image %s entry point 0x%" PRIx64 " is below 1 MiB",
                            pvh.found ? "PVH" : "ELF", ki->entry);
        return elf_copy_segments(c, &eh);
}

static int bz_check_header(const struct ld *c, struct setup_header *h)
{
        if (c->len < BZ_HDR_OFFSET + sizeof(*h))
                return fail(
                    c, -EINVAL,
                    "kernel image is truncated: bzImage setup header needs %zu bytes, file has %zu",
                    BZ_HDR_OFFSET + sizeof(*h), c->len);
        if (src_read(c, BZ_HDR_OFFSET, h, sizeof(*h)))
                return -EIO;
        if (h->version < BZ_MIN_VERSION)
                return fail(c, -EINVAL, "bzImage boot protocol %u.%02u is too old (need 2.12)",
                            (unsigned int)h->version >> 8, (unsigned int)h->version & 0xff);
        if (!(h->loadflags & LOADED_HIGH))
                return fail(c, -EINVAL, "bzImage does not load high (LOADED_HIGH missing)");
        if (!(h->xloadflags & XLF_KERNEL_64))
                return fail(c, -EINVAL,
                            "bzImage is not 64-bit capable (XLF_KERNEL_64 missing): brasa boots "
                            "64-bit x86_64 kernels (CONFIG_64BIT)");
        return 0;
}

static int bz_load(const struct ld *c, struct kernel_info *ki)
{
        struct setup_header h;
        uint64_t setup, payload, end;
        uint8_t *dst;
        int rc;

        rc = bz_check_header(c, &h);
        if (rc)
                return rc;
        setup = ((uint64_t)(h.setup_sects ? h.setup_sects : BZ_DEFAULT_SETUP_SECTS) + 1) *
                BZ_SECTOR_SIZE;
        if (setup >= c->len)
                return fail(c, -EINVAL,
                            "kernel image is truncated: bzImage setup (%" PRIu64
                            " bytes) leaves no kernel in a %zu-byte file",
                            setup, c->len);
        payload = c->len - setup;
        dst = guest_mem_ptr(c->m, LAYOUT_HIMEM_START, payload);
        if (__builtin_add_overflow(LAYOUT_HIMEM_START, payload, &end) || !dst)
                return fail(c, -ENOMEM,
                            "kernel image does not fit in guest memory: bzImage ends at 0x%" PRIx64
                            ", RAM ends at 0x%" PRIx64,
                            end, ram_end_near(c->m, LAYOUT_HIMEM_START));
        if (src_read(c, setup, dst, payload))
                return -EIO;
        h.code32_start = (uint32_t)LAYOUT_HIMEM_START;
        ki->proto = BOOT_PROTO_LINUX64;
        ki->entry = LAYOUT_HIMEM_START + BZ_ENTRY64_OFFSET;
        ki->load_end = end;
        ki->has_setup_header = true;
        ki->hdr = h;
        return 0;
}

/* Reads the magic bytes at off into buf when the image has them: 1 if it does, 0 if it is too
 * short, or -errno when the file cannot be read. */
static int read_magic(const struct ld *c, uint64_t off, void *buf, size_t n)
{
        if (!in_file(c, off, n))
                return 0;
        return src_read(c, off, buf, n) ? -EIO : 1;
}

/* What an image that is neither ELF nor bzImage probably is, and what to give instead:
 * judged from its first n bytes, head. */
static const char *bad_magic_hint(const uint8_t *head, size_t n)
{
        static const uint8_t gzip[] = {0x1f, 0x8b}, arm64[] = {'A', 'R', 'M', 0x64};

        if (n >= sizeof(gzip) && memcmp(head, gzip, sizeof(gzip)) == 0)
                return ": it is gzip-compressed (a vmlinuz or vmlinux.gz?); give the bzImage, or "
                       "the uncompressed vmlinux";
        if (n >= 0x38 + sizeof(arm64) && memcmp(head + 0x38, arm64, sizeof(arm64)) == 0)
                return ": it is an arm64 Image; brasa runs x86_64 guests";
        if (n >= 2 && head[0] == 'M' && head[1] == 'Z')
                return ": it is a PE/EFI file without a Linux boot header; give the bzImage or the "
                       "vmlinux of an x86_64 kernel";
        return ": give an uncompressed ELF vmlinux or a bzImage (arch/x86/boot/bzImage)";
}

/* The bad-magic error, with what the image seems to be. */
static int bad_magic(const struct ld *c)
{
        uint8_t head[0x40];
        size_t n = c->len < sizeof(head) ? c->len : sizeof(head);

        if (src_read(c, 0, head, n))
                return -EIO;
        return fail(c, -EINVAL, "kernel image is neither ELF nor bzImage (bad magic)%s",
                    bad_magic_hint(head, n));
}

static int kernel_load_from(const struct ld *c, struct kernel_info *ki)
{
        uint8_t elf[SELFMAG];
        uint32_t bz;
        int rc;

        memset(ki, 0, sizeof(*ki));
        rc = read_magic(c, 0, elf, sizeof(elf));
        if (rc > 0 && memcmp(elf, ELFMAG, SELFMAG) == 0)
                return elf_load(c, ki);
        if (rc >= 0)
                rc = read_magic(c, BZ_MAGIC_OFFSET, &bz, sizeof(bz));
        if (rc > 0 && bz == BZ_HDR_MAGIC)
                return bz_load(c, ki);
        if (rc < 0)
                return rc;
        return bad_magic(c);
}

int kernel_load(const struct guest_mem *m, const uint8_t *img, size_t len, struct kernel_info *ki,
                struct err *e)
{
        static const uint8_t none[1];
        const struct ld c = {.m = m,
                             .img = img ? img : none,
                             .fd = -1,
                             .len = img ? len : 0,
                             .what = "kernel image",
                             .e = e};

        return kernel_load_from(&c, ki);
}

int kernel_load_fd(const struct guest_mem *m, int fd, size_t len, struct kernel_info *ki,
                   struct err *e)
{
        const struct ld c = {.m = m, .fd = fd, .len = len, .what = "kernel image", .e = e};

        return kernel_load_from(&c, ki);
}

static int initrd_load_from(const struct ld *c, uint64_t kernel_end, uint64_t *gpa)
{
        uint64_t low_end = guest_mem_region_end(c->m, 0), at;
        uint64_t floor = kernel_end > LAYOUT_HIMEM_START ? kernel_end : LAYOUT_HIMEM_START;
        size_t len = c->len;
        void *dst;

        if (len == 0)
                return fail(c, -EINVAL, "initrd is empty");
        if (len > low_end)
                return fail(
                    c, -ENOMEM,
                    "initrd does not fit in guest memory: %zu bytes, low RAM ends at 0x%" PRIx64,
                    len, low_end);
        at = (low_end - len) & ~(LOADER_PAGE_SIZE - 1);
        if (at < floor && kernel_end > LAYOUT_HIMEM_START)
                return fail(c, -ENOMEM,
                            "initrd does not fit in guest memory: %zu bytes at 0x%" PRIx64
                            " would overlap the kernel (ends at 0x%" PRIx64 ")",
                            len, at, kernel_end);
        if (at < floor)
                return fail(c, -ENOMEM,
                            "initrd does not fit in guest memory: %zu bytes at 0x%" PRIx64
                            " would overlap the boot area below 1 MiB",
                            len, at);
        dst = guest_mem_ptr(c->m, at, len);
        if (!dst)
                return fail(c, -ENOMEM,
                            "initrd does not fit in guest memory: %zu bytes at 0x%" PRIx64, len,
                            at);
        if (src_read(c, 0, dst, len))
                return -EIO;
        *gpa = at;
        return 0;
}

int initrd_load(const struct guest_mem *m, const uint8_t *img, size_t len, uint64_t kernel_end,
                uint64_t *gpa, struct err *e)
{
        const struct ld c = {
            .m = m, .img = img, .fd = -1, .len = img ? len : 0, .what = "initrd", .e = e};

        if (!img)
                return fail(&c, -EINVAL, "initrd is empty");
        return initrd_load_from(&c, kernel_end, gpa);
}

int initrd_load_fd(const struct guest_mem *m, int fd, size_t len, uint64_t kernel_end,
                   uint64_t *gpa, struct err *e)
{
        const struct ld c = {.m = m, .fd = fd, .len = len, .what = "initrd", .e = e};

        return initrd_load_from(&c, kernel_end, gpa);
}
