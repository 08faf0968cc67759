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
        mov     $0x3f8, %dx
1:      lodsb                   /* the UART's THR takes each byte at once when emulated */
        test    %al, %al
        jz      2f
        outb    %al, %dx
        jmp     1b
2:
#ifdef IDLE
3:      hlt
        jmp     3b
#else
        mov     $0xfe, %al      /* i8042 command 0xfe: pulse the reset line */
        outb    %al, $0x64
4:      hlt
        jmp     4b
#endif
msg:
#ifdef IDLE
        .asciz  "BRASA idle\n"
#else
        .asciz  "BRASA hello\n"
#endif
