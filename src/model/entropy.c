/* Entropy (PUT /entropy, the config file's "entropy"): virtio-rng and its rate limiter. */
#include <string.h>

#include "model/resource.h"

static const struct mfield entropy_fields[] = {
    F_OBJ(struct entropy_cfg, rate_limiter, "rate_limiter", mt_object, MF_OPTION,
          &model_rate_limiter),
};
static const struct model entropy_model =
    MODEL("struct EntropyDeviceConfig", entropy_fields, false);

/* One entropy device: a PUT replaces it. */
static int entropy_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        (void)pe;
        (void)body;
        cfg->entropy = *(struct entropy_cfg *)val;
        cfg->entropy.present = true;
        return 0;
}

const struct resource res_entropy = {
    .key = "entropy",
    .prefix = "Entropy device error: ",
    .model = &entropy_model,
    RES_ONE(struct entropy_cfg, entropy),
    .apply_rank = 10,
    .apply = entropy_apply,
};
