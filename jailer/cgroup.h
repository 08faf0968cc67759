/* brasa-jailer cgroups: v1 (one hierarchy per controller) and v2 (unified), as Firecracker's
 * jailer. */
#ifndef BRASA_JAILER_CGROUP_H
#define BRASA_JAILER_CGROUP_H

#include "jailer.h"

#define CGROUP_MAX_DIRS 64

/* Where each setting goes: resolved from /proc/mounts before anything changes. */
struct cgroup_plan {
        char mount[JAIL_MAX_CGROUPS][PATH_MAX];    /* hierarchy of cgroups[i] */
        char location[JAIL_MAX_CGROUPS][PATH_MAX]; /* <mount>/<parent>/<id> of cgroups[i] */
        char v2_move[PATH_MAX]; /* v2 without --cgroup: existing parent to join ("" if none) */
        char created[CGROUP_MAX_DIRS][PATH_MAX]; /* directories made by cgroup_apply() */
        unsigned int nr_created;
};

/*
 * Resolves the hierarchy of every --cgroup setting (v1: the mount whose options
 * name the controller; v2: the cgroup2 mount, whose cgroup.controllers must list
 * it). Changes nothing. Returns 0, or -1 after printing why.
 */
int cgroup_prepare(const struct jail *j, const char *proc_mounts, struct cgroup_plan *p);

/*
 * Creates <hierarchy>/<parent>/<id> for each hierarchy (cpuset.cpus/mems
 * inherited where empty; v2: controllers enabled in the ancestors), writes the
 * values, then moves the calling process in. On a failure before the move the
 * directories it made are removed again. Returns 0, or -1 after printing why.
 */
int cgroup_apply(const struct jail *j, struct cgroup_plan *p);

#endif
