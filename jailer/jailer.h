/* brasa-jailer: the validated jail description shared by the jailer's modules. */
#ifndef BRASA_JAILER_JAILER_H
#define BRASA_JAILER_JAILER_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_ID_MAX         64
#define JAIL_MAX_CGROUPS    32
#define JAIL_DEFAULT_BASE   "/srv/jailer"
#define JAIL_DEFAULT_NOFILE 2048

struct jail_cgroup {
        char file[128];  /* e.g. cpu.shares */
        char value[256]; /* written as one line */
};

struct jail {
        char id[JAIL_ID_MAX + 1];
        char exec_path[PATH_MAX]; /* canonical path of the binary to copy */
        char exec_name[NAME_MAX + 1];
        char base[PATH_MAX];   /* canonical chroot base directory */
        char chroot[PATH_MAX]; /* <base>/<exec_name>/<id>/root */
        uid_t uid;
        gid_t gid;
        const char *netns_path;
        int netns_fd;
        bool daemonize;
        bool new_pid_ns;
        bool reuse_chroot;  /* brasa's --reuse-chroot: a chroot a jailer set up may be used again */
        int cgroup_version; /* 1 or 2 */
        char parent_cgroup[PATH_MAX];
        struct jail_cgroup cgroups[JAIL_MAX_CGROUPS];
        unsigned int nr_cgroups;
        bool have_fsize;
        uint64_t fsize;
        uint64_t nofile;
        int uffd_minor;    /* -1: no /dev/userfaultfd on this host */
        char **extra_args; /* after "--", passed to the jailed binary */
        int nr_extra_args;
        uint64_t start_time_us, start_cpu_us;
};

/* Formats into out; on truncation prints "... is too long" and returns -1, else 0. */
int jail_fmt(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prints "brasa-jailer: <message>" on stderr. Always returns -1. */
int jail_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
