/* The event loop's freeze and thaw: what a paused microVM's devices see. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/evloop.h"

struct counted {
        struct ev_source src;
        int calls;
};

static void on_event(struct ev_source *src, uint32_t events)
{
        uint64_t v;

        (void)events;
        ((struct counted *)src->opaque)->calls++;
        assert_int_equal(read(src->fd, &v, sizeof(v)), sizeof(v));
}

static void make(struct counted *c, bool keep)
{
        c->calls = 0;
        c->src = (struct ev_source){.fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC),
                                    .fn = on_event,
                                    .opaque = c,
                                    .keep_running = keep};
        assert_true(c->src.fd >= 0);
}

static void fire(struct counted *c)
{
        uint64_t one = 1;

        assert_int_equal(write(c->src.fd, &one, sizeof(one)), sizeof(one));
}

static void test_frozen_sources_wait_for_the_thaw(void **state)
{
        struct counted dev, ctl;
        struct evloop l;

        (void)state;
        assert_int_equal(evloop_init(&l), 0);
        make(&dev, false);
        make(&ctl, true);
        assert_int_equal(evloop_add(&l, &dev.src, EPOLLIN), 0);
        assert_int_equal(evloop_add(&l, &ctl.src, EPOLLIN), 0);
        evloop_freeze(&l);
        fire(&dev);
        fire(&ctl);
        assert_int_equal(evloop_run_once(&l, 0), 2);
        assert_int_equal(ctl.calls, 1); /* a control source is still served */
        assert_int_equal(dev.calls, 0); /* a device source is parked, unhandled */
        assert_true(dev.src.parked);
        /* Parked: still readable, but out of epoll, so the loop does not spin on it. */
        assert_int_equal(evloop_run_once(&l, 0), 0);
        assert_int_equal(evloop_thaw(&l), 0);
        assert_false(dev.src.parked);
        assert_int_equal(evloop_run_once(&l, 0), 1);
        assert_int_equal(dev.calls, 1); /* what fired while frozen is served after the thaw */
        close(dev.src.fd);
        close(ctl.src.fd);
        evloop_fini(&l);
}

static void test_a_parked_source_can_be_removed_or_added_again(void **state)
{
        struct counted a, b;
        struct evloop l;

        (void)state;
        assert_int_equal(evloop_init(&l), 0);
        make(&a, false);
        make(&b, false);
        assert_int_equal(evloop_add(&l, &a.src, EPOLLIN), 0);
        assert_int_equal(evloop_add(&l, &b.src, EPOLLIN), 0);
        evloop_freeze(&l);
        fire(&a);
        fire(&b);
        assert_int_equal(evloop_run_once(&l, 0), 2);
        assert_true(a.src.parked && b.src.parked);
        evloop_del(&l, &a.src); /* off the parked list: the thaw must not watch it again */
        assert_false(a.src.registered);
        assert_int_equal(evloop_add(&l, &b.src, EPOLLIN), 0); /* watched again at once */
        assert_false(b.src.parked);
        assert_int_equal(evloop_thaw(&l), 0);
        assert_int_equal(evloop_run_once(&l, 0), 1);
        assert_int_equal(a.calls, 0);
        assert_int_equal(b.calls, 1);
        close(a.src.fd);
        close(b.src.fd);
        evloop_fini(&l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_frozen_sources_wait_for_the_thaw),
            cmocka_unit_test(test_a_parked_source_can_be_removed_or_added_again),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
