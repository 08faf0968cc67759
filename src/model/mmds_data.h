/* The MMDS data store's JSON: parsed as serde_json parses a Value, sized as serde_json writes it.
 */
#ifndef BRASA_MODEL_MMDS_DATA_H
#define BRASA_MODEL_MMDS_DATA_H

#include <stddef.h>

#include <jansson.h>

#include "core/err.h"

/*
 * serde_json::from_str::<Value>(text): any JSON value, duplicate keys allowed (the last
 * wins). Returns 0 with *out set (a new reference), or -EBADMSG with e's message the Debug
 * of serde_json's error: Error("EOF while parsing an object", line: 7, column: 0). A text
 * cut short gets serde's EOF message and position; other syntax errors keep jansson's words
 * in the same shape.
 */
int mmds_data_parse(const char *text, size_t len, json_t **out, struct err *e);

#endif
