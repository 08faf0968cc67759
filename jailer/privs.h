/* brasa-jailer privileges: the jail's uid and gid, and no capability left for the jailed binary. */
#ifndef BRASA_JAILER_PRIVS_H
#define BRASA_JAILER_PRIVS_H

#include "jailer.h"

/*
 * With --uid 0 or --gid 0 (Kata Containers starts the jailer so), prints a warning that names
 * the risk: brasa runs as root in the jail. Call before --daemonize hides stderr.
 */
void privs_warn_root(const struct jail *j);

/*
 * Drops to the jail's uid and gid for good (no supplementary groups) and leaves no capability
 * to the binary about to be exec'd, also as uid 0: the bounding set emptied, the ambient set
 * cleared, root's special treatment at exec turned off and locked (SECBIT_NOROOT,
 * SECBIT_NO_SETUID_FIXUP), then permitted, effective and inheritable cleared. Returns 0, or -1
 * after printing why.
 */
int privs_drop(const struct jail *j);

#endif
