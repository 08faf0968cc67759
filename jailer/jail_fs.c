/* brasa-jailer file system steps: chroot tree, binary copy, pivot_root, /dev nodes. */
#define _GNU_SOURCE
#include "jail_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define FOLDER_MODE 0700
#define ROOT_MODE   01770 /* the jail's /: see own_root() */
#define COPY_CHUNK  65536

struct dev_node {
        const char *path;
        unsigned int major, minor;
        bool optional; /* failure only warns */
};

/* mkdir -p of <exec_name>, <id> and root below the base, recording each one made. */
static int make_tree(const struct jail *j, struct jail_fs_undo *u)
{
        size_t full = strlen(j->chroot), root = strlen("/root"), id = strlen(j->id) + 1;
        /* Prefixes of the (length-checked) chroot path: .../<exec>, .../<id>, .../root. */
        const size_t lens[3] = {full - root - id, full - root, full};
        char path[PATH_MAX];
        size_t i;

        for (i = 0; i < 3; i++) {
                memcpy(path, j->chroot, lens[i]);
                path[lens[i]] = '\0';
                if (mkdir(path, 0755) == 0) {
                        memcpy(u->dirs[u->nr_dirs++], path, lens[i] + 1);
                        continue;
                }
                if (errno != EEXIST)
                        return jail_err("Failed to create directory %s: %s", path, strerror(errno));
        }
        return 0;
}

static int copy_fd(int in, int out)
{
        char buf[COPY_CHUNK];
        ssize_t n, w, off;

        while ((n = read(in, buf, sizeof(buf))) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                for (off = 0; off < n; off += w) {
                        w = write(out, buf + off, (size_t)(n - off));
                        if (w < 0)
                                return -errno;
                }
        }
        return 0;
}

/* Opens name below dirfd as a directory, never through a symbolic link. */
static int open_dir_at(int dirfd, const char *name)
{
        return openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/*
 * Opens <base>/<exec_name>/<id>/root one level at a time, never through a symbolic link (one
 * planted there would move the jail out of the base). <exec_name> and <id> must belong to root
 * and be writable by nobody else, so no one else can swap the levels below them before the
 * pivot. Returns the chroot's fd, or -1 after printing why.
 */
static int open_chroot(const struct jail *j)
{
        const char *names[3] = {j->exec_name, j->id, "root"};
        struct stat st;
        int fd, next;
        size_t i;

        fd = open(j->base, O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* canonical: no link in it */
        for (i = 0; fd >= 0 && i < 3; i++) {
                next = open_dir_at(fd, names[i]);
                close(fd);
                if (next < 0)
                        return jail_err("Failed to open %s in %s (a symbolic link or not a "
                                        "directory?): %s",
                                        names[i], j->chroot, strerror(errno));
                fd = next;
                if (i < 2 && (fstat(fd, &st) < 0 || st.st_uid != 0 || (st.st_mode & 022))) {
                        close(fd);
                        return jail_err("%s in %s must belong to root and be writable only by it",
                                        names[i], j->chroot);
                }
        }
        if (fd < 0)
                return jail_err("Failed to open %s: %s", j->base, strerror(errno));
        return fd;
}

/*
 * A chroot that a jailer already set up (it holds the binary's copy or its pid file, which
 * the tenant cannot remove) belongs to the tenant that ran there, who may have planted links
 * in it: refused, unless --reuse-chroot. Firecracker's jailer fails on it too, at the pid
 * file, after it has chowned what it found. Anything else may be there: users put the VM's
 * files (and even /run, Firecracker's test_api_server.py) in the chroot before the jailer
 * runs. Returns 0, or -1 after printing why.
 */
static int check_unused(const struct jail *j, int rootfd)
{
        char pid_name[NAME_MAX + 8];
        const char *names[2] = {j->exec_name, pid_name};
        struct stat st;
        size_t i;

        if (j->reuse_chroot)
                return 0;
        snprintf(pid_name, sizeof(pid_name), "%s.pid", j->exec_name);
        for (i = 0; i < 2; i++)
                if (fstatat(rootfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
                        return jail_err("The chroot %s was already set up by a jailer (it holds "
                                        "%s): use a new --id, remove it, or pass --reuse-chroot",
                                        j->chroot, names[i]);
        return 0;
}

/*
 * A copy, not a hard link: two jails must never share the binary's pages. The copy is a new
 * file (O_EXCL, never through a link), so nothing that was there is truncated or chowned.
 */
static int copy_exec(const struct jail *j, int rootfd, struct jail_fs_undo *u)
{
        char path[PATH_MAX];
        struct stat st, dst_st;
        int in, out = -1, rc = -1;

        if (jail_fmt(path, sizeof(path), "%s/%s", j->chroot, j->exec_name))
                return -1;
        in = open(j->exec_path, O_RDONLY | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) < 0) {
                jail_err("Failed to open %s: %s", j->exec_path, strerror(errno));
                goto out;
        }
        if (j->reuse_chroot && unlinkat(rootfd, j->exec_name, 0) < 0 && errno != ENOENT) {
                jail_err("Failed to remove %s: %s", path, strerror(errno));
                goto out;
        }
        out = openat(rootfd, j->exec_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                     0700);
        if (out < 0) {
                jail_err("Failed to open %s: %s", path, strerror(errno));
                goto out;
        }
        memcpy(u->exec_copy, path, sizeof(path));
        if (fstat(out, &dst_st) < 0 || dst_st.st_nlink > 1) {
                jail_err("Detected hard link at: %s", path);
                goto out;
        }
        if (fchown(out, j->uid, j->gid) < 0 || fchmod(out, st.st_mode & 0755) < 0) {
                jail_err("Failed to change owner for %s: %s", path, strerror(errno));
                goto out;
        }
        rc = copy_fd(in, out);
        if (rc)
                jail_err("Failed to copy %s to %s: %s", j->exec_path, path, strerror(-rc));
out:
        if (in >= 0)
                close(in);
        if (out >= 0 && close(out) < 0 && rc == 0)
                rc = jail_err("Failed to copy %s: %s", path, strerror(errno));
        return rc ? -1 : 0;
}

int jail_fs_create(const struct jail *j, struct jail_fs_undo *u)
{
        int rootfd, rc;

        memset(u, 0, sizeof(*u));
        if (make_tree(j, u))
                return -1;
        rootfd = open_chroot(j);
        if (rootfd < 0)
                return -1;
        rc = check_unused(j, rootfd);
        if (!rc)
                rc = copy_exec(j, rootfd, u);
        close(rootfd);
        return rc;
}

void jail_fs_undo(struct jail_fs_undo *u)
{
        if (u->exec_copy[0])
                unlink(u->exec_copy);
        while (u->nr_dirs)
                rmdir(u->dirs[--u->nr_dirs]);
        u->exec_copy[0] = '\0';
}

int jail_fs_pivot(const struct jail *j)
{
        if (unshare(CLONE_NEWNS) < 0)
                return jail_err("Failed to unshare into new mount namespace: %s", strerror(errno));
        /* Nothing we mount propagates back to the host's namespace. */
        if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
                return jail_err("Failed to change the propagation type to slave: %s",
                                strerror(errno));
        /* pivot_root needs the new root to be a mount point. */
        if (mount(j->chroot, j->chroot, NULL, MS_BIND | MS_REC, NULL) < 0)
                return jail_err("Failed to bind mount the jail root directory: %s",
                                strerror(errno));
        if (chdir(j->chroot) < 0)
                return jail_err("Failed to change current directory: %s", strerror(errno));
        if (mkdir("old_root", 0600) < 0)
                return jail_err("Failed to create the jail root directory before pivoting "
                                "root: %s",
                                strerror(errno));
        if (syscall(SYS_pivot_root, ".", "old_root") < 0)
                return jail_err("Failed to pivot root: %s", strerror(errno));
        if (chdir("/") < 0)
                return jail_err("Failed to chdir into chroot directory: %s", strerror(errno));
        if (umount2("old_root", MNT_DETACH) < 0)
                return jail_err("Failed to unmount the old jail root: %s", strerror(errno));
        if (rmdir("old_root") < 0)
                return jail_err("Failed to remove old jail root directory: %s", strerror(errno));
        return 0;
}

/*
 * Makes name below dirfd a directory of the jail (mode 0700, the jail's uid/gid): created if
 * missing, then changed through its own fd, opened without following a link, so a link
 * planted in its place is refused, never followed. Returns the fd, or -1 after printing why.
 */
static int own_dir_at(const struct jail *j, int dirfd, const char *name, const char *path)
{
        int fd;

        if (mkdirat(dirfd, name, FOLDER_MODE) < 0 && errno != EEXIST)
                return jail_err("Failed to create directory %s: %s", path, strerror(errno));
        fd = open_dir_at(dirfd, name);
        if (fd < 0)
                return jail_err("Failed to open directory %s: %s", path, strerror(errno));
        if (fchown(fd, j->uid, j->gid) < 0 || fchmod(fd, FOLDER_MODE) < 0) {
                jail_err("Failed to change owner for %s: %s", path, strerror(errno));
                close(fd);
                return -1;
        }
        return fd;
}

/* A device node made new in dirfd (whatever had its name removed first), never via a link. */
static int make_node(const struct jail *j, int dirfd, const struct dev_node *d)
{
        const char *name = strrchr(d->path, '/') + 1;

        if ((unlinkat(dirfd, name, 0) < 0 && errno != ENOENT) ||
            mknodat(dirfd, name, S_IFCHR | S_IRUSR | S_IWUSR, makedev(d->major, d->minor)) < 0 ||
            fchownat(dirfd, name, j->uid, j->gid, AT_SYMLINK_NOFOLLOW) < 0) {
                if (!d->optional)
                        return jail_err("Failed to create %s via mknod inside the jail: %s",
                                        d->path, strerror(errno));
                fprintf(stderr, "brasa-jailer: warning: could not create %s inside the jail: %s\n",
                        d->path, strerror(errno));
        }
        return 0;
}

static int make_nodes(const struct jail *j, int dev, int net)
{
        const struct dev_node nodes[] = {
            {"/dev/net/tun", 10, 200, false},
            {"/dev/kvm", 10, 232, false},
            {"/dev/urandom", 1, 9, true},
            {"/dev/userfaultfd", 10, j->uffd_minor < 0 ? 0 : (unsigned int)j->uffd_minor, false},
        };
        size_t i;

        for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
                if (i == 3 && j->uffd_minor < 0)
                        continue;
                if (make_node(j, i == 0 ? net : dev, &nodes[i]))
                        return -1;
        }
        return 0;
}

/*
 * The jail's / belongs to root, group the jail's gid, mode 01770: brasa can create its files
 * there (the API socket, the log), but the sticky bit keeps it from removing or replacing
 * root's (the pid file, written next).
 */
static int own_root(const struct jail *j)
{
        int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0)
                return jail_err("Failed to open the jail's root: %s", strerror(errno));
        if (fchown(fd, 0, j->gid) < 0 || fchmod(fd, ROOT_MODE) < 0) {
                jail_err("Failed to change owner for /: %s", strerror(errno));
                close(fd);
                return -1;
        }
        return fd;
}

int jail_fs_populate(const struct jail *j)
{
        int root, dev = -1, net = -1, run = -1, rc = -1;

        root = own_root(j);
        if (root < 0)
                return -1;
        dev = own_dir_at(j, root, "dev", "/dev");
        if (dev >= 0)
                net = own_dir_at(j, dev, "net", "/dev/net");
        if (net >= 0)
                run = own_dir_at(j, root, "run", "/run");
        if (run >= 0)
                rc = make_nodes(j, dev, net);
        close(root);
        if (dev >= 0)
                close(dev);
        if (net >= 0)
                close(net);
        if (run >= 0)
                close(run);
        return rc;
}

int jail_fs_uffd_minor(void)
{
        char line[128], name[64];
        int minor, found = -1;
        FILE *f = fopen("/proc/misc", "re");

        if (!f)
                return -1;
        while (found < 0 && fgets(line, sizeof(line), f))
                if (sscanf(line, "%d %63s", &minor, name) == 2 && strcmp(name, "userfaultfd") == 0)
                        found = minor;
        fclose(f);
        return found;
}
