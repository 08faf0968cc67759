/*
 * libFuzzer target: guest memory and a virtqueue laid out from the input bytes, then one run of
 * the virtio-mem device over its transport, its KVM slots faked.
 *
 * Input: [0..2) queue size, [2] the requested size in blocks (mod 129, of a 256 MiB region of
 * 2 MiB blocks), [3] notify queue index, then bytes copied into guest memory from address 0
 * (descriptor table at 0x0, avail ring at 0x100, used ring at 0x200, overlapping for large
 * queues as a hostile driver may make them). The device's plugged blocks carry over from one
 * input to the next. Checks: no more chains completed than the queue holds, each one used with
 * 0 bytes (refused) or a whole response (unless some descriptor may point a response into the
 * used ring, which a hostile driver may do), plugged_size is the plugged blocks' size, and a
 * slot is registered exactly while a block in it is plugged.
 */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "devices/virtio/mem/virtio_mem.h"
#include "devices/virtio/mmio.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE  (256u << 10)
#define AVAIL_GPA 0x100u
#define USED_GPA  0x200u
#define REGION    0x8000000000ull
#define BLOCK     (2ull << 20)
#define SLOT      (128ull << 20)
#define TOTAL     (256ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct ctx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_mem *vm;
        struct virtio_mmio m;
        bool in_kvm[TOTAL / SLOT]; /* what the fake KVM holds */
};

static struct ctx c;

/* The fake KVM: a slot is added only when absent and removed only when present. */
static int fake_slot(void *opaque, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
                     bool plug)
{
        unsigned int i = slot - 100;

        (void)opaque;
        (void)hva;
        if (i >= TOTAL / SLOT || size != SLOT || gpa != REGION + i * SLOT || c.in_kvm[i] == plug)
                abort();
        c.in_kvm[i] = plug;
        return 0;
}

static void ctx_init(void)
{
        struct virtio_mem_params p = {.gpa = REGION,
                                      .total_size = TOTAL,
                                      .block_size = BLOCK,
                                      .slot_size = SLOT,
                                      .first_slot = 100,
                                      .set_slot = fake_slot};
        struct err e;

        log_set_level(LOG_OFF);
        c.ram = calloc(1, MEM_SIZE);
        if (!c.ram || mem_layout_map(&c.mem, c.ram, MEM_SIZE) ||
            virtio_mem_create(&c.vm, &p, &c.mem, &e))
                abort();
}

static void bring_up(struct virtio_mmio *m, uint16_t qsize)
{
        mmio_negotiate(m, 2 /* VIRTIO_MEM_F_UNPLUGGED_INACCESSIBLE */);
        mmio_queue(m, 0, qsize, 0, AVAIL_GPA, USED_GPA);
        mmio_driver_ok(m);
}

/* The used ring's entries [from, to): each one's length is 0 or a whole response. */
static void check_used(uint16_t qsize, uint16_t from, uint16_t to)
{
        for (uint16_t i = from; i != to; i++) {
                uint32_t len;
                size_t off = USED_GPA + 4 + (size_t)(i % qsize) * 8 + 4;

                if (off + 4 > MEM_SIZE)
                        return;
                memcpy(&len, c.ram + off, 4);
                if (len != 0 && len != sizeof(struct virtio_mem_resp))
                        abort();
        }
}

/*
 * Could a response have landed in the used ring? Any 8 bytes of the input that read as an
 * address within a request's reach of it might be a descriptor's (direct or indirect).
 */
static bool used_ring_reachable(const uint8_t *mem, size_t n, uint16_t qsize)
{
        uint64_t lo = USED_GPA - 24, hi = USED_GPA + 4 + (uint64_t)qsize * 8, a;

        for (size_t i = 0; i + 8 <= n; i++) {
                memcpy(&a, mem + i, 8);
                if (a >= lo && a < hi)
                        return true;
        }
        return false;
}

/* The bitmap, plugged_size and the slots agree. */
static void check_state(void)
{
        const struct virtio_mem *v = c.vm;
        uint64_t per_slot = SLOT / BLOCK, n = 0;

        for (uint64_t s = 0; s < v->nr_slots; s++) {
                uint64_t in = 0;

                for (uint64_t b = s * per_slot; b < (s + 1) * per_slot; b++)
                        in += (v->plugged[b / 64] >> (b % 64)) & 1;
                if (v->slot_registered[s] != (in > 0) || c.in_kvm[s] != (in > 0))
                        abort();
                n += in;
        }
        if (v->config.plugged_size != n * BLOCK)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct virtio_dev *d;
        uint16_t qsize, before, after;
        uint8_t notify;
        struct err e;

        if (size < 4)
                return 0;
        if (!c.ram)
                ctx_init();
        d = &c.vm->dev;
        qsize = (uint16_t)(data[0] | data[1] << 8);
        notify = data[3];
        virtio_mmio_init(&c.m, d);
        memset(c.ram, 0, MEM_SIZE);
        bring_up(&c.m, qsize);
        if (virtio_dev_running(d))
                virtio_mem_update_requested(c.vm, (data[2] % 129u) * 2u, &e);
        memcpy(c.ram, data + 4, size - 4 < MEM_SIZE ? size - 4 : MEM_SIZE);
        before = d->queues[0].next_used;
        if (notify < d->nr_queues)
                virtio_dev_queue_event(d, notify);
        else
                mmio_wr32(&c.m, VIRTIO_MMIO_QUEUE_NOTIFY, notify);
        after = d->queues[0].next_used;
        if (virtio_dev_running(d)) {
                /* The device never completes more chains than the driver made available. */
                if ((uint16_t)(after - before) > qsize)
                        abort();
                if (!used_ring_reachable(c.ram, size - 4 < MEM_SIZE ? size - 4 : MEM_SIZE,
                                         d->queues[0].size))
                        check_used(d->queues[0].size, before, after);
        }
        check_state();
        return 0;
}
