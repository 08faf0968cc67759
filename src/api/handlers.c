/* Stage 2 of a request (VMM thread): Firecracker's pre-/post-boot controllers over brasa's VMM. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "api/route.h"
#include "core/hostfile.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/util.h"
#include "seccomp/seccomp.h"
#include "vmm/vmm.h"

#define MSG_PRE      "The requested operation is not supported before starting the microVM."
#define MSG_POST     "The requested operation is not supported after starting the microVM."
#define MSG_NOTFOUND "Failed perform action on device: Device not found"

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
        char *text = v ? model_dumps(v) : NULL; /* every caller answers with model JSON */

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

/* Passes e's hint (what the user can do) to the log line of a failed request. */
static void keep_hint(struct api_call *call, const struct err *e)
{
        call->resp.hint = e->rc ? e->hint : NULL;
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

/* GET /'s "state": Firecracker's VmState names. */
static const char *vm_state_name(const struct api_ctx *ctx)
{
        if (!is_started(ctx))
                return "Not started";
        return ctx->vmm && vmm_paused(ctx->vmm) ? "Paused" : "Running";
}

void api_get_info(struct api_ctx *ctx, struct api_call *call)
{
        ok_json(call, json_pack("{s:s, s:s, s:s, s:s}", "id", ctx->instance_id, "state",
                                vm_state_name(ctx), "vmm_version", API_FC_VERSION, "app_name",
                                "Firecracker"));
}

void api_get_version(struct api_ctx *ctx, struct api_call *call)
{
        (void)ctx;
        ok_json(call, json_pack("{s:s}", "firecracker_version", API_FC_VERSION));
}

/* After boot the balloon is the device's (Vmm::full_config(): the driver may move its target). */
static json_t *vm_config_json(struct api_ctx *ctx)
{
        struct balloon_req rq = {.op = BALLOON_GET_CONFIG};
        json_t *cfg = config_to_json(ctx->cfg), *b = NULL;
        struct err e = ERR_INIT;

        if (cfg && is_started(ctx) && ctx->hooks.balloon &&
            ctx->hooks.balloon(ctx->vmm, &rq, &b, &e) == 0)
                json_object_set_new(cfg, "balloon", b);
        return cfg;
}

void api_get_vm_config(struct api_ctx *ctx, struct api_call *call)
{
        log_warn("If the VM was restored from snapshot, boot-source, machine-config.smt, and "
                 "machine-config.cpu_template will all be empty.");
        ok_json(call, vm_config_json(ctx));
}

void api_get_machine(struct api_ctx *ctx, struct api_call *call)
{
        ok_json(call, config_machine_to_json(&ctx->cfg->machine));
}

/* ---- boot source and machine config ------------------------------------------------------------
 */

/*
 * Opens a boot file as BootConfig::new() does, without blocking on a FIFO. Writes why it failed
 * (Firecracker's io::Error text, or brasa's for a refused kind of file) to why.
 */
static int boot_file_check(const char *path, char *why, size_t len)
{
        int fd = hostfile_open(path, O_RDONLY);

        if (fd >= 0) {
                close(fd);
                return 0;
        }
        if (fd == -EINVAL)
                snprintf(why, len, "%s " HOSTFILE_BAD_TYPE, path);
        else
                os_error(-fd, why, len);
        return -EINVAL;
}

/* BootConfig::new(): the kernel and initrd must open, the command line must fit. */
static int boot_validate(const struct boot_source_cfg *b, struct err *e)
{
        char why[PATH_MAX + 64];

        if (boot_file_check(b->kernel_image_path, why, sizeof(why)))
                return err_set(e, -EINVAL, "The kernel file cannot be opened: %s", why);
        if (b->initrd_path && boot_file_check(b->initrd_path, why, sizeof(why))) {
                return err_set(e, -EINVAL,
                               "The initrd file cannot be opened due to invalid path or "
                               "invalid permissions. %s",
                               why);
        }
        if (b->boot_args && strlen(b->boot_args) >= VMM_CMDLINE_MAX_SIZE) {
                return err_set(e, -EINVAL,
                               "The kernel command line is invalid: Command line string too "
                               "large");
        }
        return 0;
}

void api_put_boot(struct api_ctx *ctx, struct api_call *call)
{
        struct err e = ERR_INIT;
        int rc;

        rc = boot_validate(call->val.v, &e);
        if (!rc)
                rc = config_store(ctx->cfg, &call->val, &e);
        finish(call, rc, call->route->prefix, e.msg);
        keep_hint(call, &e);
}

/* The balloon target may not exceed the new memory size (update_machine_config()). */
static int machine_vs_balloon(const struct api_ctx *ctx, const struct machine_cfg *m, struct err *e)
{
        if (ctx->cfg->balloon.present && m->mem_size_mib < ctx->cfg->balloon.amount_mib) {
                return err_set(e, -EINVAL,
                               "Machine config error: The memory size (MiB) is smaller than the "
                               "previously set balloon device target size.");
        }
        return 0;
}

static void set_machine(struct api_ctx *ctx, struct api_call *call, bool patch)
{
        struct machine_cfg m = ctx->cfg->machine;
        struct err e = ERR_INIT;
        int rc;

        if (patch)
                config_machine_merge(&m, call->val.v);
        else
                m = *(const struct machine_cfg *)call->val.v;
        rc = config_machine_validate(&m, &e);
        if (rc) {
                finish(call, rc, call->route->prefix, e.msg);
                return;
        }
        if (machine_vs_balloon(ctx, &m, &e)) {
                fail_with(call, "", e.msg);
                return;
        }
        config_machine_commit(ctx->cfg, &m);
        if (ctx->vmm) /* slots and vCPUs for it, on the KVM set-up thread */
                vmm_prepare(ctx->vmm, ctx->cfg);
        ok_empty(call);
}

void api_put_machine(struct api_ctx *ctx, struct api_call *call)
{
        set_machine(ctx, call, false);
}

void api_patch_machine(struct api_ctx *ctx, struct api_call *call)
{
        set_machine(ctx, call, true);
}

/* ---- actions -------------------------------------------------------------------------------- */

static void instance_start(struct api_ctx *ctx, struct api_call *call)
{
        struct err e = ERR_INIT;
        int rc;

        if (!ctx->cfg->has_boot_source) {
                fail_with(call, "Start microvm error: ",
                          "Cannot start microvm without kernel configuration.");
                return;
        }
        rc = config_check_supported(ctx->cfg, &e);
        if (rc) {
                fail_with(call, "Start microvm error: ", e.msg);
                return;
        }
        if (!ctx->vmm) {
                fail_with(call, "Start microvm error: ", "no VMM in this process");
                return;
        }
        rc = api_mmds_attach(ctx);
        if (rc) {
                fail_with(call, "Start microvm error: ", strerror(-rc));
                return;
        }
        rc = vmm_boot(ctx->vmm, ctx->cfg, &e);
        if (rc) {
                fail_with(call, "Start microvm error: ", e.msg);
                keep_hint(call, &e);
                return;
        }
        ctx->started = true;
        /* Set-up is over: what only it needed now traps (docs/security.md). */
        rc = seccomp_narrow(SECCOMP_STAGE_API_RUN);
        if (rc) {
                log_error("Cannot narrow the seccomp filter of the VMM thread: %s", strerror(-rc));
                vmm_request_exit(ctx->vmm, VMM_EXIT_GENERIC);
        }
        /* Firecracker writes the first metrics line (with the start-up times) at boot. */
        metrics_flush_periodic();
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

void api_put_actions(struct api_ctx *ctx, struct api_call *call)
{
        const struct action_body *a = call->val.v;

        if (a->type == ACTION_INSTANCE_START) {
                if (is_started(ctx))
                        api_fault(&call->resp, 400, MSG_POST);
                else
                        instance_start(ctx, call);
        } else if (!is_started(ctx)) {
                api_fault(&call->resp, 400, MSG_PRE);
        } else if (a->type == ACTION_SEND_CTRL_ALT_DEL) {
                send_ctrl_alt_del(ctx, call);
        } else {
                flush_metrics(call);
        }
}

/* ---- drives and other devices ------------------------------------------------------------------
 */

void api_put_drive(struct api_ctx *ctx, struct api_call *call)
{
        struct err e = ERR_INIT;

        finish(call, config_store(ctx->cfg, &call->val, &e), call->route->prefix, e.msg);
}

void api_patch_drive(struct api_ctx *ctx, struct api_call *call)
{
        const struct drive_update *u = call->val.v;
        struct err e = ERR_INIT;
        int rc;

        rc = config_drive_patch_check(ctx->cfg, u, &e);
        if (rc) {
                finish(call, rc, call->route->prefix, e.msg);
                return;
        }
        if (!ctx->hooks.update_drive) {
                rc = -ENOENT;
                err_set(&e, -ENOENT,
                        "Unable to patch the block device: " MSG_NOTFOUND
                        " Please verify the request arguments.");
        } else {
                rc = ctx->hooks.update_drive(ctx->vmm, u, &e);
        }
        if (!rc)
                rc = config_apply_drive_update(ctx->cfg, u);
        finish(call, rc, call->route->prefix, e.msg);
}

void api_patch_net(struct api_ctx *ctx, struct api_call *call)
{
        const struct net_update *u = call->val.v;
        struct err e = ERR_INIT;
        int rc;

        rc = config_net_patch_check(ctx->cfg, u, &e);
        if (!rc && !ctx->hooks.update_net) {
                rc = -ENOENT;
                err_set(&e, -ENOENT, "Unable to update the net device: " MSG_NOTFOUND);
        } else if (!rc) {
                rc = ctx->hooks.update_net(ctx->vmm, u, &e);
        }
        finish(call, rc, call->route->prefix, e.msg);
}

/* PUT of a resource stored for a later device: /network-interfaces, /vsock, /balloon, ... */
void api_put_stored(struct api_ctx *ctx, struct api_call *call)
{
        struct err e = ERR_INIT;

        finish(call, config_store(ctx->cfg, &call->val, &e), call->route->prefix, e.msg);
        keep_hint(call, &e);
}

void api_put_mmds_config(struct api_ctx *ctx, struct api_call *call)
{
        api_put_stored(ctx, call);
        if (call->resp.status == 204)
                ctx->mmds_exists = true;
}

/* Runs a balloon action on the device: its JSON (GETs) or 204, else the row's prefix (GET
 * /balloon has none: Firecracker's InternalVmm). */
static void balloon_call(struct api_ctx *ctx, struct api_call *call, const struct balloon_req *rq)
{
        const char *prefix = call->route->prefix ? call->route->prefix : "Internal VMM error: ";
        struct err e = ERR_INIT;
        json_t *out = NULL;
        int rc = -ENOENT;

        if (ctx->hooks.balloon)
                rc = ctx->hooks.balloon(ctx->vmm, rq, &out, &e);
        if (rc == -ENOENT)
                fail_with(call, prefix, MSG_NOTFOUND);
        else if (rc)
                fail_with(call, prefix, e.msg);
        else if (out)
                ok_json(call, out);
        else
                ok_empty(call);
}

void api_get_balloon(struct api_ctx *ctx, struct api_call *call)
{
        struct balloon_req rq = {.op = BALLOON_GET_CONFIG};

        if (is_started(ctx))
                balloon_call(ctx, call, &rq);
        else if (!ctx->cfg->balloon.present)
                fail_with(call, "Balloon config error: ", "No balloon device found.");
        else
                ok_json(call, config_balloon_to_json(&ctx->cfg->balloon));
}

void api_get_balloon_stats(struct api_ctx *ctx, struct api_call *call)
{
        struct balloon_req rq = {.op = BALLOON_GET_STATS};

        balloon_call(ctx, call, &rq);
}

/* PATCH /balloon; GET /vm/config then shows the new target, as Firecracker's device config. */
void api_patch_balloon(struct api_ctx *ctx, struct api_call *call)
{
        const struct balloon_update *u = call->val.v;
        struct balloon_req rq = {.op = BALLOON_UPDATE, .amount_mib = u->amount_mib};

        balloon_call(ctx, call, &rq);
        if (call->resp.status == 204)
                ctx->cfg->balloon.amount_mib = u->amount_mib;
}

void api_patch_balloon_stats(struct api_ctx *ctx, struct api_call *call)
{
        const struct balloon_stats_update *u = call->val.v;
        struct balloon_req rq = {.op = BALLOON_UPDATE_STATS,
                                 .interval_s = u->stats_polling_interval_s};

        balloon_call(ctx, call, &rq);
        if (call->resp.status == 204)
                ctx->cfg->balloon.stats_polling_interval_s = u->stats_polling_interval_s;
}

/* The hinting routes; start without a body acknowledges on stop (serde's default). */
void api_balloon_hinting(struct api_ctx *ctx, struct api_call *call)
{
        const struct hinting_start *h = call->val.v;
        struct balloon_req rq = {.ack_on_stop = !h || !h->has_ack || h->acknowledge_on_stop};

        if (call->method == HTTP_GET)
                rq.op = BALLOON_HINT_STATUS;
        else if (call->route->kind == CFG_BODY_HINTING)
                rq.op = BALLOON_HINT_START;
        else
                rq.op = BALLOON_HINT_STOP;
        balloon_call(ctx, call, &rq);
}

/*
 * Firecracker's errors: FindDeviceError without a device; a refused PATCH is its
 * VmmError::VirtioMem ("Failed to create memory hotplug device: ...") under the row's prefix.
 */
void api_mem_hotplug(struct api_ctx *ctx, struct api_call *call)
{
        const struct hotplug_update *u = call->method == HTTP_PATCH ? call->val.v : NULL;
        struct err e = ERR_INIT;
        json_t *out = NULL;
        int rc = -ENOENT;

        if (ctx->hooks.mem_hotplug)
                rc = ctx->hooks.mem_hotplug(ctx->vmm, u ? &u->requested_size_mib : NULL, &out, &e);
        if (rc == -ENOENT)
                fail_with(call, call->route->prefix, MSG_NOTFOUND);
        else if (rc) {
                err_prefix(&e, "Failed to create memory hotplug device: ");
                fail_with(call, call->route->prefix, e.msg);
        } else if (out)
                ok_json(call, out);
        else
                ok_empty(call);
}

/* Firecracker's answer without --enable-pci; with it, Firecracker hot-plugs, brasa not yet. */
static const char *no_hotplug_text(const struct api_ctx *ctx)
{
        return ctx->vmm && ctx->vmm->opts.pci
                   ? "Hot-plugging devices after boot is not supported yet by brasa"
                   : "PCI is not enabled";
}

/* Hot-unplug: Firecracker needs PCI for it. */
void api_no_pci(struct api_ctx *ctx, struct api_call *call)
{
        api_fault(&call->resp, 400, no_hotplug_text(ctx));
}

/* As Firecracker: only the device's limiter changes; GET /vm/config keeps the PUT's. */
void api_patch_pmem(struct api_ctx *ctx, struct api_call *call)
{
        const struct pmem_update *u = call->val.v;
        struct err e = ERR_INIT;
        int rc;

        rc = config_pmem_patch_check(ctx->cfg, u, &e);
        if (!rc && u->has_rate_limiter && ctx->hooks.update_pmem)
                rc = ctx->hooks.update_pmem(ctx->vmm, u, &e);
        finish(call, rc, call->route->prefix, e.msg);
}

/* ---- logger, metrics, snapshots, vm state ------------------------------------------------------
 */

void api_put_logger(struct api_ctx *ctx, struct api_call *call)
{
        char err[512] = "", why[128];
        int rc;

        (void)ctx;
        rc = api_apply_logger(call->val.v);
        if (rc) {
                os_error(-rc, why, sizeof(why));
                snprintf(err, sizeof(err), "Failed to open target file: %s", why);
                fail_with(call, call->route->prefix, err);
                return;
        }
        ok_empty(call);
}

void api_put_metrics(struct api_ctx *ctx, struct api_call *call)
{
        const char *path = ((const struct metrics_cfg *)call->val.v)->metrics_path;
        char why[128], err[256];
        int rc;

        (void)ctx;
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

/*
 * Firecracker ends the process after any failed restore (its PrebootApiController records
 * a fatal error: the process is "too dirty to recover"), once the answer is sent.
 */
static void snapshot_load_fatal(struct api_ctx *ctx)
{
        ctx->restore_failed = true; /* main reports it as build_microvm_from_requests' Restore */
        if (ctx->vmm)
                vmm_request_exit(ctx->vmm, VMM_EXIT_GENERIC);
}

/* The memory file of a load, or the Uffd handler's socket: mem_backend's backend_path, or
 * the deprecated mem_file_path. */
static const char *snapshot_mem_path(const struct snapshot_load_body *b, struct err *e)
{
        (void)e;
        if (!b->has_backend)
                return b->mem_file_path;
        return b->backend.backend_path;
}

/* The load itself, past the gate: 0 or -errno with the whole fault message in e. */
static int snapshot_load(struct api_ctx *ctx, const struct snapshot_load_body *b, struct err *e)
{
        const char *mem_path;
        char why[128];
        int fd, rc;

        fd = open(b->snapshot_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                os_error(errno, why, sizeof(why));
                return err_set(e, -ENOENT,
                               "Failed to get snapshot state from file: Failed to open snapshot "
                               "file: %s",
                               why);
        }
        close(fd);
        if (b->unsupported)
                return err_set(e, -ENOTSUP, "%s is not supported yet by brasa", b->unsupported);
        mem_path = snapshot_mem_path(b, e);
        if (!mem_path)
                return e->rc;
        if (!ctx->vmm)
                return err_set(e, -ENODEV, "no VMM in this process");
        if (b->has_backend && b->backend.type == MEM_BACKEND_UFFD)
                rc = vmm_snapshot_load_uffd(ctx->vmm, ctx->cfg, b->snapshot_path, mem_path,
                                            b->resume_vm, e);
        else
                rc = vmm_snapshot_load(ctx->vmm, ctx->cfg, b->snapshot_path, mem_path, b->resume_vm,
                                       e);
        return rc;
}

void api_put_snapshot_load(struct api_ctx *ctx, struct api_call *call)
{
        const struct snapshot_load_body *b = call->val.v;
        struct err e = ERR_INIT;
        uint64_t t0 = now_us(), us;
        int rc;
        if (ctx->boot_path) {
                log_info("Loading a microVM snapshot not allowed after configuring boot-specific "
                         "resources.");
                fail_with(call, "Load snapshot error: ",
                          "Loading a microVM snapshot not allowed after configuring "
                          "boot-specific resources.");
                return;
        }
        /* network_overrides, vsock_override and track_dirty_pages, whatever the backend */
        if (ctx->vmm)
                ctx->vmm->load_overrides = b;
        rc = snapshot_load(ctx, b, &e);
        if (ctx->vmm)
                ctx->vmm->load_overrides = NULL;
        if (rc) {
                err_prefix(&e, "Failed to restore from snapshot: ");
                fail_with(call, "Load snapshot error: ", e.msg);
                snapshot_load_fatal(ctx);
                return;
        }
        ctx->started = true;
        /* As after InstanceStart: what only the set-up needed now traps. */
        if (seccomp_narrow(SECCOMP_STAGE_API_RUN)) {
                log_error("Cannot narrow the seccomp filter of the VMM thread");
                vmm_request_exit(ctx->vmm, VMM_EXIT_GENERIC);
        }
        us = now_us() - t0;
        metrics_store(&metrics.latencies_us.vmm_load_snapshot, us);
        log_debug("'load snapshot' VMM action took %llu us.", (unsigned long long)us);
        us = now_us() - call->start_us;
        metrics_store(&metrics.latencies_us.load_snapshot, us);
        log_info("'load snapshot' API request took %llu us.", (unsigned long long)us);
        ok_empty(call);
}

void api_put_snapshot_create(struct api_ctx *ctx, struct api_call *call)
{
        const struct snapshot_create_body *b = call->val.v;
        struct err e = ERR_INIT;
        uint64_t t0 = now_us(), us;
        bool full = b->type == SNAPSHOT_FULL;

        if (!ctx->vmm) {
                fail_with(call, "Create snapshot error: ", "no microVM");
                return;
        }
        if (vmm_snapshot_create(ctx->vmm, ctx->cfg, b, &e)) {
                fail_with(call, "Create snapshot error: ", e.msg);
                return;
        }
        us = now_us() - t0;
        metrics_store(full ? &metrics.latencies_us.vmm_full_create_snapshot
                           : &metrics.latencies_us.vmm_diff_create_snapshot,
                      us);
        log_info("'create %s snapshot' VMM action took %llu us.", full ? "full" : "diff",
                 (unsigned long long)us);
        us = now_us() - call->start_us;
        metrics_store(full ? &metrics.latencies_us.full_create_snapshot
                           : &metrics.latencies_us.diff_create_snapshot,
                      us);
        log_info("'create %s snapshot' API request took %llu us.", full ? "full" : "diff",
                 (unsigned long long)us);
        ok_empty(call);
}

/*
 * PATCH /vm: Firecracker's Pause and Resume actions. Either is a no-op in the state it asks
 * for. Both store how long the VMM took and how long the whole request took (latencies_us
 * vmm_pause_vm and pause_vm, likewise for resume) and log both, as Firecracker does.
 */
void api_patch_vm(struct api_ctx *ctx, struct api_call *call)
{
        bool pause = ((const struct vm_state_body *)call->val.v)->state == VM_STATE_PAUSED;
        const char *what = pause ? "pause vm" : "resume vm";
        uint64_t t0 = now_us(), vmm_us, api_us;
        char why[128];
        int rc;

        if (!ctx->vmm) {
                fail_with(call, "Internal VMM error: ", "no microVM");
                return;
        }
        rc = pause ? vmm_pause(ctx->vmm) : vmm_resume(ctx->vmm);
        if (rc) {
                os_error(-rc, why, sizeof(why));
                fail_with(call, "Internal VMM error: ", why);
                return;
        }
        vmm_us = now_us() - t0;
        metrics_store(pause ? &metrics.latencies_us.vmm_pause_vm
                            : &metrics.latencies_us.vmm_resume_vm,
                      vmm_us);
        log_info("'%s' VMM action took %llu us.", what, (unsigned long long)vmm_us);
        api_us = now_us() - call->start_us;
        metrics_store(pause ? &metrics.latencies_us.pause_vm : &metrics.latencies_us.resume_vm,
                      api_us);
        log_info("'%s' API request took %llu us.", what, (unsigned long long)api_us);
        ok_empty(call);
}

/* ---- dispatch ---------------------------------------------------------------------------- */

void api_handle(struct api_ctx *ctx, struct api_call *call)
{
        const struct route *r = call->route;

        if (r->gate == GATE_PRE && ctx->started) {
                api_fault(&call->resp, 400, MSG_POST);
                return;
        }
        if (r->gate == GATE_POST && !ctx->started) {
                api_fault(&call->resp, 400, MSG_PRE);
                return;
        }
        if (r->count)
                metrics_inc(r->count);
        if (r->gate == GATE_PCI && ctx->started) {
                api_fault(&call->resp, 400, no_hotplug_text(ctx));
                return;
        }
        if (r->boot_specific)
                ctx->boot_path = true;
        r->action(ctx, call);
}
