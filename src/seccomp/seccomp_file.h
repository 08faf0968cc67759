/* Custom filter files for --seccomp-filter: parsing and validating the documented binary format. */
#ifndef BRASA_SECCOMP_SECCOMP_FILE_H
#define BRASA_SECCOMP_SECCOMP_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "seccomp/seccomp_filters.h"

#define SECCOMP_FILE_MAGIC     "BRASABPF"
#define SECCOMP_FILE_VERSION   1u
#define SECCOMP_FILE_NAME_LEN  16
#define SECCOMP_FILE_MAX_INSNS 4096u /* BPF_MAXINSNS */
/* Header + three roles of the maximum length: anything larger is refused unread. */
#define SECCOMP_FILE_MAX_SIZE (16u + 3u * (20u + SECCOMP_FILE_MAX_INSNS * 8u))

/* The filters of one file; progs point into insns, which this struct owns. */
struct seccomp_file {
        struct sock_filter *insns;
        struct seccomp_prog progs[SECCOMP_ROLE_COUNT];
};

/*
 * Parses a filter file image: magic "BRASABPF", version 1, then exactly one
 * entry per role (vmm, api, vcpu) in any order, each a NUL-padded 16-byte
 * name, a 32-bit instruction count (0..4096; 0 = no filter for that role) and
 * the struct sock_filter instructions, all little-endian, with no trailing
 * bytes. The kernel checks the BPF itself when the filter is installed.
 * Returns 0 or -EINVAL with one line in e; on failure out owns nothing.
 */
int seccomp_file_parse(const uint8_t *buf, size_t len, struct seccomp_file *out, struct err *e);

/*
 * Reads and parses the filter file at path (at most SECCOMP_FILE_MAX_SIZE
 * bytes). Returns 0 or -errno with one line in e.
 */
int seccomp_file_load(const char *path, struct seccomp_file *out, struct err *e);

/* Releases what seccomp_file_parse() or seccomp_file_load() allocated. */
void seccomp_file_free(struct seccomp_file *f);

/* Role name as used in filter files and rule files: "vmm", "api", "vcpu". */
const char *seccomp_role_name(enum seccomp_role role);

#endif
