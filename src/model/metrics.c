/* Metrics (PUT /metrics, the config file's "metrics"): the path metrics lines are written to. */
#include <string.h>

#include "model/resource.h"

/* MetricsConfig has no deny_unknown_fields in Firecracker 1.16. */
static const struct mfield metrics_fields[] = {
    F(struct metrics_cfg, metrics_path, "metrics_path", mt_str, MF_REQUIRED),
};
static const struct model metrics_model = MODEL("struct MetricsConfig", metrics_fields, true);

static int metrics_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        (void)pe;
        (void)body;
        model_release(&metrics_model, &cfg->metrics);
        cfg->metrics = *(struct metrics_cfg *)val;
        cfg->metrics.present = true;
        memset(val, 0, sizeof(cfg->metrics));
        return 0;
}

/* Applied by main.c when it comes from the config file; not part of GET /vm/config. */
static json_t *metrics_show(const struct vm_config *cfg)
{
        (void)cfg;
        return json_null();
}

const struct resource res_metrics = {
    .key = "metrics",
    .prefix = "Metrics error: ",
    .model = &metrics_model,
    RES_ONE(struct metrics_cfg, metrics),
    .apply_rank = 1,
    .apply = metrics_apply,
    .show = metrics_show,
};
