/* The test guest's ACPI checks: find the RSDP, verify each table, scan the DSDT's AML. */
#include "guest.h"

#define BIOS_AREA     0xe0000ULL /* where a guest without a pointer scans for the RSDP */
#define BIOS_AREA_END 0x100000ULL
#define HDR           36 /* the common table header */
#define MAX_TABLE     (1u << 20)

typedef u64 __attribute__((may_alias, aligned(1))) u64_un;
typedef u32 __attribute__((may_alias, aligned(1))) u32_un;

static u32 rd32(const u8 *p)
{
        return *(const u32_un *)p;
}

static u64 rd64(const u8 *p)
{
        return *(const u64_un *)p;
}

static int sum_ok(const u8 *p, u64 n)
{
        u8 s = 0;

        for (u64 i = 0; i < n; i++)
                s += p[i];
        return s == 0;
}

static int same(const u8 *p, const char *s, u64 n)
{
        for (u64 i = 0; i < n; i++)
                if (p[i] != (u8)s[i])
                        return 0;
        return 1;
}

/* Copies n bytes of p into a NUL-terminated printable name. */
static const char *name_of(const u8 *p, u64 n, char *out)
{
        for (u64 i = 0; i < n; i++)
                out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
        out[n] = 0;
        return out;
}

/* The RSDP at pa: both checksums, revision 2, its length. */
static const u8 *check_rsdp(u64 pa, const char *source)
{
        char oem[7];

        if (!mapped(pa, 36))
                panic("acpi-rsdp-unmapped");
        const u8 *r = phys(pa);
        if (!same(r, "RSD PTR ", 8))
                panic("acpi-rsdp-signature");
        if (!sum_ok(r, 20) || !sum_ok(r, 36))
                panic("acpi-rsdp-checksum");
        if (r[15] < 2 || rd32(r + 20) != 36)
                panic("acpi-rsdp-revision");
        say("acpi rsdp addr=0x%lx source=%s rev=%u length=%u xsdt=0x%lx oem=%s", pa, source, r[15],
            rd32(r + 20), rd64(r + 24), name_of(r + 9, 6, oem));
        return r;
}

/* Scans the BIOS area on 16-byte boundaries, as a guest given no pointer does. */
static u64 scan_rsdp(void)
{
        for (u64 a = BIOS_AREA; a < BIOS_AREA_END; a += 16)
                if (same(phys(a), "RSD PTR ", 8) && sum_ok(phys(a), 20))
                        return a;
        return 0;
}

/* A table at pa with signature sig: mapped, its checksum over its length. */
static const u8 *table(u64 pa, const char *sig)
{
        char s[5], oem[7], id[9];

        if (!mapped(pa, HDR))
                panic("acpi-table-unmapped");
        const u8 *t = phys(pa);
        u32 len = rd32(t + 4);
        if (sig && !same(t, sig, 4))
                panic("acpi-table-signature");
        if (len < HDR || len > MAX_TABLE || !mapped(pa, len))
                panic("acpi-table-length");
        if (!sum_ok(t, len))
                panic("acpi-table-checksum");
        say("acpi table sig=%s addr=0x%lx len=%u rev=%u oem=%s id=%s", name_of(t, 4, s), pa, len,
            t[8], name_of(t + 10, 6, oem), name_of(t + 16, 8, id));
        return t;
}

static void report_madt(const u8 *m)
{
        u32 len = rd32(m + 4), lapics = 0;

        say("acpi madt lapic_addr=0x%x flags=0x%x", rd32(m + 36), rd32(m + 40));
        for (u32 off = 44; off + 2 <= len;) {
                const u8 *e = m + off;
                if (e[1] < 2 || off + e[1] > len)
                        panic("acpi-madt-entry");
                if (e[0] == 0) {
                        say("acpi lapic uid=%u id=%u flags=0x%x", e[2], e[3], rd32(e + 4));
                        lapics += rd32(e + 4) & 1;
                } else if (e[0] == 1) {
                        say("acpi ioapic id=%u addr=0x%x gsi_base=%u", e[2], rd32(e + 4),
                            rd32(e + 8));
                } else {
                        say("acpi madt-entry type=%u", e[0]);
                }
                off += e[1];
        }
        say("acpi madt-count lapics=%u", lapics);
}

/* A PkgLength at p (AML 20.2.4): the value, and its own size in *n. */
static u32 pkg_len(const u8 *p, u32 *n)
{
        u32 extra = p[0] >> 6, v = extra ? p[0] & 0xf : p[0] & 0x3f;

        for (u32 i = 0; i < extra; i++)
                v |= (u32)p[1 + i] << (4 + 8 * i);
        *n = 1 + extra;
        return v;
}

/* The offset of needle in p[0..n), or -1. */
static long find(const u8 *p, u64 n, const void *needle, u64 k)
{
        for (u64 i = 0; i + k <= n; i++)
                if (same(p + i, needle, k))
                        return (long)i;
        return -1;
}

/* The last segment of the NameString at p (4 chars), and the NameString's size in *n. */
static const u8 *last_seg(const u8 *p, u32 *n)
{
        u32 pre = 0, segs = 1;

        if (p[0] == '\\')
                pre = 1;
        if (p[pre] == 0x2e) {
                segs = 2;
                pre += 1;
        } else if (p[pre] == 0x2f) {
                segs = p[pre + 1];
                pre += 2;
        }
        *n = pre + 4 * segs;
        return p + pre + 4 * (segs - 1);
}

/* A DWord constant named key inside body (Name(key, DWord)), or ~0. */
static u32 named_dword(const u8 *b, u64 n, const char *key)
{
        long at = find(b, n, key, 4);

        if (at < 0 || (u64)at + 9 > n || b[at + 4] != 0x0c)
                return ~0u;
        return rd32(b + at + 5);
}

/* The first Extended Interrupt descriptor's GSI in body, or ~0. */
static u32 first_irq(const u8 *b, u64 n)
{
        long at = find(b, n, "\x89\x06\x00", 3);

        return at < 0 || (u64)at + 9 > n ? ~0u : rd32(b + at + 5);
}

static void report_virtio(const char *name, const u8 *b, u64 n)
{
        long mem = find(b, n, "\x86\x09\x00", 3);

        if (mem < 0 || (u64)mem + 12 > n)
                panic("acpi-virtio-no-window");
        say("acpi virtio name=%s uid=%u base=0x%x size=0x%x gsi=%u", name,
            named_dword(b, n, "_UID"), rd32(b + mem + 4), rd32(b + mem + 8), first_irq(b, n));
}

u64 acpi_vmgenid_pa;

/* VGEN's ADDR package: two DWords, low then high; the 16-byte ID lives there. */
static void report_vmgenid(const u8 *b, u64 n)
{
        long at = find(b, n, "ADDR\x12", 5);
        u32 len;

        if (at < 0 || (u64)at + 17 > n) /* "ADDR", PackageOp, PkgLength, count, 2 DWords */
                panic("acpi-vmgenid-no-addr");
        const u8 *p = b + at + 5;
        pkg_len(p, &len);
        p += len + 1; /* PkgLength, then NumElements */
        if (p[0] != 0x0c || p[5] != 0x0c)
                panic("acpi-vmgenid-addr-format");
        u64 addr = rd32(p + 1) | (u64)rd32(p + 6) << 32;
        if (!mapped(addr, 16))
                panic("acpi-vmgenid-unmapped");
        acpi_vmgenid_pa = addr;
        say("acpi vmgenid addr=0x%lx id=%016lx%016lx", addr, rd64(phys(addr) + 8),
            rd64(phys(addr)));
}

/* VCLK's _CRS: a QWord memory range, holding the VMClock page. */
static void report_vmclock(const u8 *b, u64 n)
{
        long at = find(b, n, "\x8a\x2b\x00", 3);

        if (at < 0 || (u64)at + 46 > n)
                panic("acpi-vmclock-no-range");
        u64 min = rd64(b + at + 14), max = rd64(b + at + 22);
        if (max < min || !mapped(min, max - min + 1) || max - min + 1 < 112)
                panic("acpi-vmclock-range");
        const u8 *c = phys(min);
        say("acpi vmclock addr=0x%lx size=0x%lx magic=0x%x page_size=0x%x version=%u counter_id=%u "
            "flags=0x%lx status=%u gen=%lu",
            min, max - min + 1, rd32(c), rd32(c + 4), c[8] | c[9] << 8, c[10], rd64(c + 24), c[34],
            rd64(c + 104));
}

/* The GED's interrupts: its Extended Interrupt descriptors, in order. */
static void report_ged(const u8 *b, u64 n)
{
        u32 first = first_irq(b, n), second = ~0u;
        long at = find(b, n, "\x89\x06\x00", 3);

        if (at >= 0 && (u64)at + 9 < n)
                second = first_irq(b + at + 9, n - (u64)at - 9);
        say("acpi ged gsi=%u gsi2=%u", first, second);
}

static void report_device(const u8 *d, u64 n)
{
        u32 nl;
        char name[5];
        const u8 *seg = last_seg(d, &nl);

        if (nl > n)
                panic("acpi-aml-name");
        name_of(seg, 4, name);
        const u8 *b = d + nl;
        n -= nl;
        if (find(b, n, "\x0dLNRO0005\x00", 10) >= 0)
                report_virtio(name, b, n);
        else if (same(seg, "VGEN", 4))
                report_vmgenid(b, n);
        else if (same(seg, "VCLK", 4))
                report_vmclock(b, n);
        else if (same(seg, "GED_", 4))
                report_ged(b, n);
        else
                say("acpi device name=%s irq=%u", name, first_irq(b, n));
}

/* \_S5's first element: the SLP_TYP for the sleep-control register. */
static u32 s5_type(const u8 *a, u64 n)
{
        long at = find(a, n, "\x08_S5_\x12", 6);
        u32 len;

        if (at < 0 || (u64)at + 10 > n)
                panic("acpi-no-s5");
        const u8 *p = a + at + 6;
        pkg_len(p, &len);
        p += len + 1;
        if (p[0] == 0x0a)
                return p[1];
        if (p[0] <= 1) /* ZeroOp, OneOp */
                return p[0];
        panic("acpi-s5-format");
}

/*
 * A minimal AML scan: every DeviceOp, skipped whole once read (brasa's DSDT puts every
 * device at the top level), and \_S5.
 */
static u32 scan_dsdt(const u8 *t)
{
        const u8 *a = t + HDR;
        u64 n = rd32(t + 4) - HDR;
        u32 devices = 0, len, ln;

        for (u64 i = 0; i + 3 < n;) {
                if (a[i] != 0x5b || a[i + 1] != 0x82) {
                        i++;
                        continue;
                }
                len = pkg_len(a + i + 2, &ln);
                if (len < ln || i + 2 + len > n)
                        panic("acpi-aml-pkglength");
                report_device(a + i + 2 + ln, len - ln);
                devices++;
                i += 2 + len;
        }
        u32 s5 = s5_type(a, n);
        say("acpi dsdt devices=%u s5=%u", devices, s5);
        return s5;
}

/* The FADT's sleep-control register: an 8-bit I/O register, or a panic. */
static u16 sleep_port(const u8 *f, int status)
{
        const u8 *g = f + (status ? 256 : 244);

        if (rd32(f + 4) < 268 || g[0] != 1 || g[1] != 8 || rd64(g + 4) > 0xffff)
                panic("acpi-sleep-register");
        return (u16)rd64(g + 4);
}

/*
 * Writes SLP_TYP type with SLP_EN to the sleep-control register, then polls the status
 * register for WAK_STS as Linux does, a bounded number of times (each read is a VM exit):
 * a VMM that powers off ends the guest during the wait.
 */
static void enter_sleep(const u8 *fadt, u32 type)
{
        u16 sts = sleep_port(fadt, 1);

        outb(sleep_port(fadt, 0), (u8)((type << 2 & 0x1c) | 0x20));
        for (u32 i = 0; i < 100000; i++)
                if (inb(sts) & 0x80)
                        panic("acpi-woken");
}

void acpi_tests(u64 rsdp_ptr, const char *source, int sleep_type)
{
        u64 pa = rsdp_ptr ? rsdp_ptr : scan_rsdp();
        const u8 *r = check_rsdp(pa, rsdp_ptr ? source : "scan");
        const u8 *x = table(rd64(r + 24), "XSDT"), *fadt = 0, *madt = 0;

        for (u32 off = HDR; off + 8 <= rd32(x + 4); off += 8) {
                const u8 *t = table(rd64(x + off), 0);
                if (same(t, "FACP", 4))
                        fadt = t;
                else if (same(t, "APIC", 4))
                        madt = t;
        }
        if (!fadt || !madt)
                panic("acpi-missing-table");
        say("acpi fadt flags=0x%x minor=%u sleep_ctl=0x%x sleep_sts=0x%x "
            "hypervisor=%c%c%c%c%c%c%c%c",
            rd32(fadt + 112), fadt[131], sleep_port(fadt, 0), sleep_port(fadt, 1), fadt[268],
            fadt[269], fadt[270], fadt[271], fadt[272], fadt[273], fadt[274], fadt[275]);
        report_madt(madt);
        u32 s5 = scan_dsdt(table(rd64(fadt + 140), "DSDT"));
        say("acpi checked");
        if (sleep_type == ACPI_POWEROFF) {
                say("acpi poweroff slp_typ=%u", s5);
                enter_sleep(fadt, s5);
                panic("acpi-poweroff-ignored");
        }
        if (sleep_type >= 0) {
                say("acpi sleep slp_typ=%u", (u32)sleep_type);
                enter_sleep(fadt, (u32)sleep_type);
                say("acpi sleep-ignored");
        }
}
