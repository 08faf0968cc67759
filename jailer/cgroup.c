/* brasa-jailer cgroup set-up: resolve hierarchies from /proc/mounts, create, write, attach. */
#define _GNU_SOURCE
#include "cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LINE_MAX_LEN 4096

/* The controller of a setting: "cpu" for "cpu.shares". */
static void controller_of(const char *file, char *out, size_t len)
{
        snprintf(out, len, "%.*s", (int)strcspn(file, "."), file);
}

static bool has_option(const char *opts, const char *want)
{
        char copy[LINE_MAX_LEN], *save = NULL, *o;

        snprintf(copy, sizeof(copy), "%s", opts);
        for (o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
                if (strcmp(o, want) == 0)
                        return true;
        return false;
}

/* Finds the mount of a v1 controller (want != NULL) or the cgroup2 mount (want == NULL). */
static int find_mount(const char *proc_mounts, const char *want, char *out, size_t len)
{
        char line[LINE_MAX_LEN], dir[LINE_MAX_LEN], type[64], opts[LINE_MAX_LEN];
        FILE *f = fopen(proc_mounts, "re");
        int rc = -1;

        if (!f)
                return jail_err("Failed to open file %s: %s", proc_mounts, strerror(errno));
        while (rc && fgets(line, sizeof(line), f)) {
                if (sscanf(line, "%*s %4095s %63s %4095s", dir, type, opts) != 3)
                        continue;
                if ((want && strcmp(type, "cgroup") == 0 && has_option(opts, want)) ||
                    (!want && strcmp(type, "cgroup2") == 0)) {
                        snprintf(out, len, "%s", dir);
                        rc = 0;
                }
        }
        fclose(f);
        return rc;
}

static int read_line(const char *path, char *out, size_t len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, out, len - 1);
        close(fd);
        if (n < 0)
                return -errno;
        out[n] = '\0';
        out[strcspn(out, "\n")] = '\0';
        return 0;
}

/* cgroup files want the whole value in one write(), with a newline. */
static int write_line(const char *path, const char *value)
{
        char buf[512];
        int fd, n, rc = 0;

        n = snprintf(buf, sizeof(buf), "%s\n", value);
        if (n < 0 || (size_t)n >= sizeof(buf))
                return jail_err("value too long for %s", path);
        fd = open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, buf, (size_t)n) != n)
                rc = jail_err("Failed to write to %s: %s", path, strerror(errno));
        if (fd >= 0)
                close(fd);
        return rc;
}

static bool v2_has_controller(const char *mount, const char *ctrl)
{
        char path[PATH_MAX], line[LINE_MAX_LEN], *save = NULL, *c;

        if (jail_fmt(path, sizeof(path), "%s/cgroup.controllers", mount) ||
            read_line(path, line, sizeof(line)))
                return false;
        for (c = strtok_r(line, " ", &save); c; c = strtok_r(NULL, " ", &save))
                if (strcmp(c, ctrl) == 0)
                        return true;
        return false;
}

static int plan_v2_move(const struct jail *j, const char *proc_mounts, struct cgroup_plan *p)
{
        char mount[PATH_MAX];
        struct stat st;

        if (find_mount(proc_mounts, NULL, mount, sizeof(mount)))
                return jail_err("Hierarchy not found: cgroupsv2 hierarchy missing");
        if (jail_fmt(p->v2_move, sizeof(p->v2_move), "%s/%s", mount, j->parent_cgroup))
                return -1;
        if (stat(p->v2_move, &st) < 0 || !S_ISDIR(st.st_mode))
                p->v2_move[0] = '\0'; /* as Firecracker: nothing to join */
        return 0;
}

int cgroup_prepare(const struct jail *j, const char *proc_mounts, struct cgroup_plan *p)
{
        char ctrl[128];
        unsigned int i;

        memset(p, 0, sizeof(*p));
        if (j->cgroup_version == 2 && j->nr_cgroups == 0)
                return plan_v2_move(j, proc_mounts, p);
        for (i = 0; i < j->nr_cgroups; i++) {
                controller_of(j->cgroups[i].file, ctrl, sizeof(ctrl));
                if (j->cgroup_version == 1 &&
                    find_mount(proc_mounts, ctrl, p->mount[i], sizeof(p->mount[i])))
                        return jail_err("Controller %s is unavailable", ctrl);
                if (j->cgroup_version == 2) {
                        if (find_mount(proc_mounts, NULL, p->mount[i], sizeof(p->mount[i])))
                                return jail_err("Hierarchy not found: cgroupsv2 hierarchy missing");
                        if (!v2_has_controller(p->mount[i], ctrl))
                                return jail_err("Controller %s is unavailable", ctrl);
                }
                if (jail_fmt(p->location[i], sizeof(p->location[i]), "%s/%s/%s", p->mount[i],
                             j->parent_cgroup, j->id))
                        return -1;
        }
        return 0;
}

/* Empty cpuset.cpus/mems in a new v1 cgroup: copy the parent's, or no task may join. */
static int inherit_cpuset(const char *dir)
{
        static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
        char path[PATH_MAX], parent[PATH_MAX], value[LINE_MAX_LEN];
        int dir_len = (int)(strrchr(dir, '/') - dir);
        size_t i;

        for (i = 0; i < 2; i++) {
                if (jail_fmt(path, sizeof(path), "%s/%s", dir, files[i]))
                        return -1;
                if (read_line(path, value, sizeof(value)) || value[0])
                        continue; /* not a cpuset hierarchy, or already set */
                if (jail_fmt(parent, sizeof(parent), "%.*s/%s", dir_len, dir, files[i]) ||
                    read_line(parent, value, sizeof(value)) || !value[0] || write_line(path, value))
                        return jail_err("Failed to inherit cgroups configurations from file %s "
                                        "in path %s",
                                        files[i], dir);
        }
        return 0;
}

/* v2: "+ctrl" into cgroup.subtree_control of every ancestor of dir, top first. */
static int enable_subtree(const char *mount, const char *dir, const char *ctrl)
{
        char path[PATH_MAX], plus[140];
        size_t n = strlen(mount);

        snprintf(plus, sizeof(plus), "+%s", ctrl);
        while (dir[n] == '/') {
                if (jail_fmt(path, sizeof(path), "%.*s/cgroup.subtree_control", (int)n, dir) ||
                    write_line(path, plus))
                        return -1;
                n += 1 + strcspn(dir + n + 1, "/");
        }
        return 0;
}

/* mkdir -p below the hierarchy root, remembering each directory made for cleanup. */
static int make_dirs(struct cgroup_plan *p, const char *mount, const char *dir)
{
        char path[PATH_MAX];
        size_t n = strlen(mount);

        while (dir[n] == '/') {
                n += 1 + strcspn(dir + n + 1, "/");
                if (jail_fmt(path, sizeof(path), "%.*s", (int)n, dir))
                        return -1;
                if (mkdir(path, 0755) == 0) {
                        if (p->nr_created == CGROUP_MAX_DIRS)
                                return jail_err("too many cgroup directories");
                        memcpy(p->created[p->nr_created++], path, sizeof(path));
                } else if (errno != EEXIST) {
                        return jail_err("Failed to create directory %s: %s", path, strerror(errno));
                }
                if (inherit_cpuset(path))
                        return -1;
        }
        return 0;
}

static void remove_created(struct cgroup_plan *p)
{
        while (p->nr_created)
                rmdir(p->created[--p->nr_created]);
}

static int write_settings(const struct jail *j, struct cgroup_plan *p)
{
        char path[PATH_MAX], ctrl[128];
        unsigned int i;

        for (i = 0; i < j->nr_cgroups; i++) {
                if (make_dirs(p, p->mount[i], p->location[i]))
                        return -1;
                controller_of(j->cgroups[i].file, ctrl, sizeof(ctrl));
                if (j->cgroup_version == 2 && enable_subtree(p->mount[i], p->location[i], ctrl))
                        return -1;
                if (jail_fmt(path, sizeof(path), "%s/%s", p->location[i], j->cgroups[i].file) ||
                    write_line(path, j->cgroups[i].value))
                        return -1;
        }
        return 0;
}

static int attach(const char *dir, int version)
{
        char path[PATH_MAX], pid[24];

        snprintf(pid, sizeof(pid), "%d", (int)getpid());
        if (jail_fmt(path, sizeof(path), "%s/%s", dir, version == 1 ? "tasks" : "cgroup.procs"))
                return -1;
        return write_line(path, pid);
}

int cgroup_apply(const struct jail *j, struct cgroup_plan *p)
{
        unsigned int i;

        if (p->v2_move[0])
                return attach(p->v2_move, 2);
        if (write_settings(j, p)) {
                remove_created(p);
                return -1;
        }
        for (i = 0; i < j->nr_cgroups; i++)
                if (attach(p->location[i], j->cgroup_version))
                        return -1;
        return 0;
}
