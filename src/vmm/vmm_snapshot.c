/* Full snapshots: the state file and memory file of a paused microVM, and the restore from them. */
#include "vmm/vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/statefile.h"
#include "vmm/vcpu_state.h"
#include "vmm/vmm_boot.h"
#include "vmm/vmm_priv.h"
#include "vmm/vmm_uffd.h"

/* The state file's sections (docs/snapshot-format.md). */
enum snap_tag {
        SNAP_CONFIG = 1, /* the configuration, as GET /vm/config's JSON */
        SNAP_MEM = 2,    /* struct snap_mem */
        SNAP_VM = 3,     /* struct kvm_vm_state */
        SNAP_VCPU = 4,   /* struct vcpu_state, instance = vCPU index */
        SNAP_DEVICE = 5, /* u32 kind, u32 0, the device's state; instance = table index */
};

struct snap_mem {
        uint64_t total_bytes; /* the memory file's size */
        uint32_t nr_vcpus, nr_devs;
};

#define SNAP_DEV_HDR   8u
#define SNAP_DEV_STATE 4096u /* room for one device's state */

static const char *kind_name(enum device_kind k)
{
        switch (k) {
        case DEVICE_VIRTIO_NET:
                return "virtio-net";
        case DEVICE_VIRTIO_BLOCK:
                return "virtio-block";
        case DEVICE_VIRTIO_RNG:
                return "virtio-rng";
        case DEVICE_VIRTIO_BALLOON:
                return "virtio-balloon";
        case DEVICE_VIRTIO_VSOCK:
                return "virtio-vsock";
        case DEVICE_VIRTIO_PMEM:
                return "virtio-pmem";
        case DEVICE_VIRTIO_MEM:
                return "virtio-mem";
        case DEVICE_SERIAL:
                return "serial";
        case DEVICE_I8042:
                return "i8042";
        case DEVICE_BOOT_TIMER:
                return "boot timer";
        case DEVICE_ACPI_SLEEP:
                return "ACPI sleep control";
        case DEVICE_VMGENID:
                return "VMGenID";
        case DEVICE_VMCLOCK:
                return "VMClock";
        case DEVICE_PIT:
                return "PIT";
        }
        return "device";
}

/* ---- create ------------------------------------------------------------------------------- */

static int snap_add_config(struct statefile_writer *w, const struct vm_config *cfg, struct err *e)
{
        json_t *j = config_to_json(cfg);
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

        json_decref(j);
        if (!text)
                return err_set(e, -ENOMEM, "Cannot serialize the microVM state: out of memory");
        statefile_add(w, SNAP_CONFIG, 0, text, strlen(text));
        free(text);
        return 0;
}

static int snap_add_cpus(struct vmm *vmm, struct statefile_writer *w, struct err *e)
{
        struct kvm_vm_state vs;
        struct vcpu_state *s;
        unsigned int i;
        int rc;

        rc = kvm_vm_save(&vmm->vm, &vs, e);
        if (rc)
                return rc;
        statefile_add(w, SNAP_VM, 0, &vs, sizeof(vs));
        s = malloc(sizeof(*s));
        if (!s)
                return -ENOMEM;
        for (i = 0; i < vmm->nr_vcpus && !rc; i++) {
                rc = vcpu_state_save(&vmm->vcpus[i], &vmm->vm, s, e);
                if (rc)
                        break;
                /* What this host's KVM gave: kvm_pvm refuses some state ioctls. */
                log_info("vCPU %u state: %u MSRs, %s, XCRs %s, debug registers %s", i, s->nmsrs,
                         s->flags & VCPU_STATE_XSAVE ? "XSAVE" : "legacy FPU (no XSAVE)",
                         s->flags & VCPU_STATE_XCRS ? "saved" : "refused",
                         s->flags & VCPU_STATE_DEBUGREGS ? "saved" : "refused");
                statefile_add(w, SNAP_VCPU, i, s, sizeof(*s));
        }
        free(s);
        return rc;
}

static int snap_add_devices(struct vmm *vmm, struct statefile_writer *w, struct err *e)
{
        uint8_t buf[SNAP_DEV_HDR + SNAP_DEV_STATE];
        unsigned int i;
        size_t len;
        int rc;

        for (i = 0; i < vmm->devices.nr_devs; i++) {
                struct device *d = vmm->devices.devs[i];
                uint32_t hdr[2] = {(uint32_t)d->kind, 0};

                rc = d->ops->save(d, buf + SNAP_DEV_HDR, SNAP_DEV_STATE, &len);
                if (rc)
                        return err_set(e, rc, "Cannot save the microVM state: %s %s: %s",
                                       kind_name(d->kind), d->id ? d->id : "", strerror(-rc));
                memcpy(buf, hdr, sizeof(hdr));
                statefile_add(w, SNAP_DEVICE, i, buf, SNAP_DEV_HDR + len);
        }
        return 0;
}

/* Every device must have save/restore hooks: a snapshot without one would be broken. */
static int snap_check_devices(const struct vmm *vmm, struct err *e)
{
        unsigned int i;

        if (vmm->devices.pci)
                return err_set(e, -ENOTSUP,
                               "Cannot save the microVM state: Operation not allowed: "
                               "snapshotting a microVM with PCI enabled is not supported yet by "
                               "brasa");
        for (i = 0; i < vmm->devices.nr_devs; i++) {
                struct device *d = vmm->devices.devs[i];

                if (!d->ops->save || !d->ops->restore ||
                    (d->ops->snapshottable && !d->ops->snapshottable(d)))
                        return err_set(
                            e, -ENOTSUP,
                            "Cannot save the microVM state: Operation not allowed: "
                            "snapshotting the %s device %s is not supported yet by brasa",
                            kind_name(d->kind), d->id ? d->id : "");
        }
        return 0;
}

/* Writes len bytes to a new (truncated) file; what is the file's name in Firecracker's errors. */
static int write_new_file(const char *path, const void *data, size_t len, const char *what,
                          struct err *e)
{
        const uint8_t *p = data;
        int fd, rc = 0;

        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
        if (fd < 0) {
                rc = -errno;
                return err_set(e, rc, "Cannot perform open on the %s: %s (os error %d)", what,
                               strerror(-rc), -rc);
        }
        while (len) {
                ssize_t n = write(fd, p, len > (1u << 30) ? (1u << 30) : len);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        rc = n < 0 ? -errno : -EIO;
                        err_set(e, rc, "Cannot perform write on the %s: %s (os error %d)", what,
                                strerror(-rc), -rc);
                        break;
                }
                p += n;
                len -= (size_t)n;
        }
        close(fd);
        return rc;
}

#define SNAP_PAGE 4096u

/*
 * The memory file, open for writing at exactly size bytes. An existing file of that size is
 * written in place, not truncated: it may be the very file this VM was loaded from, still
 * mapped privately as its memory, and a truncation would zero the pages not copied yet; a Diff
 * snapshot also merges into it.
 */
static int open_mem_out(const char *path, uint64_t size, struct err *e)
{
        struct stat st;
        int fd, rc;

        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0) {
                rc = -errno;
                return err_set(e, rc,
                               "Cannot perform open on the memory backing file: %s (os "
                               "error %d)",
                               strerror(-rc), -rc);
        }
        if (fstat(fd, &st) == 0 && (uint64_t)st.st_size == size)
                return fd;
        if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0) {
                rc = -errno;
                close(fd);
                return err_set(e, rc,
                               "Cannot perform set_length on the memory backing file: %s "
                               "(os error %d)",
                               strerror(-rc), -rc);
        }
        return fd;
}

/* Writes bytes [off, off + len) of guest memory at the same offset of the file. */
static int write_run(int fd, const uint8_t *base, uint64_t off, uint64_t len)
{
        while (len) {
                struct iovec iov = {.iov_base = (void *)(uintptr_t)(base + off),
                                    .iov_len = len > (1u << 30) ? (1u << 30) : len};
                ssize_t n = pwritev(fd, &iov, 1, (off_t)off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EIO;
                off += (uint64_t)n;
                len -= (uint64_t)n;
        }
        return 0;
}

/*
 * Writes the pages whose vec byte has bit 0 set (every page when vec is NULL), joining
 * neighbours into one write.
 */
static int write_pages(int fd, const uint8_t *base, uint64_t size, const unsigned char *vec)
{
        uint64_t pages = size / SNAP_PAGE, i = 0, j;
        int rc;

        if (!vec)
                return write_run(fd, base, 0, size);
        while (i < pages) {
                if (!(vec[i] & 1)) {
                        i++;
                        continue;
                }
                for (j = i; j < pages && (vec[j] & 1); j++)
                        ;
                rc = write_run(fd, base, i * SNAP_PAGE, (j - i) * SNAP_PAGE);
                if (rc)
                        return rc;
                i = j;
        }
        return 0;
}

/*
 * KVM's dirty log of every slot, as one vec byte per page (bit 0 set: written since the
 * previous snapshot), in the memory file's page order. Also resets the log, which a Full
 * snapshot needs too: the next Diff starts from it.
 */
static int kvm_dirty_pages(struct vmm *vmm, unsigned char *vec, struct err *e)
{
        uint64_t first = 0, pages, i, *bits;
        unsigned int r;
        int rc = 0;

        for (r = 0; r < vmm->mem.nr_regions && !rc; r++) {
                pages = vmm->mem.regions[r].size / SNAP_PAGE;
                bits = calloc((pages + 63) / 64, sizeof(*bits));
                if (!bits)
                        return -ENOMEM;
                rc = kvm_vm_dirty_log(&vmm->vm, r, bits);
                if (rc)
                        err_set(e, rc, "Cannot get dirty bitmap: KVM_GET_DIRTY_LOG: %s",
                                strerror(-rc));
                for (i = 0; i < pages && vec && !rc; i++)
                        vec[first + i] = (bits[i / 64] >> (i % 64)) & 1;
                first += pages;
                free(bits);
        }
        return rc;
}

/*
 * Every page written since the previous snapshot: KVM's log of the guest's writes ORed with
 * the accessor's log of brasa's own (device buffers, VMGenID), to which the used rings of the
 * live virtio devices are added (written through cached pointers). Resets both logs.
 */
static int dirty_pages(struct vmm *vmm, unsigned char *vec, struct err *e)
{
        unsigned int i;
        int rc;

        for (i = 0; i < vmm->devices.nr_slots; i++)
                virtio_dev_mark_rings(vmm->devices.slots[i].dev);
        rc = kvm_dirty_pages(vmm, vec, e);
        guest_mem_take_dirty(&vmm->mem, rc ? NULL : vec);
        return rc;
}

/*
 * The pages of a Diff (vec, one byte per page): with track_dirty_pages, those KVM logged since
 * the previous snapshot; without, those resident in the guest mapping (mincore), a superset
 * of every page written since boot or load, as Firecracker does.
 */
static int diff_pages(struct vmm *vmm, unsigned char *vec, struct err *e)
{
        int rc;

        if (vmm->dirty_log)
                return dirty_pages(vmm, vec, e);
        if (mincore(vmm->mem.map, vmm->mem.total_bytes, vec) < 0) {
                rc = -errno;
                return err_set(e, rc, "Cannot get dirty bitmap: mincore: %s", strerror(-rc));
        }
        return 0;
}

/*
 * The memory file: all of guest RAM for Full; for Diff the pages resident in the guest
 * mapping (mincore), a superset of every page written since boot or load, so the diff laid
 * over any earlier snapshot of this VM gives its memory now.
 */
static int snap_write_memory(struct vmm *vmm, const char *path, bool diff, struct err *e)
{
        uint64_t size = vmm->mem.total_bytes;
        unsigned char *vec = NULL;
        int fd, rc = 0;

        if (diff) {
                vec = malloc(size / SNAP_PAGE);
                rc = vec ? diff_pages(vmm, vec, e) : -ENOMEM;
        } else if (vmm->dirty_log) {
                rc = dirty_pages(vmm, NULL, e); /* the next Diff starts here */
        }
        if (rc)
                goto out;
        fd = open_mem_out(path, size, e);
        if (fd < 0) {
                rc = fd;
                goto out;
        }
        rc = write_pages(fd, vmm->mem.map, size, vec);
        if (rc)
                err_set(e, rc, "Cannot write memory file: %s (os error %d)", strerror(-rc), -rc);
        close(fd);
out:
        free(vec);
        return rc;
}

/* The state file's bytes, in w. */
static int snap_build_state(struct vmm *vmm, const struct vm_config *cfg,
                            struct statefile_writer *w, struct err *e)
{
        struct snap_mem m = {
            .total_bytes = vmm->mem.total_bytes,
            .nr_vcpus = vmm->nr_vcpus,
            .nr_devs = vmm->devices.nr_devs,
        };
        int rc;

        rc = snap_add_config(w, cfg, e);
        if (rc)
                return rc;
        statefile_add(w, SNAP_MEM, 0, &m, sizeof(m));
        /* Devices first, as Firecracker: saving one may still raise an interrupt, which the
         * irqchip state read after it then holds. */
        rc = snap_add_devices(vmm, w, e);
        if (!rc)
                rc = snap_add_cpus(vmm, w, e);
        if (rc)
                err_prefix(e, "Cannot save the microVM state: ");
        return rc;
}

int vmm_snapshot_create(struct vmm *vmm, const struct vm_config *cfg,
                        const struct snapshot_create_body *b, struct err *e)
{
        struct statefile_writer w;
        const uint8_t *buf;
        size_t len;
        int rc;

        if (!vmm->paused)
                return err_set(e, -EPERM,
                               "Cannot save the microVM state: Operation not allowed: save/restore "
                               "unavailable while running");
        if (b->type == SNAPSHOT_DIFF)
                log_warn("[DevPreview] Virtual machine diff snapshots is in development preview.");
        rc = snap_check_devices(vmm, e);
        if (rc)
                return rc;
        statefile_writer_init(&w);
        rc = snap_build_state(vmm, cfg, &w, e);
        if (!rc) {
                rc = statefile_finish(&w, &buf, &len);
                if (rc)
                        err_set(e, rc, "Cannot serialize the microVM state: %s", strerror(-rc));
        }
        if (!rc)
                rc = write_new_file(b->snapshot_path, buf, len, "snapshot backing file", e);
        if (!rc)
                rc = snap_write_memory(vmm, b->mem_file_path, b->type == SNAPSHOT_DIFF, e);
        statefile_writer_free(&w);
        return rc;
}

/* ---- load: every section is checked (sizes, counts, kinds) before it is used ------------ */

/* The section tag/instance of exactly size bytes, or NULL with e set. */
static const struct statefile_section *need(const struct statefile *sf, uint32_t tag, uint32_t inst,
                                            size_t size, const char *what, struct err *e)
{
        const struct statefile_section *s = statefile_find(sf, tag, inst);

        if (!s)
                err_set(e, -EINVAL, "Invalid snapshot state: no %s %u", what, inst);
        else if (size && s->len != size)
                err_set(e, -EINVAL, "Invalid snapshot state: %s %u is %llu bytes, not %zu", what,
                        inst, (unsigned long long)s->len, size);
        return s && (!size || s->len == size) ? s : NULL;
}

/* network_overrides: each iface_id must name one of the snapshot's interfaces. */
static int override_nets(json_t *j, const struct mstrings *o, struct err *e)
{
        json_t *nets = json_object_get(j, "network-interfaces"), *n;
        unsigned int i;
        size_t k;

        for (i = 0; i + 1 < o->n; i += 2) {
                bool found = false;

                json_array_foreach(nets, k, n)
                {
                        if (!json_is_string(json_object_get(n, "iface_id")) ||
                            strcmp(json_string_value(json_object_get(n, "iface_id")), o->v[i]))
                                continue;
                        if (json_object_set_new(n, "host_dev_name", json_string(o->v[i + 1])))
                                return -ENOMEM;
                        found = true;
                }
                if (!found)
                        return err_set(e, -EINVAL,
                                       "Failed to get snapshot state from file: "
                                       "Unknown Network Device.");
        }
        return 0;
}

/* vsock_override: the snapshot must have the (one) vsock device. */
static int override_vsock(json_t *j, const char *uds_path, struct err *e)
{
        json_t *v = json_object_get(j, "vsock");

        if (!json_is_object(v))
                return err_set(e, -EINVAL,
                               "Failed to get snapshot state from file: Unknown Vsock Device.");
        return json_object_set_new(v, "uds_path", json_string(uds_path)) ? -ENOMEM : 0;
}

/*
 * The configuration text of the snapshot with the load's overrides applied, as Firecracker
 * changes the saved device states before it builds anything: a new tap name or vsock socket
 * path (clones). *text is c's bytes when there is nothing to change, else malloc'd in *owned.
 */
static int apply_overrides(const struct vmm *vmm, const struct statefile_section *c,
                           const char **text, size_t *len, char **owned, struct err *e)
{
        const struct snapshot_load_body *b = vmm->load_overrides;
        json_t *j;
        int rc;

        *text = (const char *)c->data;
        *len = c->len;
        *owned = NULL;
        if (!b || (!b->net_overrides.n && !b->has_vsock_override))
                return 0;
        j = json_loadb((const char *)c->data, c->len, 0, NULL);
        if (!j)
                return err_set(e, -EINVAL, "Invalid snapshot state: the configuration is not JSON");
        rc = override_nets(j, &b->net_overrides, e);
        if (!rc && b->has_vsock_override)
                rc = override_vsock(j, b->vsock_override.uds_path, e);
        if (!rc) {
                *owned = json_dumps(j, JSON_COMPACT);
                rc = *owned ? 0 : err_set(e, -ENOMEM, "out of memory");
        }
        json_decref(j);
        if (*owned) {
                *text = *owned;
                *len = strlen(*owned);
        }
        return rc;
}

/* The configuration section into cfg, and the memory section checked against it. */
static int load_config(const struct vmm *vmm, const struct statefile *sf, struct vm_config *cfg,
                       struct snap_mem *m, struct err *e)
{
        const struct statefile_section *c = need(sf, SNAP_CONFIG, 0, 0, "configuration", e);
        const struct statefile_section *s = need(sf, SNAP_MEM, 0, sizeof(*m), "memory state", e);
        const char *text;
        char *owned;
        size_t len;
        int rc;

        if (!c || !s)
                return -EINVAL;
        memcpy(m, s->data, sizeof(*m));
        rc = apply_overrides(vmm, c, &text, &len, &owned, e);
        if (rc)
                return rc;
        rc = config_parse_file(text, len, cfg, e);
        free(owned);
        /* As Firecracker: dirty page tracking is the load's choice, not the snapshot's. */
        cfg->machine.track_dirty_pages =
            vmm->load_overrides && vmm->load_overrides->track_dirty_pages;
        if (!rc)
                rc = config_check_supported(cfg, e);
        if (rc)
                return err_prefix(e, "Invalid snapshot state: ");
        if (m->total_bytes != cfg->machine.mem_size_mib << 20 ||
            m->nr_vcpus != cfg->machine.vcpu_count)
                return err_set(e, -EINVAL,
                               "Invalid snapshot state: memory or vCPU count differs from its "
                               "configuration");
        return 0;
}

/* The memory file, open and at least as long as the snapshot's guest memory. */
static int open_mem_file(const char *path, uint64_t need_bytes, struct err *e)
{
        struct stat st;
        int fd, rc;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = -errno;
                return err_set(e, rc,
                               "Failed to load guest memory: Error creating guest memory from "
                               "file: Failed to load guest memory: %s (os error %d)",
                               strerror(-rc), -rc);
        }
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size < need_bytes) {
                close(fd);
                return err_set(e, -EINVAL,
                               "Failed to load guest memory: Error creating guest memory from "
                               "file: Failed to restore guest memory: the memory file %s is %lld "
                               "bytes, the snapshot's guest memory is %llu bytes",
                               path, (long long)st.st_size, (unsigned long long)need_bytes);
        }
        return fd;
}

static int load_devices(struct vmm *vmm, const struct statefile *sf, uint32_t nr, struct err *e)
{
        const struct statefile_section *s;
        uint32_t i, kind;
        int rc;

        if (nr != vmm->devices.nr_devs)
                return err_set(e, -EINVAL,
                               "Invalid snapshot state: %u devices, the configuration "
                               "builds %u",
                               nr, vmm->devices.nr_devs);
        for (i = 0; i < nr; i++) {
                struct device *d = vmm->devices.devs[i];

                s = need(sf, SNAP_DEVICE, i, 0, "device", e);
                if (!s)
                        return -EINVAL;
                if (s->len < SNAP_DEV_HDR)
                        return err_set(e, -EINVAL, "Invalid snapshot state: device %u is short", i);
                memcpy(&kind, s->data, sizeof(kind));
                if (kind != (uint32_t)d->kind || !d->ops->restore)
                        return err_set(e, -EINVAL, "Invalid snapshot state: device %u is not a %s",
                                       i, kind_name(d->kind));
                rc = d->ops->restore(d, s->data + SNAP_DEV_HDR, s->len - SNAP_DEV_HDR);
                if (rc)
                        return err_set(e, rc, "Invalid snapshot state: the %s state: %s",
                                       kind_name(d->kind), strerror(-rc));
        }
        return 0;
}

static int load_cpus(struct vmm *vmm, const struct statefile *sf, struct err *e)
{
        const struct statefile_section *s;
        struct kvm_vm_state vs;
        struct vcpu_state *vcs;
        unsigned int i;
        int rc;

        s = need(sf, SNAP_VM, 0, sizeof(vs), "VM state", e);
        if (!s)
                return -EINVAL;
        memcpy(&vs, s->data, sizeof(vs));
        rc = kvm_vm_restore(&vmm->vm, &vs, e);
        vcs = malloc(sizeof(*vcs));
        if (!vcs)
                return -ENOMEM;
        for (i = 0; i < vmm->nr_vcpus && !rc; i++) {
                s = need(sf, SNAP_VCPU, i, sizeof(*vcs), "vCPU", e);
                if (!s) {
                        rc = -EINVAL;
                        break;
                }
                memcpy(vcs, s->data, sizeof(*vcs));
                rc = vcpu_state_restore(&vmm->vcpus[i], vcs, e);
        }
        free(vcs);
        return rc;
}

/* What backs a load's guest memory: the memory file, or a page-fault handler's socket. */
struct load_mem {
        const char *path;
        bool uffd;
};

#define UFFD_ERR "Failed to load guest memory: Error creating guest memory from uffd: "

/*
 * Firecracker's File backend: a private mapping of the memory file. A hugetlbfs snapshot
 * cannot be mapped so (its pages are not the file's), as Firecracker says.
 */
static int load_mem_file(struct vmm *vmm, struct vm_config *cfg, const char *path, uint64_t bytes,
                         struct err *e)
{
        int fd, rc;

        if (cfg->machine.huge_pages == HUGE_PAGES_2M)
                return err_set(e, -EINVAL,
                               "Failed to load guest memory: Error creating guest memory from "
                               "file: Cannot restore hugetlbfs backed snapshot by mapping the "
                               "memory file. Please use uffd.");
        fd = open_mem_file(path, bytes, e);
        if (fd < 0)
                return fd;
        rc = vmm_build(vmm, cfg, fd, e);
        close(fd); /* the mapping keeps the file */
        if (rc)
                return err_prefix(e, "Failed to build microVM from snapshot: ");
        return 0;
}

/*
 * Firecracker's Uffd backend: anonymous memory that the handler at path fills on demand,
 * handed over before the build, whose device set-up already writes guest pages.
 */
static int load_mem_uffd(struct vmm *vmm, struct vm_config *cfg, int sock, struct err *e)
{
        uint64_t page = cfg->machine.huge_pages == HUGE_PAGES_2M ? (2ull << 20) : 4096;
        int rc;

        rc = vmm_map_memory(vmm, cfg, -1, e);
        if (rc)
                close(sock);
        else
                rc = vmm_uffd_attach(vmm, sock, page, e);
        if (rc)
                return err_prefix(e, UFFD_ERR);
        rc = vmm_build(vmm, cfg, VMM_MEM_READY, e);
        return rc ? err_prefix(e, "Failed to build microVM from snapshot: ") : 0;
}

/* Builds the microVM of a parsed state file over its memory and puts its state back. */
static int load_build(struct vmm *vmm, const struct statefile *sf, struct vm_config *cfg,
                      const struct load_mem *mem, struct err *e)
{
        struct snap_mem m;
        int rc, sock = -1;

        /* Firecracker reaches the handler before it opens any device's file. */
        if (mem->uffd && (sock = vmm_uffd_connect(mem->path, e)) < 0)
                return err_prefix(e, UFFD_ERR);
        rc = load_config(vmm, sf, cfg, &m, e);
        if (rc) {
                if (sock >= 0)
                        close(sock);
                return rc;
        }
        rc = mem->uffd ? load_mem_uffd(vmm, cfg, sock, e)
                       : load_mem_file(vmm, cfg, mem->path, m.total_bytes, e);
        if (rc)
                return rc;
        rc = load_devices(vmm, sf, m.nr_devs, e);
        if (!rc)
                rc = load_cpus(vmm, sf, e);
        /* A restored guest is a new generation: a fresh VMGenID (so that it reseeds its
         * RNG) and VMClock's disruption marker, each with its interrupt, as Firecracker. */
        if (!rc)
                rc = vmm_vmgenid_regenerate(vmm, e);
        if (!rc)
                rc = vmm_vmclock_restored(vmm, e);
        /* Those wrote guest memory: a handler that hung up is known by now. */
        if (!rc && vmm_uffd_check(vmm, e))
                rc = err_prefix(e, UFFD_ERR);
        return rc;
}

/* Starts the restored vCPUs: parked at once unless resume, with the loop frozen likewise. */
static int load_start(struct vmm *vmm, bool resume, struct err *e)
{
        unsigned int i;
        int rc;

        for (i = 0; i < vmm->nr_vcpus && !resume; i++)
                vcpu_pause(&vmm->vcpus[i]);
        rc = vmm_start(vmm, e);
        if (rc)
                return rc;
        vmm->started = true;
        if (!resume)
                return vmm_pause(vmm);
        return 0;
}

static int snapshot_load(struct vmm *vmm, struct vm_config *cfg, const char *state_path,
                         const struct load_mem *mem, bool resume, struct err *e)
{
        struct statefile *sf;
        uint8_t *buf = NULL;
        size_t len;
        int rc;

        if (vmm->started)
                return -EALREADY;
        rc = vmm_read_file("snapshot file", state_path, STATEFILE_MAX_SIZE, &buf, &len, e);
        if (rc)
                return err_prefix(e, "Failed to get snapshot state from file: Failed to load "
                                     "snapshot state from file: ");
        sf = malloc(sizeof(*sf));
        rc = sf ? statefile_parse(buf, len, sf, e) : -ENOMEM;
        if (rc) {
                err_prefix(e, "Failed to get snapshot state from file: Failed to load snapshot "
                              "state from file: ");
                goto out;
        }
        rc = load_build(vmm, sf, cfg, mem, e);
        if (!rc)
                rc = load_start(vmm, resume, e);
        if (rc)
                vmm_release_vm(vmm);
out:
        free(sf);
        free(buf);
        return rc;
}

int vmm_snapshot_load(struct vmm *vmm, struct vm_config *cfg, const char *state_path,
                      const char *mem_path, bool resume, struct err *e)
{
        const struct load_mem mem = {.path = mem_path};

        return snapshot_load(vmm, cfg, state_path, &mem, resume, e);
}

int vmm_snapshot_load_uffd(struct vmm *vmm, struct vm_config *cfg, const char *state_path,
                           const char *sock_path, bool resume, struct err *e)
{
        const struct load_mem mem = {.path = sock_path, .uffd = true};

        return snapshot_load(vmm, cfg, state_path, &mem, resume, e);
}
