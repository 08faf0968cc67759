/* Where a value of a parsed JSON document sits in its text, as serde_json reports positions. */
#ifndef BRASA_MODEL_JSON_POS_H
#define BRASA_MODEL_JSON_POS_H

#include <stddef.h>

#include <jansson.h>

/* The text a JSON tree was parsed from (jansson keeps no positions). */
struct json_src {
        const char *text;
        size_t len;
        const json_t *root; /* the tree json_loadb() made of text */
};

/* Which point of a value an error is reported at. */
enum json_anchor {
        JSON_AT_VALUE, /* just after the value (serde's type and range errors) */
        JSON_AT_KEY,   /* just after the key of the object member whose value it is */
        /* after the value and the blanks that follow, and after the enclosing '}' when that
         * comes next: where serde_json is when a custom error leaves a struct */
        JSON_AT_NEXT,
};

/*
 * The line (from 1) and column (bytes consumed on that line, as serde_json counts them) of
 * the anchor point of node v, which must be src->root or a value inside it; jansson's
 * object iteration order is the document order, which the walk relies on. Returns 0, or
 * -ENOENT when v is not in the tree or the text does not match it (then *line and *col
 * are untouched).
 */
int json_pos_find(const struct json_src *src, const json_t *v, enum json_anchor at,
                  unsigned int *line, unsigned int *col);

/*
 * The bytes [*start, *end) of src->text that hold value v (src->root or inside it): for a
 * number, its literal as written. Returns 0 or -ENOENT (v not found; outputs untouched).
 */
int json_pos_span(const struct json_src *src, const json_t *v, size_t *start, size_t *end);

#endif
