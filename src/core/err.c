/* The tree's error type: formatting and composing one-line messages. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/text.h"

int err_vset(struct err *e, int rc, const char *fmt, va_list ap)
{
        if (!e)
                return rc;
        e->rc = rc;
        e->hint = NULL;
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        text_one_line(e->msg);
        return rc;
}

int err_set(struct err *e, int rc, const char *fmt, ...)
{
        va_list ap;

        va_start(ap, fmt);
        rc = err_vset(e, rc, fmt, ap);
        va_end(ap);
        return rc;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
        char old[ERR_MSG_MAX];
        va_list ap;
        int n;

        if (!e)
                return 0;
        memcpy(old, e->msg, sizeof(old));
        va_start(ap, fmt);
        n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof(e->msg))
                memcpy(e->msg + n, old, strnlen(old, sizeof(old) - 1 - (size_t)n) + 1);
        e->msg[sizeof(e->msg) - 1] = '\0';
        text_one_line(e->msg);
        return e->rc;
}

int err_errno(struct err *e, int rc)
{
        return err_set(e, rc, "%s", strerror(-rc));
}

void err_clear(struct err *e)
{
        if (!e)
                return;
        e->rc = 0;
        e->msg[0] = '\0';
        e->hint = NULL;
}

int err_hint(struct err *e, const char *hint)
{
        if (!e)
                return 0;
        e->hint = hint;
        return e->rc;
}
