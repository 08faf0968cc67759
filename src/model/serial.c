/* Serial (PUT /serial): where the guest console goes and its output rate limit. API only:
 * Firecracker skips it in the config file and in GET /vm/config. */
#include <string.h>

#include "model/resource.h"

#define SC struct serial_cfg
static const struct mfield serial_fields[] = {
    F(SC, serial_out_path, "serial_out_path", mt_str, MF_OPTION),
    F_SUB(SC, rate_limiter, "rate_limiter", mt_object, MF_OPTION, &model_token_bucket,
          rate_limiter.present),
};
static const struct model serial_model = MODEL("struct SerialConfig", serial_fields, false);

static int serial_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        (void)pe;
        (void)body;
        model_release(&serial_model, &cfg->serial);
        cfg->serial = *(struct serial_cfg *)val;
        cfg->serial.present = true;
        memset(val, 0, sizeof(cfg->serial));
        return 0;
}

const struct resource res_serial = {
    .model = &serial_model,
    RES_ONE(struct serial_cfg, serial),
    .apply_rank = 13,
    .apply = serial_apply,
};
