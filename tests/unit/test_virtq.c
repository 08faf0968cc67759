/* Unit tests for the split virtqueue: activation checks, the chain walker's limits, used ring,
 * EVENT_IDX. */
#include <errno.h>
#include <linux/virtio_ring.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "arch/x86_64/mem_layout.h"
#include "devices/virtio/queue.h"
#include "vq_driver.h"

#define MEM_SIZE (1ULL << 20)
#define QSIZE    16

struct fx {
        uint8_t *ram;
        struct guest_mem mem;
        struct tdrv t;
        struct virtq q;
        struct virtq_chain c;
        const char *why;
};

static int setup(void **state)
{
        struct fx *f = test_calloc(1, sizeof(*f));

        f->ram = test_calloc(1, MEM_SIZE);
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        td_init(&f->t, &f->mem, QSIZE);
        virtq_init(&f->q, 256);
        f->q.size = QSIZE;
        f->q.ready = true;
        f->q.desc_gpa = TD_DESC;
        f->q.avail_gpa = TD_AVAIL;
        f->q.used_gpa = TD_USED;
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        test_free(f->ram);
        test_free(f);
        return 0;
}

static void activate(struct fx *f, bool event_idx)
{
        struct err e;

        assert_int_equal(virtq_activate(&f->q, &f->mem, event_idx, &e), 0);
}

static int pop(struct fx *f)
{
        f->why = NULL;
        return virtq_pop(&f->q, &f->c, &f->why);
}

/* ---- activation ----------------------------------------------------------------------------- */

static void expect_activate_fails(struct fx *f, const char *needle)
{
        struct err e = ERR_INIT;

        assert_int_equal(virtq_activate(&f->q, &f->mem, false, &e), -EINVAL);
        assert_non_null(strstr(e.msg, needle));
}

static void test_activate_checks(void **state)
{
        struct fx *f = *state;

        f->q.ready = false;
        expect_activate_fails(f, "not ready");
        f->q.ready = true;
        f->q.size = 0;
        expect_activate_fails(f, "power of two");
        f->q.size = 6;
        expect_activate_fails(f, "power of two");
        f->q.size = 512; /* above max_size */
        expect_activate_fails(f, "power of two");
        f->q.size = QSIZE;
        f->q.desc_gpa = TD_DESC + 8;
        expect_activate_fails(f, "aligned");
        f->q.desc_gpa = TD_DESC;
        f->q.avail_gpa = TD_AVAIL + 1;
        expect_activate_fails(f, "aligned");
        f->q.avail_gpa = TD_AVAIL;
        f->q.used_gpa = TD_USED + 2;
        expect_activate_fails(f, "aligned");
        f->q.used_gpa = MEM_SIZE - 16; /* ring runs past the end of RAM */
        expect_activate_fails(f, "outside guest memory");
        f->q.used_gpa = 0xfffffffffffffff0ULL; /* address + length wraps */
        expect_activate_fails(f, "outside guest memory");
        f->q.used_gpa = TD_USED;
        activate(f, false);
}

/* ---- chains --------------------------------------------------------------------------------- */

static void test_empty_queue(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        assert_int_equal(pop(f), 0);
}

static void test_simple_chain(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc(&f->t, 3, TD_DATA, 16, VRING_DESC_F_NEXT, 7);
        td_desc(&f->t, 7, TD_DATA + 0x100, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
        td_desc(&f->t, 1, TD_DATA + 0x400, 1, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 3);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.head, 3);
        assert_int_equal(f->c.nsegs, 3);
        assert_int_equal(f->c.nreadable, 1);
        assert_int_equal(f->c.readable_bytes, 16);
        assert_int_equal(f->c.writable_bytes, 513);
        assert_ptr_equal(f->c.segs[0].hva, f->ram + TD_DATA);
        assert_ptr_equal(f->c.segs[1].hva, f->ram + TD_DATA + 0x100);
        assert_true(f->c.segs[2].write);
        assert_int_equal(pop(f), 0);
}

static void test_zero_length_descriptors_skipped(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        /* A zero-length buffer's address is never used, so it may be anything. */
        td_desc(&f->t, 0, 0xdead00000000ULL, 0, VRING_DESC_F_NEXT, 1);
        td_desc(&f->t, 1, TD_DATA, 8, 0, 0);
        td_offer(&f->t, 0);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.nsegs, 1);
        /* A chain of nothing but empty buffers pops as an empty chain. */
        td_desc(&f->t, 2, TD_DATA, 0, 0, 0);
        td_offer(&f->t, 2);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.nsegs, 0);
}

static void expect_broken(struct fx *f, const char *needle)
{
        uint16_t before = f->q.next_avail;

        assert_int_equal(pop(f), -EPROTO);
        assert_non_null(f->why);
        assert_non_null(strstr(f->why, needle));
        assert_int_equal(f->q.next_avail, before); /* nothing consumed */
}

static void test_loop_ends(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc(&f->t, 0, TD_DATA, 16, VRING_DESC_F_NEXT, 1);
        td_desc(&f->t, 1, TD_DATA, 16, VRING_DESC_F_NEXT, 0);
        td_offer(&f->t, 0);
        expect_broken(f, "loops");
}

static void test_self_loop_ends(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc(&f->t, 5, TD_DATA, 0, VRING_DESC_F_NEXT, 5); /* empty buffers still count */
        td_offer(&f->t, 5);
        expect_broken(f, "loops");
}

static void test_chain_of_queue_size_is_fine(void **state)
{
        struct fx *f = *state;
        uint16_t i;

        activate(f, false);
        for (i = 0; i < QSIZE; i++)
                td_desc(&f->t, i, TD_DATA + 16ULL * i, 16, i + 1 < QSIZE ? VRING_DESC_F_NEXT : 0,
                        (uint16_t)(i + 1));
        td_offer(&f->t, 0);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.nsegs, QSIZE);
}

static void test_bad_indexes(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_offer(&f->t, QSIZE); /* head out of range */
        expect_broken(f, "valid descriptor index");
        td_desc(&f->t, 0, TD_DATA, 16, VRING_DESC_F_NEXT, QSIZE);
        f->q.next_avail = 0;
        td_set_avail_idx(&f->t, 0);
        td_offer(&f->t, 0);
        expect_broken(f, "next descriptor index");
}

static void test_avail_idx_sanity(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_set_avail_idx(&f->t, QSIZE + 1);
        expect_broken(f, "available index");
        td_set_avail_idx(&f->t, 0xffff); /* "behind" is as broken as too far ahead */
        expect_broken(f, "available index");
        td_set_avail_idx(&f->t, QSIZE); /* exactly a full ring is fine */
        td_desc(&f->t, 0, TD_DATA, 16, 0, 0);
        assert_int_equal(pop(f), 1);
}

static void test_buffers_outside_memory(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc(&f->t, 0, MEM_SIZE - 8, 16, 0, 0); /* straddles the end */
        td_offer(&f->t, 0);
        expect_broken(f, "outside guest memory");
        td_desc(&f->t, 0, 0xfffffffffffff000ULL, 0x2000, 0, 0); /* wraps 2^64 */
        expect_broken(f, "outside guest memory");
        td_desc(&f->t, 0, TD_DATA, 0xffffffffu, 0, 0); /* longer than RAM */
        expect_broken(f, "outside guest memory");
        td_desc(&f->t, 0, 1ULL << 46, 4096, 0, 0); /* far away */
        expect_broken(f, "outside guest memory");
}

static void test_readable_after_writable(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc(&f->t, 0, TD_DATA, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
        td_desc(&f->t, 1, TD_DATA, 16, 0, 0);
        td_offer(&f->t, 0);
        expect_broken(f, "readable descriptor follows");
}

static void test_indirect_ok(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc_at(&f->t, TD_INDIRECT, 0, TD_DATA, 16, VRING_DESC_F_NEXT, 2);
        td_desc_at(&f->t, TD_INDIRECT, 2, TD_DATA + 0x100, 512,
                   VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
        td_desc_at(&f->t, TD_INDIRECT, 1, TD_DATA + 0x400, 1, VRING_DESC_F_WRITE, 0);
        /* The WRITE flag of the descriptor that points to a table is ignored. */
        td_desc(&f->t, 4, TD_INDIRECT, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
        td_offer(&f->t, 4);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.head, 4);
        assert_int_equal(f->c.nsegs, 3);
        assert_int_equal(f->c.nreadable, 1);
        assert_int_equal(f->c.writable_bytes, 513);
}

static void test_direct_then_indirect(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc_at(&f->t, TD_INDIRECT, 0, TD_DATA + 0x400, 1, VRING_DESC_F_WRITE, 0);
        td_desc(&f->t, 0, TD_DATA, 16, VRING_DESC_F_NEXT, 1);
        td_desc(&f->t, 1, TD_INDIRECT, 16, VRING_DESC_F_INDIRECT, 0);
        td_offer(&f->t, 0);
        assert_int_equal(pop(f), 1);
        assert_int_equal(f->c.nsegs, 2);
        assert_int_equal(f->c.nreadable, 1);
}

static void test_indirect_in_indirect(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc_at(&f->t, TD_INDIRECT, 0, TD_INDIRECT + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
        td_desc_at(&f->t, TD_INDIRECT + 0x100, 0, TD_DATA, 16, 0, 0);
        td_desc(&f->t, 0, TD_INDIRECT, 16, VRING_DESC_F_INDIRECT, 0);
        td_offer(&f->t, 0);
        expect_broken(f, "inside an indirect table");
}

static void test_indirect_rules(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        td_desc_at(&f->t, TD_INDIRECT, 0, TD_DATA, 16, 0, 0);
        td_offer(&f->t, 0);
        td_desc(&f->t, 0, TD_INDIRECT, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
        expect_broken(f, "NEXT");
        td_desc(&f->t, 0, TD_INDIRECT, 24, VRING_DESC_F_INDIRECT, 0);
        expect_broken(f, "multiple of 16");
        td_desc(&f->t, 0, TD_INDIRECT, 0, VRING_DESC_F_INDIRECT, 0);
        expect_broken(f, "multiple of 16");
        td_desc(&f->t, 0, TD_INDIRECT, 16 * (VIRTQ_MAX_CHAIN + 1), VRING_DESC_F_INDIRECT, 0);
        expect_broken(f, "multiple of 16");
        td_desc(&f->t, 0, MEM_SIZE - 16, 32, VRING_DESC_F_INDIRECT, 0);
        expect_broken(f, "indirect table lies outside");
        /* A loop inside the table ends too. */
        td_desc_at(&f->t, TD_INDIRECT, 0, TD_DATA, 16, VRING_DESC_F_NEXT, 1);
        td_desc_at(&f->t, TD_INDIRECT, 1, TD_DATA, 16, VRING_DESC_F_NEXT, 0);
        td_desc(&f->t, 0, TD_INDIRECT, 32, VRING_DESC_F_INDIRECT, 0);
        expect_broken(f, "loops");
        /* And next must stay inside the table. */
        td_desc_at(&f->t, TD_INDIRECT, 1, TD_DATA, 16, VRING_DESC_F_NEXT, 2);
        expect_broken(f, "out of range");
}

/* Lengths that only add up past 4 GiB: needs guest RAM larger than 2 GiB (reserved, not touched).
 */
static void test_chain_over_4gib(void **state)
{
        const uint64_t size = 3ULL << 30;
        struct guest_mem mem;
        struct tdrv t;
        struct virtq q;
        struct virtq_chain *c = test_malloc(sizeof(*c));
        const char *why = NULL;
        uint8_t *ram;

        (void)state;
        ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
        assert_true(ram != MAP_FAILED);
        assert_int_equal(mem_layout_map(&mem, ram, size), 0);
        td_init(&t, &mem, QSIZE);
        virtq_init(&q, 256);
        q.size = QSIZE;
        q.ready = true;
        q.desc_gpa = TD_DESC;
        q.avail_gpa = TD_AVAIL;
        q.used_gpa = TD_USED;
        assert_int_equal(virtq_activate(&q, &mem, false, NULL), 0);
        td_desc(&t, 0, TD_DATA, 0x7ffff000u, VRING_DESC_F_NEXT, 1);
        td_desc(&t, 1, TD_DATA, 0x7ffff000u, VRING_DESC_F_NEXT, 2);
        td_desc(&t, 2, TD_DATA, 0x2000u, 0, 0);
        td_offer(&t, 0);
        assert_int_equal(virtq_pop(&q, c, &why), -EPROTO);
        assert_non_null(strstr(why, "4 GiB"));
        td_desc(&t, 2, TD_DATA, 0x1000u, 0, 0); /* exactly 4 GiB - 4 KiB: accepted */
        assert_int_equal(virtq_pop(&q, c, &why), 1);
        munmap(ram, size);
        test_free(c);
}

/* ---- used ring and notifications ------------------------------------------------------------ */

static void test_push_publish_undo(void **state)
{
        struct fx *f = *state;
        uint32_t id, len;

        activate(f, false);
        td_desc(&f->t, 2, TD_DATA, 16, 0, 0);
        td_offer(&f->t, 2);
        assert_int_equal(pop(f), 1);
        virtq_undo_pop(&f->q);
        assert_int_equal(virtq_pending(&f->q), 1);
        assert_int_equal(pop(f), 1);
        virtq_push(&f->q, f->c.head, 77);
        assert_int_equal(td_used_idx(&f->t), 0); /* not published yet */
        virtq_publish(&f->q);
        assert_int_equal(td_used_idx(&f->t), 1);
        td_used_elem(&f->t, 0, &id, &len);
        assert_int_equal(id, 2);
        assert_int_equal(len, 77);
}

static void test_used_ring_wraps(void **state)
{
        struct fx *f = *state;
        uint32_t id, len;
        unsigned int i;

        activate(f, false);
        td_desc(&f->t, 0, TD_DATA, 16, 0, 0);
        for (i = 0; i < 3 * QSIZE + 1; i++) {
                td_offer(&f->t, 0);
                assert_int_equal(pop(f), 1);
                virtq_push(&f->q, 0, i);
                virtq_publish(&f->q);
        }
        assert_int_equal(td_used_idx(&f->t), 3 * QSIZE + 1);
        td_used_elem(&f->t, 3 * QSIZE, &id, &len);
        assert_int_equal(len, 3 * QSIZE);
}

static void test_notify_without_event_idx(void **state)
{
        struct fx *f = *state;

        activate(f, false);
        assert_false(virtq_should_notify(&f->q)); /* nothing added */
        virtq_push(&f->q, 0, 1);
        virtq_publish(&f->q);
        assert_true(virtq_should_notify(&f->q));
        td_w16(&f->t, TD_AVAIL, VRING_AVAIL_F_NO_INTERRUPT);
        virtq_push(&f->q, 0, 1);
        virtq_publish(&f->q);
        assert_false(virtq_should_notify(&f->q));
}

static void test_event_idx(void **state)
{
        struct fx *f = *state;

        activate(f, true);
        /* Driver wants an interrupt once used idx passes 0 (after the first entry). */
        td_set_used_event(&f->t, 0);
        virtq_push(&f->q, 0, 1);
        virtq_publish(&f->q);
        assert_true(virtq_should_notify(&f->q));
        /* It now asks only after entry 5: entries 2..4 are silent, 6 crosses it. */
        td_set_used_event(&f->t, 5);
        virtq_push(&f->q, 0, 1);
        virtq_push(&f->q, 0, 1);
        virtq_publish(&f->q);
        assert_false(virtq_should_notify(&f->q));
        virtq_push(&f->q, 0, 1);
        virtq_push(&f->q, 0, 1);
        virtq_push(&f->q, 0, 1);
        virtq_publish(&f->q);
        assert_true(virtq_should_notify(&f->q));
        /* An empty pop publishes avail_event = next_avail, asking for the next kick. */
        td_desc(&f->t, 0, TD_DATA, 16, 0, 0);
        td_offer(&f->t, 0);
        td_offer(&f->t, 0);
        assert_int_equal(pop(f), 1);
        assert_int_equal(pop(f), 1);
        assert_int_equal(pop(f), 0);
        assert_int_equal(td_avail_event(&f->t), 2);
        /* The re-check after publishing avail_event still sees a bad index. */
        td_set_avail_idx(&f->t, 2 + QSIZE + 1);
        assert_int_equal(pop(f), -EPROTO);
}

static void test_reset(void **state)
{
        struct fx *f = *state;

        activate(f, true);
        virtq_reset(&f->q);
        assert_false(f->q.ready);
        assert_int_equal(f->q.size, 256);
        assert_int_equal(f->q.max_size, 256);
        assert_int_equal(f->q.desc_gpa, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_activate_checks, setup, teardown),
            cmocka_unit_test_setup_teardown(test_empty_queue, setup, teardown),
            cmocka_unit_test_setup_teardown(test_simple_chain, setup, teardown),
            cmocka_unit_test_setup_teardown(test_zero_length_descriptors_skipped, setup, teardown),
            cmocka_unit_test_setup_teardown(test_loop_ends, setup, teardown),
            cmocka_unit_test_setup_teardown(test_self_loop_ends, setup, teardown),
            cmocka_unit_test_setup_teardown(test_chain_of_queue_size_is_fine, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_indexes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_avail_idx_sanity, setup, teardown),
            cmocka_unit_test_setup_teardown(test_buffers_outside_memory, setup, teardown),
            cmocka_unit_test_setup_teardown(test_readable_after_writable, setup, teardown),
            cmocka_unit_test_setup_teardown(test_indirect_ok, setup, teardown),
            cmocka_unit_test_setup_teardown(test_direct_then_indirect, setup, teardown),
            cmocka_unit_test_setup_teardown(test_indirect_in_indirect, setup, teardown),
            cmocka_unit_test_setup_teardown(test_indirect_rules, setup, teardown),
            cmocka_unit_test(test_chain_over_4gib),
            cmocka_unit_test_setup_teardown(test_push_publish_undo, setup, teardown),
            cmocka_unit_test_setup_teardown(test_used_ring_wraps, setup, teardown),
            cmocka_unit_test_setup_teardown(test_notify_without_event_idx, setup, teardown),
            cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
