/* Unit tests for the MSR fix-up a vCPU restore applies (vcpu_state_fix_msrs). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vmm/vcpu_state.h"

#define TSC      0x10u
#define DEADLINE 0x6e0u
#define STAR     0xc0000081u

static void deadline_moves_after_the_tsc(void **state)
{
        struct kvm_msr_entry m[] = {{.index = DEADLINE, .data = 500},
                                    {.index = STAR, .data = 7},
                                    {.index = TSC, .data = 100}};

        (void)state;
        vcpu_state_fix_msrs(m, 3);
        assert_int_equal(m[0].index, STAR);
        assert_int_equal(m[0].data, 7);
        assert_int_equal(m[1].index, TSC);
        assert_int_equal(m[1].data, 100);
        assert_int_equal(m[2].index, DEADLINE);
        assert_int_equal(m[2].data, 500); /* an armed deadline is kept as it was */
}

static void zero_deadline_becomes_the_tsc(void **state)
{
        struct kvm_msr_entry m[] = {{.index = TSC, .data = 0x33c77af0b3a6},
                                    {.index = DEADLINE, .data = 0},
                                    {.index = STAR}};

        (void)state;
        vcpu_state_fix_msrs(m, 3);
        assert_int_equal(m[0].index, TSC);
        assert_int_equal(m[1].index, STAR);
        assert_int_equal(m[2].index, DEADLINE);
        assert_int_equal(m[2].data, 0x33c77af0b3a6);
}

static void without_a_deadline_nothing_changes(void **state)
{
        struct kvm_msr_entry m[] = {{.index = STAR, .data = 1}, {.index = TSC, .data = 2}};

        (void)state;
        vcpu_state_fix_msrs(m, 2);
        assert_int_equal(m[0].index, STAR);
        assert_int_equal(m[1].index, TSC);
        assert_int_equal(m[1].data, 2);
        vcpu_state_fix_msrs(m, 0);
}

static void without_a_tsc_a_zero_deadline_stays_zero(void **state)
{
        struct kvm_msr_entry m[] = {{.index = DEADLINE, .data = 0}, {.index = STAR, .data = 1}};

        (void)state;
        vcpu_state_fix_msrs(m, 2);
        assert_int_equal(m[0].index, STAR);
        assert_int_equal(m[1].index, DEADLINE);
        assert_int_equal(m[1].data, 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(deadline_moves_after_the_tsc),
            cmocka_unit_test(zero_deadline_becomes_the_tsc),
            cmocka_unit_test(without_a_deadline_nothing_changes),
            cmocka_unit_test(without_a_tsc_a_zero_deadline_stays_zero),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
