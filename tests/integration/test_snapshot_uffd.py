"""The Uffd memory backend of PUT /snapshot/load: guest memory served by brasa-uffd-handler (on
demand and all at once), and every way the handler can be missing or fail, each a clear error
(then exit 1) and never a hung API."""
import ctypes
import mmap
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from api_schema import SPEC
from conftest import BUILD, KERNELS, ApiVm
from test_pause import Console, assert_consecutive, start_counting
from test_snapshot import LOAD_ERR, blk_counts, restored_counts

pytestmark = pytest.mark.kvm

HANDLER = BUILD / "brasa-uffd-handler"
UFFD_ERR = LOAD_ERR + "Failed to load guest memory: Error creating guest memory from uffd: "
HUNG_UP = UFFD_ERR + "the page-fault handler closed its connection"


def uffd_body(state, sock, resume=True):
    return {"snapshot_path": str(state), "resume_vm": resume,
            "mem_backend": {"backend_type": "Uffd", "backend_path": str(sock)}}


def short_dir():
    """Unix socket paths must stay under 108 bytes: pytest's tmp_path can be longer."""
    return Path(tempfile.mkdtemp(prefix="brasa-uffd-"))


class Handler:
    """brasa-uffd-handler on a fresh socket, or a Python stand-in given as code."""

    def __init__(self, mem, args=(), code=None):
        self.sock = short_dir() / "uffd.sock"
        cmd = ([sys.executable, "-c", code, str(self.sock)] if code else
               [str(HANDLER), *args, str(self.sock), str(mem)])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not self.sock.exists():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.output()
            time.sleep(0.005)

    def wait(self, timeout=10):
        return self.proc.wait(timeout=timeout)

    def output(self):
        if self.proc.poll() is None:
            return ""
        return self.proc.stdout.read().decode(errors="replace")


def take_snapshot(d, vcpus=1, boot_args="console=ttyS0 brasa.count=20000", drive=None):
    """A running test guest, paused and snapshotted: (state, memory, console text so far)."""
    (d / "src").mkdir()
    vm = ApiVm(d / "src", validate=SPEC.validate)
    if drive:
        assert vm.put("/drives/scratch", {"drive_id": "scratch", "path_on_host": str(drive),
                                          "is_root_device": False,
                                          "is_read_only": False}).status == 204
    if "brasa.count" in boot_args:
        con = start_counting(vm, vcpus=vcpus)
    else:
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": boot_args}).status == 204
        assert vm.put("/machine-config", {"vcpu_count": vcpus, "mem_size_mib": 128}).status == 204
        assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
        con = Console(vm.proc)
        while len(blk_counts(con.read())) < 3:
            assert vm.proc.poll() is None
            time.sleep(0.02)
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = d / "vm.state", d / "vm.mem"
    assert vm.put("/snapshot/create", {"snapshot_path": str(state),
                                       "mem_file_path": str(mem)}).status == 204
    text = con.settle()
    assert vm.stop() == 0
    return state, mem, text


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory):
    return take_snapshot(tmp_path_factory.mktemp("uffd"))


def load_and_count(tmp_path, snap, args=()):
    """Loads snap through a new handler and checks that the guest counts on; returns both (the
    VM's console reader as vm.console)."""
    state, mem, before = snap
    h = Handler(mem, args)
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    r = vm.put("/snapshot/load", uffd_body(state, h.sock))
    assert r.status == 204, r.raw
    assert vm.get("/").json()["state"] == "Running"
    con = Console(vm.proc)
    con.wait_count(restored_counts(before, "")[-1] + 3)
    assert_consecutive(restored_counts(before, con.read()))
    vm.console = con
    return vm, h


def test_uffd_load_serves_pages_on_demand(snapshot, tmp_path):
    vm, h = load_and_count(tmp_path, snapshot)
    assert vm.get("/machine-config").json()["mem_size_mib"] == 128
    assert vm.stop() == 0
    # The VMM's exit is the handler's cue: it removes its socket and exits 0.
    assert h.wait() == 0
    out = h.output()
    assert "serving 1 region(s)" in out and "on demand" in out, out
    assert not h.sock.exists()


def test_uffd_load_with_fault_all(snapshot, tmp_path):
    vm, h = load_and_count(tmp_path, snapshot, args=["--fault-all"])
    assert vm.stop() == 0
    assert h.wait() == 0
    assert f"copied all {128 << 20} bytes" in h.output()


def test_uffd_load_paused_then_resumed(snapshot, tmp_path):
    state, mem, before = snapshot
    h = Handler(mem)
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    assert vm.put("/snapshot/load", uffd_body(state, h.sock, resume=False)).status == 204
    assert vm.get("/").json()["state"] == "Paused"
    con = Console(vm.proc)
    assert "BRASA count" not in con.settle()
    assert vm.patch("/vm", {"state": "Resumed"}).status == 204
    con.wait_count(restored_counts(before, "")[-1] + 2)
    assert_consecutive(restored_counts(before, con.read()))
    assert vm.stop() == 0
    assert h.wait() == 0


def test_uffd_two_vcpus_with_a_drive(tmp_path):
    """Two vCPUs, and a guest that reads back through its restored virtio queue, on every turn,
    what it wrote to its drive the turn before: the VMM thread's device work touches guest
    pages the handler serves too."""
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    state, mem, before = take_snapshot(tmp_path, vcpus=2, drive=disk,
                                       boot_args="console=ttyS0 brasa.blk brasa.blk.count=20000")
    h = Handler(mem)
    (tmp_path / "b").mkdir()
    vm = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert vm.put("/snapshot/load", uffd_body(state, h.sock)).status == 204
    assert vm.get("/machine-config").json()["vcpu_count"] == 2
    con = Console(vm.proc)
    last = blk_counts(before)[-1][0]
    while not blk_counts(before + con.read()) or blk_counts(before + con.text)[-1][0] < last + 3:
        assert vm.proc.poll() is None, con.text
        time.sleep(0.02)
    assert vm.stop() == 0
    turns = blk_counts(before + con.text)
    assert [n for n, _, _ in turns] == list(range(1, len(turns) + 1)), turns
    assert all(p == n - 1 and st == "0/0" for n, p, st in turns), turns
    assert h.wait() == 0


def expect_failed_uffd_load(tmp_path, state, sock, message):
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    r = vm.put("/snapshot/load", uffd_body(state, sock))
    assert r.status == 400, r.raw
    assert r.fault() == message, r.fault()
    assert vm.proc.wait(timeout=10) == 1
    vm.stop()
    assert "Loading snapshot failed" in vm.output()
    return vm


def test_uffd_missing_handler_socket(snapshot, tmp_path):
    state, _, _ = snapshot
    sock = short_dir() / "nobody.sock"
    expect_failed_uffd_load(tmp_path, state, sock, UFFD_ERR + "Failed to connect to UDS Unix "
                            "stream: No such file or directory (os error 2)")
    assert not sock.exists()


def test_uffd_socket_nobody_listens_on(snapshot, tmp_path):
    state, _, _ = snapshot
    sock = short_dir() / "dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(sock))
    s.close()  # bound, never listening: a handler that is gone
    expect_failed_uffd_load(tmp_path, state, sock, UFFD_ERR + "Failed to connect to UDS Unix "
                            "stream: Connection refused (os error 111)")


CLOSE_AT_ONCE = """
import socket, sys
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(1)
c, _ = l.accept(); c.close(); l.close()
import time; time.sleep(30)
"""

DIE_AFTER_HANDSHAKE = """
import os, socket, sys
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(1)
c, _ = l.accept()
msg, fds, _, _ = socket.recv_fds(c, 4096, 1)
print(msg.decode(), len(fds), flush=True)
os._exit(3)
"""


def test_uffd_handler_that_closes_the_connection(snapshot, tmp_path):
    """A handler that accepts and closes without reading: brasa's first touch of guest memory
    would wait forever; the load fails instead, and the process ends."""
    state, mem, _ = snapshot
    h = Handler(mem, code=CLOSE_AT_ONCE)
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    r = vm.put("/snapshot/load", uffd_body(state, h.sock))
    assert r.status == 400, r.raw
    # Closed before brasa's send, or after it: either way a clear error.
    assert r.fault() in (HUNG_UP, UFFD_ERR + "Failed to sends file descriptor: Broken pipe "
                         "(os error 32)", UFFD_ERR + "Failed to sends file descriptor: "
                         "Connection reset by peer (os error 104)"), r.fault()
    assert vm.proc.wait(timeout=10) == 1
    vm.stop()
    h.proc.kill()
    h.wait()


def test_uffd_handler_that_dies_after_the_handshake(snapshot, tmp_path):
    state, mem, _ = snapshot
    h = Handler(mem, code=DIE_AFTER_HANDSHAKE)
    expect_failed_uffd_load(tmp_path, state, h.sock, HUNG_UP)
    assert h.wait() == 3
    out = h.output()
    # Firecracker's region list, and the userfaultfd with it.
    assert '[{"base_host_virt_addr":' in out and '"page_size":4096,"page_size_kib":4096}] 1' in out


def test_uffd_memory_file_too_short(snapshot, tmp_path):
    state, mem, _ = snapshot
    short = tmp_path / "short.mem"
    short.write_bytes(mem.read_bytes()[: 64 << 20])
    h = Handler(short)
    expect_failed_uffd_load(tmp_path, state, h.sock, HUNG_UP)
    assert h.wait() == 1
    out = h.output()
    assert f"the memory file {short} is {64 << 20} bytes, the guest memory regions need " \
        f"{128 << 20}" in out, out
    assert not h.sock.exists()


def test_uffd_handler_killed_while_the_guest_runs(snapshot, tmp_path):
    """The handler dies after a good load: brasa stops the microVM with an error, promptly,
    instead of leaving a guest frozen on its next missing page."""
    vm, h = load_and_count(tmp_path, snapshot)
    h.proc.kill()
    h.wait()
    assert vm.proc.wait(timeout=10) == 1
    vm.stop()
    assert "The page-fault handler of the Uffd memory backend closed its connection" in \
        vm.output()
    assert os.path.exists(h.sock)  # a killed handler leaves its socket: the user removes it


def run_brasa(*args):
    return subprocess.run([str(BUILD / "brasa"), *args], capture_output=True, text=True,
                          timeout=10)


def test_snapshot_version_and_describe_snapshot_agree(snapshot):
    """As Firecracker's tools use them: the version a state file has is the one brasa writes."""
    state, _, _ = snapshot
    r = run_brasa("--snapshot-version")
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines()[0] == "v2.0.0"
    assert "Firecracker exiting successfully. exit_code=0" in r.stdout
    r = run_brasa("--describe-snapshot", str(state))
    assert (r.returncode, r.stderr) == (0, "")
    assert r.stdout.splitlines()[0] == "v2.0.0"


def test_describe_snapshot_of_a_missing_file(tmp_path):
    r = run_brasa("--describe-snapshot", str(tmp_path / "none"))
    assert r.returncode == 1
    assert ("When printing Snapshot Data format: Unable to open snapshot state file: No such "
            "file or directory (os error 2)") in r.stdout
    assert r.stderr == ('Error: PrintSnapshotDataFormat(OpenSnapshot(Os { code: 2, kind: '
                        'NotFound, message: "No such file or directory" }))\n')


def test_describe_snapshot_of_a_file_that_is_no_state_file(snapshot, tmp_path):
    state, _, _ = snapshot
    bad = tmp_path / "bad.state"
    data = bytearray(state.read_bytes())
    data[40] ^= 1
    bad.write_bytes(bytes(data))
    r = run_brasa("--describe-snapshot", str(bad))
    assert r.returncode == 1
    assert ("When printing Snapshot Data format: Invalid data format version of snapshot file: "
            "CRC64 mismatch") in r.stdout, r.stdout
    assert r.stderr.startswith("Error: PrintSnapshotDataFormat(SnapshotVersion(")
    assert "v2.0.0" not in r.stdout


def test_uffd_load_of_a_hugetlbfs_snapshot(tmp_path):
    """A 2M huge-pages guest: Uffd gives it hugetlbfs memory again and tells the handler so
    (page_size 2 MiB), and its count goes on; the File backend refuses it, as Firecracker."""
    from test_huge_pages import hugetlb_pool
    with hugetlb_pool(32):
        (tmp_path / "a").mkdir()
        a = ApiVm(tmp_path / "a", validate=SPEC.validate)
        assert a.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                      "boot_args": "console=ttyS0 brasa.count=20000"}).status == 204
        assert a.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 32,
                                         "huge_pages": "2M"}).status == 204
        assert a.put("/actions", {"action_type": "InstanceStart"}).status == 204
        con = Console(a.proc)
        con.wait_count(2)
        assert a.patch("/vm", {"state": "Paused"}).status == 204
        state, mem = tmp_path / "vm.state", tmp_path / "vm.mem"
        assert a.put("/snapshot/create", {"snapshot_path": str(state),
                                          "mem_file_path": str(mem)}).status == 204
        before = con.settle()
        assert a.stop() == 0
        (tmp_path / "f").mkdir()
        vm = ApiVm(tmp_path / "f", validate=SPEC.validate)
        r = vm.put("/snapshot/load", {"snapshot_path": str(state), "mem_backend": {
            "backend_type": "File", "backend_path": str(mem)}})
        assert r.fault() == LOAD_ERR + (
            "Failed to load guest memory: Error creating guest memory from file: Cannot restore "
            "hugetlbfs backed snapshot by mapping the memory file. Please use uffd."), r.fault()
        assert vm.proc.wait(timeout=10) == 1
        vm.stop()
        h = Handler(mem)
        (tmp_path / "b").mkdir()
        vm = ApiVm(tmp_path / "b", validate=SPEC.validate)
        assert vm.put("/snapshot/load", uffd_body(state, h.sock)).status == 204
        assert vm.get("/machine-config").json()["huge_pages"] == "2M"
        con = Console(vm.proc)
        con.wait_count(restored_counts(before, "")[-1] + 3)
        assert_consecutive(restored_counts(before, con.read()))
        assert vm.stop() == 0
        assert h.wait() == 0
        h = Handler(mem, code=DIE_AFTER_HANDSHAKE)
        (tmp_path / "c").mkdir()
        expect_failed_uffd_load(tmp_path / "c", state, h.sock, HUNG_UP)
        assert f'"page_size":{2 << 20},"page_size_kib":{2 << 20}}}]' in h.output()


def test_snapshot_of_a_uffd_loaded_guest(snapshot, tmp_path):
    """Create reads all of guest memory, so the handler serves every page still missing; the
    new snapshot then loads with the File backend and the count goes on from there."""
    vm, h = load_and_count(tmp_path, snapshot)
    assert vm.patch("/vm", {"state": "Paused"}).status == 204
    state, mem = tmp_path / "again.state", tmp_path / "again.mem"
    assert vm.put("/snapshot/create", {"snapshot_path": str(state),
                                       "mem_file_path": str(mem)}).status == 204
    before = snapshot[2] + vm.console.settle()
    assert vm.stop() == 0
    assert h.wait() == 0
    (tmp_path / "b").mkdir()
    b = ApiVm(tmp_path / "b", validate=SPEC.validate)
    assert b.put("/snapshot/load", {"snapshot_path": str(state), "resume_vm": True,
                                    "mem_backend": {"backend_type": "File",
                                                    "backend_path": str(mem)}}).status == 204
    con = Console(b.proc)
    con.wait_count(restored_counts(before, "")[-1] + 2)
    assert_consecutive(restored_counts(before, con.read()))
    assert b.stop() == 0


# A stand-in VMM for the handler alone: this process registers its own memory with a
# userfaultfd and sends it, as brasa does, so that the test can give pages back the way the
# balloon does (madvise MADV_DONTNEED: the remove event) without a balloon in a snapshot.
UFFDIO_API, UFFDIO_REGISTER, SYS_USERFAULTFD = 0xc018aa3f, 0xc020aa00, 323
UFFD_FEATURE_EVENT_REMOVE, MADV_DONTNEED = 0x8, 4


def own_uffd(size):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(SYS_USERFAULTFD, os.O_CLOEXEC | os.O_NONBLOCK)
    assert fd >= 0, os.strerror(ctypes.get_errno())
    api = (ctypes.c_uint64 * 3)(0xAA, UFFD_FEATURE_EVENT_REMOVE, 0)
    assert libc.ioctl(fd, ctypes.c_ulong(UFFDIO_API), api) == 0
    mem = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(mem))
    reg = (ctypes.c_uint64 * 4)(addr, size, 1, 0)  # range, UFFDIO_REGISTER_MODE_MISSING
    assert libc.ioctl(fd, ctypes.c_ulong(UFFDIO_REGISTER), reg) == 0
    return libc, fd, mem, addr


def test_handler_serves_pages_and_zeroes_what_is_given_back(tmp_path):
    size = 16 << 12
    data = bytes((i * 7 + 1) % 251 for i in range(size))
    memfile = tmp_path / "mem"
    memfile.write_bytes(data)
    h = Handler(memfile)
    libc, fd, mem, addr = own_uffd(size)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(h.sock))
    regions = (f'[{{"base_host_virt_addr":{addr},"size":{size},"offset":0,'
               f'"page_size":4096,"page_size_kib":4096}}]')
    socket.send_fds(s, [regions.encode()], [fd])
    assert mem[:] == data  # every page comes from the file, on demand
    # The balloon's way to give pages back: the handler reads the remove event and
    # unregisters them, so they read as zeros, not as the file, from then on.
    assert libc.madvise(ctypes.c_void_p(addr + 4096), 2 * 4096, MADV_DONTNEED) == 0
    assert mem[4096:3 * 4096] == bytes(2 * 4096)
    assert mem[:4096] == data[:4096] and mem[3 * 4096:] == data[3 * 4096:]
    s.close()  # the VMM's end: the handler removes its socket and exits 0
    assert h.wait() == 0, h.output()
    assert not h.sock.exists()
    os.close(fd)
