/* BootSource (PUT /boot-source, the config file's "boot-source"): kernel, command line, initrd. */
#include <string.h>

#include "model/resource.h"

#define BS struct boot_source_cfg
static const struct mfield boot_fields[] = {
    F(BS, kernel_image_path, "kernel_image_path", mt_str, MF_REQUIRED),
    F(BS, initrd_path, "initrd_path", mt_str, MF_OPTION),
    F(BS, boot_args, "boot_args", mt_str, MF_OPTION),
};
static const struct model boot_model = MODEL("struct BootSourceConfig", boot_fields, false);

void config_boot_source_free(struct boot_source_cfg *b)
{
        model_release(&boot_model, b);
        memset(b, 0, sizeof(*b));
}

int config_parse_boot_source(const json_t *body, struct boot_source_cfg *out, struct err *e)
{
        struct perr pe = PERR_API(e);
        struct boot_source_cfg b;
        int rc;

        memset(&b, 0, sizeof(b));
        rc = model_decode(&pe, &boot_model, body, &b, false);
        if (!rc)
                *out = b;
        return rc;
}

static int boot_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        (void)pe;
        (void)body;
        config_boot_source_free(&cfg->boot);
        cfg->boot = *(struct boot_source_cfg *)val;
        cfg->has_boot_source = true;
        memset(val, 0, sizeof(cfg->boot));
        return 0;
}

/* BootSourceConfig as Firecracker serializes it (the default one when none is set). */
static json_t *boot_show(const struct vm_config *cfg)
{
        const struct boot_source_cfg *b = &cfg->boot;

        return json_pack("{s:s, s:o, s:o}", "kernel_image_path",
                         b->kernel_image_path ? b->kernel_image_path : "", "initrd_path",
                         b->initrd_path ? json_string(b->initrd_path) : json_null(), "boot_args",
                         b->boot_args ? json_string(b->boot_args) : json_null());
}

const struct resource res_boot_source = {
    .key = "boot-source",
    .model = &boot_model,
    RES_AT(struct boot_source_cfg, boot),
    .count_off = RES_SINGLE,
    .present_off = offsetof(struct vm_config, has_boot_source),
    .apply_rank = 4,
    .apply = boot_apply,
    .show = boot_show,
};
