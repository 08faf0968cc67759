/* COM1 polled I/O and the tiny formatter behind every "BRASA ..." report line. */
#include <stdarg.h>

#include "guest.h"

#define COM1     0x3f8
#define COM1_LSR (COM1 + 5)
#define LSR_DR   0x01 /* a received byte is waiting in RBR */
#define LSR_THRE 0x20 /* THR can take a byte */

void serial_putc(char c)
{
        while (!(inb(COM1_LSR) & LSR_THRE))
                ;
        outb(COM1, (u8)c);
}

int serial_getc(void)
{
        while (!(inb(COM1_LSR) & LSR_DR))
                ;
        return inb(COM1);
}

static void put_str(const char *s)
{
        while (*s)
                serial_putc(*s++);
}

static void put_num(u64 v, unsigned base, int width)
{
        char digits[24];
        int n = 0;

        do {
                digits[n++] = "0123456789abcdef"[v % base];
                v /= base;
        } while (v);
        for (; width > n; width--)
                serial_putc('0');
        while (n)
                serial_putc(digits[--n]);
}

/* Understands %s %c and %[0width][l|ll](u|x): all the report lines need. */
static void put_fmt(const char *fmt, va_list ap)
{
        for (; *fmt; fmt++) {
                if (*fmt != '%') {
                        serial_putc(*fmt);
                        continue;
                }
                int width = 0, longs = 0;
                fmt++;
                while (*fmt >= '0' && *fmt <= '9')
                        width = width * 10 + (*fmt++ - '0');
                while (*fmt == 'l') {
                        longs++;
                        fmt++;
                }
                switch (*fmt) {
                case 's':
                        put_str(va_arg(ap, const char *));
                        break;
                case 'c':
                        serial_putc((char)va_arg(ap, int));
                        break;
                case 'u':
                case 'x': {
                        u64 v = longs ? va_arg(ap, u64) : va_arg(ap, unsigned);
                        put_num(v, *fmt == 'x' ? 16 : 10, width);
                        break;
                }
                case '\0':
                        return;
                default: /* '%%' and anything unknown: print it as is */
                        serial_putc(*fmt);
                }
        }
}

void say(const char *fmt, ...)
{
        va_list ap;

        put_str("BRASA ");
        va_start(ap, fmt);
        put_fmt(fmt, ap);
        va_end(ap);
        serial_putc('\n');
}

/* Prints bytes verbatim except control and non-ASCII bytes, which become \xNN. */
void say_bytes(const char *prefix, const volatile u8 *p, u64 n)
{
        put_str("BRASA ");
        put_str(prefix);
        for (u64 i = 0; i < n; i++) {
                u8 c = p[i];
                if (c < 0x20 || c >= 0x7f) {
                        put_str("\\x");
                        put_num(c, 16, 2);
                } else {
                        serial_putc((char)c);
                }
        }
        serial_putc('\n');
}

void reset_machine(void)
{
        /* QEMU's microvm has no i8042: its isa-debug-exit (iobase 0xf4) ends it instead. */
        outb(0xf4, 0);
        outb(0x64, 0xfe); /* i8042 "pulse reset line": Firecracker's way out */
        spin_forever();
}

void panic(const char *why)
{
        say("panic %s", why);
        reset_machine();
}
