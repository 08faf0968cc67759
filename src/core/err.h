/* One error type for the whole tree: a negative errno plus one line of text for the user. */
#ifndef BRASA_CORE_ERR_H
#define BRASA_CORE_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define ERR_MSG_MAX 1024

/*
 * What a failing call reports: rc is 0 or a negative errno, msg one line of valid UTF-8
 * (never a '\n'), fit to be shown in a log line or a JSON fault_message. Callers may pass
 * NULL when they only want the return code.
 */
struct err {
        int rc;
        char msg[ERR_MSG_MAX];
        /*
         * What the user can do about it (a static string), or NULL. Shown as a separate log
         * line after the error, so that an error text Firecracker has stays exactly its own.
         */
        const char *hint;
};

#define ERR_INIT                                                                                   \
        {                                                                                          \
                0, "", NULL                                                                        \
        }

/* Sets *e to rc and the formatted message (made one line), with no hint. Returns rc; e may be
 * NULL. */
int err_set(struct err *e, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* err_set() for wrappers that take their own format and arguments (va_list). */
int err_vset(struct err *e, int rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/*
 * Puts the formatted text in front of the message already in e, as Firecracker composes
 * "<outer error>: <inner error>" (the caller writes the separator into fmt). Returns e->rc
 * (0 when e is NULL).
 */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* err_set() with strerror(-rc) as the message, for a failure with nothing more to say. */
int err_errno(struct err *e, int rc);

/* Sets the hint of the error in e (a static string, or NULL). Returns e->rc (0 when e is NULL). */
int err_hint(struct err *e, const char *hint);

/* Resets *e to no error. */
void err_clear(struct err *e);

#endif
