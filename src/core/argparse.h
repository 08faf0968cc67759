/* Command-line parsing with Firecracker's arg_parser rules: "--name value", "--name", "--". */
#ifndef BRASA_CORE_ARGPARSE_H
#define BRASA_CORE_ARGPARSE_H

#include <stdbool.h>
#include <stddef.h>

/* One accepted argument; `present` and `value` are filled by argparse(). */
struct arg_spec {
        const char *name;     /* without the leading "--" */
        bool takes_value;     /* "--name VALUE"; otherwise a switch */
        const char *requires; /* another name that must then be given too, or NULL */
        const char *forbids;  /* another name that must then be absent, or NULL */
        bool present;
        const char *value; /* the token after "--name" (points into argv), or NULL */
};

/* UtilsArgParserError's variants. */
enum arg_error {
        ARG_FORBIDDEN = 1, /* a = the argument given, b = the one it forbids */
        ARG_MISSING_ARGUMENT,
        ARG_MISSING_VALUE,
        ARG_UNEXPECTED,
        ARG_DUPLICATE,
};

/* Why argparse() refused argv; a and b point into argv or the spec table. */
struct arg_fault {
        enum arg_error kind;
        const char *a, *b;
};

enum {
        ARGPARSE_OK = 0,
        ARGPARSE_HELP = 1,    /* "--help" or "-h" among the options: nothing else parsed */
        ARGPARSE_VERSION = 2, /* "--version" among the options: nothing else parsed */
};

/*
 * Parses argv[1..argc) against specs[0..n) (any order: requires/forbids are checked in name
 * order, as Firecracker walks its BTreeMap). Everything after the first "--" is left alone
 * (Firecracker keeps it as "extra args" and never reads it); *extra, if not NULL, gets the
 * index of the first of them (argc when there is no "--"). Returns ARGPARSE_OK, _HELP or
 * _VERSION, or -EINVAL with *f set.
 */
int argparse(struct arg_spec *specs, size_t n, int argc, char **argv, int *extra,
             struct arg_fault *f);

/* The fault as Firecracker's Display shows it ("The argument 'id' was provided more than once.").
 */
void arg_fault_text(const struct arg_fault *f, char *buf, size_t len);

/* The fault as Rust's Debug shows it (DuplicateArgument("id")), for main's "Error: ..." line. */
void arg_fault_debug(const struct arg_fault *f, char *buf, size_t len);

/* The spec called name, or NULL. */
struct arg_spec *arg_find(struct arg_spec *specs, size_t n, const char *name);

#endif
