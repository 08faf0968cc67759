/* Text helpers shared by the API and the model: UTF-8 checks, one-line messages, Rust's Debug
 * escaping. */
#ifndef BRASA_CORE_TEXT_H
#define BRASA_CORE_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Length (1-4) of the well-formed UTF-8 sequence at s, reading at most avail bytes (avail
 * >= 1), or 0 when it is not one (overlong forms, surrogates and values past U+10FFFF are
 * not).
 */
size_t utf8_seq_len(const unsigned char *s, size_t avail);

/* True when the n bytes at s are all well-formed UTF-8. */
bool utf8_valid(const void *s, size_t n);

/*
 * Makes the NUL-terminated s one line of valid UTF-8 in place: a byte that starts no valid
 * sequence becomes '?', a control character (< 0x20, 0x7f) a space.
 */
void text_one_line(char *s);

/*
 * Writes the first n bytes of s as Rust's Debug shows a str, without the quotes: '"', '\\',
 * '\n', '\r' and '\t' escaped, other control bytes as "\u{xx}", the rest copied. At most
 * max_in input bytes are shown (cut back to a UTF-8 boundary), and fewer when out[outlen]
 * runs short; "..." then marks the cut. out is always NUL-terminated (outlen >= 16).
 * Returns the length written.
 */
size_t text_debug_escape(const void *s, size_t n, size_t max_in, char *out, size_t outlen);

/*
 * Writes how Rust's Debug shows the std::io::Error of errno errnum:
 * `Os { code: 2, kind: NotFound, message: "No such file or directory" }`, with std's
 * ErrorKind for the errno (Uncategorized when std has none). out is NUL-terminated.
 */
void text_io_error_debug(int errnum, char *out, size_t outlen);

#endif
