/* The Xen PVH ELF note: its presence alone makes pvh.elf a PVH image (linux64.elf omits it). */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign	4
	.long	2f - 1f			/* namesz */
	.long	4f - 3f			/* descsz */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz	"Xen"
2:	.balign	4
3:	.quad	pvh_start32		/* 8 bytes like Linux; readers taking 4 get the same value */
4:	.balign	4
