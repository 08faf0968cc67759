/*
 * libFuzzer target: guest memory and a virtqueue laid out from the input bytes, then one run of
 * the virtio-rng device over its transport.
 *
 * Input: [0..2) queue size, [2] flags (bit 0: the rate-limited device), [3] notify queue
 * index, then bytes copied into guest memory from address 0 (descriptor table at 0x0, avail
 * ring at 0x100, used ring at 0x200, overlapping for large queues as a hostile driver may make
 * them). Checks: no more chains completed than the queue holds, at most 64 KiB handed out per
 * completed chain.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "core/metrics.h"
#include "devices/virtio/mmio.h"
#include "../virtio_mmio_driver.h"
#include "devices/virtio/rng/virtio_rng.h"

#define MEM_SIZE  (256u << 10)
#define AVAIL_GPA 0x100u
#define USED_GPA  0x200u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_rng *rng[2]; /* unlimited, rate limited */
        struct virtio_mmio m;
};

static struct virtio_rng *make_rng(struct ctx *c, bool limited)
{
        struct rng_params p;
        struct virtio_rng *r;
        struct err e;

        memset(&p, 0, sizeof(p));
        if (limited)
                p.rate_limiter.bandwidth = (struct token_bucket_cfg){
                    .present = true, .size = 4096, .refill_time_ms = 1000};
        if (virtio_rng_create(&r, &p, &c->mem, NULL, &e))
                abort();
        return r;
}

static struct ctx *ctx_get(void)
{
        static struct ctx c;

        if (!c.ram) {
                log_set_level(LOG_OFF);
                c.ram = calloc(1, MEM_SIZE);
                if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE))
                        abort();
                c.rng[0] = make_rng(&c, false);
                c.rng[1] = make_rng(&c, true);
        }
        return &c;
}

static void bring_up(struct virtio_mmio *m, uint16_t qsize)
{
        mmio_negotiate(m, 0);
        mmio_queue(m, 0, qsize, 0, AVAIL_GPA, USED_GPA);
        mmio_driver_ok(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ctx *c = ctx_get();
        struct virtio_rng *r;
        uint16_t qsize, before, after;
        uint64_t bytes;
        uint8_t notify;

        if (size < 4)
                return 0;
        qsize = (uint16_t)(data[0] | data[1] << 8);
        r = c->rng[data[2] & 1];
        notify = data[3];
        data += 4;
        size -= 4;
        virtio_mmio_init(&c->m, &r->dev);
        memset(c->ram, 0, MEM_SIZE);
        bring_up(&c->m, qsize);
        memcpy(c->ram, data, size < MEM_SIZE ? size : MEM_SIZE);
        before = r->dev.queues[0].next_used;
        bytes = metrics.entropy.entropy_bytes.value;
        if (notify < r->dev.nr_queues)
                virtio_dev_queue_event(&r->dev, notify);
        else
                mmio_wr32(&c->m, VIRTIO_MMIO_QUEUE_NOTIFY, notify);
        after = r->dev.queues[0].next_used;
        if (virtio_dev_running(&r->dev)) {
                /* The device never completes more chains than the driver made available. */
                if ((uint16_t)(after - before) > qsize)
                        abort();
                /* Each request gets at most RNG_MAX_REQUEST_BYTES. */
                if (metrics.entropy.entropy_bytes.value - bytes >
                    (uint64_t)(uint16_t)(after - before) * RNG_MAX_REQUEST_BYTES)
                        abort();
        }
        return 0;
}
