"""A FIFO (or another file that cannot back a guest resource) given as the kernel, the initrd or
a drive is refused at once with a clear error; the VMM thread never blocks in open(), so the API
keeps answering (issue 17, item 9)."""
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from conftest import KERNELS, make_config, wait_for_line
from test_bad_input import assert_config_error
from test_block import drive, make_disk

pytestmark = pytest.mark.kvm

BAD = "is not a regular file or block device"


@pytest.fixture
def fifo(tmp_path):
    """A FIFO with a short path: PUT /drives echoes only so much of a path."""
    d = Path(tempfile.mkdtemp(prefix="fifo-"))
    path = d / "fifo"
    os.mkfifo(path)
    yield path
    shutil.rmtree(d)


def still_answers(api):
    r = api.get("/machine-config")
    assert r.status == 200 and r.json()["mem_size_mib"] == 128


def test_fifo_kernel_is_refused_at_put(api, fifo):
    r = api.put("/boot-source", {"kernel_image_path": str(fifo)})
    assert r.status == 400
    assert r.fault() == f"Boot source error: The kernel file cannot be opened: {fifo} {BAD}"
    still_answers(api)
    assert api.get("/vm/config").json()["boot-source"]["kernel_image_path"] == ""


def test_fifo_initrd_is_refused_at_put(api, fifo):
    r = api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                 "initrd_path": str(fifo)})
    assert r.status == 400
    assert r.fault() == ("Boot source error: The initrd file cannot be opened due to invalid "
                         f"path or invalid permissions. {fifo} {BAD}")
    still_answers(api)


def test_directory_kernel_is_refused_at_put(api, tmp_path):
    r = api.put("/boot-source", {"kernel_image_path": str(tmp_path)})
    assert r.fault() == f"Boot source error: The kernel file cannot be opened: {tmp_path} {BAD}"


@pytest.mark.parametrize("ro", [True, False])
def test_fifo_drive_is_refused_at_put(api, fifo, ro):
    r = api.put("/drives/rootfs", drive("rootfs", fifo, root=True, ro=ro))
    assert r.status == 400
    assert r.fault() == ("Drive config error: Unable to create the virtio block device: Virtio "
                         f"backend error: Error manipulating the backing file: {fifo} {BAD}")
    still_answers(api)
    assert api.get("/vm/config").json()["drives"] == []


def test_fifo_drive_is_refused_by_patch(api_vm, tmp_path, fifo):
    a = tmp_path / "a.img"
    make_disk(a, 64 << 10, 1)
    assert api_vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.blk.waitcap brasa.halt"}
                      ).status == 204
    assert api_vm.put("/drives/rootfs", drive("rootfs", a, root=True, ro=True)).status == 204
    assert api_vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    wait_for_line(api_vm.proc, r"BRASA blk-waitcap ready[^\n]*\n")
    r = api_vm.patch("/drives/rootfs", {"drive_id": "rootfs", "path_on_host": str(fifo)})
    assert r.status == 400
    assert r.fault() == ("Drive config error: Unable to patch the block device: Block: Virtio "
                         "backend error: Error manipulating the backing file: "
                         f"{fifo} {BAD} Please verify the request arguments.")
    r = api_vm.get("/vm/config")
    assert r.status == 200 and r.json()["drives"][0]["path_on_host"] == str(a)
    api_vm.proc.terminate()
    assert api_vm.proc.wait(timeout=10) == 0


@pytest.mark.parametrize("what", ["kernel", "initrd"])
def test_fifo_boot_file_in_config_file(brasa, fifo, what):
    """The config file's boot source is opened at boot, on the same non-blocking path."""
    if what == "kernel":
        cfg = make_config(fifo)
    else:
        cfg = make_config(KERNELS["pvh"], initrd=fifo)
    res = brasa.run(cfg, timeout=30)
    name = "kernel image" if what == "kernel" else "initrd"
    assert_config_error(brasa, res, rf"{name} {fifo} is not a regular file")
