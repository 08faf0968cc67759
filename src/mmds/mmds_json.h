/* The MMDS data store as the guest reads it: serde_json's JSON pointer, writer and IMDS text. */
#ifndef BRASA_MMDS_MMDS_JSON_H
#define BRASA_MMDS_MMDS_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* A growing byte buffer; oom sticks once an append could not allocate. With count_only,
 * appends only add to n and nothing is stored (p stays NULL). */
struct mmds_buf {
        char *p;
        size_t n, cap;
        bool oom;
        bool count_only;
};

/* Appends n bytes (nothing once oom is set). */
void mmds_buf_add(struct mmds_buf *b, const void *s, size_t n);

/* Appends a NUL-terminated string. */
void mmds_buf_str(struct mmds_buf *b, const char *s);

/*
 * serde_json's Value::pointer(): "" is the whole value; otherwise ptr must start with '/',
 * each token ("~1" -> '/', then "~0" -> '~') names an object key or an array index
 * (decimal, no '+', no leading zero). root NULL is JSON null. The tokens of ptr[0, n) are
 * unescaped in place (ptr is scratch afterwards). Returns the value (borrowed) or NULL when
 * the path leads nowhere.
 */
const json_t *mmds_json_pointer(const json_t *root, char *ptr, size_t n);

/*
 * Appends v as serde_json::to_string() writes a Value: compact, object keys in byte order
 * (serde_json's BTreeMap), floats in ryu's shortest form ("1.0", "1e-7"), strings with
 * only '"', '\\' and control characters escaped. v NULL is null.
 */
void mmds_json_write(struct mmds_buf *b, const json_t *v);

/* The bytes mmds_json_write() appends for v (serde_json::to_vec(), which the store's size
 * limit counts), without writing them; SIZE_MAX when v cannot be written (nesting). */
size_t mmds_json_size(const json_t *v);

/*
 * Appends v in the IMDS text format: an object's keys in order, one per line, with '/'
 * after those whose value is an object; a string as itself. Returns 0, or -ENOTSUP for
 * any other type (Firecracker's UnsupportedValueType).
 */
int mmds_json_imds(struct mmds_buf *b, const json_t *v);

#endif
