/* Stage 2 of a request (VMM thread): Firecracker's pre-/post-boot controllers over brasa's VMM. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_priv.h"
#include "core/log.h"
#include "core/metrics.h"
#include "vmm/vmm.h"

#define MSG_PRE      "The requested operation is not supported before starting the microVM."
#define MSG_POST     "The requested operation is not supported after starting the microVM."
#define MSG_NOTFOUND "Failed perform action on device: Device not found"

enum gate { ANY, PRE, POST };

static bool is_started(const struct api_ctx *ctx)
{
        return ctx->started;
}

/* ---- responses ---------------------------------------------------------------------------- */

static void ok_empty(struct api_call *call)
{
        call->resp.status = 204;
}

/* 200 with v serialized compactly (v is consumed). */
static void ok_json(struct api_call *call, json_t *v)
{
        char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

        json_decref(v);
        if (!text) {
                api_fault(&call->resp, 400, "Internal VMM error: out of memory");
                return;
        }
        call->resp.status = 200;
        call->resp.body = text;
        call->resp.len = strlen(text);
}

/* 400 "<prefix><msg>". */
static void fail_with(struct api_call *call, const char *prefix, const char *msg)
{
        char text[1024];

        snprintf(text, sizeof(text), "%s%s", prefix, msg);
        api_fault(&call->resp, 400, text);
}

/* Maps a config parser's result: 0 -> 204, else 400 with prefix for validation errors. */
static void finish(struct api_call *call, int rc, const char *prefix, const char *err)
{
        if (rc == 0)
                ok_empty(call);
        else if (rc == -EBADMSG)
                fail_with(call,
                          "An error occurred when deserializing the json body of a request: ", err);
        else if (rc == -EXDEV)
                fail_with(call, "", err);
        else if (rc == -ENOTSUP)
                fail_with(call, "The requested operation is not supported: ", err);
        else
                fail_with(call, prefix, err);
}

/* The OS error as Rust's io::Error shows it: "No such file or directory (os error 2)". */
static void os_error(int e, char *out, size_t len)
{
        snprintf(out, len, "%s (os error %d)", strerror(e), e);
}

/* ---- instance info, version, configs ----------------------------------------------------------
 */

static void get_info(struct api_ctx *ctx, struct api_call *call)
{
        metrics_inc(&metrics.get_api_requests.instance_info_count);
        ok_json(call, json_pack("{s:s, s:s, s:s, s:s}", "id", ctx->instance_id, "state",
                                is_started(ctx) ? "Running" : "Not started", "vmm_version",
                                API_FC_VERSION, "app_name", "Firecracker"));
}

static void get_version(struct api_call *call)
{
        metrics_inc(&metrics.get_api_requests.vmm_version_count);
        ok_json(call, json_pack("{s:s}", "firecracker_version", API_FC_VERSION));
}

static void get_vm_config(struct api_ctx *ctx, struct api_call *call)
{
        log_warn("If the VM was restored from snapshot, boot-source, machine-config.smt, and "
                 "machine-config.cpu_template will all be empty.");
        ok_json(call, config_to_json(ctx->cfg));
}

static void get_machine(struct api_ctx *ctx, struct api_call *call)
{
        metrics_inc(&metrics.get_api_requests.machine_cfg_count);
        ok_json(call, config_machine_to_json(&ctx->cfg->machine));
}

/* ---- boot source and machine config ------------------------------------------------------------
 */

/* BootConfig::new(): the kernel and initrd must open, the command line must fit. */
static int boot_validate(const struct boot_source_cfg *b, char *err, size_t errlen)
{
        char why[128];
        int fd;

        fd = open(b->kernel_image_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                os_error(errno, why, sizeof(why));
                snprintf(err, errlen, "The kernel file cannot be opened: %s", why);
                return -EINVAL;
        }
        close(fd);
        if (b->initrd_path) {
                fd = open(b->initrd_path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        os_error(errno, why, sizeof(why));
                        snprintf(err, errlen,
                                 "The initrd file cannot be opened due to invalid path or invalid "
                                 "permissions. %s",
                                 why);
                        return -EINVAL;
                }
                close(fd);
        }
        if (b->boot_args && strlen(b->boot_args) >= VMM_CMDLINE_MAX_SIZE) {
                snprintf(err, errlen,
                         "The kernel command line is invalid: Command line string too large");
                return -EINVAL;
        }
        return 0;
}

static void put_boot(struct api_ctx *ctx, struct api_call *call)
{
        struct boot_source_cfg b;
        char err[512] = "";
        int rc;

        memset(&b, 0, sizeof(b));
        metrics_inc(&metrics.put_api_requests.boot_source_count);
        ctx->boot_path = true;
        rc = config_parse_boot_source(call->body, &b, err, sizeof(err));
        if (!rc)
                rc = boot_validate(&b, err, sizeof(err));
        if (rc) {
                config_boot_source_free(&b);
                finish(call, rc, "Boot source error: ", err);
                return;
        }
        config_boot_source_free(&ctx->cfg->boot);
        ctx->cfg->boot = b;
        ctx->cfg->has_boot_source = true;
        ok_empty(call);
}

/* The balloon target may not exceed the new memory size (update_machine_config()). */
static int machine_vs_balloon(const struct api_ctx *ctx, const struct machine_cfg *m, char *err,
                              size_t errlen)
{
        if (ctx->cfg->balloon.present && m->mem_size_mib < ctx->cfg->balloon.amount_mib) {
                snprintf(err, errlen,
                         "Machine config error: The memory size (MiB) is smaller than the "
                         "previously set balloon device target size.");
                return -EINVAL;
        }
        return 0;
}

static void put_machine(struct api_ctx *ctx, struct api_call *call, bool patch)
{
        struct machine_cfg m = ctx->cfg->machine;
        char err[512] = "";
        int rc;

        ctx->boot_path = true;
        if (patch)
                rc = config_patch_machine_config(call->body, &m, err, sizeof(err));
        else
                rc = config_parse_machine_config(call->body, &m, err, sizeof(err));
        if (rc) {
                finish(call, rc, "Machine config error: ", err);
                return;
        }
        if (machine_vs_balloon(ctx, &m, err, sizeof(err))) {
                fail_with(call, "", err);
                return;
        }
        ctx->cfg->machine = m;
        ok_empty(call);
}

/* ---- actions -------------------------------------------------------------------------------- */

static void instance_start(struct api_ctx *ctx, struct api_call *call)
{
        struct err e = ERR_INIT;
        char err[512] = "";
        int rc;

        if (!ctx->cfg->has_boot_source) {
                fail_with(call, "Start microvm error: ",
                          "Cannot start microvm without kernel configuration.");
                return;
        }
        rc = config_check_supported(ctx->cfg, err, sizeof(err));
        if (rc) {
                fail_with(call, "Start microvm error: ", err);
                return;
        }
        if (!ctx->vmm) {
                fail_with(call, "Start microvm error: ", "no VMM in this process");
                return;
        }
        rc = vmm_boot(ctx->vmm, ctx->cfg, &e);
        snprintf(err, sizeof(err), "%s", e.msg);
        if (rc) {
                fail_with(call, "Start microvm error: ", err);
                return;
        }
        ctx->started = true;
        /* Firecracker writes the first metrics line (with the start-up times) at boot. */
        metrics_flush();
        ok_empty(call);
}

static void send_ctrl_alt_del(struct api_ctx *ctx, struct api_call *call)
{
        struct err e = ERR_INIT;

        if (!ctx->vmm) /* API tests without a VMM: as a VMM that has not booted */
                err_set(&e, -ENODEV, "I8042 error: the device is not ready");
        else
                vmm_send_ctrl_alt_del(ctx->vmm, &e);
        if (e.rc) {
                fail_with(call, "Internal VMM error: ", e.msg);
                return;
        }
        ok_empty(call);
}

static void flush_metrics(struct api_call *call)
{
        char why[128], msg[256];
        int rc = metrics_flush();

        if (rc >= 0) {
                ok_empty(call);
                return;
        }
        os_error(-rc, why, sizeof(why));
        snprintf(msg, sizeof(msg), "Metrics error: Failed to write metrics: %s", why);
        fail_with(call, "Internal VMM error: ", msg);
}

static void put_actions(struct api_ctx *ctx, struct api_call *call)
{
        const char *a = json_string_value(json_object_get(call->body, "action_type"));

        metrics_inc(&metrics.put_api_requests.actions_count);
        if (strcmp(a, "InstanceStart") == 0) {
                if (is_started(ctx))
                        api_fault(&call->resp, 400, MSG_POST);
                else
                        instance_start(ctx, call);
        } else if (!is_started(ctx)) {
                api_fault(&call->resp, 400, MSG_PRE);
        } else if (strcmp(a, "SendCtrlAltDel") == 0) {
                send_ctrl_alt_del(ctx, call);
        } else {
                flush_metrics(call);
        }
}

/* ---- drives and other devices ------------------------------------------------------------------
 */

static void put_drive(struct api_ctx *ctx, struct api_call *call)
{
        char err[512] = "";

        metrics_inc(&metrics.put_api_requests.drive_count);
        if (is_started(ctx)) {
                api_fault(&call->resp, 400, "PCI is not enabled");
                return;
        }
        ctx->boot_path = true;
        finish(call, config_put_drive(ctx->cfg, call->body, call->id, err, sizeof(err)),
               "Drive config error: ", err);
}

static void patch_drive(struct api_ctx *ctx, struct api_call *call)
{
        struct drive_update u;
        struct err e = ERR_INIT;
        char err[512] = "";
        int rc;

        metrics_inc(&metrics.patch_api_requests.drive_count);
        rc = config_patch_drive(ctx->cfg, call->body, call->id, &u, err, sizeof(err));
        if (rc) {
                finish(call, rc, "Drive config error: ", err);
                return;
        }
        if (!ctx->hooks.update_drive) {
                rc = -ENOENT;
                snprintf(err, sizeof(err),
                         "Unable to patch the block device: " MSG_NOTFOUND
                         " Please verify the request arguments.");
        } else {
                rc = ctx->hooks.update_drive(ctx->vmm, &u, &e);
                snprintf(err, sizeof(err), "%s", e.msg);
        }
        if (!rc)
                rc = config_apply_drive_update(ctx->cfg, &u);
        config_drive_update_free(&u);
        finish(call, rc, "Drive config error: ", err);
}

static void patch_net(struct api_ctx *ctx, struct api_call *call)
{
        struct net_update u;
        struct err e = ERR_INIT;
        char err[512] = "";
        int rc;

        metrics_inc(&metrics.patch_api_requests.network_count);
        rc = config_patch_net(ctx->cfg, call->body, call->id, &u, err, sizeof(err));
        if (!rc && !ctx->hooks.update_net) {
                rc = -ENOENT;
                snprintf(err, sizeof(err), "Unable to update the net device: " MSG_NOTFOUND);
        } else if (!rc) {
                rc = ctx->hooks.update_net(ctx->vmm, &u, &e);
                snprintf(err, sizeof(err), "%s", e.msg);
        }
        finish(call, rc, "Network config error: ", err);
}

/* PUT of a resource stored for a later device: /network-interfaces, /vsock, /balloon, ... */
static void put_stored(struct api_ctx *ctx, struct api_call *call, enum cfg_body kind,
                       const char *prefix)
{
        char err[512] = "";

        if (kind == CFG_BODY_NET || kind == CFG_BODY_PMEM) {
                if (is_started(ctx)) {
                        api_fault(&call->resp, 400, "PCI is not enabled");
                        return;
                }
        }
        if (kind != CFG_BODY_SERIAL && kind != CFG_BODY_CPU_CONFIG)
                ctx->boot_path = true;
        finish(call, config_put_body(kind, ctx->cfg, call->body, call->id, err, sizeof(err)),
               prefix, err);
}

static void get_balloon(struct api_ctx *ctx, struct api_call *call)
{
        if (is_started(ctx))
                fail_with(call, "Internal VMM error: ", MSG_NOTFOUND);
        else if (!ctx->cfg->balloon.present)
                fail_with(call, "Balloon config error: ", "No balloon device found.");
        else
                ok_json(call, config_balloon_to_json(&ctx->cfg->balloon));
}

/* Post-boot routes of devices brasa cannot have attached (boot refuses them). */
static void no_device(struct api_call *call, const char *prefix)
{
        fail_with(call, prefix, MSG_NOTFOUND);
}

static void patch_pmem(struct api_ctx *ctx, struct api_call *call)
{
        char err[512] = "";

        metrics_inc(&metrics.patch_api_requests.pmem_count);
        finish(call, config_patch_pmem(ctx->cfg, call->body, call->id, err, sizeof(err)),
               "Pmem config error: ", err);
}

/* ---- logger, metrics, snapshots, vm state ------------------------------------------------------
 */

static void put_logger(struct api_call *call)
{
        struct logger_cfg l;
        char err[512] = "", why[128];
        int rc;

        metrics_inc(&metrics.put_api_requests.logger_count);
        rc = config_parse_logger(call->body, &l, err, sizeof(err));
        if (rc) {
                finish(call, rc, "Logger error: ", err);
                return;
        }
        rc = api_apply_logger(&l);
        config_logger_free(&l);
        if (rc) {
                os_error(-rc, why, sizeof(why));
                snprintf(err, sizeof(err), "Failed to open target file: %s", why);
                fail_with(call, "Logger error: ", err);
                return;
        }
        ok_empty(call);
}

static void put_metrics(struct api_call *call)
{
        const char *path = json_string_value(json_object_get(call->body, "metrics_path"));
        char why[128], err[256];
        int rc;

        metrics_inc(&metrics.put_api_requests.metrics_count);
        rc = metrics_init(path);
        if (rc == -EALREADY) {
                fail_with(call, "Metrics error: ",
                          "Cannot initialize the metrics system due to bad user input: "
                          "Reinitialization of metrics not allowed.");
        } else if (rc) {
                os_error(-rc, why, sizeof(why));
                snprintf(err, sizeof(err),
                         "Cannot initialize the metrics system due to bad user input: %s", why);
                fail_with(call, "Metrics error: ", err);
        } else {
                ok_empty(call);
        }
}

static void put_snapshot_load(struct api_ctx *ctx, struct api_call *call)
{
        if (ctx->boot_path) {
                log_info("Loading a microVM snapshot not allowed after configuring boot-specific "
                         "resources.");
                fail_with(call, "Load snapshot error: ",
                          "Loading a microVM snapshot not allowed after configuring "
                          "boot-specific resources.");
                return;
        }
        fail_with(call, "The requested operation is not supported: ",
                  "snapshot load is not supported yet by brasa");
}

static void patch_vm(struct api_call *call)
{
        const char *s = json_string_value(json_object_get(call->body, "state"));

        fail_with(call, "The requested operation is not supported: ",
                  strcmp(s, "Paused") == 0 ? "pausing the microVM is not supported yet by brasa"
                                           : "resuming the microVM is not supported yet by brasa");
}

/* ---- dispatch ---------------------------------------------------------------------------- */

static enum gate route_gate(enum api_route r)
{
        switch (r) {
        case R_PUT_BOOT:
        case R_PUT_MACHINE:
        case R_PATCH_MACHINE:
        case R_PUT_LOGGER:
        case R_PUT_METRICS:
        case R_PUT_SERIAL:
        case R_PUT_CPU:
        case R_PUT_BALLOON:
        case R_PUT_VSOCK:
        case R_PUT_MMDS_CONFIG:
        case R_PUT_ENTROPY:
        case R_PUT_HOTPLUG:
        case R_PUT_SNAP_LOAD:
                return PRE;
        case R_PATCH_DRIVE:
        case R_PATCH_NET:
        case R_PATCH_PMEM:
        case R_PATCH_BALLOON:
        case R_PATCH_BALLOON_STATS:
        case R_PATCH_HINT_START:
        case R_PATCH_HINT_STOP:
        case R_GET_BALLOON_STATS:
        case R_GET_HINTING_STATUS:
        case R_GET_HOTPLUG:
        case R_PATCH_HOTPLUG:
        case R_PUT_SNAP_CREATE:
        case R_PATCH_VM:
        case R_DELETE_DRIVE:
        case R_DELETE_PMEM:
        case R_DELETE_NET:
                return POST;
        default:
                return ANY;
        }
}

static void handle_devices(struct api_ctx *ctx, struct api_call *call)
{
        switch (call->route) {
        case R_PUT_NET:
                metrics_inc(&metrics.put_api_requests.network_count);
                put_stored(ctx, call, CFG_BODY_NET, "Network config error: ");
                break;
        case R_PUT_PMEM:
                metrics_inc(&metrics.put_api_requests.pmem_count);
                put_stored(ctx, call, CFG_BODY_PMEM, "Pmem config error: ");
                break;
        case R_PUT_VSOCK:
                metrics_inc(&metrics.put_api_requests.vsock_count);
                put_stored(ctx, call, CFG_BODY_VSOCK, "Vsock config error: ");
                break;
        case R_PUT_ENTROPY:
                put_stored(ctx, call, CFG_BODY_ENTROPY, "Entropy config error: ");
                break;
        case R_PUT_BALLOON:
                put_stored(ctx, call, CFG_BODY_BALLOON, "Balloon config error: ");
                break;
        case R_PUT_HOTPLUG:
                metrics_inc(&metrics.put_api_requests.hotplug_memory_count);
                put_stored(ctx, call, CFG_BODY_HOTPLUG, "Memory hotplug config error: ");
                break;
        case R_PUT_MMDS_CONFIG:
                put_stored(ctx, call, CFG_BODY_MMDS_CONFIG, "MMMDS config error: ");
                if (call->resp.status == 204)
                        ctx->mmds_exists = true;
                break;
        case R_PUT_SERIAL:
                metrics_inc(&metrics.put_api_requests.serial_count);
                put_stored(ctx, call, CFG_BODY_SERIAL, "");
                break;
        case R_PUT_CPU:
                metrics_inc(&metrics.put_api_requests.cpu_cfg_count);
                put_stored(ctx, call, CFG_BODY_CPU_CONFIG, "Configure CPU error: ");
                break;
        case R_GET_BALLOON:
                get_balloon(ctx, call);
                break;
        case R_PATCH_BALLOON:
        case R_PATCH_BALLOON_STATS:
        case R_PATCH_HINT_START:
        case R_PATCH_HINT_STOP:
        case R_GET_HINTING_STATUS:
                no_device(call, "Balloon update error: ");
                break;
        case R_GET_BALLOON_STATS:
        case R_GET_HOTPLUG:
                no_device(call, "Internal VMM error: ");
                break;
        case R_PATCH_HOTPLUG:
                no_device(call, "Memory hotplug update error: ");
                break;
        case R_DELETE_DRIVE:
        case R_DELETE_PMEM:
        case R_DELETE_NET:
                api_fault(&call->resp, 400, "PCI is not enabled");
                break;
        default:
                api_handle_other(ctx, call);
                break;
        }
}

void api_handle(struct api_ctx *ctx, struct api_call *call)
{
        enum gate g = route_gate(call->route);

        if (g == PRE && is_started(ctx)) {
                api_fault(&call->resp, 400, MSG_POST);
                return;
        }
        if (g == POST && !is_started(ctx)) {
                api_fault(&call->resp, 400, MSG_PRE);
                return;
        }
        switch (call->route) {
        case R_GET_INFO:
                get_info(ctx, call);
                break;
        case R_GET_VERSION:
                get_version(call);
                break;
        case R_GET_VM_CONFIG:
                get_vm_config(ctx, call);
                break;
        case R_GET_MACHINE:
                get_machine(ctx, call);
                break;
        case R_PUT_ACTIONS:
                put_actions(ctx, call);
                break;
        case R_PUT_BOOT:
                put_boot(ctx, call);
                break;
        case R_PUT_MACHINE:
                metrics_inc(&metrics.put_api_requests.machine_cfg_count);
                put_machine(ctx, call, false);
                break;
        case R_PATCH_MACHINE:
                metrics_inc(&metrics.patch_api_requests.machine_cfg_count);
                put_machine(ctx, call, true);
                break;
        case R_PUT_DRIVE:
                put_drive(ctx, call);
                break;
        case R_PATCH_DRIVE:
                patch_drive(ctx, call);
                break;
        case R_PATCH_NET:
                patch_net(ctx, call);
                break;
        case R_PATCH_PMEM:
                patch_pmem(ctx, call);
                break;
        case R_PUT_LOGGER:
                put_logger(call);
                break;
        case R_PUT_METRICS:
                put_metrics(call);
                break;
        case R_PUT_SNAP_LOAD:
                put_snapshot_load(ctx, call);
                break;
        case R_PUT_SNAP_CREATE:
                fail_with(call, "The requested operation is not supported: ",
                          "snapshot create is not supported yet by brasa");
                break;
        case R_PATCH_VM:
                patch_vm(call);
                break;
        default:
                handle_devices(ctx, call);
                break;
        }
}
