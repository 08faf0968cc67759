/* The MMDS data store's JSON: parsed as serde_json parses a Value, sized as serde_json writes it.
 */
#include "model/mmds_data.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "core/text.h"

#define MAX_DEPTH 2048 /* jansson's own nesting limit */

/* Where a scan of a text cut short stands when the text ends. */
struct eof_scan {
        char stack[MAX_DEPTH]; /* '{' or '[' of each open container */
        size_t depth;
        bool in_string, escaped;
        bool want_value; /* after ':': serde is in parse_value */
        size_t tok;      /* start of the bare token (literal or number) being read */
        bool in_tok;
};

static bool literal_prefix(const char *t, size_t n)
{
        static const char *const words[] = {"true", "false", "null"};
        size_t i;

        if (n == 1 && t[0] == '-')
                return true; /* a number's sign with nothing after it */
        for (i = 0; i < 3; i++)
                if (n < strlen(words[i]) && strncmp(t, words[i], n) == 0)
                        return true;
        return false;
}

/* One byte outside a string. */
static void scan_byte(struct eof_scan *s, const char *t, size_t i)
{
        char c = t[i];

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
                s->in_tok = false;
                return;
        }
        if (c == '{' || c == '[' || c == '}' || c == ']' || c == ',' || c == ':' || c == '"') {
                s->in_tok = false;
                s->want_value = c == ':';
                if ((c == '{' || c == '[') && s->depth < MAX_DEPTH)
                        s->stack[s->depth++] = c;
                else if ((c == '}' || c == ']') && s->depth)
                        s->depth--;
                s->in_string = c == '"';
                return;
        }
        if (!s->in_tok) {
                s->in_tok = true;
                s->want_value = false;
                s->tok = i;
        }
}

/*
 * serde_json's EofWhileParsing* word for text that ends where it does, or NULL when serde
 * would not blame the end. premature: jansson ran out of input (else it stopped on the last
 * token, which is then only a cut literal).
 */
static const char *eof_kind(const char *t, size_t len, bool premature)
{
        static struct eof_scan s;
        size_t i;

        memset(&s, 0, sizeof(s));
        for (i = 0; i < len; i++) {
                if (!s.in_string) {
                        scan_byte(&s, t, i);
                        continue;
                }
                if (s.escaped)
                        s.escaped = false;
                else if (t[i] == '\\')
                        s.escaped = true;
                else if (t[i] == '"')
                        s.in_string = false;
        }
        if (s.in_tok && literal_prefix(t + s.tok, len - s.tok))
                return "a value";
        if (!premature)
                return NULL;
        if (s.in_string)
                return "a string";
        if (s.want_value || !s.depth)
                return "a value";
        return s.stack[s.depth - 1] == '{' ? "an object" : "a list";
}

/* serde_json's position of the end of text: line from 1, column in bytes since the line's
 * start. */
static void eof_position(const char *t, size_t len, unsigned int *line, unsigned int *col)
{
        size_t i, start = 0;

        *line = 1;
        for (i = 0; i < len; i++) {
                if (t[i] == '\n') {
                        (*line)++;
                        start = i + 1;
                }
        }
        *col = (unsigned int)(len - start);
}

int mmds_data_parse(const char *text, size_t len, json_t **out, struct err *e)
{
        char words[JSON_ERROR_TEXT_LENGTH * 4 + 16];
        unsigned int line, col;
        const char *kind = NULL;
        json_error_t jerr;
        json_t *v;

        v = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (v) {
                *out = v;
                return 0;
        }
        if (json_error_code(&jerr) == json_error_premature_end_of_input ||
            (size_t)jerr.position >= len)
                kind = eof_kind(text, len,
                                json_error_code(&jerr) == json_error_premature_end_of_input);
        if (kind) {
                eof_position(text, len, &line, &col);
                return err_set(e, -EBADMSG, "Error(\"EOF while parsing %s\", line: %u, column: %u)",
                               kind, line, col);
        }
        text_debug_escape(jerr.text, strlen(jerr.text), sizeof(jerr.text), words, sizeof(words));
        return err_set(e, -EBADMSG, "Error(\"%s\", line: %d, column: %d)", words, jerr.line,
                       jerr.column);
}
