/* A small AML (ACPI Machine Language) encoder: the objects brasa's DSDT needs, nothing more. */
#ifndef BRASA_ARCH_X86_64_AML_H
#define BRASA_ARCH_X86_64_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Open objects (Device, Method, If, Package, Buffer) may nest this deep. */
#define AML_MAX_DEPTH 8

/*
 * An encoder writing into a caller-owned buffer. Errors are sticky: after the first one
 * (buffer full, bad name, unbalanced nesting) every call is a no-op and aml_finish() reports
 * it, so a builder can emit a whole table and check once.
 */
struct aml {
        uint8_t *buf;
        size_t cap, len;
        int err; /* 0 or the first -errno */
        unsigned int depth;
        struct {
                size_t start; /* where the object's content begins (after its opcode) */
                bool buffer;  /* a Buffer: its size goes in front of the content */
        } open[AML_MAX_DEPTH];
};

/* Starts encoding into buf[0..cap). */
void aml_init(struct aml *a, uint8_t *buf, size_t cap);

/* Raw bytes (opcodes and resource descriptors). */
void aml_raw(struct aml *a, const void *p, size_t n);

/*
 * A NameString: "\\_SB_.COM1", "_HID", "V000". Segments are exactly 4 characters of
 * [A-Z0-9_], the first not a digit; an optional leading '\\' makes it absolute. A bad name
 * sets -EINVAL.
 */
void aml_name_string(struct aml *a, const char *path);

/* Data objects: BytePrefix/WordPrefix/DWordPrefix/QWordPrefix constants, Zero, One. */
void aml_byte(struct aml *a, uint8_t v);
void aml_word(struct aml *a, uint16_t v);
void aml_dword(struct aml *a, uint32_t v);
void aml_qword(struct aml *a, uint64_t v);
void aml_zero(struct aml *a);
void aml_one(struct aml *a);

/* A Buffer object of n (at most 60) bytes. */
void aml_buffer(struct aml *a, const uint8_t *p, uint8_t n);

/* A String object (ASCII, NUL-terminated in AML). */
void aml_string(struct aml *a, const char *s);

/* A compressed EISA ID ("PNP0501") as a DWord constant; -EINVAL if not AAA#### (hex). */
void aml_eisa_id(struct aml *a, const char *id);

/* NameOp and its NameString: the caller appends the one data object that follows. */
void aml_name(struct aml *a, const char *name);

/* Opens a Device named path; aml_close() ends it. */
void aml_device(struct aml *a, const char *path);

/* Opens a Method (args 0..7); aml_close() ends it. */
void aml_method(struct aml *a, const char *name, unsigned int args, bool serialized);

/* Opens an If; the caller appends the predicate then the body, then aml_close(). */
void aml_if(struct aml *a);

/* Opens a Package of count elements; the caller appends them, then aml_close(). */
void aml_package(struct aml *a, uint8_t count);

/* Opens a resource template (a Buffer); aml_close() adds the End Tag and the size. */
void aml_resources(struct aml *a);

/* Closes the innermost open object, writing its PkgLength (and a Buffer's size). */
void aml_close(struct aml *a);

/* Small opcodes: Return (then its value), LEqual (then two operands), Arg0..Arg6, Notify. */
void aml_return(struct aml *a);
void aml_lequal(struct aml *a);
void aml_arg(struct aml *a, unsigned int n);
void aml_notify(struct aml *a);

/* Resource descriptors, inside aml_resources(). */
void aml_rd_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t len);
void aml_rd_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/*
 * A QWord Address Space descriptor for memory [min, max] (fixed, cacheable), read-only
 * unless writable.
 */
void aml_rd_qword_memory(struct aml *a, bool writable, uint64_t min, uint64_t max);
/* Word Address Space descriptors: a bus-number range, an I/O range (both fixed, produced). */
void aml_rd_word_bus(struct aml *a, uint16_t min, uint16_t max);
void aml_rd_word_io(struct aml *a, uint16_t min, uint16_t max);
/* A QWord Address Space descriptor for an MMIO window [min, max]: read-write, not cacheable. */
void aml_rd_qword_mmio(struct aml *a, uint64_t min, uint64_t max);
/* An Extended Interrupt descriptor: consumer, edge-triggered, active-high, exclusive. */
void aml_rd_irq(struct aml *a, uint32_t gsi);

/*
 * Ends encoding: returns the first error (-ENOSPC when the buffer was too small, -EINVAL
 * for a bad name or argument or an object left open or closed twice), else 0 with the
 * encoded length in *len.
 */
int aml_finish(struct aml *a, size_t *len);

#endif
