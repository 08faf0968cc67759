/* Balloon (PUT/PATCH /balloon, the config file's "balloon"), and its statistics/hinting bodies. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/log.h"
#include "model/resource.h"

#define BC struct balloon_cfg
static const struct mfield balloon_fields[] = {
    F(BC, amount_mib, "amount_mib", mt_u32, MF_REQUIRED),
    F(BC, deflate_on_oom, "deflate_on_oom", mt_bool, MF_REQUIRED),
    F(BC, stats_polling_interval_s, "stats_polling_interval_s", mt_u16, 0),
    F(BC, free_page_hinting, "free_page_hinting", mt_bool, 0),
    F(BC, free_page_reporting, "free_page_reporting", mt_bool, 0),
};
static const struct model balloon_model =
    MODEL("struct BalloonDeviceConfig", balloon_fields, false);

/* The bodies that change a running balloon. */
static const struct mfield patch_fields[] = {
    F(struct balloon_update, amount_mib, "amount_mib", mt_u32, MF_REQUIRED)};
const struct model model_balloon_patch = MODEL("struct BalloonUpdateConfig", patch_fields, false);
static const struct mfield stats_fields[] = {F(struct balloon_stats_update,
                                               stats_polling_interval_s, "stats_polling_interval_s",
                                               mt_u16, MF_REQUIRED)};
const struct model model_balloon_stats =
    MODEL("struct BalloonUpdateStatsConfig", stats_fields, false);
static const struct mfield hinting_fields[] = {
    F_HAS(struct hinting_start, acknowledge_on_stop, "acknowledge_on_stop", mt_bool, 0, has_ack)};
const struct model model_hinting = MODEL("struct StartHintingCmd", hinting_fields, false);

static int balloon_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        struct balloon_cfg *b = val;

        (void)body;
        if (b->amount_mib > cfg->machine.mem_size_mib)
                return cfg_fail(pe, -EINVAL, "Amount of pages requested is too large.");
        /* Balloon::new(): the target in 4 KiB pages must fit the u32 num_pages. */
        if (b->amount_mib > UINT32_MAX / 256)
                return cfg_fail(pe, -EINVAL,
                                "Error creating the balloon device: Requested memory should be "
                                "less than %uMiB",
                                UINT32_MAX / 256);
        if (b->free_page_hinting) /* Firecracker warns when it makes the device, at PUT */
                log_warn("[DevPreview] Free Page Hinting is in development preview.");
        cfg->balloon = *b;
        cfg->balloon.present = true;
        return 0;
}

json_t *config_balloon_to_json(const struct balloon_cfg *b)
{
        return b->present ? model_encode(&balloon_model, b) : json_null();
}

const struct resource res_balloon = {
    .key = "balloon",
    .prefix = "Balloon device error: ",
    .model = &balloon_model,
    RES_ONE(struct balloon_cfg, balloon),
    .apply_rank = 8,
    .apply = balloon_apply,
};
