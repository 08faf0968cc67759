/* Stage 1 of a request (API thread): Firecracker's ParsedRequest::try_from(), state-free. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/route.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/text.h"
#include "core/util.h"
#include "model/config.h"

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
        call->route = NULL;
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

static void invalid_path(struct api_call *call, const char *path0)
{
        char msg[HTTP_MAX_LINE + 64], dbg[HTTP_MAX_LINE + 64];

        snprintf(msg, sizeof(msg), "Invalid request method and/or path: %s %s.",
                 http_method_name(call->method), path0);
        snprintf(dbg, sizeof(dbg), "InvalidPathMethod(\"%s\", %s)", path0,
                 http_method_debug(call->method));
        reject(call, dbg, msg);
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

/* Parses the body: a model body as model_loadb() does (integers up to u64::MAX); other
 * bodies (the MMDS data store, kept as JSON) within jansson's int64. */
static bool load_body(const struct http_request *req, struct api_call *call, bool model)
{
        const size_t flags = JSON_REJECT_DUPLICATES | JSON_DECODE_ANY;
        struct err e = ERR_INIT;
        json_error_t jerr;

        if (model)
                call->body =
                    model_loadb((const char *)req->body, req->content_length, flags, &jerr);
        else
                call->body = json_loadb((const char *)req->body, req->content_length, flags, &jerr);
        if (call->body)
                return true;
        config_json_error(&jerr, &e);
        reject_deser(call, e.msg);
        return false;
}

/* The member of a JSON object, NULL when absent or null. */
static const json_t *given(const json_t *obj, const char *name)
{
        const json_t *v = json_object_get(obj, name);

        return json_is_null(v) ? NULL : v;
}

/* Firecracker bumps deprecated_http_api_calls and warns after answering. */
static void deprecate(struct api_call *call, const char *warning)
{
        metrics_inc(&metrics.deprecated_api.deprecated_http_api_calls);
        call->deprecation = warning;
}

int api_decode_machine(struct api_call *call, struct err *e)
{
        (void)e;
        if (json_object_get(call->body, "cpu_template"))
                deprecate(call, "PUT /machine-config: cpu_template field is deprecated.");
        return 0;
}

int api_decode_machine_patch(struct api_call *call, struct err *e)
{
        (void)e;
        if (given(call->body, "cpu_template"))
                deprecate(call, "PATCH /machine-config: cpu_template field is deprecated.");
        return 0;
}

int api_decode_mmds_config(struct api_call *call, struct err *e)
{
        const json_t *v;

        (void)e;
        v = json_object_get(call->body, "version");
        if (!v || strcmp(json_string_value(v), "V1") == 0)
                deprecate(call, "PUT /mmds/config: V1 is deprecated. Use V2 instead.");
        return 0;
}

/* Notes the first load option brasa cannot honour yet; the load then fails naming it. */
static void load_unsupported(const json_t *b, struct snapshot_load_body *lb)
{
        const json_t *v = given(b, "huge_pages");

        if (json_is_true(json_object_get(b, "clock_realtime")))
                lb->unsupported = "clock_realtime";
        else if (v && strcmp(json_string_value(v), "None") &&
                 strcmp(json_string_value(v), "Snapshot"))
                lb->unsupported = "huge_pages other than None";
}

int api_decode_snapshot_load(struct api_call *call, struct err *e)
{
        const json_t *b = call->body;

        if (given(b, "mem_backend") && given(b, "mem_file_path"))
                return err_set(e, -EBADMSG,
                               "too many fields: either `mem_backend` or "
                               "`mem_file_path` exclusively is required");
        if (!given(b, "mem_backend") && !given(b, "mem_file_path"))
                return err_set(e, -EBADMSG,
                               "missing field: either `mem_backend` or "
                               "`mem_file_path` is required");
        if (given(b, "mem_file_path") || json_is_true(json_object_get(b, "enable_diff_snapshots")))
                deprecate(call, "PUT /snapshot/load: mem_file_path and enable_diff_snapshots "
                                "fields are deprecated.");
        /* As Firecracker: the deprecated name asks for the same tracking. */
        if (json_is_true(json_object_get(b, "enable_diff_snapshots")))
                ((struct snapshot_load_body *)call->val.v)->track_dirty_pages = true;
        load_unsupported(b, call->val.v);
        return 0;
}

int api_decode_vsock(struct api_call *call, struct err *e)
{
        (void)e;
        if (given(call->body, "vsock_id"))
                deprecate(call, "PUT /vsock: vsock_id field is deprecated.");
        return 0;
}

/* ---- matching ----------------------------------------------------------------------------- */

static bool tok_match(const char *pat, const char *tok)
{
        if (pat == route_any || pat == route_id)
                return true;
        if (pat == route_none)
                return !tok;
        return tok && strcmp(pat, tok) == 0;
}

static bool body_match(enum route_body rule, bool has_body)
{
        return rule == BODY_OPT || rule == BODY_IGNORE || (rule == BODY_YES) == has_body;
}

/*
 * The first row matching the request, or NULL. Sets call->fails from the first row of the
 * same method and first token, matched or not; *known tells whether there was one.
 */
static const struct route *match(const struct http_request *req, const struct path_tokens *pt,
                                 struct api_call *call, bool *known)
{
        const char *p0 = pt->n ? pt->tok[0] : "";
        const struct route *r;

        *known = false;
        for (r = api_routes; r->p0; r++) {
                if (r->method != req->method || strcmp(r->p0, p0) != 0)
                        continue;
                if (!*known)
                        call->fails = r->fails;
                *known = true;
                if (tok_match(r->p1, token(pt, 1)) && tok_match(r->p2, token(pt, 2)) &&
                    body_match(r->body, req->has_body))
                        return r;
        }
        return NULL;
}

/* No row matched: Firecracker's catch-all answers, in its order. */
static void no_route(const struct http_request *req, const struct path_tokens *pt, bool known,
                     struct api_call *call)
{
        if (!req->has_body && req->method == HTTP_PUT)
                reject_generic(call, "Empty PUT request.");
        else if (!req->has_body && req->method == HTTP_PATCH)
                reject_generic(call, "Empty PATCH request.");
        else if (req->has_body && req->method == HTTP_DELETE && !known)
                reject_generic(call, "Empty Delete request.");
        else
                invalid_path(call, pt->n ? pt->tok[0] : "");
}

/* A row that names a path Firecracker refuses: its text with the unmatched token in it. */
static void refuse(const struct route *r, const struct path_tokens *pt, struct api_call *call)
{
        const char *tok = token(pt, r->p1 == route_any ? 1 : 2), *at = strstr(r->refuse, "%s");
        char text[HTTP_MAX_LINE + 96];

        if (!tok)
                tok = "";
        if (at)
                snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - r->refuse), r->refuse, tok,
                         at + 2);
        else
                snprintf(text, sizeof(text), "%s", r->refuse);
        if (text[0] == '/')
                invalid_path(call, text);
        else
                reject_generic(call, text);
}

/*
 * Decodes the body of a matched row once, into the typed value that crosses the mailbox,
 * then runs the row's extra checks; the JSON is dropped, so the VMM thread never sees it
 * (rows without a model, the MMDS data store, keep it as data). False when refused.
 */
static bool decode(const struct http_request *req, const struct route *r, struct api_call *call)
{
        struct err e = ERR_INIT;
        struct json_src src;
        int rc = 0;

        if (r->body == BODY_IGNORE || !req->has_body)
                return true;
        if (!load_body(req, call, r->kind >= 0))
                return false;
        src = (struct json_src){(const char *)req->body, req->content_length, call->body};
        if (r->kind >= 0)
                rc = config_decode((enum cfg_body)r->kind, call->body, &src,
                                   r->p1 == route_id ? call->id : NULL, &call->val, &e);
        if (!rc && r->decode)
                rc = r->decode(call, &e);
        if (r->kind >= 0) {
                json_decref(call->body);
                call->body = NULL;
        }
        return body_ok(call, rc, e.msg);
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
        const struct route *r;
        struct path_tokens pt;
        bool known;

        memset(call, 0, sizeof(*call));
        call->start_us = now_us();
        call->method = req->method;
        log_request(req);
        split_path(req->path, &pt);
        if (req->method == HTTP_GET && req->has_body) {
                /* (Get, "", None) and friends need no body; any GET with one fails. */
                reject_generic(call, "GET request cannot have a body.");
                return;
        }
        r = match(req, &pt, call, &known);
        if (!r) {
                no_route(req, &pt, known, call);
                return;
        }
        if (r->refuse) {
                refuse(r, &pt, call);
                return;
        }
        if (r->p1 == route_id && !take_id(call, token(&pt, 1)))
                return;
        if (decode(req, r, call))
                call->route = r;
}

void api_count_failure(const struct api_call *call)
{
        if (call->fails)
                metrics_inc(call->fails);
}

void api_call_fini(struct api_call *call)
{
        json_decref(call->body);
        call->body = NULL;
        config_value_free(&call->val);
        free(call->resp.body);
        call->resp.body = NULL;
}
