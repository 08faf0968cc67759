/* Vsock (PUT /vsock, the config file's "vsock"): the guest CID and the host-side Unix socket. */
#include <string.h>

#include "model/resource.h"

#define VS struct vsock_cfg
static const struct mfield vsock_fields[] = {
    F(VS, vsock_id, "vsock_id", mt_str, MF_OPTION | MF_HIDE),
    F(VS, guest_cid, "guest_cid", mt_u32, MF_REQUIRED),
    F(VS, uds_path, "uds_path", mt_str, MF_REQUIRED),
};
static const struct model vsock_model = MODEL("struct VsockDeviceConfig", vsock_fields, false);

/* One vsock device: a PUT replaces it. */
static int vsock_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        (void)pe;
        (void)body;
        model_release(&vsock_model, &cfg->vsock);
        cfg->vsock = *(struct vsock_cfg *)val;
        cfg->vsock.present = true;
        memset(val, 0, sizeof(cfg->vsock));
        return 0;
}

const struct resource res_vsock = {
    .key = "vsock",
    .prefix = "Vsock device error: ",
    .model = &vsock_model,
    RES_ONE(struct vsock_cfg, vsock),
    .apply_rank = 7,
    .no_device = "vsock",
    .apply = vsock_apply,
};
