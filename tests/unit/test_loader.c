/* Unit tests for kernel/initrd loading: valid ELF, PVH and bzImage images and hostile inputs. */
#define _GNU_SOURCE /* memfd_create() */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/loader.h"
#include "arch/x86_64/mem_layout.h"
#include "core/guest_mem.h"

#define MEM_SIZE     MiB(16)
#define IMG_CAP      0x4000
#define NSEG         2
#define SEG_FILESZ   0x100
#define SEG_MEMSZ    0x300
#define SEG_PADDR(i) (MiB(2) + (uint64_t)(i)*MiB(1))
#define SEG_OFF(i)   (0x1000 + (uint64_t)(i)*0x1000)
#define NOTE_OFF     0x800
#define SHDR_OFF     0x3000
#define ELF_ENTRY    (MiB(2) + 0x40)
#define PVH_ENTRY    0x2001234ULL
#define BZ_PAYLOAD   0x2000

enum note_kind { NOTE_NONE, NOTE_PVH4, NOTE_PVH8, NOTE_SECTION };

static struct guest_mem mem;
static uint8_t *ram;
static uint8_t img[IMG_CAP];
static size_t img_len;
static struct err error;
static struct kernel_info ki;
static bool via_fd; /* load() goes through a file and kernel_load_fd() */

#define assert_fails(call, want_rc, substr)                                                        \
        do {                                                                                       \
                int rc_;                                                                           \
                err_clear(&error);                                                                 \
                rc_ = (call);                                                                      \
                if (rc_ != (want_rc) || !strstr(error.msg, (substr)))                              \
                        fail_msg("rc %d (want %d), err \"%s\" (want \"%s\")", rc_, (want_rc),      \
                                 error.msg, (substr));                                             \
        } while (0)

static int setup(void **state)
{
        (void)state;
        ram = calloc(1, MEM_SIZE);
        assert_non_null(ram);
        assert_int_equal(mem_layout_map(&mem, ram, MEM_SIZE), 0);
        memset(img, 0, sizeof(img));
        err_clear(&error);
        return 0;
}

static int teardown(void **state)
{
        (void)state;
        guest_mem_destroy(&mem);
        free(ram);
        return 0;
}

/* A memfd holding buf[0..len), for the loaders' file path. */
static int file_of(const void *buf, size_t len)
{
        int fd = memfd_create("image", MFD_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, buf, len), (ssize_t)len);
        return fd;
}

static int load(void)
{
        int fd, rc;

        if (!via_fd)
                return kernel_load(&mem, img, img_len, &ki, &error);
        fd = file_of(img, img_len);
        rc = kernel_load_fd(&mem, fd, img_len, &ki, &error);
        close(fd);
        return rc;
}

static int setup_fd(void **state)
{
        via_fd = true;
        return setup(state);
}

/* ---- ELF construction ---- */

static Elf64_Ehdr get_ehdr(void)
{
        Elf64_Ehdr eh;

        memcpy(&eh, img, sizeof(eh));
        return eh;
}

static void set_ehdr(const Elf64_Ehdr *eh)
{
        memcpy(img, eh, sizeof(*eh));
}

static Elf64_Phdr get_phdr(unsigned int i)
{
        Elf64_Phdr ph;

        memcpy(&ph, img + sizeof(Elf64_Ehdr) + i * sizeof(ph), sizeof(ph));
        return ph;
}

static void set_phdr(unsigned int i, const Elf64_Phdr *ph)
{
        memcpy(img + sizeof(Elf64_Ehdr) + i * sizeof(*ph), ph, sizeof(*ph));
}

static size_t put_note(uint8_t *p, const char *name, uint32_t type, const void *desc,
                       uint32_t descsz)
{
        Elf64_Nhdr nh = {
            .n_namesz = (uint32_t)strlen(name) + 1, .n_descsz = descsz, .n_type = type};
        size_t off = sizeof(nh) + ((nh.n_namesz + 3u) & ~3u);

        memcpy(p, &nh, sizeof(nh));
        memcpy(p + sizeof(nh), name, nh.n_namesz);
        memcpy(p + off, desc, descsz);
        return off + ((descsz + 3u) & ~3u);
}

/* A build-id note, a non-entry Xen note, then (optionally) the PVH entry note. */
static size_t put_notes(enum note_kind kind)
{
        uint64_t id = 0x1122334455667788ULL, e64 = PVH_ENTRY, other = 0xffffffff81000000ULL;
        uint32_t e32 = (uint32_t)PVH_ENTRY;
        size_t n = 0;

        n += put_note(img + NOTE_OFF + n, "GNU", 3, &id, sizeof(id));
        n += put_note(img + NOTE_OFF + n, "Xen", 1, &other, sizeof(other));
        if (kind == NOTE_PVH8)
                n += put_note(img + NOTE_OFF + n, "Xen", 18, &e64, sizeof(e64));
        else if (kind != NOTE_NONE)
                n += put_note(img + NOTE_OFF + n, "Xen", 18, &e32, sizeof(e32));
        return n;
}

static void put_section_headers(size_t notes_len)
{
        Elf64_Shdr sh[2] = {
            {0},
            {.sh_type = SHT_NOTE, .sh_offset = NOTE_OFF, .sh_size = notes_len, .sh_addralign = 4}};
        Elf64_Ehdr eh = get_ehdr();

        memcpy(img + SHDR_OFF, sh, sizeof(sh));
        eh.e_shoff = SHDR_OFF;
        eh.e_shnum = 2;
        eh.e_shentsize = sizeof(Elf64_Shdr);
        set_ehdr(&eh);
}

static void build_elf(enum note_kind kind)
{
        Elf64_Ehdr eh = {.e_type = ET_EXEC,
                         .e_machine = EM_X86_64,
                         .e_version = EV_CURRENT,
                         .e_entry = ELF_ENTRY,
                         .e_phoff = sizeof(Elf64_Ehdr),
                         .e_ehsize = sizeof(Elf64_Ehdr),
                         .e_phentsize = sizeof(Elf64_Phdr)};
        size_t notes_len;
        unsigned int i;

        memset(img, 0, sizeof(img));
        notes_len = kind == NOTE_NONE ? 0 : put_notes(kind);
        memcpy(eh.e_ident, ELFMAG, SELFMAG);
        eh.e_ident[EI_CLASS] = ELFCLASS64;
        eh.e_ident[EI_DATA] = ELFDATA2LSB;
        eh.e_ident[EI_VERSION] = EV_CURRENT;
        eh.e_phnum = NSEG + (kind == NOTE_PVH4 || kind == NOTE_PVH8);
        set_ehdr(&eh);
        for (i = 0; i < NSEG; i++) {
                Elf64_Phdr ph = {.p_type = PT_LOAD,
                                 .p_offset = SEG_OFF(i),
                                 .p_paddr = SEG_PADDR(i),
                                 .p_vaddr = 0xffffffff80000000ULL + SEG_PADDR(i),
                                 .p_filesz = SEG_FILESZ,
                                 .p_memsz = SEG_MEMSZ,
                                 .p_align = 0x1000};

                set_phdr(i, &ph);
                memset(img + SEG_OFF(i), 0xa0 + (int)i, SEG_FILESZ);
        }
        if (kind == NOTE_PVH4 || kind == NOTE_PVH8) {
                Elf64_Phdr ph = {
                    .p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_filesz = notes_len, .p_align = 4};
                set_phdr(NSEG, &ph);
        }
        img_len = SHDR_OFF;
        if (kind == NOTE_SECTION) {
                put_section_headers(notes_len);
                img_len = SHDR_OFF + 2 * sizeof(Elf64_Shdr);
        }
}

/* ---- bzImage construction ---- */

static void build_bz(uint16_t version, uint8_t loadflags, uint16_t xlf, uint8_t setup_sects)
{
        struct setup_header h;
        size_t setup = ((size_t)(setup_sects ? setup_sects : 4) + 1) * 512, i;

        memset(img, 0, sizeof(img));
        memset(&h, 0, sizeof(h));
        h.setup_sects = setup_sects;
        h.boot_flag = 0xaa55;
        h.header = 0x53726448;
        h.version = version;
        h.loadflags = loadflags;
        h.xloadflags = xlf;
        h.code32_start = 0x100000;
        h.init_size = 0x123000;
        h.kernel_alignment = 0x200000;
        memcpy(img + 0x1f1, &h, sizeof(h));
        for (i = 0; i < BZ_PAYLOAD; i++)
                img[setup + i] = (uint8_t)(i ^ 0x5a);
        img_len = setup + BZ_PAYLOAD;
}

/* ---- ELF: valid images ---- */

static void test_elf_linux64(void **state)
{
        uint8_t *p;

        (void)state;
        build_elf(NOTE_NONE);
        memset(ram + SEG_PADDR(0), 0xee, SEG_MEMSZ); /* bss must get zeroed */
        assert_int_equal(load(), 0);
        assert_int_equal(ki.proto, BOOT_PROTO_LINUX64);
        assert_int_equal(ki.entry, ELF_ENTRY);
        assert_int_equal(ki.load_end, SEG_PADDR(1) + SEG_MEMSZ);
        assert_false(ki.has_setup_header);
        p = ram + SEG_PADDR(0);
        assert_int_equal(p[0], 0xa0);
        assert_int_equal(p[SEG_FILESZ - 1], 0xa0);
        assert_int_equal(p[SEG_FILESZ], 0);
        assert_int_equal(p[SEG_MEMSZ - 1], 0);
        assert_int_equal(p[SEG_MEMSZ], 0);
        assert_int_equal(ram[SEG_PADDR(1)], 0xa1);
}

static void test_elf_notes_without_pvh(void **state)
{
        Elf64_Phdr ph = {.p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_align = 4};

        (void)state;
        build_elf(NOTE_NONE);
        ph.p_filesz = put_notes(NOTE_NONE);
        set_phdr(NSEG, &ph);
        {
                Elf64_Ehdr eh = get_ehdr();

                eh.e_phnum = NSEG + 1;
                set_ehdr(&eh);
        }
        assert_int_equal(load(), 0);
        assert_int_equal(ki.proto, BOOT_PROTO_LINUX64);
}

static void test_elf_pvh_4byte(void **state)
{
        (void)state;
        build_elf(NOTE_PVH4);
        assert_int_equal(load(), 0);
        assert_int_equal(ki.proto, BOOT_PROTO_PVH);
        assert_int_equal(ki.entry, PVH_ENTRY);
        assert_int_equal(ram[SEG_PADDR(0)], 0xa0);
}

static void test_elf_pvh_8byte(void **state)
{
        (void)state;
        build_elf(NOTE_PVH8);
        assert_int_equal(load(), 0);
        assert_int_equal(ki.proto, BOOT_PROTO_PVH);
        assert_int_equal(ki.entry, PVH_ENTRY);
}

static void test_elf_pvh_section_note(void **state)
{
        (void)state;
        build_elf(NOTE_SECTION);
        assert_int_equal(load(), 0);
        assert_int_equal(ki.proto, BOOT_PROTO_PVH);
        assert_int_equal(ki.entry, PVH_ENTRY);
}

static void test_elf_pvh_8byte_too_big(void **state)
{
        uint64_t e = 0x100000000ULL;
        Elf64_Phdr ph;

        (void)state;
        build_elf(NOTE_PVH8);
        ph = get_phdr(NSEG);
        memcpy(img + NOTE_OFF + ph.p_filesz - 8, &e, sizeof(e));
        assert_fails(load(), -EINVAL, "is not a 32-bit address");
}

static void test_elf_pvh_bad_desc_size(void **state)
{
        Elf64_Phdr ph = {.p_type = PT_NOTE, .p_offset = NOTE_OFF, .p_align = 4};
        uint8_t d[3] = {1, 2, 3};

        (void)state;
        build_elf(NOTE_PVH4);
        ph.p_filesz = put_note(img + NOTE_OFF, "Xen", 18, d, sizeof(d));
        set_phdr(NSEG, &ph);
        assert_fails(load(), -EINVAL, "3-byte descriptor");
}

static void test_elf_note_sizes_wrap(void **state)
{
        Elf64_Nhdr nh = {.n_namesz = 0xfffffffdU, .n_descsz = 0xffffffffU, .n_type = 18};
        Elf64_Phdr ph;

        (void)state;
        build_elf(NOTE_PVH4);
        memcpy(img + NOTE_OFF, &nh, sizeof(nh));
        assert_fails(load(), -EINVAL, "note in program header 2 extends past its end");
        nh.n_namesz = 4;
        memcpy(img + NOTE_OFF, &nh, sizeof(nh));
        assert_fails(load(), -EINVAL, "extends past its end");
        ph = get_phdr(NSEG);
        ph.p_offset = UINT64_MAX - 4;
        set_phdr(NSEG, &ph);
        assert_fails(load(), -EINVAL, "note segment 2 extends past end of file");
}

static void test_elf_section_hostile(void **state)
{
        Elf64_Ehdr eh;

        (void)state;
        build_elf(NOTE_SECTION);
        eh = get_ehdr();
        eh.e_shnum = 0xffff;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "section header 2 extends past end of file");
        eh.e_shnum = 2;
        eh.e_shentsize = 10;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "bad section header size 10");
        eh.e_shentsize = sizeof(Elf64_Shdr);
        set_ehdr(&eh);
        {
                Elf64_Shdr sh = {.sh_type = SHT_NOTE, .sh_offset = 8, .sh_size = UINT64_MAX};

                memcpy(img + SHDR_OFF + sizeof(sh), &sh, sizeof(sh));
        }
        assert_fails(load(), -EINVAL, "note section 1 extends past end of file");
}

/* ---- ELF: malformed headers ---- */

static void test_elf_truncated_header(void **state)
{
        (void)state;
        build_elf(NOTE_NONE);
        img_len = 40;
        assert_fails(load(), -EINVAL, "kernel image is truncated: ELF header needs 64 bytes");
        img_len = 4;
        assert_fails(load(), -EINVAL, "truncated");
}

static void test_elf_wrong_class(void **state)
{
        (void)state;
        build_elf(NOTE_NONE);
        img[EI_CLASS] = ELFCLASS32;
        assert_fails(load(), -EINVAL,
                     "not a 64-bit ELF (ELF class 1): brasa boots 64-bit x86_64 kernels");
        img[EI_CLASS] = ELFCLASS64;
        img[EI_DATA] = ELFDATA2MSB;
        assert_fails(load(), -EINVAL, "not little-endian");
}

static void test_elf_wrong_machine(void **state)
{
        Elf64_Ehdr eh;

        (void)state;
        build_elf(NOTE_NONE);
        eh = get_ehdr();
        eh.e_machine = EM_AARCH64;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "kernel image is not x86_64 (ELF machine 183)");
}

static void test_elf_wrong_type(void **state)
{
        Elf64_Ehdr eh;

        (void)state;
        build_elf(NOTE_NONE);
        eh = get_ehdr();
        eh.e_type = ET_DYN;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "not an executable (ELF type 3)");
}

static void test_elf_phdr_table_hostile(void **state)
{
        Elf64_Ehdr eh;

        (void)state;
        build_elf(NOTE_NONE);
        eh = get_ehdr();
        eh.e_phoff = img_len + 1;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL,
                     "kernel image is truncated: program header 0 extends past end of file");
        eh.e_phoff = UINT64_MAX - 8;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "program header 0 extends past end of file");
        eh.e_phoff = sizeof(Elf64_Ehdr);
        eh.e_phnum = 0xffff;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "program header 218 extends past end of file");
        eh.e_phoff = img_len - 3 * sizeof(Elf64_Phdr);
        eh.e_phnum = 4;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "program header 3 extends past end of file");
        eh.e_phnum = 0;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "no program headers");
        eh.e_phnum = 2;
        eh.e_phentsize = 32;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "bad program header size 32");
}

static void test_elf_segment_beyond_file(void **state)
{
        Elf64_Phdr ph;

        (void)state;
        build_elf(NOTE_NONE);
        ph = get_phdr(1);
        ph.p_offset = img_len - 0x10;
        set_phdr(1, &ph);
        assert_fails(load(), -EINVAL,
                     "kernel image is truncated: segment 1 extends past end of file");
        ph.p_offset = UINT64_MAX - 0x10;
        set_phdr(1, &ph);
        assert_fails(load(), -EINVAL, "segment 1 extends past end of file");
}

static void test_elf_segment_below_1mib(void **state)
{
        Elf64_Phdr ph;

        (void)state;
        build_elf(NOTE_NONE);
        ph = get_phdr(0);
        ph.p_paddr = 0x7000;
        set_phdr(0, &ph);
        assert_fails(load(), -EINVAL, "segment 0 loads at 0x7000, below 1 MiB");
}

static void test_elf_segment_beyond_ram(void **state)
{
        Elf64_Phdr ph;

        (void)state;
        build_elf(NOTE_NONE);
        ph = get_phdr(0);
        ph.p_paddr = MEM_SIZE - 0x100;
        set_phdr(0, &ph);
        assert_fails(load(), -ENOMEM,
                     "kernel image does not fit in guest memory: segment 0 ends at 0x1000200, RAM "
                     "ends at 0x1000000");
        ph.p_paddr = GiB(8);
        set_phdr(0, &ph);
        assert_fails(load(), -ENOMEM, "segment 0 ends at 0x200000300");
        ph.p_paddr = UINT64_MAX - 0x100;
        set_phdr(0, &ph);
        assert_fails(load(), -EINVAL, "segment 0 address range overflows");
}

static void test_elf_filesz_gt_memsz(void **state)
{
        Elf64_Phdr ph;

        (void)state;
        build_elf(NOTE_NONE);
        ph = get_phdr(1);
        ph.p_filesz = SEG_MEMSZ + 1;
        set_phdr(1, &ph);
        assert_fails(load(), -EINVAL,
                     "segment 1 is malformed: file size 0x301 exceeds memory size 0x300");
}

static void test_elf_no_loadable_segments(void **state)
{
        Elf64_Phdr ph;
        unsigned int i;

        (void)state;
        build_elf(NOTE_NONE);
        for (i = 0; i < NSEG; i++) {
                ph = get_phdr(i);
                ph.p_memsz = ph.p_filesz = 0;
                set_phdr(i, &ph);
        }
        assert_fails(load(), -EINVAL, "no loadable segments");
}

static void test_elf_entry_below_1mib(void **state)
{
        Elf64_Ehdr eh;

        (void)state;
        build_elf(NOTE_NONE);
        eh = get_ehdr();
        eh.e_entry = 0x1000;
        set_ehdr(&eh);
        assert_fails(load(), -EINVAL, "entry point 0x1000 is below 1 MiB");
}

static void test_elf_validates_before_writing(void **state)
{
        Elf64_Phdr ph;

        (void)state;
        build_elf(NOTE_NONE);
        ph = get_phdr(1);
        ph.p_paddr = 0x1000;
        set_phdr(1, &ph);
        assert_fails(load(), -EINVAL, "below 1 MiB");
        assert_int_equal(ram[SEG_PADDR(0)], 0); /* segment 0 not written */
}

static void test_bad_magic(void **state)
{
        (void)state;
        memset(img, 0x41, 0x1000);
        img_len = 0x1000;
        assert_fails(load(), -EINVAL, "kernel image is neither ELF nor bzImage (bad magic)");
        img_len = 0;
        assert_fails(load(), -EINVAL, "bad magic");
        assert_fails(kernel_load(&mem, NULL, 100, &ki, &error), -EINVAL, "bad magic");
        assert_int_equal(kernel_load(&mem, img, 1, &ki, NULL), -EINVAL);
}

/* What a wrong image probably is, and what to give instead, follows "bad magic". */
static void test_bad_magic_says_what_to_do(void **state)
{
        (void)state;
        memset(img, 0, 0x1000);
        img_len = 0x1000;
        img[0] = 0x1f;
        img[1] = 0x8b;
        assert_fails(load(), -EINVAL, "(bad magic): it is gzip-compressed");
        img[0] = 0;
        img[1] = 0;
        memcpy(img + 0x38, "ARM\x64", 4);
        assert_fails(load(), -EINVAL, "(bad magic): it is an arm64 Image");
        memset(img + 0x38, 0, 4);
        img[0] = 'M';
        img[1] = 'Z';
        assert_fails(load(), -EINVAL, "(bad magic): it is a PE/EFI file");
        img[0] = 'X';
        assert_fails(load(), -EINVAL, "(bad magic): give an uncompressed ELF vmlinux or a bzImage");
}

/* ---- bzImage ---- */

static void test_bz_ok(void **state)
{
        (void)state;
        build_bz(0x020f, LOADED_HIGH, XLF_KERNEL_64, 4);
        assert_int_equal(load(), 0);
        assert_int_equal(ki.proto, BOOT_PROTO_LINUX64);
        assert_int_equal(ki.entry, 0x100200);
        assert_int_equal(ki.load_end, 0x100000 + BZ_PAYLOAD);
        assert_true(ki.has_setup_header);
        assert_int_equal(ki.hdr.header, 0x53726448);
        assert_int_equal(ki.hdr.version, 0x020f);
        assert_int_equal(ki.hdr.setup_sects, 4);
        assert_int_equal(ki.hdr.init_size, 0x123000);
        assert_int_equal(ki.hdr.code32_start, 0x100000);
        assert_int_equal(ram[0x100000], 0x5a);
        assert_int_equal(ram[0x100000 + BZ_PAYLOAD - 1], (uint8_t)((BZ_PAYLOAD - 1) ^ 0x5a));
        assert_int_equal(ram[0x100000 + BZ_PAYLOAD], 0);
}

static void test_bz_setup_sects_zero(void **state)
{
        (void)state;
        build_bz(0x020c, LOADED_HIGH, XLF_KERNEL_64, 0); /* 0 means 4 */
        assert_int_equal(load(), 0);
        assert_int_equal(ki.load_end, 0x100000 + BZ_PAYLOAD);
        assert_int_equal(ram[0x100000], 0x5a);
}

static void test_bz_too_old(void **state)
{
        (void)state;
        build_bz(0x0206, LOADED_HIGH, XLF_KERNEL_64, 4);
        assert_fails(load(), -EINVAL, "bzImage boot protocol 2.06 is too old (need 2.12)");
}

static void test_bz_not_64bit(void **state)
{
        (void)state;
        build_bz(0x020f, LOADED_HIGH, 0, 4);
        assert_fails(load(), -EINVAL,
                     "bzImage is not 64-bit capable (XLF_KERNEL_64 missing): brasa boots 64-bit");
}

static void test_bz_not_loaded_high(void **state)
{
        (void)state;
        build_bz(0x020f, 0, XLF_KERNEL_64, 4);
        assert_fails(load(), -EINVAL, "LOADED_HIGH missing");
}

static void test_bz_setup_past_file(void **state)
{
        (void)state;
        build_bz(0x020f, LOADED_HIGH, XLF_KERNEL_64, 4);
        img[0x1f1] = 255;
        assert_fails(load(), -EINVAL, "kernel image is truncated: bzImage setup (131072 bytes)");
        img[0x1f1] = 4;
        img_len = 5 * 512;
        assert_fails(load(), -EINVAL, "leaves no kernel");
}

static void test_bz_truncated_header(void **state)
{
        (void)state;
        build_bz(0x020f, LOADED_HIGH, XLF_KERNEL_64, 4);
        img_len = 0x210;
        assert_fails(load(), -EINVAL, "bzImage setup header needs 620 bytes, file has 528");
}

static void test_bz_beyond_ram(void **state)
{
        uint8_t *big;
        size_t len = MEM_SIZE;

        (void)state;
        big = calloc(1, len);
        assert_non_null(big);
        build_bz(0x020f, LOADED_HIGH, XLF_KERNEL_64, 4);
        memcpy(big, img, 0x1000);
        assert_fails(kernel_load(&mem, big, len, &ki, &error), -ENOMEM,
                     "kernel image does not fit in guest memory: bzImage ends at 0x10ff600, RAM "
                     "ends at 0x1000000");
        free(big);
}

/* ---- initrd ---- */

static void test_initrd_ok(void **state)
{
        uint8_t rd[0x1801];
        uint64_t gpa = 0;

        (void)state;
        memset(rd, 0x77, sizeof(rd));
        assert_int_equal(initrd_load(&mem, rd, sizeof(rd), MiB(3), &gpa, &error), 0);
        assert_int_equal(gpa, MEM_SIZE - 0x2000);
        assert_int_equal(ram[gpa], 0x77);
        assert_int_equal(ram[gpa + sizeof(rd) - 1], 0x77);
        assert_int_equal(ram[gpa + sizeof(rd)], 0);
        assert_int_equal(initrd_load(&mem, rd, 0x1000, MiB(3), &gpa, &error), 0);
        assert_int_equal(gpa, MEM_SIZE - 0x1000);
}

static void test_initrd_too_big(void **state)
{
        uint8_t *rd = calloc(1, MEM_SIZE + 1);
        uint64_t gpa = 0;

        (void)state;
        assert_non_null(rd);
        assert_fails(initrd_load(&mem, rd, MEM_SIZE + 1, MiB(3), &gpa, &error), -ENOMEM,
                     "initrd does not fit in guest memory");
        assert_fails(initrd_load(&mem, rd, MEM_SIZE - 0x1000, 0, &gpa, &error), -ENOMEM,
                     "overlap the boot area below 1 MiB");
        free(rd);
}

static void test_initrd_overlaps_kernel(void **state)
{
        uint8_t *rd = calloc(1, MiB(8));
        uint64_t gpa = 0;

        (void)state;
        assert_non_null(rd);
        assert_fails(initrd_load(&mem, rd, MiB(8), MiB(9), &gpa, &error), -ENOMEM,
                     "initrd does not fit in guest memory: 8388608 bytes at 0x800000 would overlap "
                     "the kernel");
        assert_int_equal(initrd_load(&mem, rd, MiB(8), MiB(8), &gpa, &error), 0);
        assert_int_equal(gpa, MiB(8));
        free(rd);
}

static void test_initrd_empty(void **state)
{
        uint64_t gpa = 0;

        (void)state;
        assert_fails(initrd_load(&mem, img, 0, MiB(3), &gpa, &error), -EINVAL, "initrd is empty");
}

/* ---- the file path: pread() straight into guest memory ---- */

/* A file shorter than its stat() said (it shrank between the two): a read error, no SIGBUS. */
static void test_fd_file_shrank(void **state)
{
        uint64_t gpa = 0;
        int fd;

        (void)state;
        build_elf(NOTE_PVH4);
        fd = file_of(img, SEG_OFF(1));
        assert_fails(kernel_load_fd(&mem, fd, img_len, &ki, &error), -EIO,
                     "cannot read the kernel image at offset 8192: the file shrank while loading");
        assert_fails(initrd_load_fd(&mem, fd, SEG_OFF(1) + 1, MiB(3), &gpa, &error), -EIO,
                     "cannot read the initrd at offset 8192: the file shrank while loading");
        close(fd);
}

static void test_fd_bad_descriptor(void **state)
{
        (void)state;
        build_elf(NOTE_PVH4);
        assert_fails(kernel_load_fd(&mem, -1, img_len, &ki, &error), -EIO,
                     "cannot read the kernel image at offset 0: Bad file descriptor");
}

/* The file path puts the same bytes where the buffer path does. */
static void test_fd_initrd_same_bytes(void **state)
{
        uint8_t rd[0x1801];
        uint64_t gpa = 0;
        int fd;

        (void)state;
        for (size_t i = 0; i < sizeof(rd); i++)
                rd[i] = (uint8_t)(i * 7 + 1);
        fd = file_of(rd, sizeof(rd));
        assert_int_equal(initrd_load_fd(&mem, fd, sizeof(rd), MiB(3), &gpa, &error), 0);
        close(fd);
        assert_int_equal(gpa, MEM_SIZE - 0x2000);
        assert_memory_equal(ram + gpa, rd, sizeof(rd));
}

/* ---- robustness: deterministic mutation of valid images must never crash ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
        rng_state ^= rng_state << 13;
        rng_state ^= rng_state >> 7;
        rng_state ^= rng_state << 17;
        return rng_state;
}

static void mutate_and_load(unsigned int rounds)
{
        static const uint64_t evil[] = {
            0, 1, 0xff, 0xffff, 0xffffffffULL, UINT64_MAX, 0x8000000000000000ULL};
        uint64_t v;
        unsigned int i, pos;

        for (i = 0; i < rounds; i++) {
                pos = (unsigned int)(rng() % 0x900);
                v = (rng() & 1) ? evil[rng() % (sizeof(evil) / sizeof(evil[0]))] : rng();
                memcpy(img + pos, &v, 1 + rng() % 8);
        }
        img_len = (rng() & 3) ? img_len : (size_t)(rng() % img_len);
        (void)load();
}

static void test_mutation_smoke(void **state)
{
        unsigned int iter;

        (void)state;
        for (iter = 0; iter < 20000; iter++) {
                switch (iter % 4) {
                case 0:
                        build_elf(NOTE_PVH4);
                        break;
                case 1:
                        build_elf(NOTE_SECTION);
                        break;
                case 2:
                        build_elf(NOTE_PVH8);
                        break;
                default:
                        build_bz(0x020f, LOADED_HIGH, XLF_KERNEL_64, 4);
                        break;
                }
                mutate_and_load(1 + iter % 6);
        }
}

/* Every image test runs twice: from a buffer (fuzzers, tests) and from a file (brasa). */
#define T(fn)  cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TF(fn) cmocka_unit_test_setup_teardown(fn, setup_fd, teardown)
#define IMAGE_TESTS(T)                                                                             \
        T(test_elf_linux64), T(test_elf_notes_without_pvh), T(test_elf_pvh_4byte),                 \
            T(test_elf_pvh_8byte), T(test_elf_pvh_section_note), T(test_elf_pvh_8byte_too_big),    \
            T(test_elf_pvh_bad_desc_size), T(test_elf_note_sizes_wrap),                            \
            T(test_elf_section_hostile), T(test_elf_truncated_header), T(test_elf_wrong_class),    \
            T(test_elf_wrong_machine), T(test_elf_wrong_type), T(test_elf_phdr_table_hostile),     \
            T(test_elf_segment_beyond_file), T(test_elf_segment_below_1mib),                       \
            T(test_elf_segment_beyond_ram), T(test_elf_filesz_gt_memsz),                           \
            T(test_elf_no_loadable_segments), T(test_elf_entry_below_1mib),                        \
            T(test_elf_validates_before_writing), T(test_bad_magic), T(test_bz_ok),                \
            T(test_bz_setup_sects_zero), T(test_bz_too_old), T(test_bz_not_64bit),                 \
            T(test_bz_not_loaded_high), T(test_bz_setup_past_file), T(test_bz_truncated_header),   \
            T(test_bad_magic_says_what_to_do), T(test_mutation_smoke)

int main(void)
{
        const struct CMUnitTest from_file[] = {
            IMAGE_TESTS(TF),
            T(test_fd_file_shrank),
            T(test_fd_bad_descriptor),
            T(test_fd_initrd_same_bytes),
        };
        const struct CMUnitTest tests[] = {
            T(test_elf_linux64),
            T(test_elf_notes_without_pvh),
            T(test_elf_pvh_4byte),
            T(test_elf_pvh_8byte),
            T(test_elf_pvh_section_note),
            T(test_elf_pvh_8byte_too_big),
            T(test_elf_pvh_bad_desc_size),
            T(test_elf_note_sizes_wrap),
            T(test_elf_section_hostile),
            T(test_elf_truncated_header),
            T(test_elf_wrong_class),
            T(test_elf_wrong_machine),
            T(test_elf_wrong_type),
            T(test_elf_phdr_table_hostile),
            T(test_elf_segment_beyond_file),
            T(test_elf_segment_below_1mib),
            T(test_elf_segment_beyond_ram),
            T(test_elf_filesz_gt_memsz),
            T(test_elf_no_loadable_segments),
            T(test_elf_entry_below_1mib),
            T(test_elf_validates_before_writing),
            T(test_bad_magic),
            T(test_bad_magic_says_what_to_do),
            T(test_bz_ok),
            T(test_bz_setup_sects_zero),
            T(test_bz_too_old),
            T(test_bz_not_64bit),
            T(test_bz_not_loaded_high),
            T(test_bz_setup_past_file),
            T(test_bz_truncated_header),
            T(test_bz_beyond_ram),
            T(test_initrd_ok),
            T(test_initrd_too_big),
            T(test_initrd_overlaps_kernel),
            T(test_initrd_empty),
            T(test_mutation_smoke),
        };

        return cmocka_run_group_tests(tests, NULL, NULL) |
               cmocka_run_group_tests(from_file, NULL, NULL);
}
