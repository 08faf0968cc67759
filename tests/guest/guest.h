/* Shared declarations of the brasa test guest: boot protocols, port I/O, report output. */
#ifndef BRASA_GUEST_H
#define BRASA_GUEST_H

/* Values passed in EDI by head.S; must match the constants there. */
#define PROTO_PVH     0
#define PROTO_LINUX64 1
#define PROTO_LINUX32 2

#ifndef __ASSEMBLER__
#include <stdint.h>

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef uint64_t u64;

/* Our page tables identity-map exactly this much; nothing above may be touched. */
#define MAPPED_LIMIT (4ULL << 30)

/* head.S also maps [PMEM_MAPPED_START, + 1 GiB), where brasa puts pmem regions. */
#define PMEM_MAPPED_START (512ULL << 30)
#define PMEM_MAPPED_SIZE  (1ULL << 30)

static inline u8 inb(u16 port)
{
        u8 v;
        __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
        return v;
}

static inline void outb(u16 port, u8 v)
{
        __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

/* A pause with an exit (port 0x80, which nothing decodes): lets the host's threads run, and
 * takes roughly 10 us where kvm_pvm is the hypervisor. */
static inline void io_pause(void)
{
        (void)inb(0x80);
}

static inline void cpuid(u32 leaf, u32 sub, u32 r[4])
{
        __asm__ volatile("cpuid"
                         : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
                         : "a"(leaf), "c"(sub));
}

/* True when [addr, addr+len) lies inside our identity map. */
static inline int mapped(u64 addr, u64 len)
{
        return addr < MAPPED_LIMIT && len <= MAPPED_LIMIT - addr;
}

/* Pointer to a physical address; the empty asm keeps gcc from judging small constants as bad
 * pointers. */
static inline const void *phys(u64 pa)
{
        __asm__("" : "+r"(pa));
        return (const void *)pa;
}

/* serial.c: COM1 output and input, and the "BRASA " line formatter. */
void serial_putc(char c);
int serial_getc(void);
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void say_bytes(const char *prefix, const volatile u8 *p, u64 n);
void reset_machine(void) __attribute__((noreturn));
void panic(const char *why) __attribute__((noreturn));

/* head.S */
void spin_forever(void) __attribute__((noreturn));
void bad_instruction(void) __attribute__((noreturn));
extern const u64 isr_table[32];

/* main.c */
void guest_main(u32 proto, u64 info) __attribute__((noreturn));
void guest_exception(const u64 *frame) __attribute__((noreturn));
u32 fnv1a32w(const u8 *p, u64 n);

/*
 * acpi.c: finds the RSDP (rsdp, else a BIOS-area scan), checks and reports every table and
 * the DSDT's devices. Then sleep_type ACPI_POWEROFF writes \_S5's type to the sleep-control
 * register (and panics if the VM goes on), another value >= 0 writes that type, -1 nothing.
 */
#define ACPI_POWEROFF 0x100
void acpi_tests(u64 rsdp, const char *source, int sleep_type);

/* Where the DSDT's VGEN device says the 16-byte VMGenID lives (acpi_tests() sets it), or 0. */
extern u64 acpi_vmgenid_pa;

/* Command-line words (cmdline.c). The value of the word starting with key, and its length,
 * or 0. */
const u8 *cmd_word(const u8 *s, u64 n, const char *key, u64 *len);
/* A number in base (digits, then a-f), up to the first byte that is none. */
u64 cmd_num(const u8 *p, u64 n, u32 base);
/* key's decimal value, or dflt when the word is absent. */
u32 cmd_opt(const u8 *cmd, u64 n, const char *key, u32 dflt);
/* p[0..n) is exactly s. */
int cmd_same(const u8 *p, u64 n, const char *s);
/* The base of the first virtio_mmio.device= whose DeviceID is id, or 0. */
u64 cmd_find_virtio(const u8 *cmd, u64 n, u32 id);

/* virtio.c: the virtio-mmio block driver, run when a brasa.blk* word is on the command line. */
void virtio_tests(const u8 *cmd, u64 n);

/* net.c: the virtio-net driver, run when a brasa.net* word is on the command line. */
void net_tests(const u8 *cmd, u64 n);
/* net.c's primitives for mmds.c: bring the device up (RX buffers posted), send one frame (0
 * or the device status), take the next received frame (0: none yet), give its buffer back. */
int gnet_open(const u8 *cmd, u64 n, u8 *mac_out);
u32 gnet_send(const u8 *frame, u32 len);
const u8 *gnet_poll(u32 *len);
void gnet_release(const u8 *frame);
/* mmds.c: an ARP/TCP/HTTP client of the metadata service, for brasa.mmds* words. */
void mmds_tests(const u8 *cmd, u64 n);

/* rng.c: the virtio-rng driver, run when a brasa.rng* word is on the command line. */
void rng_tests(const u8 *cmd, u64 n);

/* balloon.c: the virtio-balloon driver, run when a brasa.balloon* word is on the command line. */
void balloon_tests(const u8 *cmd, u64 n);

/* brasa.pmem: reads the virtio-pmem config and region, writes and flushes (pmem.c). */
void pmem_tests(const u8 *cmd, u64 n);
/* brasa.vmem: plugs, uses and unplugs virtio-mem blocks as the host asks (vmem.c). */
void vmem_tests(const u8 *cmd, u64 n);
/* vmem.c: brings virtio-mem at base (virtio-mmio) up, as Linux's driver would (idle). */
void vmem_idle_driver(u64 base);
/* balloon.c: brings the balloon at base (virtio-mmio) up, as Linux's driver would (idle). */
void balloon_idle_driver(u64 base);
/* pci.c: the virtio-pci driver and ECAM checks, run when a brasa.pci* word is on the command line.
 */
void pci_tests(const u8 *cmd, u64 n);
/* pci.c: with brasa.idle, brings a balloon found on the PCI bus up (as balloon_idle_driver). */
void pci_idle_driver(void);

/* pit.c: the PIT's channel 2 (port 0x61) and IRQ 0 (IOAPIC pin 0), for brasa.pit. */
void pit_tests(const u8 *cmd, u64 n);
/* main.c: makes vector vec (32..255) an interrupt gate to handler. */
void idt_set(u32 vec, u64 handler);

/* vsock.c: the virtio-vsock driver, run when a brasa.vsock* word is on the command line. */
void vsock_tests(const u8 *cmd, u64 n);
#endif

#endif
