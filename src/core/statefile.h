/* brasa's snapshot state file: a versioned, CRC64-checked container of tagged sections. */
#ifndef BRASA_CORE_STATEFILE_H
#define BRASA_CORE_STATEFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/*
 * Layout (all integers little-endian; docs/snapshot-format.md):
 *   header  magic "BRASASNP" (8) | version u32 | arch u32 | payload_len u64
 *   payload sections, each: tag u32 | instance u32 | len u64 | len bytes | zero pad to 8
 *   trailer crc64 u64: CRC-64/XZ of header and payload
 */
#define STATEFILE_MAGIC       "BRASASNP"
#define STATEFILE_VERSION     2u
#define STATEFILE_ARCH_X86_64 1u
#define STATEFILE_HDR_SIZE    24u
#define STATEFILE_SEC_HDR     16u
#define STATEFILE_MAX_SECTS   256u          /* a hostile file cannot make us index more */
#define STATEFILE_MAX_SIZE    (64ull << 20) /* refused above this before it is read */

/* A growing state file being written. */
struct statefile_writer {
        uint8_t *buf;
        size_t len, cap;
        int rc; /* the first failure (-ENOMEM); later calls do nothing */
};

/* One section of a parsed file; data points into the caller's buffer. */
struct statefile_section {
        uint32_t tag, instance;
        const uint8_t *data;
        uint64_t len;
};

/* A parsed, checked file: the sections in file order. */
struct statefile {
        uint32_t version, arch;
        unsigned int nr;
        struct statefile_section sect[STATEFILE_MAX_SECTS];
};

/* CRC-64/XZ (ECMA-182 polynomial, reflected, inverted) of len bytes, continuing from crc
 * (start with 0). */
uint64_t statefile_crc64(uint64_t crc, const void *data, size_t len);

/* Starts an empty file (the header is filled in by statefile_finish()). */
void statefile_writer_init(struct statefile_writer *w);

/* Appends one section (len bytes of data, copied). Failures are kept in w->rc. */
void statefile_add(struct statefile_writer *w, uint32_t tag, uint32_t instance, const void *data,
                   size_t len);

/*
 * Fills in the header and appends the CRC. On success *out and *out_len are the whole file (owned
 * by w until statefile_writer_free()). Returns 0 or the first -errno of the writer.
 */
int statefile_finish(struct statefile_writer *w, const uint8_t **out, size_t *out_len);

/* Frees the writer's buffer. */
void statefile_writer_free(struct statefile_writer *w);

/*
 * Checks buf as a state file and indexes its sections into sf. Pure: touches nothing but sf
 * and e. The order of checks makes nothing trusted before the CRC matched: size, magic, CRC,
 * then version, architecture and every section's bounds. Returns 0 or -EINVAL (with one line
 * in e saying what is wrong).
 */
int statefile_parse(const uint8_t *buf, size_t len, struct statefile *sf, struct err *e);

/* The section with that tag and instance, or NULL. */
const struct statefile_section *statefile_find(const struct statefile *sf, uint32_t tag,
                                               uint32_t instance);

#endif
