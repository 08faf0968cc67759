/* The model codec: serde's strict decode, Firecracker's JSON encode and the free, from one table.
 */
#include "model/codec.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/text.h"

#define MAX_ECHO   CFG_MAX_ECHO
#define MAX_FIELDS 16

/* ---- messages ---------------------------------------------------------------------------- */

struct sbuf {
        char *p;
        size_t len;
        size_t pos;
};

static void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_printf(struct sbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (b->pos + 1 >= b->len)
                return;
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->pos, b->len - b->pos, fmt, ap);
        va_end(ap);
        if (n > 0)
                b->pos += (size_t)n;
        if (b->pos >= b->len)
                b->pos = b->len - 1;
}

static const char *rc_prefix(const struct perr *pe, int rc)
{
        if (!pe->file)
                return "";
        if (rc == -EBADMSG)
                return "Invalid JSON: ";
        if (rc == -EINVAL)
                return pe->prefix ? pe->prefix : "VM config error: ";
        return "";
}

int cfg_fail(struct perr *pe, int rc, const char *fmt, ...)
{
        char msg[ERR_MSG_MAX];
        va_list ap;

        if (!pe->e)
                return rc;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        return err_set(pe->e, rc, "%s%s", rc_prefix(pe, rc), msg);
}

void cfg_escape(const char *s, size_t n, char *out, size_t outlen)
{
        text_debug_escape(s, n, MAX_ECHO, out, outlen);
}

int cfg_dup(struct perr *pe, const char *s, char **out)
{
        *out = NULL;
        if (!s)
                return 0;
        *out = strdup(s);
        return *out ? 0 : cfg_fail(pe, -ENOMEM, "out of memory");
}

/*
 * A float as serde prints it: Rust's Display (the shortest digits that read back as d,
 * written out in full, never with an exponent) with ".0" when that has no point:
 * 1000.0, 1.5, 0.0000001, 18446744073709552000.0.
 */
static void fmt_float(double d, char *out, size_t len)
{
        char sci[40], digits[24], *o = out, *end = out + len - 1;
        int prec, exp, nd = 0, i;
        const char *p;

        for (prec = 0; prec < 17; prec++) { /* "-d.ddde+XX" */
                snprintf(sci, sizeof(sci), "%.*e", prec, d);
                if (strtod(sci, NULL) == d)
                        break;
        }
        for (p = sci; *p && *p != 'e'; p++)
                if (isdigit((unsigned char)*p))
                        digits[nd++] = *p;
        exp = atoi(p + 1);
        if (sci[0] == '-' && o < end)
                *o++ = '-';
        for (i = exp < 0 ? exp : 0; i < nd || i <= exp; i++) { /* digit i sits at 10^(exp-i) */
                if (i == exp + 1 && o < end)
                        *o++ = '.';
                if (o < end)
                        *o++ = i >= 0 && i < nd ? digits[i] : '0';
        }
        *o = '\0';
        if (!strchr(out, '.'))
                strncat(out, ".0", len - strlen(out) - 1);
}

/*
 * A JSON number as serde_json reads it: an integer that fits u64 or i64, else a float.
 * jansson keeps integers as int64 only, so a body with a larger one is parsed with every
 * number as a double (JSON_DECODE_INT_AS_REAL); the literal in pe's source text then says
 * what the number was.
 */
struct jnum {
        enum { JNUM_UINT, JNUM_NEG, JNUM_FLOAT } kind;
        uint64_t u; /* JNUM_UINT */
        int64_t i;  /* JNUM_NEG */
        double d;   /* JNUM_FLOAT */
};

/* An integer literal ("-"? digits) of at most 24 bytes, copied NUL-terminated to out. */
static bool int_literal(const struct perr *pe, const json_t *v, char out[32])
{
        size_t a, b, k;

        if (!pe->src || json_pos_span(pe->src, v, &a, &b) || b - a > 24 || b == a)
                return false;
        for (k = a; k < b; k++)
                if (!(isdigit((unsigned char)pe->src->text[k]) ||
                      (k == a && pe->src->text[k] == '-')))
                        return false;
        memcpy(out, pe->src->text + a, b - a);
        out[b - a] = '\0';
        return true;
}

/* Classifies the number v; false when v is no number. */
static bool number_of(const struct perr *pe, const json_t *v, struct jnum *n)
{
        char lit[32];

        if (json_is_integer(v)) {
                n->kind = json_integer_value(v) < 0 ? JNUM_NEG : JNUM_UINT;
                n->i = json_integer_value(v);
                n->u = (uint64_t)n->i;
                return true;
        }
        if (!json_is_real(v))
                return false;
        n->kind = JNUM_FLOAT;
        n->d = json_real_value(v);
        if (!int_literal(pe, v, lit))
                return true;
        errno = 0;
        if (lit[0] == '-') {
                n->i = strtoll(lit, NULL, 10);
                n->kind = errno ? JNUM_FLOAT : JNUM_NEG; /* below i64::MIN: serde's f64 */
        } else {
                n->u = strtoull(lit, NULL, 10);
                n->kind = errno ? JNUM_FLOAT : JNUM_UINT; /* above u64::MAX: serde's f64 */
        }
        return true;
}

/* serde_json's description of a value that has the wrong type ("string \"2\""). */
static void describe(const struct perr *pe, const json_t *v, char *out, size_t len)
{
        char tmp[MAX_ECHO * 6 + 16];
        struct jnum n;

        if (number_of(pe, v, &n)) {
                if (n.kind == JNUM_UINT) {
                        snprintf(out, len, "integer `%" PRIu64 "`", n.u);
                } else if (n.kind == JNUM_NEG) {
                        snprintf(out, len, "integer `%" PRId64 "`", n.i);
                } else {
                        fmt_float(n.d, tmp, sizeof(tmp));
                        snprintf(out, len, "floating point `%s`", tmp);
                }
                return;
        }
        switch (json_typeof(v)) {
        case JSON_NULL:
                snprintf(out, len, "null");
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                snprintf(out, len, "boolean `%s`", json_is_true(v) ? "true" : "false");
                break;
        case JSON_STRING:
                cfg_escape(json_string_value(v), json_string_length(v), tmp, sizeof(tmp));
                snprintf(out, len, "string \"%s\"", tmp);
                break;
        case JSON_ARRAY:
                snprintf(out, len, "sequence");
                break;
        default:
                snprintf(out, len, "map");
                break;
        }
}

/* serde's OneOf: "`a`", "`a` or `b`", "one of `a`, `b`, `c`". */
static void one_of(const char *const *names, size_t n, char *out, size_t len)
{
        struct sbuf b = {out, len, 0};
        size_t i;

        out[0] = '\0';
        if (n == 2) {
                sb_printf(&b, "`%s` or `%s`", names[0], names[1]);
                return;
        }
        if (n > 2)
                sb_printf(&b, "one of ");
        for (i = 0; i < n; i++)
                sb_printf(&b, "%s`%s`", i ? ", " : "", names[i]);
}

/* serde_json's " at line L column C" for the anchor point of v, or "" without the text. */
static void at_pos(const struct perr *pe, const json_t *v, enum json_anchor at, char *out,
                   size_t len)
{
        unsigned int line, col;

        out[0] = '\0';
        if (pe->src && json_pos_find(pe->src, v, at, &line, &col) == 0)
                snprintf(out, len, " at line %u column %u", line, col);
}

int cfg_type_error(struct perr *pe, const json_t *v, const char *expected)
{
        char what[MAX_ECHO * 6 + 32], pos[64];

        describe(pe, v, what, sizeof(what));
        at_pos(pe, v, JSON_AT_VALUE, pos, sizeof(pos));
        return cfg_fail(pe, -EBADMSG, "invalid type: %s, expected %s%s", what, expected, pos);
}

int cfg_unknown_field(struct perr *pe, const char *key, const json_t *member,
                      const char *const *names, size_t n)
{
        char got[MAX_ECHO * 6 + 16], list[512], pos[64];

        cfg_escape(key, strlen(key), got, sizeof(got));
        one_of(names, n, list, sizeof(list));
        at_pos(pe, member, JSON_AT_KEY, pos, sizeof(pos));
        return cfg_fail(pe, -EBADMSG, "unknown field `%s`, expected %s%s", got, list, pos);
}

int cfg_missing_field(struct perr *pe, const char *name, const json_t *obj)
{
        char pos[64];

        at_pos(pe, obj, JSON_AT_VALUE, pos, sizeof(pos));
        return cfg_fail(pe, -EBADMSG, "missing field `%s`%s", name, pos);
}

int cfg_error_at(struct perr *pe, const json_t *v, enum json_anchor at, const char *fmt, ...)
{
        char msg[ERR_MSG_MAX], pos[64];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        at_pos(pe, v, at, pos, sizeof(pos));
        return cfg_fail(pe, -EBADMSG, "%s%s", msg, pos);
}

/* ---- the built-in types: checks --------------------------------------------------------- */

static int check_uint(struct perr *pe, const json_t *v, uint64_t max, const char *tname)
{
        char pos[64];
        struct jnum n;

        if (!number_of(pe, v, &n) || n.kind == JNUM_FLOAT)
                return cfg_type_error(pe, v, tname);
        if (n.kind == JNUM_UINT && n.u <= max)
                return 0;
        at_pos(pe, v, JSON_AT_VALUE, pos, sizeof(pos));
        if (n.kind == JNUM_NEG)
                return cfg_fail(pe, -EBADMSG, "invalid value: integer `%" PRId64 "`, expected %s%s",
                                n.i, tname, pos);
        return cfg_fail(pe, -EBADMSG, "invalid value: integer `%" PRIu64 "`, expected %s%s", n.u,
                        tname, pos);
}

#define UINT_CHECK(tn, max, tname)                                                                 \
        static int check_##tn(struct perr *pe, const json_t *v, const struct mfield *f)            \
        {                                                                                          \
                (void)f;                                                                           \
                return check_uint(pe, v, max, tname);                                              \
        }
UINT_CHECK(u8, UINT8_MAX, "u8")
UINT_CHECK(u16, UINT16_MAX, "u16")
UINT_CHECK(u32, UINT32_MAX, "u32")
UINT_CHECK(u64, UINT64_MAX, "u64")
UINT_CHECK(usize, UINT64_MAX, "usize")

static int check_bool(struct perr *pe, const json_t *v, const struct mfield *f)
{
        (void)f;
        return json_is_boolean(v) ? 0 : cfg_type_error(pe, v, "a boolean");
}

static int check_str(struct perr *pe, const json_t *v, const struct mfield *f)
{
        (void)f;
        if (!json_is_string(v))
                return cfg_type_error(pe, v, "a string");
        if (strlen(json_string_value(v)) != json_string_length(v))
                return cfg_type_error(pe, v, "a string without NUL bytes");
        return 0;
}

static size_t count_names(const char *const *names)
{
        size_t n = 0;

        while (names[n])
                n++;
        return n;
}

/* The index of v among the variants of f, or -1. */
static int variant_of(const json_t *v, const struct mfield *f)
{
        const char *const *vars = f->arg;
        const char *s = json_string_value(v);
        int i;

        for (i = 0; vars[i]; i++)
                if (strcmp(s, vars[i]) == 0 && strlen(s) == json_string_length(v))
                        return i;
        return -1;
}

static int check_enum(struct perr *pe, const json_t *v, const struct mfield *f)
{
        char got[MAX_ECHO * 6 + 16], list[256], ctx[64];

        if (!json_is_string(v))
                return cfg_type_error(pe, v, f->expected);
        if (variant_of(v, f) >= 0)
                return 0;
        cfg_escape(json_string_value(v), json_string_length(v), got, sizeof(got));
        one_of(f->arg, count_names(f->arg), list, sizeof(list));
        at_pos(pe, v, JSON_AT_VALUE, ctx, sizeof(ctx));
        return cfg_fail(pe, -EBADMSG, "unknown variant `%s`, expected %s%s", got, list, ctx);
}

static int check_object(struct perr *pe, const json_t *v, const struct mfield *f)
{
        const struct model *sub = f->arg;

        return json_is_object(v) ? 0 : cfg_type_error(pe, v, sub->type_name);
}

static int check_array(struct perr *pe, const json_t *v, const struct mfield *f)
{
        (void)f;
        return json_is_array(v) ? 0 : cfg_type_error(pe, v, "a sequence");
}

/* ---- the built-in types: store, encode, release ------------------------------------------ */

static void put_uint(void *dst, size_t size, uint64_t x)
{
        if (size == 1)
                *(uint8_t *)dst = (uint8_t)x;
        else if (size == 2)
                *(uint16_t *)dst = (uint16_t)x;
        else if (size == 4)
                *(uint32_t *)dst = (uint32_t)x;
        else
                *(uint64_t *)dst = x;
}

static int store_uint(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        struct jnum n = {.u = 0};

        number_of(pe, v, &n); /* checked: a JNUM_UINT in range */
        put_uint(dst, f->size, n.u);
        return 0;
}

static uint64_t load_uint(const void *src, size_t size)
{
        if (size == 1)
                return *(const uint8_t *)src;
        if (size == 2)
                return *(const uint16_t *)src;
        if (size == 4)
                return *(const uint32_t *)src;
        return *(const uint64_t *)src;
}

static json_t *encode_uint(const void *src, const struct mfield *f)
{
        return json_integer((json_int_t)load_uint(src, f->size));
}

static int store_bool(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        (void)pe;
        (void)f;
        *(bool *)dst = json_is_true(v);
        return 0;
}

static json_t *encode_bool(const void *src, const struct mfield *f)
{
        (void)f;
        return json_boolean(*(const bool *)src);
}

static int store_str(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        (void)f;
        free(*(char **)dst);
        return cfg_dup(pe, json_string_value(v), (char **)dst);
}

static json_t *encode_str(const void *src, const struct mfield *f)
{
        const char *s = *(char *const *)src;

        (void)f;
        return s ? json_string(s) : json_null();
}

static void release_str(void *dst, const struct mfield *f)
{
        (void)f;
        free(*(char **)dst);
        *(char **)dst = NULL;
}

static int store_enum(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        (void)pe;
        *(unsigned int *)dst = (unsigned int)variant_of(v, f);
        return 0;
}

static json_t *encode_enum(const void *src, const struct mfield *f)
{
        const char *const *vars = f->arg;

        return json_string(vars[*(const unsigned int *)src]);
}

static int store_object(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        const struct model *sub = f->arg;

        memset(dst, 0, f->size);
        return model_decode(pe, sub, v, dst, false);
}

static json_t *encode_object(const void *src, const struct mfield *f)
{
        return model_encode(f->arg, src);
}

static void release_object(void *dst, const struct mfield *f)
{
        model_release(f->arg, dst);
}

static void release_strings(void *dst, const struct mfield *f)
{
        struct mstrings *s = dst;
        unsigned int i;

        (void)f;
        for (i = 0; i < s->n; i++)
                free(s->v[i]);
        free(s->v);
        memset(s, 0, sizeof(*s));
}

static int store_strings(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        struct mstrings *s = dst;
        const json_t *e;
        size_t i;

        release_strings(s, f);
        s->v = calloc(json_array_size(v) + 1, sizeof(char *));
        if (!s->v)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        json_array_foreach(v, i, e)
        {
                if (cfg_dup(pe, json_string_value(e), &s->v[i]))
                        return -ENOMEM; /* the caller releases s */
                s->n++;
        }
        return 0;
}

static json_t *encode_strings(const void *src, const struct mfield *f)
{
        const struct mstrings *s = src;
        json_t *a = json_array();
        unsigned int i;

        (void)f;
        for (i = 0; a && i < s->n; i++) {
                if (json_array_append_new(a, json_string(s->v[i]))) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* A string whose presence alone is kept (a bool), shown as null. */
static int store_flag(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        (void)pe;
        (void)v;
        (void)f;
        *(bool *)dst = true;
        return 0;
}

static json_t *encode_null(const void *src, const struct mfield *f)
{
        (void)src;
        (void)f;
        return json_null();
}

const struct mtype mt_bool = {check_bool, store_bool, encode_bool, NULL};
const struct mtype mt_u8 = {check_u8, store_uint, encode_uint, NULL};
const struct mtype mt_u16 = {check_u16, store_uint, encode_uint, NULL};
const struct mtype mt_u32 = {check_u32, store_uint, encode_uint, NULL};
const struct mtype mt_u64 = {check_u64, store_uint, encode_uint, NULL};
const struct mtype mt_usize = {check_usize, store_uint, encode_uint, NULL};
const struct mtype mt_str = {check_str, store_str, encode_str, release_str};
const struct mtype mt_enum = {check_enum, store_enum, encode_enum, NULL};
const struct mtype mt_object = {check_object, store_object, encode_object, release_object};
const struct mtype mt_array = {check_array, NULL, NULL, NULL};
const struct mtype mt_strings = {check_array, store_strings, encode_strings, release_strings};
const struct mtype mt_any = {NULL, NULL, NULL, NULL};
const struct mtype mt_str_flag = {check_str, store_flag, encode_null, NULL};

/* ---- pass 1: check ------------------------------------------------------------------------ */

static const struct mfield *find_field(const struct model *m, const char *key)
{
        size_t i;

        for (i = 0; i < m->n; i++)
                if (strcmp(m->fields[i].name, key) == 0)
                        return &m->fields[i];
        return NULL;
}

static int check_value(struct perr *pe, const json_t *v, const struct mfield *f, bool patch)
{
        if (json_is_null(v) && ((f->flags & MF_OPTION) || patch))
                return 0;
        return f->type->check ? f->type->check(pe, v, f) : 0;
}

/* The object and its own keys, in document order; then the missing required fields. */
static int check_keys(struct perr *pe, const struct model *m, const json_t *obj, bool patch)
{
        const char *names[MAX_FIELDS];
        const struct mfield *f;
        const char *key;
        json_t *v;
        size_t i;
        int rc;

        if (!json_is_object(obj))
                return cfg_type_error(pe, obj, m->type_name);
        for (i = 0; i < m->n && i < MAX_FIELDS; i++)
                names[i] = m->fields[i].name;
        json_object_foreach((json_t *)(uintptr_t)obj, key, v)
        {
                f = find_field(m, key);
                if (!f && m->lax)
                        continue; /* serde without deny_unknown_fields */
                if (!f)
                        return cfg_unknown_field(pe, key, v, names, i);
                rc = check_value(pe, v, f, patch);
                if (rc)
                        return rc;
        }
        for (i = 0; i < m->n && !patch; i++)
                if ((m->fields[i].flags & MF_REQUIRED) && !json_object_get(obj, m->fields[i].name))
                        return cfg_missing_field(pe, m->fields[i].name, obj);
        return 0;
}

/* The contents of a nested struct, sequence of structs or sequence of strings. */
static int check_nested(struct perr *pe, const json_t *v, const struct mfield *f)
{
        const json_t *e;
        size_t i;
        int rc;

        if (!v || json_is_null(v))
                return 0;
        if (json_is_object(v))
                return model_check(pe, f->arg, v, false);
        json_array_foreach(v, i, e)
        {
                if (f->type == &mt_strings)
                        rc = json_is_string(e) ? 0 : cfg_type_error(pe, e, "a string");
                else
                        rc = model_check(pe, f->arg, e, false);
                if (rc)
                        return rc;
        }
        return 0;
}

int model_check(struct perr *pe, const struct model *m, const json_t *v, bool patch)
{
        const struct mfield *f;
        size_t i;
        int rc;

        rc = check_keys(pe, m, v, patch);
        for (i = 0; !rc && i < m->n; i++) {
                f = &m->fields[i];
                if ((f->flags & MF_NESTED) || f->type == &mt_strings)
                        rc = check_nested(pe, json_object_get(v, f->name), f);
        }
        return rc;
}

/* ---- pass 2: store ------------------------------------------------------------------------ */

const json_t *model_given(const json_t *v, const char *name)
{
        const json_t *x = json_object_get(v, name);

        return json_is_null(x) ? NULL : x;
}

static bool is_scalar(size_t size)
{
        return size == 1 || size == 2 || size == 4 || size == 8;
}

/* An absent field of a PUT: its default (integers, enums, addresses), or zero. */
static void store_default(const struct mfield *f, void *dst)
{
        if (f->type->release)
                f->type->release(dst, f);
        if (!f->type->release && is_scalar(f->size))
                put_uint(dst, f->size, f->dflt);
        else
                memset(dst, 0, f->size);
}

/* Stores a field of the body (or its default) and then its has-flag. */
static int store_field(struct perr *pe, const struct mfield *f, const json_t *v, char *base,
                       bool patch)
{
        int rc = 0;

        if (v)
                rc = f->type->store(pe, v, base + f->off, f);
        else if (!patch)
                store_default(f, base + f->off);
        if (f->has != MF_NO_HAS && (v || !patch))
                *(bool *)(base + f->has) = v != NULL;
        return rc;
}

int model_decode(struct perr *pe, const struct model *m, const json_t *v, void *out, bool patch)
{
        const struct mfield *f;
        size_t i;
        int rc;

        rc = model_check(pe, m, v, patch);
        if (rc)
                return rc;
        for (i = 0; !rc && i < m->n; i++) {
                f = &m->fields[i];
                if (!(f->flags & MF_NOSTORE) && f->type->store)
                        rc = store_field(pe, f, model_given(v, f->name), out, patch);
        }
        if (rc)
                model_release(m, out);
        return rc;
}

/* ---- encode and release ------------------------------------------------------------------- */

static json_t *encode_field(const struct mfield *f, const char *base)
{
        bool has = f->has == MF_NO_HAS || *(const bool *)(base + f->has);

        if (!has && (f->flags & MF_NULL_UNSET))
                return json_null();
        return f->type->encode(base + f->off, f);
}

json_t *model_encode(const struct model *m, const void *obj)
{
        const struct mfield *f;
        json_t *o;
        size_t i;

        if (m->encode)
                return m->encode(obj);
        o = json_object();
        for (i = 0; o && i < m->n; i++) {
                f = &m->fields[i];
                if ((f->flags & (MF_HIDE | MF_NOSTORE)) || !f->type->encode)
                        continue;
                if ((f->flags & MF_OMIT_UNSET) && f->has != MF_NO_HAS &&
                    !*(const bool *)((const char *)obj + f->has))
                        continue;
                if (json_object_set_new(o, f->name, encode_field(f, obj))) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

json_t *model_loadb(const char *text, size_t len, size_t flags, json_error_t *jerr)
{
        json_t *v = json_loadb(text, len, flags, jerr);

        if (!v && json_error_code(jerr) == json_error_numeric_overflow)
                v = json_loadb(text, len, flags | JSON_DECODE_INT_AS_REAL, jerr);
        return v;
}

/* The length of the string literal at t (its quotes included). */
static size_t string_len(const char *t)
{
        size_t i = 1;

        while (t[i] && t[i] != '"')
                i += t[i] == '\\' && t[i + 1] ? 2 : 1;
        return t[i] ? i + 1 : i;
}

/* Copies text to out, each negative integer outside strings as the u64 it stands for. */
static void unsign(const char *text, char *out)
{
        const char *t = text;
        char *o = out;
        size_t n;
        char *end;

        while (*t) {
                if (*t == '"') {
                        n = string_len(t);
                        memcpy(o, t, n);
                        o += n;
                        t += n;
                } else if (*t == '-' && isdigit((unsigned char)t[1])) {
                        o += sprintf(o, "%" PRIu64, (uint64_t)strtoll(t, &end, 10));
                        t = end;
                } else {
                        *o++ = *t++;
                }
        }
        *o = '\0';
}

char *model_dumps(const json_t *v)
{
        char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY), *out;

        if (!text || !strchr(text, '-'))
                return text;
        /* each '-' grows by at most 19 bytes: "-1" becomes "18446744073709551615" */
        out = malloc(strlen(text) * 20 + 1);
        if (out)
                unsign(text, out);
        free(text);
        return out;
}

void model_release(const struct model *m, void *obj)
{
        const struct mfield *f;
        size_t i;

        for (i = 0; i < m->n; i++) {
                f = &m->fields[i];
                if (!(f->flags & MF_NOSTORE) && f->type->release)
                        f->type->release((char *)obj + f->off, f);
        }
}
