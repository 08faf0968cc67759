/* Unit tests for the VM configuration: config file, boot source, machine config (src/model/). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/config.h"

/* A regular file for drives to open (a drive must be a regular file or block device). */
#define UNIT_DRIVE "unit-drive.img"

static int make_unit_drive(void)
{
        int fd = open(UNIT_DRIVE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        close(fd);
        return 0;
}

#define MSG_VCPUS                                                                                  \
        "The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even "       \
        "number if SMT is enabled."
#define MSG_MEM "The memory size (MiB) is either 0, or not a multiple of the configured page size."

/* Firecracker's tests/framework/vm_config.json, drives emptied. */
static const char VALID_FILE[] = "{\n"
                                 "  \"boot-source\": {\n"
                                 "    \"kernel_image_path\": \"vmlinux.bin\",\n"
                                 "    \"boot_args\": \"console=ttyS0 reboot=k panic=1\",\n"
                                 "    \"initrd_path\": null\n"
                                 "  },\n"
                                 "  \"drives\": [],\n"
                                 "  \"machine-config\": {\n"
                                 "    \"vcpu_count\": 2,\n"
                                 "    \"mem_size_mib\": 1024,\n"
                                 "    \"smt\": false,\n"
                                 "    \"track_dirty_pages\": false,\n"
                                 "    \"huge_pages\": \"None\"\n"
                                 "  },\n"
                                 "  \"cpu-config\": null,\n"
                                 "  \"balloon\": null,\n"
                                 "  \"network-interfaces\": [],\n"
                                 "  \"vsock\": null,\n"
                                 "  \"logger\": null,\n"
                                 "  \"metrics\": null,\n"
                                 "  \"mmds-config\": null,\n"
                                 "  \"entropy\": null,\n"
                                 "  \"pmem\": [],\n"
                                 "  \"memory-hotplug\": null\n"
                                 "}\n";

#define BOOT "\"boot-source\": {\"kernel_image_path\": \"k\"}"

static struct err fault;

static int parse_file(const char *text, struct vm_config *cfg)
{
        err_clear(&fault);
        config_init(cfg);
        return config_parse_file(text, strlen(text), cfg, &fault);
}

/* Parses a whole file, expects rc and (if non-NULL) a message substring. */
static void file_fails(const char *text, int rc, const char *sub)
{
        struct vm_config cfg;

        assert_int_equal(parse_file(text, &cfg), rc);
        if (sub && !strstr(fault.msg, sub))
                fail_msg("message \"%s\" lacks \"%s\"", fault.msg, sub);
        assert_null(strchr(fault.msg, '\n'));
        assert_false(cfg.has_boot_source);
        assert_null(cfg.boot.kernel_image_path);
        assert_int_equal(cfg.machine.vcpu_count, 1);
        config_free(&cfg);
}

static int parse_mc(const char *json, struct machine_cfg *out)
{
        json_error_t jerr;
        json_t *body = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
        int rc;

        if (!body)
                fail_msg("bad test JSON: %s", jerr.text);
        err_clear(&fault);
        rc = config_parse_machine_config(body, out, &fault);
        json_decref(body);
        return rc;
}

static void mc_fails(const char *json, int rc, const char *sub)
{
        struct machine_cfg m;

        config_machine_defaults(&m);
        m.vcpu_count = 7; /* must stay untouched */
        assert_int_equal(parse_mc(json, &m), rc);
        if (!strstr(fault.msg, sub))
                fail_msg("message \"%s\" lacks \"%s\"", fault.msg, sub);
        assert_null(strchr(fault.msg, '\n'));
        assert_int_equal(m.vcpu_count, 7);
}

static void mc_ok(const char *json, struct machine_cfg *m)
{
        if (parse_mc(json, m))
                fail_msg("%s rejected: %s", json, fault.msg);
}

static void test_defaults(void **state)
{
        struct vm_config cfg;

        (void)state;
        config_init(&cfg);
        assert_false(cfg.has_boot_source);
        assert_null(cfg.boot.kernel_image_path);
        assert_int_equal(cfg.machine.vcpu_count, 1);
        assert_int_equal(cfg.machine.mem_size_mib, 128);
        assert_false(cfg.machine.smt);
        assert_false(cfg.machine.track_dirty_pages);
        assert_int_equal(cfg.machine.huge_pages, HUGE_PAGES_NONE);
        config_free(&cfg);
}

static void test_valid_file(void **state)
{
        struct vm_config cfg;

        (void)state;
        assert_int_equal(parse_file(VALID_FILE, &cfg), 0);
        assert_true(cfg.has_boot_source);
        assert_string_equal(cfg.boot.kernel_image_path, "vmlinux.bin");
        assert_string_equal(cfg.boot.boot_args, "console=ttyS0 reboot=k panic=1");
        assert_null(cfg.boot.initrd_path);
        assert_int_equal(cfg.machine.vcpu_count, 2);
        assert_int_equal(cfg.machine.mem_size_mib, 1024);
        assert_false(cfg.machine.smt);
        config_free(&cfg);
        assert_null(cfg.boot.kernel_image_path);
}

static void test_minimal_file_defaults(void **state)
{
        struct vm_config cfg;

        (void)state;
        assert_int_equal(parse_file("{" BOOT ", \"machine-config\": null}", &cfg), 0);
        assert_string_equal(cfg.boot.kernel_image_path, "k");
        assert_null(cfg.boot.boot_args);
        assert_null(cfg.boot.initrd_path);
        assert_int_equal(cfg.machine.vcpu_count, 1);
        assert_int_equal(cfg.machine.mem_size_mib, 128);
        config_free(&cfg);
}

static void test_boot_source_fields(void **state)
{
        struct vm_config cfg;

        (void)state;
        assert_int_equal(parse_file("{\"boot-source\": {\"kernel_image_path\": \"/k\", "
                                    "\"boot_args\": \"\", \"initrd_path\": \"/i\"}}",
                                    &cfg),
                         0);
        assert_string_equal(cfg.boot.boot_args, "");
        assert_string_equal(cfg.boot.initrd_path, "/i");
        config_free(&cfg);
        file_fails("{\"boot-source\": {\"boot_args\": \"x\"}}", -EBADMSG,
                   "missing field `kernel_image_path` at line 1 column 34");
        file_fails("{\"boot-source\": {\"kernel_image_path\": null}}", -EBADMSG,
                   "invalid type: null, expected a string at line 1 column 42");
        file_fails("{\"boot-source\": {\"kernel_image_path\": \"k\", \"initrd\": \"i\"}}", -EBADMSG,
                   "unknown field `initrd`, expected one of `kernel_image_path`, `initrd_path`, "
                   "`boot_args` at line 1 column 51");
        file_fails("{\"boot-source\": null}", -EBADMSG,
                   "invalid type: null, expected struct BootSourceConfig at line 1 column 20");
}

static void test_boot_source_api(void **state)
{
        struct boot_source_cfg b = {0};
        json_t *body;

        (void)state;
        body = json_loads("{\"kernel_image_path\": \"/k\", \"boot_args\": null}", 0, NULL);
        assert_int_equal(config_parse_boot_source(body, &b, &fault), 0);
        assert_string_equal(b.kernel_image_path, "/k");
        assert_null(b.boot_args);
        json_decref(body);
        body = json_loads("{\"boot_args\": \"x\"}", 0, NULL);
        assert_int_equal(config_parse_boot_source(body, &b, &fault), -EBADMSG);
        assert_string_equal(fault.msg, "missing field `kernel_image_path`");
        assert_string_equal(b.kernel_image_path, "/k"); /* untouched on failure */
        json_decref(body);
        body = json_loads("{\"kernel_image_path\": 5}", 0, NULL);
        assert_int_equal(config_parse_boot_source(body, &b, &fault), -EBADMSG);
        assert_string_equal(fault.msg, "invalid type: integer `5`, expected a string");
        json_decref(body);
        config_boot_source_free(&b);
}

static void test_vcpu_range(void **state)
{
        struct machine_cfg m;

        (void)state;
        mc_fails("{\"vcpu_count\": 0, \"mem_size_mib\": 128}", -EINVAL, MSG_VCPUS);
        mc_ok("{\"vcpu_count\": 1, \"mem_size_mib\": 128}", &m);
        assert_int_equal(m.vcpu_count, 1);
        mc_ok("{\"vcpu_count\": 32, \"mem_size_mib\": 128}", &m);
        assert_int_equal(m.vcpu_count, 32);
        mc_fails("{\"vcpu_count\": 33, \"mem_size_mib\": 128}", -EINVAL, MSG_VCPUS);
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": 33, \"mem_size_mib\": 128}}",
                   -EINVAL, "VM config error: " MSG_VCPUS);
}

static void test_mem_size(void **state)
{
        struct machine_cfg m;

        (void)state;
        mc_fails("{\"vcpu_count\": 1, \"mem_size_mib\": 0}", -EINVAL, MSG_MEM);
        /* Any size is taken, as Firecracker takes it; InstanceStart finds out (below). */
        mc_ok("{\"vcpu_count\": 1, \"mem_size_mib\": 300000}", &m);
        assert_int_equal(m.mem_size_mib, 300000);
        mc_ok("{\"vcpu_count\": 1, \"mem_size_mib\": 9223372036854775807}", &m);
        assert_true(m.mem_size_mib == INT64_MAX);
        assert_int_equal(config_check_mem_limit(261120, &fault), 0);
        assert_int_equal(config_check_mem_limit(261121, &fault), -ENOMEM);
        assert_int_equal(config_check_mem_limit(UINT64_MAX, &fault), -ENOMEM);
        assert_string_equal(fault.msg, "Invalid Memory Configuration: Cannot create mmap region: "
                                       "Out of memory (os error 12)");
        assert_int_equal(fault.rc, -ENOMEM);
        assert_int_equal(config_check_mem_limit(UINT64_MAX, NULL), -ENOMEM);
}

static void test_wrong_types(void **state)
{
        (void)state;
        mc_fails("{\"vcpu_count\": \"2\", \"mem_size_mib\": 128}", -EBADMSG,
                 "invalid type: string \"2\", expected u8");
        mc_fails("{\"vcpu_count\": 2.0, \"mem_size_mib\": 128}", -EBADMSG,
                 "invalid type: floating point `2.0`, expected u8");
        mc_fails("{\"vcpu_count\": 2.5, \"mem_size_mib\": 128}", -EBADMSG,
                 "invalid type: floating point `2.5`, expected u8");
        mc_fails("{\"vcpu_count\": -1, \"mem_size_mib\": 128}", -EBADMSG,
                 "invalid value: integer `-1`, expected u8");
        mc_fails("{\"vcpu_count\": 256, \"mem_size_mib\": 128}", -EBADMSG,
                 "invalid value: integer `256`, expected u8");
        mc_fails("{\"vcpu_count\": 1, \"mem_size_mib\": -2}", -EBADMSG,
                 "invalid value: integer `-2`, expected usize");
        mc_fails("{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"smt\": \"random_string\"}", -EBADMSG,
                 "invalid type: string \"random_string\", expected a boolean");
        mc_fails("{\"vcpu_count\": null, \"mem_size_mib\": 1}", -EBADMSG,
                 "invalid type: null, expected u8");
        mc_fails("{\"vcpu_count\": [1], \"mem_size_mib\": 1}", -EBADMSG,
                 "invalid type: sequence, expected u8");
        mc_fails("{\"vcpu_count\": 1, \"mem_size_mib\": {}}", -EBADMSG,
                 "invalid type: map, expected usize");
        mc_fails("{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"huge_pages\": 2}", -EBADMSG,
                 "invalid type: integer `2`, expected enum HugePageConfig");
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": true, \"mem_size_mib\": 1}}",
                   -EBADMSG, "Invalid JSON: invalid type: boolean `true`, expected u8 ");
        file_fails("{" BOOT ", \"machine-config\": 5}", -EBADMSG,
                   "invalid type: integer `5`, expected struct MachineConfig ");
        file_fails("[]", -EBADMSG,
                   "Invalid JSON: invalid type: sequence, expected struct VmmConfig");
        file_fails("{" BOOT ", \"drives\": {}}", -EBADMSG,
                   "invalid type: map, expected a sequence");
        file_fails("{" BOOT ", \"vsock\": 3}", -EBADMSG,
                   "invalid type: integer `3`, expected struct VsockDeviceConfig");
        file_fails("{" BOOT ", \"cpu-config\": 3}", -EBADMSG,
                   "data did not match any variant of untagged enum CustomCpuTemplateOrPath");
        /* An inline template that fails its own checks fails both variants of the enum. */
        file_fails("{" BOOT ", \"cpu-config\": {\"foo\": 1}}", -EBADMSG,
                   "data did not match any variant of untagged enum CustomCpuTemplateOrPath");
        file_fails("{" BOOT ", \"cpu-config\": {\"kvm_capabilities\": [\"x\"]}}", -EBADMSG,
                   "data did not match any variant of untagged enum CustomCpuTemplateOrPath");
}

static void test_echo_is_one_line(void **state)
{
        char long_str[300];

        (void)state;
        mc_fails("{\"vcpu_count\": \"a\\nb\\\"c\", \"mem_size_mib\": 1}", -EBADMSG,
                 "string \"a\\nb\\\"c\"");
        memset(long_str, 0, sizeof(long_str));
        strcpy(long_str, "{\"vcpu_count\": \"");
        memset(long_str + strlen(long_str), 'x', 200);
        strcat(long_str, "\", \"mem_size_mib\": 1}");
        mc_fails(long_str, -EBADMSG, "xxx...\", expected u8");
        mc_fails("{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"a\\u0001\": 1}", -EBADMSG,
                 "unknown field `a\\u{1}`");
}

static void test_unknown_fields(void **state)
{
        (void)state;
        mc_fails("{\"vcpu_count\": 1, \"mem_size_mib\": 1, \"foo\": 1}", -EBADMSG,
                 "unknown field `foo`, expected one of `vcpu_count`, `mem_size_mib`, `smt`, "
                 "`cpu_template`, `track_dirty_pages`, `huge_pages`");
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 1, "
                   "\"vcpu\": 2}}",
                   -EBADMSG, "Invalid JSON: unknown field `vcpu`, expected one of `vcpu_count`");
}

/* VmmConfig has no deny_unknown_fields: an unknown top-level key is skipped, whatever it holds. */
static void test_unknown_top_level_keys_ignored(void **state)
{
        struct vm_config cfg;

        (void)state;
        assert_int_equal(
            parse_file("{" BOOT ", \"foo\": null, \"bar\": {\"x\": [1, \"y\"]}}", &cfg), 0);
        assert_string_equal(cfg.boot.kernel_image_path, "k");
        config_free(&cfg);
        /* "serial" is #[serde(skip)] in VmmConfig: ignored as unknown, not applied. */
        assert_int_equal(parse_file("{" BOOT ", \"serial\": {\"serial_out_path\": 5}}", &cfg), 0);
        config_free(&cfg);
        /* Still an object; still needs boot-source. */
        file_fails("{\"foo\": 1}", -EBADMSG, "missing field `boot-source`");
}

static void test_missing_fields(void **state)
{
        (void)state;
        mc_fails("{\"mem_size_mib\": 128}", -EBADMSG, "missing field `vcpu_count`");
        mc_fails("{\"vcpu_count\": 2}", -EBADMSG, "missing field `mem_size_mib`");
        file_fails("{\"machine-config\": null}", -EBADMSG,
                   "Invalid JSON: missing field `boot-source` at line 1 column 24");
        file_fails("{}", -EBADMSG, "missing field `boot-source`");
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": 2}}", -EBADMSG,
                   "missing field `mem_size_mib`");
}

static void test_invalid_json(void **state)
{
        struct vm_config cfg;

        (void)state;
        file_fails("{\"boot-source\": ", -EBADMSG, "Invalid JSON: ");
        file_fails("{\"boot-source\": ", -EBADMSG, " at line 1 column ");
        file_fails("", -EBADMSG, "at line");
        file_fails("{" BOOT "} trailing", -EBADMSG, "end of file expected");
        file_fails("{\n" BOOT ",\n \"machine-config\": {\"vcpu_count\": 1,}\n}", -EBADMSG,
                   "at line 3 column");
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": "
                   "18446744073709551616}}",
                   -EBADMSG,
                   "Invalid JSON: invalid type: floating point `18446744073709552000.0`, expected "
                   "usize at line 1 column 116");
        /* u64::MAX itself is an integer to serde, and a valid MachineConfig. */
        if (parse_file("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": "
                       "18446744073709551615}}",
                       &cfg))
                fail_msg("u64::MAX: %s", fault.msg);
        assert_true(cfg.machine.mem_size_mib == UINT64_MAX);
        config_free(&cfg);
}

static void test_duplicate_keys(void **state)
{
        (void)state;
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": 1, \"vcpu_count\": 2, "
                   "\"mem_size_mib\": 128}}",
                   -EBADMSG, "duplicate object key");
        file_fails("{" BOOT ", " BOOT "}", -EBADMSG, "duplicate object key");
}

/* memory-hotplug: stored with Firecracker's defaults, accepted now that virtio-mem exists. */
static void hotplug_accepted(void)
{
        struct vm_config cfg;

        if (parse_file("{" BOOT ", \"memory-hotplug\": {\"total_size_mib\": 1024}}", &cfg))
                fail_msg("memory-hotplug: %s", fault.msg);
        assert_int_equal(config_check_supported(&cfg, &fault), 0);
        assert_true(cfg.mem_hotplug.present);
        assert_int_equal(cfg.mem_hotplug.total_size_mib, 1024);
        assert_int_equal(cfg.mem_hotplug.block_size_mib, 2);
        assert_int_equal(cfg.mem_hotplug.slot_size_mib, 128);
        config_free(&cfg);
}

/* The entropy section: stored, and accepted at InstanceStart now that virtio-rng exists. */
static void entropy_accepted(const char *text)
{
        struct vm_config cfg;

        if (parse_file(text, &cfg))
                fail_msg("%s: %s", text, fault.msg);
        assert_int_equal(config_check_supported(&cfg, &fault), 0);
        assert_true(cfg.entropy.present);
        assert_int_equal(cfg.entropy.rate_limiter.ops.size, 5);
        config_free(&cfg);
}

/*
 * The vsock section (virtio-vsock exists): its socket is bound and listening as it is
 * stored, as VsockUnixBackend::new() binds it; a path in use is Firecracker's bind error.
 */
static void vsock_accepted(void)
{
        char dir[] = "/tmp/brasa-vsock-XXXXXX", text[256], sock[64];
        struct vm_config cfg, cfg2;
        struct stat st;

        assert_non_null(mkdtemp(dir));
        snprintf(sock, sizeof(sock), "%s/v.sock", dir);
        snprintf(text, sizeof(text),
                 "{" BOOT ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"%s\"}}", sock);
        if (parse_file(text, &cfg))
                fail_msg("%s: %s", text, fault.msg);
        assert_int_equal(config_check_supported(&cfg, &fault), 0);
        assert_true(cfg.vsock.present && cfg.vsock.has_listener);
        assert_int_equal(stat(sock, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(parse_file(text, &cfg2), -EADDRINUSE);
        assert_non_null(strstr(fault.msg, "Cannot create backend for vsock device: Error binding "
                                          "to the host-side Unix socket: Address already in use "
                                          "(os error 98)"));
        config_free(&cfg2);
        config_free(&cfg);
        assert_int_equal(unlink(sock), 0); /* Firecracker leaves the socket file behind */
        assert_int_equal(rmdir(dir), 0);
}

static int null_tap_open(const char *name, struct err *e)
{
        (void)name;
        (void)e;
        return open("/dev/null", O_RDWR | O_CLOEXEC);
}

/* A template file: its own errors keep their message (it is parsed on its own). */
static void template_file_checks(void)
{
        char path[] = "/tmp/brasa-tmpl-XXXXXX", text[128];
        struct vm_config cfg;
        FILE *f;
        int fd;

        fd = mkstemp(path);
        assert_true(fd >= 0);
        f = fdopen(fd, "w");
        assert_non_null(f);
        fputs("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b2\"}]}", f);
        fclose(f);
        snprintf(text, sizeof(text), "{" BOOT ", \"cpu-config\": \"%s\"}", path);
        file_fails(
            text, -EBADMSG,
            "Invalid JSON: Failed to parse string [0b2] as a bitmap - unknown character: 50");
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("{\"msr_modifiers\": [{\"addr\": \"0x10a\", \"bitmap\": \"0b1\"}]}", f);
        fclose(f);
        assert_int_equal(parse_file(text, &cfg), 0);
        assert_true(cfg.cpu.present);
        assert_int_equal(cfg.cpu.t.n_msrs, 1);
        assert_int_equal(cfg.cpu.t.msrs[0].addr, 0x10a);
        config_free(&cfg);
        unlink(path);
}

static void test_unsupported_sections(void **state)
{
        struct vm_config cfg;

        (void)state;
        /* Drives have their device (virtio-block): stored and accepted. */
        if (parse_file("{" BOOT ", \"drives\": [{\"drive_id\": \"rootfs\", "
                       "\"is_root_device\": true, \"path_on_host\": \"" UNIT_DRIVE "\"}]}",
                       &cfg))
                fail_msg("drives: %s", fault.msg);
        assert_int_equal(config_check_supported(&cfg, &fault), 0); /* virtio-block */
        config_free(&cfg);
        /* Network interfaces have theirs (virtio-net): accepted; the tap opens as it is
         * stored (here a stand-in for it). */
        config_set_tap_open(null_tap_open);
        if (parse_file("{" BOOT ", \"network-interfaces\": [{\"iface_id\": \"n\", "
                       "\"host_dev_name\": \"tap0\"}]}",
                       &cfg))
                fail_msg("network-interfaces: %s", fault.msg);
        assert_int_equal(config_check_supported(&cfg, &fault), 0); /* virtio-net */
        assert_true(cfg.nets[0].has_tap);
        config_free(&cfg);
        config_set_tap_open(NULL);
        /* Stored by the parser, accepted by config_check_supported() now that their devices exist.
         */
        entropy_accepted("{" BOOT ", \"entropy\": {\"rate_limiter\": {\"ops\": "
                         "{\"size\": 5, \"refill_time\": 10}}}}");
        vsock_accepted();
        hotplug_accepted();
        file_fails("{" BOOT ", \"cpu-config\": \"/nonexistent/t.json\"}", -EINVAL,
                   "File operation error");
        template_file_checks();
        file_fails("{" BOOT ", \"network-interfaces\": [{}]}", -EBADMSG,
                   "missing field `iface_id`");
        file_fails("{" BOOT ", \"memory-hotplug\": {}}", -EBADMSG,
                   "missing field `total_size_mib`");
        /* Firecracker's apply order: logger before machine-config. */
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 1}, "
                   "\"logger\": {\"level\": \"Loud\"}}",
                   -EBADMSG, "Invalid LevelFilter");
        file_fails("{" BOOT ", \"machine-config\": {\"vcpu_count\": 0, \"mem_size_mib\": 1}, "
                   "\"logger\": {\"level\": \"Info\"}}",
                   -EINVAL, MSG_VCPUS);
}

static void test_null_sections(void **state)
{
        static const char *const keys[] = {
            "balloon",        "drives",  "cpu-config",  "logger",
            "machine-config", "metrics", "mmds-config", "network-interfaces",
            "vsock",          "entropy", "pmem",        "memory-hotplug"};
        struct vm_config cfg;
        char text[256];
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
                snprintf(text, sizeof(text), "{" BOOT ", \"%s\": null}", keys[i]);
                if (parse_file(text, &cfg))
                        fail_msg("%s: %s", text, fault.msg);
                config_free(&cfg);
        }
}

static void test_machine_options(void **state)
{
        struct machine_cfg m;

        (void)state;
        mc_ok("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"track_dirty_pages\": true, "
              "\"huge_pages\": \"None\", \"cpu_template\": \"None\", \"smt\": false}",
              &m);
        assert_true(m.track_dirty_pages);
        assert_int_equal(m.mem_size_mib, 256);
        mc_ok("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpu_template\": null}", &m);
        assert_false(m.track_dirty_pages);
        mc_ok("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"huge_pages\": \"2M\"}", &m);
        assert_int_equal(m.huge_pages, HUGE_PAGES_2M);
        mc_ok("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"huge_pages\": \"Transparent\"}", &m);
        assert_int_equal(m.huge_pages, HUGE_PAGES_TRANSPARENT);
        mc_fails("{\"vcpu_count\": 2, \"mem_size_mib\": 255, \"huge_pages\": \"Transparent\"}",
                 -EINVAL, MSG_MEM);
        mc_fails("{\"vcpu_count\": 2, \"mem_size_mib\": 257, \"huge_pages\": \"2M\"}", -EINVAL,
                 MSG_MEM);
        mc_fails("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"huge_pages\": \"4M\"}", -EBADMSG,
                 "unknown variant `4M`, expected one of `None`, `Transparent`, `2M`");
        /* Static templates are checked against the host at InstanceStart, as in Firecracker. */
        mc_ok("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpu_template\": \"T2\"}", &m);
        assert_true(m.has_cpu_template);
        mc_fails("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"cpu_template\": \"V1N1\"}", -EBADMSG,
                 "unknown variant `V1N1`, expected one of `C3`, `T2`, `T2S`, `None`, `T2CL`, "
                 "`T2A`");
        mc_ok("{\"vcpu_count\": 2, \"mem_size_mib\": 256, \"smt\": true}", &m);
        assert_true(m.smt);
        mc_ok("{\"vcpu_count\": 1, \"mem_size_mib\": 256, \"smt\": true}", &m);
        mc_fails("{\"vcpu_count\": 3, \"mem_size_mib\": 256, \"smt\": true}", -EINVAL, MSG_VCPUS);
}

static void test_patch(void **state)
{
        struct machine_cfg m;
        json_t *body;

        (void)state;
        config_machine_defaults(&m);
        body = json_loads("{}", 0, NULL);
        assert_int_equal(config_patch_machine_config(body, &m, &fault), -ENODATA);
        json_decref(body);
        body = json_loads("{\"vcpu_count\": null}", 0, NULL);
        assert_int_equal(config_patch_machine_config(body, &m, &fault), -ENODATA);
        json_decref(body);
        body = json_loads("{\"mem_size_mib\": 512, \"track_dirty_pages\": true}", 0, NULL);
        assert_int_equal(config_patch_machine_config(body, &m, &fault), 0);
        json_decref(body);
        assert_int_equal(m.mem_size_mib, 512);
        assert_int_equal(m.vcpu_count, 1);
        assert_true(m.track_dirty_pages);
        body = json_loads("{\"mem_size_mib\": 0}", 0, NULL);
        assert_int_equal(config_patch_machine_config(body, &m, &fault), -EINVAL);
        assert_string_equal(fault.msg, MSG_MEM);
        json_decref(body);
        assert_int_equal(m.mem_size_mib, 512);
        body = json_loads("{\"foo\": 1}", 0, NULL);
        assert_int_equal(config_patch_machine_config(body, &m, &fault), -EBADMSG);
        assert_non_null(strstr(fault.msg, "unknown field `foo`"));
        json_decref(body);
}

static void test_to_json_round_trip(void **state)
{
        static const char *const order[] = {
            "balloon",        "drives",  "boot-source",   "cpu-config",         "logger",
            "machine-config", "metrics", "mmds-config",   "network-interfaces", "vsock",
            "entropy",        "pmem",    "memory-hotplug"};
        struct vm_config cfg, again;
        json_t *j, *bs, *mc;
        const char *key;
        json_t *v;
        size_t i = 0;
        char *text;

        (void)state;
        assert_int_equal(parse_file(VALID_FILE, &cfg), 0);
        j = config_to_json(&cfg);
        assert_non_null(j);
        json_object_foreach(j, key, v)
        {
                assert_true(i < sizeof(order) / sizeof(order[0]));
                assert_string_equal(key, order[i++]);
        }
        assert_int_equal(i, sizeof(order) / sizeof(order[0]));
        assert_true(json_is_null(json_object_get(j, "balloon")));
        assert_int_equal(json_array_size(json_object_get(j, "drives")), 0);
        assert_true(json_is_array(json_object_get(j, "pmem")));
        bs = json_object_get(j, "boot-source");
        assert_string_equal(json_string_value(json_object_get(bs, "kernel_image_path")),
                            "vmlinux.bin");
        assert_true(json_is_null(json_object_get(bs, "initrd_path")));
        mc = json_object_get(j, "machine-config");
        assert_int_equal(json_integer_value(json_object_get(mc, "vcpu_count")), 2);
        assert_int_equal(json_integer_value(json_object_get(mc, "mem_size_mib")), 1024);
        assert_true(json_is_false(json_object_get(mc, "smt")));
        assert_true(json_is_false(json_object_get(mc, "track_dirty_pages")));
        assert_string_equal(json_string_value(json_object_get(mc, "huge_pages")), "None");
        assert_null(json_object_get(mc, "cpu_template"));

        /* What GET /vm/config returns is a config file brasa accepts, giving the same. */
        text = json_dumps(j, 0);
        assert_non_null(text);
        assert_int_equal(parse_file(text, &again), 0);
        assert_string_equal(again.boot.kernel_image_path, cfg.boot.kernel_image_path);
        assert_string_equal(again.boot.boot_args, cfg.boot.boot_args);
        assert_memory_equal(&again.machine, &cfg.machine, sizeof(cfg.machine));
        free(text);
        json_decref(j);
        config_free(&again);
        config_free(&cfg);

        /* No boot source yet: Firecracker's default BootSourceConfig. */
        config_init(&cfg);
        j = config_to_json(&cfg);
        bs = json_object_get(j, "boot-source");
        assert_string_equal(json_string_value(json_object_get(bs, "kernel_image_path")), "");
        assert_true(json_is_null(json_object_get(bs, "boot_args")));
        json_decref(j);
}

static void test_err_without_buffer(void **state)
{
        struct vm_config cfg;

        (void)state;
        config_init(&cfg);
        assert_int_equal(config_parse_file("{}", 2, &cfg, &fault), -EBADMSG);
        assert_string_equal(fault.msg,
                            "Invalid JSON: missing field `boot-source` at line 1 column 2");
        assert_int_equal(config_parse_file("{}", 2, &cfg, NULL), -EBADMSG);
        /* Not NUL-terminated input: only len bytes are read. */
        assert_int_equal(config_parse_file("{" BOOT "}garbage", strlen("{" BOOT "}"), &cfg, &fault),
                         0);
        config_free(&cfg);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_defaults),
            cmocka_unit_test(test_valid_file),
            cmocka_unit_test(test_minimal_file_defaults),
            cmocka_unit_test(test_boot_source_fields),
            cmocka_unit_test(test_boot_source_api),
            cmocka_unit_test(test_vcpu_range),
            cmocka_unit_test(test_mem_size),
            cmocka_unit_test(test_wrong_types),
            cmocka_unit_test(test_echo_is_one_line),
            cmocka_unit_test(test_unknown_fields),
            cmocka_unit_test(test_unknown_top_level_keys_ignored),
            cmocka_unit_test(test_missing_fields),
            cmocka_unit_test(test_invalid_json),
            cmocka_unit_test(test_duplicate_keys),
            cmocka_unit_test(test_unsupported_sections),
            cmocka_unit_test(test_null_sections),
            cmocka_unit_test(test_machine_options),
            cmocka_unit_test(test_patch),
            cmocka_unit_test(test_to_json_round_trip),
            cmocka_unit_test(test_err_without_buffer),
        };

        json_object_seed(1);
        if (make_unit_drive())
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
