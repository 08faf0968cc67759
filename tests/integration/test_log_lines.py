"""The log lines that Firecracker's tooling parses: the first line, the exit line, the thread."""
import re

from conftest import KERNELS, make_config

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}"


def test_first_and_last_lines_of_a_clean_run(brasa):
    res = brasa.boot("pvh")
    assert res.rc == 0, res.log
    lines = res.log.splitlines()
    # Firecracker's framework waits for this line in --no-api mode.
    assert re.fullmatch(STAMP + r" \[anonymous-instance:main\] Running Firecracker v1\.16\.1",
                        lines[0]), lines[0]
    assert lines[-1].endswith("[anonymous-instance:main] Firecracker exiting successfully. "
                              "exit_code=0"), lines[-1]
    # The VMM thread logs as Firecracker's main thread.
    assert "fc_vmm" not in res.log


def test_exit_line_of_a_failed_run(brasa):
    cfg = make_config(KERNELS["pvh"], "console=ttyS0")
    cfg["machine-config"]["vcpu_count"] = 0
    res = brasa.run(cfg)
    assert res.rc != 0, res.log
    assert res.log.splitlines()[-1].endswith(
        f"Firecracker exiting with error. exit_code={res.rc}"), res.log
