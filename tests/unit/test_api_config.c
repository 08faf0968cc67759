/* Unit tests for the API resource models (src/model/drive.c, net.c, mmds.c, ...). */
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

#include <cmocka.h>

#include "core/tap.h"
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

static struct err fault;

static json_t *load(const char *text)
{
        json_error_t jerr;
        json_t *j = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);

        if (!j)
                fail_msg("bad test JSON %s: %s", text, jerr.text);
        return j;
}

static int put_drive(struct vm_config *cfg, const char *id, const char *text)
{
        json_t *j = load(text);
        int rc;

        err_clear(&fault);
        rc = config_put_drive(cfg, j, id, &fault);
        json_decref(j);
        return rc;
}

static void expect_err(int rc, int want, const char *sub)
{
        if (rc != want)
                fail_msg("rc %d, want %d (%s)", rc, want, fault.msg);
        if (sub && !strstr(fault.msg, sub))
                fail_msg("message \"%s\" lacks \"%s\"", fault.msg, sub);
}

#define DRIVE(id, root)                                                                            \
        "{\"drive_id\": \"" id "\", \"is_root_device\": " root ", "                                \
        "\"path_on_host\": \"" UNIT_DRIVE "\"}"

static void test_drive_put_order(void **state)
{
        struct vm_config cfg;

        (void)state;
        config_init(&cfg);
        assert_int_equal(put_drive(&cfg, "a", DRIVE("a", "false")), 0);
        assert_int_equal(put_drive(&cfg, "b", DRIVE("b", "false")), 0);
        assert_int_equal(put_drive(&cfg, "root", DRIVE("root", "true")), 0);
        assert_int_equal(cfg.nr_drives, 3);
        assert_string_equal(cfg.drives[0].drive_id, "root");
        assert_string_equal(cfg.drives[1].drive_id, "a");
        expect_err(put_drive(&cfg, "r2", DRIVE("r2", "true")), -EINVAL,
                   "A root block device already exists!");
        /* Replacing the root keeps it first; making "b" root swaps it to the front. */
        assert_int_equal(put_drive(&cfg, "root", DRIVE("root", "false")), 0);
        assert_int_equal(put_drive(&cfg, "b", DRIVE("b", "true")), 0);
        assert_string_equal(cfg.drives[0].drive_id, "b");
        assert_true(cfg.drives[0].is_root_device);
        assert_string_equal(cfg.drives[2].drive_id, "root");
        assert_int_equal(cfg.nr_drives, 3);
        config_free(&cfg);
        assert_int_equal(cfg.nr_drives, 0);
}

static void test_drive_fields(void **state)
{
        struct vm_config cfg;
        struct drive_cfg *d;

        (void)state;
        config_init(&cfg);
        assert_int_equal(put_drive(&cfg, "x",
                                   "{\"drive_id\": \"x\", \"is_root_device\": true, \"partuuid\": "
                                   "\"0eaa91a0-01\", \"cache_type\": \"Writeback\", "
                                   "\"is_read_only\": true, \"path_on_host\": \"" UNIT_DRIVE "\", "
                                   "\"io_engine\": \"Async\", \"rate_limiter\": {\"bandwidth\": "
                                   "{\"size\": 1000, \"refill_time\": 100, \"extra\": 1}, \"ops\": "
                                   "{\"size\": 0, \"refill_time\": 5, \"one_time_burst\": 7}}}"),
                         0);
        d = &cfg.drives[0];
        assert_string_equal(d->partuuid, "0eaa91a0-01");
        assert_int_equal(d->cache_type, DRIVE_CACHE_WRITEBACK);
        assert_int_equal(d->io_engine, DRIVE_IO_ASYNC);
        assert_true(d->is_read_only);
        assert_true(d->has_rate_limiter);
        assert_true(config_bucket_active(&d->rate_limiter.bandwidth));
        assert_int_equal(d->rate_limiter.bandwidth.size, 1000);
        assert_false(config_bucket_active(&d->rate_limiter.ops)); /* size 0 disables */
        config_free(&cfg);
}

static void test_drive_errors(void **state)
{
        struct vm_config cfg;

        (void)state;
        config_init(&cfg);
        expect_err(put_drive(&cfg, "y", DRIVE("x", "false")), -EXDEV,
                   "The id from the path does not match the id from the body!");
        expect_err(put_drive(&cfg, "x", "{\"drive_id\": \"x\"}"), -EBADMSG,
                   "missing field `is_root_device`");
        expect_err(put_drive(&cfg, "x", "{\"drive_id\": \"x\", \"is_root_device\": 1}"), -EBADMSG,
                   "invalid type: integer `1`, expected a boolean");
        expect_err(put_drive(&cfg, "x",
                             "{\"drive_id\": \"x\", \"is_root_device\": false, "
                             "\"foo\": 1}"),
                   -EBADMSG, "unknown field `foo`, expected one of `drive_id`, `partuuid`");
        expect_err(put_drive(&cfg, "x",
                             "{\"drive_id\": \"x\", \"is_root_device\": false, "
                             "\"cache_type\": \"None\"}"),
                   -EBADMSG, "unknown variant `None`, expected `Unsafe` or `Writeback`");
        expect_err(put_drive(&cfg, "x", "{\"drive_id\": \"x\", \"is_root_device\": false}"),
                   -EINVAL, "Unable to create the virtio block device: Invalid block config.");
        expect_err(put_drive(&cfg, "x",
                             "{\"drive_id\": \"x\", \"is_root_device\": false, "
                             "\"path_on_host\": \"/nonexistent/disk\"}"),
                   -EINVAL,
                   "Error manipulating the backing file: No such file or directory (os error 2) "
                   "/nonexistent/disk");
        expect_err(put_drive(&cfg, "x",
                             "{\"drive_id\": \"x\", \"is_root_device\": false, "
                             "\"socket\": \"/s\"}"),
                   -ENOTSUP, "not supported yet by brasa");
        expect_err(put_drive(&cfg, "x",
                             "{\"drive_id\": \"x\", \"is_root_device\": false, "
                             "\"path_on_host\": \"" UNIT_DRIVE "\", \"rate_limiter\": "
                             "{\"bandwidth\": {\"size\": -1, \"refill_time\": 1}}}"),
                   -EBADMSG, "invalid value: integer `-1`, expected u64");
        expect_err(put_drive(&cfg, "x",
                             "{\"drive_id\": \"x\", \"is_root_device\": false, "
                             "\"path_on_host\": \"" UNIT_DRIVE "\", \"rate_limiter\": "
                             "{\"bw\": {}}}"),
                   -EBADMSG, "unknown field `bw`, expected `bandwidth` or `ops`");
        expect_err(put_drive(&cfg, "x",
                             "{\"drive_id\": \"x\", \"is_root_device\": false, "
                             "\"path_on_host\": \"" UNIT_DRIVE "\", \"rate_limiter\": "
                             "{\"ops\": {\"size\": 1}}}"),
                   -EBADMSG, "missing field `refill_time`");
        assert_int_equal(cfg.nr_drives, 0);
        config_free(&cfg);
}

static void test_drive_patch(void **state)
{
        struct drive_update u;
        struct vm_config cfg;
        json_t *j;

        (void)state;
        config_init(&cfg);
        assert_int_equal(put_drive(&cfg, "a", DRIVE("a", "true")), 0);
        j = load("{\"drive_id\": \"a\", \"path_on_host\": \"/dev/zero\", \"rate_limiter\": "
                 "{\"ops\": {\"size\": 10, \"refill_time\": 1000}}}");
        assert_int_equal(config_patch_drive(&cfg, j, "a", &u, &fault), 0);
        json_decref(j);
        assert_string_equal(u.path_on_host, "/dev/zero");
        assert_int_equal(u.rate_limiter.ops_op, BUCKET_SET);
        assert_int_equal(u.rate_limiter.bandwidth_op, BUCKET_KEEP);
        assert_int_equal(config_apply_drive_update(&cfg, &u), 0);
        config_drive_update_free(&u);
        assert_string_equal(cfg.drives[0].path_on_host, "/dev/zero");
        assert_int_equal(cfg.drives[0].rate_limiter.ops.size, 10);

        j = load("{\"drive_id\": \"b\", \"path_on_host\": \"/dev/zero\"}");
        expect_err(config_patch_drive(&cfg, j, "b", &u, &fault), -ENOENT, "Device not found");
        expect_err(config_patch_drive(&cfg, j, "a", &u, &fault), -EXDEV, "does not match");
        json_decref(j);
        j = load("{\"drive_id\": \"a\", \"is_read_only\": true}");
        expect_err(config_patch_drive(&cfg, j, "a", &u, &fault), -EBADMSG,
                   "unknown field `is_read_only`, expected one of `drive_id`, `path_on_host`, "
                   "`rate_limiter`");
        json_decref(j);
        config_free(&cfg);
}

static void test_drives_in_file_and_json(void **state)
{
        static const char text[] =
            "{\"boot-source\": {\"kernel_image_path\": \"k\"}, \"drives\": ["
            "{\"drive_id\": \"data\", \"is_root_device\": false, \"path_on_host\": \"" UNIT_DRIVE
            "\"},"
            "{\"drive_id\": \"rootfs\", \"is_root_device\": true, \"path_on_host\": \"" UNIT_DRIVE
            "\", "
            "\"rate_limiter\": {\"bandwidth\": {\"size\": 5, \"refill_time\": 6}}}]}";
        struct vm_config cfg;
        json_t *j, *d;

        (void)state;
        config_init(&cfg);
        assert_int_equal(config_parse_file(text, strlen(text), &cfg, &fault), 0);
        assert_int_equal(cfg.nr_drives, 2);
        assert_string_equal(cfg.drives[0].drive_id, "rootfs");
        j = config_to_json(&cfg);
        d = json_array_get(json_object_get(j, "drives"), 0);
        assert_string_equal(json_string_value(json_object_get(d, "drive_id")), "rootfs");
        assert_string_equal(json_string_value(json_object_get(d, "cache_type")), "Unsafe");
        assert_string_equal(json_string_value(json_object_get(d, "io_engine")), "Sync");
        assert_true(json_is_false(json_object_get(d, "is_read_only")));
        assert_true(json_is_null(json_object_get(d, "socket")));
        assert_int_equal(
            json_integer_value(json_object_get(
                json_object_get(json_object_get(d, "rate_limiter"), "bandwidth"), "size")),
            5);
        assert_true(json_is_null(json_object_get(json_object_get(d, "rate_limiter"), "ops")));
        d = json_array_get(json_object_get(j, "drives"), 1);
        assert_true(json_is_null(json_object_get(d, "rate_limiter")));
        json_decref(j);
        config_free(&cfg);

        static const char two_roots[] =
            "{\"boot-source\": {\"kernel_image_path\": \"k\"}, \"drives\": ["
            "{\"drive_id\": \"a\", \"is_root_device\": true, \"path_on_host\": \"" UNIT_DRIVE "\"},"
            "{\"drive_id\": \"b\", \"is_root_device\": true, \"path_on_host\": \"" UNIT_DRIVE
            "\"}]}";
        expect_err(config_parse_file(two_roots, strlen(two_roots), &cfg, &fault), -EINVAL,
                   "Block device error: A root block device already exists!");
        assert_int_equal(cfg.nr_drives, 0);
        static const char bad_type[] = "{\"boot-source\": {\"kernel_image_path\": \"k\"}, "
                                       "\"drives\": [{\"drive_id\": 1}]}";
        expect_err(config_parse_file(bad_type, strlen(bad_type), &cfg, &fault), -EBADMSG,
                   "Invalid JSON: invalid type: integer `1`, expected a string");
}

static int put_body(struct vm_config *cfg, enum cfg_body kind, const char *id, const char *text)
{
        json_t *j = load(text);
        int rc;

        err_clear(&fault);
        rc = config_check_body(kind, j, id, &fault);
        if (!rc)
                rc = config_put_body(kind, cfg, j, id, &fault);
        json_decref(j);
        return rc;
}

/* The taps unit tests open: /dev/null, or the busy tap's error; each fd recorded. */
static int fake_fds[8];
static unsigned int nr_fake_fds;

static int fake_tap_open(const char *name, struct err *e)
{
        int fd;

        if (strlen(name) >= 16)
                return tap_open(name, e); /* the real length check, before any syscall */
        if (strcmp(name, "busy") == 0)
                return err_set(e, -EBUSY, "Open tap device failed: busy");
        fd = open("/dev/null", O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0 && nr_fake_fds < 8);
        fake_fds[nr_fake_fds++] = fd;
        return fd;
}

static bool fd_open(int fd)
{
        return fcntl(fd, F_GETFD) >= 0;
}

static void test_net(void **state)
{
        struct vm_config cfg;

        (void)state;
        nr_fake_fds = 0;
        config_set_tap_open(fake_tap_open);
        config_init(&cfg);
        assert_int_equal(put_body(&cfg, CFG_RES_nets, "a",
                                  "{\"iface_id\": \"a\", \"host_dev_name\": \"tap0\", "
                                  "\"guest_mac\": \"06:00:AC:10:00:02\", \"mtu\": 1500}"),
                         0);
        assert_int_equal(
            put_body(&cfg, CFG_RES_nets, "b", "{\"iface_id\": \"b\", \"host_dev_name\": \"tap1\"}"),
            0);
        /* Replacing "a" moves it last (Firecracker's swap_remove + push). */
        assert_int_equal(
            put_body(&cfg, CFG_RES_nets, "a", "{\"iface_id\": \"a\", \"host_dev_name\": \"tap2\"}"),
            0);
        assert_int_equal(cfg.nr_nets, 2);
        assert_string_equal(cfg.nets[0].iface_id, "b");
        assert_string_equal(cfg.nets[1].host_dev_name, "tap2");
        /* The taps are opened at PUT; the replaced interface's tap is closed first, as
         * Firecracker's swap_remove comes before Net::new(), so its fd number is reused. */
        assert_int_equal(nr_fake_fds, 3);
        assert_int_equal(fake_fds[2], fake_fds[0]);
        assert_true(cfg.nets[0].has_tap && cfg.nets[0].tap_fd == fake_fds[1]);
        assert_true(cfg.nets[1].has_tap && cfg.nets[1].tap_fd == fake_fds[2]);
        /* As Firecracker's NetBuilder: a failed replacement has removed the old interface. */
        expect_err(
            put_body(&cfg, CFG_RES_nets, "b", "{\"iface_id\": \"b\", \"host_dev_name\": \"busy\"}"),
            -EBUSY, "Could not create the network device: Open tap device failed: busy");
        assert_int_equal(cfg.nr_nets, 1);
        assert_false(fd_open(fake_fds[1]));
        expect_err(put_body(&cfg, CFG_RES_nets, "c",
                            "{\"iface_id\": \"c\", \"host_dev_name\": \"0123456789abcdef\"}"),
                   -EINVAL, "Open tap device failed: Invalid interface name");
        expect_err(put_body(&cfg, CFG_RES_nets, "c",
                            "{\"iface_id\": \"c\", \"host_dev_name\": \"t\", \"mtu\": 67}"),
                   -EINVAL, "MTU 67 is out of range [68, 65535]");
        expect_err(put_body(&cfg, CFG_RES_nets, "c",
                            "{\"iface_id\": \"c\", \"host_dev_name\": \"t\", \"guest_mac\": "
                            "\"06:00:AC:10:00\"}"),
                   -EBADMSG, "The provided MAC address is invalid.");
        expect_err(
            put_body(&cfg, CFG_RES_nets, "c", "{\"iface_id\": \"d\", \"host_dev_name\": \"t\"}"),
            -EXDEV, "The id from the path [c] does not match the id from the body [d]!");
        config_free(&cfg);
        assert_int_equal(cfg.nr_nets, 0);
        assert_false(fd_open(fake_fds[2])); /* freed with the configuration */
        config_set_tap_open(NULL);
}

/* The config file applies machine-config before balloon, as VmResources::from_json(). */
static void test_file_balloon_sees_machine_config(void **state)
{
        const char *text = "{\"boot-source\": {\"kernel_image_path\": \"/dev/null\"}, "
                           "\"balloon\": {\"amount_mib\": 100, \"deflate_on_oom\": false}, "
                           "\"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64}}";
        struct vm_config cfg;

        (void)state;
        config_init(&cfg);
        expect_err(config_parse_file(text, strlen(text), &cfg, &fault), -EINVAL,
                   "Balloon device error: Amount of pages requested is too large.");
        config_free(&cfg);
}

static void test_mmds_and_hotplug(void **state)
{
        struct vm_config cfg;

        (void)state;
        nr_fake_fds = 0;
        config_set_tap_open(fake_tap_open);
        config_init(&cfg);
        expect_err(put_body(&cfg, CFG_RES_mmds, NULL, "{\"network_interfaces\": []}"), -EINVAL,
                   "is empty.");
        put_body(&cfg, CFG_RES_nets, "n", "{\"iface_id\": \"n\", \"host_dev_name\": \"t\"}");
        expect_err(put_body(&cfg, CFG_RES_mmds, NULL,
                            "{\"network_interfaces\": [\"n\"], \"ipv4_address\": \"169.254.0.1\"}"),
                   -EINVAL, "not link local");
        assert_int_equal(put_body(&cfg, CFG_RES_mmds, NULL,
                                  "{\"network_interfaces\": [\"n\"], \"version\": \"V2\"}"),
                         0);
        assert_int_equal(cfg.mmds.version, 2);
        assert_int_equal(cfg.mmds.ipv4_address, 0xa9fea9fe);
        expect_err(put_body(&cfg, CFG_RES_hotplug, NULL,
                            "{\"total_size_mib\": 1024, "
                            "\"block_size_mib\": 3}"),
                   -EINVAL, "Block size must be a power of 2");
        expect_err(put_body(&cfg, CFG_RES_hotplug, NULL, "{\"total_size_mib\": 64}"), -EINVAL,
                   "Total size must not be lower than slot size (128 MiB)");
        assert_int_equal(put_body(&cfg, CFG_RES_hotplug, NULL,
                                  "{\"total_size_mib\": 1024, \"slot_size_mib\": 256}"),
                         0);
        assert_int_equal(config_check_supported(&cfg, &fault), 0); /* virtio-mem exists */
        assert_int_equal(cfg.mem_hotplug.slot_size_mib, 256);
        config_free(&cfg);
        config_set_tap_open(NULL);
}

static void test_logger_body(void **state)
{
        struct logger_cfg l;
        json_t *j = load("{\"level\": \"warning\", \"show_level\": true}");

        (void)state;
        assert_int_equal(config_parse_logger(j, &l, &fault), 0);
        assert_int_equal(l.level, 2); /* LOG_WARN */
        assert_int_equal(l.show_level, 1);
        assert_int_equal(l.show_log_origin, -1);
        assert_null(l.log_path);
        config_logger_free(&l);
        json_decref(j);
        j = load("{\"level\": \"loud\"}");
        expect_err(config_check_body(CFG_RES_logger, j, NULL, &fault), -EBADMSG,
                   "Invalid LevelFilter");
        json_decref(j);
        j = load("{\"metrics_path\": \"/m\", \"extra\": 1}"); /* Metrics ignores unknown keys */
        assert_int_equal(config_check_body(CFG_RES_metrics, j, NULL, &fault), 0);
        json_decref(j);
}

/* Decodes text as kind into *val; returns config_decode()'s result. */
static int decode_as(enum cfg_body kind, const char *id, const char *text, struct cfg_value *val)
{
        json_t *j = load(text);
        struct json_src src = {text, strlen(text), j};
        int rc;

        err_clear(&fault);
        rc = config_decode(kind, j, &src, id, val, &fault);
        json_decref(j);
        return rc;
}

/* Each body is decoded once into a typed value; the VMM side never needs the JSON. */
static void test_decoded_values(void **state)
{
        struct machine_cfg m;
        struct cfg_value v;

        (void)state;
        assert_int_equal(
            decode_as(CFG_BODY_ACTION, NULL, "{\"action_type\": \"SendCtrlAltDel\"}", &v), 0);
        assert_int_equal(((struct action_body *)v.v)->type, ACTION_SEND_CTRL_ALT_DEL);
        config_value_free(&v);
        assert_null(v.v);
        assert_int_equal(decode_as(CFG_BODY_VM_STATE, NULL, "{\"state\": \"Resumed\"}", &v), 0);
        assert_int_equal(((struct vm_state_body *)v.v)->state, VM_STATE_RESUMED);
        config_value_free(&v);
        expect_err(decode_as(CFG_BODY_MACHINE_PATCH, NULL, "{\"smt\": null}", &v), -ENODATA,
                   "Empty PATCH request.");
        assert_null(v.v);
        assert_int_equal(decode_as(CFG_BODY_MACHINE_PATCH, NULL, "{\"mem_size_mib\": 256}", &v), 0);
        config_machine_defaults(&m);
        m.vcpu_count = 2;
        config_machine_merge(&m, v.v);
        assert_int_equal(m.vcpu_count, 2); /* not given: kept */
        assert_int_equal(m.mem_size_mib, 256);
        config_value_free(&v);
        expect_err(decode_as(CFG_BODY_NET_PATCH, "a", "{\"iface_id\": \"b\"}", &v), -EXDEV,
                   "The id from the path [a] does not match the id from the body [b]!");
        assert_null(v.v);
        assert_int_equal(decode_as(CFG_BODY_DRIVE_PATCH, "d",
                                   "{\"drive_id\": \"d\", \"rate_limiter\": {\"ops\": "
                                   "{\"size\": 0, \"refill_time\": 5}}}",
                                   &v),
                         0);
        assert_int_equal(((struct drive_update *)v.v)->rate_limiter.ops_op, BUCKET_DISABLE);
        assert_int_equal(((struct drive_update *)v.v)->rate_limiter.bandwidth_op, BUCKET_KEEP);
        config_value_free(&v);
        expect_err(decode_as(CFG_RES_cpu_config, NULL, "\"/etc/passwd\"", &v), -EBADMSG,
                   "expected struct CustomCpuTemplate"); /* a path only in the config file */
        expect_err(decode_as(CFG_BODY_ACTION, NULL, "{\"action_type\": \"Reboot\"}", &v), -EBADMSG,
                   "unknown variant `Reboot`");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_drive_put_order),
            cmocka_unit_test(test_drive_fields),
            cmocka_unit_test(test_drive_errors),
            cmocka_unit_test(test_drive_patch),
            cmocka_unit_test(test_drives_in_file_and_json),
            cmocka_unit_test(test_net),
            cmocka_unit_test(test_mmds_and_hotplug),
            cmocka_unit_test(test_logger_body),
            cmocka_unit_test(test_decoded_values),
            cmocka_unit_test(test_file_balloon_sees_machine_config),
        };

        json_object_seed(1);
        if (make_unit_drive())
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
