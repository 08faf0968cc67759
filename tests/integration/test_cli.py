"""Firecracker's command line (main.rs, arg_parser.rs): each exit path's code, log text and stderr line."""
import json
import os
import re
import signal
import subprocess
import time

import pytest

from conftest import BRASA, KERNELS, ApiVm, UnixHTTPConnection, make_config

GENERIC, BAD_LEVEL, ARG_PARSING = 1, 152, 153
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}"
KVM_HINT = ("Kvm error: Error creating KVM object: Permission denied (os error 13) Make sure "
            "the user launching the firecracker process is configured on the /dev/kvm file's "
            "ACL.")


def run(*args, timeout=30):
    p = subprocess.run([str(BRASA), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def log_messages(text):
    """The messages of the log lines in text (multi-line messages joined back)."""
    out = []
    for line in text.splitlines():
        m = re.match(STAMP + r" \[[^\]]*\] (.*)", line)
        if m:
            out.append(m.group(1))
        elif out:
            out[-1] += "\n" + line
    return out


def assert_main_error(rc, log, err, code, text, debug):
    """main.rs's main(): the error, "Error: <Debug>" on stderr, then the exit line."""
    assert rc == code, (rc, log, err)
    msgs = log_messages(log)
    assert msgs[-2:] == [text, f"Firecracker exiting with error. exit_code={code}"], msgs
    assert err == f"Error: {debug}\n", err


def assert_panic(rc, log, err, message):
    """An expect() in main.rs: the panic hook's line, no exit line, death by SIGABRT."""
    assert rc == -signal.SIGABRT, (rc, log, err)
    msgs = log_messages(log)
    assert re.fullmatch(r"Firecracker panicked at src/main\.c:\d+:\n" + re.escape(message),
                        msgs[-1]), msgs
    assert "exiting" not in log
    assert err == ""


# ---- arg_parser -------------------------------------------------------------------------------

@pytest.mark.parametrize("args,text,debug", [
    (["--id", "a", "--id", "b"], "The argument 'id' was provided more than once.",
     'DuplicateArgument("id")'),
    (["--boot-timer", "--no-seccomp", "--boot-timer"],
     "The argument 'boot-timer' was provided more than once.", 'DuplicateArgument("boot-timer")'),
    (["--bogus"], "Found argument 'bogus' which wasn't expected, or isn't valid in this context.",
     'UnexpectedArgument("bogus")'),
    (["--boot-timer=yes"],
     "Found argument 'boot-timer=yes' which wasn't expected, or isn't valid in this context.",
     'UnexpectedArgument("boot-timer=yes")'),
    (["stray"], "Found argument 'stray' which wasn't expected, or isn't valid in this context.",
     'UnexpectedArgument("stray")'),
    (["--id"], "The argument 'id' requires a value, but none was supplied.",
     'MissingValue("id")'),
    (["--id", "--boot-timer"], "The argument 'id' requires a value, but none was supplied.",
     'MissingValue("id")'),
    (["--no-api"], "Argument 'config-file' required, but not found.",
     'MissingArgument("config-file")'),
    (["--seccomp-filter", "f", "--no-seccomp"],
     "Argument 'seccomp-filter' cannot be used together with argument 'no-seccomp'.",
     'ForbiddenArgument("no-seccomp", "seccomp-filter")'),
])
def test_arg_parser_errors(args, text, debug):
    rc, out, err = run(*args)
    assert_main_error(rc, out, err, ARG_PARSING,
                      f"Arguments parsing error: {text} \n\nFor more information try --help.",
                      f"ParseArguments({debug})")


def test_duplicate_flag_with_log_path_still_goes_to_stdout(tmp_path):
    # The arguments are parsed before the logger exists: Firecracker logs to stdout.
    log = tmp_path / "fc.log"
    rc, out, err = run("--log-path", str(log), "--log-path", str(log))
    assert rc == ARG_PARSING
    assert "The argument 'log-path' was provided more than once." in out
    assert not log.exists()
    assert err == 'Error: ParseArguments(DuplicateArgument("log-path"))\n'


def test_args_after_separator_are_ignored():
    # Nothing after "--" is parsed: not the unknown flag, not the duplicate, not --help.
    rc, out, err = run("--level", "loud", "--", "--bogus", "--level", "x", "--help")
    assert rc == BAD_LEVEL, (out, err)
    assert "Usage" not in out


def test_help_before_separator_wins_over_errors():
    rc, out, _ = run("--bogus", "--id", "-h")
    assert rc == 0
    assert out.startswith("Firecracker v1.16.1\n\n")


def test_help_lists_exit_codes_and_docs():
    rc, out, err = run("--help")
    assert rc == 0 and err == ""
    for text in ["152 bad --level", "153 bad arguments", "148 syscall blocked", "SIGABRT",
                 "docs/compatibility.md", "--module"]:
        assert text in out, text
    # main() logs its exit line after the help, as Firecracker's does.
    assert log_messages(out)[-1] == "Firecracker exiting successfully. exit_code=0"


# ---- main_exec(), in its order ----------------------------------------------------------------

@pytest.mark.parametrize("bad,message", [
    ("bad!id", "Invalid instance ID: InvalidChar('!', 3)"),
    ("a b", "Invalid instance ID: InvalidChar(' ', 1)"),
    ("x" * 65, "Invalid instance ID: InvalidLen(65, 1, 64)"),
])
def test_bad_instance_id_panics(bad, message):
    rc, out, err = run("--id", bad)
    assert_panic(rc, out, err, message)
    assert "[anonymous-instance:main]" in out


def test_bad_level_exits_152(tmp_path):
    log = tmp_path / "fc.log"
    rc, out, err = run("--level", "loud", "--log-path", str(log))
    # The level is checked before the logger is set up: stdout, not the file.
    assert_main_error(rc, out, err, BAD_LEVEL,
                      "Invalid value for logger level: Failed to parse string to level filter: "
                      "loud.Possible values: [Error, Warning, Info, Debug]",
                      'InvalidLogLevel(LevelFilterFromStrError("loud"))')
    assert not log.exists()


@pytest.mark.parametrize("level", ["warning", "WARN", "Trace", "off", "ERROR"])
def test_levels_are_case_insensitive(level):
    rc, out, err = run("--level", level, "--version")
    assert rc == 0, (out, err)


def test_unopenable_log_path_exits_1(tmp_path):
    rc, out, err = run("--log-path", str(tmp_path / "no" / "such" / "log"))
    assert_main_error(rc, out, err, GENERIC,
                      "Could not initialize logger: Failed to open target file: No such file or "
                      "directory (os error 2)",
                      'LoggerInitialization(LoggerUpdateError(Os { code: 2, kind: NotFound, '
                      'message: "No such file or directory" }))')


def test_unopenable_metrics_path_exits_1(tmp_path):
    log = tmp_path / "fc.log"
    rc, _, err = run("--log-path", str(log), "--metrics-path", str(tmp_path / "no" / "m"))
    assert_main_error(rc, log.read_text(), err, GENERIC,
                      "Could not initialize metrics: Cannot initialize the metrics system due "
                      "to bad user input: No such file or directory (os error 2)",
                      'MetricsInitialization(InitializationFailure("No such file or directory '
                      '(os error 2)"))')


@pytest.mark.parametrize("make,message", [
    (lambda d: d / "absent.json",
     'Os { code: 2, kind: NotFound, message: "No such file or directory" }'),
    (lambda d: d,
     'Os { code: 21, kind: IsADirectory, message: "Is a directory" }'),
    (lambda d: (d / "latin1.json").write_bytes(b'{"x": "\xe9"}') and d / "latin1.json",
     'Error { kind: InvalidData, message: "stream did not contain valid UTF-8" }'),
])
@pytest.mark.parametrize("api", [False, True], ids=["no-api", "api"])
def test_unreadable_config_file_panics(tmp_path, make, message, api):
    path, log, sock = make(tmp_path), tmp_path / "fc.log", tmp_path / "s.sock"
    mode = ["--api-sock", str(sock)] if api else ["--no-api"]
    rc, _, err = run(*mode, "--config-file", str(path), "--log-path", str(log))
    assert_panic(rc, log.read_text(), err,
                 f"Unable to open or read from the configuration file: {message}")
    # Read before the API socket is bound, as main.rs reads it.
    assert not sock.exists()


@pytest.mark.parametrize("flag,value,kind,typ", [
    ("--http-api-max-payload-size", "12k", "InvalidDigit", "usize"),
    ("--mmds-size-limit", "", "Empty", "usize"),
    ("--mmds-size-limit", "99999999999999999999999", "PosOverflow", "usize"),
    ("--start-time-us", "-1", "InvalidDigit", "u64"),
])
def test_non_numeric_sizes_panic(tmp_path, flag, value, kind, typ):
    log = tmp_path / "fc.log"
    rc, _, err = run("--api-sock", str(tmp_path / "s.sock"), "--log-path", str(log), flag, value)
    assert_panic(rc, log.read_text(), err,
                 f"'{flag[2:]}' parameter expected to be of '{typ}' type.: ParseIntError "
                 f"{{ kind: {kind} }}")


def test_api_socket_in_use_exits_1(tmp_path):
    sock = tmp_path / "s.sock"
    sock.write_text("")
    log = tmp_path / "fc.log"
    rc, _, err = run("--api-sock", str(sock), "--log-path", str(log))
    assert_main_error(rc, log.read_text(), err, GENERIC,
                      f"RunWithApiError error: Failed to open the API socket at: {sock}. Check "
                      "that it is not already used.",
                      f'RunWithApi(FailedToBindSocket("{sock}"))')


# ---- the config file ------------------------------------------------------------------------

CONFIG_FAILED = "Failed to build MicroVM from Json: Configuration for VMM from one single json failed: "


def test_bad_config_file_exits_1_with_a_stderr_line(tmp_path):
    # Firecracker >= 1.5: a config file that does not validate is exit 1, not 152.
    path, log = tmp_path / "vm.json", tmp_path / "fc.log"
    path.write_text('{"boot-source": {"kernel_image_path": "k"}, "machine-config": '
                    '{"vcpu_count": 0, "mem_size_mib": 128}}')
    reason = ("VM config error: The number of vCPUs must be greater than 0, less than 32 and "
              "must be 1 or an even number if SMT is enabled.")
    rc, out, err = run("--no-api", "--config-file", str(path), "--log-path", str(log))
    assert out == ""  # everything went to the log file ...
    assert_main_error(rc, log.read_text(), err, GENERIC,
                      f"RunWithoutApiError error: {CONFIG_FAILED}{reason}",
                      "RunWithoutApiError(BuildMicroVMFromJson(ParseFromJson("
                      f"{json.dumps(reason)})))")
    # ... but the fatal error, which is also one line on stderr.
    assert len(err.splitlines()) == 1


def test_invalid_json_exits_1(tmp_path):
    path, log = tmp_path / "vm.json", tmp_path / "fc.log"
    path.write_text("{")
    rc, out, err = run("--no-api", "--config-file", str(path), "--log-path", str(log))
    assert rc == GENERIC
    msgs = log_messages(log.read_text())
    assert msgs[-2].startswith(f"RunWithoutApiError error: {CONFIG_FAILED}Invalid JSON: "), msgs
    assert msgs[-1] == "Firecracker exiting with error. exit_code=1"
    assert err.startswith('Error: RunWithoutApiError(BuildMicroVMFromJson(ParseFromJson('
                          '"Invalid JSON: ')
    assert len(err.splitlines()) == 1 and out == ""


def test_bad_config_file_with_api_exits_1(tmp_path):
    path, log, sock = tmp_path / "vm.json", tmp_path / "fc.log", tmp_path / "s.sock"
    path.write_text('{"boot-source": {"kernel_image_path": "k", "x": 1}}')
    rc, _, err = run("--api-sock", str(sock), "--config-file", str(path), "--log-path", str(log))
    assert rc == GENERIC, log.read_text()
    msgs = log_messages(log.read_text())
    assert msgs[-2].startswith(f"RunWithApiError error: {CONFIG_FAILED}Invalid JSON: unknown "
                               "field `x`"), msgs
    assert err.startswith("Error: RunWithApi(BuildFromJson(ParseFromJson(\"Invalid JSON: ")


@pytest.mark.kvm
def test_unknown_top_level_keys_are_ignored(brasa):
    # VmmConfig has no deny_unknown_fields: serde skips keys it does not know.
    cfg = make_config(KERNELS["pvh"], "console=ttyS0")
    cfg["bogus"] = {"anything": [1, 2]}
    cfg["serial"] = {"serial_out_path": 7}  # #[serde(skip)] in VmmConfig: unknown too
    res = brasa.run(cfg)
    assert res.rc == 0, res.log
    assert "bogus" not in res.log


# ---- /dev/kvm ---------------------------------------------------------------------------------

def without_kvm_argv(tmp_path, *args):
    """brasa in a mount namespace whose /dev/kvm is a mode-000 file, with no capabilities
    (so root gets EACCES as an unprivileged user would)."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root (unshare -m and a bind mount over /dev/kvm)")
    blocked = tmp_path / "kvm-blocked"
    blocked.write_text("")
    blocked.chmod(0)
    script = 'mount --bind "$0" /dev/kvm && exec setpriv --bounding-set=-all -- "$@"'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, str(blocked),
            str(BRASA), *args]


def run_without_kvm(tmp_path, *args):
    p = subprocess.run(without_kvm_argv(tmp_path, *args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=30)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_unopenable_kvm_no_api(tmp_path):
    path, log = tmp_path / "vm.json", tmp_path / "fc.log"
    path.write_text(json.dumps(make_config(KERNELS["pvh"], "console=ttyS0")))
    rc, _, err = run_without_kvm(tmp_path, "--no-api", "--config-file", str(path),
                                 "--log-path", str(log))
    reason = f"Could not Start MicroVM from one single json: {KVM_HINT}"
    assert_main_error(rc, log.read_text(), err, GENERIC,
                      f"RunWithoutApiError error: Failed to build MicroVM from Json: {reason}",
                      "RunWithoutApiError(BuildMicroVMFromJson(StartMicroVM("
                      f"{json.dumps(KVM_HINT)})))")


def test_unopenable_kvm_api_instance_start(tmp_path):
    # Firecracker opens /dev/kvm at InstanceStart: the API comes up, the start fails.
    sock = tmp_path / "s.sock"
    proc = subprocess.Popen(without_kvm_argv(tmp_path, "--api-sock", str(sock), "--log-path",
                                             str(tmp_path / "fc.log")),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        vm_conn = _wait_conn(proc, sock)
        body = json.dumps({"kernel_image_path": str(KERNELS["pvh"])})
        assert _req(vm_conn, "PUT", "/boot-source", body)[0] == 204
        status, raw = _req(vm_conn, "PUT", "/actions", '{"action_type": "InstanceStart"}')
        assert status == 400
        assert json.loads(raw)["fault_message"] == f"Start microvm error: {KVM_HINT}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0


def _wait_conn(proc, sock):
    deadline = time.monotonic() + 10
    while not sock.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
        time.sleep(0.01)
    return UnixHTTPConnection(sock)


def _req(conn, method, path, body=None):
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


# ---- --module ---------------------------------------------------------------------------------

@pytest.mark.parametrize("module,kept,dropped", [
    ("firecracker::api_server", ["The API server received a Get request on \"/\"."],
     ["Running Firecracker"]),
    ("firecracker", ["Running Firecracker", "The API server received a Get request"], []),
    ("vmm", [], ["The API server received", "Running Firecracker"]),
    ("src/api/", ["The API server received a Get request"], ["Running Firecracker"]),
])
def test_module_filter_takes_firecracker_paths(tmp_path, module, kept, dropped):
    vm = ApiVm(tmp_path, args=["--module", module, "--show-log-origin"])
    try:
        assert vm.get("/").status == 200
    finally:
        assert vm.stop() == 0
    text = vm.output()
    # The origin shown is brasa's own source file and line.
    for line in text.splitlines():
        if "The API server received" in line:
            assert re.search(r"\[anonymous-instance:[^:\]]+:src/api/\w+\.c:\d+\] ", line), line
    for k in kept:
        assert k in text, (module, text)
    for d in dropped:
        assert d not in text, (module, text)


# ---- the VM stops with an error -------------------------------------------------------------

@pytest.mark.kvm
@pytest.mark.parametrize("api", [False, True], ids=["no-api", "api"])
def test_vm_stopped_with_an_error(tmp_path, api):
    # The guest runs ud2 with no IDT: a triple fault, which ends the VM with GenericError.
    path, log, sock = tmp_path / "vm.json", tmp_path / "fc.log", tmp_path / "s.sock"
    path.write_text(json.dumps(make_config(KERNELS["pvh"], "console=ttyS0 brasa.badinsn")))
    mode = ["--api-sock", str(sock)] if api else ["--no-api"]
    rc, _, err = run(*mode, "--config-file", str(path), "--log-path", str(log))
    if api:
        assert_main_error(rc, log.read_text(), err, GENERIC,
                          "RunWithApiError error: MicroVM stopped with an error: GenericError",
                          "RunWithApi(MicroVMStoppedWithError(GenericError))")
    else:
        assert_main_error(rc, log.read_text(), err, GENERIC,
                          "RunWithoutApiError error: MicroVMStopped without an error: "
                          "GenericError",
                          "RunWithoutApiError(Shutdown(GenericError))")
