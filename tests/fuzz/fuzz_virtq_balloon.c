/*
 * libFuzzer target: guest memory and virtqueues laid out from the input bytes, then one queue
 * event of the virtio-balloon device (every queue: inflate, deflate, stats, hinting,
 * reporting) over its transport.
 *
 * Input: [0..2) queue size, [2] the queue notified, [3] flags (bit 0: a hinting run is
 * started first), then bytes copied into guest memory from address 0 (every queue's
 * descriptor table at 0x0, avail ring at 0x100, used ring at 0x200: one layout, as a hostile
 * driver may share it). Checks: every range the device discards lies inside guest RAM and is
 * page aligned; no queue completes more chains than it holds.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "devices/virtio/balloon/virtio_balloon.h"
#include "devices/virtio/mmio.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE  (1u << 20)
#define AVAIL_GPA 0x100u
#define USED_GPA  0x200u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_balloon *b;
        struct virtio_mmio m;
};

static struct ctx c;

/* Stands for madvise(): the range must be guest RAM, page aligned. */
static int check_discard(void *hva, size_t len)
{
        uint8_t *p = hva;

        if (p < c.ram || len > MEM_SIZE || p + len > c.ram + MEM_SIZE || (p - c.ram) % 4096)
                abort();
        return 0;
}

static void ctx_init(void)
{
        struct balloon_params p = {.amount_mib = 1,
                                   .deflate_on_oom = true,
                                   .stats_polling_interval_s = 1,
                                   .free_page_hinting = true,
                                   .free_page_reporting = true};
        struct err e;

        log_set_level(LOG_OFF);
        c.ram = aligned_alloc(4096, MEM_SIZE);
        if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE))
                abort();
        if (virtio_balloon_create(&c.b, &p, &c.mem, NULL, &e))
                abort();
        c.b->discard = check_discard;
}

static void bring_up(struct virtio_mmio *m, uint16_t qsize, unsigned int nq)
{
        mmio_negotiate(m, 0x2e);
        for (unsigned int q = 0; q < nq; q++)
                mmio_queue(m, q, qsize, 0, AVAIL_GPA, USED_GPA);
        mmio_driver_ok(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct err e;
        uint16_t qsize, before, after;
        uint8_t q, flags;

        if (!c.ram)
                ctx_init();
        if (size < 4)
                return 0;
        qsize = (uint16_t)(data[0] | data[1] << 8);
        q = data[2];
        flags = data[3];
        data += 4;
        size -= 4;
        virtio_mmio_init(&c.m, &c.b->dev);
        memset(c.ram, 0, MEM_SIZE);
        bring_up(&c.m, qsize, c.b->dev.nr_queues);
        memcpy(c.ram, data, size < MEM_SIZE ? size : MEM_SIZE);
        if (flags & 1)
                virtio_balloon_hint_start(c.b, true, &e);
        if (q >= c.b->dev.nr_queues) {
                mmio_wr32(&c.m, VIRTIO_MMIO_QUEUE_NOTIFY, q);
                return 0;
        }
        before = c.b->dev.queues[q].next_used;
        virtio_dev_queue_event(&c.b->dev, q);
        after = c.b->dev.queues[q].next_used;
        /* The device never completes more chains than the driver made available. */
        if (virtio_dev_running(&c.b->dev) && (uint16_t)(after - before) > qsize)
                abort();
        return 0;
}
