/* The bzImage's real-mode part: the boot protocol 2.15 setup header and a 16-bit path to startup_32. */

/*
 * A Firecracker-style VMM only reads this header and enters the protected-mode
 * part at 1 MiB + 0x200 in long mode. The 16-bit code below serves legacy
 * loaders (QEMU -M pc): it fills the zero page's e820 table from the BIOS, as
 * Linux's setup does, then enters startup_32 at 0x100000 per the 32-bit protocol.
 * Only DS-relative data is used: loaders enter with CS = DS + 0x20.
 */
	.code16
	.text
	.globl	_start
_start:
	.org	0x1f1
setup_sects:		.byte	0		/* patched by mkimage */
root_flags:		.word	0
syssize:		.long	0		/* patched by mkimage */
ram_size:		.word	0
vid_mode:		.word	0xffff		/* "normal" */
root_dev:		.word	0
boot_flag:		.word	0xaa55
	.org	0x200
jump:			.byte	0xeb, start16 - 1f
1:
header:			.ascii	"HdrS"
version:		.word	0x020f
realmode_swtch:		.long	0
start_sys_seg:		.word	0x1000
kernel_version:		.word	version_string - 0x200
type_of_loader:		.byte	0
loadflags:		.byte	0x01		/* LOADED_HIGH */
setup_move_size:	.word	0x8000
code32_start:		.long	0x100000
ramdisk_image:		.long	0
ramdisk_size:		.long	0
bootsect_kludge:	.long	0
heap_end_ptr:		.word	0
ext_loader_ver:		.byte	0
ext_loader_type:	.byte	0
cmd_line_ptr:		.long	0
initrd_addr_max:	.long	0x7fffffff
kernel_alignment:	.long	0x200000
relocatable_kernel:	.byte	0
min_alignment:		.byte	21
xloadflags:		.word	0x0001		/* XLF_KERNEL_64 */
cmdline_size:		.long	2047
hardware_subarch:	.long	0
hardware_subarch_data:	.quad	0
payload_offset:		.long	0
payload_length:		.long	0
setup_data:		.quad	0
pref_address:		.quad	0x100000
	.org	0x260
init_size:		.long	0		/* patched by mkimage */
handover_offset:	.long	0
kernel_info_offset:	.long	0x100		/* head.S: kernel_info */
	.org	0x26c

/*
 * The zero page cannot live on these sectors (its e820 table would overwrite
 * this code), so build one at ZP, like Linux's setup does: zeroed, plus a copy
 * of the header the loader filled in.
 */
#define ZP 0x1000

start16:
	cli
	cld
	movw	%ds, %ax
	movw	%ax, %es
	movw	$ZP, %di
	xorw	%ax, %ax
	movw	$0x800, %cx
	rep stosw
	movw	$0x1f1, %si
	movw	$ZP + 0x1f1, %di
	movw	$0x26c - 0x1f1, %cx
	rep movsb

	/* BIOS e820 into boot_params.e820_table (0x2d0), count at 0x1e8. */
	xorl	%ebx, %ebx
	movw	$ZP + 0x2d0, %di
e820_next:
	movl	$0xe820, %eax
	movl	$20, %ecx
	movl	$0x534d4150, %edx	/* "SMAP" */
	int	$0x15
	jc	e820_done
	cmpl	$0x534d4150, %eax
	jne	e820_done
	incb	ZP + 0x1e8
	addw	$20, %di
	cmpb	$128, ZP + 0x1e8
	jae	e820_done
	testl	%ebx, %ebx
	jnz	e820_next
e820_done:

	inb	$0x92, %al		/* fast A20 gate */
	orb	$0x02, %al
	andb	$0xfe, %al
	outb	%al, $0x92

	xorl	%eax, %eax
	movw	%ds, %ax
	shll	$4, %eax
	leal	ZP(%eax), %esi		/* ESI = our zero page */
	addl	$gdt16, %eax
	movl	%eax, gdt16_desc + 2	/* the load address is only known now */
	lgdtl	gdt16_desc
	movl	%cr0, %eax
	orb	$1, %al
	movl	%eax, %cr0
	movw	$0x18, %ax		/* __BOOT_DS */
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %ss
	ljmpl	$0x10, $0x100000	/* __BOOT_CS : startup_32 */

	.balign	8
gdt16:
	.quad	0
	.quad	0
	.quad	0x00cf9a000000ffff	/* 0x10: flat 32-bit code */
	.quad	0x00cf92000000ffff	/* 0x18: flat data */
gdt16_end:
gdt16_desc:
	.word	gdt16_end - gdt16 - 1
	.long	0

version_string:
	.asciz	"brasa test guest"
