/* Drives (PUT/PATCH /drives/{id}, the config file's "drives"): Firecracker's BlockDeviceConfig. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hostfile.h"
#include "model/resource.h"

#define MSG_PATCH_PREFIX "Unable to patch the block device: "
#define MSG_PATCH_SUFFIX " Please verify the request arguments."

static const char *const cache_variants[] = {"Unsafe", "Writeback", NULL};
static const char *const engine_variants[] = {"Async", "Sync", NULL};

#define DC struct drive_cfg
/* BlockDeviceConfig's fields in declaration order (that of serde's messages). */
static const struct mfield drive_fields[] = {
    F(DC, drive_id, "drive_id", mt_str, MF_REQUIRED),
    F(DC, partuuid, "partuuid", mt_str, MF_OPTION),
    F(DC, is_root_device, "is_root_device", mt_bool, MF_REQUIRED),
    F_ENUM(DC, cache_type, "cache_type", 0, cache_variants, "enum CacheType", DRIVE_CACHE_UNSAFE),
    F(DC, is_read_only, "is_read_only", mt_bool, MF_OPTION),
    F(DC, path_on_host, "path_on_host", mt_str, MF_OPTION),
    F_SUB(DC, rate_limiter, "rate_limiter", mt_object, MF_OPTION, &model_rate_limiter,
          has_rate_limiter),
    F_ENUM(DC, io_engine, "io_engine", MF_OPTION, engine_variants, "enum FileEngineType",
           DRIVE_IO_SYNC),
    F(DC, has_socket, "socket", mt_str_flag, MF_OPTION),
};
static const struct model drive_model = MODEL("struct BlockDeviceConfig", drive_fields, false);

#define DU struct drive_update
static const struct mfield patch_fields[] = {
    F(DU, drive_id, "drive_id", mt_str, MF_REQUIRED),
    F(DU, path_on_host, "path_on_host", mt_str, MF_OPTION),
    F_SUB(DU, rate_limiter, "rate_limiter", mt_rl_update, MF_OPTION, &model_rate_limiter,
          has_rate_limiter),
};
const struct model model_drive_patch = MODEL("struct BlockDeviceUpdateConfig", patch_fields, false);

void config_drive_free(struct drive_cfg *d)
{
        model_release(&drive_model, d);
        memset(d, 0, sizeof(*d));
}

void config_drive_update_free(struct drive_update *u)
{
        free(u->drive_id);
        free(u->path_on_host);
        memset(u, 0, sizeof(*u));
}

/*
 * Opens the backing file as the device will, so a bad path fails now (Firecracker's PUT); never
 * blocks on a FIFO, which is refused with the other kinds of file that cannot back a disk.
 */
static int drive_open_check(struct perr *pe, const struct drive_cfg *d)
{
        char path[CFG_MAX_ECHO * 6 + 16];
        int fd;

        fd = hostfile_open(d->path_on_host, d->is_read_only ? O_RDONLY : O_RDWR);
        if (fd >= 0) {
                close(fd);
                return 0;
        }
        cfg_escape(d->path_on_host, strlen(d->path_on_host), path, sizeof(path));
        if (fd == -EINVAL)
                return cfg_fail(pe, -EINVAL,
                                "Unable to create the virtio block device: Virtio backend error: "
                                "Error manipulating the backing file: %s " HOSTFILE_BAD_TYPE,
                                path);
        return cfg_fail(pe, -EINVAL,
                        "Unable to create the virtio block device: Virtio backend error: Error "
                        "manipulating the backing file: %s (os error %d) %s",
                        strerror(-fd), -fd, path);
}

/* BlockBuilder::insert(): replace by id, root first, at most one root. Takes d's strings. */
static int drive_insert(struct perr *pe, struct vm_config *cfg, struct drive_cfg *d)
{
        int pos = cfg_list_index(cfg, &res_drives, d->drive_id);
        bool has_root = cfg->nr_drives > 0 && cfg->drives[0].is_root_device;
        struct drive_cfg tmp;

        if (d->is_root_device && has_root && pos != 0)
                return cfg_fail(pe, -EINVAL, "A root block device already exists!");
        if (pos < 0 && cfg->nr_drives >= CONFIG_MAX_DRIVES)
                return cfg_fail(pe, -ENOSPC, "brasa supports at most %d drives", CONFIG_MAX_DRIVES);
        if (pos >= 0) {
                config_drive_free(&cfg->drives[pos]);
                cfg->drives[pos] = *d;
                if (pos != 0 && d->is_root_device) {
                        tmp = cfg->drives[0];
                        cfg->drives[0] = cfg->drives[pos];
                        cfg->drives[pos] = tmp;
                }
        } else if (d->is_root_device) {
                memmove(&cfg->drives[1], &cfg->drives[0], cfg->nr_drives * sizeof(cfg->drives[0]));
                cfg->drives[0] = *d;
                cfg->nr_drives++;
        } else {
                cfg->drives[cfg->nr_drives++] = *d;
        }
        memset(d, 0, sizeof(*d));
        return 0;
}

/* Validates a decoded drive and inserts it (moving d's strings on success). */
static int drive_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        struct drive_cfg *d = val;
        bool has_socket = d->has_socket;
        int rc;

        (void)body;
        if (has_socket && !d->path_on_host)
                return cfg_fail(pe, -ENOTSUP,
                                "vhost-user block devices (`socket`) are not supported yet by "
                                "brasa");
        if (!d->path_on_host || has_socket)
                return cfg_fail(pe, -EINVAL,
                                "Unable to create the virtio block device: Invalid block config.");
        rc = drive_open_check(pe, d);
        if (rc)
                return rc;
        return drive_insert(pe, cfg, d);
}

int config_put_drive(struct vm_config *cfg, const json_t *body, const char *path_id, struct err *e)
{
        struct perr pe = PERR_API(e);
        struct drive_cfg d;
        int rc;

        rc = cfg_decode_body(&pe, &res_drives, body, path_id, &d);
        if (!rc)
                rc = drive_apply(&pe, cfg, &d, body);
        config_drive_free(&d);
        return rc;
}

/* Decodes a PartialDrive into *u and checks the ids match. */
static int patch_decode(struct perr *pe, const json_t *body, const char *path_id,
                        struct drive_update *u)
{
        int rc;

        memset(u, 0, sizeof(*u));
        rc = model_decode(pe, &model_drive_patch, body, u, false);
        return rc ? rc : cfg_id_mismatch(pe, path_id, u->drive_id, false);
}

int config_drive_patch_check(const struct vm_config *cfg, const struct drive_update *u,
                             struct err *e)
{
        struct perr pe = PERR_API(e);

        if (cfg_list_index(cfg, &res_drives, u->drive_id) < 0)
                return cfg_fail(&pe, -ENOENT,
                                MSG_PATCH_PREFIX "Failed perform action on device: Device not "
                                                 "found" MSG_PATCH_SUFFIX);
        if (!u->path_on_host && !u->has_rate_limiter)
                /* Firecracker treats this as a vhost-user config update; virtio-block refuses. */
                return cfg_fail(&pe, -EINVAL,
                                MSG_PATCH_PREFIX "Block: Running method expected different "
                                                 "backend." MSG_PATCH_SUFFIX);
        return 0;
}

int config_patch_drive(const struct vm_config *cfg, const json_t *body, const char *path_id,
                       struct drive_update *out, struct err *e)
{
        struct perr pe = PERR_API(e);
        struct drive_update u;
        int rc;

        rc = patch_decode(&pe, body, path_id, &u);
        if (!rc)
                rc = config_drive_patch_check(cfg, &u, e);
        if (rc) {
                config_drive_update_free(&u);
                return rc;
        }
        *out = u;
        return 0;
}

int config_apply_drive_update(struct vm_config *cfg, const struct drive_update *u)
{
        int pos = cfg_list_index(cfg, &res_drives, u->drive_id);
        struct drive_cfg *d;
        char *path;

        if (pos < 0)
                return -ENOENT;
        d = &cfg->drives[pos];
        if (u->path_on_host) {
                path = strdup(u->path_on_host);
                if (!path)
                        return -ENOMEM;
                free(d->path_on_host);
                d->path_on_host = path;
        }
        if (u->has_rate_limiter) {
                config_rate_limiter_apply(&d->rate_limiter, &u->rate_limiter);
                d->has_rate_limiter = true;
        }
        return 0;
}

json_t *config_drives_to_json(const struct vm_config *cfg)
{
        return cfg_resource_show(&res_drives, cfg);
}

const struct resource res_drives = {
    .key = "drives",
    .prefix = "Block device error: ",
    .model = &drive_model,
    RES_LIST(struct drive_cfg, drives, nr_drives),
    .apply_rank = 5,
    .apply = drive_apply,
};
