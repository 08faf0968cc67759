"""Per-thread seccomp filters: on by default, each role traps a forbidden syscall with exit 148,
--no-seccomp and --seccomp-filter, and the policy files themselves (every rule commented)."""
import os
import shutil
import signal
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import BRASA, BUILD, KERNELS, ROOT, ApiVm, make_config, wait_for_line

HOOKS = BUILD / "brasa-test-hooks"
GEN = BUILD / "brasa-seccomp-gen"
RULES = ROOT / "src" / "seccomp"
ROLES = ("vmm", "api", "vcpu")
BAD_SYSCALL = 148


def sanitizer_build():
    """Sanitizer builds turn seccomp off by design (docs/security.md)."""
    cache = BUILD / "CMakeCache.txt"
    return cache.exists() and "SANITIZE:BOOL=ON" in cache.read_text()


needs_filters = pytest.mark.skipif(sanitizer_build(),
                                   reason="sanitizer build: seccomp is off by design; the "
                                          "non-sanitizer run proves the filters")


def rule_files(**override):
    return [f"{r}={override.get(r, RULES / (r + '.rules'))}" for r in ROLES]


def run_hooks(brasa, cfg, env=None, args=(), binary=HOOKS, timeout=60):
    config = brasa.write_config(cfg)
    log = brasa.dir / "brasa.log"
    if log.exists():
        log.unlink()
    argv = [str(binary), *brasa.argv(config, args)[1:]]
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=timeout,
                       env={**os.environ, **(env or {})})
    text = log.read_text(errors="replace") if log.exists() else ""
    return p.returncode, p.stdout.decode(errors="replace"), text


def quick_cfg(vcpus=2):
    return make_config(KERNELS["pvh"], "console=ttyS0", vcpus=vcpus)


# ---- the policy files ----------------------------------------------------------------------

def list_policy():
    p = subprocess.run([str(GEN), "list", *rule_files()], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rules = [line.split("\t") for line in p.stdout.splitlines()]
    assert all(len(r) == 4 for r in rules), p.stdout
    return rules


def test_every_allowed_syscall_is_listed_with_a_comment():
    rules = list_policy()
    for role in ROLES:
        mine = [r for r in rules if r[0] == role]
        assert mine, f"no rules for {role}"
        print(f"\n{role}: {len(mine)} rules, {len({r[1] for r in mine})} syscalls")
        for _, syscall, cond, comment in mine:
            print(f"  {syscall:<16} {cond:<60} # {comment}")
    uncommented = [r for r in rules if not r[3].strip()]
    assert not uncommented, f"rules without a comment: {uncommented}"


def test_generator_refuses_a_rule_without_comment(tmp_path):
    bad = tmp_path / "vcpu.rules"
    bad.write_text((RULES / "vcpu.rules").read_text() + "getppid\n")
    p = subprocess.run([str(GEN), "list", *rule_files(vcpu=bad)], capture_output=True, text=True)
    assert p.returncode != 0
    assert "has no comment" in p.stderr and f"{bad}:" in p.stderr


@pytest.mark.parametrize("line,why", [
    ("nosuchcall  # x", "unknown syscall"),
    ("ioctl a1 == KVM_NOPE  # x", "unknown constant"),
    ("ioctl a1 == 1 a1 == 2  # x", "checked twice"),
    ("ioctl a9 == 1  # x", "expected an argument"),
    ("mmap a2 & PROT_EXEC == PROT_READ  # x", "outside the mask"),
])
def test_generator_refuses_bad_rules(tmp_path, line, why):
    bad = tmp_path / "api.rules"
    bad.write_text(line + "\n")
    p = subprocess.run([str(GEN), "list", *rule_files(api=bad)], capture_output=True, text=True)
    assert p.returncode != 0 and why in p.stderr, p.stderr


def test_vcpu_policy_is_inside_vmm_policy():
    """In API mode vCPU threads start under the VMM filter and add their own: every vCPU rule
    must also pass the VMM filter."""
    rules = list_policy()
    vmm = {(r[1], r[2]) for r in rules if r[0] == "vmm"}
    missing = [(r[1], r[2]) for r in rules if r[0] == "vcpu"
               and (r[1], r[2]) not in vmm and (r[1], "") not in vmm]
    assert not missing, f"vcpu rules the vmm filter would trap: {missing}"


def test_release_binary_has_no_test_hooks():
    assert b"BRASA_TEST_SECCOMP_VIOLATE" not in BRASA.read_bytes()
    if not sanitizer_build():  # there the compiler drops the hooks with the filters
        assert b"BRASA_TEST_SECCOMP_VIOLATE" in HOOKS.read_bytes()


# ---- enforcement ---------------------------------------------------------------------------

@pytest.mark.kvm
@needs_filters
def test_filters_on_by_default(brasa):
    res = brasa.run(quick_cfg(), args=("--level", "Debug"))
    assert res.rc == 0, res.log
    assert "Seccomp filter 'vmm' installed on thread fc_vmm" in res.log
    for i in range(2):
        assert f"Seccomp filter 'vcpu' installed on thread fc_vcpu {i}" in res.log


VIOLATIONS = {
    # role: (thread name in the report, the forbidden syscall the hook makes)
    "vmm": ("fc_vmm", "10: mprotect"),      # allowed syscall, forbidden PROT_EXEC argument
    "vcpu": ("fc_vcpu 0", "257: openat"),
}


@pytest.mark.kvm
@needs_filters
@pytest.mark.parametrize("role", sorted(VIOLATIONS))
def test_forbidden_syscall_exits_148(brasa, role):
    thread, call = VIOLATIONS[role]
    rc, out, log = run_hooks(brasa, quick_cfg(vcpus=1), {"BRASA_TEST_SECCOMP_VIOLATE": role})
    assert rc == BAD_SYSCALL, f"rc={rc}\n{out}\n{log}"
    assert f"intercepting a bad syscall ({call}) on thread {thread} ({role} filter)" in log, log
    assert "was allowed" not in log


@needs_filters
def test_forbidden_syscall_on_api_thread_exits_148(tmp_path):
    sock_dir = Path(tempfile.mkdtemp(prefix="brasa-sc-"))
    log = tmp_path / "brasa.log"
    try:
        p = subprocess.run([str(HOOKS), "--api-sock", str(sock_dir / "api.sock"), "--log-path",
                            str(log)], stdin=subprocess.DEVNULL, capture_output=True, timeout=30,
                           env={**os.environ, "BRASA_TEST_SECCOMP_VIOLATE": "api"})
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)
    text = log.read_text()
    assert p.returncode == BAD_SYSCALL, text
    assert "intercepting a bad syscall (41: socket) on thread fc_api (api filter)" in text, text


@pytest.mark.kvm
@needs_filters
def test_api_mode_instance_start_under_filters(tmp_path):
    """API mode: the VMM thread is filtered before the first request, so InstanceStart runs
    under the vmm filter; vCPU threads then carry two filters (inherited vmm + their own)."""
    api = ApiVm(tmp_path)
    try:
        assert api.put("/machine-config", {"vcpu_count": 2, "mem_size_mib": 64}).status == 204
        assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                        "boot_args": "console=ttyS0 brasa.halt"}).status == 204
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        wait_for_line(api.proc, r"BRASA halting")
        filters = {}
        for tid in os.listdir(f"/proc/{api.proc.pid}/task"):
            status = open(f"/proc/{api.proc.pid}/task/{tid}/status").read()
            name = status.split("\n", 1)[0].split("\t", 1)[1]
            count = status.split("Seccomp_filters:\t", 1)[1].split()[0]
            filters.setdefault(name, []).append(int(count))
        assert filters["fc_api"] == [1]
        assert sorted(filters["fc_vcpu 0"] + filters["fc_vcpu 1"]) == [2, 2]
        assert [2] in filters.values()  # the VMM (main) thread: vmm, then vmm_api_run
        assert api.get("/machine-config").status == 200
    finally:
        rc = api.stop()
    assert rc == 0, api.output()
    assert "bad syscall" not in api.output()


# What only set-up needed traps once the VM runs (the vmm_run stage filter, --no-api).
SETUP_CALLS = {
    "io_uring_setup": "425: io_uring_setup",  # a fresh ring could do what the filter forbids
    "openat": "257: openat",
    "unlink": "87: unlink",
    "clone3": "435: clone3",
    "eventfd2": "290: eventfd2",
    "KVM_CREATE_VCPU": "16: ioctl",
    "KVM_SET_USER_MEMORY_REGION": "16: ioctl",
    "TUNSETIFF": "16: ioctl",
    "mmap-guest-ram": "9: mmap",
}


@pytest.mark.kvm
@needs_filters
@pytest.mark.parametrize("call", sorted(SETUP_CALLS))
def test_set_up_calls_trap_once_the_vm_runs(brasa, call):
    rc, out, log = run_hooks(brasa, quick_cfg(vcpus=1), {"BRASA_TEST_SECCOMP_AFTER_BOOT": call})
    assert rc == BAD_SYSCALL, f"rc={rc}\n{out}\n{log}"
    assert (f"intercepting a bad syscall ({SETUP_CALLS[call]}) on thread fc_vmm (vmm_run "
            "filter)") in log, log
    assert "was allowed" not in log


def api_boot_with_hook(tmp_path, call):
    api = ApiVm(tmp_path, binary=HOOKS, env={"BRASA_TEST_SECCOMP_AFTER_BOOT": call})
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.idle"}).status == 204
    return api


@pytest.mark.kvm
@needs_filters
def test_api_mode_narrows_after_instance_start(tmp_path):
    """API mode keeps what the post-boot routes need (PATCH /drives opens a file), and drops the
    rest of set-up at InstanceStart."""
    api = api_boot_with_hook(tmp_path, "openat")
    try:
        assert api.put("/actions", {"action_type": "InstanceStart"}).status == 204
        assert "test hook: openat was allowed after boot" in api.output()
        assert api.get("/").json()["state"] == "Running"
    finally:
        assert api.stop() == 0, api.output()
    api = api_boot_with_hook(tmp_path, "io_uring_setup")
    try:
        api.put("/actions", {"action_type": "InstanceStart"})
    except (ConnectionError, OSError):
        pass  # brasa ended inside the request
    assert api.proc.wait(timeout=30) == BAD_SYSCALL
    api.stop()
    assert ("intercepting a bad syscall (425: io_uring_setup) on thread fc_vmm (vmm_api_run "
            "filter)") in api.output()


@pytest.mark.kvm
def test_no_seccomp_lets_the_forbidden_call_through(brasa):
    rc, out, log = run_hooks(brasa, quick_cfg(vcpus=1), {"BRASA_TEST_SECCOMP_VIOLATE": "vcpu"},
                             args=("--no-seccomp",))
    assert rc == 0, log
    assert "BRASA done" in out
    assert "bad syscall" not in log


@pytest.mark.kvm
@needs_filters
def test_vmm_filter_allows_instance_start(brasa):
    """API mode filters the VMM thread before InstanceStart: the whole boot (VM, memory,
    images, vCPU threads, which then stack their own filter) must pass the vmm filter."""
    cfg = make_config(KERNELS["bzimage"], "console=ttyS0 brasa.boottimer", vcpus=2,
                      initrd=KERNELS["pvh"].parent / "initrd.img")
    rc, out, log = run_hooks(brasa, cfg, {"BRASA_TEST_SECCOMP_VMM_EARLY": "1"},
                             args=("--boot-timer", "--level", "Debug"))
    assert rc == 0, f"{out}\n{log}"
    assert "BRASA done" in out and "Guest-boot-time" in log
    assert log.count("Seccomp filter 'vmm' installed") == 2  # early, then the normal point


@pytest.mark.kvm
@needs_filters
def test_sigterm_under_filters(brasa):
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.halt", vcpus=2)
    p = brasa.spawn(cfg)
    try:
        wait_for_line(p, r"BRASA halting")
        status = open(f"/proc/{p.pid}/status").read()
        assert "NoNewPrivs:\t1" in status and "Seccomp:\t2" in status
        for tid in os.listdir(f"/proc/{p.pid}/task"):
            st = open(f"/proc/{p.pid}/task/{tid}/status").read()
            # the VMM (main) thread: vmm, then vmm_run once the VM runs; vCPUs: their own
            want = 2 if int(tid) == p.pid else 1
            assert f"Seccomp_filters:\t{want}" in st, st
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
    finally:
        p.kill()
        p.wait()


# ---- custom filter files -------------------------------------------------------------------

def compile_filters(tmp_path, **override):
    out = tmp_path / "filters.bpf"
    p = subprocess.run([str(GEN), "bin", str(out), *rule_files(**override)], capture_output=True,
                       text=True)
    assert p.returncode == 0, p.stderr
    return out


@pytest.mark.kvm
def test_custom_filter_file_with_builtin_rules_boots(brasa, tmp_path):
    res = brasa.run(quick_cfg(), args=("--seccomp-filter", str(compile_filters(tmp_path))))
    assert res.rc == 0, res.log
    assert "BRASA done" in res.stdout


@pytest.mark.kvm
@needs_filters
def test_custom_filter_file_is_enforced(brasa, tmp_path):
    text = (RULES / "vcpu.rules").read_text()
    strict = tmp_path / "vcpu.rules"
    strict.write_text("\n".join(l for l in text.splitlines() if "KVM_RUN" not in l) + "\n")
    res = brasa.run(quick_cfg(vcpus=1),
                    args=("--seccomp-filter", str(compile_filters(tmp_path, vcpu=strict))))
    assert res.rc == BAD_SYSCALL, res.log
    assert "bad syscall (16: ioctl) on thread fc_vcpu 0 (vcpu filter)" in res.log


def test_bad_filter_files(brasa, tmp_path):
    cfg = quick_cfg()
    res = brasa.run(cfg, args=("--seccomp-filter", str(tmp_path / "missing.bpf")))
    assert res.rc == 1 and "cannot open seccomp filter file" in res.log + res.stdout
    junk = tmp_path / "junk.bpf"
    junk.write_bytes(b"\x7fELF" + bytes(60))
    res = brasa.run(cfg, args=("--seccomp-filter", str(junk)))
    assert res.rc == 1 and "bad magic" in res.log + res.stdout
    res = brasa.run(cfg, args=("--seccomp-filter", str(junk), "--no-seccomp"))
    assert res.rc == 153 and "cannot be used together" in res.stdout


@pytest.mark.kvm
@needs_filters
def test_filter_file_the_kernel_refuses(brasa, tmp_path):
    """Well-formed file, invalid BPF (opcode 0xffff): the kernel refuses it at install time."""
    entry = lambda name: name.encode().ljust(16, b"\0") + struct.pack("<I", 1) + \
        struct.pack("<HBBI", 0xFFFF, 0, 0, 0)
    bad = tmp_path / "bad.bpf"
    bad.write_bytes(b"BRASABPF" + struct.pack("<II", 1, 3) + b"".join(map(entry, ROLES)))
    res = brasa.run(quick_cfg(vcpus=1), args=("--seccomp-filter", str(bad)))
    assert res.rc == 1, res.log
    assert "cannot install the seccomp filter" in res.log + res.stdout
