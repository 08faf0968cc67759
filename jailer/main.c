/*
 * brasa-jailer: starts brasa confined, in Firecracker's jailer order: sanitize,
 * validate, copy the binary into the chroot, join the netns, rlimits, cgroups,
 * pivot_root, device nodes, daemonize / new PID namespace, drop to uid/gid, exec.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cgroup.h"
#include "jail_fs.h"
#include "privs.h"

#define JAILER_EXIT_ERROR 1
#define JAIL_MAX_ARGV     256

static struct jail jail;
static struct cgroup_plan cgroups; /* large: keep it off the stack */

int jail_err(const char *fmt, ...)
{
        va_list ap;

        fputs("brasa-jailer: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return -1;
}

int jail_fmt(char *out, size_t len, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(out, len, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= len)
                return jail_err("path or value is too long: %.64s...", out);
        return 0;
}

static uint64_t now_us(clockid_t clock)
{
        struct timespec ts;

        clock_gettime(clock, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Nothing inherited reaches the jail: only fds 0-2, and no environment. */
static int sanitize(void)
{
        if (syscall(SYS_close_range, 3u, ~0u, 0u) < 0)
                return jail_err("Failed to call close range syscall: %s", strerror(errno));
        return clearenv() ? jail_err("cannot clear the environment") : 0;
}

/* Checks everything that can fail on bad input before the first change to the system. */
static int prepare(struct jail *j)
{
        if (j->netns_path) {
                j->netns_fd = open(j->netns_path, O_RDONLY | O_CLOEXEC);
                if (j->netns_fd < 0)
                        return jail_err("Failed to open file %s: %s", j->netns_path,
                                        strerror(errno));
        }
        if (cgroup_prepare(j, "/proc/mounts", &cgroups))
                return -1;
        j->uffd_minor = jail_fs_uffd_minor();
        return 0;
}

static int set_rlimits(const struct jail *j)
{
        struct rlimit nofile = {j->nofile, j->nofile}, fsize = {j->fsize, j->fsize};

        if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
                return jail_err("Failed to set limit for resource: no-file: %s", strerror(errno));
        if (j->have_fsize && setrlimit(RLIMIT_FSIZE, &fsize) < 0)
                return jail_err("Failed to set limit for resource: fsize: %s", strerror(errno));
        return 0;
}

/* The steps that still leave the host's view intact; a failure here is undone. */
static int enter_namespaces_and_limits(struct jail *j)
{
        if (j->netns_path) {
                if (setns(j->netns_fd, CLONE_NEWNET) < 0)
                        return jail_err("Failed to join network namespace: netns: %s",
                                        strerror(errno));
                close(j->netns_fd);
                j->netns_fd = -1;
        }
        if (set_rlimits(j))
                return -1;
        return cgroup_apply(j, &cgroups);
}

/*
 * The jailed brasa closes this pipe's write end once its API socket is bound (or, with
 * --no-api, once the VM runs), or by exiting. The process that hands control back to the
 * caller waits for that, so that when the jailer returns the socket can be connected to:
 * no poll loop in the orchestrator. A VMM that never closes it (another binary) costs at
 * most READY_WAIT_MS.
 */
#define READY_WAIT_MS 3000
static int ready_pipe[2] = {-1, -1};

static int ready_open(void)
{
        if (pipe2(ready_pipe, O_CLOEXEC) < 0)
                return jail_err("cannot create a pipe: %s", strerror(errno));
        return 0;
}

/* In the process that returns to the caller: wait for the jailed VMM, then exit 0. */
static void ready_wait_and_exit(void)
{
        struct pollfd p = {.fd = ready_pipe[0], .events = POLLIN};
        uint64_t end = now_us(CLOCK_MONOTONIC) + READY_WAIT_MS * 1000u;
        char c;

        close(ready_pipe[1]);
        for (;;) {
                uint64_t now = now_us(CLOCK_MONOTONIC);
                int n;

                if (now >= end)
                        break;
                n = poll(&p, 1, (int)((end - now + 999) / 1000));
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0 || read(ready_pipe[0], &c, 1) <= 0)
                        break;
        }
        _exit(0);
}

static int daemonize(int dev_null)
{
        pid_t pid = fork();

        if (pid < 0)
                return jail_err("Failed to daemonize: %s", strerror(errno));
        if (pid > 0)
                ready_wait_and_exit();
        close(ready_pipe[0]);
        ready_pipe[0] = -1;
        if (setsid() < 0)
                return jail_err("Failed to daemonize: setsid: %s", strerror(errno));
        pid = fork(); /* not a session leader: can never reacquire a terminal */
        if (pid < 0)
                return jail_err("Failed to daemonize: %s", strerror(errno));
        if (pid > 0)
                _exit(0);
        if (dup2(dev_null, 0) < 0 || dup2(dev_null, 1) < 0 || dup2(dev_null, 2) < 0)
                return jail_err("Failed to duplicate fd: %s", strerror(errno));
        close(dev_null);
        return 0;
}

static int save_pid(const struct jail *j, pid_t pid)
{
        char path[PATH_MAX], text[24];
        int fd, n;

        if (jail_fmt(path, sizeof(path), "/%s.pid", j->exec_name))
                return -1;
        /* / is root's and sticky (jail_fs_populate()): brasa cannot replace this file. */
        if (j->reuse_chroot && unlink(path) < 0 && errno != ENOENT)
                return jail_err("Failed to remove %s: %s", path, strerror(errno));
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return jail_err("Failed to open file %s: %s", path, strerror(errno));
        n = snprintf(text, sizeof(text), "%d", (int)pid);
        if (write(fd, text, (size_t)n) != n) {
                close(fd);
                return jail_err("Failed to write to %s: %s", path, strerror(errno));
        }
        return close(fd) < 0 ? jail_err("Failed to write to %s", path) : 0;
}

static int exec_jailed(const struct jail *j, uint64_t jailer_cpu_us)
{
        static char flag_id[] = "--id", flag_start[] = "--start-time-us",
                    flag_start_cpu[] = "--start-time-cpu-us",
                    flag_parent[] = "--parent-cpu-time-us";
        char path[PATH_MAX], id[JAIL_ID_MAX + 1], start[24], start_cpu[24], parent_cpu[24];
        char *argv[JAIL_MAX_ARGV + 10], ready_env[32], *envp[] = {NULL, NULL};
        int n = 0, i;

        if (j->nr_extra_args > JAIL_MAX_ARGV)
                return jail_err("too many arguments after --");
        if (jail_fmt(path, sizeof(path), "/%s", j->exec_name))
                return -1;
        snprintf(start, sizeof(start), "%llu", (unsigned long long)j->start_time_us);
        snprintf(start_cpu, sizeof(start_cpu), "%llu",
                 (unsigned long long)now_us(CLOCK_PROCESS_CPUTIME_ID));
        snprintf(parent_cpu, sizeof(parent_cpu), "%llu", (unsigned long long)jailer_cpu_us);
        argv[n++] = path;
        memcpy(id, j->id, sizeof(id));
        argv[n++] = flag_id;
        argv[n++] = id;
        argv[n++] = flag_start;
        argv[n++] = start;
        argv[n++] = flag_start_cpu;
        argv[n++] = start_cpu;
        argv[n++] = flag_parent;
        argv[n++] = parent_cpu;
        for (i = 0; i < j->nr_extra_args; i++)
                argv[n++] = j->extra_args[i];
        argv[n] = NULL;
        if (privs_drop(j))
                return -1;
        if (ready_pipe[1] >= 0 && fcntl(ready_pipe[1], F_SETFD, 0) == 0) {
                snprintf(ready_env, sizeof(ready_env), "BRASA_READY_FD=%d", ready_pipe[1]);
                envp[0] = ready_env;
        }
        execve(path, argv, envp);
        return jail_err("Failed to exec into %s: %s", j->exec_name, strerror(errno));
}

/*
 * The parent stays outside and records the child's pid; the child is PID 1 of
 * the new namespace and execs only once the pid file exists (it waits for the
 * parent to close the pipe).
 */
static int exec_in_new_pid_ns(const struct jail *j, uint64_t jailer_cpu_us)
{
        bool leader = !j->daemonize && getsid(0) == getpid();
        int sync[2];
        long pid;
        char c;

        if (pipe2(sync, O_CLOEXEC) < 0)
                return jail_err("cannot create a pipe: %s", strerror(errno));
        pid = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, NULL, NULL, NULL, NULL);
        if (pid < 0)
                return jail_err("Failed cloning into a new child process: %s", strerror(errno));
        if (pid > 0) {
                close(sync[0]);
                if (save_pid(j, (pid_t)pid))
                        _exit(JAILER_EXIT_ERROR);
                if (ready_pipe[0] < 0)
                        _exit(0); /* daemonized: the jailer's first process waits */
                close(sync[1]);   /* the child may exec now */
                ready_wait_and_exit();
        }
        close(sync[1]);
        while (read(sync[0], &c, 1) < 0 && errno == EINTR)
                ;
        /* The parent's exit must not hang up the jailed process. */
        if (leader && setsid() < 0)
                return jail_err("Failed to daemonize: setsid: %s", strerror(errno));
        return exec_jailed(j, jailer_cpu_us);
}

static int finish_in_jail(struct jail *j)
{
        int dev_null = -1;
        uint64_t cpu;

        if (j->daemonize) {
                dev_null = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (dev_null < 0)
                        return jail_err("Failed to open /dev/null: %s", strerror(errno));
        }
        if (jail_fs_pivot(j) || jail_fs_populate(j))
                return -1;
        cpu = now_us(CLOCK_PROCESS_CPUTIME_ID) - j->start_cpu_us;
        if ((j->daemonize || j->new_pid_ns) && ready_open())
                return -1;
        if (j->daemonize && daemonize(dev_null))
                return -1;
        if (j->new_pid_ns)
                return exec_in_new_pid_ns(j, cpu);
        if (save_pid(j, getpid()))
                return -1;
        return exec_jailed(j, cpu);
}

int main(int argc, char **argv)
{
        struct jail_fs_undo undo;
        enum args_result ar;

        jail.start_time_us = now_us(CLOCK_MONOTONIC);
        jail.start_cpu_us = now_us(CLOCK_PROCESS_CPUTIME_ID);
        jail.netns_fd = -1;
        if (sanitize())
                return JAILER_EXIT_ERROR;
        ar = args_parse(argc, argv, &jail);
        if (ar != ARGS_RUN)
                return ar == ARGS_DONE ? 0 : JAILER_EXIT_ERROR;
        if (prepare(&jail))
                return JAILER_EXIT_ERROR;
        privs_warn_root(&jail);
        if (jail_fs_create(&jail, &undo))
                goto undo;
        if (enter_namespaces_and_limits(&jail))
                goto undo;
        finish_in_jail(&jail);
        return JAILER_EXIT_ERROR; /* finish_in_jail() returns only on failure */
undo:
        jail_fs_undo(&undo);
        return JAILER_EXIT_ERROR;
}
