/* KVM VM creation and VM-wide setup (memory slots, irqchip, irqfd). */
#include "vmm/kvm_vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"

static const struct {
        int cap;
        const char *name;
} kvm_required_caps[] = {
    {KVM_CAP_IRQCHIP, "IRQCHIP"},
    {KVM_CAP_IOEVENTFD, "IOEVENTFD"},
    {KVM_CAP_IRQFD, "IRQFD"},
    {KVM_CAP_USER_MEMORY, "USER_MEMORY"},
    {KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR"},
    {KVM_CAP_EXT_CPUID, "EXT_CPUID"},
    {KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
};

static int kvm_check_caps(int kvm_fd, struct err *e)
{
        size_t i;

        for (i = 0; i < sizeof(kvm_required_caps) / sizeof(kvm_required_caps[0]); i++) {
                if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, kvm_required_caps[i].cap) <= 0)
                        return err_set(e, -ENOTSUP, "KVM capability %s is missing",
                                       kvm_required_caps[i].name);
        }
        return 0;
}

/* What to do when /dev/kvm cannot be opened with -errno rc. */
static const char *kvm_open_hint(int rc)
{
        if (rc == -ENOENT)
                return "/dev/kvm does not exist: load KVM (modprobe kvm_intel or kvm_amd; "
                       "kvm_pvm on a host without VMX/SVM), or pass the device into the "
                       "container (docker run --device /dev/kvm)";
        if (rc == -EACCES || rc == -EPERM)
                return "this user may not open /dev/kvm: add it to the device's group (ls -l "
                       "/dev/kvm; usermod -aG kvm USER, then log in again) or grant it with an "
                       "ACL (setfacl -m u:USER:rw /dev/kvm)";
        return NULL;
}

static int kvm_vm_open(struct kvm_vm *vm, struct err *e)
{
        int ver, rc;

        vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (vm->kvm_fd < 0) {
                rc = -errno;
                /* Firecracker's KvmError::Kvm, hint included. */
                err_set(e, rc,
                        "Kvm error: Error creating KVM object: %s (os error %d) Make sure "
                        "the user launching the firecracker process is configured on the "
                        "/dev/kvm file's ACL.",
                        strerror(-rc), -rc);
                return err_hint(e, kvm_open_hint(rc));
        }
        ver = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
        if (ver != KVM_API_VERSION)
                return err_set(e, -ENOTSUP,
                               "Kvm error: The host kernel reports an invalid KVM API version: %d",
                               ver);
        rc = kvm_check_caps(vm->kvm_fd, e);
        if (rc)
                return rc;
        rc = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
        if (rc <= 0)
                return err_set(e, -EINVAL, "KVM_GET_VCPU_MMAP_SIZE failed");
        vm->run_size = (size_t)rc;
        return 0;
}

static int kvm_vm_setup(struct kvm_vm *vm, struct err *e)
{
        const char *what;

        what = "KVM_SET_TSS_ADDR";
        if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)LAYOUT_KVM_TSS_ADDR) < 0)
                goto fail;
        what = "KVM_CREATE_IRQCHIP";
        if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
                goto fail;
        return 0;
fail:
        return err_set(e, -errno, "%s failed: %s", what, strerror(errno));
}

int kvm_vm_create_empty(struct kvm_vm *vm, struct err *e)
{
        int rc;

        vm->kvm_fd = vm->vm_fd = -1;
        rc = kvm_vm_open(vm, e);
        if (rc)
                goto out_close;
        vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
        if (vm->vm_fd < 0) {
                rc = -errno;
                err_set(e, rc, "KVM_CREATE_VM failed: %s", strerror(-rc));
                goto out_close;
        }
        return 0;
out_close:
        kvm_vm_destroy(vm);
        return rc;
}

int kvm_vm_add_irqchip(struct kvm_vm *vm, struct err *e)
{
        return kvm_vm_setup(vm, e);
}

int kvm_vm_create(struct kvm_vm *vm, struct err *e)
{
        int rc = kvm_vm_create_empty(vm, e);

        if (!rc)
                rc = kvm_vm_setup(vm, e);
        if (rc)
                kvm_vm_destroy(vm);
        return rc;
}

int kvm_vm_settle(int vm_fd)
{
        /*
         * A port no device of the machine has, and a value to match: while it is registered
         * (a few ms) only a guest write of exactly that byte there lands in the eventfd
         * instead of being ignored by brasa, which the guest cannot tell apart.
         */
        struct kvm_ioeventfd io = {
            .datamatch = LAYOUT_SETTLE_MATCH,
            .addr = LAYOUT_PORT_SETTLE,
            .len = 1,
            .flags = KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH,
        };
        int rc = 0;

        io.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (io.fd < 0)
                return -errno;
        if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0) {
                rc = -errno;
                goto out;
        }
        /* Removing an I/O-bus device waits for an expedited grace period: that is the point. */
        io.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        if (ioctl(vm_fd, KVM_IOEVENTFD, &io) < 0)
                rc = -errno;
out:
        close(io.fd);
        return rc;
}

int kvm_vm_dirty_log(const struct kvm_vm *vm, unsigned int slot, uint64_t *bitmap)
{
        struct kvm_dirty_log l = {.slot = slot, .dirty_bitmap = bitmap};

        return ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &l) < 0 ? -errno : 0;
}

int kvm_vm_set_memory(struct kvm_vm *vm, const struct guest_mem *mem, bool dirty_log)
{
        unsigned int i;

        for (i = 0; i < mem->nr_regions; i++) {
                struct kvm_userspace_memory_region r = {
                    .slot = i,
                    .flags = dirty_log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
                    .guest_phys_addr = mem->regions[i].gpa,
                    .memory_size = mem->regions[i].size,
                    .userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].hva,
                };

                if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
                        return -errno;
        }
        return 0;
}

int kvm_vm_map_region(struct kvm_vm *vm, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
                      bool read_only)
{
        struct kvm_userspace_memory_region r = {
            .slot = slot,
            .flags = read_only ? KVM_MEM_READONLY : 0,
            .guest_phys_addr = gpa,
            .memory_size = size,
            .userspace_addr = (uint64_t)(uintptr_t)hva,
        };

        return ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int kvm_vm_irqfd(struct kvm_vm *vm, unsigned int gsi)
{
        struct kvm_irqfd irqfd = {.gsi = gsi};
        int fd, rc;

        fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
                return -errno;
        irqfd.fd = (uint32_t)fd;
        if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
                rc = -errno;
                close(fd);
                return rc;
        }
        return fd;
}

void kvm_vm_destroy(struct kvm_vm *vm)
{
        if (vm->vm_fd >= 0)
                close(vm->vm_fd);
        if (vm->kvm_fd >= 0)
                close(vm->kvm_fd);
        vm->vm_fd = vm->kvm_fd = -1;
}

/* One VM ioctl of the state lists below; names it in e when it fails. */
static int kvm_vm_ioctl(const struct kvm_vm *vm, unsigned long req, void *arg, const char *name,
                        struct err *e)
{
        int rc;

        if (ioctl(vm->vm_fd, req, arg) >= 0)
                return 0;
        rc = -errno;
        return err_set(e, rc, "%s failed: %s", name, strerror(-rc));
}

int kvm_vm_save(const struct kvm_vm *vm, struct kvm_vm_state *s, struct err *e)
{
        int rc;

        memset(s, 0, sizeof(*s));
        s->pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
        s->pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
        s->ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
        rc = kvm_vm_ioctl(vm, KVM_GET_IRQCHIP, &s->pic_master, "KVM_GET_IRQCHIP (PIC master)", e);
        if (!rc)
                rc = kvm_vm_ioctl(vm, KVM_GET_IRQCHIP, &s->pic_slave, "KVM_GET_IRQCHIP (PIC slave)",
                                  e);
        if (!rc)
                rc = kvm_vm_ioctl(vm, KVM_GET_IRQCHIP, &s->ioapic, "KVM_GET_IRQCHIP (IOAPIC)", e);
        if (!rc)
                rc = kvm_vm_ioctl(vm, KVM_GET_CLOCK, &s->clock, "KVM_GET_CLOCK", e);
        return rc;
}

int kvm_vm_restore(const struct kvm_vm *vm, const struct kvm_vm_state *s, struct err *e)
{
        struct kvm_vm_state c = *s;
        int rc;

        /* Only the clock value travels: the host-time fields of the save are meaningless here. */
        c.clock.flags = 0;
        c.clock.realtime = 0;
        c.clock.host_tsc = 0;
        c.pic_master.chip_id = KVM_IRQCHIP_PIC_MASTER;
        c.pic_slave.chip_id = KVM_IRQCHIP_PIC_SLAVE;
        c.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
        rc = kvm_vm_ioctl(vm, KVM_SET_CLOCK, &c.clock, "KVM_SET_CLOCK", e);
        if (!rc)
                rc = kvm_vm_ioctl(vm, KVM_SET_IRQCHIP, &c.pic_master,
                                  "KVM_SET_IRQCHIP (PIC master)", e);
        if (!rc)
                rc = kvm_vm_ioctl(vm, KVM_SET_IRQCHIP, &c.pic_slave, "KVM_SET_IRQCHIP (PIC slave)",
                                  e);
        if (!rc)
                rc = kvm_vm_ioctl(vm, KVM_SET_IRQCHIP, &c.ioapic, "KVM_SET_IRQCHIP (IOAPIC)", e);
        return rc;
}
