/* The VM configuration: every Firecracker resource, the registry of their models, the config file.
 */
#ifndef BRASA_MODEL_CONFIG_H
#define BRASA_MODEL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "arch/x86_64/cpu_template.h"
#include "core/rate_limiter.h"
#include "model/codec.h"

/*
 * Error convention for every parser below: returns 0 on success, or a negative errno with
 * the code and a single-line message (no '\n') in *e (e may be NULL):
 *   -EBADMSG  the body does not deserialize (invalid JSON, unknown field, wrong type,
 *             missing field, unknown variant). Messages read like serde's, e.g.
 *             "unknown field `foo`, expected one of `a`, `b`, `c`",
 *             "invalid type: string \"2\", expected u8 (field `vcpu_count`)",
 *             "missing field `vcpu_count`". The API wraps these as Firecracker does:
 *             "An error occurred when deserializing the json body of a request: <msg>."
 *   -EINVAL   the values deserialize but fail Firecracker's validation (vCPU count,
 *             memory size) or brasa's memory cap. Firecracker's API reports these as
 *             "Machine config error: <msg>".
 *   -ENOTSUP  a valid Firecracker setting that brasa does not implement yet
 *             ("... is not supported yet by brasa"); never silently ignored.
 *   -ENOMEM   allocation failure.
 */

#define CONFIG_DEFAULT_BOOT_ARGS                                                                   \
        "reboot=k panic=1 nomodule 8250.nr_uarts=0 i8042.noaux i8042.nomux i8042.dumbkbd "         \
        "swiotlb=noforce"
#define CONFIG_DEFAULT_VCPUS   1u
#define CONFIG_DEFAULT_MEM_MIB 128u
#define CONFIG_MAX_VCPUS       32u

struct boot_source_cfg {
        char *kernel_image_path; /* malloc'd; required */
        char *boot_args;         /* malloc'd; NULL = CONFIG_DEFAULT_BOOT_ARGS */
        char *initrd_path;       /* malloc'd; NULL = no initrd */
};

/* In Firecracker's declaration order (the model stores the variant's index). */
enum huge_pages { HUGE_PAGES_NONE, HUGE_PAGES_TRANSPARENT, HUGE_PAGES_2M };

struct machine_cfg {
        unsigned int vcpu_count;
        uint64_t mem_size_mib;
        bool smt;
        bool track_dirty_pages;
        enum huge_pages huge_pages;
        bool has_cpu_template;
        unsigned int cpu_template; /* enum static_template; never None once stored */
};

enum drive_cache_type { DRIVE_CACHE_UNSAFE, DRIVE_CACHE_WRITEBACK };
enum drive_io_engine { DRIVE_IO_ASYNC, DRIVE_IO_SYNC };

/*
 * Firecracker sets no limit at PUT; InstanceStart runs out of interrupt lines after 17
 * virtio devices anyway. These bound what a client can make brasa hold.
 */
#define CONFIG_MAX_DRIVES 64

/* Drive (virtio-block), as PUT /drives/{id} and the `drives` config key. */
struct drive_cfg {
        char *drive_id;     /* malloc'd; required */
        char *path_on_host; /* malloc'd; required for virtio-blk */
        char *partuuid;     /* malloc'd; NULL when absent */
        bool is_root_device;
        bool is_read_only;
        bool has_socket; /* a vhost-user "socket" was given (refused) */
        enum drive_cache_type cache_type;
        enum drive_io_engine io_engine;
        bool has_rate_limiter;
        struct rate_limiter_cfg rate_limiter;
};

#define CONFIG_MAX_NETS  64
#define CONFIG_MAX_PMEMS 16

/* NetworkInterface (virtio-net), as PUT /network-interfaces/{id}. */
struct net_cfg {
        char *iface_id;      /* malloc'd */
        char *host_dev_name; /* malloc'd; TAP name, < 16 bytes */
        bool has_mac;
        uint8_t guest_mac[6];
        bool has_mtu;
        uint16_t mtu;
        struct rate_limiter_cfg rx_rate_limiter, tx_rate_limiter;
        /* the tap, opened at PUT as Firecracker opens it (not a body field); owned */
        bool has_tap;
        int tap_fd;
};

/* Vsock (virtio-vsock), as PUT /vsock. */
struct vsock_cfg {
        bool present;
        char *vsock_id; /* malloc'd; deprecated, not shown */
        uint32_t guest_cid;
        char *uds_path; /* malloc'd */
        /* the backend's socket, bound and listening on uds_path since the PUT, as Firecracker's
         * VsockUnixBackend::new() binds it (not a body field); owned */
        bool has_listener;
        int listen_fd;
};

/* EntropyDevice (virtio-rng), as PUT /entropy. */
struct entropy_cfg {
        bool present;
        struct rate_limiter_cfg rate_limiter;
};

/* Balloon, as PUT /balloon. */
struct balloon_cfg {
        bool present;
        uint32_t amount_mib;
        bool deflate_on_oom;
        uint16_t stats_polling_interval_s;
        bool free_page_hinting;
        bool free_page_reporting;
};

/* Pmem (virtio-pmem), as PUT /pmem/{id}. */
struct pmem_cfg {
        char *id;           /* malloc'd */
        char *path_on_host; /* malloc'd */
        bool root_device;
        bool read_only;
        struct rate_limiter_cfg rate_limiter;
};

/* MemoryHotplugConfig (virtio-mem), as PUT /hotplug/memory. */
struct mem_hotplug_cfg {
        bool present;
        uint64_t total_size_mib, block_size_mib, slot_size_mib;
};

/* MmdsConfig, as PUT /mmds/config. */
struct mmds_cfg {
        bool present;
        unsigned int version;   /* 1 or 2 */
        struct mstrings ifaces; /* malloc'd iface ids */
        uint32_t ipv4_address;  /* host order; default 169.254.169.254 */
        bool imds_compat;
};

/* SerialDevice, as PUT /serial (API only; not a config-file key). */
struct serial_cfg {
        bool present;
        char *serial_out_path; /* malloc'd; NULL = stdout */
        struct token_bucket_cfg rate_limiter;
};

/* Logger, as PUT /logger and the config file's "logger": unset fields keep their value. */
struct logger_cfg {
        bool present;
        char *log_path; /* malloc'd; NULL = unchanged */
        int level;      /* enum log_level, or -1 = Firecracker's default (Info) */
        int show_level; /* -1 unset, 0/1 */
        int show_log_origin;
        char *module; /* malloc'd; NULL = no filter */
};

/* Metrics, as PUT /metrics and the config file's "metrics". */
struct metrics_cfg {
        bool present;
        char *metrics_path; /* malloc'd */
};

/* A custom CPU template (PUT /cpu-config, the config file's "cpu-config"). */
struct cpu_config_cfg {
        bool present;
        json_t *tmpl;             /* owned reference */
        struct cpuid_mod *cpuid;  /* malloc'd: the rows of t */
        struct msr_mod *msrs;     /* malloc'd: the MSR modifiers of t */
        struct kvm_cap_mod *caps; /* malloc'd: the capability modifiers of t */
        struct cpu_template t;    /* the template parsed from tmpl, over the arrays above */
};

/*
 * The registry: X(name, storage) for every resource, in VmmConfig's declaration order
 * (that of GET /vm/config and of the config file's messages). src/model/<name>.c defines
 * res_<name> (its model and hooks); storage is what struct vm_config holds of it.
 */
#define MODEL_RESOURCES(X)                                                                         \
        X(balloon, struct balloon_cfg balloon)                                                     \
        X(drives, struct drive_cfg drives[CONFIG_MAX_DRIVES]; unsigned int nr_drives)              \
        X(boot_source, bool has_boot_source; struct boot_source_cfg boot)                          \
        X(cpu_config, struct cpu_config_cfg cpu)                                                   \
        X(logger, struct logger_cfg logger)                                                        \
        X(machine, struct machine_cfg machine)                                                     \
        X(metrics, struct metrics_cfg metrics)                                                     \
        X(mmds, struct mmds_cfg mmds)                                                              \
        X(nets, struct net_cfg nets[CONFIG_MAX_NETS]; unsigned int nr_nets)                        \
        X(vsock, struct vsock_cfg vsock)                                                           \
        X(entropy, struct entropy_cfg entropy)                                                     \
        X(pmems, struct pmem_cfg pmems[CONFIG_MAX_PMEMS]; unsigned int nr_pmems)                   \
        X(hotplug, struct mem_hotplug_cfg mem_hotplug)                                             \
        X(serial, struct serial_cfg serial)

/* The VM configuration: every resource's storage, generated from the registry. Drives are
 * kept in attach order, the root device (at most one) first; machine defaults to 1 vCPU and
 * 128 MiB, as Firecracker's. */
struct vm_config {
#define RES_MEMBER(name, ...) __VA_ARGS__;
        MODEL_RESOURCES(RES_MEMBER)
#undef RES_MEMBER
};

/* PATCH /drives/{id} (PartialDrive), accepted only after InstanceStart. */
struct drive_update {
        char *drive_id;     /* malloc'd */
        char *path_on_host; /* malloc'd; NULL = keep the current backing file */
        bool has_rate_limiter;
        struct rate_limiter_update rate_limiter;
};

/* Sets *cfg to Firecracker's defaults: no boot source, 1 vCPU, 128 MiB, no SMT/THP. */
void config_init(struct vm_config *cfg);

/*
 * How PUT /network-interfaces opens its tap: core/tap.c's tap_open() (fn NULL), or, in unit
 * tests and fuzzers, a stand-in with its contract: an fd the configuration then owns, or
 * -errno with one line in e.
 */
void config_set_tap_open(int (*fn)(const char *name, struct err *e));

/* Frees what *cfg owns and resets it to the defaults of config_init(). */
void config_free(struct vm_config *cfg);

/* Frees the strings of *b and zeroes it. */
void config_boot_source_free(struct boot_source_cfg *b);

/* Sets *m to the machine-config defaults (what PUT /machine-config starts from). */
void config_machine_defaults(struct machine_cfg *m);

/*
 * Parses a BootSource object (PUT /boot-source body, or the config file's "boot-source"):
 * kernel_image_path string required; boot_args, initrd_path string or null.
 * Files are not opened here. On success *out owns fresh copies (the caller releases the
 * previous contents first, e.g. with config_boot_source_free()); on failure *out is
 * untouched. Returns 0, -EBADMSG or -ENOMEM (see the convention above).
 */
int config_parse_boot_source(const json_t *body, struct boot_source_cfg *out, struct err *e);

/*
 * Parses and validates a MachineConfiguration object with PUT semantics: vcpu_count and
 * mem_size_mib required, omitted optional fields take their defaults. *out is written
 * only on success. Returns 0, -EBADMSG, -EINVAL or -ENOTSUP.
 */
int config_parse_machine_config(const json_t *body, struct machine_cfg *out, struct err *e);

/*
 * PATCH /machine-config: every field optional (null = not given); the given fields are
 * applied over *inout and the result is validated as a whole. *inout changes only on
 * success. Returns 0, -EBADMSG, -EINVAL, -ENOTSUP, or -ENODATA when no field was given
 * (Firecracker answers that with "Empty PATCH request.").
 */
int config_patch_machine_config(const json_t *body, struct machine_cfg *inout, struct err *e);

/*
 * Rejects guest memory sizes above brasa's memory map (LAYOUT_MAX_MEM_BYTES, 255 GiB) at
 * InstanceStart, with Firecracker's text for a guest memory it cannot map (Firecracker takes
 * any size at PUT and fails there too). Returns 0 or -ENOMEM with that message.
 */
int config_check_mem_limit(uint64_t mem_mib, struct err *e);

/*
 * Parses a --config-file document (Firecracker's VmmConfig, kebab-case top-level keys)
 * of len bytes. "boot-source" is required; "machine-config" optional (null = defaults);
 * the sections brasa does not implement yet are accepted only as null or [] and refused
 * otherwise with "<key> is not supported yet by brasa" (-ENOTSUP). Unknown top-level keys
 * are errors. The message has Firecracker's ResourcesError prefixes ("Invalid JSON: ...",
 * "VM config error: ..."), so the caller can print "Configuration for VMM from one single
 * json failed: <msg>". *cfg is (re)initialised; on failure it is left at the defaults.
 * The caller calls json_object_seed() once, before any thread starts.
 */
int config_parse_file(const char *text, size_t len, struct vm_config *cfg, struct err *e);

/*
 * The hook of config_parse_file_step(): from_json()'s step that is no section (the
 * --metadata file), given the sections applied so far. Returns 0, or -errno with e set to
 * the whole message (no prefix is added).
 */
typedef int (*config_step_fn)(void *arg, const struct vm_config *cfg, struct err *e);

/*
 * config_parse_file(), and step (when not NULL) run in pass 2 where from_json() fills the
 * MMDS data store from --metadata: after "balloon", before "mmds-config". A failing step
 * fails the parse with its error.
 */
int config_parse_file_step(const char *text, size_t len, struct vm_config *cfg, config_step_fn step,
                           void *arg, struct err *e);

/*
 * Formats a jansson load error as one line, "<text> at line L column C" (serde's shape);
 * numbers jansson cannot hold are reported as "invalid type: number out of range ...".
 */
void config_json_error(const json_error_t *jerr, struct err *e);

/* ---- drives (src/model/drive.c) ------------------------------------------------------------ */

/*
 * PUT /drives/{path_id} before boot (also used for each element of the config file's
 * "drives"): deserializes a Drive body (Firecracker's BlockDeviceConfig, unknown fields
 * rejected), checks the body's drive_id equals path_id (path_id NULL: no check), checks the
 * backing file opens (read-only or read-write as asked, as Firecracker does at PUT time),
 * then inserts or replaces the drive in cfg->drives[] with Firecracker's ordering: a new
 * root device goes first, a second root device is refused. A vhost-user "socket" drive is
 * refused with -ENOTSUP. Returns 0, -EBADMSG (deserialize), -EXDEV (id mismatch: message is
 * "The id from the path does not match the id from the body!"), -EINVAL (message without
 * Firecracker's "Drive config error: " prefix, e.g. "A root block device already exists!"),
 * -ENOTSUP, -ENOSPC (more than CONFIG_MAX_DRIVES) or -ENOMEM. cfg changes only on success.
 */
int config_put_drive(struct vm_config *cfg, const json_t *body, const char *path_id, struct err *e);

/*
 * PATCH /drives/{path_id} (after boot): deserializes a PartialDrive (drive_id required,
 * path_on_host and rate_limiter optional) into *out and checks the ids match and that the
 * drive exists in cfg. The VMM applies it to the device, then calls
 * config_apply_drive_update() so GET /vm/config shows the new values. Returns 0, -EBADMSG,
 * -EXDEV (id mismatch), -ENOENT (no such drive; message is Firecracker's) or -ENOMEM.
 * On success the caller frees *out with config_drive_update_free().
 */
int config_patch_drive(const struct vm_config *cfg, const json_t *body, const char *path_id,
                       struct drive_update *out, struct err *e);

/* Records an applied PATCH in cfg->drives[] (new path, new rate limiter). 0 or -ENOMEM/-ENOENT. */
int config_apply_drive_update(struct vm_config *cfg, const struct drive_update *u);

/* Frees what *u owns and zeroes it. */
void config_drive_update_free(struct drive_update *u);

/* Frees the strings of *d and zeroes it. */
void config_drive_free(struct drive_cfg *d);

/* Applies a rate-limiter PATCH to a stored RateLimiter config. */
void config_rate_limiter_apply(struct rate_limiter_cfg *rl, const struct rate_limiter_update *u);

/* True when the bucket limits anything (given, size > 0 and refill_time > 0). */
bool config_bucket_active(const struct token_bucket_cfg *tb);

/* The Drive objects of GET /vm/config, in attach order. New reference or NULL. */
json_t *config_drives_to_json(const struct vm_config *cfg);

/*
 * Refuses the configured resources whose device brasa does not have yet, naming them all:
 * "<a> is not supported yet by brasa", "<a>, <b> and <c> are not ..." (-ENOTSUP). InstanceStart and
 * the config-file boot call it right before vmm_boot(). When a device lands, its helper removes it
 * here.
 */
int config_check_supported(const struct vm_config *cfg, struct err *e);

/* The MachineConfiguration object of GET /machine-config. New reference or NULL (ENOMEM). */
json_t *config_machine_to_json(const struct machine_cfg *m);

/*
 * The FullVmConfiguration of GET /vm/config: every top-level key, in Firecracker's order,
 * with null / [] for the sections brasa does not implement. New reference or NULL.
 */
json_t *config_to_json(const struct vm_config *cfg);

/* ---- the other resources (src/model/) ---------------------------------------------- */

/*
 * The request bodies with a schema (Firecracker's serde structs), and what each decodes to:
 * first one kind per resource of the registry (CFG_RES_<name>, its storage type: a PUT
 * stores it), then the bodies that are no resource.
 */
enum cfg_body {
#define RES_KIND(name, ...) CFG_RES_##name,
        MODEL_RESOURCES(RES_KIND)
#undef RES_KIND
            CFG_BODY_NET_PATCH,   /* struct net_update */
        CFG_BODY_BALLOON_PATCH,   /* struct balloon_update */
        CFG_BODY_BALLOON_STATS,   /* struct balloon_stats_update */
        CFG_BODY_HINTING,         /* struct hinting_start */
        CFG_BODY_PMEM_PATCH,      /* struct pmem_update */
        CFG_BODY_HOTPLUG_PATCH,   /* struct hotplug_update */
        CFG_BODY_SNAPSHOT_CREATE, /* checked only */
        CFG_BODY_SNAPSHOT_LOAD,   /* struct snapshot_load_body */
        CFG_BODY_VM_STATE,        /* struct vm_state_body */
        CFG_BODY_ACTION,          /* struct action_body */
        CFG_BODY_MACHINE_PATCH,   /* struct machine_patch */
        CFG_BODY_DRIVE_PATCH,     /* struct drive_update */
};

/* PATCH /network-interfaces/{id}: the rate-limiter changes for one interface. */
struct net_update {
        char *iface_id; /* malloc'd */
        struct rate_limiter_update rx, tx;
};

/* PATCH /hotplug/memory (MemoryHotplugSizeUpdate). */
struct hotplug_update {
        uint64_t requested_size_mib;
};

/* PATCH /balloon (BalloonUpdateConfig). */
struct balloon_update {
        uint32_t amount_mib;
};

/* PATCH /balloon/statistics (BalloonUpdateStatsConfig). */
struct balloon_stats_update {
        uint16_t stats_polling_interval_s;
};

/* PATCH /balloon/hinting/start (StartHintingCmd); absent: acknowledge_on_stop is true. */
struct hinting_start {
        bool has_ack;
        bool acknowledge_on_stop;
};

/* The balloon's post-boot actions (Firecracker's balloon VmmActions), API to VMM. */
enum balloon_op {
        BALLOON_GET_CONFIG,   /* GET /balloon: *out is the Balloon object */
        BALLOON_GET_STATS,    /* GET /balloon/statistics: *out is BalloonStats */
        BALLOON_UPDATE,       /* PATCH /balloon: amount_mib */
        BALLOON_UPDATE_STATS, /* PATCH /balloon/statistics: interval_s */
        BALLOON_HINT_START,   /* PATCH /balloon/hinting/start: ack_on_stop */
        BALLOON_HINT_STATUS,  /* GET /balloon/hinting/status: *out is HintingStatus */
        BALLOON_HINT_STOP,    /* PATCH /balloon/hinting/stop */
};

struct balloon_req {
        enum balloon_op op;
        uint32_t amount_mib;
        uint16_t interval_s;
        bool ack_on_stop;
};

/* PATCH /pmem/{id}. */
struct pmem_update {
        char *id; /* malloc'd */
        bool has_rate_limiter;
        struct rate_limiter_update rate_limiter;
};

/* PATCH /machine-config: the fields given, over whatever the VM has. */
struct machine_patch {
        struct machine_cfg m;
        unsigned int given; /* bit i: field i of MachineConfig was given */
};

/* PUT /actions. */
enum action_type { ACTION_FLUSH_METRICS, ACTION_INSTANCE_START, ACTION_SEND_CTRL_ALT_DEL };
struct action_body {
        unsigned int type; /* enum action_type */
};

/* PUT /snapshot/create. */
enum snapshot_type { SNAPSHOT_DIFF, SNAPSHOT_FULL };
struct snapshot_create_body {
        unsigned int type;   /* enum snapshot_type; Full when not given */
        char *snapshot_path; /* malloc'd */
        char *mem_file_path; /* malloc'd */
};

/* PUT /snapshot/load's mem_backend. */
enum mem_backend_type { MEM_BACKEND_FILE, MEM_BACKEND_UFFD };
struct mem_backend_body {
        char *backend_path; /* malloc'd */
        unsigned int type;  /* enum mem_backend_type */
};

/* PUT /snapshot/load's vsock_override. */
struct vsock_override_body {
        char *uds_path; /* malloc'd */
};

/* PUT /snapshot/load: what brasa reads of it (the rest is checked only). */
struct snapshot_load_body {
        char *snapshot_path; /* malloc'd */
        char *mem_file_path; /* malloc'd; NULL when mem_backend is given */
        bool has_backend;
        struct mem_backend_body backend;
        bool resume_vm;
        bool track_dirty_pages;
        struct mstrings net_overrides; /* network_overrides: iface_id, host_dev_name pairs */
        bool has_vsock_override;
        struct vsock_override_body vsock_override;
        const char *unsupported; /* the first field asking what brasa cannot do yet, or NULL */
};

/* PATCH /vm. */
enum vm_state { VM_STATE_PAUSED, VM_STATE_RESUMED };
struct vm_state_body {
        unsigned int state; /* enum vm_state */
};

/* A decoded API body: the typed value that crosses the mailbox instead of JSON. */
struct cfg_value {
        enum cfg_body kind;
        void *v; /* malloc'd, of kind's type (see enum cfg_body); NULL for checked-only bodies */
};

/*
 * Decodes an API body of kind into *out once, on the API thread, as serde does (types,
 * unknown and missing fields, nested rate limiters, formats such as a MAC address), and
 * checks a path id against the body's id (path_id NULL: none). With src (the text body was
 * parsed from; NULL: none), serde's messages end with its " at line L column C". Touches
 * no state; a PATCH
 * /machine-config that gives nothing is -ENODATA ("Empty PATCH request."). Returns 0,
 * -EBADMSG (serde's message), -EXDEV (Firecracker's id-mismatch text), -ENODATA or -ENOMEM;
 * on failure *out holds nothing.
 */
int config_decode(enum cfg_body kind, const json_t *body, const struct json_src *src,
                  const char *path_id, struct cfg_value *out, struct err *e);

/* Frees a decoded value (safe on a zeroed or already freed one). */
void config_value_free(struct cfg_value *val);

/*
 * PUT semantics for a decoded resource body (NET, VSOCK, ENTROPY, BALLOON, PMEM, HOTPLUG,
 * MMDS_CONFIG, SERIAL, CPU_CONFIG, BOOT, DRIVE): validates it against cfg and stores it,
 * taking what it owns. Messages have no Firecracker prefix. Returns 0, -EINVAL, -ENOTSUP,
 * -ENOSPC or -ENOMEM; -EINVAL "no PUT semantics" for other kinds.
 */
int config_store(struct vm_config *cfg, struct cfg_value *val, struct err *e);

/* Firecracker's MachineConfig::update() checks, then what brasa lacks: 0, -EINVAL, -ENOTSUP. */
int config_machine_validate(const struct machine_cfg *m, struct err *e);

/* Applies the given fields of a PATCH over *m (no validation). */
void config_machine_merge(struct machine_cfg *m, const struct machine_patch *p);

/*
 * Stores m as the VM's machine configuration with Firecracker's one template
 * slot: a cpu_template given as None clears the static and the custom
 * template, another variant replaces both, and none given keeps whichever the
 * VM had.
 */
void config_machine_commit(struct vm_config *cfg, const struct machine_cfg *m);

/* Drops the custom CPU template (PUT /cpu-config), if any. */
void config_cpu_template_clear(struct vm_config *cfg);

/* A decoded PATCH /drives/{id} against cfg: the drive exists and something changes. */
int config_drive_patch_check(const struct vm_config *cfg, const struct drive_update *u,
                             struct err *e);

/* A decoded PATCH /network-interfaces/{id}: the interface exists. 0 or -ENOENT. */
int config_net_patch_check(const struct vm_config *cfg, const struct net_update *u, struct err *e);

/* A decoded PATCH /pmem/{id}: the device exists when a limiter is given. 0 or -ENOENT. */
int config_pmem_patch_check(const struct vm_config *cfg, const struct pmem_update *u,
                            struct err *e);

/* config_decode() and config_value_free(): the check alone (the config file's pass 1). */
int config_check_body(enum cfg_body kind, const json_t *body, const char *path_id, struct err *e);

/* config_decode() then config_store(): a PUT from JSON, as the config file makes one. */
int config_put_body(enum cfg_body kind, struct vm_config *cfg, const json_t *body,
                    const char *path_id, struct err *e);

/* Parses a Logger body (checked) into *out; out owns its strings. 0, -EBADMSG or -ENOMEM. */
int config_parse_logger(const json_t *body, struct logger_cfg *out, struct err *e);

/* Frees what *l owns and resets it to "nothing set". */
void config_logger_free(struct logger_cfg *l);

/* "info" -> LOG_INFO etc. (case-insensitive, "warning" too); -1 if unknown. */
int config_log_level_from_name(const char *s);

/* The Balloon object of GET /balloon and GET /vm/config (null when not configured). */
json_t *config_balloon_to_json(const struct balloon_cfg *b);

#endif /* BRASA_MODEL_CONFIG_H */
