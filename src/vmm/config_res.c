/* The config-file sections beyond boot-source/machine-config, and the InstanceStart gate. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm/config.h"
#include "vmm/config_priv.h"

/* ---- drives ------------------------------------------------------------------------------- */

static int drives_check(struct perr *pe, const json_t *v)
{
        struct drive_cfg d;
        const json_t *e;
        size_t i;
        int rc;

        if (!json_is_array(v))
                return cfg_type_error(pe, v, "a sequence", NULL);
        json_array_foreach(v, i, e)
        {
                rc = cfg_drive_deserialize(pe, e, &d);
                config_drive_free(&d);
                if (rc)
                        return rc;
        }
        return 0;
}

static int drives_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        struct drive_cfg d;
        const json_t *e;
        size_t i;
        int rc;

        json_array_foreach(v, i, e)
        {
                rc = cfg_drive_deserialize(pe, e, &d);
                if (!rc)
                        rc = cfg_drive_apply(pe, cfg, &d, cfg_given(e, "socket") != NULL);
                config_drive_free(&d);
                if (rc)
                        return rc;
        }
        return 0;
}

/* ---- the table ---------------------------------------------------------------------------- */

static const struct cfg_section_ops section_ops[] = {
    {"drives", "Block device error: ", drives_check, drives_apply, config_drives_to_json},
};

const struct cfg_section_ops *cfg_section_ops(const char *key)
{
        size_t i;

        for (i = 0; i < sizeof(section_ops) / sizeof(section_ops[0]); i++)
                if (strcmp(section_ops[i].key, key) == 0)
                        return &section_ops[i];
        for (i = 0; cfg_dev_sections[i].key; i++)
                if (strcmp(cfg_dev_sections[i].key, key) == 0)
                        return &cfg_dev_sections[i];
        return NULL;
}

void cfg_free_resources(struct vm_config *cfg)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_drives; i++)
                config_drive_free(&cfg->drives[i]);
        cfg->nr_drives = 0;
        cfg_dev_free(cfg);
}

int config_check_supported(const struct vm_config *cfg, char *err, size_t errlen)
{
        const char *what = NULL;

        /* In the config file's order of keys; each device's helper drops its line. */
        if (cfg->balloon.present)
                what = "balloon";
        else if (cfg->cpu_config)
                what = "cpu-config";
        else if (cfg->mmds.present)
                what = "mmds-config";
        else if (cfg->vsock.present)
                what = "vsock";
        else if (cfg->entropy.present)
                what = "entropy";
        else if (cfg->nr_pmems)
                what = "pmem";
        else if (cfg->mem_hotplug.present)
                what = "memory-hotplug";
        else if (cfg->serial.present)
                what = "serial";
        if (!what)
                return 0;
        snprintf(err, errlen, "%s is not supported yet by brasa", what);
        return -ENOTSUP;
}
