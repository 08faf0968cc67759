/*
 * The bench guest for kvmtool, which boots a file that is not a bzImage as a flat real-mode
 * binary at 1000:0000 (no command line). It does what the PVH test guest does under
 * brasa.quick and brasa.idle: print one marker on COM1, then reset through the i8042
 * (QUICK) or sleep in hlt (IDLE). Built by bench/bench.py: gcc -m32 -c, objcopy -O binary.
 */
        .code16
        .text
        .globl _start
_start:
        cli
        mov     %cs, %ax
        mov     %ax, %ds
        lea     msg, %si
#include "marker.inc"
