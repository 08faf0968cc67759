"""Bad command lines, config files and kernel images: one-line errors and Firecracker's exit codes."""
import os
import re
import subprocess

import pytest

from conftest import BRASA, INITRD, KERNELS, make_config

BAD_CONFIG = 1  # Firecracker >= 1.5: a bad config file is a generic error (152 is --level only)
BAD_ARGS = 153


def error_lines(res):
    text = res.log + "\n" + res.stdout
    return [l for l in text.splitlines() if "ERROR" in l or "brasa:" in l or "failed" in l
            or "Invalid" in l]


def assert_config_error(brasa, res, pattern):
    assert res.rc == BAD_CONFIG, f"exit {res.rc}\n{res.stdout}\n{res.log}"
    lines = [l for l in res.log.splitlines() if re.search(pattern, l)]
    assert len(lines) == 1, f"want one line matching {pattern!r}:\n{res.log}\n{res.stdout}"
    # stdout carries stderr here: the one "Error: <Debug>" line main.rs prints, and nothing else.
    assert res.stdout.startswith("Error: RunWithoutApiError(BuildMicroVMFromJson("), res.stdout
    assert len(res.stdout.splitlines()) == 1, res.stdout
    # Nothing left behind: only the files the test itself created.
    assert sorted(p.name for p in brasa.dir.iterdir()) == ["brasa.log", "vm.json"]


def run_args(*args, timeout=10):
    p = subprocess.run([str(BRASA), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def test_version():
    rc, out, _ = run_args("--version")
    assert rc == 0
    lines = out.splitlines()
    # Firecracker's line alone first (version probes parse it), brasa's own after it.
    assert lines[0] == "Firecracker v1.16.1"
    assert re.fullmatch(r"brasa v\d+\.\d+\.\d+", lines[1])


def test_help():
    rc, out, _ = run_args("--help")
    assert rc == 0
    for flag in ["--config-file", "--no-api", "--id", "--boot-timer", "--version"]:
        assert flag in out


@pytest.mark.parametrize("args", [["--bogus"], ["--no-api"], ["--id"], ["--boot-timer=yes"],
                                  ["--id", "a", "--id", "b"], ["--pvm-cpu-template", "maybe"]])
def test_bad_arguments_exit_153(args):
    rc, out, err = run_args(*args)
    assert rc == BAD_ARGS
    assert "Arguments parsing error: " in out
    assert err.startswith("Error: ParseArguments(") and len(err.splitlines()) == 1


@pytest.mark.kvm
def test_missing_kernel(brasa, tmp_path):
    res = brasa.run(make_config(tmp_path / "nope"))
    assert_config_error(brasa, res, r"cannot open kernel image .*nope: No such file")


@pytest.mark.kvm
def test_garbage_kernel(brasa, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(8192))
    res = brasa.run(make_config(junk))
    junk.unlink()
    assert_config_error(brasa, res, r"neither ELF nor bzImage")


@pytest.mark.kvm
def test_truncated_elf(brasa, tmp_path):
    data = KERNELS["pvh"].read_bytes()
    cut = tmp_path / "cut.elf"
    cut.write_bytes(data[:100])
    res = brasa.run(make_config(cut))
    cut.unlink()
    assert_config_error(brasa, res, r"truncated")


@pytest.mark.kvm
def test_wrong_arch_elf(brasa, tmp_path):
    data = bytearray(KERNELS["linux64"].read_bytes())
    data[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
    bad = tmp_path / "arm.elf"
    bad.write_bytes(bytes(data))
    res = brasa.run(make_config(bad))
    bad.unlink()
    assert_config_error(brasa, res, r"not x86_64")


@pytest.mark.kvm
def test_kernel_larger_than_memory(brasa, tmp_path):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate((128 << 20) + 4096)
    res = brasa.run(make_config(big, mem=128))
    big.unlink()
    assert_config_error(brasa, res, r"too large")


@pytest.mark.kvm
def test_initrd_too_large(brasa, tmp_path):
    big = tmp_path / "bigrd"
    with open(big, "wb") as f:
        f.truncate(127 << 20)
    res = brasa.run(make_config(KERNELS["pvh"], initrd=big, mem=128))
    big.unlink()
    assert_config_error(brasa, res, r"initrd")


@pytest.mark.parametrize("vcpus", [0, 33])
def test_bad_vcpu_count(brasa, vcpus):
    res = brasa.run(make_config(KERNELS["pvh"], vcpus=vcpus))
    assert_config_error(brasa, res, r"number of vCPUs")


def test_zero_memory(brasa):
    res = brasa.run(make_config(KERNELS["pvh"], mem=0))
    assert_config_error(brasa, res, r"memory size")


@pytest.mark.kvm
def test_memory_larger_than_host(brasa):
    res = brasa.run(make_config(KERNELS["pvh"], mem=200 * 1024))
    assert_config_error(brasa, res, r"exceeds the host's memory|mem_size_mib")


@pytest.mark.parametrize("text,pattern", [
    ("{", r"line 1"),
    ("", r"single json failed"),
    ('{"boot-source": {"kernel_image_path": "k", "x": 1}}', r"unknown field `x`"),
    ('{"boot-source": {"kernel_image_path": 5}}',
     r"invalid type: integer `5`, expected a string at line 1 column 39$"),
    ('{"boot-source": {"kernel_image_path": "k"}, '
     '"machine-config": {"vcpu_count": "2", "mem_size_mib": 128}}',
     r'invalid type: string "2", expected u8 at line 1 column 80$'),
    ('{"boot-source": {"kernel_image_path": "k"}, '
     '"machine-config": {"vcpu_count": 2.0, "mem_size_mib": 128}}',
     r"invalid type: floating point `2.0`, expected u8 at line 1 column 80$"),
    ('{"boot-source": {"kernel_image_path": "k"}, '
     '"machine-config": {"vcpu_count": 1, "vcpu_count": 2, "mem_size_mib": 128}}',
     r"duplicate"),
    ('{"machine-config": {"vcpu_count": 1, "mem_size_mib": 128}}', r"boot-source"),
    ('{"boot-source": {"kernel_image_path": "k"}, "drives": [{"drive_id": "r", '
     '"is_root_device": true, "path_on_host": "/nonexistent/r.img"}]}',
     r"backing file: No such file or directory .*/nonexistent/r.img"),
    ('{"boot-source": {"kernel_image_path": "k"}, "drives": [{"drive_id": "r"}]}',
     r"missing field `is_root_device`"),
    ('[1, 2]', r"single json failed"),
])
def test_bad_config_file(brasa, text, pattern):
    res = brasa.run(text)
    assert_config_error(brasa, res, pattern)


def test_missing_config_file(tmp_path):
    # main.rs reads it with expect(): a panic, so SIGABRT.
    rc, out, err = run_args("--no-api", "--config-file", str(tmp_path / "absent.json"))
    assert rc == -6
    assert "Unable to open or read from the configuration file: Os { code: 2, kind: NotFound" in out
