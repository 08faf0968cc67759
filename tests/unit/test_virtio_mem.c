/* Unit tests for virtio-mem through its transport: the config space, PATCH's requested size,
 * plug/unplug/state/unplug-all with their KVM slots (faked), the discard, hostile requests and
 * chains, the memory_hotplug metrics. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/mem_layout.h"
#include "core/metrics.h"
#include "devices/virtio/mem/virtio_mem.h"
#include "devices/virtio/mmio.h"
#include "vq_driver.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE (4ULL << 20)
#define QSIZE    16
#define REGION   0x8000000000ULL
#define MIB      (1ULL << 20)
#define BLOCK    (2 * MIB)
#define SLOT     (128 * MIB)
#define TOTAL    (256 * MIB)
#define REQ_GPA  TD_DATA
#define RESP_GPA (TD_DATA + 0x100)

struct mfx {
        uint8_t *ram;
        struct guest_mem mem;
        struct virtio_mem *v;
        struct virtio_mmio m;
        struct tdrv t;
        uint16_t used_seen;
        int slot_calls;
        bool in_kvm[TOTAL / SLOT];
        int fail_slot; /* set_slot returns this */
        struct memory_hotplug_metrics before;
};

/* The fake KVM: checks each call's slot, address and size, and records the slot's state. */
static int fake_slot(void *opaque, unsigned int slot, uint64_t gpa, uint64_t size, void *hva,
                     bool plug)
{
        struct mfx *f = opaque;
        unsigned int i = slot - 40;

        assert_true(i < TOTAL / SLOT);
        assert_int_equal(gpa, REGION + i * SLOT);
        assert_int_equal(size, SLOT);
        assert_ptr_equal(hva, f->v->map + i * SLOT);
        assert_int_not_equal(f->in_kvm[i], plug);
        f->slot_calls++;
        if (f->fail_slot)
                return f->fail_slot;
        f->in_kvm[i] = plug;
        return 0;
}

static uint64_t cfg64(struct mfx *f, uint32_t off)
{
        return mmio_rd32(&f->m, 0x100 + off) | (uint64_t)mmio_rd32(&f->m, 0x104 + off) << 32;
}

static uint32_t bring_up(struct mfx *f, uint32_t features_lo)
{
        mmio_negotiate(&f->m, features_lo);
        mmio_queue(&f->m, 0, QSIZE, (uint32_t)TD_DESC, (uint32_t)TD_AVAIL, (uint32_t)TD_USED);
        mmio_driver_ok(&f->m);
        td_init(&f->t, &f->mem, QSIZE);
        f->used_seen = 0;
        return mmio_rd32(&f->m, VIRTIO_MMIO_STATUS);
}

static int setup(void **state)
{
        struct mfx *f = test_calloc(1, sizeof(*f));
        struct virtio_mem_params p = {.gpa = REGION,
                                      .total_size = TOTAL,
                                      .block_size = BLOCK,
                                      .slot_size = SLOT,
                                      .first_slot = 40,
                                      .set_slot = fake_slot,
                                      .opaque = f};
        struct err e = ERR_INIT;

        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        assert_int_equal(virtio_mem_create(&f->v, &p, &f->mem, &e), 0);
        virtio_mmio_init(&f->m, &f->v->dev);
        memcpy(&f->before, &metrics.memory_hotplug, sizeof(f->before));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct mfx *f = *state;

        virtio_mem_destroy(f->v);
        test_free(f->ram);
        test_free(f);
        return 0;
}

#define DELTA(f, name) (metrics.memory_hotplug.name.value - (f)->before.name.value)

/* Sends one request with a well-formed chain; returns type * 16 + state, or 0xff if unused. */
static uint32_t request(struct mfx *f, uint16_t type, uint64_t addr, uint16_t nb)
{
        struct virtio_mem_req rq = {.type = type};
        struct virtio_mem_resp rs;
        uint32_t id, len;

        rq.u.plug.addr = addr;
        rq.u.plug.nb_blocks = nb;
        guest_mem_write(&f->mem, REQ_GPA, &rq, sizeof(rq));
        memset(&rs, 0x55, sizeof(rs));
        guest_mem_write(&f->mem, RESP_GPA, &rs, sizeof(rs));
        td_desc(&f->t, 0, REQ_GPA, sizeof(rq), VRING_DESC_F_NEXT, 1);
        td_desc(&f->t, 1, RESP_GPA, sizeof(rs), VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 0);
        virtio_dev_queue_event(&f->v->dev, 0);
        if (td_used_idx(&f->t) == f->used_seen)
                return 0xff;
        td_used_elem(&f->t, f->used_seen++, &id, &len);
        assert_int_equal(len, sizeof(rs));
        guest_mem_read(&f->mem, RESP_GPA, &rs, sizeof(rs));
        return rs.type * 16u + (type == VIRTIO_MEM_REQ_STATE ? rs.u.state.state : 0);
}

static void patch(struct mfx *f, uint64_t mib)
{
        struct err e = ERR_INIT;

        assert_int_equal(virtio_mem_update_requested(f->v, mib, &e), 0);
}

static void test_config_space_and_patch(void **state)
{
        struct mfx *f = *state;
        struct virtio_mem_status s;
        struct err e = ERR_INIT;
        uint32_t gen;

        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_ID), 24);
        assert_int_equal(cfg64(f, 0), BLOCK);
        assert_int_equal(mmio_rd32(&f->m, 0x108), 0); /* node_id and padding */
        assert_int_equal(cfg64(f, 16), REGION);
        assert_int_equal(cfg64(f, 24), TOTAL);
        assert_int_equal(cfg64(f, 32) | cfg64(f, 40) | cfg64(f, 48), 0);
        assert_int_equal(mmio_rd32(&f->m, 0x100 + 56), 0); /* past the end */
        /* Not active yet: Firecracker's DeviceNotActive. */
        assert_int_equal(virtio_mem_update_requested(f->v, 2, &e), -EINVAL);
        assert_string_equal(e.msg, "Device is not active");
        assert_int_equal(bring_up(f, 2), 0xf);
        gen = mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);
        assert_int_equal(virtio_mem_update_requested(f->v, 3, &e), -EINVAL);
        assert_string_equal(e.msg, "Size 3145728 is invalid: it must be a multiple of block "
                                   "size and less than the total size");
        assert_int_equal(virtio_mem_update_requested(f->v, 258, &e), -EINVAL);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), gen);
        patch(f, 130);
        assert_int_equal(cfg64(f, 48), 130 * MIB);
        assert_int_equal(cfg64(f, 32), 2 * SLOT); /* usable: whole slots */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
        patch(f, 2); /* the usable region never shrinks on PATCH */
        assert_int_equal(cfg64(f, 32), 2 * SLOT);
        virtio_mem_status(f->v, &s);
        assert_int_equal(s.total_size_mib, 256);
        assert_int_equal(s.slot_size_mib, 128);
        assert_int_equal(s.block_size_mib, 2);
        assert_int_equal(s.plugged_size_mib, 0);
        assert_int_equal(s.requested_size_mib, 2);
        /* Config space is read-only. */
        mmio_wr32(&f->m, 0x100 + 48, 0x12345678);
        assert_int_equal(cfg64(f, 48), 2 * MIB);
}

static void test_needs_unplugged_inaccessible(void **state)
{
        struct mfx *f = *state;

        assert_int_equal(bring_up(f, 0) & 0x40, 0x40); /* DEVICE_NEEDS_RESET */
        assert_int_equal(DELTA(f, activate_fails), 1);
        assert_int_equal(bring_up(f, 2), 0xf);
}

static void test_plug_use_unplug(void **state)
{
        struct mfx *f = *state;

        bring_up(f, 2);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION, 1), 0x30); /* nothing asked */
        patch(f, 8); /* usable: the first slot only */
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION + SLOT - BLOCK, 2), 0x30);
        patch(f, 130);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION + SLOT - BLOCK, 2), 0);
        /* Both slots the range touches are in KVM, and the memory is usable. */
        assert_true(f->in_kvm[0] && f->in_kvm[1]);
        f->v->map[SLOT - BLOCK + 5] = 0x77;
        f->v->map[SLOT + 5] = 0x78;
        assert_int_equal(cfg64(f, 40), 4 * MIB);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION + SLOT - BLOCK, 2),
                         VIRTIO_MEM_STATE_PLUGGED);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION + SLOT - 2 * BLOCK, 2),
                         VIRTIO_MEM_STATE_MIXED);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION, 2), VIRTIO_MEM_STATE_UNPLUGGED);
        /* Unplugging the second slot's block drops that slot only, and discards the block. */
        assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG, REGION + SLOT, 1), 0);
        assert_true(f->in_kvm[0] && !f->in_kvm[1]);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION + SLOT, 1), 0);
        assert_int_equal(f->v->map[SLOT + 5], 0);
        assert_int_equal(f->v->map[SLOT - BLOCK + 5], 0x77);
        assert_int_equal(f->slot_calls, 4);
        /* UNPLUG_ALL: nothing plugged, no slot in KVM, no usable region. */
        assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG_ALL, 0, 0), 0);
        assert_false(f->in_kvm[0] || f->in_kvm[1]);
        assert_int_equal(cfg64(f, 40) | cfg64(f, 32), 0);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION, 1), 0x30); /* not usable */
        assert_int_equal(DELTA(f, plug_count), 5);
        assert_int_equal(DELTA(f, plug_fails), 3);
        assert_int_equal(DELTA(f, plug_bytes), 6 * MIB);
        assert_int_equal(DELTA(f, unplug_count), 1);
        assert_int_equal(DELTA(f, unplug_bytes), 2 * MIB);
        assert_int_equal(DELTA(f, unplug_all_count), 1);
        assert_int_equal(DELTA(f, state_count), 3);
        assert_int_equal(DELTA(f, state_fails), 0);
        assert_true(metrics.memory_hotplug.plug_agg.count > f->before.plug_agg.count);
}

static void test_hostile_requests(void **state)
{
        struct mfx *f = *state;

        bring_up(f, 2);
        patch(f, 4);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION, 2), 0);
        /* Too big, unaligned, zero, below, past usable, overflowing, plugged, unplugged. */
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION + 2 * BLOCK, 1), 0x30);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG, REGION + 4096, 1), 0x30);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG, REGION, 0), 0x30);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION - BLOCK, 1), 0x30);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION + SLOT, 1), 0x30);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION + SLOT - BLOCK, 2), 0x30);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, UINT64_MAX - BLOCK + 1, 0xffff), 0x30);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_UNPLUG, REGION + BLOCK, 2), 0x30); /* mixed */
        assert_int_equal(request(f, 9, REGION, 1), 0x30);
        assert_int_equal(cfg64(f, 40), 4 * MIB); /* nothing changed */
        /* Malformed chains: used with length 0, nothing written, the queue goes on. */
        uint32_t id, len;
        uint8_t resp[10];
        const struct {
                uint32_t rlen, slen;
                uint16_t rflags, sflags;
        } bad[] = {{24, 10, VRING_DESC_F_WRITE, 0},
                   {8, 10, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE},
                   {24, 10, 0, 0},
                   {24, 10, VRING_DESC_F_NEXT, 0},
                   {24, 4, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE}};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                memset(resp, 0x55, sizeof(resp));
                guest_mem_write(&f->mem, RESP_GPA, resp, sizeof(resp));
                td_desc(&f->t, 0, REQ_GPA, bad[i].rlen, bad[i].rflags, 1);
                td_desc(&f->t, 1, RESP_GPA, bad[i].slen, bad[i].sflags, 0);
                td_offer(&f->t, 0);
                virtio_dev_queue_event(&f->v->dev, 0);
                assert_int_equal(td_used_idx(&f->t), ++f->used_seen);
                td_used_elem(&f->t, (uint16_t)(f->used_seen - 1), &id, &len);
                assert_int_equal(len, 0);
                guest_mem_read(&f->mem, RESP_GPA, resp, sizeof(resp));
                assert_int_equal(resp[0], 0x55);
        }
        assert_int_equal(DELTA(f, queue_event_fails), 6);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION, 2), VIRTIO_MEM_STATE_PLUGGED);
}

static void test_kvm_failure_is_an_error(void **state)
{
        struct mfx *f = *state;

        bring_up(f, 2);
        patch(f, 2);
        f->fail_slot = -ENOMEM;
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION, 1), 0x30);
        assert_false(f->in_kvm[0]);
        assert_int_equal(DELTA(f, plug_fails), 1);
        /* Undone: nothing plugged, and the same plug works once KVM does. */
        assert_int_equal(cfg64(f, 40), 0);
        assert_int_equal(request(f, VIRTIO_MEM_REQ_STATE, REGION, 1), VIRTIO_MEM_STATE_UNPLUGGED);
        f->fail_slot = 0;
        assert_int_equal(request(f, VIRTIO_MEM_REQ_PLUG, REGION, 1), 0);
        assert_true(f->in_kvm[0]);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_config_space_and_patch, setup, teardown),
            cmocka_unit_test_setup_teardown(test_needs_unplugged_inaccessible, setup, teardown),
            cmocka_unit_test_setup_teardown(test_plug_use_unplug, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hostile_requests, setup, teardown),
            cmocka_unit_test_setup_teardown(test_kvm_failure_is_an_error, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
