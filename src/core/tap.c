/* Host TAP interfaces for virtio-net: TUNSETIFF on an existing tap, vnet header, offloads. */
#include "core/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* TUNSETIFF on an existing, persistent tap; 0 or -errno. */
static int tap_attach(int fd, const char *name)
{
        struct ifreq ifr;

        memset(&ifr, 0, sizeof(ifr));
        memcpy(ifr.ifr_name, name, strlen(name));
        ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
        if (ioctl(fd, TUNSETIFF, &ifr) < 0)
                return -errno;
        /*
         * With CAP_NET_ADMIN, TUNSETIFF creates a missing tap. A tap the user prepared with
         * `ip tuntap add` is persistent, and a non-persistent one held elsewhere gives EBUSY
         * above, so a non-persistent tap here is one we just created: refuse it (closing the
         * fd removes it again). Firecracker's users always prepare the tap.
         */
        if (ioctl(fd, TUNGETIFF, &ifr) < 0)
                return -errno;
        return ifr.ifr_flags & IFF_PERSIST ? 0 : -ENODEV;
}

/* What to do when TUNSETIFF on an existing tap failed with -errno rc. */
static const char *tap_hint(int rc)
{
        if (rc == -ENODEV || rc == -ENOENT)
                return "the tap must exist before the VM starts: ip tuntap add dev <name> mode "
                       "tap && ip link set <name> up";
        if (rc == -EBUSY)
                return "another process (another VM?) holds this tap: stop it, or give each VM "
                       "its own tap";
        if (rc == -EPERM || rc == -EACCES)
                return "brasa needs CAP_NET_ADMIN, or a tap made for its user: ip tuntap add dev "
                       "<name> mode tap user <uid>";
        return NULL;
}

int tap_open(const char *name, struct err *e)
{
        int fd, rc, hdr = TAP_VNET_HDR_LEN;

        if (strlen(name) >= IFNAMSIZ)
                return err_set(e, -EINVAL, "Open tap device failed: Invalid interface name");
        fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
                rc = -errno;
                return err_set(e, rc,
                               "Open tap device failed: Couldn't open /dev/net/tun: %s (os error "
                               "%d)",
                               strerror(-rc), -rc);
        }
        rc = tap_attach(fd, name);
        if (rc) {
                err_set(e, rc,
                        "Open tap device failed: Error while creating ifreq structure: %s (os "
                        "error %d). Invalid TUN/TAP Backend provided by %s. Check our "
                        "documentation on setting up the network devices.",
                        strerror(-rc), -rc, name);
                err_hint(e, tap_hint(rc));
                goto fail;
        }
        if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
                rc = -errno;
                err_set(e, rc,
                        "Setting vnet header size failed: Error while setting size of the vnet "
                        "header: %s (os error %d)",
                        strerror(-rc), -rc);
                goto fail;
        }
        return fd;
fail:
        close(fd);
        return rc;
}

int tap_set_offload(int fd, unsigned int flags)
{
        return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags) < 0 ? -errno : 0;
}
