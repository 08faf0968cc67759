/* vCPU boot state: boot GDT/IDT and page tables in guest RAM, and regs/sregs/FPU/MSRs/LAPIC via
 * KVM. */
#ifndef BRASA_ARCH_X86_64_REGS_H
#define BRASA_ARCH_X86_64_REGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/kvm.h>

#include "arch/x86_64/layout.h"
#include "core/guest_mem.h"

/* Boot MSRs written on every vCPU (regs_boot_msrs()). */
#define REGS_BOOT_MSRS 11

/* Segment selectors of the boot GDT: index * 8. */
#define REGS_SEL_CODE 0x08
#define REGS_SEL_DATA 0x10
#define REGS_SEL_TSS  0x18

/*
 * Encodes a GDT descriptor. flags holds descriptor bits 40..55 as the Linux
 * GDT_ENTRY() macro does: access byte in bits 0..7, G/DB/L/AVL in bits 12..15
 * (so 0xa09b is a present 64-bit code segment with 4 KiB granularity); limit
 * is the raw 20-bit field. Pure.
 */
uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit);

/*
 * Decodes a GDT descriptor into KVM's segment form, hidden parts included:
 * selector index * 8, limit scaled to bytes when G is set (KVM wants the
 * 32-bit byte limit), unusable when not present. Pure.
 */
struct kvm_segment regs_segment_from_gdt(uint64_t entry, uint8_t index);

/*
 * Fills gdt[] with the boot GDT: null, code, data, TSS. Linux 64-bit boot:
 * 0xa09b / 0xc093 / 0x808b with limit 0xfffff; PVH (32-bit protected mode):
 * 0xc09b / 0xc093 limit 0xfffff (4 GiB flat) and a 0x008b TSS of limit 0x67. Pure.
 */
void regs_boot_gdt(bool pvh, uint64_t gdt[LAYOUT_BOOT_GDT_ENTRIES]);

/*
 * Writes the boot GDT at LAYOUT_BOOT_GDT_START and a zero IDT entry at
 * LAYOUT_BOOT_IDT_START; for Linux boot also the identity page tables (PML4
 * at LAYOUT_PML4_START -> PDPT -> PD of 512 2 MiB pages mapping the first
 * 1 GiB). PVH starts without paging, so no tables are written for it.
 * Returns 0 or -EFAULT when guest RAM does not cover those addresses.
 */
int regs_write_boot_tables(const struct guest_mem *m, bool pvh);

/*
 * General registers at entry. Linux: RIP = entry, RSP = RBP = boot stack,
 * RSI = zero page. PVH: RIP = entry, RBX = hvm_start_info. RFLAGS = 2. Pure.
 */
void regs_boot_regs(struct kvm_regs *r, bool pvh, uint64_t entry);

/*
 * Updates s (read with KVM_GET_SREGS) to the boot state: segments and GDT/IDT
 * registers from regs_boot_gdt(); Linux: long mode with paging (CR0 |= PE|PG,
 * CR3 = PML4, CR4 |= PAE, EFER |= LME|LMA); PVH: CR0 = PE|ET, CR4 = 0. Pure.
 */
void regs_boot_sregs(struct kvm_sregs *s, bool pvh);

/* FPU at entry: FCW 0x37f, MXCSR 0x1f80, the rest zero. Pure. */
void regs_boot_fpu(struct kvm_fpu *f);

/*
 * Fills out[REGS_BOOT_MSRS] with Firecracker's boot MSRs: SYSENTER_CS/ESP/EIP,
 * STAR, CSTAR, KERNEL_GS_BASE, SYSCALL_MASK, LSTAR, TSC = 0, MISC_ENABLE =
 * FAST_STRING, MTRRdefType = enabled, write-back. Pure.
 */
void regs_boot_msrs(struct kvm_msr_entry out[REGS_BOOT_MSRS]);

/* Sets LAPIC LVT LINT0 to ExtINT and LINT1 to NMI delivery in l. Pure. */
void regs_lapic_set_lint(struct kvm_lapic_state *l);

/*
 * Puts a vCPU into its boot state, in Firecracker's order: KVM_SET_MSRS,
 * KVM_SET_REGS, KVM_SET_FPU, KVM_GET/SET_SREGS, KVM_GET/SET_LAPIC. Call after
 * KVM_SET_CPUID2 on that vCPU (MSR checks depend on it), after
 * KVM_CREATE_IRQCHIP (the LAPIC must be in-kernel), and with
 * regs_write_boot_tables() done for the same protocol. bsp is accepted for
 * callers but changes nothing: like Firecracker every vCPU gets the same
 * state, and Linux resets the APs with INIT/SIPI anyway.
 * Returns 0, -errno from the ioctl that failed, or -EIO when KVM refused one
 * of the MSRs.
 */
int regs_setup_vcpu(int vcpu_fd, bool pvh, uint64_t entry, bool bsp);

#endif
