"""SMT and CPU templates: what the guest's CPUID shows, and Firecracker's refusals of static
templates that do not fit the host (at InstanceStart, and from a config file)."""
import json

import pytest

from api_schema import SPEC
from conftest import KERNELS, ApiVm, make_config, parse_report

pytestmark = pytest.mark.kvm

START = "Start microvm error: "
VENDOR = "Failed to get CPU template: CPU vendor mismatched between actual CPU and CPU template."
MODEL = ("Failed to get CPU template: The current CPU model is not permitted to apply the CPU "
         "template.")

# Firecracker's static templates: vendor and the leaf 1 EAX family/model/stepping allowed.
SKYLAKE, CASCADE, ICE, MILAN = 0x50654, 0x50657, 0x606a6, 0xa00f11
STATIC = {"C3": ("GenuineIntel", (SKYLAKE, CASCADE, ICE)),
          "T2": ("GenuineIntel", (SKYLAKE, CASCADE, ICE)),
          "T2S": ("GenuineIntel", (SKYLAKE, CASCADE)),
          "T2CL": ("GenuineIntel", (CASCADE, ICE)),
          "T2A": ("AuthenticAMD", (MILAN,))}


def host_cpu():
    """The host's vendor and leaf 1 EAX family/model/stepping, from /proc/cpuinfo."""
    info = {}
    for line in open("/proc/cpuinfo"):
        if not line.strip():
            break
        k, _, v = line.partition(":")
        info[k.strip()] = v.strip()
    fam, model, step = int(info["cpu family"]), int(info["model"]), int(info["stepping"])
    base_fam = min(fam, 0xf)
    fms = ((fam - base_fam) << 20) | ((model >> 4) << 16) | (base_fam << 8) | \
        ((model & 0xf) << 4) | step
    return info["vendor_id"], fms


def refusal(name):
    """Firecracker's get_cpu_template() verdict for static template name on this host."""
    vendor, fms = host_cpu()
    want_vendor, models = STATIC[name]
    if vendor != want_vendor:
        return VENDOR
    if fms not in models:
        return MODEL
    return None


def run_config(brasa, cfg):
    res = brasa.run(cfg)
    return res


def cfg_with(vcpus=1, smt=None, template=None, custom=None, args="console=ttyS0 brasa.cpuid"):
    extra = {"cpu-config": custom} if custom is not None else None
    cfg = make_config(KERNELS["pvh"], args, vcpus=vcpus, extra=extra)
    if smt is not None:
        cfg["machine-config"]["smt"] = smt
    if template is not None:
        cfg["machine-config"]["cpu_template"] = template
    return cfg


def booted(res):
    assert res.rc == 0, f"exit {res.rc}\nstdout:\n{res.stdout}\nlog:\n{res.log}"
    assert res.report.get("done") is not None, res.stdout
    return res.report


# ---- SMT -------------------------------------------------------------------------------------

@pytest.mark.parametrize("vcpus", [2, 4])
def test_smt_shows_two_threads_per_core(brasa, vcpus):
    rep = booted(run_config(brasa, cfg_with(vcpus, smt=True)))
    topo, ext = rep.fields("cpuid-topo"), rep.fields("cpuid-ext")
    vendor, _ = host_cpu()
    # Leaf 0xB: level 0 (SMT) has 2 threads and an x2APIC shift of 1; level 1 has every vCPU.
    assert topo["b0.ebx"] & 0xffff == 2 and topo["b0.eax"] & 0x1f == 1
    assert (topo["b0.ecx"] >> 8) & 0xff == 1
    assert topo["b1.ebx"] & 0xffff == vcpus and (topo["b1.ecx"] >> 8) & 0xff == 2
    # Leaf 1: logical processors per package, and HTT.
    assert (topo["leaf1.ebx"] >> 16) & 0xff == vcpus
    assert rep.fields("cpuid")["leaf1.edx"] & (1 << 28)
    if vendor == "AuthenticAMD":
        assert (ext["x1e.ebx"] >> 8) & 0xff == 1  # threads per compute unit - 1
        assert ext["x1e.ebx"] & 0xff == 0  # vCPU 0 is in compute unit 0
        assert ext["x8.ecx"] & 0xff == vcpus - 1
    else:
        assert topo["leaf4.eax"] >> 26 == vcpus // 2 - 1  # cores per package - 1
        assert (topo["leaf4.eax"] >> 14) & 0xfff == 1  # L1 shared by the 2 threads


@pytest.mark.parametrize("vcpus,smt", [(2, False), (1, True)])
def test_no_smt_shows_one_thread_per_core(brasa, vcpus, smt):
    rep = booted(run_config(brasa, cfg_with(vcpus, smt=smt)))
    topo, ext = rep.fields("cpuid-topo"), rep.fields("cpuid-ext")
    assert topo["b0.ebx"] & 0xffff == 1 and topo["b0.eax"] & 0x1f == 0
    assert topo["b1.ebx"] & 0xffff == vcpus
    if host_cpu()[0] == "AuthenticAMD":
        assert (ext["x1e.ebx"] >> 8) & 0xff == 0


def test_smt_odd_vcpu_count_refused(tmp_path):
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    try:
        r = vm.put("/machine-config", {"vcpu_count": 3, "mem_size_mib": 128, "smt": True})
        assert r.status == 400
        assert r.fault().startswith("Machine config error: The number of vCPUs must be")
        assert vm.put("/machine-config", {"vcpu_count": 4, "mem_size_mib": 128,
                                          "smt": True}).status == 204
        assert vm.get("/machine-config").json()["smt"] is True
    finally:
        vm.stop()


# ---- custom templates ------------------------------------------------------------------------

# 0x80000001 ECX (honoured by kvm_pvm too): clear LAHF_LM (0) and PREFETCHW (8), set ABM (5).
EXT_ECX = "0b" + "x" * 23 + "0xx1xxxx0"
CUSTOM = {"cpuid_modifiers": [{"leaf": "0x80000001", "subleaf": "0x0", "flags": 0,
                               "modifiers": [{"register": "ecx", "bitmap": EXT_ECX}]}]}


def check_custom_bits(base_ecx, ecx):
    assert not ecx & 1 and not ecx & (1 << 8), hex(ecx)
    assert ecx & (1 << 5), hex(ecx)
    assert ecx & ~0x121 == base_ecx & ~0x121  # nothing else changed


def test_custom_template_from_config_file(brasa, tmp_path):
    base = booted(run_config(brasa, cfg_with()))
    path = tmp_path / "tmpl.json"
    path.write_text(json.dumps(CUSTOM))
    for custom in (CUSTOM, str(path)):  # inline, and as a path
        rep = booted(run_config(brasa, cfg_with(custom=custom)))
        check_custom_bits(base.fields("cpuid-ext")["x1.ecx"], rep.fields("cpuid-ext")["x1.ecx"])


def api_boot_report(vm):
    """Boots the PVH guest (it resets when done) and returns its report."""
    assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                   "boot_args": "console=ttyS0 brasa.cpuid"}).status == 204
    r = vm.put("/actions", {"action_type": "InstanceStart"})
    assert r.status == 204, r.raw
    assert vm.proc.wait(timeout=60) == 0, vm.output()
    vm.stop()
    return parse_report(vm.stdout)


def test_custom_template_through_the_api(tmp_path, brasa):
    base = booted(run_config(brasa, cfg_with()))
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    try:
        assert vm.put("/cpu-config", CUSTOM).status == 204
        # The custom template takes the machine's one template slot: no cpu_template shown.
        assert "cpu_template" not in vm.get("/machine-config").json()
        rep = api_boot_report(vm)
    finally:
        vm.stop()
    check_custom_bits(base.fields("cpuid-ext")["x1.ecx"], rep.fields("cpuid-ext")["x1.ecx"])


@pytest.mark.parametrize("custom,msg", [
    ({"cpuid_modifiers": [{"leaf": "0x80000099", "subleaf": "0x3", "flags": 0,
                           "modifiers": []}]},
     "System configuration error: Failed to create guest config: Template changes a CPUID entry "
     "not supported by KVM: Leaf: 80000099, Subleaf: 3"),
    ({"msr_modifiers": [{"addr": "0x12345", "bitmap": "0b1"}]},
     "System configuration error: Failed to create guest config: KVM vcpu ioctl failed: Failed "
     "to get KVM vcpu msr: 0x12345"),
    ({"kvm_capabilities": ["999"]}, "Kvm error: Missing KVM capabilities: 0x3e7"),
])
def test_custom_template_refused_at_start(tmp_path, custom, msg):
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    try:
        assert vm.put("/cpu-config", custom).status == 204
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"])}).status == 204
        r = vm.put("/actions", {"action_type": "InstanceStart"})
        assert r.status == 400
        assert r.fault() == START + msg
    finally:
        vm.stop()


def test_custom_template_format_errors(tmp_path):
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    deser = "An error occurred when deserializing the json body of a request: "
    try:
        r = vm.put("/cpu-config", {"cpuid_modifiers": [
            {"leaf": "0x1", "subleaf": "0x0", "flags": 0,
             "modifiers": [{"register": "eax", "bitmap": "0b2"}]}]})
        assert r.status == 400
        assert r.fault() == deser + ("Failed to parse string [0b2] as a bitmap - unknown "
                                     "character: 50.")
        r = vm.put("/cpu-config", {"msr_modifiers": [{"addr": "266", "bitmap": "0b1"}]})
        assert r.fault().startswith(deser + "No supported number system prefix found in value "
                                    "[266].")
    finally:
        vm.stop()


# ---- static templates ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["T2", "T2A", "C3", "T2S", "T2CL"])
def test_static_template_through_the_api(tmp_path, name):
    want = refusal(name)
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    try:
        assert vm.put("/machine-config", {"vcpu_count": 1, "mem_size_mib": 128,
                                          "cpu_template": name}).status == 204
        assert vm.get("/machine-config").json()["cpu_template"] == name
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.idle"}).status == 204
        r = vm.put("/actions", {"action_type": "InstanceStart"})
        if want is None:  # a host the template fits
            assert r.status == 204, r.raw
        else:
            assert r.status == 400
            assert r.fault() == START + want
            assert vm.get("/").json()["state"] == "Not started"
    finally:
        vm.stop()


@pytest.mark.parametrize("name", ["T2", "T2A"])
def test_static_template_from_config_file(brasa, name):
    want = refusal(name)
    res = run_config(brasa, cfg_with(template=name))
    if want is None:
        booted(res)
        return
    line = ("RunWithoutApiError error: Failed to build MicroVM from Json: Could not Start MicroVM "
            "from one single json: " + want)
    assert line in res.log, res.log
    assert res.rc == 1  # Firecracker's GenericError for a config file that cannot boot
    assert res.report.get("done") is None


def test_none_clears_the_template(tmp_path):
    vm = ApiVm(tmp_path, validate=SPEC.validate)
    try:
        assert vm.put("/cpu-config", CUSTOM).status == 204
        assert vm.patch("/machine-config", {"cpu_template": "T2"}).status == 204
        assert vm.get("/machine-config").json()["cpu_template"] == "T2"
        assert vm.patch("/machine-config", {"mem_size_mib": 256}).status == 204
        assert vm.get("/machine-config").json()["cpu_template"] == "T2"
        assert vm.patch("/machine-config", {"cpu_template": "None"}).status == 204
        assert "cpu_template" not in vm.get("/machine-config").json()
        assert vm.put("/boot-source", {"kernel_image_path": str(KERNELS["pvh"]),
                                       "boot_args": "console=ttyS0 brasa.idle"}).status == 204
        # Neither T2 nor the custom template is left: the VM starts on any host.
        assert vm.put("/actions", {"action_type": "InstanceStart"}).status == 204
    finally:
        vm.stop()
