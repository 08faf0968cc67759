/* brasa-jailer file system: the chroot directory, the copied binary, pivot_root and device nodes.
 */
#ifndef BRASA_JAILER_JAIL_FS_H
#define BRASA_JAILER_JAIL_FS_H

#include "jailer.h"

#define JAIL_FS_MAX_DIRS 4

/* What jail_fs_create() made, so a failure before the pivot can undo it. */
struct jail_fs_undo {
        char dirs[JAIL_FS_MAX_DIRS][PATH_MAX]; /* created directories, outermost first */
        unsigned int nr_dirs;
        char exec_copy[PATH_MAX]; /* the copied binary ("" if none) */
};

/*
 * Creates <base>/<exec_name>/<id>/root (missing levels only), opens it one level at a time
 * without following links (<exec_name> and <id> must be root's, writable only by root),
 * refuses a chroot a jailer already set up unless j->reuse_chroot, and copies the exec file
 * into it as a new file <exec_name>, owned by the jail's uid/gid (never through a link,
 * never over a hard link). Returns 0, or -1 after printing why.
 */
int jail_fs_create(const struct jail *j, struct jail_fs_undo *u);

/* Removes what jail_fs_create() made (after a later step failed). */
void jail_fs_undo(struct jail_fs_undo *u);

/*
 * Enters a new mount namespace and makes the chroot the root: "/" turned
 * slave-recursive, the chroot bind-mounted on itself, pivot_root, the old root
 * detached and removed. Returns 0, or -1 after printing why.
 */
int jail_fs_pivot(const struct jail *j);

/*
 * Inside the jail: makes / root's (group the jail's gid, mode 01770, so brasa cannot replace
 * root's pid file), creates /dev, /dev/net and /run (mode 0700, the jail's uid/gid) and the
 * device nodes /dev/kvm, /dev/net/tun, /dev/urandom (warning only) and, when the host has
 * it, /dev/userfaultfd, owned by the jail's uid/gid. Every change goes through a directory
 * fd opened without following links: a link in the place of one of them is refused.
 * Returns 0, or -1 after printing why.
 */
int jail_fs_populate(const struct jail *j);

/* Reads the misc minor of userfaultfd from /proc/misc; -1 when the host has none. */
int jail_fs_uffd_minor(void);

#endif
