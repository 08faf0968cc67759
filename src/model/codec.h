/* The model codec: Firecracker's serde structs as descriptor tables that drive decode, encode,
 * free. */
#ifndef BRASA_MODEL_CODEC_H
#define BRASA_MODEL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "model/json_pos.h"

#define CFG_MAX_ECHO 64 /* bytes of a user string echoed back in a message */

/* Where a message goes and what it is about. */
struct perr {
        struct err *e;    /* the message and code; NULL: the code alone */
        const char *sect; /* config-file section the body came from; NULL for API bodies */
        bool file;        /* add Firecracker's ResourcesError prefixes */
        /* file mode: prefix of -EINVAL messages ("Block device error: "); NULL = "VM config
         * error: " (machine-config's) */
        const char *prefix;
        /* the text the value came from, for serde's " at line L column C"; NULL: none */
        const struct json_src *src;
};

/* An API body's message sink: no section, no prefixes. */
#define PERR_API(e)                                                                                \
        {                                                                                          \
                (e), NULL, false, NULL, NULL                                                       \
        }

struct mfield;

/* How one kind of value is checked (pass 1), stored (pass 2), shown and released. */
struct mtype {
        /* serde's check of the JSON type and range; 0 or -EBADMSG. NULL: any value. */
        int (*check)(struct perr *pe, const json_t *v, const struct mfield *f);
        /* Writes the checked, non-null v to dst; 0, -EBADMSG (a format) or -ENOMEM. */
        int (*store)(struct perr *pe, const json_t *v, void *dst, const struct mfield *f);
        /* The stored value as JSON (new reference; NULL on ENOMEM). NULL: not shown. */
        json_t *(*encode)(const void *src, const struct mfield *f);
        /* Frees what the stored value owns. NULL: owns nothing. */
        void (*release)(void *dst, const struct mfield *f);
};

/* Flags of a field. */
enum {
        MF_REQUIRED = 1u << 0,   /* PUT semantics: must be present */
        MF_OPTION = 1u << 1,     /* Option<T>: null reads as absent */
        MF_NOSTORE = 1u << 2,    /* checked only: the resource keeps no copy */
        MF_HIDE = 1u << 3,       /* not part of the resource's JSON */
        MF_NULL_UNSET = 1u << 4, /* shown as null while its has-flag is false */
        MF_OMIT_UNSET = 1u << 5, /* left out of the JSON while its has-flag is false */
        MF_NESTED = 1u << 6,     /* arg is a model: the value (each element) is checked by it */
};

#define MF_NO_HAS ((size_t)-1)

/* One field of a struct: its JSON name, where it lives, its type and rules. */
struct mfield {
        const char *name;
        const struct mtype *type;
        unsigned int flags;
        size_t off;  /* offset of the value in the struct */
        size_t size; /* its size (integers are stored at their declared width) */
        size_t has;  /* offset of a bool set when the field is given, or MF_NO_HAS */
        /* MT_ENUM: NULL-terminated variant names (stored as their index); MT_OBJECT and
         * MT_ARRAY: the nested model */
        const void *arg;
        const char *expected; /* enums: the type's name in messages ("enum CacheType"); nested
                                 structs use their model's type_name */
        uint64_t dflt;        /* integers and enums: the value when absent */
};

/* A struct: its serde name, its fields in declaration order, and its rules. */
struct model {
        const char *type_name; /* "struct NetworkInterfaceConfig" */
        const struct mfield *fields;
        size_t n;
        bool lax; /* no deny_unknown_fields: unknown keys are skipped */
        /* the struct's JSON when it is not the field-by-field object (e.g. null when
         * nothing limits); NULL: field by field */
        json_t *(*encode)(const void *obj);
};

/* The built-in value types. */
extern const struct mtype mt_bool, mt_u8, mt_u16, mt_u32, mt_u64, mt_usize, mt_str, mt_enum,
    mt_object, mt_array, mt_strings, mt_any;
/* A string of which only its presence is kept (into a bool), always shown as null. */
extern const struct mtype mt_str_flag;

/* Field initialisers: F(T, member, "name", type, flags) and friends. */
#define MFIELD(T, m, jname, mt, fl)                                                                \
        .name = (jname), .type = &(mt), .flags = (fl), .off = offsetof(T, m),                      \
        .size = sizeof(((T *)0)->m)
#define F(T, m, jname, mt, fl)                                                                     \
        {                                                                                          \
                MFIELD(T, m, jname, mt, fl), .has = MF_NO_HAS                                      \
        }
#define F_HAS(T, m, jname, mt, fl, hasm)                                                           \
        {                                                                                          \
                MFIELD(T, m, jname, mt, fl), .has = offsetof(T, hasm)                              \
        }
#define F_DFLT(T, m, jname, mt, fl, d)                                                             \
        {                                                                                          \
                MFIELD(T, m, jname, mt, fl), .has = MF_NO_HAS, .dflt = (d)                         \
        }
#define F_ENUM(T, m, jname, fl, vars, exp, d)                                                      \
        {                                                                                          \
                MFIELD(T, m, jname, mt_enum, fl), .has = MF_NO_HAS, .arg = (vars),                 \
                                                  .expected = (exp), .dflt = (d)                   \
        }
/* A nested struct (its type name comes from the model), with or without a has-flag. */
#define F_SUB(T, m, jname, mt, fl, sub, hasm)                                                      \
        {                                                                                          \
                MFIELD(T, m, jname, mt, (fl) | MF_NESTED), .has = offsetof(T, hasm), .arg = (sub)  \
        }
#define F_OBJ(T, m, jname, mt, fl, sub)                                                            \
        {                                                                                          \
                MFIELD(T, m, jname, mt, (fl) | MF_NESTED), .has = MF_NO_HAS, .arg = (sub)          \
        }
/* A field that is checked and never stored. */
#define F_CHECK(jname, mt, fl)                                                                     \
        {                                                                                          \
                .name = (jname), .type = &(mt), .flags = (fl) | MF_NOSTORE, .has = MF_NO_HAS       \
        }
#define F_CHECK_SUB(jname, mt, fl, sub)                                                            \
        {                                                                                          \
                .name = (jname), .type = &(mt), .flags = (fl) | MF_NOSTORE | MF_NESTED,            \
                .has = MF_NO_HAS, .arg = (sub)                                                     \
        }
#define F_CHECK_ENUM(jname, fl, vars, exp)                                                         \
        {                                                                                          \
                .name = (jname), .type = &mt_enum, .flags = (fl) | MF_NOSTORE, .has = MF_NO_HAS,   \
                .arg = (vars), .expected = (exp)                                                   \
        }
#define MODEL(tname, fields_, lax_)                                                                \
        {                                                                                          \
                .type_name = (tname), .fields = (fields_),                                         \
                .n = sizeof(fields_) / sizeof((fields_)[0]), .lax = (lax_)                         \
        }

/* A stored JSON array of strings (mt_strings). */
struct mstrings {
        char **v;
        unsigned int n;
};

/*
 * Decodes v into the struct at out as serde's derive does, in two passes: pass 1 checks
 * the whole value (keys in document order: unknown fields, unless lax, and wrong types
 * first; then missing required ones, unless patch; then the nested structs in field
 * order), pass 2 stores: given fields are written, absent ones take their default (with
 * patch, absent fields keep what *out holds). Returns 0, -EBADMSG with serde's message,
 * or -ENOMEM; on failure *out owns nothing new (pass 2 failures release it whole).
 */
int model_decode(struct perr *pe, const struct model *m, const json_t *v, void *out, bool patch);

/* Pass 1 of model_decode() alone: 0 or -EBADMSG. */
int model_check(struct perr *pe, const struct model *m, const json_t *v, bool patch);

/* The struct at obj as Firecracker serializes it, fields in table order. New reference or NULL. */
json_t *model_encode(const struct model *m, const void *obj);

/*
 * json_loadb() for a body the codec decodes: one with an integer above INT64_MAX, which
 * jansson cannot hold, is parsed again with every number as a double, and the codec reads
 * the integers from the text (so pass it as pe->src), as serde reads up to u64::MAX.
 */
json_t *model_loadb(const char *text, size_t len, size_t flags, json_error_t *jerr);

/*
 * json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) for JSON that model_encode() made: its
 * integers are all unsigned, and one above INT64_MAX (which jansson holds as a negative
 * json_int_t) is written as the u64 it is. Never for other JSON. NULL on ENOMEM.
 */
char *model_dumps(const json_t *v);

/* Frees what the struct at obj owns (strings, arrays, nested structs); obj's memory stays. */
void model_release(const struct model *m, void *obj);

/* True when field name of v was given a non-null value. */
const json_t *model_given(const json_t *v, const char *name);

/* ---- messages ---------------------------------------------------------------------------- */

/* Sets pe's struct err to rc and "<prefix><message>" (one line of UTF-8); returns rc. */
int cfg_fail(struct perr *pe, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * The messages below end as serde_json's do: with " at line L column C" when pe has the
 * source text (pe->src), placed where serde_json would be when it fails.
 */

/* serde's "invalid type: <what v is>, expected <expected>", after v. Returns -EBADMSG. */
int cfg_type_error(struct perr *pe, const json_t *v, const char *expected);

/* serde's "unknown field `k`, expected one of ..." for the key of member (none of names[n]),
 * after the key. Returns -EBADMSG. */
int cfg_unknown_field(struct perr *pe, const char *key, const json_t *member,
                      const char *const *names, size_t n);

/* serde's "missing field `name`", after the object obj that lacks it. Returns -EBADMSG. */
int cfg_missing_field(struct perr *pe, const char *name, const json_t *obj);

/* A custom serde error about v, at the anchor point `at` of v: JSON_AT_VALUE when a
 * Visitor raises it (std's FromStr types), JSON_AT_NEXT when a Deserialize impl raises it
 * after reading the value (serde_json is then leaving the enclosing struct). -EBADMSG. */
int cfg_error_at(struct perr *pe, const json_t *v, enum json_anchor at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies n bytes of s escaped as Rust's Debug shows a str, cut at CFG_MAX_ECHO bytes. */
void cfg_escape(const char *s, size_t n, char *out, size_t outlen);

/* strdup that reports ENOMEM through pe; NULL in gives NULL out with rc 0. */
int cfg_dup(struct perr *pe, const char *s, char **out);

#endif /* BRASA_MODEL_CODEC_H */
