/* UTF-8 validation, one-line messages and Rust-Debug escaping, in one place. */
#include "core/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
        unsigned char lo = 0x80, hi = 0xbf;
        size_t n, i;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4;
        else
                return 0;
        /* The second byte's range excludes overlong forms, surrogates and > U+10FFFF. */
        if (s[0] == 0xe0)
                lo = 0xa0;
        else if (s[0] == 0xed)
                hi = 0x9f;
        else if (s[0] == 0xf0)
                lo = 0x90;
        else if (s[0] == 0xf4)
                hi = 0x8f;
        if (n > avail || s[1] < lo || s[1] > hi)
                return 0;
        for (i = 2; i < n; i++)
                if (s[i] < 0x80 || s[i] > 0xbf)
                        return 0;
        return n;
}

bool utf8_valid(const void *s, size_t n)
{
        const unsigned char *p = s;
        size_t i = 0, k;

        while (i < n) {
                k = utf8_seq_len(p + i, n - i);
                if (k == 0)
                        return false;
                i += k;
        }
        return true;
}

void text_one_line(char *s)
{
        unsigned char *p = (unsigned char *)s;
        size_t left = strlen(s), n;

        while (left) {
                n = utf8_seq_len(p, left);
                if (n == 0) {
                        *p = '?';
                        n = 1;
                } else if (n == 1 && (*p < 0x20 || *p == 0x7f)) {
                        *p = ' ';
                }
                p += n;
                left -= n;
        }
}

/* The escape of one byte as Rust's Debug writes it. */
static int escape_byte(unsigned char c, char *out, size_t len)
{
        if (c == '"' || c == '\\')
                return snprintf(out, len, "\\%c", c);
        if (c == '\n')
                return snprintf(out, len, "\\n");
        if (c == '\r')
                return snprintf(out, len, "\\r");
        if (c == '\t')
                return snprintf(out, len, "\\t");
        if (c < 0x20 || c == 0x7f)
                return snprintf(out, len, "\\u{%x}", c);
        return snprintf(out, len, "%c", c);
}

size_t text_debug_escape(const void *s, size_t n, size_t max_in, char *out, size_t outlen)
{
        const unsigned char *p = s;
        size_t i, o = 0, lim = n;
        int w;

        out[0] = '\0';
        if (lim > max_in) {
                lim = max_in;
                while (lim && (p[lim] & 0xc0) == 0x80)
                        lim--;
        }
        /* 12 bytes of room: the longest escape, "...", and the NUL. */
        for (i = 0; i < lim && o + 12 < outlen; i++) {
                w = escape_byte(p[i], out + o, outlen - o);
                o += (size_t)(w > 0 ? w : 0);
        }
        if (i < n)
                o += (size_t)snprintf(out + o, outlen - o, "...");
        return o;
}

/* std::sys::pal::unix::decode_error_kind(), for the errnos a path or a socket can give. */
static const char *io_error_kind(int errnum)
{
        static const struct {
                int errnum;
                const char *kind;
        } kinds[] = {
            {E2BIG, "ArgumentListTooLong"},
            {EACCES, "PermissionDenied"},
            {EADDRINUSE, "AddrInUse"},
            {EADDRNOTAVAIL, "AddrNotAvailable"},
            {EAGAIN, "WouldBlock"},
            {EBUSY, "ResourceBusy"},
            {EEXIST, "AlreadyExists"},
            {EFBIG, "FileTooLarge"},
            {EINTR, "Interrupted"},
            {EINVAL, "InvalidInput"},
            {EISDIR, "IsADirectory"},
            {ELOOP, "FilesystemLoop"},
            {ENAMETOOLONG, "InvalidFilename"},
            {ENOENT, "NotFound"},
            {ENOMEM, "OutOfMemory"},
            {ENOSPC, "StorageFull"},
            {ENOSYS, "Unsupported"},
            {ENOTDIR, "NotADirectory"},
            {ENOTEMPTY, "DirectoryNotEmpty"},
            {EPERM, "PermissionDenied"},
            {EROFS, "ReadOnlyFilesystem"},
            {ETXTBSY, "ExecutableFileBusy"},
            {EXDEV, "CrossesDevices"},
        };
        size_t i;

        for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
                if (kinds[i].errnum == errnum)
                        return kinds[i].kind;
        return "Uncategorized";
}

void text_io_error_debug(int errnum, char *out, size_t outlen)
{
        snprintf(out, outlen, "Os { code: %d, kind: %s, message: \"%s\" }", errnum,
                 io_error_kind(errnum), strerror(errnum));
}
