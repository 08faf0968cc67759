/* Custom seccomp filter files: a small, fully validated binary format (docs/security.md). */
#include "seccomp/seccomp_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/util.h"

#define HEADER_LEN 16u
#define ENTRY_LEN  (SECCOMP_FILE_NAME_LEN + 4u)
#define INSN_LEN   8u

static const char *const role_names[SECCOMP_ROLE_COUNT] = {"vmm", "api", "vcpu"};

const char *seccomp_role_name(enum seccomp_role role)
{
        return (unsigned int)role < SECCOMP_ROLE_COUNT ? role_names[role] : "unknown";
}

/* The role named by a 16-byte NUL-padded field, or -1. */
static int role_of(const uint8_t *name)
{
        char s[SECCOMP_FILE_NAME_LEN + 1];
        size_t i, n = strnlen((const char *)name, SECCOMP_FILE_NAME_LEN);
        int r;

        memcpy(s, name, n);
        s[n] = '\0';
        for (i = n; i < SECCOMP_FILE_NAME_LEN; i++)
                if (name[i])
                        return -1; /* padding must be zero */
        for (r = 0; r < SECCOMP_ROLE_COUNT; r++)
                if (strcmp(s, role_names[r]) == 0)
                        return r;
        return -1;
}

static void decode_insns(const uint8_t *p, uint32_t n, struct sock_filter *out)
{
        uint32_t i;

        for (i = 0; i < n; i++, p += INSN_LEN) {
                out[i].code = (uint16_t)(p[0] | p[1] << 8);
                out[i].jt = p[2];
                out[i].jf = p[3];
                out[i].k = ld_le32(p + 4);
        }
}

static int parse_header(const uint8_t *buf, size_t len, struct err *e)
{
        if (len < HEADER_LEN || memcmp(buf, SECCOMP_FILE_MAGIC, 8) != 0)
                return err_set(e, -EINVAL, "not a brasa seccomp filter file (bad magic)");
        if (ld_le32(buf + 8) != SECCOMP_FILE_VERSION)
                return err_set(e, -EINVAL, "unsupported filter file version %u", ld_le32(buf + 8));
        if (ld_le32(buf + 12) != SECCOMP_ROLE_COUNT)
                return err_set(e, -EINVAL, "filter file must have %d thread entries, not %u",
                               SECCOMP_ROLE_COUNT, ld_le32(buf + 12));
        return 0;
}

/* Decodes the entry at *off into out->insns + *used. */
static int parse_entry(const uint8_t *buf, size_t len, size_t *off, size_t *used,
                       struct seccomp_file *out, struct err *e)
{
        uint32_t n;
        int role;

        if (len - *off < ENTRY_LEN)
                return err_set(e, -EINVAL, "filter file is truncated");
        role = role_of(buf + *off);
        if (role < 0 || out->progs[role].insns)
                return err_set(e, -EINVAL, "unknown or repeated thread name in filter file");
        n = ld_le32(buf + *off + SECCOMP_FILE_NAME_LEN);
        *off += ENTRY_LEN;
        if (n > SECCOMP_FILE_MAX_INSNS || (size_t)n * INSN_LEN > len - *off)
                return err_set(e, -EINVAL, "bad instruction count %u for thread %s", n,
                               role_names[role]);
        decode_insns(buf + *off, n, out->insns + *used);
        out->progs[role] = (struct seccomp_prog){out->insns + *used, n};
        *off += (size_t)n * INSN_LEN;
        *used += n;
        return 0;
}

int seccomp_file_parse(const uint8_t *buf, size_t len, struct seccomp_file *out, struct err *e)
{
        size_t off = HEADER_LEN, used = 0;
        int i, rc;

        memset(out, 0, sizeof(*out));
        rc = parse_header(buf, len, e);
        if (rc)
                return rc;
        /* Room for every instruction the file could hold (+1: never malloc(0)). */
        out->insns = calloc((len - HEADER_LEN) / INSN_LEN + 1, sizeof(*out->insns));
        if (!out->insns)
                return err_set(e, -ENOMEM, "out of memory");
        for (i = 0; i < SECCOMP_ROLE_COUNT && rc == 0; i++)
                rc = parse_entry(buf, len, &off, &used, out, e);
        if (rc == 0 && off != len)
                rc = err_set(e, -EINVAL, "filter file has %zu trailing bytes", len - off);
        if (rc)
                seccomp_file_free(out);
        return rc;
}

static int read_bounded(int fd, uint8_t *buf, size_t max, size_t *len)
{
        ssize_t n;

        *len = 0;
        do {
                n = read(fd, buf + *len, max - *len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                *len += (size_t)n;
        } while (n > 0 && *len < max);
        return 0;
}

int seccomp_file_load(const char *path, struct seccomp_file *out, struct err *e)
{
        size_t max = SECCOMP_FILE_MAX_SIZE + 1, len;
        uint8_t *buf;
        int fd, rc;

        memset(out, 0, sizeof(*out));
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = -errno;
                return err_set(e, rc, "cannot open seccomp filter file %s: %s", path,
                               strerror(-rc));
        }
        buf = malloc(max);
        rc = buf ? read_bounded(fd, buf, max, &len) : -ENOMEM;
        close(fd);
        if (rc) {
                err_set(e, rc, "cannot read seccomp filter file %s: %s", path, strerror(-rc));
        } else if (len == max) {
                rc = err_set(e, -EFBIG, "seccomp filter file %s is too large", path);
        } else {
                rc = seccomp_file_parse(buf, len, out, e);
        }
        free(buf);
        return rc;
}

void seccomp_file_free(struct seccomp_file *f)
{
        free(f->insns);
        memset(f, 0, sizeof(*f));
}
