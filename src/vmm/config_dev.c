/* Firecracker's schemas for network, vsock, entropy, balloon, pmem, hotplug, MMDS, serial,
 * logger, metrics, cpu-config, snapshot and action bodies: deserialize, validate, store, show. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vmm/config.h"
#include "vmm/config_dev.h"
#include "vmm/config_priv.h"

#define MSG_NOT_FOUND "Failed perform action on device: Device not found"

/* ---- nested schemas ----------------------------------------------------------------------- */

/* A struct: its fields, and for FK_OBJECT/FK_ARRAY fields the schema of their contents. */
struct schema {
        const char *type_name;
        const struct field *fields;
        size_t n;
        bool lax; /* no deny_unknown_fields */
        const struct sub *subs;
        size_t nsubs;
};

struct sub {
        const char *field;
        const struct schema *schema; /* NULL with strings: array of strings */
        bool array;
};

static int check_schema(struct perr *pe, const json_t *v, const struct schema *s, bool patch);

static int check_string_array(struct perr *pe, const json_t *a, const char *field)
{
        const json_t *e;
        size_t i;

        json_array_foreach(a, i, e)
        {
                if (!json_is_string(e))
                        return cfg_type_error(pe, e, "a string", field);
        }
        return 0;
}

static int check_sub(struct perr *pe, const json_t *v, const struct sub *sub)
{
        const json_t *e;
        size_t i;
        int rc;

        if (!v || json_is_null(v))
                return 0;
        if (!sub->array)
                return check_schema(pe, v, sub->schema, false);
        if (!sub->schema)
                return check_string_array(pe, v, sub->field);
        json_array_foreach(v, i, e)
        {
                rc = check_schema(pe, e, sub->schema, false);
                if (rc)
                        return rc;
        }
        return 0;
}

static int check_schema(struct perr *pe, const json_t *v, const struct schema *s, bool patch)
{
        size_t i;
        int rc;

        rc = cfg_check_object(pe, v, s->fields, s->n, s->type_name, patch, s->lax);
        for (i = 0; !rc && i < s->nsubs; i++)
                rc = check_sub(pe, json_object_get(v, s->subs[i].field), &s->subs[i]);
        return rc;
}

#define SCHEMA(tname, f, lax_, subs_)                                                              \
        {                                                                                          \
                tname, f, sizeof(f) / sizeof(f[0]), lax_, subs_, sizeof(subs_) / sizeof(subs_[0])  \
        }
#define SCHEMA0(tname, f, lax_)                                                                    \
        {                                                                                          \
                tname, f, sizeof(f) / sizeof(f[0]), lax_, NULL, 0                                  \
        }

static const struct field f_bucket[] = {
    {"size", FK_U64, true, false, NULL, NULL},
    {"one_time_burst", FK_U64, false, true, NULL, NULL},
    {"refill_time", FK_U64, true, false, NULL, NULL},
};
static const struct schema s_bucket = SCHEMA0("struct TokenBucketConfig", f_bucket, true);

static const struct field f_limiter[] = {
    {"bandwidth", FK_OBJECT, false, true, NULL, "struct TokenBucketConfig"},
    {"ops", FK_OBJECT, false, true, NULL, "struct TokenBucketConfig"},
};
static const struct sub sub_limiter[] = {{"bandwidth", &s_bucket, false},
                                         {"ops", &s_bucket, false}};
static const struct schema s_limiter =
    SCHEMA("struct RateLimiterConfig", f_limiter, false, sub_limiter);

#define RL(name)                                                                                   \
        {                                                                                          \
                name, FK_OBJECT, false, true, NULL, "struct RateLimiterConfig"                     \
        }

/* NetworkInterfaceConfig / NetworkInterfaceUpdateConfig. */
static const struct field f_net[] = {
    {"iface_id", FK_STR, true, false, NULL, NULL},
    {"host_dev_name", FK_STR, true, false, NULL, NULL},
    {"guest_mac", FK_STR, false, true, NULL, NULL},
    {"mtu", FK_U16, false, true, NULL, NULL},
    RL("rx_rate_limiter"),
    RL("tx_rate_limiter"),
};
static const struct sub sub_net[] = {{"rx_rate_limiter", &s_limiter, false},
                                     {"tx_rate_limiter", &s_limiter, false}};
static const struct schema s_net = SCHEMA("struct NetworkInterfaceConfig", f_net, false, sub_net);
static const struct field f_net_patch[] = {
    {"iface_id", FK_STR, true, false, NULL, NULL},
    RL("rx_rate_limiter"),
    RL("tx_rate_limiter"),
};
static const struct schema s_net_patch =
    SCHEMA("struct NetworkInterfaceUpdateConfig", f_net_patch, false, sub_net);

static const struct field f_vsock[] = {
    {"vsock_id", FK_STR, false, true, NULL, NULL},
    {"guest_cid", FK_U32, true, false, NULL, NULL},
    {"uds_path", FK_STR, true, false, NULL, NULL},
};
static const struct schema s_vsock = SCHEMA0("struct VsockDeviceConfig", f_vsock, false);

static const struct field f_entropy[] = {RL("rate_limiter")};
static const struct sub sub_rl[] = {{"rate_limiter", &s_limiter, false}};
static const struct schema s_entropy =
    SCHEMA("struct EntropyDeviceConfig", f_entropy, false, sub_rl);

static const struct field f_balloon[] = {
    {"amount_mib", FK_U32, true, false, NULL, NULL},
    {"deflate_on_oom", FK_BOOL, true, false, NULL, NULL},
    {"stats_polling_interval_s", FK_U16, false, false, NULL, NULL},
    {"free_page_hinting", FK_BOOL, false, false, NULL, NULL},
    {"free_page_reporting", FK_BOOL, false, false, NULL, NULL},
};
static const struct schema s_balloon = SCHEMA0("struct BalloonDeviceConfig", f_balloon, false);
static const struct field f_balloon_patch[] = {{"amount_mib", FK_U32, true, false, NULL, NULL}};
static const struct schema s_balloon_patch =
    SCHEMA0("struct BalloonUpdateConfig", f_balloon_patch, false);
static const struct field f_balloon_stats[] = {
    {"stats_polling_interval_s", FK_U16, true, false, NULL, NULL}};
static const struct schema s_balloon_stats =
    SCHEMA0("struct BalloonUpdateStatsConfig", f_balloon_stats, false);
static const struct field f_hinting[] = {
    {"acknowledge_on_stop", FK_BOOL, false, false, NULL, NULL}};
static const struct schema s_hinting = SCHEMA0("struct StartHintingCmd", f_hinting, false);

static const struct field f_pmem[] = {
    {"id", FK_STR, true, false, NULL, NULL},
    {"path_on_host", FK_STR, true, false, NULL, NULL},
    {"root_device", FK_BOOL, false, false, NULL, NULL},
    {"read_only", FK_BOOL, false, false, NULL, NULL},
    RL("rate_limiter"),
};
static const struct schema s_pmem = SCHEMA("struct PmemConfig", f_pmem, false, sub_rl);
static const struct field f_pmem_patch[] = {{"id", FK_STR, true, false, NULL, NULL},
                                            RL("rate_limiter")};
static const struct schema s_pmem_patch =
    SCHEMA("struct PmemDeviceUpdateConfig", f_pmem_patch, false, sub_rl);

static const struct field f_hotplug[] = {
    {"total_size_mib", FK_USIZE, true, false, NULL, NULL},
    {"block_size_mib", FK_USIZE, false, false, NULL, NULL},
    {"slot_size_mib", FK_USIZE, false, false, NULL, NULL},
};
static const struct schema s_hotplug = SCHEMA0("struct MemoryHotplugConfig", f_hotplug, false);
static const struct field f_hotplug_patch[] = {
    {"requested_size_mib", FK_USIZE, true, false, NULL, NULL}};
static const struct schema s_hotplug_patch =
    SCHEMA0("struct MemoryHotplugSizeUpdate", f_hotplug_patch, false);

static const char *const mmds_versions[] = {"V1", "V2", NULL};
static const struct field f_mmds[] = {
    {"version", FK_ENUM, false, false, mmds_versions, "enum MmdsVersion"},
    {"network_interfaces", FK_ARRAY, true, false, NULL, NULL},
    {"ipv4_address", FK_STR, false, true, NULL, NULL},
    {"imds_compat", FK_BOOL, false, false, NULL, NULL},
};
static const struct sub sub_mmds[] = {{"network_interfaces", NULL, true}};
static const struct schema s_mmds = SCHEMA("struct MmdsConfig", f_mmds, false, sub_mmds);

static const struct field f_serial[] = {
    {"serial_out_path", FK_STR, false, true, NULL, NULL},
    {"rate_limiter", FK_OBJECT, false, true, NULL, "struct TokenBucketConfig"},
};
static const struct sub sub_serial[] = {{"rate_limiter", &s_bucket, false}};
static const struct schema s_serial = SCHEMA("struct SerialConfig", f_serial, false, sub_serial);

static const struct field f_logger[] = {
    {"log_path", FK_STR, false, true, NULL, NULL},
    {"level", FK_STR, false, true, NULL, NULL},
    {"show_level", FK_BOOL, false, true, NULL, NULL},
    {"show_log_origin", FK_BOOL, false, true, NULL, NULL},
    {"module", FK_STR, false, true, NULL, NULL},
};
static const struct schema s_logger = SCHEMA0("struct LoggerConfig", f_logger, false);

/* MetricsConfig has no deny_unknown_fields in Firecracker 1.16. */
static const struct field f_metrics[] = {{"metrics_path", FK_STR, true, false, NULL, NULL}};
static const struct schema s_metrics = SCHEMA0("struct MetricsConfig", f_metrics, true);

static const char *const snap_types[] = {"Diff", "Full", NULL};
static const struct field f_snap_create[] = {
    {"snapshot_type", FK_ENUM, false, false, snap_types, "enum SnapshotType"},
    {"snapshot_path", FK_STR, true, false, NULL, NULL},
    {"mem_file_path", FK_STR, true, false, NULL, NULL},
};
static const struct schema s_snap_create =
    SCHEMA0("struct CreateSnapshotParams", f_snap_create, false);

static const char *const backend_types[] = {"File", "Uffd", NULL};
static const struct field f_backend[] = {
    {"backend_path", FK_STR, true, false, NULL, NULL},
    {"backend_type", FK_ENUM, true, false, backend_types, "enum MemBackendType"},
};
static const struct schema s_backend = SCHEMA0("struct MemBackendConfig", f_backend, false);
static const struct field f_net_override[] = {
    {"iface_id", FK_STR, true, false, NULL, NULL},
    {"host_dev_name", FK_STR, true, false, NULL, NULL},
};
static const struct schema s_net_override =
    SCHEMA0("struct NetworkOverride", f_net_override, false);
static const struct field f_vsock_override[] = {{"uds_path", FK_STR, true, false, NULL, NULL}};
static const struct schema s_vsock_override =
    SCHEMA0("struct VsockOverride", f_vsock_override, false);
static const char *const snap_huge[] = {"Snapshot", "None", "Transparent", "2M", NULL};
static const struct field f_snap_load[] = {
    {"snapshot_path", FK_STR, true, false, NULL, NULL},
    {"mem_file_path", FK_STR, false, true, NULL, NULL},
    {"mem_backend", FK_OBJECT, false, true, NULL, "struct MemBackendConfig"},
    {"enable_diff_snapshots", FK_BOOL, false, false, NULL, NULL},
    {"track_dirty_pages", FK_BOOL, false, false, NULL, NULL},
    {"resume_vm", FK_BOOL, false, false, NULL, NULL},
    {"network_overrides", FK_ARRAY, false, false, NULL, NULL},
    {"vsock_override", FK_OBJECT, false, true, NULL, "struct VsockOverride"},
    {"clock_realtime", FK_BOOL, false, false, NULL, NULL},
    {"huge_pages", FK_ENUM, false, true, snap_huge, "enum HugePagesOverride"},
};
static const struct sub sub_snap_load[] = {
    {"mem_backend", &s_backend, false},
    {"network_overrides", &s_net_override, true},
    {"vsock_override", &s_vsock_override, false},
};
static const struct schema s_snap_load =
    SCHEMA("struct LoadSnapshotConfig", f_snap_load, false, sub_snap_load);

static const char *const vm_states[] = {"Paused", "Resumed", NULL};
static const struct field f_vm[] = {{"state", FK_ENUM, true, false, vm_states, "enum VmState"}};
static const struct schema s_vm = SCHEMA0("struct Vm", f_vm, false);

static const char *const actions[] = {"FlushMetrics", "InstanceStart", "SendCtrlAltDel", NULL};
static const struct field f_action[] = {
    {"action_type", FK_ENUM, true, false, actions, "enum ActionType"}};
static const struct schema s_action = SCHEMA0("struct ActionBody", f_action, false);

/* CustomCpuTemplate (x86_64); element fields are checked, their string formats are not. */
static const struct field f_reg_mod[] = {
    {"register", FK_STR, true, false, NULL, NULL},
    {"bitmap", FK_STR, true, false, NULL, NULL},
};
static const struct schema s_reg_mod = SCHEMA0("struct CpuidRegisterModifier", f_reg_mod, true);
static const struct field f_leaf_mod[] = {
    {"leaf", FK_STR, true, false, NULL, NULL},
    {"subleaf", FK_STR, true, false, NULL, NULL},
    {"flags", FK_U32, true, false, NULL, NULL},
    {"modifiers", FK_ARRAY, true, false, NULL, NULL},
};
static const struct sub sub_leaf_mod[] = {{"modifiers", &s_reg_mod, true}};
static const struct schema s_leaf_mod =
    SCHEMA("struct CpuidLeafModifier", f_leaf_mod, true, sub_leaf_mod);
static const struct field f_msr_mod[] = {
    {"addr", FK_STR, true, false, NULL, NULL},
    {"bitmap", FK_STR, true, false, NULL, NULL},
};
static const struct schema s_msr_mod = SCHEMA0("struct RegisterModifier", f_msr_mod, true);
static const struct field f_cpu[] = {
    {"kvm_capabilities", FK_ARRAY, false, false, NULL, NULL},
    {"cpuid_modifiers", FK_ARRAY, false, false, NULL, NULL},
    {"msr_modifiers", FK_ARRAY, false, false, NULL, NULL},
};
static const struct sub sub_cpu[] = {{"kvm_capabilities", NULL, true},
                                     {"cpuid_modifiers", &s_leaf_mod, true},
                                     {"msr_modifiers", &s_msr_mod, true}};
static const struct schema s_cpu = SCHEMA("struct CustomCpuTemplate", f_cpu, false, sub_cpu);

static const struct schema *const body_schemas[] = {
    [CFG_BODY_NET] = &s_net,
    [CFG_BODY_NET_PATCH] = &s_net_patch,
    [CFG_BODY_VSOCK] = &s_vsock,
    [CFG_BODY_ENTROPY] = &s_entropy,
    [CFG_BODY_BALLOON] = &s_balloon,
    [CFG_BODY_BALLOON_PATCH] = &s_balloon_patch,
    [CFG_BODY_BALLOON_STATS] = &s_balloon_stats,
    [CFG_BODY_HINTING] = &s_hinting,
    [CFG_BODY_PMEM] = &s_pmem,
    [CFG_BODY_PMEM_PATCH] = &s_pmem_patch,
    [CFG_BODY_HOTPLUG] = &s_hotplug,
    [CFG_BODY_HOTPLUG_PATCH] = &s_hotplug_patch,
    [CFG_BODY_MMDS_CONFIG] = &s_mmds,
    [CFG_BODY_SERIAL] = &s_serial,
    [CFG_BODY_LOGGER] = &s_logger,
    [CFG_BODY_METRICS] = &s_metrics,
    [CFG_BODY_SNAPSHOT_CREATE] = &s_snap_create,
    [CFG_BODY_SNAPSHOT_LOAD] = &s_snap_load,
    [CFG_BODY_VM_STATE] = &s_vm,
    [CFG_BODY_ACTION] = &s_action,
    [CFG_BODY_CPU_CONFIG] = &s_cpu,
};

int cfg_check_body(struct perr *pe, enum cfg_body kind, const json_t *body)
{
        return check_schema(pe, body, body_schemas[kind], false);
}

/* ---- small helpers ---------------------------------------------------------------------- */

static const char *str_of(const json_t *obj, const char *name)
{
        const json_t *v = cfg_given(obj, name);

        return v ? json_string_value(v) : NULL;
}

static uint64_t uint_of(const json_t *obj, const char *name, uint64_t dflt)
{
        const json_t *v = cfg_given(obj, name);

        return v ? (uint64_t)json_integer_value(v) : dflt;
}

static bool bool_of(const json_t *obj, const char *name)
{
        return json_is_true(cfg_given(obj, name));
}

/* strdup that reports ENOMEM through pe; NULL in gives NULL out with rc 0. */
static int dup_str(struct perr *pe, const char *s, char **out)
{
        *out = NULL;
        if (!s)
                return 0;
        *out = strdup(s);
        return *out ? 0 : cfg_fail(pe, -ENOMEM, "out of memory");
}

static int path_id_mismatch(struct perr *pe, const char *path_id, const char *body_id,
                            bool net_style)
{
        if (!path_id || strcmp(path_id, body_id) == 0)
                return 0;
        if (net_style)
                return cfg_fail(pe, -EXDEV,
                                "The id from the path [%s] does not match the id from the body "
                                "[%s]!",
                                path_id, body_id);
        return cfg_fail(pe, -EXDEV, "The id from the path does not match the id from the body!");
}

/* ---- network interfaces ----------------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t mac[6])
{
        unsigned int i;

        if (strlen(s) != 17)
                return -EINVAL;
        for (i = 0; i < 6; i++) {
                const char *p = s + i * 3;
                char hex[3] = {p[0], p[1], 0};

                if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
                    (i < 5 && p[2] != ':'))
                        return -EINVAL;
                mac[i] = (uint8_t)strtoul(hex, NULL, 16);
        }
        return 0;
}

static void fmt_mac(const uint8_t mac[6], char *out)
{
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
}

static void config_net_free(struct net_cfg *n)
{
        free(n->iface_id);
        free(n->host_dev_name);
        memset(n, 0, sizeof(*n));
}

static int net_index(const struct vm_config *cfg, const char *id)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_nets; i++)
                if (strcmp(cfg->nets[i].iface_id, id) == 0)
                        return (int)i;
        return -1;
}

/* Deserializes a NetworkInterface (types already checked) into *n. */
static int net_deserialize(struct perr *pe, const json_t *body, struct net_cfg *n)
{
        const char *mac = str_of(body, "guest_mac");
        int rc;

        memset(n, 0, sizeof(*n));
        if (mac) {
                if (parse_mac(mac, n->guest_mac))
                        return cfg_fail(pe, -EBADMSG, "The provided MAC address is invalid.");
                n->has_mac = true;
        }
        n->has_mtu = cfg_given(body, "mtu") != NULL;
        n->mtu = (uint16_t)uint_of(body, "mtu", 0);
        rc = cfg_parse_rate_limiter(pe, json_object_get(body, "rx_rate_limiter"),
                                    &n->rx_rate_limiter);
        if (!rc)
                rc = cfg_parse_rate_limiter(pe, json_object_get(body, "tx_rate_limiter"),
                                            &n->tx_rate_limiter);
        if (!rc)
                rc = dup_str(pe, str_of(body, "iface_id"), &n->iface_id);
        if (!rc)
                rc = dup_str(pe, str_of(body, "host_dev_name"), &n->host_dev_name);
        if (rc)
                config_net_free(n);
        return rc;
}

/* NetBuilder::build(): MAC conflicts, replace by id (swap_remove + push), TAP name, MTU. */
static int net_insert(struct perr *pe, struct vm_config *cfg, struct net_cfg *n)
{
        char mac[18];
        unsigned int i;
        int pos;

        for (i = 0; n->has_mac && i < cfg->nr_nets; i++) {
                if (cfg->nets[i].has_mac && memcmp(cfg->nets[i].guest_mac, n->guest_mac, 6) == 0 &&
                    strcmp(cfg->nets[i].iface_id, n->iface_id) != 0) {
                        fmt_mac(n->guest_mac, mac);
                        return cfg_fail(pe, -EINVAL, "The MAC address is already in use: %s", mac);
                }
        }
        if (strlen(n->host_dev_name) >= 16)
                return cfg_fail(pe, -EINVAL,
                                "Could not create the network device: Open tap device failed: "
                                "Invalid interface name");
        if (n->has_mtu && n->mtu < 68)
                return cfg_fail(pe, -EINVAL,
                                "Could not create the network device: MTU %u is out of range [68, "
                                "65535]",
                                n->mtu);
        pos = net_index(cfg, n->iface_id);
        if (pos < 0 && cfg->nr_nets >= CONFIG_MAX_NETS)
                return cfg_fail(pe, -ENOSPC, "brasa supports at most %d network interfaces",
                                CONFIG_MAX_NETS);
        if (pos >= 0) {
                config_net_free(&cfg->nets[pos]);
                cfg->nets[pos] = cfg->nets[--cfg->nr_nets];
        }
        cfg->nets[cfg->nr_nets++] = *n;
        memset(n, 0, sizeof(*n));
        return 0;
}

static int cfg_net_apply(struct perr *pe, struct vm_config *cfg, const json_t *body,
                         const char *path_id)
{
        struct net_cfg n;
        int rc;

        rc = net_deserialize(pe, body, &n);
        if (rc)
                return rc;
        rc = path_id_mismatch(pe, path_id, n.iface_id, true);
        if (!rc)
                rc = net_insert(pe, cfg, &n);
        config_net_free(&n);
        return rc;
}

static int cfg_net_patch(struct perr *pe, const struct vm_config *cfg, const json_t *body,
                         const char *path_id, struct net_update *out)
{
        const char *id = str_of(body, "iface_id");
        int rc;

        memset(out, 0, sizeof(*out));
        rc = path_id_mismatch(pe, path_id, id, true);
        if (!rc)
                rc = cfg_parse_rate_limiter_update(pe, json_object_get(body, "rx_rate_limiter"),
                                                   &out->rx);
        if (!rc)
                rc = cfg_parse_rate_limiter_update(pe, json_object_get(body, "tx_rate_limiter"),
                                                   &out->tx);
        if (!rc && net_index(cfg, id) < 0)
                rc = cfg_fail(pe, -ENOENT, "Unable to update the net device: " MSG_NOT_FOUND);
        if (!rc)
                snprintf(out->iface_id, sizeof(out->iface_id), "%s", id);
        return rc;
}

static json_t *net_to_json(const struct net_cfg *n)
{
        char mac[18];
        json_t *o;

        fmt_mac(n->guest_mac, mac);
        o = json_pack("{s:s, s:s, s:o, s:o, s:o}", "iface_id", n->iface_id, "host_dev_name",
                      n->host_dev_name, "guest_mac", n->has_mac ? json_string(mac) : json_null(),
                      "rx_rate_limiter", cfg_rate_limiter_to_json(&n->rx_rate_limiter),
                      "tx_rate_limiter", cfg_rate_limiter_to_json(&n->tx_rate_limiter));
        if (o && n->has_mtu && json_object_set_new(o, "mtu", json_integer(n->mtu))) {
                json_decref(o);
                return NULL;
        }
        return o;
}

static json_t *cfg_nets_to_json(const struct vm_config *cfg)
{
        json_t *a = json_array();
        unsigned int i;

        for (i = 0; a && i < cfg->nr_nets; i++) {
                if (json_array_append_new(a, net_to_json(&cfg->nets[i]))) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* ---- vsock, entropy, balloon ------------------------------------------------------------- */

static int cfg_vsock_apply(struct perr *pe, struct vm_config *cfg, const json_t *body)
{
        char *path;
        int rc;

        rc = dup_str(pe, str_of(body, "uds_path"), &path);
        if (rc)
                return rc;
        free(cfg->vsock.uds_path);
        cfg->vsock.present = true;
        cfg->vsock.uds_path = path;
        cfg->vsock.guest_cid = (uint32_t)uint_of(body, "guest_cid", 0);
        return 0;
}

static json_t *cfg_vsock_to_json(const struct vm_config *cfg)
{
        if (!cfg->vsock.present)
                return json_null();
        return json_pack("{s:I, s:s}", "guest_cid", (json_int_t)cfg->vsock.guest_cid, "uds_path",
                         cfg->vsock.uds_path);
}

static int cfg_entropy_apply(struct perr *pe, struct vm_config *cfg, const json_t *body)
{
        struct rate_limiter_cfg rl;
        int rc;

        rc = cfg_parse_rate_limiter(pe, json_object_get(body, "rate_limiter"), &rl);
        if (rc)
                return rc;
        cfg->entropy.present = true;
        cfg->entropy.rate_limiter = rl;
        return 0;
}

static json_t *cfg_entropy_to_json(const struct vm_config *cfg)
{
        if (!cfg->entropy.present)
                return json_null();
        return json_pack("{s:o}", "rate_limiter",
                         cfg_rate_limiter_to_json(&cfg->entropy.rate_limiter));
}

static int cfg_balloon_apply(struct perr *pe, struct vm_config *cfg, const json_t *body)
{
        struct balloon_cfg b = {
            .present = true,
            .amount_mib = (uint32_t)uint_of(body, "amount_mib", 0),
            .deflate_on_oom = bool_of(body, "deflate_on_oom"),
            .stats_polling_interval_s = (uint16_t)uint_of(body, "stats_polling_interval_s", 0),
            .free_page_hinting = bool_of(body, "free_page_hinting"),
            .free_page_reporting = bool_of(body, "free_page_reporting"),
        };

        if (b.amount_mib > cfg->machine.mem_size_mib)
                return cfg_fail(pe, -EINVAL, "Amount of pages requested is too large.");
        cfg->balloon = b;
        return 0;
}

static json_t *cfg_balloon_to_json(const struct balloon_cfg *b)
{
        if (!b->present)
                return json_null();
        return json_pack("{s:I, s:b, s:I, s:b, s:b}", "amount_mib", (json_int_t)b->amount_mib,
                         "deflate_on_oom", b->deflate_on_oom, "stats_polling_interval_s",
                         (json_int_t)b->stats_polling_interval_s, "free_page_hinting",
                         b->free_page_hinting, "free_page_reporting", b->free_page_reporting);
}

static json_t *balloon_section_json(const struct vm_config *cfg)
{
        return cfg_balloon_to_json(&cfg->balloon);
}

/* ---- pmem ------------------------------------------------------------------------------- */

static void config_pmem_free(struct pmem_cfg *p)
{
        free(p->id);
        free(p->path_on_host);
        memset(p, 0, sizeof(*p));
}

static bool pmem_has_root(const struct vm_config *cfg)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_pmems; i++)
                if (cfg->pmems[i].root_device)
                        return true;
        return false;
}

static int pmem_index(const struct vm_config *cfg, const char *id)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_pmems; i++)
                if (strcmp(cfg->pmems[i].id, id) == 0)
                        return (int)i;
        return -1;
}

static int cfg_pmem_apply(struct perr *pe, struct vm_config *cfg, const json_t *body,
                          const char *path_id)
{
        struct pmem_cfg p = {.root_device = bool_of(body, "root_device"),
                             .read_only = bool_of(body, "read_only")};
        bool block_root = cfg->nr_drives && cfg->drives[0].is_root_device;
        int pos, rc;

        rc = path_id_mismatch(pe, path_id, str_of(body, "id"), false);
        if (!rc)
                rc = cfg_parse_rate_limiter(pe, json_object_get(body, "rate_limiter"),
                                            &p.rate_limiter);
        if (rc)
                return rc;
        if (p.root_device && block_root)
                return cfg_fail(pe, -EINVAL,
                                "Attempt to add pmem as a root device while the root device "
                                "defined as a block device");
        pos = pmem_index(cfg, str_of(body, "id"));
        if (p.root_device && pmem_has_root(cfg) && (pos < 0 || !cfg->pmems[pos].root_device))
                return cfg_fail(pe, -EINVAL, "A root pmem device already exist");
        if (pos < 0 && cfg->nr_pmems >= CONFIG_MAX_PMEMS)
                return cfg_fail(pe, -ENOSPC, "brasa supports at most %d pmem devices",
                                CONFIG_MAX_PMEMS);
        rc = dup_str(pe, str_of(body, "id"), &p.id);
        if (!rc)
                rc = dup_str(pe, str_of(body, "path_on_host"), &p.path_on_host);
        if (rc) {
                config_pmem_free(&p);
                return rc;
        }
        if (pos >= 0)
                config_pmem_free(&cfg->pmems[pos]);
        else
                pos = (int)cfg->nr_pmems++;
        cfg->pmems[pos] = p;
        return 0;
}

static int cfg_pmem_patch(struct perr *pe, const struct vm_config *cfg, const json_t *body,
                          const char *path_id)
{
        struct rate_limiter_update u;
        int rc;

        rc = path_id_mismatch(pe, path_id, str_of(body, "id"), false);
        if (!rc)
                rc = cfg_parse_rate_limiter_update(pe, json_object_get(body, "rate_limiter"), &u);
        if (!rc && cfg_given(body, "rate_limiter") && pmem_index(cfg, str_of(body, "id")) < 0)
                rc = cfg_fail(pe, -ENOENT,
                              "Unable to patch the pmem device: " MSG_NOT_FOUND
                              " Please verify the request arguments.");
        return rc;
}

static json_t *pmems_to_json(const struct vm_config *cfg)
{
        json_t *a = json_array();
        const struct pmem_cfg *p;
        unsigned int i;

        for (i = 0; a && i < cfg->nr_pmems; i++) {
                p = &cfg->pmems[i];
                if (json_array_append_new(
                        a, json_pack("{s:s, s:s, s:b, s:b, s:o}", "id", p->id, "path_on_host",
                                     p->path_on_host, "root_device", p->root_device, "read_only",
                                     p->read_only, "rate_limiter",
                                     cfg_rate_limiter_to_json(&p->rate_limiter)))) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

/* ---- memory hotplug --------------------------------------------------------------------- */

static int cfg_hotplug_apply(struct perr *pe, struct vm_config *cfg, const json_t *body)
{
        struct mem_hotplug_cfg h = {
            .present = true,
            .total_size_mib = uint_of(body, "total_size_mib", 0),
            .block_size_mib = uint_of(body, "block_size_mib", 2),
            .slot_size_mib = uint_of(body, "slot_size_mib", 128),
        };

        if (h.block_size_mib < 2)
                return cfg_fail(pe, -EINVAL, "Block size must not be lower than 2 MiB");
        if (h.block_size_mib & (h.block_size_mib - 1))
                return cfg_fail(pe, -EINVAL, "Block size must be a power of 2");
        if (h.slot_size_mib < 128)
                return cfg_fail(pe, -EINVAL, "Slot size must not be lower than 128 MiB");
        if (h.slot_size_mib % h.block_size_mib)
                return cfg_fail(pe, -EINVAL,
                                "Slot size must be a multiple of block size (%llu MiB)",
                                (unsigned long long)h.block_size_mib);
        if (h.total_size_mib < h.slot_size_mib)
                return cfg_fail(pe, -EINVAL,
                                "Total size must not be lower than slot size (%llu MiB)",
                                (unsigned long long)h.slot_size_mib);
        if (h.total_size_mib % h.slot_size_mib)
                return cfg_fail(pe, -EINVAL,
                                "Total size must be a multiple of slot size (%llu MiB)",
                                (unsigned long long)h.slot_size_mib);
        cfg->mem_hotplug = h;
        return 0;
}

static json_t *hotplug_to_json(const struct vm_config *cfg)
{
        const struct mem_hotplug_cfg *h = &cfg->mem_hotplug;

        if (!h->present)
                return json_null();
        return json_pack("{s:I, s:I, s:I}", "total_size_mib", (json_int_t)h->total_size_mib,
                         "block_size_mib", (json_int_t)h->block_size_mib, "slot_size_mib",
                         (json_int_t)h->slot_size_mib);
}

/* ---- MMDS config -------------------------------------------------------------------------- */

static void config_mmds_free(struct mmds_cfg *m)
{
        unsigned int i;

        for (i = 0; i < m->nr_ifaces; i++)
                free(m->ifaces[i]);
        free(m->ifaces);
        memset(m, 0, sizeof(*m));
}

static int mmds_ip(struct perr *pe, const json_t *body, uint32_t *out)
{
        const char *s = str_of(body, "ipv4_address");
        struct in_addr a;

        *out = 0xa9fea9feu; /* 169.254.169.254 */
        if (!s)
                return 0;
        if (inet_pton(AF_INET, s, &a) != 1)
                return cfg_fail(pe, -EBADMSG, "invalid IPv4 address syntax");
        *out = ntohl(a.s_addr);
        /* is_link_local_valid(): 169.254.0.0/16 minus its first and last /24. */
        if ((*out >> 16) != 0xa9fe || ((*out >> 8) & 0xff) == 0 || ((*out >> 8) & 0xff) == 0xff)
                return cfg_fail(pe, -EINVAL, "The MMDS IPv4 address is not link local.");
        return 0;
}

static int cfg_mmds_apply(struct perr *pe, struct vm_config *cfg, const json_t *body)
{
        const json_t *ifs = json_object_get(body, "network_interfaces"), *e;
        const char *ver = str_of(body, "version");
        struct mmds_cfg m = {.present = true};
        size_t i;
        int rc;

        m.version = ver && strcmp(ver, "V2") == 0 ? 2 : 1;
        m.imds_compat = bool_of(body, "imds_compat");
        rc = mmds_ip(pe, body, &m.ipv4_address);
        if (rc)
                return rc;
        if (json_array_size(ifs) == 0)
                return cfg_fail(pe, -EINVAL,
                                "The list of network interface IDs that allow forwarding MMDS "
                                "requests is empty.");
        json_array_foreach(ifs, i, e)
        {
                if (net_index(cfg, json_string_value(e)) < 0)
                        return cfg_fail(pe, -EINVAL,
                                        "The list of network interface IDs provided contains at "
                                        "least one ID that does not correspond to any existing "
                                        "network interface.");
        }
        m.ifaces = calloc(json_array_size(ifs), sizeof(char *));
        if (!m.ifaces)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        json_array_foreach(ifs, i, e)
        {
                rc = dup_str(pe, json_string_value(e), &m.ifaces[i]);
                if (rc) {
                        config_mmds_free(&m);
                        return rc;
                }
                m.nr_ifaces++;
        }
        config_mmds_free(&cfg->mmds);
        cfg->mmds = m;
        return 0;
}

static json_t *mmds_to_json(const struct vm_config *cfg)
{
        const struct mmds_cfg *m = &cfg->mmds;
        char ip[INET_ADDRSTRLEN];
        struct in_addr a = {.s_addr = htonl(m->ipv4_address)};
        json_t *ifs;
        unsigned int i;

        if (!m->present)
                return json_null();
        ifs = json_array();
        for (i = 0; ifs && i < m->nr_ifaces; i++)
                json_array_append_new(ifs, json_string(m->ifaces[i]));
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        return json_pack("{s:s, s:o, s:s, s:b}", "version", m->version == 2 ? "V2" : "V1",
                         "network_interfaces", ifs, "ipv4_address", ip, "imds_compat",
                         m->imds_compat);
}

/* ---- serial, logger, metrics, cpu-config --------------------------------------------------- */

static int cfg_serial_apply(struct perr *pe, struct vm_config *cfg, const json_t *body)
{
        struct serial_cfg s = {.present = true};
        int rc;

        rc = cfg_parse_token_bucket(pe, json_object_get(body, "rate_limiter"), &s.rate_limiter);
        if (!rc)
                rc = dup_str(pe, str_of(body, "serial_out_path"), &s.serial_out_path);
        if (rc)
                return rc;
        free(cfg->serial.serial_out_path);
        cfg->serial = s;
        return 0;
}

void config_logger_free(struct logger_cfg *l)
{
        free(l->log_path);
        free(l->module);
        memset(l, 0, sizeof(*l));
        l->level = l->show_level = l->show_log_origin = -1;
}

int config_log_level_from_name(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } levels[] = {{"off", 0},  {"error", 1}, {"warn", 2}, {"warning", 2},
                      {"info", 3}, {"debug", 4}, {"trace", 5}};
        size_t i;

        for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
                if (strcasecmp(s, levels[i].name) == 0)
                        return levels[i].level;
        return -1;
}

static int opt_bool(const json_t *body, const char *name)
{
        const json_t *v = cfg_given(body, name);

        return v ? json_is_true(v) : -1;
}

static int cfg_logger_parse(struct perr *pe, const json_t *body, struct logger_cfg *out)
{
        const char *level = str_of(body, "level");
        struct logger_cfg l;
        int rc;

        memset(&l, 0, sizeof(l));
        l.present = true;
        l.level = -1;
        if (level && (l.level = config_log_level_from_name(level)) < 0)
                return cfg_fail(pe, -EBADMSG, "Invalid LevelFilter (field `level`)");
        l.show_level = opt_bool(body, "show_level");
        l.show_log_origin = opt_bool(body, "show_log_origin");
        rc = dup_str(pe, str_of(body, "log_path"), &l.log_path);
        if (!rc)
                rc = dup_str(pe, str_of(body, "module"), &l.module);
        if (rc) {
                config_logger_free(&l);
                return rc;
        }
        *out = l;
        return 0;
}

static int logger_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        struct logger_cfg l;
        int rc;

        rc = cfg_logger_parse(pe, v, &l);
        if (rc)
                return rc;
        config_logger_free(&cfg->logger);
        cfg->logger = l;
        return 0;
}

static int metrics_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        char *path;
        int rc;

        rc = dup_str(pe, str_of(v, "metrics_path"), &path);
        if (rc)
                return rc;
        free(cfg->metrics.metrics_path);
        cfg->metrics.present = true;
        cfg->metrics.metrics_path = path;
        return 0;
}

static int cfg_cpu_config_apply(struct perr *pe, struct vm_config *cfg, const json_t *body)
{
        json_t *copy = json_deep_copy(body);

        if (!copy)
                return cfg_fail(pe, -ENOMEM, "out of memory");
        json_decref(cfg->cpu_config);
        cfg->cpu_config = copy;
        return 0;
}

/* ---- public wrappers (config_dev.h) ------------------------------------------------------ */

/* Value checks serde does while deserializing (custom Deserialize impls). */
static int check_formats(struct perr *pe, enum cfg_body kind, const json_t *body)
{
        const char *s;
        uint8_t mac[6];

        if (kind == CFG_BODY_NET && (s = str_of(body, "guest_mac")) && parse_mac(s, mac))
                return cfg_fail(pe, -EBADMSG, "The provided MAC address is invalid.");
        if (kind == CFG_BODY_LOGGER && (s = str_of(body, "level")) &&
            config_log_level_from_name(s) < 0)
                return cfg_fail(pe, -EBADMSG, "Invalid LevelFilter");
        return 0;
}

static const char *body_id(enum cfg_body kind, const json_t *body, bool *net_style)
{
        *net_style = kind == CFG_BODY_NET || kind == CFG_BODY_NET_PATCH;
        if (*net_style)
                return str_of(body, "iface_id");
        if (kind == CFG_BODY_PMEM || kind == CFG_BODY_PMEM_PATCH)
                return str_of(body, "id");
        return NULL;
}

int config_check_body(enum cfg_body kind, const json_t *body, const char *path_id, char *err,
                      size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};
        const char *id;
        bool net_style;
        int rc;

        rc = cfg_check_body(&pe, kind, body);
        if (!rc)
                rc = check_formats(&pe, kind, body);
        if (rc)
                return rc;
        id = body_id(kind, body, &net_style);
        return id ? path_id_mismatch(&pe, path_id, id, net_style) : 0;
}

int config_put_body(enum cfg_body kind, struct vm_config *cfg, const json_t *body,
                    const char *path_id, char *err, size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};

        switch (kind) {
        case CFG_BODY_NET:
                return cfg_net_apply(&pe, cfg, body, path_id);
        case CFG_BODY_VSOCK:
                return cfg_vsock_apply(&pe, cfg, body);
        case CFG_BODY_ENTROPY:
                return cfg_entropy_apply(&pe, cfg, body);
        case CFG_BODY_BALLOON:
                return cfg_balloon_apply(&pe, cfg, body);
        case CFG_BODY_PMEM:
                return cfg_pmem_apply(&pe, cfg, body, path_id);
        case CFG_BODY_HOTPLUG:
                return cfg_hotplug_apply(&pe, cfg, body);
        case CFG_BODY_MMDS_CONFIG:
                return cfg_mmds_apply(&pe, cfg, body);
        case CFG_BODY_SERIAL:
                return cfg_serial_apply(&pe, cfg, body);
        case CFG_BODY_CPU_CONFIG:
                return cfg_cpu_config_apply(&pe, cfg, body);
        default:
                return cfg_fail(&pe, -EINVAL, "no PUT semantics for this body");
        }
}

int config_patch_net(const struct vm_config *cfg, const json_t *body, const char *path_id,
                     struct net_update *out, char *err, size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};

        return cfg_net_patch(&pe, cfg, body, path_id, out);
}

int config_patch_pmem(const struct vm_config *cfg, const json_t *body, const char *path_id,
                      char *err, size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};

        return cfg_pmem_patch(&pe, cfg, body, path_id);
}

int config_parse_logger(const json_t *body, struct logger_cfg *out, char *err, size_t errlen)
{
        struct perr pe = {err, errlen, NULL, false, NULL};

        return cfg_logger_parse(&pe, body, out);
}

json_t *config_balloon_to_json(const struct balloon_cfg *b)
{
        return cfg_balloon_to_json(b);
}

/* ---- config-file sections ------------------------------------------------------------------ */

static int array_check(struct perr *pe, const json_t *v, enum cfg_body kind)
{
        const json_t *e;
        size_t i;
        int rc;

        if (!json_is_array(v))
                return cfg_type_error(pe, v, "a sequence", NULL);
        json_array_foreach(v, i, e)
        {
                rc = cfg_check_body(pe, kind, e);
                if (!rc)
                        rc = check_formats(pe, kind, e);
                if (rc)
                        return rc;
        }
        return 0;
}

static int nets_check(struct perr *pe, const json_t *v)
{
        return array_check(pe, v, CFG_BODY_NET);
}

static int nets_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        const json_t *e;
        size_t i;
        int rc;

        json_array_foreach(v, i, e)
        {
                rc = cfg_net_apply(pe, cfg, e, NULL);
                if (rc)
                        return rc;
        }
        return 0;
}

static int pmems_check(struct perr *pe, const json_t *v)
{
        return array_check(pe, v, CFG_BODY_PMEM);
}

static int pmems_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        const json_t *e;
        size_t i;
        int rc;

        json_array_foreach(v, i, e)
        {
                rc = cfg_pmem_apply(pe, cfg, e, NULL);
                if (rc)
                        return rc;
        }
        return 0;
}

#define OBJECT_SECTION(name, kind)                                                                 \
        static int name##_check(struct perr *pe, const json_t *v)                                  \
        {                                                                                          \
                int rc = cfg_check_body(pe, kind, v);                                              \
                return rc ? rc : check_formats(pe, kind, v);                                       \
        }

OBJECT_SECTION(vsock, CFG_BODY_VSOCK)
OBJECT_SECTION(entropy, CFG_BODY_ENTROPY)
OBJECT_SECTION(balloon, CFG_BODY_BALLOON)
OBJECT_SECTION(hotplug, CFG_BODY_HOTPLUG)
OBJECT_SECTION(mmds, CFG_BODY_MMDS_CONFIG)
OBJECT_SECTION(logger, CFG_BODY_LOGGER)
OBJECT_SECTION(metrics, CFG_BODY_METRICS)

static int cpu_check(struct perr *pe, const json_t *v)
{
        if (json_is_string(v))
                return 0; /* a path: read when applied */
        if (!json_is_object(v))
                return cfg_fail(pe, -EBADMSG,
                                "data did not match any variant of untagged enum "
                                "CustomCpuTemplateOrPath (field `cpu-config`)");
        return cfg_check_body(pe, CFG_BODY_CPU_CONFIG, v);
}

static int cpu_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        json_error_t jerr;
        json_t *t;
        int rc;

        if (!json_is_string(v))
                return cfg_cpu_config_apply(pe, cfg, v);
        t = json_load_file(json_string_value(v), JSON_REJECT_DUPLICATES, &jerr);
        if (!t)
                return cfg_fail(pe, -EINVAL, "File operation error: %s", jerr.text);
        rc = cfg_check_body(pe, CFG_BODY_CPU_CONFIG, t);
        if (!rc)
                rc = cfg_cpu_config_apply(pe, cfg, t);
        json_decref(t);
        return rc;
}

static int vsock_sect_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        return cfg_vsock_apply(pe, cfg, v);
}

static int entropy_sect_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        return cfg_entropy_apply(pe, cfg, v);
}

static int balloon_sect_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        return cfg_balloon_apply(pe, cfg, v);
}

static int hotplug_sect_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        return cfg_hotplug_apply(pe, cfg, v);
}

static int mmds_sect_apply(struct perr *pe, const json_t *v, struct vm_config *cfg)
{
        return cfg_mmds_apply(pe, cfg, v);
}

static json_t *null_json(const struct vm_config *cfg)
{
        (void)cfg;
        return json_null();
}

const struct cfg_section_ops cfg_dev_sections[] = {
    {"network-interfaces", "Network device error: ", nets_check, nets_apply, cfg_nets_to_json},
    {"vsock", "Vsock device error: ", vsock_check, vsock_sect_apply, cfg_vsock_to_json},
    {"entropy", "Entropy device error: ", entropy_check, entropy_sect_apply, cfg_entropy_to_json},
    {"balloon", "Balloon device error: ", balloon_check, balloon_sect_apply, balloon_section_json},
    {"pmem", "Pmem device error: ", pmems_check, pmems_apply, pmems_to_json},
    {"memory-hotplug", "Memory hotplug config error: ", hotplug_check, hotplug_sect_apply,
     hotplug_to_json},
    {"mmds-config", "MMDS config error: ", mmds_check, mmds_sect_apply, mmds_to_json},
    {"logger", "Logger error: ", logger_check, logger_apply, null_json},
    {"metrics", "Metrics error: ", metrics_check, metrics_apply, null_json},
    {"cpu-config", "", cpu_check, cpu_apply, null_json},
    {NULL, NULL, NULL, NULL, NULL},
};

void cfg_dev_free(struct vm_config *cfg)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_nets; i++)
                config_net_free(&cfg->nets[i]);
        cfg->nr_nets = 0;
        for (i = 0; i < cfg->nr_pmems; i++)
                config_pmem_free(&cfg->pmems[i]);
        cfg->nr_pmems = 0;
        free(cfg->vsock.uds_path);
        memset(&cfg->vsock, 0, sizeof(cfg->vsock));
        memset(&cfg->entropy, 0, sizeof(cfg->entropy));
        memset(&cfg->balloon, 0, sizeof(cfg->balloon));
        memset(&cfg->mem_hotplug, 0, sizeof(cfg->mem_hotplug));
        config_mmds_free(&cfg->mmds);
        free(cfg->serial.serial_out_path);
        memset(&cfg->serial, 0, sizeof(cfg->serial));
        json_decref(cfg->cpu_config);
        cfg->cpu_config = NULL;
        config_logger_free(&cfg->logger);
        free(cfg->metrics.metrics_path);
        memset(&cfg->metrics, 0, sizeof(cfg->metrics));
}
