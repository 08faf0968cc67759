/* A small AML encoder (ACPI 6.5, section 20): Device, Name, Method, If, Package, resources. */
#include "arch/x86_64/aml.h"

#include <errno.h>
#include <string.h>

/* Opcodes of ACPI 6.5 section 20.3 and descriptor tags of section 6.4. */
enum {
        AML_ZERO_OP = 0x00,
        AML_ONE_OP = 0x01,
        AML_NAME_OP = 0x08,
        AML_BYTE_PREFIX = 0x0a,
        AML_WORD_PREFIX = 0x0b,
        AML_DWORD_PREFIX = 0x0c,
        AML_STRING_PREFIX = 0x0d,
        AML_QWORD_PREFIX = 0x0e,
        AML_BUFFER_OP = 0x11,
        AML_PACKAGE_OP = 0x12,
        AML_METHOD_OP = 0x14,
        AML_DUAL_NAME_PREFIX = 0x2e,
        AML_MULTI_NAME_PREFIX = 0x2f,
        AML_EXT_OP_PREFIX = 0x5b,
        AML_DEVICE_OP = 0x82, /* after AML_EXT_OP_PREFIX */
        AML_ARG0_OP = 0x68,
        AML_NOTIFY_OP = 0x86,
        AML_LEQUAL_OP = 0x93,
        AML_IF_OP = 0xa0,
        AML_RETURN_OP = 0xa4,
        RD_IO = 0x47,
        RD_END_TAG = 0x79,
        RD_MEMORY32_FIXED = 0x86,
        RD_EXT_IRQ = 0x89,
        RD_QWORD_ADDRESS = 0x8a,
        RD_WORD_ADDRESS = 0x88,
};

static void fail(struct aml *a, int err)
{
        if (!a->err)
                a->err = err;
}

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
        memset(a, 0, sizeof(*a));
        a->buf = buf;
        a->cap = cap;
}

void aml_raw(struct aml *a, const void *p, size_t n)
{
        if (a->err)
                return;
        if (n > a->cap - a->len) {
                fail(a, -ENOSPC);
                return;
        }
        memcpy(a->buf + a->len, p, n);
        a->len += n;
}

static void put8(struct aml *a, uint8_t v)
{
        aml_raw(a, &v, 1);
}

/* v as n little-endian bytes (the byte order of every AML and descriptor field). */
static void put_le(struct aml *a, uint64_t v, unsigned int n)
{
        uint8_t b[8];
        unsigned int i;

        for (i = 0; i < n; i++)
                b[i] = (uint8_t)(v >> (8 * i));
        aml_raw(a, b, n);
}

/* Inserts p[0..n) at pos, moving what follows. */
static void insert(struct aml *a, size_t pos, const uint8_t *p, size_t n)
{
        if (a->err)
                return;
        if (n > a->cap - a->len) {
                fail(a, -ENOSPC);
                return;
        }
        memmove(a->buf + pos + n, a->buf + pos, a->len - pos);
        memcpy(a->buf + pos, p, n);
        a->len += n;
}

/*
 * PkgLength (section 20.2.4) for content bytes: the length counts its own bytes too. One byte
 * holds up to 63; longer forms put the low nibble in the lead byte (bits 7-6 = extra bytes).
 * Returns the encoding's size, 0 when content is too long for the 28-bit field.
 */
static size_t pkg_length(size_t content, uint8_t out[4])
{
        size_t n, total;

        if (content + 1 <= 0x3f) {
                out[0] = (uint8_t)(content + 1);
                return 1;
        }
        for (n = 2; n <= 4; n++) {
                total = content + n;
                if (total < ((size_t)1 << (4 + 8 * (n - 1)))) {
                        out[0] = (uint8_t)(((n - 1) << 6) | (total & 0xf));
                        out[1] = (uint8_t)(total >> 4);
                        out[2] = (uint8_t)(total >> 12);
                        out[3] = (uint8_t)(total >> 20);
                        return n;
                }
        }
        return 0;
}

static bool name_char(char c, bool first)
{
        return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_name_string(struct aml *a, const char *path)
{
        size_t i, n, segs;

        if (*path == '\\') {
                put8(a, '\\');
                path++;
        }
        n = strlen(path);
        segs = (n + 1) / 5;
        if (n == 0 || n != segs * 5 - 1 || segs > 255) {
                fail(a, -EINVAL);
                return;
        }
        for (i = 0; i < n; i++)
                if (i % 5 == 4 ? path[i] != '.' : !name_char(path[i], i % 5 == 0)) {
                        fail(a, -EINVAL);
                        return;
                }
        if (segs == 2)
                put8(a, AML_DUAL_NAME_PREFIX);
        else if (segs > 2) {
                put8(a, AML_MULTI_NAME_PREFIX);
                put8(a, (uint8_t)segs);
        }
        for (i = 0; i < n; i += 5)
                aml_raw(a, path + i, 4);
}

void aml_byte(struct aml *a, uint8_t v)
{
        put8(a, AML_BYTE_PREFIX);
        put8(a, v);
}

void aml_word(struct aml *a, uint16_t v)
{
        put8(a, AML_WORD_PREFIX);
        put_le(a, v, 2);
}

void aml_dword(struct aml *a, uint32_t v)
{
        put8(a, AML_DWORD_PREFIX);
        put_le(a, v, 4);
}

void aml_qword(struct aml *a, uint64_t v)
{
        put8(a, AML_QWORD_PREFIX);
        put_le(a, v, 8);
}

void aml_zero(struct aml *a)
{
        put8(a, AML_ZERO_OP);
}

void aml_one(struct aml *a)
{
        put8(a, AML_ONE_OP);
}

void aml_string(struct aml *a, const char *s)
{
        put8(a, AML_STRING_PREFIX);
        aml_raw(a, s, strlen(s) + 1);
}

static int hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* Section 19.6.35 (EISAID): three letters in 5 bits each, four hex digits, stored big-endian. */
void aml_eisa_id(struct aml *a, const char *id)
{
        uint32_t v = 0;
        int i, d;

        if (strlen(id) != 7) {
                fail(a, -EINVAL);
                return;
        }
        for (i = 0; i < 3; i++) {
                if (id[i] < 'A' || id[i] > 'Z') {
                        fail(a, -EINVAL);
                        return;
                }
                v = v << 5 | (uint32_t)(id[i] - 0x40);
        }
        for (i = 3; i < 7; i++) {
                d = hex_digit(id[i]);
                if (d < 0) {
                        fail(a, -EINVAL);
                        return;
                }
                v = v << 4 | (uint32_t)d;
        }
        aml_dword(a, __builtin_bswap32(v));
}

void aml_name(struct aml *a, const char *name)
{
        put8(a, AML_NAME_OP);
        aml_name_string(a, name);
}

/* Records an object whose PkgLength (and, for a Buffer, size) aml_close() inserts here. */
static void open_obj(struct aml *a, bool buffer)
{
        if (a->err)
                return;
        if (a->depth == AML_MAX_DEPTH) {
                fail(a, -EINVAL);
                return;
        }
        a->open[a->depth].start = a->len;
        a->open[a->depth].buffer = buffer;
        a->depth++;
}

void aml_device(struct aml *a, const char *path)
{
        put8(a, AML_EXT_OP_PREFIX);
        put8(a, AML_DEVICE_OP);
        open_obj(a, false);
        aml_name_string(a, path);
}

void aml_method(struct aml *a, const char *name, unsigned int args, bool serialized)
{
        if (args > 7)
                fail(a, -EINVAL);
        put8(a, AML_METHOD_OP);
        open_obj(a, false);
        aml_name_string(a, name);
        put8(a, (uint8_t)(args | (serialized ? 0x08 : 0)));
}

void aml_if(struct aml *a)
{
        put8(a, AML_IF_OP);
        open_obj(a, false);
}

void aml_package(struct aml *a, uint8_t count)
{
        put8(a, AML_PACKAGE_OP);
        open_obj(a, false);
        put8(a, count);
}

void aml_resources(struct aml *a)
{
        put8(a, AML_BUFFER_OP);
        open_obj(a, true);
}

/* A Buffer's size as the smallest integer encoding that holds it (BytePrefix, WordPrefix...). */
static size_t buffer_size(size_t n, uint8_t out[5])
{
        if (n <= 0xff) {
                out[0] = AML_BYTE_PREFIX;
                out[1] = (uint8_t)n;
                return 2;
        }
        out[0] = n <= 0xffff ? AML_WORD_PREFIX : AML_DWORD_PREFIX;
        out[1] = (uint8_t)n;
        out[2] = (uint8_t)(n >> 8);
        out[3] = (uint8_t)(n >> 16);
        out[4] = (uint8_t)(n >> 24);
        return n <= 0xffff ? 3 : 5;
}

void aml_close(struct aml *a)
{
        uint8_t enc[5];
        size_t start, n;

        if (a->err)
                return;
        if (a->depth == 0) {
                fail(a, -EINVAL);
                return;
        }
        a->depth--;
        start = a->open[a->depth].start;
        if (a->open[a->depth].buffer) {
                /* End Tag; a zero checksum means "treat as correct" (section 6.4.2.9). */
                put8(a, RD_END_TAG);
                put8(a, 0);
                insert(a, start, enc, buffer_size(a->len - start, enc));
        }
        n = pkg_length(a->len - start, enc);
        if (n == 0)
                fail(a, -ENOSPC);
        insert(a, start, enc, n);
}

void aml_return(struct aml *a)
{
        put8(a, AML_RETURN_OP);
}

void aml_lequal(struct aml *a)
{
        put8(a, AML_LEQUAL_OP);
}

void aml_arg(struct aml *a, unsigned int n)
{
        if (n > 6)
                fail(a, -EINVAL);
        put8(a, (uint8_t)(AML_ARG0_OP + n));
}

void aml_notify(struct aml *a)
{
        put8(a, AML_NOTIFY_OP);
}

/* Section 6.4.3.4: large item 0x86, length 9, read/write flag, base, length. */
void aml_rd_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len)
{
        put8(a, RD_MEMORY32_FIXED);
        put_le(a, 9, 2);
        put8(a, writable ? 1 : 0);
        put_le(a, base, 4);
        put_le(a, len, 4);
}

/* Section 6.4.2.5: small item 0x47, 16-bit decode, min, max, alignment, length. */
void aml_rd_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
        put8(a, RD_IO);
        put8(a, 1);
        put_le(a, min, 2);
        put_le(a, max, 2);
        put8(a, align);
        put8(a, len);
}

/*
 * Section 6.4.3.5.1: large item 0x8a, length 43; resource type 0 (memory), general flags
 * MinFixed | MaxFixed, type flags Cacheable (1 << 1) | read-write; granularity, min, max,
 * translation offset, length.
 */
void aml_rd_qword_memory(struct aml *a, bool writable, uint64_t min, uint64_t max)
{
        put8(a, RD_QWORD_ADDRESS);
        put_le(a, 43, 2);
        put8(a, 0);
        put8(a, (1 << 2) | (1 << 3));
        put8(a, (uint8_t)((1 << 1) | (writable ? 1 : 0)));
        put_le(a, 0, 8);
        put_le(a, min, 8);
        put_le(a, max, 8);
        put_le(a, 0, 8);
        put_le(a, max - min + 1, 8);
}

void aml_buffer(struct aml *a, const uint8_t *p, uint8_t n)
{
        if (n > 60) {
                fail(a, -EINVAL); /* one PkgLength byte holds up to 63 */
                return;
        }
        put8(a, AML_BUFFER_OP);
        put8(a, (uint8_t)(3 + n));
        put8(a, AML_BYTE_PREFIX);
        put8(a, n);
        aml_raw(a, p, n);
}

/* Section 6.4.3.5.3: large item 0x88, length 13; producer, fixed minimum and maximum. */
static void rd_word(struct aml *a, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
        put8(a, RD_WORD_ADDRESS);
        put_le(a, 13, 2);
        put8(a, type);
        put8(a, (1 << 2) | (1 << 3));
        put8(a, type_flags);
        put_le(a, 0, 2);
        put_le(a, min, 2);
        put_le(a, max, 2);
        put_le(a, 0, 2);
        put_le(a, (uint16_t)(max - min + 1), 2);
}

void aml_rd_word_bus(struct aml *a, uint16_t min, uint16_t max)
{
        rd_word(a, 2, 0, min, max);
}

void aml_rd_word_io(struct aml *a, uint16_t min, uint16_t max)
{
        rd_word(a, 1, 3, min, max); /* ISA and non-ISA ranges */
}

void aml_rd_qword_mmio(struct aml *a, uint64_t min, uint64_t max)
{
        put8(a, RD_QWORD_ADDRESS);
        put_le(a, 43, 2);
        put8(a, 0);
        put8(a, (1 << 2) | (1 << 3));
        put8(a, 1); /* read-write, not cacheable */
        put_le(a, 0, 8);
        put_le(a, min, 8);
        put_le(a, max, 8);
        put_le(a, 0, 8);
        put_le(a, max - min + 1, 8);
}

/* Section 6.4.3.6: large item 0x89, length 6, flags (consumer, edge), one interrupt. */
void aml_rd_irq(struct aml *a, uint32_t gsi)
{
        put8(a, RD_EXT_IRQ);
        put_le(a, 6, 2);
        put8(a, 0x01 | 0x02); /* ResourceConsumer, Edge; ActiveHigh, Exclusive */
        put8(a, 1);
        put_le(a, gsi, 4);
}

int aml_finish(struct aml *a, size_t *len)
{
        if (!a->err && a->depth)
                a->err = -EINVAL;
        if (a->err)
                return a->err;
        *len = a->len;
        return 0;
}
