/* microVM build: KVM VM, memory, boot payload, devices, vCPUs (vmm_run.c runs it). */
#include "vmm/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86_64/acpi.h"
#include "arch/x86_64/mem_layout.h"
#include "arch/x86_64/pvm_args.h"
#include "core/log.h"
#include "core/outfd.h"
#include "core/textpages.h"
#include "core/timeline.h"
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
        struct vmm *vmm = ctx;

        /* Linux pulses the line again and again until the vCPU stops: say it once. */
        if (!__atomic_load_n(&vmm->exit_requested, __ATOMIC_ACQUIRE))
                log_info("Guest requested a reset through the i8042 controller");
        vmm_request_exit(vmm, VMM_EXIT_OK);
}

static void vmm_acpi_poweroff(void *ctx)
{
        log_info("Guest requested a power-off through the ACPI sleep-control register");
        vmm_request_exit(ctx, VMM_EXIT_OK);
}

int vmm_map_memory(struct vmm *vmm, const struct vm_config *cfg, int mem_fd, struct err *e)
{
        uint64_t mib = cfg->machine.mem_size_mib;
        int rc;

        if (mem_fd < 0)
                return kvm_setup_map_ram(&vmm->mem, mib, cfg->machine.huge_pages, e);
        rc = kvm_setup_check_mem(mib, e);
        if (rc)
                return rc;
        rc = mem_layout_map_file(&vmm->mem, mem_fd, mib << 20);
        return rc ? kvm_setup_map_error(mib, cfg->machine.huge_pages, rc, e) : 0;
}

/*
 * A snapshot's guest RAM, registered here: a private mapping of its memory file mem_fd, or
 * with VMM_MEM_READY what vmm_map_memory() mapped already (a Uffd load).
 */
static int vmm_setup_file_memory(struct vmm *vmm, const struct vm_config *cfg, int mem_fd,
                                 struct err *e)
{
        int rc;

        if (mem_fd != VMM_MEM_READY) {
                rc = vmm_map_memory(vmm, cfg, mem_fd, e);
                if (rc)
                        return rc;
        }
        vmm->dirty_log = cfg->machine.track_dirty_pages;
        /* KVM logs the guest's writes; what brasa writes into guest memory, the accessor. */
        rc = vmm->dirty_log ? guest_mem_track_dirty(&vmm->mem) : 0;
        if (rc)
                return err_set(e, rc, "Cannot track dirty pages: %s", strerror(-rc));
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

/* Configures the vCPUs the KVM set-up created (cfg's vcpu_count of them). */
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
        unsigned int i;
        int rc = 0;

        vb.supported_cpuid = vmm->supported_cpuid; /* read by the KVM set-up */
        for (i = 0; i < vmm->nr_vcpus && !rc; i++)
                rc = vcpu_configure(&vmm->vcpus[i], &vb, e);
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

/* The command line, boot structures and ACPI tables, once every virtio device is attached. */
static int vmm_load(struct vmm *vmm, const struct vm_config *cfg, const struct vmm_boot_images *img,
                    struct vmm_boot_result *boot, struct err *e)
{
        struct acpi_mmio_dev virtio[DEVICE_MGR_MAX_VIRTIO];
        struct acpi_machine acpi;

        /* The ACPI devices' GSIs were reserved with the virtio slots (vmm_attach_virtio()). */
        vmm_acpi_machine(&vmm->devices, &acpi, virtio);
        return vmm_boot_write(&vmm->mem, cfg, &acpi, device_mgr_cmdline(&vmm->devices), img, boot,
                              e);
}

/* r's objects into vmm, which owns them from now on. */
static void vmm_own_kvm(struct vmm *vmm, const struct kvm_setup_res *r)
{
        vmm->vm = r->vm;
        vmm->mem = r->mem;
        memcpy(vmm->vcpus, r->vcpus, r->nr_vcpus * sizeof(r->vcpus[0]));
        vmm->nr_vcpus = r->nr_vcpus;
        vmm->supported_cpuid = r->cpuid;
}

/* Takes what the KVM set-up built for w (VM, RAM and slots when w->mem, vCPUs) into vmm. */
static int vmm_take_kvm(struct vmm *vmm, const struct kvm_setup_want *w, struct err *e)
{
        struct kvm_setup_res r;
        int rc = kvm_setup_take(&vmm->setup, w, &r, e);

        vmm_own_kvm(vmm, &r);
        vmm->dirty_log = w->mem && w->dirty_log;
        return rc;
}

/*
 * A boot's KVM objects: the kernel and initrd go into guest RAM as soon as the set-up thread
 * mapped it, while it still creates the VM, its slots and vCPUs. A set-up failure wins over an
 * image's, as the VM came first before the two overlapped.
 */
static int vmm_kvm_boot(struct vmm *vmm, const struct vm_config *cfg, struct vmm_boot_images *img,
                        struct err *e)
{
        struct kvm_setup_want w;
        const struct guest_mem *mem;
        struct err ie = ERR_INIT;
        int rc, irc = 0;

        kvm_setup_want_of(cfg, true, &w);
        rc = kvm_setup_wait_memory(&vmm->setup, &w, &mem, e);
        if (!rc)
                irc = vmm_boot_load_images(mem, cfg, img, &ie);
        rc = vmm_take_kvm(vmm, &w, e);
        if (!rc && irc) {
                *e = ie;
                rc = irc;
        }
        /* KVM logs the guest's writes from here on; what brasa writes, the accessor. */
        if (!rc && vmm->dirty_log) {
                rc = guest_mem_track_dirty(&vmm->mem);
                if (rc)
                        err_set(e, rc, "Cannot track dirty pages: %s", strerror(-rc));
        }
        return rc;
}

/*
 * A restore's KVM objects: the empty VM from the set-up, then on this thread RAM from the
 * memory file (or, VMM_MEM_READY, the Uffd load's mapping, kept across the take) and its
 * slots, and after them (the fast order) the irqchip and vCPUs.
 */
static int vmm_kvm_restore(struct vmm *vmm, const struct vm_config *cfg, int mem_fd, struct err *e)
{
        struct guest_mem ready = vmm->mem;
        const struct kvm_setup_want w = {0};
        struct kvm_setup_res r;
        int rc;

        rc = kvm_setup_take(&vmm->setup, &w, &r, e);
        vmm_own_kvm(vmm, &r);
        if (mem_fd == VMM_MEM_READY)
                vmm->mem = ready;
        if (!rc)
                rc = vmm_setup_file_memory(vmm, cfg, mem_fd, e);
        if (rc)
                return rc;
        r.nr_vcpus = 0; /* r.vm is vmm->vm: the same fds */
        rc = kvm_setup_vcpus(&r, cfg->machine.vcpu_count, &vmm->vcpu_env, e);
        memcpy(vmm->vcpus, r.vcpus, r.nr_vcpus * sizeof(r.vcpus[0]));
        vmm->nr_vcpus = r.nr_vcpus;
        return rc;
}

void vmm_prepare(struct vmm *vmm, const struct vm_config *cfg)
{
        struct kvm_setup_want w = {0};

        if (vmm->started)
                return;
        if (cfg)
                kvm_setup_want_of(cfg, true, &w);
        kvm_setup_request(&vmm->setup, &w);
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
        kvm_setup_init(&vmm->setup, &vmm->vcpu_env);
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

int vmm_update_pmem(struct vmm *vmm, const struct pmem_update *u, struct err *e)
{
        struct virtio_pmem *m;

        if (!vmm->started)
                return err_set(e, -EAGAIN, "the microVM is not running");
        m = vmm_find_pmem(&vmm->devices, u->id);
        if (!m)
                return err_set(e, -ENOENT,
                               "Unable to patch the pmem device: Failed perform action on "
                               "device: Device not found Please verify the request arguments.");
        virtio_pmem_update_rate_limiter(m, &u->rate_limiter);
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

int vmm_mem_hotplug(struct vmm *vmm, const uint64_t *requested_mib, json_t **out, struct err *e)
{
        struct virtio_mem *m = vmm->started ? vmm_find_vmem(&vmm->devices) : NULL;
        struct virtio_mem_status s;

        *out = NULL;
        if (!m)
                return -ENOENT;
        if (requested_mib)
                return virtio_mem_update_requested(m, *requested_mib, e);
        virtio_mem_status(m, &s);
        /* VirtioMemStatus's field order */
        *out = json_pack("{s:I, s:I, s:I, s:I, s:I}", "block_size_mib",
                         (json_int_t)s.block_size_mib, "total_size_mib",
                         (json_int_t)s.total_size_mib, "slot_size_mib", (json_int_t)s.slot_size_mib,
                         "plugged_size_mib", (json_int_t)s.plugged_size_mib, "requested_size_mib",
                         (json_int_t)s.requested_size_mib);
        return *out ? 0 : err_set(e, -ENOMEM, "out of memory");
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
                rc = vmm_attach_pmems(&vmm->devices, cfg, e);
        if (!rc)
                rc = vmm_attach_vsock(&vmm->devices, cfg, e);
        if (!rc)
                rc = vmm_attach_entropy(&vmm->devices, cfg, e);
        if (!rc)
                rc = vmm_attach_vmem(&vmm->devices, cfg, e);
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
        struct vmm_boot_images img;
        int rc;

        rc = vmm_cpu_template(cfg, &tmpl, e);
        if (rc)
                return rc;
        rc = mem_fd == VMM_MEM_BOOT ? vmm_kvm_boot(vmm, cfg, &img, e)
                                    : vmm_kvm_restore(vmm, cfg, mem_fd, e);
        if (rc)
                return rc;
        timeline_mark(TL_KVM_READY);
        rc = vmm_check_template_caps(&vmm->vm, tmpl, e);
        if (rc)
                return rc;
        rc = vmm_open_serial_out(vmm, &cfg->serial, e);
        if (rc)
                return rc;
        device_mgr_init(&vmm->devices, &vmm->vm, &vmm->mmio, &vmm->loop, &vmm->mem);
        /* A snapshot's machine is the one it was taken on: never PCI (brasa refuses those). */
        rc = vmm->opts.pci && mem_fd == VMM_MEM_BOOT ? vmm_enable_pci(vmm, e) : 0;
        if (!rc)
                rc = vmm_attach_virtio(vmm, cfg, e);
        if (rc)
                return rc;
        vmm->pvm_template_on = vmm_want_pvm_template(&vmm->opts);
        /* A restore's memory already holds the kernel and its boot structures. */
        if (mem_fd == VMM_MEM_BOOT) {
                rc = vmm_add_pvm_args(vmm, cfg);
                if (rc)
                        return err_set(e, rc, "kernel command line is too long");
                rc = vmm_load(vmm, cfg, &img, &boot, e);
                if (!rc)
                        timeline_mark(TL_KERNEL_LOADED);
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
        timeline_mark(TL_INSTANCE_START);
        /* Boot-timer origin: InstanceStart processing begins, as in Firecracker. */
        clock_gettime(CLOCK_MONOTONIC, &vmm->start_wall);
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &vmm->start_cpu);
        rc = vmm_build(vmm, cfg, VMM_MEM_BOOT, e);
        if (rc == 0)
                rc = vmm_start(vmm, e);
        if (rc) {
                vmm_release_vm(vmm);
                return rc;
        }
        vmm->started = true;
        textpages_release(); /* the build's code is done with: its pages leave our RSS */
        return 0;
}
