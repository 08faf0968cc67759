/* Unit tests for the KVM VM helpers that need a real VM: the settle of deferred frees. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "vmm/kvm_vm.h"

static int setup(void **state)
{
        struct kvm_vm *vm = calloc(1, sizeof(*vm));
        struct err e = ERR_INIT;

        assert_non_null(vm);
        if (kvm_vm_create(vm, &e))
                fail_msg("these tests need /dev/kvm (a KVM VM): %s", e.msg);
        *state = vm;
        return 0;
}

static int teardown(void **state)
{
        kvm_vm_destroy(*state);
        free(*state);
        return 0;
}

/* The settle's ioeventfd is gone again: a second settle could not register it otherwise. */
static void test_settle_leaves_nothing_registered(void **state)
{
        struct kvm_vm *vm = *state;

        assert_int_equal(kvm_vm_settle(vm->vm_fd), 0);
        assert_int_equal(kvm_vm_settle(vm->vm_fd), 0);
}

static void test_settle_of_no_vm_fails(void **state)
{
        (void)state;
        assert_int_equal(kvm_vm_settle(-1), -EBADF);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_settle_leaves_nothing_registered, setup, teardown),
            cmocka_unit_test(test_settle_of_no_vm_fails),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
