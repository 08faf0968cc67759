/* Pmem devices (PUT/PATCH /pmem/{id}, the config file's "pmem"): virtio-pmem. */
#include <errno.h>
#include <string.h>

#include "model/resource.h"

#define PC struct pmem_cfg
static const struct mfield pmem_fields[] = {
    F(PC, id, "id", mt_str, MF_REQUIRED),
    F(PC, path_on_host, "path_on_host", mt_str, MF_REQUIRED),
    F(PC, root_device, "root_device", mt_bool, 0),
    F(PC, read_only, "read_only", mt_bool, 0),
    F_OBJ(PC, rate_limiter, "rate_limiter", mt_object, MF_OPTION, &model_rate_limiter),
};
static const struct model pmem_model = MODEL("struct PmemConfig", pmem_fields, false);

#define PU struct pmem_update
static const struct mfield patch_fields[] = {
    F(PU, id, "id", mt_str, MF_REQUIRED),
    F_SUB(PU, rate_limiter, "rate_limiter", mt_rl_update, MF_OPTION, &model_rate_limiter,
          has_rate_limiter),
};
const struct model model_pmem_patch = MODEL("struct PmemDeviceUpdateConfig", patch_fields, false);

static bool pmem_has_root(const struct vm_config *cfg)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_pmems; i++)
                if (cfg->pmems[i].root_device)
                        return true;
        return false;
}

static int pmem_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        struct pmem_cfg *p = val;
        bool block_root = cfg->nr_drives && cfg->drives[0].is_root_device;
        int pos = cfg_list_index(cfg, &res_pmems, p->id);

        (void)body;
        if (p->root_device && block_root)
                return cfg_fail(pe, -EINVAL,
                                "Attempt to add pmem as a root device while the root device "
                                "defined as a block device");
        if (p->root_device && pmem_has_root(cfg) && (pos < 0 || !cfg->pmems[pos].root_device))
                return cfg_fail(pe, -EINVAL, "A root pmem device already exist");
        if (pos < 0 && cfg->nr_pmems >= CONFIG_MAX_PMEMS)
                return cfg_fail(pe, -ENOSPC, "brasa supports at most %d pmem devices",
                                CONFIG_MAX_PMEMS);
        if (pos >= 0)
                model_release(&pmem_model, &cfg->pmems[pos]);
        else
                pos = (int)cfg->nr_pmems++;
        cfg->pmems[pos] = *p;
        memset(p, 0, sizeof(*p));
        return 0;
}

int config_pmem_patch_check(const struct vm_config *cfg, const struct pmem_update *u, struct err *e)
{
        struct perr pe = PERR_API(e);

        if (u->has_rate_limiter && cfg_list_index(cfg, &res_pmems, u->id) < 0)
                return cfg_fail(&pe, -ENOENT,
                                "Unable to patch the pmem device: " MSG_NOT_FOUND
                                " Please verify the request arguments.");
        return 0;
}

const struct resource res_pmems = {
    .key = "pmem",
    .prefix = "Pmem device error: ",
    .model = &pmem_model,
    RES_LIST(struct pmem_cfg, pmems, nr_pmems),
    .apply_rank = 11,
    .apply = pmem_apply,
};
