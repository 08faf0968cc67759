/* The VMM's device builder: drive and network configs become device parameters, then slots. */
#include "vmm/vmm_devices.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"
#include "mmds/mmds_http.h"
#include "vmm/vmm_mmds.h"

/* The device's view of a drive (Firecracker's VirtioBlockConfig from BlockDeviceConfig). */
static struct blk_params blk_params_of(const struct drive_cfg *d)
{
        struct blk_params p = {
            .drive_id = d->drive_id,
            .path = d->path_on_host,
            .read_only = d->is_read_only,
            .cache =
                d->cache_type == DRIVE_CACHE_WRITEBACK ? BLK_CACHE_WRITEBACK : BLK_CACHE_UNSAFE,
            .engine = d->io_engine == DRIVE_IO_ASYNC ? BLK_ENGINE_ASYNC : BLK_ENGINE_SYNC,
        };

        if (d->has_rate_limiter)
                p.rate_limiter = d->rate_limiter;
        return p;
}

/* The device's view of a network interface. */
static struct net_params net_params_of(const struct net_cfg *c)
{
        struct net_params p = {
            .iface_id = c->iface_id,
            .host_dev_name = c->host_dev_name,
            .tap_fd = c->has_tap ? c->tap_fd : -1,
            .has_mac = c->has_mac,
            .has_mtu = c->has_mtu,
            .mtu = c->mtu,
            .rx_rate_limiter = c->rx_rate_limiter,
            .tx_rate_limiter = c->tx_rate_limiter,
        };

        memcpy(p.mac, c->guest_mac, sizeof(p.mac));
        return p;
}

/* A value that stays one word of the kernel command line: printable, no spaces or quotes. */
static bool cmdline_word(const char *s)
{
        for (; *s; s++)
                if (*s <= ' ' || *s > '~' || *s == '"')
                        return false;
        return true;
}

/* A root device's words, "root=<root>" then "ro" or "rw", as Firecracker adds them. */
static int root_words(struct device_mgr *dm, const char *root, bool read_only, struct err *e)
{
        int rc = device_mgr_cmdline_add(dm, "root=%s", root);

        if (!rc)
                rc = device_mgr_cmdline_add(dm, "%s", read_only ? "ro" : "rw");
        return rc ? err_set(e, rc, "kernel command line is too long") : 0;
}

static int root_cmdline(struct device_mgr *dm, const struct drive_cfg *d, struct err *e)
{
        char root[sizeof(dm->cmdline)]; /* whatever fits the command line fits here */

        if (!d->partuuid)
                return root_words(dm, "/dev/vda", d->is_read_only, e);
        if (!cmdline_word(d->partuuid))
                return err_set(e, -EINVAL, "partuuid %s is not one command-line word", d->partuuid);
        if (snprintf(root, sizeof(root), "PARTUUID=%s", d->partuuid) >= (int)sizeof(root))
                return err_set(e, -E2BIG, "kernel command line is too long");
        return root_words(dm, root, d->is_read_only, e);
}

static int attach_drive(struct device_mgr *dm, const struct drive_cfg *d, struct err *e)
{
        struct blk_params p = blk_params_of(d);
        const struct mmio_slot *s;
        struct virtio_blk *b;
        int rc;

        rc = virtio_blk_create(&b, &p, dm->mem, dm->loop, e);
        if (rc)
                return rc;
        rc = d->is_root_device ? root_cmdline(dm, d, e) : 0;
        if (rc) {
                virtio_blk_destroy(b);
                return rc;
        }
        rc = device_mgr_attach(dm, &b->dev, &s, e);
        if (rc)
                return rc;
        log_info("Attached drive %s (%s, %llu sectors%s) at 0x%llx, GSI %u", d->drive_id,
                 d->path_on_host, (unsigned long long)b->nsectors,
                 d->is_read_only ? ", read-only" : "", (unsigned long long)s->base, s->gsi);
        return 0;
}

int vmm_attach_drives(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        unsigned int i;
        int rc;

        for (i = 0; i < cfg->nr_drives; i++) {
                rc = attach_drive(dm, &cfg->drives[i], e);
                if (rc)
                        return rc;
        }
        return 0;
}

/* netstack's answer callback: the metadata service's HTTP side. */
static int mmds_answer(void *ctx, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len)
{
        return mmds_http_answer(ctx, req, len, resp, resp_len);
}

/* Is iface_id one of mmds-config's network_interfaces? */
static bool mmds_on(const struct vm_config *cfg, const char *iface_id)
{
        unsigned int i;

        if (!cfg->mmds.present)
                return false;
        for (i = 0; i < cfg->mmds.ifaces.n; i++)
                if (strcmp(cfg->mmds.ifaces.v[i], iface_id) == 0)
                        return true;
        return false;
}

/* One metadata stack per listed interface, as Firecracker gives each its own. */
static int attach_mmds(struct device_mgr *dm, const struct vm_config *cfg, struct mmds_service *svc,
                       struct virtio_net *n, struct err *e)
{
        if (!mmds_on(cfg, n->iface_id))
                return 0;
        if (!svc)
                return err_set(e, -EINVAL,
                               "network interface %s: MMDS is configured but there "
                               "is no metadata service",
                               n->iface_id);
        return vmm_mmds_attach(n, dm->loop, cfg->mmds.ipv4_address, mmds_answer, svc, e);
}

int vmm_attach_nets(struct device_mgr *dm, const struct vm_config *cfg, struct mmds_service *svc,
                    struct err *e)
{
        const struct mmio_slot *s;
        struct virtio_net *n;
        unsigned int i;
        int rc;

        for (i = 0; i < cfg->nr_nets; i++) {
                struct net_params p = net_params_of(&cfg->nets[i]);

                rc = virtio_net_create(&n, &p, dm->mem, dm->loop, e);
                if (rc)
                        return rc;
                rc = attach_mmds(dm, cfg, svc, n, e);
                if (rc) {
                        virtio_net_destroy(n);
                        return rc;
                }
                rc = device_mgr_attach(dm, &n->dev, &s, e);
                if (rc)
                        return rc;
                log_info("Attached network interface %s (tap %s) at 0x%llx, GSI %u", p.iface_id,
                         p.host_dev_name, (unsigned long long)s->base, s->gsi);
        }
        return 0;
}

/*
 * KVM slots of pmem regions: after those of guest RAM (a handful), pmem i in slot
 * PMEM_FIRST_SLOT + i.
 */
#define PMEM_FIRST_SLOT 16u

static int pmem_root_cmdline(struct device_mgr *dm, unsigned int i, bool read_only, struct err *e)
{
        char root[32];

        snprintf(root, sizeof(root), "/dev/pmem%u", i);
        return root_words(dm, root, read_only, e);
}

/* Pmem i at *gpa (moved past it), mapped into the guest and attached. */
static int attach_pmem(struct device_mgr *dm, const struct pmem_cfg *c, unsigned int i,
                       uint64_t *gpa, struct err *e)
{
        struct pmem_params p = {.id = c->id, .path = c->path_on_host, .read_only = c->read_only};
        const struct mmio_slot *s;
        struct virtio_pmem *m;
        int rc;

        p.rate_limiter = c->rate_limiter;
        rc = virtio_pmem_create(&m, &p, *gpa, dm->mem, dm->loop, e);
        if (rc)
                return err_prefix(e, "Cannot create pmem device: ");
        if (m->config.size > LAYOUT_PAST_MMIO64_START + LAYOUT_PAST_MMIO64_SIZE - *gpa) {
                virtio_pmem_destroy(m);
                return err_set(e, -ENOSPC,
                               "Cannot create pmem device: Failed to allocate memory region");
        }
        rc = kvm_vm_map_region(dm->vm, PMEM_FIRST_SLOT + i, *gpa, m->config.size, m->map,
                               c->read_only);
        if (rc)
                err_set(e, rc, "Cannot create pmem device: Cannot set the memory regions: %s",
                        strerror(-rc));
        else if (c->root_device)
                rc = pmem_root_cmdline(dm, i, c->read_only, e);
        if (rc) {
                virtio_pmem_destroy(m);
                return rc;
        }
        *gpa += m->config.size;
        rc = device_mgr_attach(dm, &m->dev, &s, e);
        if (rc)
                return rc;
        log_info("Attached pmem %s (%s, %llu bytes%s) at 0x%llx, guest memory 0x%llx, GSI %u",
                 c->id, c->path_on_host, (unsigned long long)m->file_len,
                 c->read_only ? ", read-only" : "", (unsigned long long)s->base,
                 (unsigned long long)m->config.start, s->gsi);
        return 0;
}

/* Bytes of virtio-mem's region, which Firecracker allocates before any pmem's. */
static uint64_t vmem_size(const struct vm_config *cfg)
{
        return cfg->mem_hotplug.present ? cfg->mem_hotplug.total_size_mib << 20 : 0;
}

int vmm_attach_pmems(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        uint64_t gpa = LAYOUT_VIRTIO_MEM_START + vmem_size(cfg);
        unsigned int i;
        int rc;

        for (i = 0; i < cfg->nr_pmems; i++) {
                rc = attach_pmem(dm, &cfg->pmems[i], i, &gpa, e);
                if (rc)
                        return rc;
        }
        return 0;
}

struct virtio_pmem *vmm_find_pmem(const struct device_mgr *dm, const char *id)
{
        struct device *d = device_mgr_find(dm, DEVICE_VIRTIO_PMEM, id);

        return d ? container_of(virtio_dev_of(d), struct virtio_pmem, dev) : NULL;
}

int vmm_attach_vsock(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        struct vsock_params p = {
            .guest_cid = cfg->vsock.guest_cid,
            .uds_path = cfg->vsock.uds_path,
            .listen_fd = cfg->vsock.has_listener ? cfg->vsock.listen_fd : -1,
        };
        const struct mmio_slot *s;
        struct virtio_vsock *v;
        int rc;

        if (!cfg->vsock.present)
                return 0;
        rc = virtio_vsock_create(&v, &p, dm->mem, dm->loop, e);
        if (rc)
                return rc;
        rc = device_mgr_attach(dm, &v->dev, &s, e);
        if (rc)
                return rc;
        log_info("Attached vsock device (guest CID %u, %s) at 0x%llx, GSI %u", p.guest_cid,
                 p.uds_path, (unsigned long long)s->base, s->gsi);
        return 0;
}

int vmm_attach_entropy(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        struct rng_params p = {.rate_limiter = cfg->entropy.rate_limiter};
        const struct mmio_slot *s;
        struct virtio_rng *r;
        int rc;

        if (!cfg->entropy.present)
                return 0;
        rc = virtio_rng_create(&r, &p, dm->mem, dm->loop, e);
        if (rc)
                return rc;
        rc = device_mgr_attach(dm, &r->dev, &s, e);
        if (rc)
                return rc;
        log_info("Attached entropy device at 0x%llx, GSI %u", (unsigned long long)s->base, s->gsi);
        return 0;
}

int vmm_attach_balloon(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        const struct balloon_cfg *c = &cfg->balloon;
        struct balloon_params p = {
            .amount_mib = c->amount_mib,
            .deflate_on_oom = c->deflate_on_oom,
            .stats_polling_interval_s = c->stats_polling_interval_s,
            .free_page_hinting = c->free_page_hinting,
            .free_page_reporting = c->free_page_reporting,
        };
        const struct mmio_slot *s;
        struct virtio_balloon *b;
        int rc;

        if (!c->present)
                return 0;
        rc = virtio_balloon_create(&b, &p, dm->mem, dm->loop, e);
        if (rc)
                return rc;
        rc = device_mgr_attach(dm, &b->dev, &s, e);
        if (rc)
                return rc;
        log_info("Attached balloon device (%u MiB) at 0x%llx, GSI %u", c->amount_mib,
                 (unsigned long long)s->base, s->gsi);
        return 0;
}

/* virtio-mem's slots: KVM_SET_USER_MEMORY_REGION, a size of 0 removing one. */
static int vmem_set_slot(void *opaque, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
                         bool plug)
{
        return kvm_vm_map_region(opaque, slot, gpa, plug ? size : 0, hva, false);
}

int vmm_attach_vmem(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        const struct mem_hotplug_cfg *c = &cfg->mem_hotplug;
        struct virtio_mem_params p = {
            .gpa = LAYOUT_VIRTIO_MEM_START,
            .total_size = c->total_size_mib << 20,
            .block_size = c->block_size_mib << 20,
            .slot_size = c->slot_size_mib << 20,
            .first_slot = PMEM_FIRST_SLOT + cfg->nr_pmems, /* after the pmems' */
            .set_slot = vmem_set_slot,
            .opaque = dm->vm,
        };
        const struct mmio_slot *s;
        struct virtio_mem *m;
        int rc;

        if (!c->present)
                return 0;
        if (c->total_size_mib > LAYOUT_PAST_MMIO64_SIZE >> 20)
                return err_set(e, -ENOSPC, "Failed to allocate memory region for virtio-mem");
        rc = virtio_mem_create(&m, &p, dm->mem, e);
        if (rc)
                return rc;
        rc = device_mgr_attach(dm, &m->dev, &s, e);
        if (rc)
                return rc;
        log_info("Attached virtio-mem device (%llu MiB, blocks of %llu MiB, slots of %llu MiB) at "
                 "0x%llx, guest memory 0x%llx, GSI %u",
                 (unsigned long long)c->total_size_mib, (unsigned long long)c->block_size_mib,
                 (unsigned long long)c->slot_size_mib, (unsigned long long)s->base,
                 (unsigned long long)p.gpa, s->gsi);
        return 0;
}

struct virtio_mem *vmm_find_vmem(const struct device_mgr *dm)
{
        struct device *d = device_mgr_find(dm, DEVICE_VIRTIO_MEM, VIRTIO_MEM_DEV_ID);

        return d ? container_of(virtio_dev_of(d), struct virtio_mem, dev) : NULL;
}

struct virtio_balloon *vmm_find_balloon(const struct device_mgr *dm)
{
        struct device *d = device_mgr_find(dm, DEVICE_VIRTIO_BALLOON, BALLOON_DEV_ID);

        return d ? container_of(virtio_dev_of(d), struct virtio_balloon, dev) : NULL;
}

struct virtio_blk *vmm_find_drive(const struct device_mgr *dm, const char *id)
{
        struct device *d = device_mgr_find(dm, DEVICE_VIRTIO_BLOCK, id);

        return d ? container_of(virtio_dev_of(d), struct virtio_blk, dev) : NULL;
}

struct virtio_net *vmm_find_net(const struct device_mgr *dm, const char *id)
{
        struct device *d = device_mgr_find(dm, DEVICE_VIRTIO_NET, id);

        return d ? container_of(virtio_dev_of(d), struct virtio_net, dev) : NULL;
}
