/* Unit tests for the MP table: signature, checksums, entries, placement, limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_layout.h"
#include "arch/x86_64/mptable.h"

#define MEM_BYTES MiB(1)

struct fixture {
        uint8_t *buf;
        struct guest_mem m;
};

static int setup(void **state)
{
        struct fixture *f = test_calloc(1, sizeof(*f));

        f->buf = test_calloc(1, MEM_BYTES);
        assert_int_equal(mem_layout_map(&f->m, f->buf, MEM_BYTES), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        test_free(f->buf);
        test_free(f);
        return 0;
}

static uint8_t sum(const uint8_t *p, size_t len)
{
        uint8_t s = 0;

        while (len--)
                s = (uint8_t)(s + *p++);
        return s;
}

static int all_zero(const uint8_t *p, size_t len)
{
        while (len--) {
                if (*p++)
                        return 0;
        }
        return 1;
}

static uint16_t rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
        return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
               ((uint32_t)p[3] << 24);
}

/* Like Linux: scan 16-byte boundaries of the last KiB of base memory for "_MP_". */
static uint64_t find_floating(const uint8_t *buf)
{
        uint64_t a;

        for (a = 0x9fc00; a < 0xa0000; a += 16) {
                if (!memcmp(buf + a, "_MP_", 4))
                        return a;
        }
        return 0;
}

struct counts {
        unsigned int cpus, bsps, buses, ioapics, ioints, lints;
};

/* Walks the base-table entries; checks each against what mptable_write promises. */
static void walk(const uint8_t *p, const uint8_t *end, unsigned int n, struct counts *c)
{
        memset(c, 0, sizeof(*c));
        while (p < end) {
                switch (p[0]) {
                case 0:
                        assert_int_equal(p[1], c->cpus);
                        assert_int_equal(p[2], 0x14);
                        assert_true(p[3] & 1);
                        c->bsps += !!(p[3] & 2);
                        if (p[3] & 2)
                                assert_int_equal(p[1], 0);
                        c->cpus++;
                        p += 20;
                        continue;
                case 1:
                        assert_memory_equal(p + 2, "ISA   ", 6);
                        c->buses++;
                        break;
                case 2:
                        assert_int_equal(p[1], n);
                        assert_int_equal(p[2], 0x11);
                        assert_int_equal(p[3], 1);
                        assert_int_equal(rd32(p + 4), 0xfec00000);
                        c->ioapics++;
                        break;
                case 3:
                        assert_int_equal(p[1], 0); /* INT */
                        assert_int_equal(p[4], 0); /* bus 0 */
                        assert_int_equal(p[5], c->ioints);
                        assert_int_equal(p[6], n);
                        assert_int_equal(p[7], c->ioints);
                        c->ioints++;
                        break;
                case 4:
                        assert_int_equal(p[1], c->lints == 0 ? 3 : 1); /* ExtINT, NMI */
                        assert_int_equal(p[7], c->lints);              /* LINT0, LINT1 */
                        c->lints++;
                        break;
                default:
                        fail_msg("unknown entry type %u", p[0]);
                }
                p += 8;
        }
        assert_ptr_equal(p, end);
}

static void check_table(const uint8_t *buf, unsigned int n)
{
        uint64_t fp = find_floating(buf), cfg;
        const uint8_t *t;
        struct counts c;
        uint16_t len;

        assert_int_equal(fp, LAYOUT_SYSTEM_MEM_START);
        assert_int_equal(sum(buf + fp, 16), 0);
        assert_int_equal(buf[fp + 8], 1); /* length in paragraphs */
        assert_int_equal(buf[fp + 9], 4); /* spec 1.4 */
        cfg = rd32(buf + fp + 4);
        t = buf + cfg;
        assert_memory_equal(t, "PCMP", 4);
        len = rd16(t + 4);
        assert_int_equal(sum(t, len), 0);
        assert_int_equal(t[6], 4);
        assert_memory_equal(t + 8, "FC      ", 8);
        assert_int_equal(rd32(t + 36), 0xfee00000);
        assert_int_equal(rd16(t + 34), n + 1 + 1 + 24 + 2); /* entry count */
        assert_true(cfg >= LAYOUT_SYSTEM_MEM_START);
        assert_true(cfg + len <= LAYOUT_SYSTEM_MEM_START + LAYOUT_SYSTEM_MEM_SIZE);
        assert_int_equal(16 + len, mptable_size(n));
        walk(t + 44, t + len, n, &c);
        assert_int_equal(c.cpus, n);
        assert_int_equal(c.bsps, 1);
        assert_int_equal(c.buses, 1);
        assert_int_equal(c.ioapics, 1);
        assert_int_equal(c.ioints, 24);
        assert_int_equal(c.lints, 2);
}

static void test_sizes(void **state)
{
        static const unsigned int ns[] = {1, 2, 4, 32, 254};
        struct fixture *f = *state;
        size_t i;

        for (i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
                memset(f->buf, 0, MEM_BYTES);
                assert_int_equal(mptable_write(&f->m, ns[i]), 0);
                check_table(f->buf, ns[i]);
                /* Nothing outside the table was written. */
                assert_true(all_zero(f->buf, LAYOUT_SYSTEM_MEM_START));
                assert_true(all_zero(f->buf + LAYOUT_SYSTEM_MEM_START + mptable_size(ns[i]),
                                     MEM_BYTES - LAYOUT_SYSTEM_MEM_START - mptable_size(ns[i])));
        }
}

static void test_rejects(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(mptable_write(&f->m, 0), -EINVAL);
        assert_int_equal(mptable_write(&f->m, 255), -EINVAL);
        assert_int_equal(mptable_size(0), 0);
        assert_int_equal(mptable_size(255), 0);
        assert_true(all_zero(f->buf, MEM_BYTES));
}

static void test_too_little_ram(void **state)
{
        struct guest_mem small;
        uint8_t *buf = test_calloc(1, KiB(636));

        (void)state;
        assert_int_equal(mem_layout_map(&small, buf, KiB(636)), 0);
        assert_int_equal(mptable_write(&small, 1), -ENOSPC);
        test_free(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_sizes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
            cmocka_unit_test(test_too_little_ram),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
