/* The kernel arguments a Linux guest needs on a kvm_pvm host, and which of them a user lacks. */
#ifndef BRASA_ARCH_X86_64_PVM_ARGS_H
#define BRASA_ARCH_X86_64_PVM_ARGS_H

#include <stddef.h>

/*
 * The words brasa appends after the user's boot_args while its kvm_pvm CPU template is active
 * (tools/guest/cmdline-pvm lists the same words, with the measurements behind them), as one
 * space-separated string.
 */
extern const char pvm_boot_args[];

/* A buffer that holds all of pvm_boot_args, for pvm_args_missing(). */
#define PVM_BOOT_ARGS_MAX 256

/*
 * Splits pvm_boot_args against the user's command line user (NULL: none). Each word whose key
 * (the text before '=', or the whole word) the user already gave is skipped and goes to
 * skipped; the others go to add. Both get space-separated words ("" when none). Returns 0, or
 * -E2BIG when a buffer is too small (its content is then undefined).
 */
int pvm_args_missing(const char *user, char *add, size_t add_len, char *skipped,
                     size_t skipped_len);

#endif
