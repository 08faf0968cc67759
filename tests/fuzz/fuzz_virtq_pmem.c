/*
 * libFuzzer target: guest memory and a virtqueue laid out from the input bytes, then one run of
 * the virtio-pmem device over its transport.
 *
 * Input: [0..2) queue size, [2] flags (bit 0: the rate-limited device), [3] notify queue
 * index, then bytes copied into guest memory from address 0 (descriptor table at 0x0, avail
 * ring at 0x100, used ring at 0x200, overlapping for large queues as a hostile driver may make
 * them). Checks: no more chains completed than the queue holds, and each completed chain is
 * used with 0 bytes (refused) or 4 (the status).
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "devices/virtio/mmio.h"
#include "../virtio_mmio_driver.h"
#include "devices/virtio/pmem/virtio_pmem.h"

#define MEM_SIZE  (256u << 10)
#define AVAIL_GPA 0x100u
#define USED_GPA  0x200u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_pmem *pmem[2]; /* unlimited, rate limited */
        struct virtio_mmio m;
};

/* A one-page backing file, unlinked at once: the mapping keeps it. */
static struct virtio_pmem *make_pmem(struct ctx *c, bool limited)
{
        char path[] = "/tmp/fuzz-pmem-XXXXXX";
        struct pmem_params p;
        struct virtio_pmem *m;
        struct err e;
        int fd = mkstemp(path);

        if (fd < 0 || ftruncate(fd, 4096) < 0)
                abort();
        memset(&p, 0, sizeof(p));
        p.id = limited ? "limited" : "p";
        p.path = path;
        if (limited)
                p.rate_limiter.ops =
                    (struct token_bucket_cfg){.present = true, .size = 2, .refill_time_ms = 1000};
        if (virtio_pmem_create(&m, &p, 0x8000000000ull, &c->mem, NULL, &e))
                abort();
        unlink(path);
        close(fd);
        return m;
}

static struct ctx *ctx_get(void)
{
        static struct ctx c;

        if (!c.ram) {
                log_set_level(LOG_OFF);
                c.ram = calloc(1, MEM_SIZE);
                if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE))
                        abort();
                c.pmem[0] = make_pmem(&c, false);
                c.pmem[1] = make_pmem(&c, true);
        }
        return &c;
}

static void bring_up(struct virtio_mmio *m, uint16_t qsize)
{
        mmio_negotiate(m, 0);
        mmio_queue(m, 0, qsize, 0, AVAIL_GPA, USED_GPA);
        mmio_driver_ok(m);
}

/* The used ring's entries [from, to): each one's length is 0 or 4. */
static void check_used(const struct ctx *c, uint16_t qsize, uint16_t from, uint16_t to)
{
        for (uint16_t i = from; i != to; i++) {
                uint32_t len;
                size_t off = USED_GPA + 4 + (size_t)(i % qsize) * 8 + 4;

                if (off + 4 > MEM_SIZE)
                        return;
                memcpy(&len, c->ram + off, 4);
                if (len != 0 && len != 4)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ctx *c = ctx_get();
        struct virtio_pmem *p;
        uint16_t qsize, before, after;
        uint8_t notify;

        if (size < 4)
                return 0;
        qsize = (uint16_t)(data[0] | data[1] << 8);
        p = c->pmem[data[2] & 1];
        notify = data[3];
        data += 4;
        size -= 4;
        virtio_mmio_init(&c->m, &p->dev);
        memset(c->ram, 0, MEM_SIZE);
        bring_up(&c->m, qsize);
        memcpy(c->ram, data, size < MEM_SIZE ? size : MEM_SIZE);
        before = p->dev.queues[0].next_used;
        if (notify < p->dev.nr_queues)
                virtio_dev_queue_event(&p->dev, notify);
        else
                mmio_wr32(&c->m, VIRTIO_MMIO_QUEUE_NOTIFY, notify);
        after = p->dev.queues[0].next_used;
        if (virtio_dev_running(&p->dev)) {
                /* The device never completes more chains than the driver made available. */
                if ((uint16_t)(after - before) > qsize)
                        abort();
                check_used(c, p->dev.queues[0].size, before, after);
        }
        return 0;
}
