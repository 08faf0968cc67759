/* Named constants that rule files may use (KVM ioctls, mmap flags, futex ops...), from the headers.
 */
#ifndef BRASA_SECCOMP_GEN_CONSTS_H
#define BRASA_SECCOMP_GEN_CONSTS_H

#include <stdint.h>

/*
 * Looks up name (for example "KVM_RUN" or "MAP_SHARED") and stores its value.
 * Returns 0, or -1 when the name is unknown.
 */
int consts_lookup(const char *name, uint64_t *value);

#endif
