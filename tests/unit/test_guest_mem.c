/* Unit tests for guest_mem's host-side dirty log: what the accessor hands out is marked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/guest_mem.h"

#define PAGE  4096u
#define PAGES 64u

static uint8_t ram[PAGES * PAGE] __attribute__((aligned(4096)));

/* Two regions back to back in the mapping: 32 pages at 0, 32 pages at 4 GiB. */
static void attach(struct guest_mem *m)
{
        const struct guest_region layout[] = {{.gpa = 0, .size = 32 * PAGE},
                                              {.gpa = 1ull << 32, .size = 32 * PAGE}};

        assert_int_equal(guest_mem_attach(m, ram, layout, 2), 0);
}

static void test_off_marks_nothing(void **state)
{
        struct guest_mem m;
        unsigned char vec[PAGES] = {0};

        (void)state;
        attach(&m);
        assert_non_null(guest_mem_ptr(&m, 5 * PAGE, 10));
        guest_mem_take_dirty(&m, vec);
        for (unsigned int i = 0; i < PAGES; i++)
                assert_int_equal(vec[i], 0);
}

static void test_accessor_marks_every_page_of_a_range(void **state)
{
        struct guest_mem m;
        unsigned char vec[PAGES] = {0};
        uint8_t b = 1;

        (void)state;
        attach(&m);
        assert_int_equal(guest_mem_track_dirty(&m), 0);
        assert_non_null(guest_mem_ptr(&m, 3 * PAGE + 4000, 200));             /* pages 3 and 4 */
        assert_int_equal(guest_mem_write(&m, (1ull << 32) + PAGE, &b, 1), 0); /* page 33 */
        assert_null(guest_mem_ptr(&m, 31 * PAGE + 1, PAGE)); /* across the hole: refused */
        guest_mem_mark_dirty(&m, ram + 63 * PAGE, 1);        /* a cached pointer */
        guest_mem_take_dirty(&m, vec);
        for (unsigned int i = 0; i < PAGES; i++)
                assert_int_equal(vec[i], i == 3 || i == 4 || i == 33 || i == 63);
        /* Taking clears the log. */
        memset(vec, 0, sizeof(vec));
        guest_mem_take_dirty(&m, vec);
        for (unsigned int i = 0; i < PAGES; i++)
                assert_int_equal(vec[i], 0);
        guest_mem_destroy(&m); /* attached memory: not unmapped, the log freed */
}

static void test_take_without_vec_only_clears(void **state)
{
        struct guest_mem m;
        unsigned char vec[PAGES] = {0};

        (void)state;
        attach(&m);
        assert_int_equal(guest_mem_track_dirty(&m), 0);
        assert_non_null(guest_mem_ptr(&m, 0, 1));
        guest_mem_take_dirty(&m, NULL);
        guest_mem_take_dirty(&m, vec);
        assert_int_equal(vec[0], 0);
        guest_mem_destroy(&m);
        assert_null(m.dirty);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_off_marks_nothing),
            cmocka_unit_test(test_accessor_marks_every_page_of_a_range),
            cmocka_unit_test(test_take_without_vec_only_clears),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
