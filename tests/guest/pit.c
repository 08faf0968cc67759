/* brasa.pit: the 8254 PIT from the guest, as Linux uses it: channel 2 behind port 0x61, IRQ 0. */
#include "guest.h"

#define LAPIC_EOI  0xfee000b0ULL
#define LAPIC_SVR  0xfee000f0ULL
#define IOAPIC_SEL 0xfec00000ULL
#define IOAPIC_WIN 0xfec00010ULL
#define PIT_VECTOR 0x30

/* Interrupts taken on PIT_VECTOR: the handler counts them and ends each with an EOI. */
volatile u32 pit_ticks;
void pit_isr(void);
__asm__(".pushsection .text\n"
        ".globl pit_isr\n"
        "pit_isr:\n"
        "\tlock incl pit_ticks(%rip)\n"
        "\tpushq %rax\n"
        "\tmovl $0xfee000b0, %eax\n" /* LAPIC_EOI */
        "\tmovl $0, (%rax)\n"
        "\tpopq %rax\n"
        "\tiretq\n"
        ".popsection\n");

static void mmio_wr(u64 pa, u32 v)
{
        *(volatile u32 *)pa = v;
}

static void ioapic_wr(u32 reg, u32 v)
{
        mmio_wr(IOAPIC_SEL, reg);
        mmio_wr(IOAPIC_WIN, v);
}

static u16 latch(u8 ch)
{
        outb(0x43, (u8)(ch << 6)); /* counter latch */
        u16 lo = inb((u16)(0x40 + ch));
        return (u16)(lo | inb((u16)(0x40 + ch)) << 8);
}

/* Channel 2 in mode 0 with its gate up, as Linux's PIT calibration drives it. */
static void channel2(void)
{
        outb(0x61, (u8)((inb(0x61) & 0xfc) | 1)); /* gate up, speaker off */
        outb(0x43, 0xb0);                         /* channel 2, low/high, mode 0, binary */
        outb(0x42, 0x00);
        outb(0x42, 0x40); /* 0x4000 ticks, about 13.7 ms */
        outb(0x43, 0xe8); /* read-back: channel 2's status */
        u8 st = inb(0x42);
        u16 a = latch(2);
        for (u32 i = 0; i < 50; i++)
                io_pause();
        u16 b = latch(2);
        u32 polls = 0;
        while (!(inb(0x61) & 0x20) && polls < 1000000)
                polls++;
        say("pit ch2 status=0x%x counting=%u out=%u", st & 0x3f, b < a, (inb(0x61) >> 5) & 1);
}

/* Waits (interrupts on) until pit_ticks passes want or about n exits went by. */
static void wait_ticks(u32 want, u32 n)
{
        __asm__ volatile("sti");
        for (u32 i = 0; i < n && pit_ticks < want; i++)
                io_pause();
        __asm__ volatile("cli");
}

/* Channel 0 raises IRQ 0 through IOAPIC pin 0: periodic in mode 2, exactly once in mode 0. */
static void channel0(void)
{
        idt_set(PIT_VECTOR, (u64)pit_isr);
        outb(0x21, 0xff); /* both PICs masked: IRQ 0 only through the IOAPIC */
        outb(0xa1, 0xff);
        mmio_wr(LAPIC_SVR, 0x1ff);
        ioapic_wr(0x11, 0);          /* destination APIC 0 */
        ioapic_wr(0x10, PIT_VECTOR); /* fixed, physical, edge, active high, unmasked */
        outb(0x43, 0x34);            /* channel 0, low/high, mode 2 */
        outb(0x40, 0xa9);
        outb(0x40, 0x04); /* 1193 ticks: 1 ms */
        wait_ticks(5, 300000);
        u32 periodic = pit_ticks;
        outb(0x43, 0x30); /* mode 0 with the longest count stops the periodic interrupt */
        outb(0x40, 0);
        outb(0x40, 0);
        wait_ticks(~0u, 100); /* takes a tick that was already on its way */
        u32 before = pit_ticks;
        outb(0x40, 0xa9); /* the same mode, 1 ms: one interrupt, then none */
        outb(0x40, 0x04);
        wait_ticks(before + 1, 300000);
        wait_ticks(~0u, 3000);                 /* 30 ms more: a second one would come in these */
        ioapic_wr(0x10, 0x10000 | PIT_VECTOR); /* masked again */
        say("pit irq0 periodic=%u oneshot=%u", periodic >= 5, pit_ticks - before);
}

void pit_tests(const u8 *cmd, u64 n)
{
        if (!cmd_word(cmd, n, "brasa.pit", &(u64){0}))
                return;
        channel2();
        channel0();
}
