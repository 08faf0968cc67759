/* Memory hotplug (PUT/PATCH /hotplug/memory, "memory-hotplug"): virtio-mem's sizes. */
#include <errno.h>

#include "model/resource.h"

#define HC struct mem_hotplug_cfg
static const struct mfield hotplug_fields[] = {
    F(HC, total_size_mib, "total_size_mib", mt_usize, MF_REQUIRED),
    F_DFLT(HC, block_size_mib, "block_size_mib", mt_usize, 0, 2),
    F_DFLT(HC, slot_size_mib, "slot_size_mib", mt_usize, 0, 128),
};
static const struct model hotplug_model =
    MODEL("struct MemoryHotplugConfig", hotplug_fields, false);

static const struct mfield patch_fields[] = {
    F(struct hotplug_update, requested_size_mib, "requested_size_mib", mt_usize, MF_REQUIRED)};
const struct model model_hotplug_patch =
    MODEL("struct MemoryHotplugSizeUpdate", patch_fields, false);

static int hotplug_validate(struct perr *pe, const struct mem_hotplug_cfg *h)
{
        if (h->block_size_mib < 2)
                return cfg_fail(pe, -EINVAL, "Block size must not be lower than 2 MiB");
        if (h->block_size_mib & (h->block_size_mib - 1))
                return cfg_fail(pe, -EINVAL, "Block size must be a power of 2");
        if (h->slot_size_mib < 128)
                return cfg_fail(pe, -EINVAL, "Slot size must not be lower than 128 MiB");
        if (h->slot_size_mib % h->block_size_mib)
                return cfg_fail(pe, -EINVAL,
                                "Slot size must be a multiple of block size (%llu MiB)",
                                (unsigned long long)h->block_size_mib);
        if (h->total_size_mib < h->slot_size_mib)
                return cfg_fail(pe, -EINVAL,
                                "Total size must not be lower than slot size (%llu MiB)",
                                (unsigned long long)h->slot_size_mib);
        if (h->total_size_mib % h->slot_size_mib)
                return cfg_fail(pe, -EINVAL,
                                "Total size must be a multiple of slot size (%llu MiB)",
                                (unsigned long long)h->slot_size_mib);
        return 0;
}

static int hotplug_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        int rc;

        (void)body;
        rc = hotplug_validate(pe, val);
        if (rc)
                return rc;
        cfg->mem_hotplug = *(struct mem_hotplug_cfg *)val;
        cfg->mem_hotplug.present = true;
        return 0;
}

const struct resource res_hotplug = {
    .key = "memory-hotplug",
    .prefix = "Memory hotplug config error: ",
    .model = &hotplug_model,
    RES_ONE(struct mem_hotplug_cfg, mem_hotplug),
    .apply_rank = 12,
    .apply = hotplug_apply,
};
