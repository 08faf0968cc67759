/* Vsock (PUT /vsock, the config file's "vsock"): the guest CID and the host-side Unix socket. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "model/resource.h"

#define VS struct vsock_cfg
static const struct mfield vsock_fields[] = {
    F(VS, vsock_id, "vsock_id", mt_str, MF_OPTION | MF_HIDE),
    F(VS, guest_cid, "guest_cid", mt_u32, MF_REQUIRED),
    F(VS, uds_path, "uds_path", mt_str, MF_REQUIRED),
};
static const struct model vsock_model = MODEL("struct VsockDeviceConfig", vsock_fields, false);

#define MSG_BIND                                                                                   \
        "Cannot create backend for vsock device: Error binding to the host-side Unix socket: "

/* An io::Error as Rust displays it: "<strerror> (os error N)". */
static int bind_fail(struct perr *pe, int err)
{
        return cfg_fail(pe, -err, MSG_BIND "%s (os error %d)", strerror(err), err);
}

/*
 * UnixListener::bind() then set_nonblocking(), as VsockMuxer::new(): a socket listening on
 * path, non-blocking. Returns the fd or -errno with Firecracker's message.
 */
static int vsock_bind(struct perr *pe, const char *path)
{
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        int fd, err;

        if (strlen(path) >= sizeof(sa.sun_path))
                return cfg_fail(pe, -EINVAL, MSG_BIND "path must be shorter than SUN_LEN");
        memcpy(sa.sun_path, path, strlen(path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return bind_fail(pe, errno);
        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, SOMAXCONN) < 0) {
                err = errno;
                close(fd);
                return bind_fail(pe, err);
        }
        return fd;
}

static void vsock_release(struct vm_config *cfg)
{
        if (cfg->vsock.has_listener)
                close(cfg->vsock.listen_fd);
        model_release(&vsock_model, &cfg->vsock);
        memset(&cfg->vsock, 0, sizeof(cfg->vsock));
}

/*
 * VsockBuilder::insert(): one vsock device. An existing one is dropped and its socket file
 * removed first (a failure to remove it is the PUT's error, and the old device is gone, as in
 * Firecracker); then the new socket is bound at uds_path.
 */
static int vsock_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        struct vsock_cfg *v = val;
        int fd, err = 0;

        (void)body;
        if (cfg->vsock.present) {
                if (unlink(cfg->vsock.uds_path) < 0)
                        err = errno;
                vsock_release(cfg);
                if (err)
                        return bind_fail(pe, err);
        }
        fd = vsock_bind(pe, v->uds_path);
        if (fd < 0)
                return fd;
        cfg->vsock = *v;
        cfg->vsock.present = true;
        cfg->vsock.has_listener = true;
        cfg->vsock.listen_fd = fd;
        memset(val, 0, sizeof(cfg->vsock));
        return 0;
}

const struct resource res_vsock = {
    .key = "vsock",
    .prefix = "Vsock device error: ",
    .model = &vsock_model,
    RES_ONE(struct vsock_cfg, vsock),
    .apply_rank = 7,
    .apply = vsock_apply,
    .release = vsock_release,
};
