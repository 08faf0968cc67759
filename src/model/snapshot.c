/* The bodies that act rather than configure: snapshots (checked only), the VM state, actions. */
#include "model/resource.h"

#include <errno.h>
#include <stdlib.h>

static const char *const snap_types[] = {"Diff", "Full", NULL};
#define CB struct snapshot_create_body
static const struct mfield create_fields[] = {
    F_ENUM(CB, type, "snapshot_type", 0, snap_types, "enum SnapshotType", SNAPSHOT_FULL),
    F(CB, snapshot_path, "snapshot_path", mt_str, MF_REQUIRED),
    F(CB, mem_file_path, "mem_file_path", mt_str, MF_REQUIRED),
};
const struct model model_snapshot_create =
    MODEL("struct CreateSnapshotParams", create_fields, false);

static const char *const backend_types[] = {"File", "Uffd", NULL};
#define MB struct mem_backend_body
static const struct mfield backend_fields[] = {
    F(MB, backend_path, "backend_path", mt_str, MF_REQUIRED),
    F_ENUM(MB, type, "backend_type", MF_REQUIRED, backend_types, "enum MemBackendType", 0),
};
static const struct model backend_model = MODEL("struct MemBackendConfig", backend_fields, false);
static const struct mfield net_override_fields[] = {
    F_CHECK("iface_id", mt_str, MF_REQUIRED),
    F_CHECK("host_dev_name", mt_str, MF_REQUIRED),
};
static const struct model net_override_model =
    MODEL("struct NetworkOverride", net_override_fields, false);

/* network_overrides, each element checked by net_override_model, kept as id/name pairs. */
static int check_net_overrides(struct perr *pe, const json_t *v, const struct mfield *f)
{
        return mt_array.check(pe, v, f);
}

static int store_net_overrides(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        struct mstrings *s = dst;
        const json_t *o;
        size_t i;

        mt_strings.release(s, f);
        s->v = calloc(2 * json_array_size(v) + 1, sizeof(char *));
        if (!s->v)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        json_array_foreach(v, i, o)
        {
                if (cfg_dup(pe, json_string_value(json_object_get(o, "iface_id")), &s->v[s->n]))
                        return -ENOMEM; /* the caller releases s */
                s->n++;
                if (cfg_dup(pe, json_string_value(json_object_get(o, "host_dev_name")),
                            &s->v[s->n]))
                        return -ENOMEM;
                s->n++;
        }
        return 0;
}

static void release_net_overrides(void *dst, const struct mfield *f)
{
        mt_strings.release(dst, f);
}

static const struct mtype mt_net_overrides = {check_net_overrides, store_net_overrides, NULL,
                                              release_net_overrides};

#define VB struct vsock_override_body
static const struct mfield vsock_override_fields[] = {
    F(VB, uds_path, "uds_path", mt_str, MF_REQUIRED)};
static const struct model vsock_override_model =
    MODEL("struct VsockOverride", vsock_override_fields, false);

static const char *const snap_huge[] = {"Snapshot", "None", "Transparent", "2M", NULL};
#define LB struct snapshot_load_body
static const struct mfield load_fields[] = {
    F(LB, snapshot_path, "snapshot_path", mt_str, MF_REQUIRED),
    F(LB, mem_file_path, "mem_file_path", mt_str, MF_OPTION),
    F_SUB(LB, backend, "mem_backend", mt_object, MF_OPTION, &backend_model, has_backend),
    F_CHECK("enable_diff_snapshots", mt_bool, 0),
    F(LB, track_dirty_pages, "track_dirty_pages", mt_bool, 0),
    F(LB, resume_vm, "resume_vm", mt_bool, 0),
    {MFIELD(LB, net_overrides, "network_overrides", mt_net_overrides, MF_NESTED), .has = MF_NO_HAS,
     .arg = &net_override_model},
    F_SUB(LB, vsock_override, "vsock_override", mt_object, MF_OPTION, &vsock_override_model,
          has_vsock_override),
    F_CHECK("clock_realtime", mt_bool, 0),
    F_CHECK_ENUM("huge_pages", MF_OPTION, snap_huge, "enum HugePagesOverride"),
};
const struct model model_snapshot_load = MODEL("struct LoadSnapshotConfig", load_fields, false);

static const char *const vm_states[] = {"Paused", "Resumed", NULL};
static const struct mfield vm_fields[] = {
    F_ENUM(struct vm_state_body, state, "state", MF_REQUIRED, vm_states, "enum VmState", 0)};
const struct model model_vm_state = MODEL("struct Vm", vm_fields, false);

static const char *const actions[] = {"FlushMetrics", "InstanceStart", "SendCtrlAltDel", NULL};
static const struct mfield action_fields[] = {
    F_ENUM(struct action_body, type, "action_type", MF_REQUIRED, actions, "enum ActionType", 0)};
const struct model model_action = MODEL("struct ActionBody", action_fields, false);
