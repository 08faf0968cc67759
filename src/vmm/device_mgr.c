/* virtio-mmio device attachment in Firecracker's order and layout, and their command line. */
#include "vmm/device_mgr.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/log.h"

void device_mgr_init(struct device_mgr *dm, struct kvm_vm *vm, struct bus *mmio,
                     struct evloop *loop, const struct guest_mem *mem)
{
        memset(dm, 0, sizeof(*dm));
        dm->vm = vm;
        dm->mmio = mmio;
        dm->loop = loop;
        dm->mem = mem;
}

const char *device_mgr_cmdline(const struct device_mgr *dm)
{
        return dm->cmdline;
}

static int cmdline_add(struct device_mgr *dm, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Appends one space-separated word; the final length is checked when the line is written. */
static int cmdline_add(struct device_mgr *dm, const char *fmt, ...)
{
        size_t len = strlen(dm->cmdline);
        va_list ap;
        int n;

        if (len && len + 1 < sizeof(dm->cmdline))
                dm->cmdline[len++] = ' ';
        va_start(ap, fmt);
        n = vsnprintf(dm->cmdline + len, sizeof(dm->cmdline) - len, fmt, ap);
        va_end(ap);
        return n < 0 || (size_t)n >= sizeof(dm->cmdline) - len ? -E2BIG : 0;
}

/* KVM_IOEVENTFD on QueueNotify: a 4-byte write of value queue signals fd, with no exit. */
static int ioeventfd_assign(struct kvm_vm *vm, uint64_t addr, unsigned int queue, int fd)
{
        struct kvm_ioeventfd io = {
            .datamatch = queue,
            .addr = addr,
            .len = 4,
            .fd = fd,
            .flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
        };

        return ioctl(vm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

static void on_notify(struct ev_source *src, uint32_t events)
{
        struct mmio_notify *n = src->opaque;

        (void)events;
        virtio_dev_queue_event(n->dev, n->queue);
}

static int slot_queues(struct device_mgr *dm, struct mmio_slot *s)
{
        unsigned int q;
        int fd, rc;

        for (q = 0; q < s->dev->nr_queues; q++) {
                fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
                if (fd < 0)
                        return -errno;
                s->dev->notify_fds[q] = fd;
                rc = ioeventfd_assign(dm->vm, s->base + VIRTIO_MMIO_QUEUE_NOTIFY, q, fd);
                if (rc)
                        return rc;
                s->notify[q] = (struct mmio_notify){
                    .src = {.fd = fd, .fn = on_notify, .opaque = &s->notify[q]},
                    .dev = s->dev,
                    .queue = q,
                };
                rc = evloop_add(dm->loop, &s->notify[q].src, EPOLLIN);
                if (rc)
                        return rc;
        }
        return 0;
}

static int slot_wire(struct device_mgr *dm, struct mmio_slot *s)
{
        struct bus_dev bd;
        int rc;

        s->irq_fd = kvm_vm_irqfd(dm->vm, s->gsi);
        if (s->irq_fd < 0)
                return s->irq_fd;
        s->dev->irq_fd = s->irq_fd;
        rc = slot_queues(dm, s);
        if (rc)
                return rc;
        virtio_mmio_init(&s->transport, s->dev);
        bd = virtio_mmio_bus_dev(&s->transport, s->base);
        return bus_add(dm->mmio, &bd);
}

int device_mgr_attach_virtio(struct device_mgr *dm, struct virtio_dev *dev, struct err *e)
{
        struct mmio_slot *s;
        int rc;

        if (dm->nr_slots >= DEVICE_MGR_MAX_VIRTIO)
                return err_set(e, -ENOSPC, "cannot attach %s: all %u virtio-mmio slots are in use",
                               dev->name, DEVICE_MGR_MAX_VIRTIO);
        s = &dm->slots[dm->nr_slots++]; /* counted now so destroy() cleans up a half-wired slot */
        s->dev = dev;
        s->base = LAYOUT_VIRTIO_MMIO_START + (uint64_t)(dm->nr_slots - 1) * LAYOUT_VIRTIO_MMIO_SIZE;
        s->gsi = LAYOUT_IRQ_VIRTIO_BASE + dm->nr_slots - 1;
        s->irq_fd = -1;
        rc = slot_wire(dm, s);
        if (rc)
                return err_set(e, rc, "cannot attach %s: %s", dev->name, strerror(-rc));
        rc = cmdline_add(dm, "virtio_mmio.device=%lluK@0x%llx:%u",
                         (unsigned long long)(LAYOUT_VIRTIO_MMIO_SIZE >> 10),
                         (unsigned long long)s->base, s->gsi);
        if (rc)
                return err_set(e, rc, "kernel command line is too long");
        return 0;
}

/* A value that stays one word of the kernel command line: printable, no spaces or quotes. */
static bool cmdline_word(const char *s)
{
        for (; *s; s++)
                if (*s <= ' ' || *s > '~' || *s == '"')
                        return false;
        return true;
}

static int root_cmdline(struct device_mgr *dm, const struct drive_cfg *d)
{
        int rc;

        if (d->partuuid && !cmdline_word(d->partuuid))
                return -EINVAL;
        if (d->partuuid)
                rc = cmdline_add(dm, "root=PARTUUID=%s", d->partuuid);
        else
                rc = cmdline_add(dm, "root=/dev/vda");
        return rc ? rc : cmdline_add(dm, "%s", d->is_read_only ? "ro" : "rw");
}

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
            .has_mac = c->has_mac,
            .has_mtu = c->has_mtu,
            .mtu = c->mtu,
            .rx_rate_limiter = c->rx_rate_limiter,
            .tx_rate_limiter = c->tx_rate_limiter,
        };

        memcpy(p.mac, c->guest_mac, sizeof(p.mac));
        return p;
}

int device_mgr_attach_drives(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        struct virtio_blk *b;
        unsigned int i;
        int rc;

        for (i = 0; i < cfg->nr_drives; i++) {
                const struct drive_cfg *d = &cfg->drives[i];
                struct blk_params p = blk_params_of(d);

                rc = virtio_blk_create(&b, &p, dm->mem, dm->loop, e);
                if (rc)
                        return rc;
                dm->blocks[dm->nr_blocks++] = b;
                rc = d->is_root_device ? root_cmdline(dm, d) : 0;
                if (rc == -EINVAL)
                        err_set(e, rc, "partuuid %s is not one command-line word", d->partuuid);
                else if (rc)
                        err_set(e, rc, "kernel command line is too long");
                if (rc)
                        return rc;
                rc = device_mgr_attach_virtio(dm, &b->dev, e);
                if (rc)
                        return rc;
                log_info("Attached drive %s (%s, %llu sectors%s) at 0x%llx, GSI %u", d->drive_id,
                         d->path_on_host, (unsigned long long)b->nsectors,
                         d->is_read_only ? ", read-only" : "",
                         (unsigned long long)dm->slots[dm->nr_slots - 1].base,
                         dm->slots[dm->nr_slots - 1].gsi);
        }
        return 0;
}

int device_mgr_attach_nets(struct device_mgr *dm, const struct vm_config *cfg, struct err *e)
{
        struct virtio_net *n;
        unsigned int i;
        int rc;

        for (i = 0; i < cfg->nr_nets; i++) {
                struct net_params p = net_params_of(&cfg->nets[i]);

                rc = virtio_net_create(&n, &p, dm->mem, dm->loop, e);
                if (rc)
                        return rc;
                dm->nets[dm->nr_nets++] = n;
                rc = device_mgr_attach_virtio(dm, &n->dev, e);
                if (rc)
                        return rc;
                log_info("Attached network interface %s (tap %s) at 0x%llx, GSI %u",
                         cfg->nets[i].iface_id, cfg->nets[i].host_dev_name,
                         (unsigned long long)dm->slots[dm->nr_slots - 1].base,
                         dm->slots[dm->nr_slots - 1].gsi);
        }
        return 0;
}

struct virtio_net *device_mgr_find_net(const struct device_mgr *dm, const char *id)
{
        unsigned int i;

        for (i = 0; i < dm->nr_nets; i++)
                if (strcmp(dm->nets[i]->iface_id, id) == 0)
                        return dm->nets[i];
        return NULL;
}

/* "net" (all interfaces) and "net_<iface_id>", as Firecracker's NetMetricsPerDevice. */
static void add_net_metrics(struct device_mgr *dm, json_t *root)
{
        struct net_metrics sum, d;
        char key[300];
        unsigned int i;

        memset(&sum, 0, sizeof(sum));
        for (i = 0; i < dm->nr_nets; i++) {
                virtio_net_metrics_take(dm->nets[i], &d);
                net_metrics_add(&sum, &d);
                snprintf(key, sizeof(key), "net_%s", dm->nets[i]->iface_id);
                json_object_set_new(root, key, net_metrics_json(&d));
        }
        json_object_set_new(root, "net", net_metrics_json(&sum));
}

void device_mgr_add_metrics(struct device_mgr *dm, json_t *root)
{
        struct blk_metrics sum, d;
        char key[80];
        unsigned int i;

        memset(&sum, 0, sizeof(sum));
        json_object_set_new(root, "block", json_object()); /* keeps Firecracker's key order */
        for (i = 0; i < dm->nr_blocks; i++) {
                virtio_blk_metrics_take(dm->blocks[i], &d);
                blk_metrics_add(&sum, &d);
                snprintf(key, sizeof(key), "block_%s", dm->blocks[i]->drive_id);
                json_object_set_new(root, key, blk_metrics_json(&d));
        }
        json_object_set_new(root, "block", blk_metrics_json(&sum));
        add_net_metrics(dm, root);
}

struct virtio_blk *device_mgr_find_drive(const struct device_mgr *dm, const char *id)
{
        unsigned int i;

        for (i = 0; i < dm->nr_blocks; i++)
                if (strcmp(dm->blocks[i]->drive_id, id) == 0)
                        return dm->blocks[i];
        return NULL;
}

void device_mgr_destroy(struct device_mgr *dm)
{
        unsigned int i, q;

        for (i = 0; i < dm->nr_slots; i++) {
                struct mmio_slot *s = &dm->slots[i];

                for (q = 0; q < VIRTIO_MAX_QUEUES; q++) {
                        if (dm->loop)
                                evloop_del(dm->loop, &s->notify[q].src);
                        if (s->dev->notify_fds[q] >= 0)
                                close(s->dev->notify_fds[q]);
                        s->dev->notify_fds[q] = -1;
                }
                if (s->irq_fd >= 0)
                        close(s->irq_fd);
                s->dev->irq_fd = -1;
        }
        for (i = 0; i < dm->nr_blocks; i++)
                virtio_blk_destroy(dm->blocks[i]);
        for (i = 0; i < dm->nr_nets; i++)
                virtio_net_destroy(dm->nets[i]);
        memset(dm, 0, sizeof(*dm));
}
