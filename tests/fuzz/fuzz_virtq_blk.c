/*
 * libFuzzer target: guest memory and a virtqueue laid out from the input bytes, then one run of
 * the virtio-block device over its transport (Sync engine on a memfd).
 *
 * Input: [0..2) queue size, [2] flags (bit 0 EVENT_IDX, bit 1 read-only drive), [3] notify
 * queue index, then bytes copied into guest memory from address 0 (descriptor table at 0x0,
 * avail ring at 0x100, used ring at 0x200: they overlap for large queues, as a hostile driver
 * may make them; the rest is buffer space). tests/fuzz/virtq_blk_seeds.py writes valid seeds.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "devices/virtio/block/virtio_blk.h"
#include "devices/virtio/mmio.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE  (256u << 10)
#define DISK_SIZE (64u << 10)
#define AVAIL_GPA 0x100u
#define USED_GPA  0x200u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_blk *blk[2]; /* read-write, read-only */
        struct virtio_mmio m;
};

static struct virtio_blk *make_drive(struct ctx *c, bool ro)
{
        char path[64];
        struct err e;
        struct blk_params cfg;
        struct virtio_blk *b;
        int fd = memfd_create("fuzz-disk", MFD_CLOEXEC);

        if (fd < 0 || ftruncate(fd, DISK_SIZE) < 0)
                abort();
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        memset(&cfg, 0, sizeof(cfg));
        cfg.drive_id = (char[]){"fuzz"};
        cfg.path = path;
        cfg.read_only = ro;
        cfg.cache = BLK_CACHE_WRITEBACK;
        if (virtio_blk_create(&b, &cfg, &c->mem, NULL, &e))
                abort();
        return b;
}

static struct ctx *ctx_get(void)
{
        static struct ctx c;

        if (!c.ram) {
                log_set_level(LOG_OFF);
                c.ram = calloc(1, MEM_SIZE);
                if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE))
                        abort();
                c.blk[0] = make_drive(&c, false);
                c.blk[1] = make_drive(&c, true);
        }
        return &c;
}

static void bring_up(struct virtio_mmio *m, uint16_t qsize, bool event_idx)
{
        mmio_negotiate(m, (event_idx ? 1u << VIRTIO_RING_F_EVENT_IDX : 0) |
                              1u << VIRTIO_RING_F_INDIRECT_DESC);
        mmio_queue(m, 0, qsize, 0, AVAIL_GPA, USED_GPA);
        mmio_driver_ok(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ctx *c = ctx_get();
        struct virtio_blk *b;
        uint16_t qsize, used_before, used_after;
        uint8_t flags, notify;

        if (size < 4)
                return 0;
        qsize = (uint16_t)(data[0] | data[1] << 8);
        flags = data[2];
        notify = data[3];
        data += 4;
        size -= 4;
        b = c->blk[flags >> 1 & 1];
        virtio_mmio_init(&c->m, &b->dev);
        memset(c->ram, 0, MEM_SIZE);
        bring_up(&c->m, qsize, flags & 1);
        memcpy(c->ram, data, size < MEM_SIZE ? size : MEM_SIZE);
        used_before = b->dev.queues[0].next_used;
        if (notify < b->dev.nr_queues)
                virtio_dev_queue_event(&b->dev, notify);
        else
                mmio_wr32(&c->m, VIRTIO_MMIO_QUEUE_NOTIFY, notify);
        used_after = b->dev.queues[0].next_used;
        /* The device never completes more chains than the driver made available. */
        if (virtio_dev_running(&b->dev) && (uint16_t)(used_after - used_before) > qsize)
                abort();
        return 0;
}
