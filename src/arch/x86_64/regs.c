/* vCPU boot state: boot GDT/IDT and page tables in guest RAM, and regs/sregs/FPU/MSRs/LAPIC via
 * KVM. */
#include "arch/x86_64/regs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

/* Control-register and EFER bits. */
#define CR0_PE   (1ULL << 0)
#define CR0_ET   (1ULL << 4)
#define CR0_PG   (1ULL << 31)
#define CR4_PAE  (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

/* Page-table entry bits: present, writable, 2 MiB page. */
#define PTE_P      0x01ULL
#define PTE_RW     0x02ULL
#define PTE_PS     0x80ULL
#define PT_ENTRIES 512

/* MSR indices (Intel SDM vol. 4). */
#define MSR_IA32_TSC            0x00000010
#define MSR_IA32_SYSENTER_CS    0x00000174
#define MSR_IA32_SYSENTER_ESP   0x00000175
#define MSR_IA32_SYSENTER_EIP   0x00000176
#define MSR_IA32_MISC_ENABLE    0x000001a0
#define MSR_MTRR_DEF_TYPE       0x000002ff
#define MSR_STAR                0xc0000081
#define MSR_LSTAR               0xc0000082
#define MSR_CSTAR               0xc0000083
#define MSR_SYSCALL_MASK        0xc0000084
#define MSR_KERNEL_GS_BASE      0xc0000102
#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MTRR_DEF_ENABLE         (1ULL << 11)
#define MTRR_TYPE_WB            0x6ULL

/* LAPIC register offsets and LVT delivery modes. */
#define APIC_LVT_LINT0   0x350
#define APIC_LVT_LINT1   0x360
#define APIC_MODE_MASK   0x700u
#define APIC_MODE_NMI    0x4u
#define APIC_MODE_EXTINT 0x7u

#define RFLAGS_RESERVED 0x2ULL /* bit 1 always reads as 1 */

uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
        return (((uint64_t)base & 0xff000000ULL) << 32) | (((uint64_t)flags & 0xf0ffULL) << 40) |
               (((uint64_t)limit & 0x000f0000ULL) << 32) |
               (((uint64_t)base & 0x00ffffffULL) << 16) | ((uint64_t)limit & 0xffffULL);
}

static uint8_t desc_bit(uint64_t entry, unsigned int bit)
{
        return (uint8_t)((entry >> bit) & 1);
}

struct kvm_segment regs_segment_from_gdt(uint64_t entry, uint8_t index)
{
        struct kvm_segment s;
        uint32_t limit = (uint32_t)(((entry >> 32) & 0xf0000ULL) | (entry & 0xffffULL));

        memset(&s, 0, sizeof(s));
        s.base = ((entry >> 32) & 0xff000000ULL) | ((entry >> 16) & 0x00ffffffULL);
        s.g = desc_bit(entry, 55);
        /* KVM takes the byte limit; the CPU would scale a G=1 limit by 4 KiB. */
        s.limit = s.g ? (limit << 12) | 0xfff : limit;
        s.selector = (uint16_t)(index * 8);
        s.type = (uint8_t)((entry >> 40) & 0xf);
        s.s = desc_bit(entry, 44);
        s.dpl = (uint8_t)((entry >> 45) & 3);
        s.present = desc_bit(entry, 47);
        s.avl = desc_bit(entry, 52);
        s.l = desc_bit(entry, 53);
        s.db = desc_bit(entry, 54);
        s.unusable = !s.present;
        return s;
}

void regs_boot_gdt(bool pvh, uint64_t gdt[LAYOUT_BOOT_GDT_ENTRIES])
{
        gdt[0] = 0;
        if (pvh) {
                /* PVH enters in 32-bit protected mode: flat 4 GiB segments. */
                gdt[1] = gdt_entry(0xc09b, 0, 0xfffff);
                gdt[2] = gdt_entry(0xc093, 0, 0xfffff);
                gdt[3] = gdt_entry(0x008b, 0, 0x67);
        } else {
                gdt[1] = gdt_entry(0xa09b, 0, 0xfffff); /* L=1: 64-bit code */
                gdt[2] = gdt_entry(0xc093, 0, 0xfffff);
                gdt[3] = gdt_entry(0x808b, 0, 0xfffff);
        }
}

static int write_page_tables(const struct guest_mem *m)
{
        uint64_t table[PT_ENTRIES];
        unsigned int i;
        int rc;

        /* Whole pages, so every entry not set here is non-present. */
        memset(table, 0, sizeof(table));
        table[0] = LAYOUT_PDPTE_START | PTE_P | PTE_RW;
        rc = guest_mem_write(m, LAYOUT_PML4_START, table, sizeof(table));
        if (rc)
                return rc;
        table[0] = LAYOUT_PDE_START | PTE_P | PTE_RW;
        rc = guest_mem_write(m, LAYOUT_PDPTE_START, table, sizeof(table));
        if (rc)
                return rc;
        for (i = 0; i < PT_ENTRIES; i++)
                table[i] = ((uint64_t)i << 21) | PTE_P | PTE_RW | PTE_PS;
        return guest_mem_write(m, LAYOUT_PDE_START, table, sizeof(table));
}

int regs_write_boot_tables(const struct guest_mem *m, bool pvh)
{
        uint64_t gdt[LAYOUT_BOOT_GDT_ENTRIES];
        uint64_t idt = 0;
        int rc;

        regs_boot_gdt(pvh, gdt);
        rc = guest_mem_write(m, LAYOUT_BOOT_GDT_START, gdt, sizeof(gdt));
        if (rc)
                return rc;
        /* One empty gate: any early exception becomes a triple fault, which KVM reports. */
        rc = guest_mem_write(m, LAYOUT_BOOT_IDT_START, &idt, sizeof(idt));
        if (rc || pvh)
                return rc;
        return write_page_tables(m);
}

void regs_boot_regs(struct kvm_regs *r, bool pvh, uint64_t entry)
{
        memset(r, 0, sizeof(*r));
        r->rflags = RFLAGS_RESERVED;
        r->rip = entry;
        if (pvh) {
                r->rbx = LAYOUT_PVH_INFO_START;
        } else {
                r->rsp = LAYOUT_BOOT_STACK_POINTER;
                r->rbp = LAYOUT_BOOT_STACK_POINTER;
                r->rsi = LAYOUT_ZERO_PAGE_START;
        }
}

void regs_boot_sregs(struct kvm_sregs *s, bool pvh)
{
        uint64_t gdt[LAYOUT_BOOT_GDT_ENTRIES];
        struct kvm_segment data;

        regs_boot_gdt(pvh, gdt);
        data = regs_segment_from_gdt(gdt[2], 2);
        s->cs = regs_segment_from_gdt(gdt[1], 1);
        s->ds = data;
        s->es = data;
        s->fs = data;
        s->gs = data;
        s->ss = data;
        s->tr = regs_segment_from_gdt(gdt[3], 3);
        s->gdt.base = LAYOUT_BOOT_GDT_START;
        s->gdt.limit = (uint16_t)(sizeof(gdt) - 1);
        s->idt.base = LAYOUT_BOOT_IDT_START;
        s->idt.limit = (uint16_t)(sizeof(uint64_t) - 1);
        if (pvh) {
                s->cr0 = CR0_PE | CR0_ET;
                s->cr4 = 0;
                return;
        }
        /* Other bits keep KVM's reset values, as Firecracker does. */
        s->cr0 |= CR0_PE | CR0_PG;
        s->cr3 = LAYOUT_PML4_START;
        s->cr4 |= CR4_PAE;
        s->efer |= EFER_LME | EFER_LMA;
}

void regs_boot_fpu(struct kvm_fpu *f)
{
        memset(f, 0, sizeof(*f));
        f->fcw = 0x37f;    /* x87 default: all exceptions masked, extended precision */
        f->mxcsr = 0x1f80; /* SSE default: all exceptions masked */
}

void regs_boot_msrs(struct kvm_msr_entry out[REGS_BOOT_MSRS])
{
        static const uint32_t zeroed[] = {
            MSR_IA32_SYSENTER_CS,
            MSR_IA32_SYSENTER_ESP,
            MSR_IA32_SYSENTER_EIP,
            MSR_STAR,
            MSR_CSTAR,
            MSR_KERNEL_GS_BASE,
            MSR_SYSCALL_MASK,
            MSR_LSTAR,
            MSR_IA32_TSC,
        };
        size_t i;

        _Static_assert(sizeof(zeroed) / sizeof(zeroed[0]) + 2 == REGS_BOOT_MSRS,
                       "REGS_BOOT_MSRS out of date");
        memset(out, 0, REGS_BOOT_MSRS * sizeof(out[0]));
        for (i = 0; i < sizeof(zeroed) / sizeof(zeroed[0]); i++)
                out[i].index = zeroed[i];
        out[i].index = MSR_IA32_MISC_ENABLE;
        out[i].data = MISC_ENABLE_FAST_STRING;
        i++;
        /* Memory outside the variable MTRRs is write-back. */
        out[i].index = MSR_MTRR_DEF_TYPE;
        out[i].data = MTRR_DEF_ENABLE | MTRR_TYPE_WB;
}

static void lapic_set_mode(struct kvm_lapic_state *l, size_t reg, uint32_t mode)
{
        uint32_t v;

        memcpy(&v, &l->regs[reg], sizeof(v));
        v = (v & ~APIC_MODE_MASK) | (mode << 8);
        memcpy(&l->regs[reg], &v, sizeof(v));
}

void regs_lapic_set_lint(struct kvm_lapic_state *l)
{
        lapic_set_mode(l, APIC_LVT_LINT0, APIC_MODE_EXTINT);
        lapic_set_mode(l, APIC_LVT_LINT1, APIC_MODE_NMI);
}

static int set_boot_msrs(int vcpu_fd)
{
        struct kvm_msrs *msrs;
        int n, rc = 0;

        msrs = calloc(1, sizeof(*msrs) + REGS_BOOT_MSRS * sizeof(msrs->entries[0]));
        if (!msrs)
                return -ENOMEM;
        msrs->nmsrs = REGS_BOOT_MSRS;
        regs_boot_msrs(msrs->entries);
        /* KVM_SET_MSRS returns how many it set; it stops at the first it refuses. */
        n = ioctl(vcpu_fd, KVM_SET_MSRS, msrs);
        if (n < 0)
                rc = -errno;
        else if (n != REGS_BOOT_MSRS)
                rc = -EIO;
        free(msrs);
        return rc;
}

static int set_sregs(int vcpu_fd, bool pvh)
{
        struct kvm_sregs s;

        /* Start from KVM's reset state so fields we don't own stay valid. */
        if (ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0)
                return -errno;
        regs_boot_sregs(&s, pvh);
        return ioctl(vcpu_fd, KVM_SET_SREGS, &s) < 0 ? -errno : 0;
}

static int set_lapic(int vcpu_fd)
{
        struct kvm_lapic_state l;

        if (ioctl(vcpu_fd, KVM_GET_LAPIC, &l) < 0)
                return -errno;
        regs_lapic_set_lint(&l);
        return ioctl(vcpu_fd, KVM_SET_LAPIC, &l) < 0 ? -errno : 0;
}

int regs_setup_vcpu(int vcpu_fd, bool pvh, uint64_t entry, bool bsp)
{
        struct kvm_regs r;
        struct kvm_fpu f;
        int rc;

        (void)bsp; /* same state on every vCPU, as Firecracker */
        rc = set_boot_msrs(vcpu_fd);
        if (rc)
                return rc;
        regs_boot_regs(&r, pvh, entry);
        if (ioctl(vcpu_fd, KVM_SET_REGS, &r) < 0)
                return -errno;
        regs_boot_fpu(&f);
        if (ioctl(vcpu_fd, KVM_SET_FPU, &f) < 0)
                return -errno;
        rc = set_sregs(vcpu_fd, pvh);
        if (rc)
                return rc;
        return set_lapic(vcpu_fd);
}
