/* Unit tests for virtio-balloon through its transport: features and queues, the config space,
 * inflate (coalesced, only guest RAM, really discarded), deflate, statistics, the PATCH rules,
 * free page hinting and reporting, broken rings, the balloon metrics. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "arch/x86_64/mem_layout.h"
#include "core/metrics.h"
#include "devices/virtio/balloon/virtio_balloon.h"
#include "devices/virtio/mmio.h"
#include "vq_driver.h"
#include "../virtio_mmio_driver.h"

#define MEM_SIZE (16ULL << 20)
#define QSIZE    32
#define NQ_MAX   5
#define PFN_LIST 0x20000ULL /* where the tests put PFN lists and stats buffers */
#define MAX_REC  64

struct bfx {
        uint8_t *ram;
        struct guest_mem mem;
        struct balloon_params p;
        struct virtio_balloon *b;
        struct virtio_mmio m;
        struct tdrv t[NQ_MAX];
        unsigned int nq;
        struct balloon_metrics before;
        balloon_discard_fn host; /* the device's own discard */
};

/* The discards the device asked for, as guest offsets and lengths. */
static uint8_t *rec_ram;
static uint64_t rec_off[MAX_REC], rec_len[MAX_REC];
static unsigned int nrec;

static int record_discard(void *hva, size_t len)
{
        assert_true(nrec < MAX_REC);
        rec_off[nrec] = (uint64_t)((uint8_t *)hva - rec_ram);
        rec_len[nrec++] = len;
        return 0;
}

static void queue_up(struct bfx *f, unsigned int q)
{
        struct tdrv *t = &f->t[q];

        td_init(t, &f->mem, QSIZE);
        t->desc = 0x1000ULL + 0x3000ULL * q;
        t->avail = t->desc + 0x1000;
        t->used = t->desc + 0x2000;
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_SEL, q);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)t->desc);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)t->avail);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)t->used);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void bring_up(struct bfx *f)
{
        mmio_negotiate(&f->m, (uint32_t)f->b->dev.avail_features);
        for (unsigned int q = 0; q < f->nq; q++)
                queue_up(f, q);
        mmio_driver_ok(&f->m);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

/* Makes the device with f->p, without bringing it up. */
static void create(struct bfx *f)
{
        struct err e = ERR_INIT;

        assert_int_equal(virtio_balloon_create(&f->b, &f->p, &f->mem, NULL, &e), 0);
        f->host = f->b->discard;
        f->b->discard = record_discard;
        f->nq = f->b->dev.nr_queues;
        virtio_mmio_init(&f->m, &f->b->dev);
        nrec = 0;
}

static void recreate(struct bfx *f, struct balloon_params p, bool up)
{
        virtio_balloon_destroy(f->b);
        f->p = p;
        create(f);
        if (up)
                bring_up(f);
}

static int setup(void **state)
{
        struct bfx *f = test_calloc(1, sizeof(*f));

        /* page-aligned RAM, so discards can be real */
        f->ram = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        assert_true(f->ram != MAP_FAILED);
        rec_ram = f->ram;
        assert_int_equal(mem_layout_map(&f->mem, f->ram, MEM_SIZE), 0);
        f->p = (struct balloon_params){.amount_mib = 4, .stats_polling_interval_s = 1};
        create(f);
        bring_up(f);
        memcpy(&f->before, &metrics.balloon, sizeof(f->before));
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct bfx *f = *state;

        virtio_balloon_destroy(f->b);
        munmap(f->ram, MEM_SIZE);
        test_free(f);
        return 0;
}

#define DELTA(f, name) (metrics.balloon.name.value - (f)->before.name.value)

/* Notifies queue q and returns how many used entries it gained. */
static uint16_t run(struct bfx *f, unsigned int q)
{
        uint16_t before = td_used_idx(&f->t[q]);

        virtio_dev_queue_event(&f->b->dev, q);
        return (uint16_t)(td_used_idx(&f->t[q]) - before);
}

/* Offers one readable descriptor (slot i of queue q) of len bytes at gpa. */
static void offer(struct bfx *f, unsigned int q, uint16_t i, uint64_t gpa, uint32_t len,
                  uint16_t flags)
{
        td_desc(&f->t[q], i, gpa, len, flags, 0);
        td_offer(&f->t[q], i);
}

static void put_pfns(struct bfx *f, uint64_t gpa, const uint32_t *pfns, size_t n)
{
        guest_mem_write(&f->mem, gpa, pfns, n * 4);
}

static void test_identity(void **state)
{
        struct bfx *f = *state;
        uint32_t actual = 77;

        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BALLOON);
        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES), 1u << BALLOON_F_STATS_VQ);
        mmio_wr32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
        assert_int_equal(f->nq, 3);
        mmio_wr32(&f->m, VIRTIO_MMIO_QUEUE_SEL, 2);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_QUEUE_NUM_MAX), BALLOON_QUEUE_SIZE);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG), 4 * 256); /* num_pages */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 4), 0);
        virtio_mmio_write(&f->m, VIRTIO_MMIO_CONFIG + 4, (uint8_t *)&actual, 4);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 4), 77);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 8), 0);  /* hint cmd id: STOP */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 12), 0); /* past the 12 bytes */
        virtio_mmio_write(&f->m, VIRTIO_MMIO_CONFIG + 10, (uint8_t *)&actual, 4); /* refused */
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 8), 0);
        assert_string_equal(f->b->dev.base.id, "balloon");
        /* Every feature: the queues in Firecracker's order. */
        recreate(f,
                 (struct balloon_params){.deflate_on_oom = true,
                                         .free_page_hinting = true,
                                         .free_page_reporting = true},
                 false);
        assert_int_equal(f->b->dev.avail_features, (1ull << 32) | (1u << BALLOON_F_DEFLATE_ON_OOM) |
                                                       (1u << BALLOON_F_FREE_PAGE_HINT) |
                                                       (1u << BALLOON_F_FREE_PAGE_REPORTING));
        assert_int_equal(f->nq, 4);
        assert_int_equal(f->b->hint_q, 2);
        assert_int_equal(f->b->report_q, 3);
}

static void test_compact(void **state)
{
        uint32_t v[] = {7, 3, 4, 4, 5, 100, 2, 101, 0xffffffffu, 0xfffffffeu};
        uint32_t s[10], l[10];

        (void)state;
        assert_int_equal(balloon_compact_pfns(v, 0, s, l), 0);
        assert_int_equal(balloon_compact_pfns(v, 10, s, l), 4);
        assert_int_equal(s[0], 2);
        assert_int_equal(l[0], 4); /* 2..5, the duplicate 4 once */
        assert_int_equal(s[1], 7);
        assert_int_equal(l[1], 1);
        assert_int_equal(s[2], 100);
        assert_int_equal(l[2], 2);
        assert_int_equal(s[3], 0xfffffffeu);
        assert_int_equal(l[3], 2);
}

static void test_inflate_coalesces_and_stays_in_ram(void **state)
{
        struct bfx *f = *state;
        uint32_t pfns[] = {0x100, 0x101, 0x102, 0x101, 0x200, 0xfff, 0x1000, 0xfffff, 0xc0000};

        put_pfns(f, PFN_LIST, pfns, 9);
        offer(f, 0, 0, PFN_LIST, sizeof(pfns), 0);
        assert_int_equal(run(f, 0), 1);
        /* 0xfff is the last page of 16 MiB of RAM, 0x1000 and up are not RAM. */
        assert_int_equal(nrec, 3);
        assert_int_equal(rec_off[0], 0x100000);
        assert_int_equal(rec_len[0], 3 * 4096);
        assert_int_equal(rec_off[1], 0x200000);
        assert_int_equal(rec_len[1], 4096);
        assert_int_equal(rec_off[2], 0xfff000);
        assert_int_equal(rec_len[2], 4096);
        assert_int_equal(DELTA(f, inflate_count), 1);
        assert_int_equal(DELTA(f, event_fails), 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_VRING);
}

static void test_inflate_skips_bad_descriptors(void **state)
{
        struct bfx *f = *state;
        uint32_t pfn = 0x100;

        put_pfns(f, PFN_LIST, &pfn, 1);
        offer(f, 0, 0, PFN_LIST, 4, VRING_DESC_F_WRITE); /* device-writable */
        offer(f, 0, 1, PFN_LIST, 6, 0);                  /* not whole PFNs */
        offer(f, 0, 2, PFN_LIST, 257 * 4, 0);            /* more than 256 PFNs */
        offer(f, 0, 3, PFN_LIST, 0, 0);                  /* empty */
        assert_int_equal(run(f, 0), 4);
        assert_int_equal(nrec, 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS), 0xf);
}

static void test_inflate_more_than_the_buffer(void **state)
{
        struct bfx *f = *state;
        static uint32_t pfns[9 * 256];

        /* 9 descriptors of 256 PFNs: the 2048-PFN buffer is flushed in between. */
        for (uint32_t i = 0; i < 9 * 256; i++)
                pfns[i] = 0x100 + i;
        put_pfns(f, PFN_LIST, pfns, 9 * 256);
        for (uint16_t d = 0; d < 9; d++)
                offer(f, 0, d, PFN_LIST + 1024ULL * d, 1024, 0);
        assert_int_equal(run(f, 0), 9);
        assert_int_equal(nrec, 2);
        assert_int_equal(rec_off[0], 0x100000);
        assert_int_equal(rec_len[0], 2048ULL * 4096);
        assert_int_equal(rec_off[1], 0x100000 + 2048ULL * 4096);
        assert_int_equal(rec_len[1], 256ULL * 4096);
}

/* With the real madvise(MADV_DONTNEED), an inflated page reads back as zeros. */
static void test_inflate_really_discards(void **state)
{
        struct bfx *f = *state;
        uint32_t pfn = 0x300;

        f->b->discard = f->host; /* madvise() */
        memset(f->ram + 0x300000, 0x5a, 4096);
        f->ram[0x301000] = 0x5a;
        put_pfns(f, PFN_LIST, &pfn, 1);
        offer(f, 0, 0, PFN_LIST, 4, 0);
        assert_int_equal(run(f, 0), 1);
        for (int i = 0; i < 4096; i++)
                assert_int_equal(f->ram[0x300000 + i], 0);
        assert_int_equal(f->ram[0x301000], 0x5a);
}

static void test_deflate(void **state)
{
        struct bfx *f = *state;

        offer(f, 1, 0, PFN_LIST, 8, 0);
        offer(f, 1, 1, PFN_LIST, 8, 0);
        assert_int_equal(run(f, 1), 2);
        assert_int_equal(nrec, 0);
        assert_int_equal(DELTA(f, deflate_count), 1);
}

static void put_stat(struct bfx *f, uint64_t gpa, uint16_t tag, uint64_t val)
{
        uint8_t s[10];

        memcpy(s, &tag, 2);
        memcpy(s + 2, &val, 8);
        guest_mem_write(&f->mem, gpa, s, 10);
}

static char *stats_text(struct bfx *f)
{
        struct err e = ERR_INIT;
        json_t *j = NULL;
        char *s;

        assert_int_equal(virtio_balloon_stats(f->b, &j, &e), 0);
        s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return s;
}

static void test_stats(void **state)
{
        struct bfx *f = *state;
        char *s;

        put_stat(f, PFN_LIST, 0, 11);       /* swap_in */
        put_stat(f, PFN_LIST + 10, 4, 44);  /* free_memory */
        put_stat(f, PFN_LIST + 20, 99, 1);  /* unknown */
        put_stat(f, PFN_LIST + 30, 15, 15); /* direct_reclaim */
        offer(f, 2, 0, PFN_LIST, 33, 0);    /* 3 whole stats and 3 bytes */
        assert_int_equal(run(f, 2), 0);     /* held until the timer */
        s = stats_text(f);
        assert_string_equal(s, "{\"target_pages\":1024,\"actual_pages\":0,\"target_mib\":4,"
                               "\"actual_mib\":0,\"swap_in\":11,\"free_memory\":44}");
        free(s);
        assert_int_equal(DELTA(f, stats_updates_count), 1);
        assert_int_equal(DELTA(f, stats_update_fails), 1);
        /* A second buffer hands the first back. */
        offer(f, 2, 1, PFN_LIST, 40, 0);
        assert_int_equal(run(f, 2), 1);
        s = stats_text(f);
        assert_non_null(strstr(s, "\"direct_reclaim\":15"));
        free(s);
        /* The timer hands the held one back (its read fails harmlessly: no timerfd here). */
        assert_int_equal(virtio_balloon_update_interval(f->b, 3, &(struct err)ERR_INIT), 0);
        assert_int_equal(td_used_idx(&f->t[2]), 2);
        /* An oversized buffer is held, not read. */
        offer(f, 2, 2, PFN_LIST, BALLOON_MAX_STATS_LEN + 10, 0);
        assert_int_equal(run(f, 2), 0);
        assert_true(f->b->stats_desc_held);
        /* An empty buffer (the walker drops it: no segment) reads nothing, and is held. */
        offer(f, 2, 3, PFN_LIST, 0, 0);
        assert_int_equal(run(f, 2), 1);
        assert_int_equal(f->b->stats_desc, 3);
}

static void test_patch_rules(void **state)
{
        struct bfx *f = *state;
        struct err e = ERR_INIT;
        uint32_t gen = mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG_GENERATION);

        assert_int_equal(virtio_balloon_update_size(f->b, 16, &e), 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG), 16 * 256);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG_GENERATION), gen + 1);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_INT_CONFIG);
        assert_int_equal(virtio_balloon_update_size(f->b, 17, &e), -EINVAL);
        assert_string_equal(e.msg, "Balloon: Requested memory should be less than 17MiB");
        e = (struct err)ERR_INIT;
        assert_int_equal(virtio_balloon_update_interval(f->b, 0, &e), -EINVAL);
        assert_string_equal(e.msg,
                            "Balloon: Statistics cannot be enabled/disabled after activation.");
        /* Before the driver: nothing to update. */
        recreate(f, (struct balloon_params){.amount_mib = 1}, false);
        e = (struct err)ERR_INIT;
        assert_int_equal(virtio_balloon_update_size(f->b, 2, &e), -EAGAIN);
        assert_string_equal(e.msg, "Balloon: Device not activated yet.");
        e = (struct err)ERR_INIT;
        json_t *j = NULL;
        assert_int_equal(virtio_balloon_stats(f->b, &j, &e), -ENOTSUP);
        assert_string_equal(e.msg, "Balloon: Received stats query when stats are disabled.");
        e = (struct err)ERR_INIT;
        assert_int_equal(virtio_balloon_hint_start(f->b, true, &e), -ENOTSUP);
        assert_string_equal(e.msg, "Balloon: Attempting to use hinting when not enabled");
        e = (struct err)ERR_INIT;
        assert_int_equal(virtio_balloon_update_interval(f->b, 5, &e), -EINVAL);
        struct err e2 = ERR_INIT;
        assert_int_equal(virtio_balloon_create(&(struct virtio_balloon *){NULL},
                                               &(struct balloon_params){.amount_mib = 16777216},
                                               &f->mem, NULL, &e2),
                         -EINVAL);
}

static void test_hinting(void **state)
{
        struct bfx *f = *state;
        struct err e = ERR_INIT;
        uint32_t cmd = 2;
        json_t *j = NULL;

        recreate(f, (struct balloon_params){.free_page_hinting = true}, true);
        assert_int_equal(virtio_balloon_hint_start(f->b, true, &e), 0);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 8), 2);
        /* The guest's command id, then two free ranges (one misaligned). */
        guest_mem_write(&f->mem, PFN_LIST, &cmd, 4);
        td_desc(&f->t[2], 0, PFN_LIST, 4, VRING_DESC_F_NEXT, 1);
        td_desc(&f->t[2], 1, 0x400000, 0x2000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 2);
        td_desc(&f->t[2], 2, 0x500800, 0x1000, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t[2], 0);
        assert_int_equal(run(f, 2), 1);
        assert_int_equal(nrec, 1);
        assert_int_equal(rec_off[0], 0x400000);
        assert_int_equal(rec_len[0], 0x2000);
        assert_int_equal(DELTA(f, free_page_hint_count), 2);
        assert_int_equal(DELTA(f, free_page_hint_freed), 0x2000);
        assert_int_equal(DELTA(f, free_page_hint_fails), 1);
        assert_int_equal(virtio_balloon_hint_status(f->b, &j, &e), 0);
        char *s = json_dumps(j, JSON_COMPACT);
        assert_string_equal(s, "{\"host_cmd\":2,\"guest_cmd\":2}");
        free(s);
        json_decref(j);
        /* The guest's STOP: acknowledged with DONE (acknowledge_on_stop). */
        cmd = 0;
        guest_mem_write(&f->mem, PFN_LIST, &cmd, 4);
        offer(f, 2, 3, PFN_LIST, 4, 0);
        assert_int_equal(run(f, 2), 1);
        assert_int_equal(mmio_rd32(&f->m, VIRTIO_MMIO_CONFIG + 8), BALLOON_HINT_CMD_DONE);
        /* Ranges after the run ended are dropped. */
        offer(f, 2, 4, 0x400000, 0x1000, VRING_DESC_F_WRITE);
        assert_int_equal(run(f, 2), 1);
        assert_int_equal(nrec, 1);
        assert_int_equal(virtio_balloon_hint_stop(f->b, &e), 0);
}

static void test_reporting(void **state)
{
        struct bfx *f = *state;

        recreate(f, (struct balloon_params){.free_page_reporting = true}, true);
        td_desc(&f->t[2], 0, 0x400000, 0x4000, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
        td_desc(&f->t[2], 1, 0x600000, 0x1000, VRING_DESC_F_WRITE, 0);
        td_offer(&f->t[2], 0);
        assert_int_equal(run(f, 2), 1);
        assert_int_equal(nrec, 2);
        assert_int_equal(rec_off[1], 0x600000);
        assert_int_equal(DELTA(f, free_page_report_count), 2);
        assert_int_equal(DELTA(f, free_page_report_freed), 0x5000);
        assert_int_equal(DELTA(f, free_page_report_fails), 0);
}

static void test_broken_ring(void **state)
{
        struct bfx *f = *state;

        td_desc(&f->t[0], 0, PFN_LIST, 4, VRING_DESC_F_NEXT, 0); /* a loop */
        td_offer(&f->t[0], 0);
        assert_int_equal(run(f, 0), 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        assert_int_equal(DELTA(f, event_fails), 1);
        /* A PFN list outside RAM is a broken ring too. */
        recreate(f, f->p, true);
        offer(f, 0, 0, MEM_SIZE + 0x1000, 4, 0);
        assert_int_equal(run(f, 0), 0);
        assert_true(mmio_rd32(&f->m, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
        assert_int_equal(nrec, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
            cmocka_unit_test(test_compact),
            cmocka_unit_test_setup_teardown(test_inflate_coalesces_and_stays_in_ram, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_inflate_skips_bad_descriptors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_inflate_more_than_the_buffer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_inflate_really_discards, setup, teardown),
            cmocka_unit_test_setup_teardown(test_deflate, setup, teardown),
            cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
            cmocka_unit_test_setup_teardown(test_patch_rules, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hinting, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reporting, setup, teardown),
            cmocka_unit_test_setup_teardown(test_broken_ring, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
