"""Signals, as Firecracker handles them: each fatal one is logged, counted in the metrics and
ends brasa with Firecracker's exit code, also as PID 1 of a PID namespace under the jailer;
SIGPIPE is counted and brasa goes on; SIGTERM and SIGINT end it gracefully with 0."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import KERNELS, make_config, wait_for_line
from test_jailer import jail, needs_static, wait_gone  # noqa: F401 (jail is a fixture)

# signal -> (exit code, metrics group and field that records it), from Firecracker's
# FcExitCode and signal_handler.rs. A SIGSYS that no filter raised is its UnexpectedError.
FATAL = {
    signal.SIGBUS: (149, "signals", "sigbus"),
    signal.SIGSEGV: (150, "signals", "sigsegv"),
    signal.SIGXFSZ: (151, "signals", "sigxfsz"),
    signal.SIGXCPU: (154, "signals", "sigxcpu"),
    signal.SIGHUP: (156, "signals", "sighup"),
    signal.SIGILL: (157, "signals", "sigill"),
    signal.SIGSYS: (2, "seccomp", "num_faults"),
}


def spawn_idle(brasa, tmp_path):
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.idle")
    metrics = tmp_path / "metrics.json"
    proc = brasa.spawn(cfg, args=("--metrics-path", str(metrics)))
    log = tmp_path / "brasa.log"
    deadline = time.monotonic() + 30
    while "Successfully started" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    wait_for_line(proc, "BRASA idle")
    return proc, log, metrics


def metric_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.kvm
@pytest.mark.parametrize("sig", list(FATAL), ids=lambda s: signal.Signals(s).name)
def test_fatal_signal(brasa, tmp_path, sig):
    code, group, field = FATAL[sig]
    proc, log, metrics = spawn_idle(brasa, tmp_path)
    # --no-api writes a line at start, as Firecracker's run_without_api().
    assert len(metric_lines(metrics)) == 1
    os.kill(proc.pid, sig)
    assert proc.wait(timeout=10) == code
    text = log.read_text()
    assert f"Shutting down VM after intercepting signal {int(sig)}, code 0." in text, text
    assert text.splitlines()[-1].endswith(f"Firecracker exiting with error. exit_code={code}")
    # The last line written holds the signal, so a short-lived VM keeps its counters.
    last = metric_lines(metrics)[-1]
    assert last[group][field] == 1, last[group]


@pytest.mark.kvm
def test_sigpipe_is_counted_and_brasa_goes_on(brasa, tmp_path):
    proc, log, metrics = spawn_idle(brasa, tmp_path)
    os.kill(proc.pid, signal.SIGPIPE)
    deadline = time.monotonic() + 10
    while "Received signal 13, code 0." not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    lines = metric_lines(metrics)
    assert sum(m["signals"]["sigpipe"] for m in lines) == 1, lines


@pytest.mark.kvm
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_term_and_int_end_gracefully(brasa, tmp_path, sig):
    proc, log, metrics = spawn_idle(brasa, tmp_path)
    proc.send_signal(sig)
    assert proc.wait(timeout=10) == 0
    text = log.read_text()
    assert text.splitlines()[-1].endswith("Firecracker exiting successfully. exit_code=0")
    assert len(metric_lines(metrics)) == 2  # the start line and the last one


@pytest.mark.kvm
@needs_static
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGBUS, signal.SIGTERM],
                         ids=["SIGHUP", "SIGBUS", "SIGTERM"])
def test_signals_reach_pid_1_of_a_pid_namespace(jail, sig):  # noqa: F811
    """The kernel drops default-action signals sent to a namespace's init: brasa must not."""
    jail.prepare_root(boot_args="console=ttyS0 brasa.idle")
    p = subprocess.run(jail.argv("--daemonize", "--new-pid-ns"), stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    pid_file, log = jail.root / "brasa.pid", jail.root / "brasa.log"
    deadline = time.monotonic() + 30
    while "Successfully started" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "jailed brasa did not start"
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    with open(f"/proc/{pid}/status") as f:
        assert [line for line in f if line.startswith("NSpid:")][0].split()[-1] == "1"
    os.kill(pid, sig)
    wait_gone(pid, timeout=10)
    code = 0 if sig == signal.SIGTERM else FATAL[sig][0]
    text = log.read_text()
    if code:
        assert f"Shutting down VM after intercepting signal {int(sig)}" in text, text
        assert text.splitlines()[-1].endswith(f"exiting with error. exit_code={code}"), text
    else:
        assert text.splitlines()[-1].endswith("exiting successfully. exit_code=0"), text
