/* The test guest's body: report what the VMM handed over, then act on brasa.* command-line words.
 */
#include <asm/bootparam.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_mmio.h>

#include "guest.h"

/* PVH hvm_start_info and friends (Xen public ABI, version 1 layout). */
struct pvh_start_info {
        u32 magic;
        u32 version;
        u32 flags;
        u32 nr_modules;
        u64 modlist_paddr;
        u64 cmdline_paddr;
        u64 rsdp_paddr;
        u64 memmap_paddr;   /* version >= 1 */
        u32 memmap_entries; /* version >= 1 */
        u32 reserved;
};

struct pvh_module {
        u64 paddr;
        u64 size;
        u64 cmdline_paddr;
        u64 reserved;
};

struct pvh_memmap_entry {
        u64 addr;
        u64 size;
        u32 type;
        u32 reserved;
};

#define E820_RAM           1
#define MAX_MAP_ENTRIES    128 /* the zero page's limit; also caps a garbage PVH count */
#define MAX_CMDLINE        4096
#define SERIAL_FLOOD_BYTES 65536u
#define MAX_ECHO           200

/* What both protocols boil down to. */
struct boot_facts {
        u64 cmdline; /* physical address, 0 if none */
        u64 initrd;
        u64 initrd_size; /* 0: no initrd */
        u64 mem_top;
};

typedef u32 __attribute__((may_alias, aligned(1))) u32_any;
typedef u16 __attribute__((may_alias, aligned(1))) u16_any;

static void report_map_entry(struct boot_facts *f, u64 addr, u64 size, u32 type)
{
        say("e820 addr=0x%lx size=0x%lx type=%u", addr, size, type);
        if (type == E820_RAM && addr + size > f->mem_top)
                f->mem_top = addr + size;
}

static void report_linux(const struct boot_params *bp, struct boot_facts *f)
{
        const struct setup_header *h = &bp->hdr;

        say("zeropage type_of_loader=0x%02x boot_flag=0x%04x header=0x%08x version=0x%04x "
            "cmd_line_ptr=0x%08x cmdline_size=0x%08x ramdisk_image=0x%08x ramdisk_size=0x%08x "
            "kernel_alignment=0x%08x",
            h->type_of_loader, h->boot_flag, h->header, h->version, h->cmd_line_ptr,
            h->cmdline_size, h->ramdisk_image, h->ramdisk_size, h->kernel_alignment);
        f->cmdline = h->cmd_line_ptr | (u64)bp->ext_cmd_line_ptr << 32;
        f->initrd = h->ramdisk_image | (u64)bp->ext_ramdisk_image << 32;
        f->initrd_size = h->ramdisk_size | (u64)bp->ext_ramdisk_size << 32;

        unsigned n = bp->e820_entries;
        for (unsigned i = 0; i < n && i < MAX_MAP_ENTRIES; i++)
                report_map_entry(f, bp->e820_table[i].addr, bp->e820_table[i].size,
                                 bp->e820_table[i].type);
        say("e820-count %u", n);
}

static void report_pvh(const struct pvh_start_info *si, struct boot_facts *f)
{
        u64 memmap = si->version >= 1 ? si->memmap_paddr : 0;
        u32 entries = si->version >= 1 ? si->memmap_entries : 0;

        say("startinfo magic=0x%08x version=%u nr_modules=%u modlist=0x%lx cmdline=0x%lx "
            "memmap=0x%lx memmap_entries=%u",
            si->magic, si->version, si->nr_modules, si->modlist_paddr, si->cmdline_paddr, memmap,
            entries);
        f->cmdline = si->cmdline_paddr;
        if (si->nr_modules >= 1) {
                if (!mapped(si->modlist_paddr, sizeof(struct pvh_module)))
                        panic("modlist-unmapped");
                const struct pvh_module *m = (const void *)si->modlist_paddr;
                f->initrd = m->paddr;
                f->initrd_size = m->size;
        }
        if (entries && !mapped(memmap, (u64)entries * sizeof(struct pvh_memmap_entry)))
                panic("memmap-unmapped");
        const struct pvh_memmap_entry *e = (const void *)memmap;
        for (u32 i = 0; i < entries && i < MAX_MAP_ENTRIES; i++)
                report_map_entry(f, e[i].addr, e[i].size, e[i].type);
        say("e820-count %u", entries);
}

/* Returns the command line's length (up to its NUL) after printing it. */
static u64 report_cmdline(u64 pa)
{
        u64 n = 0;

        if (pa && !mapped(pa, MAX_CMDLINE))
                panic("cmdline-unmapped");
        const u8 *p = (const u8 *)pa;
        while (pa && n < MAX_CMDLINE && p[n])
                n++;
        say_bytes("cmdline ", p, n);
        return n;
}

static int has_word(const u8 *s, u64 n, const char *word)
{
        u64 i = 0;

        while (i < n) {
                while (i < n && s[i] == ' ')
                        i++;
                u64 j = 0;
                while (i + j < n && word[j] && s[i + j] == (u8)word[j])
                        j++;
                if (!word[j] && (i + j == n || s[i + j] == ' '))
                        return 1;
                while (i < n && s[i] != ' ')
                        i++;
        }
        return 0;
}

static int checksum_ok(const u8 *p, u64 n)
{
        u8 sum = 0;

        for (u64 i = 0; i < n; i++)
                sum += p[i];
        return sum == 0;
}

#define MP_FP_SIG  0x5f504d5fu /* "_MP_" */
#define MP_CFG_SIG 0x504d4350u /* "PCMP" */

/* Scans 16-byte boundaries for a valid MP floating pointer; notes bad-checksum hits. */
static const u8 *scan_mp(u64 base, u64 len, int *bad)
{
        for (u64 a = base; a + 16 <= base + len; a += 16) {
                const u8 *p = (const u8 *)a;
                if (*(const u32_any *)p != MP_FP_SIG)
                        continue;
                if (p[8] != 0 && checksum_ok(p, p[8] * 16u))
                        return p;
                *bad = 1;
        }
        return 0;
}

/* Counts enabled processor entries of the MP table, or says why it cannot. */
static void report_cpus(void)
{
        int bad = 0;
        u64 ebda = (u64) * (const u16_any *)phys(0x40e) << 4; /* BDA: EBDA segment */
        const u8 *fp = 0;

        if (ebda && mapped(ebda, 1024))
                fp = scan_mp(ebda, 1024, &bad);
        if (!fp)
                fp = scan_mp(0x9fc00, 0x400, &bad);
        if (!fp)
                fp = scan_mp(0xf0000, 0x10000, &bad);
        if (!fp) {
                say("cpus-error %s", bad ? "floating-pointer-checksum" : "no-floating-pointer");
                return;
        }

        u64 cfg_pa = *(const u32_any *)(fp + 4);
        if (!cfg_pa) {
                say("cpus-error no-config-table");
                return;
        }
        const u8 *cfg = (const u8 *)cfg_pa;
        if (*(const u32_any *)cfg != MP_CFG_SIG) {
                say("cpus-error config-signature");
                return;
        }
        u16 len = *(const u16_any *)(cfg + 4);
        if (len < 0x2c || !checksum_ok(cfg, len)) {
                say("cpus-error config-checksum");
                return;
        }

        /* Walk by the table length, as Linux does; the entry count must agree unless 0 (qboot). */
        unsigned count = *(const u16_any *)(cfg + 0x22), entries = 0, cpus = 0;
        const u8 *p = cfg + 0x2c, *end = cfg + len;
        while (p < end) {
                unsigned size = p[0] == 0 ? 20 : 8;
                if (p[0] > 4) {
                        say("cpus-error config-entry-type");
                        return;
                }
                if (p + size > end) {
                        say("cpus-error config-overflow");
                        return;
                }
                if (p[0] == 0 && (p[3] & 1)) /* processor entry, CPU_ENABLED */
                        cpus++;
                entries++;
                p += size;
        }
        if (count && count != entries) {
                say("cpus-error config-entry-count");
                return;
        }
        say("cpus %u", cpus);
}

static void report_cpuid(void)
{
        u32 r[4], l1[4], l7[4] = {0, 0, 0, 0}, hv[4], kvm[4];
        char vendor[12];

        cpuid(0, 0, r);
        for (int i = 0; i < 4; i++) {
                vendor[i] = (char)(r[1] >> (8 * i));
                vendor[4 + i] = (char)(r[3] >> (8 * i));
                vendor[8 + i] = (char)(r[2] >> (8 * i));
        }
        cpuid(1, 0, l1);
        if (r[0] >= 7)
                cpuid(7, 0, l7);
        cpuid(0x40000000, 0, hv);
        cpuid(0x40000001, 0, kvm);
        say("cpuid leaf1.ecx=0x%08x leaf1.edx=0x%08x leaf7.ebx=0x%08x leaf7.ecx=0x%08x "
            "hv=0x%08x kvm.eax=0x%08x",
            l1[2], l1[3], l7[1], l7[2], hv[0], kvm[0]);
        say_bytes("cpuid-vendor ", (const u8 *)vendor, sizeof(vendor));
}

/*
 * With brasa.cpuid: the topology and extended-feature words (leaf 1 EBX, 0xB
 * levels 0 and 1, leaf 4 subleaf 0, 0x80000001, 0x80000008 ECX, 0x8000001E EBX).
 */
static void report_cpuid_topology(void)
{
        u32 l1[4], b0[4], b1[4], l4[4] = {0, 0, 0, 0}, x1[4], x8[4] = {0, 0, 0, 0};
        u32 x1e[4] = {0, 0, 0, 0}, xmax[4];

        cpuid(1, 0, l1);
        cpuid(0xb, 0, b0);
        cpuid(0xb, 1, b1);
        cpuid(4, 0, l4);
        cpuid(0x80000000, 0, xmax);
        cpuid(0x80000001, 0, x1);
        if (xmax[0] >= 0x80000008)
                cpuid(0x80000008, 0, x8);
        if (xmax[0] >= 0x8000001e)
                cpuid(0x8000001e, 0, x1e);
        say("cpuid-topo leaf1.ebx=0x%08x b0.eax=0x%08x b0.ebx=0x%08x b0.ecx=0x%08x "
            "b1.ebx=0x%08x b1.ecx=0x%08x leaf4.eax=0x%08x",
            l1[1], b0[0], b0[1], b0[2], b1[1], b1[2], l4[0]);
        say("cpuid-ext x1.ecx=0x%08x x1.edx=0x%08x x8.ecx=0x%08x x1e.ebx=0x%08x", x1[2], x1[3],
            x8[2], x1e[1]);
}

/*
 * FNV-1a 32 over little-endian 32-bit words, then over the 0-3 tail bytes:
 * a quarter of byte-wise FNV's emulated instructions. README.md has a Python copy.
 */
u32 fnv1a32w(const u8 *p, u64 n)
{
        const u32 prime = 0x01000193u;
        const u32_any *w = (const u32_any *)p;
        u32 h = 0x811c9dc5u;
        u64 words = n / 4, i = 0;

        for (; i + 4 <= words; i += 4) { /* unrolled by hand: fewer loop instructions */
                h = (h ^ w[i]) * prime;
                h = (h ^ w[i + 1]) * prime;
                h = (h ^ w[i + 2]) * prime;
                h = (h ^ w[i + 3]) * prime;
        }
        for (; i < words; i++)
                h = (h ^ w[i]) * prime;
        for (i = words * 4; i < n; i++)
                h = (h ^ p[i]) * prime;
        return h;
}

static void report_initrd(const struct boot_facts *f)
{
        if (!f->initrd_size) {
                say("initrd none");
                return;
        }
        if (!mapped(f->initrd, f->initrd_size))
                panic("initrd-unmapped");
        say("initrd addr=0x%lx size=0x%lx sum=0x%08x", f->initrd, f->initrd_size,
            fnv1a32w((const u8 *)f->initrd, f->initrd_size));
}

static void echo_line(void)
{
        u8 line[MAX_ECHO];
        u64 n = 0;

        say("echo ready");
        while (n < MAX_ECHO) {
                int c = serial_getc();
                if (c == '\n' || c == '\r')
                        break;
                line[n++] = (u8)c;
        }
        say_bytes("echo ", line, n);
}

struct idt_gate {
        u16 off_lo;
        u16 selector;
        u8 ist;
        u8 type;
        u16 off_mid;
        u32 off_hi;
        u32 zero;
} __attribute__((packed));

static struct idt_gate idt[256]; /* 32 exceptions; the tests add the vectors they use */

void idt_set(u32 vec, u64 handler)
{
        idt[vec & 0xff].off_lo = (u16)handler;
        idt[vec & 0xff].selector = 0x08;
        idt[vec & 0xff].type = 0x8e; /* present, DPL0, 64-bit interrupt gate */
        idt[vec & 0xff].off_mid = (u16)(handler >> 16);
        idt[vec & 0xff].off_hi = (u32)(handler >> 32);
}

/* Exceptions print a panic line instead of silently triple-faulting; other vectors #NP. */
static void setup_idt(void)
{
        for (int i = 0; i < 32; i++)
                idt_set((u32)i, isr_table[i]);
        struct {
                u16 limit;
                u64 base;
        } __attribute__((packed)) desc = {sizeof(idt) - 1, (u64)idt};
        __asm__ volatile("lidt %0" : : "m"(desc));
}

void guest_exception(const u64 *frame)
{
        u64 cr2;

        __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
        say("panic exception vec=%lu err=0x%lx rip=0x%lx cr2=0x%lx", frame[0], frame[1], frame[2],
            cr2);
        reset_machine();
}

/* The decimal value of the word "<prefix><digits>" on the command line, or dflt. */
static u32 word_num(const u8 *s, u64 n, const char *prefix, u32 dflt)
{
        for (u64 i = 0; i < n;) {
                while (i < n && s[i] == ' ')
                        i++;
                u64 j = 0;
                while (i + j < n && prefix[j] && s[i + j] == (u8)prefix[j])
                        j++;
                if (!prefix[j]) {
                        u32 v = 0;
                        for (i += j; i < n && s[i] >= '0' && s[i] <= '9'; i++)
                                v = v * 10 + (u32)(s[i] - '0');
                        return v;
                }
                while (i < n && s[i] != ' ')
                        i++;
        }
        return dflt;
}

/* bytes of console output as fast as the UART takes it (rate-limit and liveness tests). */
static void serial_flood(u32 bytes)
{
        say("serialflood start bytes=%u", bytes);
        for (u32 i = 0; i < bytes; i++)
                serial_putc(i % 64 == 63 ? '\n' : (char)('a' + i % 26));
        say("serialflood done");
}

/*
 * brasa.count[=N]: counts forever, one "BRASA count <n>" line after every N (default 2^18)
 * turns of a busy loop. The counter lives in guest memory and registers only, so a paused or
 * snapshotted guest must go on from the last number it printed. With brasa.acpi before it,
 * a "BRASA genid id=<hex>" line too, first and whenever the VMGenID changes (a restore).
 */
static void count_forever(u32 spins)
{
        volatile const u64 *gen = acpi_vmgenid_pa ? phys(acpi_vmgenid_pa) : 0;
        u64 lo = 0, hi = 0;

        for (u64 n = 0;; n++) {
                if (gen && (n == 0 || gen[0] != lo || gen[1] != hi)) {
                        lo = gen[0];
                        hi = gen[1];
                        say("genid id=%016lx%016lx", hi, lo);
                }
                say("count %lu", n);
                for (volatile u32 i = 0; i < spins; i++)
                        ;
        }
}

/*
 * An idle guest stands for a booted Linux, whose drivers are up long before anyone talks to
 * it: so brasa.idle brings its balloon and virtio-mem drivers up first, before the IDT and the
 * slow reports (Firecracker takes PATCH /balloon and /hotplug/memory only once the driver is
 * active). Every guest instruction
 * is costly where KVM emulates kernel mode (kvm_pvm: about 0.5 us each), so the command line
 * is read in one pass that finds brasa.idle and the virtio-mmio bases together.
 */
#define IDLE_MAX_MMIO 32

/* Index of the first c in p[0..n), or n: one repne scasb, whatever n is. */
static u64 find_byte(const u8 *p, u64 n, u8 c)
{
        const u8 *d = p;
        u64 left = n;

        if (!n)
                return 0;
        __asm__ volatile("repne scasb" : "+D"(d), "+c"(left) : "a"(c) : "cc", "memory");
        return d[-1] == c ? (u64)(d - p) - 1 : n;
}

/* p[0..n) == s[0..n) for n > 0: one repe cmpsb. */
static int same_bytes(const u8 *p, const char *s, u64 n)
{
        u64 left = n;
        u8 eq;

        __asm__ volatile("repe cmpsb; sete %0"
                         : "=q"(eq), "+S"(p), "+D"(s), "+c"(left)
                         :
                         : "cc", "memory");
        return eq;
}

static u64 idle_scan(const u8 *p, u64 *bases, u64 *nb)
{
        static const char key[] = "virtio_mmio.device=";
        const u64 klen = sizeof(key) - 1;
        u64 n = find_byte(p, MAX_CMDLINE, 0), i = 0, idle = 0;

        while (i < n) {
                if (p[i] == ' ') {
                        i++;
                        continue;
                }
                u64 w = i;
                i += find_byte(p + i, n - i, ' ');
                if (i - w == 10 && same_bytes(p + w, "brasa.idle", 10))
                        idle = 1;
                else if (i - w > klen + 3 && *nb < IDLE_MAX_MMIO && same_bytes(p + w, key, klen)) {
                        u64 at = w + klen + find_byte(p + w + klen, i - w - klen, '@');
                        if (at + 3 < i) /* <size>@0x<base>[:<irq>] */
                                bases[(*nb)++] = cmd_num(p + at + 3, i - at - 3, 16);
                }
        }
        return idle;
}

static void idle_drivers_first(u32 proto, u64 info)
{
        u64 pa = 0, bases[IDLE_MAX_MMIO], nb = 0;

        if (!mapped(info, 4096))
                return;
        if (proto == PROTO_PVH)
                pa = ((const struct pvh_start_info *)info)->cmdline_paddr;
        else
                pa = ((const struct boot_params *)info)->hdr.cmd_line_ptr;
        if (!pa || !mapped(pa, MAX_CMDLINE) || !idle_scan((const u8 *)pa, bases, &nb))
                return;
        for (u64 i = 0; i < nb; i++) {
                u32 id = mapped(bases[i], 4096)
                             ? *(volatile u32 *)(bases[i] + VIRTIO_MMIO_DEVICE_ID)
                             : 0;
                if (id == VIRTIO_ID_BALLOON)
                        balloon_idle_driver(bases[i]);
                else if (id == 24) /* virtio-mem */
                        vmem_idle_driver(bases[i]);
        }
        pci_idle_driver();
}

/* brasa.acpi, brasa.acpi.poweroff, brasa.acpi.sleep=<type>: the RSDP from the boot info. */
static void acpi_mode(u32 proto, u64 info, const u8 *cmd, u64 cmdlen)
{
        int sleep = (int)cmd_opt(cmd, cmdlen, "brasa.acpi.sleep=", (u32)-1);

        if (has_word(cmd, cmdlen, "brasa.acpi.poweroff"))
                sleep = ACPI_POWEROFF;
        if (proto == PROTO_PVH)
                acpi_tests(((const struct pvh_start_info *)info)->rsdp_paddr, "startinfo", sleep);
        else if (proto == PROTO_LINUX64)
                acpi_tests(((const struct boot_params *)info)->acpi_rsdp_addr, "zeropage", sleep);
        else
                acpi_tests(0, "none", sleep); /* legacy loaders: the BIOS-area scan */
}

void guest_main(u32 proto, u64 info)
{
        static const char *const names[] = {"pvh", "linux64", "linux32"};
        struct boot_facts f = {0, 0, 0, 0};

        idle_drivers_first(proto, info);
        setup_idt();
        say("hello proto=%s", names[proto]);
        if (!mapped(info, 4096))
                panic("boot-info-unmapped");
        if (proto == PROTO_PVH)
                report_pvh((const struct pvh_start_info *)info, &f);
        else
                report_linux((const struct boot_params *)info, &f);
        u64 cmdlen = report_cmdline(f.cmdline);
        const u8 *cmd = (const u8 *)f.cmdline;
        if (has_word(cmd, cmdlen, "brasa.quick")) {
                /* Benchmarks: skip the slow reports (MP scan, checksums) and reset at once. */
                if (has_word(cmd, cmdlen, "brasa.boottimer"))
                        __asm__ volatile("movb %1, (%0)"
                                         :
                                         : "r"(0xc0000000ul), "i"(123)
                                         : "memory");
                say("done");
                reset_machine();
        }
        report_cpus();
        report_cpuid();
        if (has_word(cmd, cmdlen, "brasa.cpuid"))
                report_cpuid_topology();
        report_initrd(&f);
        say("mem-top 0x%lx", f.mem_top);

        if (has_word(cmd, cmdlen, "brasa.boottimer")) {
                /* One movb: the boot timer device reacts to a 1-byte write of 123. */
                __asm__ volatile("movb %1, (%0)" : : "r"(0xc0000000ul), "i"(123) : "memory");
                say("boottimer written");
        }
        if (has_word(cmd, cmdlen, "brasa.boottimer.flood")) {
                /* A guest that writes the magic over and over: the host log must not grow. */
                for (int i = 0; i < 100000; i++)
                        __asm__ volatile("movb %1, (%0)"
                                         :
                                         : "r"(0xc0000000ul), "i"(123)
                                         : "memory");
                say("boottimer flooded");
        }
        if (has_word(cmd, cmdlen, "brasa.echo"))
                echo_line();
        if (has_word(cmd, cmdlen, "brasa.serialflood"))
                serial_flood(SERIAL_FLOOD_BYTES);
        else if (word_num(cmd, cmdlen, "brasa.serialflood=", 0))
                serial_flood(word_num(cmd, cmdlen, "brasa.serialflood=", 0) << 10);
        /* brasa.acpi with a count: the tables first, so the count can watch the VMGenID. */
        if (has_word(cmd, cmdlen, "brasa.acpi") &&
            (has_word(cmd, cmdlen, "brasa.count") || word_num(cmd, cmdlen, "brasa.count=", 0)))
                acpi_mode(proto, info, cmd, cmdlen);
        if (has_word(cmd, cmdlen, "brasa.count"))
                count_forever(1u << 18);
        else if (word_num(cmd, cmdlen, "brasa.count=", 0))
                count_forever(word_num(cmd, cmdlen, "brasa.count=", 0));
        if (has_word(cmd, cmdlen, "brasa.idle")) {
                /* Idle like a quiet guest: the vCPU sleeps in the kernel, using no host CPU. */
                say("idle");
                for (;;)
                        __asm__ volatile("cli; hlt");
        }
        if (has_word(cmd, cmdlen, "brasa.acpi") || has_word(cmd, cmdlen, "brasa.acpi.poweroff") ||
            cmd_word(cmd, cmdlen, "brasa.acpi.sleep=", &(u64){0}))
                acpi_mode(proto, info, cmd, cmdlen);
        pit_tests(cmd, cmdlen);     /* brasa.pit: the PIT's channels 0 and 2 */
        pci_tests(cmd, cmdlen);     /* brasa.pci: the devices on the PCI bus */
        mmds_tests(cmd, cmdlen);    /* the metadata client owns the net device when asked */
        net_tests(cmd, cmdlen);     /* before the block driver: hostile net, then healthy block */
        rng_tests(cmd, cmdlen);     /* before the block driver: hostile rng, then healthy block */
        vsock_tests(cmd, cmdlen);   /* likewise */
        balloon_tests(cmd, cmdlen); /* likewise */
        pmem_tests(cmd, cmdlen);    /* likewise */
        vmem_tests(cmd, cmdlen);    /* likewise */
        virtio_tests(cmd, cmdlen);
        if (has_word(cmd, cmdlen, "brasa.halt")) {
                say("halting");
                spin_forever();
        }
        if (has_word(cmd, cmdlen, "brasa.badinsn")) {
                say("badinsn");
                bad_instruction();
        }
        say("done");
        reset_machine();
}
