/* brasa-jailer command line: Firecracker's jailer flags, parsed and validated before any change. */
#ifndef BRASA_JAILER_ARGS_H
#define BRASA_JAILER_ARGS_H

#include "jailer.h"

enum args_result { ARGS_RUN, ARGS_DONE, ARGS_ERROR };

/*
 * Parses argv into j and validates every value that can be checked without
 * changing the system: the id, numeric uid/gid, the exec file (canonical,
 * regular), the chroot base (absolute, an existing directory), the cgroup
 * version, the parent cgroup and the cgroup and resource-limit syntax.
 * ARGS_DONE after --help/--version, ARGS_ERROR after printing why.
 */
enum args_result args_parse(int argc, char **argv, struct jail *j);

#endif
