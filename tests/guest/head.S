/* Entry points of the test guest: get from each boot protocol's CPU state to 64-bit C. */
#include "guest.h"

#define MSR_EFER	0xc0000080
#define EFER_LME	(1 << 8)
#define CR0_PE		0x00000001
#define CR0_PG		0x80000000
#define CR4_PAE		0x00000020
#define SEL_CODE64	0x08
#define SEL_DATA	0x10

/*
 * .head.text is linked first, at 0x100000, so these offsets are fixed:
 * offset 0 is Linux's startup_32 and offset 0x200 Linux's startup_64.
 */
	.section .head.text, "ax"
	.code32
/*
 * Linux 32-bit boot protocol (flat protected mode, paging off, ESI = zero page).
 * Only the bzImage's own 16-bit setup code uses it (legacy loaders such as
 * QEMU -M pc); a Firecracker-style VMM enters at startup_64.
 */
	.globl startup_32
startup_32:
	cli
	movl	$PROTO_LINUX32, %edi
	jmp	enter_long_mode

/* kernel_info (boot protocol 2.15): setup.S points kernel_info_offset here. */
	.org	0x100
kernel_info:
	.ascii	"LToP"
	.long	kernel_info_end - kernel_info	/* size */
	.long	kernel_info_end - kernel_info	/* size_total */
	.long	0				/* setup_type_max */
kernel_info_end:

/*
 * Linux 64-bit boot protocol: long mode, RSI = zero page. The loader's page
 * tables only promise the first 1 GiB, so switch to ours (4 GiB) at once.
 */
	.org	0x200
	.code64
	.globl startup_64
startup_64:
	cli
	movq	%rsi, %r12		/* cpuid clobbers rbx/rcx/rdx, not r12 */
	movl	$1, %eax
	cpuid
	shrl	$24, %ebx		/* initial APIC ID: only the BSP may go on */
	jnz	spin_forever
	lgdt	gdt_desc(%rip)
	movq	$pml4, %rax
	movq	%rax, %cr3
	movw	$SEL_DATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movw	%ax, %fs
	movw	%ax, %gs
	leaq	stack_top(%rip), %rsp
	pushq	$SEL_CODE64		/* reload CS from our GDT */
	leaq	1f(%rip), %rax
	pushq	%rax
	lretq
1:	movl	$PROTO_LINUX64, %edi
	movq	%r12, %rsi
	jmp	start_c

	.text
	.code32
/* PVH (XEN_ELFNOTE_PHYS32_ENTRY): flat protected mode, paging off, EBX = hvm_start_info. */
	.globl pvh_start32
pvh_start32:
	cli
	movl	%ebx, %esi
	movl	$PROTO_PVH, %edi
/* Common 32-bit path: ESI = boot info pointer, EDI = protocol. */
enter_long_mode:
	movl	$1, %eax
	cpuid
	shrl	$24, %ebx
	jnz	spin32
	lgdt	gdt_desc
	movw	$SEL_DATA, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	$pml4, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$SEL_CODE64, $from32
spin32:
	pause
	jmp	spin32

	.code64
from32:
	movw	$SEL_DATA, %ax
	movw	%ax, %fs
	movw	%ax, %gs
	movq	$stack_top, %rsp
	movl	%esi, %esi		/* upper halves are undefined after the switch */
	movl	%edi, %edi
start_c:
	call	guest_main
	/* guest_main does not return */

	.globl spin_forever
spin_forever:
	pause
	jmp	spin_forever

/* With a zero-limit IDT, ud2 escalates to a triple fault (or a PVM emulation failure). */
	.globl bad_instruction
bad_instruction:
	lidt	null_idt_desc(%rip)
	ud2
	jmp	spin_forever

/* Exception stubs: make every frame look alike (vector, error code, CPU frame). */
	.macro	isr vec
isr\vec:
	.if	!((\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30))
	pushq	$0
	.endif
	pushq	$\vec
	jmp	isr_common
	.endm

	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	isr	\v
	.endr

isr_common:
	movq	%rsp, %rdi
	andq	$-16, %rsp
	call	guest_exception
	jmp	spin_forever

	.section .rodata
	.balign	8
	.globl	isr_table
isr_table:
	.irp	v, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.quad	isr\v
	.endr

	.data
	.balign	16
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* 0x08: 64-bit code */
	.quad	0x00cf92000000ffff	/* 0x10: flat data */
gdt_end:
gdt_desc:				/* 32-bit lgdt reads the low 4 bytes of the base */
	.word	gdt_end - gdt - 1
	.quad	gdt
null_idt_desc:
	.word	0
	.quad	0

/*
 * Identity map of the first 4 GiB with 2 MiB pages, built by the assembler so
 * no emulated instruction is spent on it. The last GiB (MMIO hole) is uncached.
 * Also the first GiB at 512 GiB, where brasa puts pmem regions.
 */
	.balign	4096
pml4:
	.quad	pdpt + 0x3
	.quad	pdpt_hi + 0x3
	.fill	510, 8, 0
pdpt_hi:
	.quad	pd_hi + 0x3
	.fill	511, 8, 0
pd_hi:
	.set	addr, 0x8000000000
	.rept	512
	.quad	addr | 0x83		/* present, writable, 2 MiB */
	.set	addr, addr + 0x200000
	.endr
pdpt:
	.quad	pd + 0x0000 + 0x3
	.quad	pd + 0x1000 + 0x3
	.quad	pd + 0x2000 + 0x3
	.quad	pd + 0x3000 + 0x3
	.fill	508, 8, 0
pd:
	.set	addr, 0
	.rept	1536
	.quad	addr | 0x83		/* present, writable, 2 MiB */
	.set	addr, addr + 0x200000
	.endr
	.rept	512
	.quad	addr | 0x9b		/* ... plus PWT|PCD */
	.set	addr, addr + 0x200000
	.endr

	.bss
	.balign	16
stack:
	.skip	16384
stack_top:
