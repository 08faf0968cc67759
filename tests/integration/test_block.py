"""virtio-mmio and virtio-block, driven by the test guest's own driver: real I/O on both engines,
read-only drives, several drives, GET_ID, rate limits, host I/O errors, and a hostile driver."""
import json
import errno
import os
import re
import resource
import signal
import subprocess
import time

import pytest

from conftest import KERNELS, make_config, parse_fields, parse_report, wait_for_line, without_pvm_args

pytestmark = pytest.mark.kvm

SECTOR = 512
BASE = 0xC0001000
NEEDS_RESET = 0x40


def fnv1a32w(d):
    """The guest's checksum (tests/guest/README.md)."""
    h, n = 0x811C9DC5, len(d) & ~3
    for i in range(0, n, 4):
        h = ((h ^ int.from_bytes(d[i:i + 4], "little")) * 0x01000193) & 0xFFFFFFFF
    for b in d[n:]:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def xorshift_pattern(seed, length):
    """The bytes the guest writes to sector 8 of drive i: xorshift32 seeded 0x1234 + i."""
    out, s = bytearray(), seed
    for _ in range(length // 4):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out += s.to_bytes(4, "little")
    return bytes(out)


def make_disk(path, size, seed):
    data = bytes((seed + i * 7 + (i >> 9)) & 0xFF for i in range(size))
    path.write_bytes(data)
    return data


def drive(drive_id, path, root=False, ro=False, engine="Sync", cache="Unsafe", **extra):
    d = {"drive_id": drive_id, "path_on_host": str(path), "is_root_device": root,
         "is_read_only": ro, "io_engine": engine, "cache_type": cache}
    d.update(extra)
    return d


def expected_id(path):
    st = os.stat(path)
    return f"{st.st_dev}{st.st_rdev}{st.st_ino}"[:20]


def boot_blk(brasa, drives, words="brasa.blk", boot_args="console=ttyS0", timeout=60):
    cfg = make_config(KERNELS["pvh"], f"{boot_args} {words}".strip(), extra={"drives": drives})
    res = brasa.run(cfg, timeout=timeout)
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("panic") is None, res.stdout
    return res


def dev_lines(report, key):
    """{dev: fields} of every `key dev=N ...` line."""
    return {f["dev"]: f for f in (parse_fields(t) for t in report.all(key))}


def id_strings(report):
    return [t.split("\\x00")[0] for t in report.all("blk-idstr")]


def check_exercised(res, i, path, original, ro):
    """Checks what drive i's exercise did, against the host file."""
    now = path.read_bytes()
    read = dev_lines(res.report, "blk-read")[i]
    assert read["status"] == 0
    assert read["used"] == 4096 + 1
    assert read["sum"] == fnv1a32w(original[:4096])
    assert read["isr"] & 1, "no used-buffer interrupt was raised"
    write = dev_lines(res.report, "blk-write")[i]
    pattern = xorshift_pattern(0x1234 + i, 4096)
    assert write["sum"] == fnv1a32w(pattern)
    back = dev_lines(res.report, "blk-readback")[i]
    assert dev_lines(res.report, "blk-flush")[i]["status"] == 0
    if ro:
        assert write["status"] == 1  # VIRTIO_BLK_S_IOERR
        assert now == original, "a read-only drive was modified"
        assert back["sum"] == fnv1a32w(original[8 * SECTOR:8 * SECTOR + 4096])
    else:
        assert write["status"] == 0
        assert now[8 * SECTOR:8 * SECTOR + 4096] == pattern
        assert now[:8 * SECTOR] == original[:8 * SECTOR]
        assert now[8 * SECTOR + 4096:] == original[8 * SECTOR + 4096:]
        assert back["sum"] == write["sum"]


@pytest.mark.parametrize("engine", ["Sync", "Async"])
def test_guest_io_is_byte_identical(brasa, tmp_path, engine):
    root, data = tmp_path / "root.img", tmp_path / "data.img"
    orig_root = make_disk(root, 1 << 20, 1)
    orig_data = make_disk(data, 64 << 10, 2)
    res = boot_blk(brasa, [drive("rootfs", root, root=True, engine=engine, cache="Writeback"),
                           drive("data", data, ro=True, engine=engine)])
    cmdline = res.report.get("cmdline")
    assert without_pvm_args(cmdline).endswith("console=ttyS0 brasa.blk root=/dev/vda rw "
                            "virtio_mmio.device=4K@0xc0001000:5 virtio_mmio.device=4K@0xc0002000:6")
    devs = dev_lines(res.report, "blk")
    assert devs[0]["magic"] == 0x74726976 and devs[0]["version"] == 2 and devs[0]["devid"] == 2
    assert devs[0]["base"] == BASE and devs[0]["irq"] == 5
    assert devs[1]["base"] == BASE + 0x1000 and devs[1]["irq"] == 6
    assert devs[0]["capacity"] == (1 << 20) // SECTOR
    assert devs[1]["capacity"] == (64 << 10) // SECTOR
    assert devs[0]["status"] == 0xF
    feats = devs[0]["features"]
    assert feats & (1 << 32) and feats & (1 << 29) and feats & (1 << 28)  # VERSION_1, EVENT_IDX, INDIRECT
    assert feats & (1 << 9) and not feats & (1 << 5)  # FLUSH (Writeback), not RO
    assert devs[1]["features"] & (1 << 5) and not devs[1]["features"] & (1 << 9)
    assert id_strings(res.report) == [expected_id(root), expected_id(data)]
    assert all(f["status"] == 0 and f["used"] == 21 for f in dev_lines(res.report, "blk-id").values())
    check_exercised(res, 0, root, orig_root, ro=False)
    check_exercised(res, 1, data, orig_data, ro=True)


@pytest.mark.parametrize("engine", ["Sync", "Async"])
def test_request_over_2gib(brasa, tmp_path, engine):
    """A read and a write of 2400 MiB in one request (six 400 MiB descriptors on one guest
    buffer). One read or write syscall, and one io_uring READV/WRITEV, moves at most
    2 GiB - 4 KiB; Sync loops and Async queues the rest again, so both engines move every
    byte (issue 17, item 6)."""
    seg, segs = 400 << 20, 6
    disk = tmp_path / "big.img"
    with open(disk, "wb") as f:  # sparse, with a pattern at the end of the first and last segment
        f.truncate(segs * seg + (1 << 20))
        f.seek(seg - 4096)
        f.write(xorshift_pattern(1, 4096))
        f.seek(segs * seg - 4096)
        f.write(xorshift_pattern(5, 4096))
    cfg = make_config(KERNELS["pvh"], "console=ttyS0 brasa.blk brasa.blk.big=400", mem=3072,
                      extra={"drives": [drive("rootfs", disk, root=True, engine=engine)]})
    res = brasa.run(cfg, timeout=180)
    assert res.rc == 0, f"exit {res.rc}\n{res.stdout}\n{res.log}"
    read = res.report.fields("blk-big-read")
    assert read["status"] == 0, res.stdout
    assert read["used"] == segs * seg + 1
    assert read["sum"] == fnv1a32w(xorshift_pattern(5, 4096))  # the last segment came last
    write = res.report.fields("blk-big-write")
    assert (write["status"], write["used"]) == (0, 1), res.stdout
    pattern = xorshift_pattern(0x9999, 4096)
    assert write["sum"] == fnv1a32w(pattern)
    with open(disk, "rb") as f:
        for k in range(segs):
            f.seek((k + 1) * seg - 4096)
            assert f.read(4096) == pattern, f"segment {k} was not written"
    assert disk.stat().st_size == segs * seg + (1 << 20)
    disk.unlink()


def test_four_drives(brasa, tmp_path):
    paths, origs, drives = [], [], []
    for i in range(4):
        p = tmp_path / f"d{i}.img"
        origs.append(make_disk(p, (32 + 16 * i) << 10, 10 + i))
        paths.append(p)
        drives.append(drive(f"d{i}", p, root=(i == 0), ro=(i == 3),
                            engine="Async" if i % 2 else "Sync"))
    res = boot_blk(brasa, drives)
    assert res.report.get("virtio") == "devices=4"
    devs = dev_lines(res.report, "blk")
    for i in range(4):
        assert devs[i]["base"] == BASE + 0x1000 * i
        assert devs[i]["irq"] == 5 + i
        assert devs[i]["capacity"] == len(origs[i]) // SECTOR
        check_exercised(res, i, paths[i], origs[i], ro=(i == 3))
    assert id_strings(res.report) == [expected_id(p) for p in paths]


def test_root_device_command_line(brasa, tmp_path):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    make_disk(a, 8192, 1)
    make_disk(b, 8192, 2)
    # The root drive is listed second but attached first, as Firecracker does.
    res = boot_blk(brasa, [drive("data", a), drive("root", b, root=True, ro=True,
                                                    partuuid="0eaa91a0-01")], words="brasa.quick")
    assert without_pvm_args(res.report.get("cmdline")).endswith(
        "console=ttyS0 brasa.quick root=PARTUUID=0eaa91a0-01 ro "
        "virtio_mmio.device=4K@0xc0001000:5 virtio_mmio.device=4K@0xc0002000:6")
    assert "Attached drive root" in res.log


def test_default_boot_args_come_first(brasa, tmp_path):
    a = tmp_path / "a.img"
    make_disk(a, 8192, 1)
    cfg = make_config(KERNELS["pvh"], None, extra={"drives": [drive("a", a, root=True)]})
    res = brasa.run(cfg)
    assert res.rc == 0, res.stdout
    assert res.report.get("cmdline").startswith("reboot=k panic=1 ")
    assert without_pvm_args(res.report.get("cmdline")).endswith(
        "swiotlb=noforce root=/dev/vda rw virtio_mmio.device=4K@0xc0001000:5")


# mode -> what the device must answer: "reset" = NEEDS_RESET, or the request's status byte.
HOSTILE = {
    "loop": "reset",        # descriptor loop
    "oob": "reset",         # buffer address past guest RAM
    "lenovf": "reset",      # address + length wraps 2^64
    "zerolen": "reset",     # a chain of one empty descriptor
    "nostatus": "reset",    # no writable status byte
    "badnext": "reset",     # next index out of range
    "indind": "reset",      # indirect table inside an indirect table
    "badidx": "reset",      # avail idx 1000 ahead
    "badhead": "reset",     # avail ring entry out of range
    "badq": "reset",        # notify of a queue that does not exist
    "lateq": "reset",       # queue register written after DRIVER_OK
    "npot": "reset",        # queue size 6
    "unaligned": "reset",   # descriptor table not 16-byte aligned
    "badtype": 2,           # VIRTIO_BLK_S_UNSUPP
    "pastend": 1,           # read past the capacity: VIRTIO_BLK_S_IOERR
    "rowrite": 1,           # write to a read-only drive: VIRTIO_BLK_S_IOERR
    "resetbusy": 0,         # reset while a 64 KiB read is in flight: status reads 0 at once
}


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_hostile_driver(brasa, tmp_path, mode):
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    orig_a = make_disk(a, 64 << 10, 1)
    orig_b = make_disk(b, 64 << 10, 2)
    ro = mode == "rowrite"
    # Every other mode on an Async drive: a reset then waits for io_uring on the vCPU thread.
    engine = "Async" if sorted(HOSTILE).index(mode) % 2 or mode == "resetbusy" else "Sync"
    res = boot_blk(brasa, [drive("a", a, root=True, ro=ro, engine=engine),
                           drive("b", b, engine="Async")],
                   words=f"brasa.blk.hostile={mode}")
    assert res.report.get("blk-hostile-mode") == mode
    r = res.report.fields("blk-hostile")
    if HOSTILE[mode] == "reset":
        assert r["devstatus"] & NEEDS_RESET, res.stdout
        assert r["result"] & 0x100 and r["result"] & NEEDS_RESET, res.stdout
        assert r["isr"] & 2, "no configuration-change interrupt with NEEDS_RESET"
        assert "broken virtio driver" in res.log
    else:
        assert r["result"] == HOSTILE[mode], res.stdout
        assert not r["devstatus"] & NEEDS_RESET
    # After a reset the drive works again, and the other drive never stopped working.
    rec = res.report.fields("blk-recovered")
    assert rec["status"] == 0 and rec["devstatus"] == 0xF
    assert rec["sum"] == fnv1a32w(orig_a[:4096])
    other = res.report.fields("blk-other")
    assert other["status"] == 0 and other["sum"] == fnv1a32w(orig_b[:4096])
    assert a.read_bytes() == orig_a
    assert b.read_bytes() == orig_b
    assert res.report.get("done") is not None


@pytest.mark.parametrize("bucket,count,size", [
    ("bandwidth", 12, 4096),
    ("ops", 10, 512),
])
def test_rate_limit_lower_bound(brasa, tmp_path, bucket, count, size):
    """N units through a bucket of S per T ms, starting full with burst B, take at least
    (N - S - B) * T / S ms: a correctness bound that holds on any machine."""
    a = tmp_path / "a.img"
    make_disk(a, 64 << 10, 1)
    cap, burst, refill_ms = (4096, 2048, 100) if bucket == "bandwidth" else (2, 1, 100)
    units = count * size if bucket == "bandwidth" else count
    bound_s = (units - cap - burst) * refill_ms / cap / 1000.0
    rl = {bucket: {"size": cap, "one_time_burst": burst, "refill_time": refill_ms}}
    cfg = make_config(KERNELS["pvh"], f"console=ttyS0 brasa.blk.rl={count} brasa.blk.size={size}",
                      extra={"drives": [drive("a", a, root=True, rate_limiter=rl)]})
    start = time.monotonic()
    res = brasa.run(cfg)
    elapsed = time.monotonic() - start
    assert res.rc == 0, res.stdout
    done = res.report.fields("blk-rl")
    assert done["count"] == count and done["ok"] == count
    assert elapsed >= bound_s, f"{units} units in {elapsed:.3f}s, bucket allows no less than {bound_s:.3f}s"


@pytest.fixture
def tiny_fs(tmp_path):
    """A 256 KiB tmpfs: a full disk that a test can make."""
    mnt = tmp_path / "fs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], check=True)
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_host_io_error_reaches_guest(brasa, tiny_fs):
    """A write the host refuses (the disk is full: ENOSPC) is an IOERR for the guest; brasa and
    the drive carry on."""
    a = tiny_fs / "a.img"
    orig = bytearray(make_disk(a, 64 << 10, 1))
    # The guest writes 4096 bytes at offset 4096: make that range a hole, then fill the disk.
    subprocess.run(["fallocate", "--punch-hole", "-o", "4096", "-l", "4096", str(a)], check=True)
    orig[4096:8192] = bytes(4096)
    with open(tiny_fs / "filler", "wb", buffering=0) as f:
        with pytest.raises(OSError) as full:
            while True:
                f.write(bytes(4096))
    assert full.value.errno == errno.ENOSPC
    cfg_path = brasa.write_config(make_config(
        KERNELS["pvh"], "console=ttyS0 brasa.blk",
        extra={"drives": [drive("a", a, root=True)]}))
    argv = brasa.argv(cfg_path)
    argv = argv[:argv.index("--log-path")]
    p = subprocess.run(argv, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    rep = parse_report(out)
    assert dev_lines(rep, "blk-write")[0]["status"] == 1  # the write at offset 4096 failed
    assert dev_lines(rep, "blk-read")[0]["status"] == 0
    assert dev_lines(rep, "blk-readback")[0]["status"] == 0
    assert "write of 4096 bytes failed: No space left on device" in out
    assert a.read_bytes() == orig


@pytest.mark.parametrize("engine", ["Sync", "Async"])
def test_write_past_rlimit_fsize_is_an_io_error(brasa, tmp_path, engine):
    """A guest write past RLIMIT_FSIZE (the jailer's --resource-limit fsize=) is an IOERR for
    the guest on both engines, and brasa goes on (issue 17, item 5): the kernel's SIGXFSZ for
    brasa's own write is only logged. A SIGXFSZ sent with kill still ends brasa with 151, as
    Firecracker, even when its parent left the signal ignored. The drive keeps what it had."""
    a = tmp_path / "a.img"
    orig = make_disk(a, 64 << 10, 1)
    cfg_path = brasa.write_config(make_config(
        KERNELS["pvh"], "console=ttyS0 brasa.blk brasa.halt",
        extra={"drives": [drive("a", a, root=True, engine=engine)]}))

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))

    argv = brasa.argv(cfg_path)
    argv = argv[:argv.index("--log-path")]  # log to stdout: a log file would hit the limit too
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, preexec_fn=limit)
    try:
        out = wait_for_line(p, r"BRASA halting[^\n]*\n")
        rep = parse_report(out)
        # The guest writes 4096 bytes at offset 4096: past the 4096-byte limit.
        assert dev_lines(rep, "blk-write")[0]["status"] == 1, out  # VIRTIO_BLK_S_IOERR
        assert dev_lines(rep, "blk-read")[0]["status"] == 0
        assert dev_lines(rep, "blk-readback")[0]["status"] == 0
        assert p.poll() is None, "brasa ended on the guest's write"
        seen = r"Signal 25 \(SIGXFSZ\) from a write past RLIMIT_FSIZE[^\n]*\n"
        if engine == "Sync" and not re.search(seen, out):
            # The loop must have taken the write's SIGXFSZ before ours is sent: two pending
            # SIGXFSZ would merge into one.
            out += wait_for_line(p, seen)
        os.kill(p.pid, signal.SIGXFSZ)
        assert p.wait(timeout=10) == 151
        out += p.stdout.read().decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert "write of 4096 bytes failed: File too large" in out
    if engine == "Sync":
        assert "Signal 25 (SIGXFSZ) from a write past RLIMIT_FSIZE" in out
    assert out.count("Shutting down VM after intercepting signal 25, code 0.") == 1, out
    assert a.read_bytes() == orig


def test_patch_drive_changes_capacity(api_vm, tmp_path):
    """PATCH /drives/{id} after boot: the guest gets a config interrupt, reads the new capacity
    and then the new file's data; a path that cannot be opened changes nothing."""
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    make_disk(a, 64 << 10, 1)
    new = make_disk(b, 256 << 10, 7)
    assert api_vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.blk.waitcap brasa.halt"}
                      ).status == 204
    assert api_vm.put("/drives/rootfs", drive("rootfs", a, root=True)).status == 204
    assert api_vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    out = wait_for_line(api_vm.proc, r"BRASA blk-waitcap ready[^\n]*\n")
    ready = parse_report(out).fields("blk-waitcap")
    assert ready["capacity"] == (64 << 10) // SECTOR
    bad = api_vm.patch("/drives/rootfs", {"drive_id": "rootfs",
                                          "path_on_host": str(tmp_path / "missing.img")})
    assert bad.status == 400
    assert bad.fault() == ("Drive config error: Unable to patch the block device: Block: Virtio "
                           "backend error: Error manipulating the backing file: No such file or "
                           f"directory (os error 2) {tmp_path / 'missing.img'} Please verify the "
                           "request arguments.")
    gone = api_vm.patch("/drives/nope", {"drive_id": "nope", "path_on_host": str(b)})
    assert gone.fault() == ("Drive config error: Unable to patch the block device: Failed perform "
                            "action on device: Device not found Please verify the request "
                            "arguments.")
    rl = {"bandwidth": {"size": 1 << 20, "refill_time": 100}}
    r = api_vm.patch("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(b),
                                        "rate_limiter": rl})
    assert r.status == 204, r.raw
    out += wait_for_line(api_vm.proc, r"BRASA blk-newread[^\n]*\n")
    rep = parse_report(out)
    cap = rep.fields("blk-newcap")
    assert cap["capacity"] == (256 << 10) // SECTOR
    assert cap["gen"] != ready["gen"]
    assert cap["isr"] & 2, "no configuration-change interrupt"
    read = rep.fields("blk-newread")
    assert read["status"] == 0 and read["sum"] == fnv1a32w(new[:4096])
    cfg = api_vm.get("/vm/config").json()
    assert cfg["drives"][0]["path_on_host"] == str(b)
    assert cfg["drives"][0]["rate_limiter"]["bandwidth"]["size"] == 1 << 20
    api_vm.proc.terminate()
    assert api_vm.proc.wait(timeout=10) == 0


def test_per_drive_metrics(api_vm, tmp_path):
    """block_<id> counts what each drive did, block sums them (Firecracker's metric names)."""
    a, b = tmp_path / "a.img", tmp_path / "b.img"
    make_disk(a, 64 << 10, 1)
    make_disk(b, 64 << 10, 2)
    metrics = tmp_path / "metrics.json"
    assert api_vm.put("/metrics", {"metrics_path": str(metrics)}).status == 204
    assert api_vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.blk brasa.halt"}
                      ).status == 204
    assert api_vm.put("/drives/rootfs", drive("rootfs", a, root=True, cache="Writeback")
                      ).status == 204
    assert api_vm.put("/drives/ro", drive("ro", b, ro=True, engine="Async")).status == 204
    assert api_vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_for_line(api_vm.proc, r"BRASA halting")
    assert api_vm.put("/actions", {"action_type": "FlushMetrics"}).status == 204
    lines = [json.loads(l) for l in metrics.read_text().splitlines()]
    total = {k: sum(l[k]["read_count"] for l in lines if k in l) for k in ("block_rootfs", "block_ro")}
    assert total == {"block_rootfs": 2, "block_ro": 2}
    last = lines[-1]
    rw, ro, agg = last["block_rootfs"], last["block_ro"], last["block"]
    assert (rw["read_count"], rw["read_bytes"], rw["write_count"], rw["write_bytes"]) == (2, 8192, 1, 4096)
    assert rw["flush_count"] == 1 and rw["invalid_reqs_count"] == 0
    assert rw["read_agg"]["max_us"] >= rw["read_agg"]["min_us"]
    assert (ro["read_count"], ro["write_count"], ro["invalid_reqs_count"]) == (2, 0, 1)
    assert agg["read_count"] == 4 and agg["read_bytes"] == 16384 and agg["invalid_reqs_count"] == 1
    api_vm.proc.terminate()
    assert api_vm.proc.wait(timeout=10) == 0
