/* brasa-jailer privileges: the jail's uid and gid, and no capability left for the jailed binary. */
#define _GNU_SOURCE
#include "privs.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CAP_SCAN_MAX 64 /* PR_CAPBSET_DROP gives EINVAL past the kernel's last capability */

void privs_warn_root(const struct jail *j)
{
        if (j->uid != 0 && j->gid != 0)
                return;
        fprintf(stderr,
                "brasa-jailer: warning: --uid %u --gid %u: brasa runs as root%s inside the "
                "jail. It keeps no capability (empty bounding set, nothing effective, permitted, "
                "inheritable or ambient), but a guest that escapes brasa acts as uid/gid 0 on "
                "everything the jail can reach (device nodes, files and mounts placed in it, "
                "other root-owned resources shared with it); use a dedicated non-root uid and "
                "gid where you can.\n",
                (unsigned int)j->uid, (unsigned int)j->gid, j->uid == 0 ? "" : " group");
}

/* Needs CAP_SETPCAP, so before the capabilities go. */
static int drop_bounding_and_ambient(void)
{
        unsigned long cap;

        for (cap = 0; cap < CAP_SCAN_MAX; cap++)
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                        return jail_err("Failed to drop capability %lu from the bounding set: %s",
                                        cap, strerror(errno));
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return jail_err("Failed to clear the ambient capabilities: %s", strerror(errno));
        /* uid 0 gets no capability back at exec, and no one can turn that off again. */
        if (prctl(PR_SET_SECUREBITS,
                  SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                      SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED,
                  0, 0, 0) < 0)
                return jail_err("Failed to set the securebits: %s", strerror(errno));
        return 0;
}

static int clear_caps(void)
{
        struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
        struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

        memset(data, 0, sizeof(data));
        if (syscall(SYS_capset, &hdr, data) < 0)
                return jail_err("Failed to clear the capabilities: %s", strerror(errno));
        return 0;
}

int privs_drop(const struct jail *j)
{
        if (drop_bounding_and_ambient())
                return -1;
        /* Supplementary groups first, then gid, then uid: afterwards none can be regained. */
        if (setgroups(0, NULL) < 0 || setresgid(j->gid, j->gid, j->gid) < 0 ||
            setresuid(j->uid, j->uid, j->uid) < 0)
                return jail_err("cannot drop to uid %u gid %u: %s", (unsigned int)j->uid,
                                (unsigned int)j->gid, strerror(errno));
        return clear_caps();
}
