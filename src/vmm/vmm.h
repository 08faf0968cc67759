/* The microVM: builds it from a validated config, runs the VMM event loop, tears it down. */
#ifndef BRASA_VMM_VMM_H
#define BRASA_VMM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <termios.h>
#include <time.h>

#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/layout.h"
#include "core/err.h"
#include "core/evloop.h"
#include "core/guest_mem.h"
#include "devices/bus.h"
#include "model/config.h"
#include "model/config.h"
#include "vmm/device_mgr.h"
#include "vmm/kvm_setup.h"
#include "vmm/kvm_vm.h"
#include "vmm/legacy.h"
#include "vmm/vcpu.h"

/* Process exit codes, as Firecracker's FcExitCode. */
enum vmm_exit_code {
        VMM_EXIT_OK = 0,
        VMM_EXIT_GENERIC = 1,
        VMM_EXIT_UNEXPECTED = 2,
        VMM_EXIT_BAD_CONFIG = 152,
        VMM_EXIT_ARG_PARSING = 153,
};

struct mmds_service;

/* The longest kernel command line the VMM writes: boot_args must fit in it. */
#define VMM_CMDLINE_MAX_SIZE LAYOUT_CMDLINE_MAX_SIZE

struct vmm_opts {
        bool boot_timer;
        enum cpu_template_mode pvm_template;
        bool no_pvm_boot_args; /* --no-pvm-boot-args: never append pvm_boot_args */
        bool pci;              /* --enable-pci: virtio devices on a PCI bus, with MSI-X */
};

struct vmm {
        struct vmm_opts opts;
        bool started;
        bool pvm_template_on; /* the kvm_pvm CPU template is applied to this boot's vCPUs */
        bool paused;          /* PATCH /vm Paused: vCPUs parked, device sources frozen */
        bool dirty_log;       /* track_dirty_pages: KVM logs the guest's writes to its RAM */
        /* the network_overrides and vsock_override of the load under way (borrowed), or NULL */
        const struct snapshot_load_body *load_overrides;
        struct kvm_vm vm;
        struct guest_mem mem;
        struct bus pio;
        struct bus mmio;
        struct vcpu_env vcpu_env;
        struct vcpu vcpus[LAYOUT_MAX_VCPUS];
        unsigned int nr_vcpus;
        /* The KVM set-up thread, until vmm_build() takes what it built. */
        struct kvm_setup setup;
        /* KVM_GET_SUPPORTED_CPUID, read by the KVM set-up. */
        struct kvm_cpuid2 *supported_cpuid;

        struct mmds_service *mmds; /* the metadata service (borrowed), NULL: no MMDS */
        struct device_mgr devices; /* every device: virtio-mmio ones, COM1, i8042, boot timer */
        struct serial *console;    /* COM1 in devices (borrowed), NULL when none */
        int serial_out_fd;         /* PUT /serial's serial_out_path (owned), -1: stdout */
        int console_out_fd;        /* where COM1 writes (serial_out_fd or outfd_stdout()) */

        struct evloop loop;
        struct ev_source exit_src;   /* eventfd written by request_exit */
        struct ev_source signal_src; /* signalfd: signals_loop_set() */
        struct ev_source stdin_src;  /* guest console input */
        struct ev_source serial_drain_src;
        struct ev_source console_out_src; /* COM1's output eventfd: output waits in its ring */
        struct ev_source console_fd_src;  /* console_out_fd, for EPOLLOUT while it is full */
        struct ev_source metrics_src;     /* timerfd: a metrics line every METRICS_PERIOD_MS */
        bool stdin_eof;
        bool tty_raw;
        struct termios tty_saved;

        int exit_code; /* first request wins; accessed atomically */
        bool exit_requested;
        bool signal_exit; /* a fatal signal ends the process: write the last metrics line */
        struct timespec start_wall, start_cpu;
        struct vmm_uffd *uffd; /* a Uffd snapshot load's backend (vmm_uffd.h), else NULL */
};

/*
 * Prepares an empty microVM: fields, the VMM event loop, the exit eventfd and
 * the termination signals (signalfd). Call on the thread that will run
 * vmm_loop(). Returns 0 or -errno; on failure vmm_destroy() is still safe.
 */
int vmm_init(struct vmm *vmm, const struct vmm_opts *opts);

/*
 * Builds the microVM described by cfg (KVM VM, memory, kernel, initrd, boot
 * structures, legacy devices, vCPUs), hooks up console input and starts the
 * vCPUs. Runs on the VMM thread, after vmm_init(). On failure, e holds one
 * line and everything this call acquired is released; the VMM stays usable
 * (not started). Returns 0, -EALREADY when already started, or -errno.
 */
int vmm_boot(struct vmm *vmm, const struct vm_config *cfg, struct err *e);

/*
 * Starts building, on the KVM set-up thread, what a boot of cfg will need (cfg NULL: the VM and
 * irqchip alone, which no configuration changes), and redoes it when called again with
 * another machine-config. Returns at once; vmm_build() waits for it and reports its failure
 * there, in Firecracker's words. Nothing once started. VMM thread.
 */
void vmm_prepare(struct vmm *vmm, const struct vm_config *cfg);

/* True once vmm_boot() succeeded. */
bool vmm_started(const struct vmm *vmm);

/*
 * Runs the VMM event loop on the calling thread until the guest resets, a
 * signal asks to stop, or an error. Returns the process exit code.
 */
int vmm_loop(struct vmm *vmm);

/* Stops the metrics timer and vCPUs, closes every fd and unmaps memory. Safe after a failed build.
 */
void vmm_destroy(struct vmm *vmm);

/*
 * PATCH /drives/{id} after boot, on the VMM thread (the API's update_drive hook):
 * u->path_on_host (NULL = keep) swaps the backing file, opened with the drive's read-only
 * mode, after in-flight I/O on the old one finished; the guest gets a config-change
 * interrupt and reads the new capacity. u->rate_limiter (when has_rate_limiter) updates
 * the buckets as Firecracker does. Nothing changes when the new file cannot be opened.
 * Returns 0, -ENOENT (no such drive), -EAGAIN (not started) or -errno, with one line in e.
 */
int vmm_update_drive(struct vmm *vmm, const struct drive_update *u, struct err *e);

/* PATCH /pmem/{id} with a rate limiter after boot (the API's update_pmem hook, VMM thread).
 * Returns 0, -EAGAIN before boot or -ENOENT with Firecracker's text in e. */
int vmm_update_pmem(struct vmm *vmm, const struct pmem_update *u, struct err *e);

/*
 * PATCH /network-interfaces/{id} after boot, on the VMM thread (the API's update_net
 * hook): applies the RX and TX rate-limiter updates as Firecracker does.
 * Returns 0, -ENOENT (no such interface) or -EAGAIN (not started), with one line in e.
 */
int vmm_update_net(struct vmm *vmm, const struct net_update *u, struct err *e);

/*
 * The balloon routes after boot, on the VMM thread (the API's balloon hook): runs rq on the
 * balloon device; *out gets the JSON of the GETs (new reference). Returns 0, -ENOENT (no
 * balloon, or not started) or the device's -errno, with Firecracker's words in e.
 */
int vmm_balloon(struct vmm *vmm, const struct balloon_req *rq, json_t **out, struct err *e);

/*
 * /hotplug/memory after boot, on the VMM thread (the API's mem_hotplug hook): with
 * requested_mib NULL, *out gets Firecracker's VirtioMemStatus JSON; otherwise the device's
 * requested size changes. Returns 0, -ENOENT (no virtio-mem device, or not started) or
 * -EINVAL with Firecracker's words in e.
 */
int vmm_mem_hotplug(struct vmm *vmm, const uint64_t *requested_mib, json_t **out, struct err *e);

/*
 * InstanceStart's SendCtrlAltDel (VMM thread): queues Ctrl-Alt-Del on the i8042. Returns 0,
 * or -ENODEV (not booted) / -ENOSPC (buffer full) with Firecracker's I8042 error in e.
 */
int vmm_send_ctrl_alt_del(struct vmm *vmm, struct err *e);

/*
 * For snapshot restore (VMM thread, the VM built): draws a new VMGenID, writes it to guest
 * memory and raises VMGenID's interrupt, as Firecracker does after a restore. Returns 0, or
 * -ENODEV (not built) / -errno with one line in e.
 */
int vmm_vmgenid_regenerate(struct vmm *vmm, struct err *e);

/*
 * For snapshot restore, with vmm_vmgenid_regenerate(): moves VMClock's VM generation
 * counter (and disruption marker) on and raises its interrupt, as Firecracker does. Returns
 * 0, or -ENODEV / -errno with one line in e.
 */
int vmm_vmclock_restored(struct vmm *vmm, struct err *e);

/*
 * Writes every device metrics group of one line into root, in Firecracker's order:
 * "i8042", "uart", then each virtio kind's sum and per-device groups ("block",
 * "block_<id>"..., "net_<id>"..., "net"), each as the increase since the previous call.
 * Groups of devices that do not exist yet are there, all zero. Flushing thread.
 */
void vmm_add_metrics(struct vmm *vmm, json_t *root);

/*
 * Makes vmm_add_metrics() the metrics source and arms a timer on the VMM loop that writes
 * a metrics line every 60 s once the microVM runs (Firecracker's PeriodicMetrics).
 * Returns 0 or -errno.
 */
int vmm_metrics_start(struct vmm *vmm);

/* Stops the timer and unregisters the source; safe when never started (vmm_destroy() calls it). */
void vmm_metrics_stop(struct vmm *vmm);

/*
 * PATCH /vm Paused (VMM thread): every vCPU leaves KVM_RUN and parks at an instruction
 * boundary, then the loop freezes, so devices stop serving queues, taps, timers and rate
 * limiters until vmm_resume(); the API, signals, metrics and exit requests are still
 * served. Pausing a paused VM is a no-op. Returns 0 or -EAGAIN (not started).
 */
int vmm_pause(struct vmm *vmm);

/*
 * PATCH /vm Resumed (VMM thread): thaws the loop (what fired meanwhile is served next), then
 * lets the vCPUs run. Resuming a running VM is a no-op. Returns 0, -EAGAIN (not started) or
 * the -errno of a source that could not be watched again.
 */
int vmm_resume(struct vmm *vmm);

/* True between vmm_pause() and vmm_resume(). */
bool vmm_paused(const struct vmm *vmm);

/*
 * PUT /snapshot/create of a Full snapshot (VMM thread): the state file (configuration, memory
 * size, every device's state, irqchip/kvmclock, the PIT among the devices, every vCPU's state;
 * docs/snapshot-format.md) and the memory file (all guest RAM, the regions back to back). The
 * microVM must be paused; a device without snapshot hooks fails it with "snapshotting the <kind>
 * device <id> is not supported yet by brasa", before anything is written. Returns 0 or -errno with
 * Firecracker's CreateSnapshotError words in e (without the "Create snapshot error: " prefix).
 */
int vmm_snapshot_create(struct vmm *vmm, const struct vm_config *cfg,
                        const struct snapshot_create_body *b, struct err *e);

/*
 * PUT /snapshot/load in a fresh process (VMM thread): reads and checks the state file (CRC,
 * version, every section's size), replaces *cfg with the snapshot's configuration, maps
 * mem_path privately as guest memory (pages load on first touch), rebuilds the devices and
 * puts every saved state back, then starts the vCPUs, paused unless resume. On failure
 * everything built is released. Returns 0 or -errno with Firecracker's
 * RestoreFromSnapshotError words in e (without "Failed to restore from snapshot: ").
 */
int vmm_snapshot_load(struct vmm *vmm, struct vm_config *cfg, const char *state_path,
                      const char *mem_path, bool resume, struct err *e);

/*
 * As vmm_snapshot_load() with Firecracker's Uffd backend: guest memory is anonymous (2 MiB
 * hugetlbfs pages when the snapshot had them) and the page-fault handler listening on
 * sock_path fills it (vmm_uffd.h has the handshake, and what happens when the handler goes
 * away). A handler that hung up before the load finished fails it.
 */
int vmm_snapshot_load_uffd(struct vmm *vmm, struct vm_config *cfg, const char *state_path,
                           const char *sock_path, bool resume, struct err *e);

/* Called from any thread to end the VM with code (the first call wins). */
void vmm_request_exit(struct vmm *vmm, int code);

#endif
