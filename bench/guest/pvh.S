/*
 * The bench guest for brasa and QEMU: the same body as flat.S (one marker on COM1, then an
 * i8042 reset, or hlt with IDLE), entered through PVH in 32-bit protected mode with flat
 * segments, as both VMMs start a PVH ELF. Built by bench/bench.py: gcc -c, then
 * ld -Ttext=0x100000.
 */
#define XEN_ELFNOTE_PHYS32_ENTRY 18

        .section .note.Xen, "a", @note
        .balign 4
        .long   2f - 1f                 /* namesz */
        .long   4f - 3f                 /* descsz */
        .long   XEN_ELFNOTE_PHYS32_ENTRY
1:      .asciz  "Xen"
2:      .balign 4
3:      .long   pvh_start32
4:      .balign 4

        .code32
        .text
        .globl  pvh_start32
pvh_start32:
        cli
        mov     $msg, %esi
#include "marker.inc"
