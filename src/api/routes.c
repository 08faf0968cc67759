/* The API's route table: every method and path Firecracker 1.16 serves, one row each. */
#include "api/route.h"

const char route_any[] = "*";
const char route_none[] = "(none)";
const char route_id[] = "{id}";

#define ANY  route_any
#define NONE route_none
#define ID   route_id

#define PUT_N(f)   (&metrics.put_api_requests.f)
#define PATCH_N(f) (&metrics.patch_api_requests.f)
#define GET_N(f)   (&metrics.get_api_requests.f)

/*
 * Rows are tried in order; the first whose method, tokens and body rule match wins, so a
 * literal token comes before route_any in the same place. The *_fails counter of a failed
 * request is the first row's of its method and first token, as Firecracker counts them.
 */
const struct route api_routes[] = {
    /* ---- GET (a GET with a body is refused before the table is looked at) ---- */
    {HTTP_GET, "", ANY, ANY, BODY_NO, .kind = -1, .action = api_get_info,
     .count = GET_N(instance_info_count)},
    {HTTP_GET, "balloon", NONE, ANY, BODY_NO, .kind = -1, .action = api_get_balloon},
    {HTTP_GET, "balloon", "statistics", ANY, BODY_NO, .kind = -1, .gate = GATE_POST,
     .prefix = "Internal VMM error: ", .action = api_get_balloon_stats},
    {HTTP_GET, "balloon", "hinting", "status", BODY_NO, .kind = -1, .gate = GATE_POST,
     .prefix = "Balloon update error: ", .action = api_balloon_hinting},
    {HTTP_GET, "balloon", "hinting", ANY, BODY_NO, .kind = -1,
     .refuse = "Unrecognized GET request path `/hinting/%s`."},
    {HTTP_GET, "balloon", ANY, ANY, BODY_NO, .kind = -1,
     .refuse = "Unrecognized GET request path `%s`."},
    {HTTP_GET, "version", ANY, ANY, BODY_NO, .kind = -1, .action = api_get_version,
     .count = GET_N(vmm_version_count)},
    {HTTP_GET, "vm", "config", ANY, BODY_NO, .kind = -1, .action = api_get_vm_config},
    {HTTP_GET, "machine-config", ANY, ANY, BODY_NO, .kind = -1, .action = api_get_machine,
     .count = GET_N(machine_cfg_count)},
    {HTTP_GET, "mmds", ANY, ANY, BODY_NO, .kind = -1, .action = api_get_mmds,
     .count = GET_N(mmds_count)},
    {HTTP_GET, "hotplug", "memory", ANY, BODY_NO, .kind = -1, .gate = GATE_POST,
     .count = GET_N(hotplug_memory_count),
     .prefix = "Internal VMM error: ", .action = api_mem_hotplug},

    /* ---- PUT ---- */
    {HTTP_PUT, "actions", ANY, ANY, BODY_YES, .kind = CFG_BODY_ACTION, .action = api_put_actions,
     .count = PUT_N(actions_count), .fails = PUT_N(actions_fails)},
    {HTTP_PUT, "balloon", ANY, ANY, BODY_YES, .kind = CFG_RES_balloon, .gate = GATE_PRE,
     .boot_specific = true, .prefix = "Balloon config error: ", .action = api_put_stored},
    {HTTP_PUT, "boot-source", ANY, ANY, BODY_YES, .kind = CFG_RES_boot_source, .gate = GATE_PRE,
     .boot_specific = true, .count = PUT_N(boot_source_count), .fails = PUT_N(boot_source_fails),
     .prefix = "Boot source error: ", .action = api_put_boot},
    {HTTP_PUT, "cpu-config", ANY, ANY, BODY_YES, .kind = CFG_RES_cpu_config, .gate = GATE_PRE,
     .count = PUT_N(cpu_cfg_count), .fails = PUT_N(cpu_cfg_fails),
     .prefix = "Configure CPU error: ", .action = api_put_stored},
    {HTTP_PUT, "drives", ID, ANY, BODY_YES, .kind = CFG_RES_drives, .gate = GATE_PCI,
     .boot_specific = true, .count = PUT_N(drive_count), .fails = PUT_N(drive_fails),
     .prefix = "Drive config error: ", .action = api_put_drive},
    {HTTP_PUT, "pmem", ID, ANY, BODY_YES, .kind = CFG_RES_pmems, .gate = GATE_PCI,
     .boot_specific = true, .count = PUT_N(pmem_count), .fails = PUT_N(pmem_fails),
     .prefix = "Pmem config error: ", .action = api_put_stored},
    {HTTP_PUT, "logger", ANY, ANY, BODY_YES, .kind = CFG_RES_logger, .gate = GATE_PRE,
     .count = PUT_N(logger_count), .fails = PUT_N(logger_fails),
     .prefix = "Logger error: ", .action = api_put_logger},
    {HTTP_PUT, "serial", ANY, ANY, BODY_YES, .kind = CFG_RES_serial, .gate = GATE_PRE,
     .count = PUT_N(serial_count), .fails = PUT_N(serial_fails), .prefix = "",
     .action = api_put_stored},
    {HTTP_PUT, "machine-config", ANY, ANY, BODY_YES, .decode = api_decode_machine,
     .kind = CFG_RES_machine, .gate = GATE_PRE, .boot_specific = true,
     .count = PUT_N(machine_cfg_count), .fails = PUT_N(machine_cfg_fails),
     .prefix = "Machine config error: ", .action = api_put_machine},
    {HTTP_PUT, "metrics", ANY, ANY, BODY_YES, .kind = CFG_RES_metrics, .gate = GATE_PRE,
     .count = PUT_N(metrics_count), .fails = PUT_N(metrics_fails),
     .prefix = "Metrics error: ", .action = api_put_metrics},
    {HTTP_PUT, "mmds", NONE, ANY, BODY_YES, .kind = -1, .count = PUT_N(mmds_count),
     .fails = PUT_N(mmds_fails), .action = api_put_mmds},
    {HTTP_PUT, "mmds", "config", ANY, BODY_YES, .decode = api_decode_mmds_config,
     .kind = CFG_RES_mmds, .gate = GATE_PRE, .boot_specific = true, .fails = PUT_N(mmds_fails),
     .prefix = "MMMDS config error: ", .action = api_put_mmds_config},
    {HTTP_PUT, "mmds", ANY, ANY, BODY_YES, .kind = -1, .fails = PUT_N(mmds_fails),
     .refuse = "Unrecognized PUT request path `%s`."},
    {HTTP_PUT, "network-interfaces", ID, ANY, BODY_YES, .kind = CFG_RES_nets, .gate = GATE_PCI,
     .boot_specific = true, .count = PUT_N(network_count), .fails = PUT_N(network_fails),
     .prefix = "Network config error: ", .action = api_put_stored},
    {HTTP_PUT, "snapshot", NONE, ANY, BODY_YES, .kind = -1,
     .refuse = "Missing snapshot operation type."},
    {HTTP_PUT, "snapshot", "create", ANY, BODY_YES, .kind = CFG_BODY_SNAPSHOT_CREATE,
     .gate = GATE_POST, .action = api_put_snapshot_create},
    {HTTP_PUT, "snapshot", "load", ANY, BODY_YES, .decode = api_decode_snapshot_load,
     .kind = CFG_BODY_SNAPSHOT_LOAD, .gate = GATE_PRE, .action = api_put_snapshot_load},
    {HTTP_PUT, "snapshot", ANY, ANY, BODY_YES, .kind = -1, .refuse = "/snapshot/%s"},
    {HTTP_PUT, "vsock", ANY, ANY, BODY_YES, .decode = api_decode_vsock, .kind = CFG_RES_vsock,
     .gate = GATE_PRE, .boot_specific = true, .count = PUT_N(vsock_count),
     .fails = PUT_N(vsock_fails), .prefix = "Vsock config error: ", .action = api_put_stored},
    {HTTP_PUT, "entropy", ANY, ANY, BODY_YES, .kind = CFG_RES_entropy, .gate = GATE_PRE,
     .boot_specific = true, .prefix = "Entropy config error: ", .action = api_put_stored},
    {HTTP_PUT, "hotplug", "memory", ANY, BODY_YES, .kind = CFG_RES_hotplug, .gate = GATE_PRE,
     .boot_specific = true, .count = PUT_N(hotplug_memory_count),
     .fails = PUT_N(hotplug_memory_fails),
     .prefix = "Memory hotplug config error: ", .action = api_put_stored},

    /* ---- PATCH ---- */
    {HTTP_PATCH, "balloon", "statistics", ANY, BODY_YES, .kind = CFG_BODY_BALLOON_STATS,
     .gate = GATE_POST, .prefix = "Balloon update error: ", .action = api_patch_balloon_stats},
    {HTTP_PATCH, "balloon", "hinting", "start", BODY_OPT, .kind = CFG_BODY_HINTING,
     .gate = GATE_POST, .prefix = "Balloon update error: ", .action = api_balloon_hinting},
    {HTTP_PATCH, "balloon", "hinting", "stop", BODY_IGNORE, .kind = -1, .gate = GATE_POST,
     .prefix = "Balloon update error: ", .action = api_balloon_hinting},
    {HTTP_PATCH, "balloon", "hinting", ANY, BODY_IGNORE, .kind = -1,
     .refuse = "Unrecognized PATCH request path `/hinting/%s`."},
    {HTTP_PATCH, "balloon", ANY, ANY, BODY_YES, .kind = CFG_BODY_BALLOON_PATCH, .gate = GATE_POST,
     .prefix = "Balloon update error: ", .action = api_patch_balloon},
    {HTTP_PATCH, "drives", ID, ANY, BODY_YES, .kind = CFG_BODY_DRIVE_PATCH, .gate = GATE_POST,
     .count = PATCH_N(drive_count), .fails = PATCH_N(drive_fails),
     .prefix = "Drive config error: ", .action = api_patch_drive},
    {HTTP_PATCH, "machine-config", ANY, ANY, BODY_YES, .decode = api_decode_machine_patch,
     .kind = CFG_BODY_MACHINE_PATCH, .gate = GATE_PRE, .boot_specific = true,
     .count = PATCH_N(machine_cfg_count), .fails = PATCH_N(machine_cfg_fails),
     .prefix = "Machine config error: ", .action = api_patch_machine},
    {HTTP_PATCH, "mmds", ANY, ANY, BODY_YES, .kind = -1, .count = PATCH_N(mmds_count),
     .fails = PATCH_N(mmds_fails), .action = api_patch_mmds},
    {HTTP_PATCH, "network-interfaces", ID, ANY, BODY_YES, .kind = CFG_BODY_NET_PATCH,
     .gate = GATE_POST, .count = PATCH_N(network_count), .fails = PATCH_N(network_fails),
     .prefix = "Network config error: ", .action = api_patch_net},
    {HTTP_PATCH, "pmem", ID, ANY, BODY_YES, .kind = CFG_BODY_PMEM_PATCH, .gate = GATE_POST,
     .count = PATCH_N(pmem_count), .fails = PATCH_N(pmem_fails),
     .prefix = "Pmem config error: ", .action = api_patch_pmem},
    {HTTP_PATCH, "vm", ANY, ANY, BODY_YES, .kind = CFG_BODY_VM_STATE, .gate = GATE_POST,
     .action = api_patch_vm},
    {HTTP_PATCH, "hotplug", "memory", ANY, BODY_YES, .kind = CFG_BODY_HOTPLUG_PATCH,
     .gate = GATE_POST, .count = PATCH_N(hotplug_memory_count),
     .fails = PATCH_N(hotplug_memory_fails),
     .prefix = "Memory hotplug update error: ", .action = api_mem_hotplug},

    /* ---- DELETE (hot-unplug needs PCI, which brasa does not emulate yet) ---- */
    {HTTP_DELETE, "drives", ID, ANY, BODY_NO, .kind = -1, .gate = GATE_POST, .action = api_no_pci},
    {HTTP_DELETE, "pmem", ID, ANY, BODY_NO, .kind = -1, .gate = GATE_POST, .action = api_no_pci},
    {HTTP_DELETE, "network-interfaces", ID, ANY, BODY_NO, .kind = -1, .gate = GATE_POST,
     .action = api_no_pci},
    {.p0 = NULL},
};
