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

/* A copy, not a hard link: two jails must never share the binary's pages. */
static int copy_exec(const struct jail *j, struct jail_fs_undo *u)
{
        struct stat st, dst_st;
        int in, out = -1, rc = -1;

        if (jail_fmt(u->exec_copy, sizeof(u->exec_copy), "%s/%s", j->chroot, j->exec_name)) {
                u->exec_copy[0] = '\0';
                return -1;
        }
        in = open(j->exec_path, O_RDONLY | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) < 0) {
                jail_err("Failed to open %s: %s", j->exec_path, strerror(errno));
                goto out;
        }
        out = open(u->exec_copy, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
                   st.st_mode & 07755);
        if (out < 0 || fstat(out, &dst_st) < 0) {
                jail_err("Failed to open %s: %s", u->exec_copy, strerror(errno));
                goto out;
        }
        if (dst_st.st_nlink > 1) {
                jail_err("Detected hard link at: %s", u->exec_copy);
                goto out;
        }
        if (fchown(out, j->uid, j->gid) < 0 || fchmod(out, st.st_mode & 0755) < 0) {
                jail_err("Failed to change owner for %s: %s", u->exec_copy, strerror(errno));
                goto out;
        }
        rc = copy_fd(in, out);
        if (rc)
                jail_err("Failed to copy %s to %s: %s", j->exec_path, u->exec_copy, strerror(-rc));
out:
        if (in >= 0)
                close(in);
        if (out >= 0 && close(out) < 0 && rc == 0)
                rc = jail_err("Failed to copy %s: %s", u->exec_copy, strerror(errno));
        return rc ? -1 : 0;
}

int jail_fs_create(const struct jail *j, struct jail_fs_undo *u)
{
        memset(u, 0, sizeof(*u));
        if (make_tree(j, u))
                return -1;
        return copy_exec(j, u);
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

static int own_folder(const struct jail *j, const char *path)
{
        if (mkdir(path, FOLDER_MODE) < 0 && errno != EEXIST)
                return jail_err("Failed to create directory %s: %s", path, strerror(errno));
        if (chmod(path, FOLDER_MODE) < 0)
                return jail_err("Failed to change permissions on %s: %s", path, strerror(errno));
        if (chown(path, j->uid, j->gid) < 0)
                return jail_err("Failed to change owner for %s: %s", path, strerror(errno));
        return 0;
}

static int make_node(const struct jail *j, const struct dev_node *d)
{
        if (mknod(d->path, S_IFCHR | S_IRUSR | S_IWUSR, makedev(d->major, d->minor)) < 0 ||
            chown(d->path, j->uid, j->gid) < 0) {
                if (!d->optional)
                        return jail_err("Failed to create %s via mknod inside the jail: %s",
                                        d->path, strerror(errno));
                fprintf(stderr, "brasa-jailer: warning: could not create %s inside the jail: %s\n",
                        d->path, strerror(errno));
        }
        return 0;
}

int jail_fs_populate(const struct jail *j)
{
        static const char *const folders[] = {"/", "/dev", "/dev/net", "/run"};
        const struct dev_node nodes[] = {
            {"/dev/net/tun", 10, 200, false},
            {"/dev/kvm", 10, 232, false},
            {"/dev/urandom", 1, 9, true},
            {"/dev/userfaultfd", 10, j->uffd_minor < 0 ? 0 : (unsigned int)j->uffd_minor, false},
        };
        size_t i;

        for (i = 0; i < sizeof(folders) / sizeof(folders[0]); i++)
                if (own_folder(j, folders[i]))
                        return -1;
        for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
                if (i == 3 && j->uffd_minor < 0)
                        continue;
                if (make_node(j, &nodes[i]))
                        return -1;
        }
        return 0;
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
