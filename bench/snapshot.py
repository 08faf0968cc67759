#!/usr/bin/python3
"""PUT /snapshot/load request-to-response latency of the counting test guest (128 MiB).

Creates one Full snapshot of a paused counting guest, then, --runs times, starts a fresh brasa
and times PUT /snapshot/load (resume_vm true, mem_backend File) from sending the request to
reading the whole response, on one AF_UNIX keep-alive connection. Also reports the create."""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from conftest import ApiVm  # noqa: E402
from test_pause import start_counting  # noqa: E402


def timed(vm, method, path, body):
    t = time.perf_counter()
    r = vm.request(method, path, body)
    ms = (time.perf_counter() - t) * 1000
    assert r.status == 204, r.raw
    return ms


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--mem", type=int, default=128, help="guest memory, MiB")
    args = ap.parse_args()
    d = Path(tempfile.mkdtemp(prefix="brasa-snapbench-"))
    vm = ApiVm(d)
    start_counting(vm, mem=args.mem)
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    create = timed(vm, "PUT", "/snapshot/create", {"snapshot_path": str(d / "vm.state"),
                                                    "mem_file_path": str(d / "vm.mem")})
    vm.stop()
    loads = []
    for i in range(args.runs):
        run = d / f"run{i}"
        run.mkdir()
        vm = ApiVm(run)
        loads.append(timed(vm, "PUT", "/snapshot/load", {
            "snapshot_path": str(d / "vm.state"), "resume_vm": True,
            "mem_backend": {"backend_type": "File", "backend_path": str(d / "vm.mem")}}))
        assert vm.stop() == 0
    print(f"guest memory {args.mem} MiB, state file {(d / 'vm.state').stat().st_size} bytes")
    print(f"PUT /snapshot/create (Full): {create:.2f} ms (one run)")
    print(f"PUT /snapshot/load: median {statistics.median(loads):.2f} ms, min {min(loads):.2f}, "
          f"max {max(loads):.2f} ({len(loads)} runs)")


if __name__ == "__main__":
    main()
