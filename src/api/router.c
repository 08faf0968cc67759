/* Stage 1 of a request (API thread): Firecracker's ParsedRequest::try_from(), state-free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"
#include "core/text.h"
#include "core/metrics.h"
#include "vmm/config_dev.h"

#define MSG_DESER  "An error occurred when deserializing the json body of a request: "
#define MAX_TOKENS 4

/* The path split as Firecracker does: leading '/' trimmed, split_terminator('/'). */
struct path_tokens {
        char buf[HTTP_MAX_LINE + 1];
        const char *tok[MAX_TOKENS];
        size_t n; /* tokens found (at most MAX_TOKENS are kept) */
};

static void split_path(const char *path, struct path_tokens *pt)
{
        char *p, *slash;

        memset(pt, 0, sizeof(*pt));
        while (*path == '/')
                path++;
        snprintf(pt->buf, sizeof(pt->buf), "%s", path);
        p = pt->buf;
        while (*p && pt->n < MAX_TOKENS) {
                pt->tok[pt->n++] = p;
                slash = strchr(p, '/');
                if (!slash)
                        break;
                *slash = '\0';
                p = slash + 1;
        }
}

static const char *token(const struct path_tokens *pt, size_t i)
{
        return i < pt->n ? pt->tok[i] : NULL;
}

static bool tok_is(const struct path_tokens *pt, size_t i, const char *s)
{
        return i < pt->n && strcmp(pt->tok[i], s) == 0;
}

/* ---- responses ---------------------------------------------------------------------------- */

void api_fault(struct api_response *resp, int code, const char *msg)
{
        json_t *o = json_pack("{s:s}", "fault_message", msg);

        free(resp->body);
        resp->status = code;
        resp->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
        resp->len = resp->body ? strlen(resp->body) : 0;
        json_decref(o);
}

/* A stage-1 error: logged as Firecracker's error_unrestricted!("{:?}", err). */
static void reject(struct api_call *call, const char *debug, const char *msg)
{
        log_error("%s", debug);
        call->route = R_NONE;
        api_fault(&call->resp, 400, msg);
}

static void reject_generic(struct api_call *call, const char *msg)
{
        char dbg[HTTP_MAX_LINE + 160];

        snprintf(dbg, sizeof(dbg), "Generic(BadRequest, \"%s\")", msg);
        reject(call, dbg, msg);
}

static void reject_deser(struct api_call *call, const char *err)
{
        char msg[768], dbg[800];

        snprintf(msg, sizeof(msg), MSG_DESER "%s.", err);
        snprintf(dbg, sizeof(dbg), "SerdeJson(Error(\"%s\"))", err);
        reject(call, dbg, msg);
}

/* Maps a config check's result to a stage-1 outcome; true when the call may go on. */
static bool body_ok(struct api_call *call, int rc, const char *err)
{
        if (rc == 0)
                return true;
        if (rc == -EBADMSG)
                reject_deser(call, err);
        else if (rc == -ENODATA)
                reject_generic(call, "Empty PATCH request.");
        else
                reject_generic(call, err); /* -EXDEV: the id mismatch text */
        return false;
}

/* ---- ids -------------------------------------------------------------------------------- */

/* checked_id(): non-empty, [A-Za-z0-9_] only. Copies it into call->id. */
static bool take_id(struct api_call *call, const char *id)
{
        const char *p;

        if (!id || !*id) {
                reject(call, "EmptyID", "The ID cannot be empty.");
                return false;
        }
        for (p = id; *p; p++) {
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '_')) {
                        reject(call, "InvalidID",
                               "API Resource IDs can only contain alphanumeric characters and "
                               "underscores.");
                        return false;
                }
        }
        if (strlen(id) > API_MAX_ID) {
                reject_generic(call, "The ID is too long.");
                return false;
        }
        snprintf(call->id, sizeof(call->id), "%s", id);
        return true;
}

/* ---- bodies ----------------------------------------------------------------------------- */

static bool load_body(const struct http_request *req, struct api_call *call)
{
        char err[JSON_ERROR_TEXT_LENGTH + 96];
        json_error_t jerr;

        call->body = json_loadb((const char *)req->body, req->content_length,
                                JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
        if (call->body)
                return true;
        config_json_error(&jerr, err, sizeof(err));
        reject_deser(call, err);
        return false;
}

/* The request being routed (API thread only): its body is parsed when a route needs it. */
static __thread const struct http_request *cur_req;

/* Parses the body once a route matched: path errors come before body errors, as in Firecracker. */
static bool ensure_body(struct api_call *call)
{
        return call->body || load_body(cur_req, call);
}

static bool check(struct api_call *call, enum cfg_body kind, const char *id)
{
        char err[512] = "";

        if (!ensure_body(call))
                return false;
        return body_ok(call, config_check_body(kind, call->body, id, err, sizeof(err)), err);
}

/* The member of a JSON object, NULL when absent or null. */
static const json_t *given(const json_t *obj, const char *name)
{
        const json_t *v = json_object_get(obj, name);

        return json_is_null(v) ? NULL : v;
}

static bool route_to(struct api_call *call, enum api_route r)
{
        call->route = r;
        return true;
}

/* ---- GET -------------------------------------------------------------------------------- */

static void route_get_balloon(const struct path_tokens *pt, struct api_call *call)
{
        char msg[HTTP_MAX_LINE + 64];
        const char *sub = token(pt, 1), *sub2 = token(pt, 2);

        if (!sub) {
                route_to(call, R_GET_BALLOON);
        } else if (strcmp(sub, "statistics") == 0) {
                route_to(call, R_GET_BALLOON_STATS);
        } else if (strcmp(sub, "hinting") == 0) {
                if (sub2 && strcmp(sub2, "status") == 0) {
                        route_to(call, R_GET_HINTING_STATUS);
                        return;
                }
                snprintf(msg, sizeof(msg), "Unrecognized GET request path `/hinting/%s`.",
                         sub2 ? sub2 : "");
                reject_generic(call, msg);
        } else {
                snprintf(msg, sizeof(msg), "Unrecognized GET request path `%s`.", sub);
                reject_generic(call, msg);
        }
}

static void invalid_path(struct api_call *call, const char *path0)
{
        char msg[HTTP_MAX_LINE + 64], dbg[HTTP_MAX_LINE + 64];

        snprintf(msg, sizeof(msg), "Invalid request method and/or path: %s %s.",
                 http_method_name(call->method), path0);
        snprintf(dbg, sizeof(dbg), "InvalidPathMethod(\"%s\", %s)", path0,
                 http_method_debug(call->method));
        reject(call, dbg, msg);
}

static void route_get(const struct http_request *req, const struct path_tokens *pt,
                      struct api_call *call)
{
        const char *p0 = pt->n ? pt->tok[0] : "";

        if (req->has_body) {
                /* (Get, "", None) and friends need no body; any GET with one fails. */
                reject_generic(call, "GET request cannot have a body.");
                return;
        }
        if (!*p0)
                route_to(call, R_GET_INFO);
        else if (strcmp(p0, "balloon") == 0)
                route_get_balloon(pt, call);
        else if (strcmp(p0, "version") == 0)
                route_to(call, R_GET_VERSION);
        else if (strcmp(p0, "vm") == 0 && tok_is(pt, 1, "config"))
                route_to(call, R_GET_VM_CONFIG);
        else if (strcmp(p0, "machine-config") == 0)
                route_to(call, R_GET_MACHINE);
        else if (strcmp(p0, "mmds") == 0)
                route_to(call, R_GET_MMDS);
        else if (strcmp(p0, "hotplug") == 0 && tok_is(pt, 1, "memory"))
                route_to(call, R_GET_HOTPLUG);
        else
                invalid_path(call, p0);
}

/* ---- PUT -------------------------------------------------------------------------------- */

static void route_put_boot(struct api_call *call)
{
        struct boot_source_cfg b;
        char err[512] = "";
        int rc;

        if (!ensure_body(call))
                return;
        memset(&b, 0, sizeof(b));
        rc = config_parse_boot_source(call->body, &b, err, sizeof(err));
        config_boot_source_free(&b);
        if (body_ok(call, rc == -EBADMSG ? rc : 0, err))
                route_to(call, R_PUT_BOOT);
}

static void route_put_machine(struct api_call *call)
{
        struct machine_cfg m;
        char err[512] = "";
        int rc;

        if (!ensure_body(call))
                return;
        rc = config_parse_machine_config(call->body, &m, err, sizeof(err));
        if (!body_ok(call, rc == -EBADMSG ? rc : 0, err))
                return;
        if (json_is_object(call->body) && json_object_get(call->body, "cpu_template")) {
                metrics_inc(&metrics.deprecated_api.deprecated_http_api_calls);
                call->deprecation = "PUT /machine-config: cpu_template field is deprecated.";
        }
        route_to(call, R_PUT_MACHINE);
}

static void route_put_drive(const struct path_tokens *pt, struct api_call *call)
{
        char err[512] = "";

        if (!take_id(call, token(pt, 1)) || !ensure_body(call))
                return;
        if (body_ok(call, config_check_drive_body(call->body, call->id, false, err, sizeof(err)),
                    err))
                route_to(call, R_PUT_DRIVE);
}

static void route_put_id(const struct path_tokens *pt, struct api_call *call, enum cfg_body kind,
                         enum api_route r)
{
        if (take_id(call, token(pt, 1)) && check(call, kind, call->id))
                route_to(call, r);
}

static void route_put_mmds(const struct path_tokens *pt, struct api_call *call)
{
        char msg[HTTP_MAX_LINE + 64];
        const char *sub = token(pt, 1);
        const json_t *v;

        if (!sub) {
                if (ensure_body(call))
                        route_to(call, R_PUT_MMDS);
                return;
        }
        if (strcmp(sub, "config") != 0) {
                snprintf(msg, sizeof(msg), "Unrecognized PUT request path `%s`.", sub);
                reject_generic(call, msg);
                return;
        }
        if (!check(call, CFG_BODY_MMDS_CONFIG, NULL))
                return;
        v = json_object_get(call->body, "version");
        if (!v || strcmp(json_string_value(v), "V1") == 0) {
                metrics_inc(&metrics.deprecated_api.deprecated_http_api_calls);
                call->deprecation = "PUT /mmds/config: V1 is deprecated. Use V2 instead.";
        }
        route_to(call, R_PUT_MMDS_CONFIG);
}

static void route_put_snapshot(const struct path_tokens *pt, struct api_call *call)
{
        const char *sub = token(pt, 1);
        char p[HTTP_MAX_LINE + 16];
        const json_t *b;

        if (!sub) {
                reject_generic(call, "Missing snapshot operation type.");
        } else if (strcmp(sub, "create") == 0) {
                if (check(call, CFG_BODY_SNAPSHOT_CREATE, NULL))
                        route_to(call, R_PUT_SNAP_CREATE);
        } else if (strcmp(sub, "load") == 0) {
                if (!check(call, CFG_BODY_SNAPSHOT_LOAD, NULL))
                        return;
                b = call->body;
                if (given(b, "mem_backend") && given(b, "mem_file_path")) {
                        reject_deser(call, "too many fields: either `mem_backend` or "
                                           "`mem_file_path` exclusively is required");
                        return;
                }
                if (!given(b, "mem_backend") && !given(b, "mem_file_path")) {
                        reject_deser(call, "missing field: either `mem_backend` or "
                                           "`mem_file_path` is required");
                        return;
                }
                if (given(b, "mem_file_path") ||
                    json_is_true(json_object_get(b, "enable_diff_snapshots"))) {
                        metrics_inc(&metrics.deprecated_api.deprecated_http_api_calls);
                        call->deprecation = "PUT /snapshot/load: mem_file_path and "
                                            "enable_diff_snapshots fields are deprecated.";
                }
                route_to(call, R_PUT_SNAP_LOAD);
        } else {
                snprintf(p, sizeof(p), "/snapshot/%s", sub);
                invalid_path(call, p);
        }
}

static void route_put_body(const struct path_tokens *pt, const char *p0, struct api_call *call)
{
        if (strcmp(p0, "actions") == 0) {
                if (check(call, CFG_BODY_ACTION, NULL))
                        route_to(call, R_PUT_ACTIONS);
        } else if (strcmp(p0, "balloon") == 0) {
                if (check(call, CFG_BODY_BALLOON, NULL))
                        route_to(call, R_PUT_BALLOON);
        } else if (strcmp(p0, "boot-source") == 0) {
                route_put_boot(call);
        } else if (strcmp(p0, "cpu-config") == 0) {
                if (check(call, CFG_BODY_CPU_CONFIG, NULL))
                        route_to(call, R_PUT_CPU);
        } else if (strcmp(p0, "drives") == 0) {
                route_put_drive(pt, call);
        } else if (strcmp(p0, "pmem") == 0) {
                route_put_id(pt, call, CFG_BODY_PMEM, R_PUT_PMEM);
        } else if (strcmp(p0, "logger") == 0) {
                if (check(call, CFG_BODY_LOGGER, NULL))
                        route_to(call, R_PUT_LOGGER);
        } else if (strcmp(p0, "serial") == 0) {
                if (check(call, CFG_BODY_SERIAL, NULL))
                        route_to(call, R_PUT_SERIAL);
        } else if (strcmp(p0, "machine-config") == 0) {
                route_put_machine(call);
        } else if (strcmp(p0, "metrics") == 0) {
                if (check(call, CFG_BODY_METRICS, NULL))
                        route_to(call, R_PUT_METRICS);
        } else if (strcmp(p0, "mmds") == 0) {
                route_put_mmds(pt, call);
        } else if (strcmp(p0, "network-interfaces") == 0) {
                route_put_id(pt, call, CFG_BODY_NET, R_PUT_NET);
        } else if (strcmp(p0, "snapshot") == 0) {
                route_put_snapshot(pt, call);
        } else if (strcmp(p0, "vsock") == 0) {
                if (!check(call, CFG_BODY_VSOCK, NULL))
                        return;
                if (given(call->body, "vsock_id")) {
                        metrics_inc(&metrics.deprecated_api.deprecated_http_api_calls);
                        call->deprecation = "PUT /vsock: vsock_id field is deprecated.";
                }
                route_to(call, R_PUT_VSOCK);
        } else if (strcmp(p0, "entropy") == 0) {
                if (check(call, CFG_BODY_ENTROPY, NULL))
                        route_to(call, R_PUT_ENTROPY);
        } else if (strcmp(p0, "hotplug") == 0 && tok_is(pt, 1, "memory")) {
                if (check(call, CFG_BODY_HOTPLUG, NULL))
                        route_to(call, R_PUT_HOTPLUG);
        } else {
                invalid_path(call, p0);
        }
}

/* ---- PATCH ------------------------------------------------------------------------------ */

static void route_patch_balloon(const struct http_request *req, const struct path_tokens *pt,
                                struct api_call *call)
{
        char msg[HTTP_MAX_LINE + 64];
        const char *sub = token(pt, 1), *sub2;

        if (tok_is(pt, 1, "statistics") && req->has_body) {
                if (check(call, CFG_BODY_BALLOON_STATS, NULL))
                        route_to(call, R_PATCH_BALLOON_STATS);
        } else if (sub && strcmp(sub, "hinting") == 0) {
                sub2 = token(pt, 2);
                if (sub2 && strcmp(sub2, "start") == 0) {
                        if (!req->has_body || check(call, CFG_BODY_HINTING, NULL))
                                route_to(call, R_PATCH_HINT_START);
                } else if (sub2 && strcmp(sub2, "stop") == 0) {
                        route_to(call, R_PATCH_HINT_STOP);
                } else {
                        snprintf(msg, sizeof(msg), "Unrecognized PATCH request path `/hinting/%s`.",
                                 sub2 ? sub2 : "");
                        reject_generic(call, msg);
                }
        } else if (req->has_body) {
                if (check(call, CFG_BODY_BALLOON_PATCH, NULL))
                        route_to(call, R_PATCH_BALLOON);
        } else {
                reject_generic(call, "Empty PATCH request.");
        }
}

static void route_patch_machine(struct api_call *call)
{
        struct machine_cfg m;
        char err[512] = "";
        int rc;

        if (!ensure_body(call))
                return;
        config_machine_defaults(&m);
        rc = config_patch_machine_config(call->body, &m, err, sizeof(err));
        if (!body_ok(call, rc == -EBADMSG || rc == -ENODATA ? rc : 0, err))
                return;
        if (given(call->body, "cpu_template")) {
                metrics_inc(&metrics.deprecated_api.deprecated_http_api_calls);
                call->deprecation = "PATCH /machine-config: cpu_template field is deprecated.";
        }
        route_to(call, R_PATCH_MACHINE);
}

static void route_patch_body(const struct path_tokens *pt, const char *p0, struct api_call *call)
{
        char err[512] = "";

        if (strcmp(p0, "drives") == 0) {
                if (take_id(call, token(pt, 1)) && ensure_body(call) &&
                    body_ok(call,
                            config_check_drive_body(call->body, call->id, true, err, sizeof(err)),
                            err))
                        route_to(call, R_PATCH_DRIVE);
        } else if (strcmp(p0, "machine-config") == 0) {
                route_patch_machine(call);
        } else if (strcmp(p0, "mmds") == 0) {
                if (ensure_body(call))
                        route_to(call, R_PATCH_MMDS);
        } else if (strcmp(p0, "network-interfaces") == 0) {
                route_put_id(pt, call, CFG_BODY_NET_PATCH, R_PATCH_NET);
        } else if (strcmp(p0, "pmem") == 0) {
                route_put_id(pt, call, CFG_BODY_PMEM_PATCH, R_PATCH_PMEM);
        } else if (strcmp(p0, "vm") == 0) {
                if (check(call, CFG_BODY_VM_STATE, NULL))
                        route_to(call, R_PATCH_VM);
        } else if (strcmp(p0, "hotplug") == 0 && tok_is(pt, 1, "memory")) {
                if (check(call, CFG_BODY_HOTPLUG_PATCH, NULL))
                        route_to(call, R_PATCH_HOTPLUG);
        } else {
                invalid_path(call, p0);
        }
}

/* ---- DELETE ----------------------------------------------------------------------------- */

static void route_delete(const struct http_request *req, const struct path_tokens *pt,
                         struct api_call *call)
{
        const char *p0 = pt->n ? pt->tok[0] : "";
        enum api_route r;

        if (strcmp(p0, "drives") == 0)
                r = R_DELETE_DRIVE;
        else if (strcmp(p0, "pmem") == 0)
                r = R_DELETE_PMEM;
        else if (strcmp(p0, "network-interfaces") == 0)
                r = R_DELETE_NET;
        else
                r = R_NONE;
        if (req->has_body && r != R_NONE) {
                invalid_path(call, p0); /* (Delete, "drives", None) only matches without body */
        } else if (req->has_body) {
                reject_generic(call, "Empty Delete request.");
        } else if (r == R_NONE) {
                invalid_path(call, p0);
        } else if (take_id(call, token(pt, 1))) {
                route_to(call, r);
        }
}

/* ---- logging and entry point ---------------------------------------------------------------- */

/* Rust's {:?} of a str: quoted and escaped, cut to fit out. */
static void debug_str(const void *s, size_t n, char *out, size_t outlen)
{
        size_t o = 1;

        out[0] = '"';
        o += text_debug_escape(s, n, n, out + 1, outlen - 2);
        snprintf(out + o, outlen - o, "\"");
}

static void log_request(const struct http_request *req)
{
        char path[HTTP_MAX_LINE * 2 + 8], body[1024];
        const char *m = http_method_debug(req->method);

        debug_str((const uint8_t *)req->path, strlen(req->path), path, sizeof(path));
        if (!req->has_body || strcmp(req->path, "/mmds") == 0) {
                log_info("The API server received a %s request on %s.", m, path);
        } else if (strcmp(req->path, "/cpu-config") == 0 && !log_enabled(LOG_DEBUG)) {
                log_info("The API server received a %s request on %s. To view the CPU template "
                         "received by the API, configure log-level to DEBUG",
                         m, path);
        } else {
                debug_str(req->body, req->content_length, body, sizeof(body));
                log_info("The API server received a %s request on %s with body %s.", m, path, body);
        }
}

void api_route(const struct http_request *req, struct api_call *call)
{
        struct path_tokens pt;
        const char *p0;

        memset(call, 0, sizeof(*call));
        call->method = req->method;
        log_request(req);
        split_path(req->path, &pt);
        p0 = pt.n ? pt.tok[0] : "";
        if (req->method == HTTP_GET) {
                route_get(req, &pt, call);
                return;
        }
        if (req->method == HTTP_DELETE) {
                route_delete(req, &pt, call);
                return;
        }
        cur_req = req;
        if (req->method == HTTP_PATCH && strcmp(p0, "balloon") == 0) {
                route_patch_balloon(req, &pt, call);
                return;
        }
        if (!req->has_body) {
                reject_generic(call, req->method == HTTP_PUT ? "Empty PUT request."
                                                             : "Empty PATCH request.");
                return;
        }
        if (req->method == HTTP_PUT)
                route_put_body(&pt, p0, call);
        else
                route_patch_body(&pt, p0, call);
}

/* The *_fails counter Firecracker bumps for a failed request on this method and resource. */
static struct metric_counter *fails_counter(enum http_method m, const char *p0)
{
        static const struct {
                const char *path;
                struct metric_counter *put, *patch;
        } table[] = {
            {"actions", &metrics.put_api_requests.actions_fails, NULL},
            {"boot-source", &metrics.put_api_requests.boot_source_fails, NULL},
            {"drives", &metrics.put_api_requests.drive_fails,
             &metrics.patch_api_requests.drive_fails},
            {"logger", &metrics.put_api_requests.logger_fails, NULL},
            {"machine-config", &metrics.put_api_requests.machine_cfg_fails,
             &metrics.patch_api_requests.machine_cfg_fails},
            {"cpu-config", &metrics.put_api_requests.cpu_cfg_fails, NULL},
            {"metrics", &metrics.put_api_requests.metrics_fails, NULL},
            {"network-interfaces", &metrics.put_api_requests.network_fails,
             &metrics.patch_api_requests.network_fails},
            {"mmds", &metrics.put_api_requests.mmds_fails, &metrics.patch_api_requests.mmds_fails},
            {"vsock", &metrics.put_api_requests.vsock_fails, NULL},
            {"pmem", &metrics.put_api_requests.pmem_fails, &metrics.patch_api_requests.pmem_fails},
            {"serial", &metrics.put_api_requests.serial_fails, NULL},
            {"hotplug", &metrics.put_api_requests.hotplug_memory_fails,
             &metrics.patch_api_requests.hotplug_memory_fails},
        };
        size_t i;

        for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
                if (strcmp(table[i].path, p0) == 0)
                        return m == HTTP_PUT     ? table[i].put
                               : m == HTTP_PATCH ? table[i].patch
                                                 : NULL;
        return NULL;
}

void api_count_failure(const struct http_request *req)
{
        struct path_tokens pt;
        struct metric_counter *c;

        split_path(req->path, &pt);
        c = fails_counter(req->method, pt.n ? pt.tok[0] : "");
        if (c)
                metrics_inc(c);
}

void api_call_fini(struct api_call *call)
{
        json_decref(call->body);
        call->body = NULL;
        free(call->resp.body);
        call->resp.body = NULL;
}
