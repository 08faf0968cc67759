/* Where a value of a parsed JSON document sits in its text, as serde_json reports positions. */
#include "model/json_pos.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* A walk over the text in step with the tree: pos is the next byte to read. */
struct walk {
        const char *t;
        size_t len;
        size_t pos;
        const json_t *target;
        enum json_anchor at;
        size_t found; /* the offset of the anchor point, once seen */
        size_t start; /* where the target's value begins */
        bool hit;
};

static void skip_ws(struct walk *w)
{
        while (w->pos < w->len && strchr(" \t\r\n", w->t[w->pos]) && w->t[w->pos])
                w->pos++;
}

static bool peek(const struct walk *w, char c)
{
        return w->pos < w->len && w->t[w->pos] == c;
}

/* Past one string literal; false when the text has none here. */
static bool skip_string(struct walk *w)
{
        if (!peek(w, '"'))
                return false;
        for (w->pos++; w->pos < w->len; w->pos++) {
                if (w->t[w->pos] == '\\')
                        w->pos++;
                else if (w->t[w->pos] == '"')
                        return ++w->pos <= w->len;
        }
        return false;
}

/* Past a number, true, false or null. */
static bool skip_scalar(struct walk *w)
{
        size_t start = w->pos;

        while (w->pos < w->len && !strchr(",}] \t\r\n", w->t[w->pos]))
                w->pos++;
        return w->pos > start;
}

static bool walk_value(struct walk *w, const json_t *v);

/* Past ',' between members or elements, and true at the closing bracket. */
static bool next_or_close(struct walk *w, char close)
{
        skip_ws(w);
        if (peek(w, ','))
                w->pos++;
        skip_ws(w);
        return peek(w, close);
}

static bool walk_object(struct walk *w, const json_t *obj)
{
        void *it;

        w->pos++; /* '{' */
        for (it = json_object_iter((json_t *)(uintptr_t)obj); it && !w->hit;
             it = json_object_iter_next((json_t *)(uintptr_t)obj, it)) {
                skip_ws(w);
                if (!skip_string(w))
                        return false;
                if (w->at == JSON_AT_KEY && json_object_iter_value(it) == w->target) {
                        w->found = w->pos;
                        w->hit = true;
                        return true;
                }
                skip_ws(w);
                if (!peek(w, ':'))
                        return false;
                w->pos++;
                if (!walk_value(w, json_object_iter_value(it)))
                        return false;
                next_or_close(w, '}');
        }
        if (w->hit)
                return true;
        skip_ws(w);
        return peek(w, '}') && ++w->pos;
}

static bool walk_array(struct walk *w, const json_t *arr)
{
        size_t i;

        w->pos++; /* '[' */
        for (i = 0; i < json_array_size(arr) && !w->hit; i++) {
                if (!walk_value(w, json_array_get(arr, i)))
                        return false;
                next_or_close(w, ']');
        }
        if (w->hit)
                return true;
        skip_ws(w);
        return peek(w, ']') && ++w->pos;
}

/* The anchor point of the target, now that the walk is just past its value. */
static void mark_end(struct walk *w)
{
        if (w->at == JSON_AT_NEXT) {
                skip_ws(w);
                if (peek(w, '}'))
                        w->pos++;
        }
        w->found = w->pos;
        w->hit = true;
}

static bool walk_value(struct walk *w, const json_t *v)
{
        bool ok;

        skip_ws(w);
        if (v == w->target)
                w->start = w->pos;
        if (json_is_object(v))
                ok = peek(w, '{') && walk_object(w, v);
        else if (json_is_array(v))
                ok = peek(w, '[') && walk_array(w, v);
        else if (json_is_string(v))
                ok = skip_string(w);
        else
                ok = skip_scalar(w);
        if (ok && !w->hit && v == w->target && w->at != JSON_AT_KEY)
                mark_end(w);
        return ok;
}

/* Walks src to v's anchor point; false when v is not there. */
static bool walk_to(const struct json_src *src, struct walk *w)
{
        if (!src || !src->text || !src->root || !w->target)
                return false;
        walk_value(w, src->root);
        return w->hit;
}

int json_pos_span(const struct json_src *src, const json_t *v, size_t *start, size_t *end)
{
        struct walk w = {.t = src ? src->text : NULL, .len = src ? src->len : 0, .target = v};

        if (!walk_to(src, &w))
                return -ENOENT;
        *start = w.start;
        *end = w.found;
        return 0;
}

int json_pos_find(const struct json_src *src, const json_t *v, enum json_anchor at,
                  unsigned int *line, unsigned int *col)
{
        struct walk w = {
            .t = src ? src->text : NULL, .len = src ? src->len : 0, .target = v, .at = at};
        size_t i, start = 0;
        unsigned int n = 1;

        if (!walk_to(src, &w))
                return -ENOENT;
        for (i = 0; i < w.found; i++) {
                if (src->text[i] == '\n') {
                        n++;
                        start = i + 1;
                }
        }
        *line = n;
        *col = (unsigned int)(w.found - start);
        return 0;
}
