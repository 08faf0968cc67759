/* microVM build: KVM VM, memory, boot payload, devices, vCPUs (vmm_run.c runs it). */
#include "vmm/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/mem_layout.h"
#include "arch/x86_64/pvm_args.h"
#include "core/log.h"
#include "core/outfd.h"
#include "core/util.h"
#include "vmm/pci_mgr.h"
#include "vmm/vmm_boot.h"
#include "vmm/vmm_devices.h"
#include "vmm/vmm_priv.h"

void vmm_request_exit(struct vmm *vmm, int code)
{
        bool expected = false;

        if (__atomic_compare_exchange_n(&vmm->exit_requested, &expected, true, false,
                                        __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                __atomic_store_n(&vmm->exit_code, code, __ATOMIC_RELEASE);
        efd_signal(vmm->exit_src.fd); /* a full counter: a wakeup is already pending */
}

static void vmm_env_request_exit(void *ctx, int code)
{
        vmm_request_exit(ctx, code);
}

static void vmm_i8042_reset(void *ctx)
{
        log_info("Guest requested a reset through the i8042 controller");
        vmm_request_exit(ctx, VMM_EXIT_OK);
}

static void vmm_acpi_poweroff(void *ctx)
{
        log_info("Guest requested a power-off through the ACPI sleep-control register");
        vmm_request_exit(ctx, VMM_EXIT_OK);
}

static int vmm_check_host_memory(uint64_t bytes, struct err *e)
{
        struct sysinfo si;
        uint64_t host;

        if (sysinfo(&si) < 0)
                return 0; /* can't tell: let mmap decide */
        host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
        if (bytes > host)
                return err_set(e, -ENOMEM,
                               "mem_size_mib %llu exceeds the host's memory (%llu MiB RAM + swap)",
                               (unsigned long long)(bytes >> 20), (unsigned long long)(host >> 20));
        return 0;
}

/* machine-config huge_pages as guest_mem's backing. */
static enum guest_mem_pages vmm_mem_pages(enum huge_pages hp)
{
        if (hp == HUGE_PAGES_2M)
                return GUEST_MEM_PAGES_HUGETLB;
        return hp == HUGE_PAGES_TRANSPARENT ? GUEST_MEM_PAGES_THP : GUEST_MEM_PAGES_4K;
}

/* Firecracker's text for a failed guest RAM mmap (musl's strerror for ENOMEM), and for
 * hugetlbfs what to do about it. */
static int vmm_mem_map_error(const struct vm_config *cfg, int rc, struct err *e)
{
        const char *why = rc == -ENOMEM ? "Out of memory" : strerror(-rc);

        if (cfg->machine.huge_pages == HUGE_PAGES_2M && rc == -ENOMEM)
                return err_set(e, rc,
                               "Invalid Memory Configuration: Cannot create mmap region: %s (os "
                               "error %d). huge_pages \"2M\" needs %llu free 2 MiB pages in the "
                               "host's hugetlbfs pool (HugePages_Free in /proc/meminfo); reserve "
                               "them with: echo N > /proc/sys/vm/nr_hugepages",
                               why, -rc, (unsigned long long)(cfg->machine.mem_size_mib / 2));
        return err_set(e, rc,
                       "Invalid Memory Configuration: Cannot create mmap region: %s (os error %d)",
                       why, -rc);
}

static int vmm_setup_memory(struct vmm *vmm, const struct vm_config *cfg, int mem_fd, struct err *e)
{
        uint64_t bytes = cfg->machine.mem_size_mib << 20;
        int rc;

        rc = config_check_mem_limit(cfg->machine.mem_size_mib, e);
        if (rc)
                return rc;
        rc = vmm_check_host_memory(bytes, e);
        if (rc)
                return rc;
        rc = mem_fd >= 0
                 ? mem_layout_map_file(&vmm->mem, mem_fd, bytes)
                 : mem_layout_map_paged(&vmm->mem, bytes, vmm_mem_pages(cfg->machine.huge_pages));
        if (rc)
                return vmm_mem_map_error(cfg, rc, e);
        vmm->dirty_log = cfg->machine.track_dirty_pages;
        rc = kvm_vm_set_memory(&vmm->vm, &vmm->mem, vmm->dirty_log);
        if (rc)
                return err_set(e, rc, "KVM_SET_USER_MEMORY_REGION failed: %s", strerror(-rc));
        return 0;
}

/*
 * PUT /serial's serial_out_path: the console goes there instead of stdout, and no host input
 * reaches the guest. Opened read-write, created if missing, non-blocking, without truncating,
 * as Firecracker's open_file_nonblock(); its failure is Firecracker's device-manager error.
 */
static int vmm_open_serial_out(struct vmm *vmm, const struct serial_cfg *sc, struct err *e)
{
        int rc;

        if (!sc->present || !sc->serial_out_path)
                return 0;
        vmm->serial_out_fd =
            open(sc->serial_out_path, O_RDWR | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0666);
        if (vmm->serial_out_fd >= 0)
                return 0;
        rc = -errno;
        return err_set(e, rc,
                       "Failed to create device manager: Error with EventFd: %s (os error %d)",
                       strerror(-rc), -rc);
}

static int vmm_setup_legacy(struct vmm *vmm, const struct vm_config *cfg, struct err *e)
{
        vmm->console_out_fd = vmm->serial_out_fd >= 0 ? vmm->serial_out_fd : outfd_stdout();
        const struct legacy_params p = {
            .vm = &vmm->vm,
            .pio = &vmm->pio,
            .mmio = &vmm->mmio,
            .serial_out_fd = vmm->console_out_fd,
            .reset = vmm_i8042_reset,
            .poweroff = vmm_acpi_poweroff,
            .ctx = vmm,
            .boot_wall = vmm->opts.boot_timer ? &vmm->start_wall : NULL,
            .boot_cpu = &vmm->start_cpu,
            .mem = &vmm->mem,
            .vmgenid_gsi = vmm->devices.vmgenid_gsi,
            .vmclock_gsi = vmm->devices.vmclock_gsi,
            .s5_type = ACPI_SLP_TYP_S5,
        };

        int rc = legacy_devs_add(&vmm->devices, &p, e);

        vmm->console = legacy_serial(&vmm->devices);
        if (vmm->console)
                serial_set_output_limit(vmm->console, &cfg->serial.rate_limiter);
        return rc;
}

static bool vmm_want_pvm_template(const struct vmm_opts *opts)
{
        bool host_pvm = cpuid_host_is_pvm();
        bool on = cpuid_template_wanted(opts->pvm_template, host_pvm);

        log_info("CPU template for kvm_pvm hosts: %s (host %s kvm_pvm, mode %s)",
                 on ? "applied" : "not applied", host_pvm ? "is" : "is not",
                 opts->pvm_template == CPU_TEMPLATE_AUTO
                     ? "auto"
                     : (opts->pvm_template == CPU_TEMPLATE_PVM_ON ? "on" : "off"));
        return on;
}

/*
 * With the kvm_pvm template active, the kernel arguments a Linux guest needs there go after
 * the user's boot_args and brasa's device words, as virtio_mmio.device= does; the user's own
 * words with the same key win. Nothing is appended when it would not fit in the command line.
 */
static int vmm_add_pvm_args(struct vmm *vmm, const struct vm_config *cfg)
{
        const char *user = cfg->boot.boot_args ? cfg->boot.boot_args : CONFIG_DEFAULT_BOOT_ARGS;
        size_t used = strlen(user) + 1 + strlen(device_mgr_cmdline(&vmm->devices));
        char add[PVM_BOOT_ARGS_MAX], skipped[PVM_BOOT_ARGS_MAX];

        if (!vmm->pvm_template_on || vmm->opts.no_pvm_boot_args ||
            pvm_args_missing(user, add, sizeof(add), skipped, sizeof(skipped)))
                return 0;
        if (skipped[0])
                log_info("kvm_pvm: kept the user's boot_args for: %s", skipped);
        if (!add[0])
                return 0;
        if (used + 1 + strlen(add) >= LAYOUT_CMDLINE_MAX_SIZE) {
                log_warn("kvm_pvm: the kernel command line has no room for \"%s\": not appended; "
                         "a Linux guest may stop at its first xrstor",
                         add);
                return 0;
        }
        log_info("kvm_pvm: appended to the kernel command line: %s (--no-pvm-boot-args turns "
                 "this off)",
                 add);
        return device_mgr_cmdline_add(&vmm->devices, "%s", add);
}

/*
 * Firecracker's get_cpu_template(): the custom template, or the static one
 * once the host's vendor and model allow it; *out is NULL without one.
 */
static int vmm_cpu_template(const struct vm_config *cfg, const struct cpu_template **out,
                            struct err *e)
{
        enum cpu_vendor vendor;
        uint32_t eax;
        int rc;

        *out = NULL;
        if (cfg->cpu.present) {
                *out = &cfg->cpu.t;
                return 0;
        }
        if (!cfg->machine.has_cpu_template)
                return 0;
        cpu_template_host(&vendor, &eax);
        rc = cpu_template_check_host(cfg->machine.cpu_template, vendor, eax);
        if (rc == -EXDEV)
                return err_set(e, rc,
                               "Failed to get CPU template: CPU vendor mismatched between actual "
                               "CPU and CPU template.");
        if (rc == -ENODEV)
                return err_set(e, rc,
                               "Failed to get CPU template: The current CPU model is not permitted "
                               "to apply the CPU template.");
        if (rc)
                return err_set(e, rc, "Failed to get CPU template: Invalid static CPU template");
        if (cfg->machine.cpu_template == STATIC_TMPL_C3 && (eax & 0x0fff0fffu) == 0x00050654u)
                log_warn("On processors that do not enumerate FBSDP_NO, PSDP_NO and SBDR_SSDP_NO "
                         "on IA32_ARCH_CAPABILITIES MSR, the guest kernel does not apply the "
                         "mitigation against MMIO stale data vulnerability.");
        *out = cpu_template_static(cfg->machine.cpu_template);
        return 0;
}

/* The capabilities a template adds (and does not remove again later) must be there. */
static int vmm_check_template_caps(const struct kvm_vm *vm, const struct cpu_template *t,
                                   struct err *e)
{
        size_t i, j;
        bool removed;

        for (i = 0; t && i < t->n_caps; i++) {
                if (t->caps[i].remove)
                        continue;
                removed = false;
                for (j = i + 1; j < t->n_caps; j++)
                        removed |= t->caps[j].remove && t->caps[j].cap == t->caps[i].cap;
                if (!removed && ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, t->caps[i].cap) <= 0)
                        return err_set(e, -ENOTSUP, "Kvm error: Missing KVM capabilities: %#x",
                                       t->caps[i].cap);
        }
        return 0;
}

static int vmm_setup_vcpus(struct vmm *vmm, const struct vm_config *cfg,
                           const struct vmm_boot_result *boot, const struct cpu_template *tmpl,
                           struct err *e)
{
        struct vcpu_boot vb = {
            .pvh = boot->pvh,
            .entry = boot->entry,
            .nr_vcpus = cfg->machine.vcpu_count,
            .smt = cfg->machine.smt,
            .pvm_template = vmm->pvm_template_on,
            .tmpl = tmpl,
        };
        struct kvm_cpuid2 *cpuid;
        unsigned int i;
        int rc = 0;

        cpuid = vcpu_supported_cpuid(&vmm->vm);
        if (!cpuid)
                return err_set(e, -EINVAL, "KVM_GET_SUPPORTED_CPUID failed");
        vb.supported_cpuid = cpuid;
        for (i = 0; i < cfg->machine.vcpu_count && !rc; i++) {
                rc = vcpu_create(&vmm->vcpus[i], &vmm->vm, i, &vmm->vcpu_env);
                if (rc) {
                        err_set(e, rc, "cannot create vCPU %u: %s", i, strerror(-rc));
                        break;
                }
                vmm->nr_vcpus = i + 1;
                rc = vcpu_configure(&vmm->vcpus[i], &vb, e);
        }
        free(cpuid);
        return rc;
}

int vmm_send_ctrl_alt_del(struct vmm *vmm, struct err *e)
{
        return legacy_ctrl_alt_del(&vmm->devices, e);
}

int vmm_vmgenid_regenerate(struct vmm *vmm, struct err *e)
{
        return legacy_vmgenid_regenerate(&vmm->devices, &vmm->mem, e);
}

int vmm_vmclock_restored(struct vmm *vmm, struct err *e)
{
        return legacy_vmclock_restored(&vmm->devices, &vmm->mem, e);
}

/* The machine the ACPI tables describe: the virtio slots in attach order, VMGenID, VMClock. */
static void vmm_acpi_machine(const struct device_mgr *dm, struct acpi_machine *m,
                             struct acpi_mmio_dev *virtio)
{
        unsigned int i, n = 0;

        for (i = 0; i < dm->nr_slots; i++)
                if (!dm->slots[i].pci) /* PCI functions are found on the bus, not in the DSDT */
                        virtio[n++] = (struct acpi_mmio_dev){
                            .base = dm->slots[i].base,
                            .size = LAYOUT_VIRTIO_MMIO_SIZE,
                            .gsi = dm->slots[i].gsi,
                        };
        *m = (struct acpi_machine){
            .virtio = virtio,
            .nr_virtio = n,
            .pci = dm->pci != NULL,
            .vmgenid_gpa = LAYOUT_VMGENID_START,
            .vmgenid_gsi = dm->vmgenid_gsi,
            .vmclock_gpa = LAYOUT_VMCLOCK_START,
            .vmclock_gsi = dm->vmclock_gsi,
        };
}

/* Memory, kernel, boot structures and ACPI tables, once every virtio device is attached. */
static int vmm_load(struct vmm *vmm, const struct vm_config *cfg, struct vmm_boot_result *boot,
                    struct err *e)
{
        struct acpi_mmio_dev virtio[DEVICE_MGR_MAX_VIRTIO];
        struct acpi_machine acpi;

        /* The ACPI devices' GSIs were reserved with the virtio slots (vmm_attach_virtio()). */
        vmm_acpi_machine(&vmm->devices, &acpi, virtio);
        return vmm_boot_load(&vmm->mem, cfg, &acpi, device_mgr_cmdline(&vmm->devices), boot, e);
}

static void vmm_init_fields(struct vmm *vmm)
{
        memset(vmm, 0, sizeof(*vmm));
        vmm->vm.kvm_fd = vmm->vm.vm_fd = -1;
        vmm->loop.epfd = -1;
        vmm->exit_src.fd = vmm->signal_src.fd = vmm->serial_out_fd = -1;
        vmm->stdin_src.fd = vmm->serial_drain_src.fd = vmm->metrics_src.fd = -1;
        vmm->console_out_src.fd = vmm->console_fd_src.fd = vmm->console_out_fd = -1;
        vmm->vcpu_env = (struct vcpu_env){
            .pio = &vmm->pio,
            .mmio = &vmm->mmio,
            .mem = &vmm->mem,
            .request_exit = vmm_env_request_exit,
            .ctx = vmm,
        };
}

int vmm_init(struct vmm *vmm, const struct vmm_opts *opts)
{
        vmm_init_fields(vmm);
        vmm->opts = *opts;
        return vmm_loop_init(vmm);
}

bool vmm_started(const struct vmm *vmm)
{
        return vmm->started;
}

/* Firecracker's DriveError::DeviceUpdate text around what went wrong (e's message). */
static int drive_update_error(struct err *e, int rc, const char *what)
{
        char inner[ERR_MSG_MAX];

        snprintf(inner, sizeof(inner), "%s", e ? e->msg : "");
        return err_set(e, rc,
                       "Unable to patch the block device: %s%s Please verify the request "
                       "arguments.",
                       what, inner);
}

int vmm_update_drive(struct vmm *vmm, const struct drive_update *u, struct err *e)
{
        struct virtio_blk *b;
        int rc;

        if (!vmm->started)
                return err_set(e, -EAGAIN, "the microVM is not running");
        b = vmm_find_drive(&vmm->devices, u->drive_id);
        if (!b) {
                err_set(e, -ENOENT, "Device not found");
                return drive_update_error(e, -ENOENT, "Failed perform action on device: ");
        }
        if (u->path_on_host) {
                rc = virtio_blk_update_path(b, u->path_on_host, e);
                if (rc)
                        return drive_update_error(e, rc, "Block: Virtio backend error: ");
        }
        if (u->has_rate_limiter)
                virtio_blk_update_rate_limiter(b, &u->rate_limiter);
        return 0;
}

int vmm_update_net(struct vmm *vmm, const struct net_update *u, struct err *e)
{
        struct virtio_net *n;

        if (!vmm->started)
                return err_set(e, -EAGAIN, "the microVM is not running");
        n = vmm_find_net(&vmm->devices, u->iface_id);
        if (!n)
                return err_set(e, -ENOENT, "no network interface with id %s", u->iface_id);
        virtio_net_update_rate_limiters(n, &u->rx, &u->tx);
        return 0;
}

static int balloon_get_config(struct virtio_balloon *b, json_t **out, struct err *e)
{
        struct balloon_params p;
        struct balloon_cfg c;

        virtio_balloon_config(b, &p);
        c = (struct balloon_cfg){
            .present = true,
            .amount_mib = p.amount_mib,
            .deflate_on_oom = p.deflate_on_oom,
            .stats_polling_interval_s = p.stats_polling_interval_s,
            .free_page_hinting = p.free_page_hinting,
            .free_page_reporting = p.free_page_reporting,
        };
        *out = config_balloon_to_json(&c);
        return *out ? 0 : err_errno(e, -ENOMEM);
}

int vmm_balloon(struct vmm *vmm, const struct balloon_req *rq, json_t **out, struct err *e)
{
        struct virtio_balloon *b = vmm->started ? vmm_find_balloon(&vmm->devices) : NULL;

        *out = NULL;
        if (!b)
                return -ENOENT;
        switch (rq->op) {
        case BALLOON_GET_CONFIG:
                return balloon_get_config(b, out, e);
        case BALLOON_GET_STATS:
                return virtio_balloon_stats(b, out, e);
        case BALLOON_UPDATE:
                return virtio_balloon_update_size(b, rq->amount_mib, e);
        case BALLOON_UPDATE_STATS:
                return virtio_balloon_update_interval(b, rq->interval_s, e);
        case BALLOON_HINT_START:
                return virtio_balloon_hint_start(b, rq->ack_on_stop, e);
        case BALLOON_HINT_STATUS:
                return virtio_balloon_hint_status(b, out, e);
        case BALLOON_HINT_STOP:
                return virtio_balloon_hint_stop(b, e);
        }
        return -EINVAL;
}

/* The virtio devices, in Firecracker's attach order (a restore rebuilds the same table). */
static int vmm_attach_virtio(struct vmm *vmm, const struct vm_config *cfg, struct err *e)
{
        int rc;

        rc = vmm_attach_balloon(&vmm->devices, cfg, e);
        if (!rc)
                rc = vmm_attach_drives(&vmm->devices, cfg, e);
        if (!rc)
                rc = vmm_attach_nets(&vmm->devices, cfg, vmm->mmds, e);
        if (!rc)
                rc = vmm_attach_vsock(&vmm->devices, cfg, e);
        if (!rc)
                rc = vmm_attach_entropy(&vmm->devices, cfg, e);
        if (!rc)
                rc = device_mgr_reserve_acpi_gsis(&vmm->devices, e);
        return rc;
}

/* --enable-pci: the PCI segment, which every virtio device then joins. */
static int vmm_enable_pci(struct vmm *vmm, struct err *e)
{
        struct pci_mgr *pm = calloc(1, sizeof(*pm));
        int rc;

        if (!pm)
                return err_set(e, -ENOMEM, "out of memory");
        rc = pci_mgr_init(pm, &vmm->vm, &vmm->mmio, &vmm->pio, &vmm->loop, e);
        if (rc) {
                pci_mgr_destroy(pm);
                free(pm);
                return rc;
        }
        vmm->devices.pci = pm;
        return 0;
}

int vmm_build(struct vmm *vmm, const struct vm_config *cfg, int mem_fd, struct err *e)
{
        const struct cpu_template *tmpl;
        struct vmm_boot_result boot = {.pvh = true};
        int rc;

        rc = vmm_cpu_template(cfg, &tmpl, e);
        if (rc)
                return rc;
        rc = kvm_vm_create(&vmm->vm, e);
        if (!rc)
                rc = vmm_check_template_caps(&vmm->vm, tmpl, e);
        if (rc)
                return rc;
        rc = vmm_setup_memory(vmm, cfg, mem_fd, e);
        if (rc)
                return rc;
        rc = vmm_open_serial_out(vmm, &cfg->serial, e);
        if (rc)
                return rc;
        device_mgr_init(&vmm->devices, &vmm->vm, &vmm->mmio, &vmm->loop, &vmm->mem);
        /* A snapshot's machine is the one it was taken on: never PCI (brasa refuses those). */
        rc = vmm->opts.pci && mem_fd < 0 ? vmm_enable_pci(vmm, e) : 0;
        if (!rc)
                rc = vmm_attach_virtio(vmm, cfg, e);
        if (rc)
                return rc;
        vmm->pvm_template_on = vmm_want_pvm_template(&vmm->opts);
        /* A restore's memory already holds the kernel and its boot structures. */
        if (mem_fd < 0) {
                rc = vmm_add_pvm_args(vmm, cfg);
                if (rc)
                        return err_set(e, rc, "kernel command line is too long");
                rc = vmm_load(vmm, cfg, &boot, e);
        }
        if (rc)
                return rc;
        rc = vmm_setup_legacy(vmm, cfg, e);
        if (rc)
                return rc;
        return vmm_setup_vcpus(vmm, cfg, &boot, tmpl, e);
}

int vmm_boot(struct vmm *vmm, const struct vm_config *cfg, struct err *e)
{
        int rc;

        if (vmm->started)
                return -EALREADY;
        /* Boot-timer origin: InstanceStart processing begins, as in Firecracker. */
        clock_gettime(CLOCK_MONOTONIC, &vmm->start_wall);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &vmm->start_cpu);
        rc = vmm_build(vmm, cfg, -1, e);
        if (rc == 0)
                rc = vmm_start(vmm, e);
        if (rc) {
                vmm_release_vm(vmm);
                return rc;
        }
        vmm->started = true;
        return 0;
}
