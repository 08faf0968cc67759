"""machine-config huge_pages: "2M" backs guest RAM with the host's hugetlbfs pool, and
"Transparent" with THP-advised memory; a pool too small is a clear error at InstanceStart."""
import contextlib
import re

import pytest

from conftest import KERNELS, make_config, wait_for_line

MEM_MIB = 32  # 16 huge pages: small enough for a fragmented CI host to reserve
POOL = "/proc/sys/vm/nr_hugepages"


@contextlib.contextmanager
def hugetlb_pool(pages):
    """The host's 2 MiB pool set to pages for the test, then put back as it was."""
    with open(POOL) as f:
        saved = int(f.read())
    try:
        with open(POOL, "w") as f:
            f.write(str(pages))
        with open(POOL) as f:
            got = int(f.read())
        assert got == pages, f"the host could reserve only {got} of {pages} huge pages"
        yield
    finally:
        with open(POOL, "w") as f:
            f.write(str(saved))


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/meminfo")


def guest_ram_mapping(pid):
    """The smaps entry of the mapping that backs guest RAM (MEM_MIB bytes, read-write)."""
    with open(f"/proc/{pid}/smaps") as f:
        text = f.read()
    entries = re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", text)
    for e in entries:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) rw", e)
        if m and int(m.group(2), 16) - int(m.group(1), 16) == MEM_MIB << 20:
            fields = dict(re.findall(r"^(\w+):\s+(\d+)", e, re.M))
            return int(m.group(1), 16), {k: int(v) for k, v in fields.items()}
    raise AssertionError(f"no {MEM_MIB} MiB mapping in brasa's smaps")


def boot_idle(api, huge):
    assert api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": MEM_MIB,
                                       "huge_pages": huge}).status == 204
    assert api.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                    "boot_args": "console=ttyS0 brasa.idle"}).status == 204
    r = api.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r.body
    wait_for_line(api.proc, r"BRASA idle")
    assert api.get("/vm/config").json()["machine-config"]["huge_pages"] == huge


def test_hugetlbfs_backs_guest_ram(api):
    """With 16 pages reserved, the guest boots on them: all 16 are taken at InstanceStart and
    the guest RAM mapping has 2 MiB kernel pages."""
    with hugetlb_pool(16):
        assert meminfo("HugePages_Free") == 16
        boot_idle(api, "2M")
        _, smaps = guest_ram_mapping(api.proc.pid)
        assert smaps["KernelPageSize"] == 2048, smaps
        # Charged at mmap (no MAP_NORESERVE): every free page is reserved for brasa, so none
        # is left for anyone else, although the guest has touched only a few.
        assert meminfo("HugePages_Free") - meminfo("HugePages_Rsvd") == 0
        assert meminfo("HugePages_Free") < 16
        api.stop()
        assert meminfo("HugePages_Free") == 16  # and all given back at exit


def test_hugetlbfs_pool_too_small(brasa):
    """Fewer free pages than the guest needs: exit 1 at boot with Firecracker's mmap error,
    then what to do about it; never a SIGBUS later."""
    with hugetlb_pool(4):
        cfg = make_config(KERNELS["pvh"], "console=ttyS0", mem=MEM_MIB)
        cfg["machine-config"]["huge_pages"] = "2M"
        r = brasa.run(cfg)
    out = r.stdout + r.log
    assert r.rc == 1, out
    assert ("Invalid Memory Configuration: Cannot create mmap region: Out of memory "
            "(os error 12). huge_pages \"2M\" needs 16 free 2 MiB pages") in out, out
    assert "/proc/sys/vm/nr_hugepages" in out


def test_transparent_huge_pages(api):
    """"Transparent": the guest RAM mapping is 2 MiB aligned and advised for THP, so what
    brasa loaded into it is already in huge pages."""
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        mode = f.read()
    assert "[never]" not in mode, f"THP is off on this host: {mode}"
    boot_idle(api, "Transparent")
    start, smaps = guest_ram_mapping(api.proc.pid)
    assert start % (2 << 20) == 0, hex(start)
    assert smaps["THPeligible"] == 1, smaps
    assert smaps["AnonHugePages"] >= 2048, smaps


def test_no_huge_pages_by_default(api):
    """"None" (the default) keeps 4 KiB pages: no THP advice, nothing from the pool."""
    boot_idle(api, "None")
    _, smaps = guest_ram_mapping(api.proc.pid)
    assert smaps["KernelPageSize"] == 4
    assert smaps["AnonHugePages"] == 0, smaps


@pytest.mark.parametrize("huge,mem", [("2M", 33), ("Transparent", 31)])
def test_huge_pages_need_even_sizes(api, huge, mem):
    """A size that is not a whole number of 2 MiB pages: Firecracker's 400."""
    r = api.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": mem, "huge_pages": huge})
    assert r.status == 400
    assert r.fault() == ("Machine config error: The memory size (MiB) is either 0, or not a "
                         "multiple of the "
                         "configured page size."), r.raw
