/* The data store's lookups and its two output formats, byte for byte serde_json's and IMDS's. */
#include "mmds/mmds_json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mmds_buf_add(struct mmds_buf *b, const void *s, size_t n)
{
        size_t cap;
        char *p;

        if (b->oom || n == 0)
                return;
        if (b->count_only) {
                b->n += n;
                return;
        }
        if (b->cap - b->n < n) {
                cap = b->cap ? b->cap : 256;
                while (cap - b->n < n)
                        cap *= 2;
                p = realloc(b->p, cap);
                if (!p) {
                        b->oom = true;
                        return;
                }
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->n, s, n);
        b->n += n;
}

void mmds_buf_str(struct mmds_buf *b, const char *s)
{
        mmds_buf_add(b, s, strlen(s));
}

/* ---- lookup ---------------------------------------------------------------------------------- */

/* serde_json's parse_index(): digits only, no '+', no leading zero, fits a usize. */
static bool parse_index(const char *s, size_t n, size_t *out)
{
        uint64_t v = 0;
        size_t i;

        if (n == 0 || (s[0] == '0' && n != 1))
                return false;
        for (i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                if (v > (UINT64_MAX - 9) / 10)
                        return false;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *out = (size_t)v;
        return true;
}

/* Replaces every from[2] in s[0, *n) by the byte to, in place, left to right. */
static void unescape_pass(char *s, size_t *n, const char *from, char to)
{
        size_t i, o = 0;

        for (i = 0; i < *n; i++) {
                if (i + 1 < *n && s[i] == from[0] && s[i + 1] == from[1]) {
                        s[o++] = to;
                        i++;
                } else {
                        s[o++] = s[i];
                }
        }
        *n = o;
}

/* One reference token applied to v; NULL where it leads nowhere. */
static const json_t *step(const json_t *v, char *tok, size_t n)
{
        size_t idx;

        unescape_pass(tok, &n, "~1", '/');
        unescape_pass(tok, &n, "~0", '~');
        if (json_is_object(v))
                return json_object_getn(v, tok, n);
        if (json_is_array(v) && parse_index(tok, n, &idx))
                return json_array_get(v, idx);
        return NULL;
}

const json_t *mmds_json_pointer(const json_t *root, char *ptr, size_t n)
{
        const json_t *v = root ? root : json_null(); /* jansson's null is a static singleton */
        char *end = ptr + n, *slash;
        size_t len;

        if (n == 0)
                return v;
        if (ptr[0] != '/')
                return NULL;
        /* tokens only shrink when unescaped, so each is rewritten where it lies */
        for (ptr++; v; ptr = slash + 1) {
                slash = memchr(ptr, '/', (size_t)(end - ptr));
                len = (size_t)((slash ? slash : end) - ptr);
                v = step(v, ptr, len);
                if (!slash)
                        break;
        }
        return v;
}

/* ---- serde_json's writer --------------------------------------------------------------------- */

/* Shortest decimal digits of v > 0 that read back as v: digits[0, *len) x 10^*exp. */
static void shortest_digits(double v, char *digits, int *len, int *exp)
{
        char buf[40], *e;
        int p, n = 0, i;

        for (p = 1; p < 17; p++) {
                snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
                if (strtod(buf, NULL) == v)
                        break;
        }
        snprintf(buf, sizeof(buf), "%.*e", p - 1, v);
        e = strchr(buf, 'e');
        for (i = 0; buf + i < e; i++)
                if (buf[i] != '.')
                        digits[n++] = buf[i];
        while (n > 1 && digits[n - 1] == '0')
                n--;
        *len = n;
        *exp = atoi(e + 1) - (n - 1);
}

/* ryu's format64() layout of digits x 10^k (what serde_json writes for an f64). */
static void write_real(struct mmds_buf *b, double v)
{
        char d[24], tmp[16];
        int len, k, kk, i;

        if (!isfinite(v)) {
                mmds_buf_str(b, "null");
                return;
        }
        if (signbit(v))
                mmds_buf_str(b, "-");
        if (v == 0) {
                mmds_buf_str(b, "0.0");
                return;
        }
        shortest_digits(fabs(v), d, &len, &k);
        kk = len + k;
        if (k >= 0 && kk <= 16) {
                mmds_buf_add(b, d, (size_t)len);
                for (i = 0; i < k; i++)
                        mmds_buf_str(b, "0");
                mmds_buf_str(b, ".0");
        } else if (kk > 0 && kk <= 16) {
                mmds_buf_add(b, d, (size_t)kk);
                mmds_buf_str(b, ".");
                mmds_buf_add(b, d + kk, (size_t)(len - kk));
        } else if (kk > -5 && kk <= 0) {
                mmds_buf_str(b, "0.");
                for (i = 0; i < -kk; i++)
                        mmds_buf_str(b, "0");
                mmds_buf_add(b, d, (size_t)len);
        } else {
                mmds_buf_add(b, d, 1);
                if (len > 1) {
                        mmds_buf_str(b, ".");
                        mmds_buf_add(b, d + 1, (size_t)(len - 1));
                }
                snprintf(tmp, sizeof(tmp), "e%d", kk - 1);
                mmds_buf_str(b, tmp);
        }
}

/* serde_json's format_escaped_str(): '"', '\\' and C0 controls only; \u00xx in lowercase. */
static void write_string(struct mmds_buf *b, const char *s, size_t n)
{
        static const char hex[] = "0123456789abcdef";
        size_t i, run = 0;
        char esc[7];
        unsigned char c;

        mmds_buf_str(b, "\"");
        for (i = 0; i < n; i++) {
                c = (unsigned char)s[i];
                if (c >= 0x20 && c != '"' && c != '\\')
                        continue;
                mmds_buf_add(b, s + run, i - run);
                run = i + 1;
                esc[0] = '\\';
                esc[2] = '\0';
                switch (c) {
                case '"':
                        esc[1] = '"';
                        break;
                case '\\':
                        esc[1] = '\\';
                        break;
                case '\b':
                        esc[1] = 'b';
                        break;
                case '\t':
                        esc[1] = 't';
                        break;
                case '\n':
                        esc[1] = 'n';
                        break;
                case '\f':
                        esc[1] = 'f';
                        break;
                case '\r':
                        esc[1] = 'r';
                        break;
                default:
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        esc[6] = '\0';
                }
                mmds_buf_str(b, esc);
        }
        mmds_buf_add(b, s + run, n - run);
        mmds_buf_str(b, "\"");
}

/* One object member, for sorting. */
struct member {
        const char *key;
        size_t len;
        const json_t *value;
};

/* Rust's String order: bytes compared, then the shorter first. */
static int member_cmp(const void *a, const void *b)
{
        const struct member *x = a, *y = b;
        int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

        if (c)
                return c;
        return (x->len > y->len) - (x->len < y->len);
}

/* The members of object o in serde_json's (BTreeMap) order; NULL on ENOMEM or when empty. */
static struct member *sorted_members(const json_t *o, size_t *count)
{
        json_t *obj = (json_t *)(uintptr_t)o, *v;
        struct member *m;
        const char *key;
        size_t n = 0, len;

        *count = json_object_size(o);
        if (*count == 0)
                return NULL;
        m = calloc(*count, sizeof(*m));
        if (!m)
                return NULL;
        json_object_keylen_foreach(obj, key, len, v)
        {
                m[n++] = (struct member){key, len, v};
        }
        qsort(m, n, sizeof(*m), member_cmp);
        return m;
}

static void write_object(struct mmds_buf *b, const json_t *o)
{
        struct member *m;
        size_t n, i;

        m = sorted_members(o, &n);
        if (n && !m) {
                b->oom = true;
                return;
        }
        mmds_buf_str(b, "{");
        for (i = 0; i < n; i++) {
                if (i)
                        mmds_buf_str(b, ",");
                write_string(b, m[i].key, m[i].len);
                mmds_buf_str(b, ":");
                mmds_json_write(b, m[i].value);
        }
        mmds_buf_str(b, "}");
        free(m);
}

void mmds_json_write(struct mmds_buf *b, const json_t *v)
{
        char tmp[24];
        size_t i;

        switch (v ? json_typeof(v) : JSON_NULL) {
        case JSON_OBJECT:
                write_object(b, v);
                break;
        case JSON_ARRAY:
                mmds_buf_str(b, "[");
                for (i = 0; i < json_array_size(v); i++) {
                        if (i)
                                mmds_buf_str(b, ",");
                        mmds_json_write(b, json_array_get(v, i));
                }
                mmds_buf_str(b, "]");
                break;
        case JSON_STRING:
                write_string(b, json_string_value(v), json_string_length(v));
                break;
        case JSON_INTEGER:
                snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
                mmds_buf_str(b, tmp);
                break;
        case JSON_REAL:
                write_real(b, json_real_value(v));
                break;
        case JSON_TRUE:
                mmds_buf_str(b, "true");
                break;
        case JSON_FALSE:
                mmds_buf_str(b, "false");
                break;
        case JSON_NULL:
                mmds_buf_str(b, "null");
                break;
        }
}

size_t mmds_json_size(const json_t *v)
{
        struct mmds_buf b = {.count_only = true};

        mmds_json_write(&b, v);
        return b.oom ? SIZE_MAX : b.n;
}

/* ---- IMDS text ------------------------------------------------------------------------------- */

int mmds_json_imds(struct mmds_buf *b, const json_t *v)
{
        struct member *m;
        size_t n, i;

        if (json_is_string(v)) {
                mmds_buf_add(b, json_string_value(v), json_string_length(v));
                return 0;
        }
        if (!json_is_object(v))
                return -ENOTSUP;
        m = sorted_members(v, &n);
        if (n && !m) {
                b->oom = true;
                return 0;
        }
        for (i = 0; i < n; i++) {
                if (i)
                        mmds_buf_str(b, "\n");
                mmds_buf_add(b, m[i].key, m[i].len);
                if (json_is_object(m[i].value))
                        mmds_buf_str(b, "/");
        }
        free(m);
        return 0;
}
