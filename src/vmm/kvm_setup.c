/* KVM set-up thread: builds the VM, guest RAM, slots and vCPUs while the API serves or files load.
 */
#include "vmm/kvm_setup.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "arch/x86_64/mem_layout.h"
#include "core/log.h"
#include "core/timeline.h"
#include "core/textpages.h"
#include "seccomp/seccomp.h"

/*
 * The thread's stack: its deepest path is a log line (a 2 KiB buffer) under KVM and mmap calls,
 * or the SIGSYS report; 64 KiB leaves room for both and costs no RSS until touched.
 */
#define KVM_SETUP_STACK (64u << 10)

void kvm_setup_want_of(const struct vm_config *cfg, bool mem, struct kvm_setup_want *w)
{
        *w = (struct kvm_setup_want){
            .mem = mem,
            .mem_mib = mem ? cfg->machine.mem_size_mib : 0,
            .huge_pages = mem ? cfg->machine.huge_pages : HUGE_PAGES_NONE,
            .dirty_log = cfg->machine.track_dirty_pages,
            .nr_vcpus = cfg->machine.vcpu_count,
        };
}

static bool want_eq(const struct kvm_setup_want *a, const struct kvm_setup_want *b)
{
        return a->mem == b->mem && a->mem_mib == b->mem_mib && a->huge_pages == b->huge_pages &&
               a->dirty_log == b->dirty_log && a->nr_vcpus == b->nr_vcpus;
}

/* Whether what was built can grow into w with nothing built changing (vCPUs only add). */
static bool want_reusable(const struct kvm_setup_want *built, const struct kvm_setup_want *w)
{
        if (built->dirty_log != w->dirty_log && built->mem)
                return false;
        if (built->mem &&
            (!w->mem || built->mem_mib != w->mem_mib || built->huge_pages != w->huge_pages))
                return false;
        /* Slots added after the irqchip are slow: a VM with vCPUs (so an irqchip) and no
         * RAM is not grown, it is rebuilt. */
        if (built->nr_vcpus && !built->mem && w->mem)
                return false;
        return built->nr_vcpus <= w->nr_vcpus;
}

static void res_init(struct kvm_setup_res *r)
{
        memset(r, 0, sizeof(*r));
        r->vm.kvm_fd = r->vm.vm_fd = -1;
}

void kvm_setup_release_res(struct kvm_setup_res *r)
{
        unsigned int i;

        for (i = 0; i < r->nr_vcpus; i++)
                vcpu_destroy(&r->vcpus[i]);
        guest_mem_destroy(&r->mem);
        free(r->cpuid);
        kvm_vm_destroy(&r->vm);
        res_init(r);
}

void kvm_setup_init(struct kvm_setup *s, const struct vcpu_env *env)
{
        memset(s, 0, sizeof(*s));
        pthread_mutex_init(&s->mu, NULL);
        pthread_cond_init(&s->cv, NULL);
        res_init(&s->res);
        s->env = env;
        s->settle_fd = -1;
}

int kvm_setup_check_mem(uint64_t mem_mib, struct err *e)
{
        struct sysinfo si;
        uint64_t host;
        int rc;

        rc = config_check_mem_limit(mem_mib, e);
        if (rc)
                return rc;
        if (sysinfo(&si) < 0)
                return 0; /* can't tell: let mmap decide */
        host = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
        if ((mem_mib << 20) > host)
                return err_set(e, -ENOMEM,
                               "mem_size_mib %llu exceeds the host's memory (%llu MiB RAM + swap)",
                               (unsigned long long)mem_mib, (unsigned long long)(host >> 20));
        return 0;
}

/* Firecracker's text for a failed guest RAM mmap (musl's strerror for ENOMEM), and for
 * hugetlbfs what to do about it. */
int kvm_setup_map_error(uint64_t mem_mib, enum huge_pages hp, int rc, struct err *e)
{
        const char *why = rc == -ENOMEM ? "Out of memory" : strerror(-rc);

        if (hp == HUGE_PAGES_2M && rc == -ENOMEM)
                return err_set(e, rc,
                               "Invalid Memory Configuration: Cannot create mmap region: %s (os "
                               "error %d). huge_pages \"2M\" needs %llu free 2 MiB pages in the "
                               "host's hugetlbfs pool (HugePages_Free in /proc/meminfo); reserve "
                               "them with: echo N > /proc/sys/vm/nr_hugepages",
                               why, -rc, (unsigned long long)(mem_mib / 2));
        return err_set(e, rc,
                       "Invalid Memory Configuration: Cannot create mmap region: %s (os error %d)",
                       why, -rc);
}

/* machine-config huge_pages as guest_mem's backing. */
static enum guest_mem_pages mem_pages(enum huge_pages hp)
{
        if (hp == HUGE_PAGES_2M)
                return GUEST_MEM_PAGES_HUGETLB;
        return hp == HUGE_PAGES_TRANSPARENT ? GUEST_MEM_PAGES_THP : GUEST_MEM_PAGES_4K;
}

int kvm_setup_map_ram(struct guest_mem *mem, uint64_t mem_mib, enum huge_pages hp, struct err *e)
{
        int rc = kvm_setup_check_mem(mem_mib, e);

        if (rc)
                return rc;
        rc = mem_layout_map_paged(mem, mem_mib << 20, mem_pages(hp));
        return rc ? kvm_setup_map_error(mem_mib, hp, rc, e) : 0;
}

static int setup_map(struct kvm_setup_res *r, const struct kvm_setup_want *w, struct err *e)
{
        return kvm_setup_map_ram(&r->mem, w->mem_mib, w->huge_pages, e);
}

/* Waits for an ended (or ending) thread, off InstanceStart's path. */
/* Sets *flag (s->quit or s->parked) under mu and wakes the thread. */
static void setup_tell(struct kvm_setup *s, bool *flag)
{
        pthread_mutex_lock(&s->mu);
        *flag = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
}

static void setup_join(struct kvm_setup *s)
{
        if (!s->joinable)
                return;
        setup_tell(s, &s->quit); /* a parked thread waits for a settle or for this */
        pthread_join(s->thread, NULL);
        s->joinable = false;
}

static void setup_mem_ready(struct kvm_setup *s)
{
        pthread_mutex_lock(&s->mu);
        s->mem_ready = true;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
}

/*
 * One round toward w, on the thread (or inline): RAM first, so that a waiting caller can load
 * the kernel during the slow ioctls, then the VM, its slots and the missing vCPUs.
 */
static int setup_round(struct kvm_setup *s, const struct kvm_setup_want *w, struct err *e)
{
        struct kvm_setup_res *r = &s->res;
        bool slots = s->has_built && s->built.mem;
        int rc;

        if (w->mem && r->mem.nr_regions == 0) {
                rc = setup_map(r, w, e);
                if (rc)
                        return rc;
        }
        setup_mem_ready(s);
        if (r->vm.vm_fd < 0) {
                rc = kvm_vm_create_empty(&r->vm, e);
                if (rc)
                        return rc;
                /* Over a millisecond on kvm_pvm, and the same for every machine-config. */
                r->cpuid = vcpu_supported_cpuid(&r->vm);
                if (!r->cpuid)
                        return err_set(e, -EINVAL, "KVM_GET_SUPPORTED_CPUID failed");
        }
        /* The slots before the irqchip: the order that keeps KVM_SET_USER_MEMORY_REGION fast. */
        if (w->mem && !slots) {
                rc = kvm_vm_set_memory(&r->vm, &r->mem, w->dirty_log);
                if (rc)
                        return err_set(e, rc, "KVM_SET_USER_MEMORY_REGION failed: %s",
                                       strerror(-rc));
        }
        return w->nr_vcpus ? kvm_setup_vcpus(r, w->nr_vcpus, s->env, e) : 0;
}

int kvm_setup_vcpus(struct kvm_setup_res *r, unsigned int nr, const struct vcpu_env *env,
                    struct err *e)
{
        int rc;

        if (!r->irqchip) {
                rc = kvm_vm_add_irqchip(&r->vm, e);
                if (rc)
                        return rc;
                r->irqchip = true;
        }
        for (; r->nr_vcpus < nr; r->nr_vcpus++) {
                rc = vcpu_create(&r->vcpus[r->nr_vcpus], &r->vm, r->nr_vcpus, env);
                if (rc)
                        return err_set(e, rc, "cannot create vCPU %u: %s", r->nr_vcpus,
                                       strerror(-rc));
        }
        return 0;
}

/* A round with its bookkeeping: what does not fit w is dropped first; a failure drops all. */
static int setup_run_round(struct kvm_setup *s, const struct kvm_setup_want *w, struct err *e)
{
        unsigned long long t0 = timeline_now_ns(), t1;
        int rc;

        if (s->has_built && !want_reusable(&s->built, w)) {
                kvm_setup_release_res(&s->res);
                s->has_built = false;
        }
        rc = setup_round(s, w, e);
        if (rc) {
                kvm_setup_release_res(&s->res);
                s->has_built = false;
        } else {
                s->built = *w;
                s->has_built = true;
        }
        t1 = timeline_now_ns();
        timeline_setup_thread(t1 - t0, t1);
        return rc;
}

/* Under mu: the round for w ended (rc, e kept), or w's RAM is ready within the current one. */
static bool round_done(const struct kvm_setup *s, const struct kvm_setup_want *w)
{
        return !s->busy && s->has_round && want_eq(&s->cur, w);
}

/*
 * Parked (its result taken): waits for kvm_setup_settle()'s VM fd or for the end, and settles
 * that VM (mu held on entry and exit).
 */
static void setup_parked(struct kvm_setup *s)
{
        int fd;

        while (!s->quit && s->settle_fd < 0)
                pthread_cond_wait(&s->cv, &s->mu);
        if (s->quit)
                return;
        fd = s->settle_fd;
        pthread_mutex_unlock(&s->mu);
        kvm_vm_settle(fd);
        /* This ran after the boot's drop of brasa's read-only pages: drop them once more. */
        textpages_release();
        pthread_mutex_lock(&s->mu);
}

static void *setup_thread(void *arg)
{
        struct kvm_setup *s = arg;
        struct kvm_setup_want w;
        struct err e;
        int rc, filter;

        log_set_thread_name("fc_kvm_setup");
        filter = seccomp_apply_setup();
        pthread_mutex_lock(&s->mu);
        while (!s->quit) {
                if (s->parked) {
                        setup_parked(s);
                        break;
                }
                if (round_done(s, &s->want)) {
                        pthread_cond_wait(&s->cv, &s->mu);
                        continue;
                }
                w = s->cur = s->want;
                s->busy = true;
                s->mem_ready = false;
                pthread_mutex_unlock(&s->mu);
                e = (struct err)ERR_INIT;
                rc = filter ? err_set(&e, filter,
                                      "KVM set-up thread: cannot install the seccomp filter: %s",
                                      strerror(-filter))
                            : setup_run_round(s, &w, &e);
                pthread_mutex_lock(&s->mu);
                s->rc = rc;
                s->e = e;
                s->has_round = true;
                s->busy = false;
                pthread_cond_broadcast(&s->cv);
        }
        pthread_mutex_unlock(&s->mu);
        return NULL;
}

/* Starts the thread with every signal blocked (the VMM thread's signalfd takes them). */
static int setup_start(struct kvm_setup *s)
{
        pthread_attr_t attr;
        sigset_t all, old;
        int rc;

        if (pthread_attr_init(&attr))
                return -ENOMEM;
        rc = -pthread_attr_setstacksize(&attr, KVM_SETUP_STACK);
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        if (!rc)
                rc = -pthread_create(&s->thread, &attr, setup_thread, s);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (rc)
                return rc;
        s->running = s->joinable = true;
        return 0;
}

void kvm_setup_request(struct kvm_setup *s, const struct kvm_setup_want *w)
{
        int rc;

        pthread_mutex_lock(&s->mu);
        s->want = *w;
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (s->running)
                return;
        setup_join(s); /* a thread an earlier kvm_setup_take() parked */
        s->quit = s->parked = false;
        s->settle_fd = -1;
        rc = setup_start(s);
        if (rc) /* kvm_setup_take() builds on the VMM thread instead */
                log_debug("no KVM set-up thread: %s", strerror(-rc));
}

/* Without a thread: the round on the calling thread, with the same bookkeeping. */
static void setup_inline(struct kvm_setup *s, const struct kvm_setup_want *w)
{
        s->cur = *w;
        s->e = (struct err)ERR_INIT;
        s->rc = setup_run_round(s, w, &s->e);
        s->has_round = true;
}

int kvm_setup_wait_memory(struct kvm_setup *s, const struct kvm_setup_want *w,
                          const struct guest_mem **mem, struct err *e)
{
        int rc = 0;

        kvm_setup_request(s, w);
        if (!s->running && !round_done(s, w))
                setup_inline(s, w);
        pthread_mutex_lock(&s->mu);
        while (!round_done(s, w) && !(s->busy && want_eq(&s->cur, w) && s->mem_ready))
                pthread_cond_wait(&s->cv, &s->mu);
        if (round_done(s, w) && s->rc) {
                rc = s->rc;
                *e = s->e;
        }
        pthread_mutex_unlock(&s->mu);
        *mem = &s->res.mem;
        return rc;
}

/* Ends the thread's rounds: from now on it only waits for kvm_setup_settle() or its end. */
static void setup_park(struct kvm_setup *s)
{
        setup_tell(s, &s->parked);
        s->running = false;
}

int kvm_setup_take(struct kvm_setup *s, const struct kvm_setup_want *w, struct kvm_setup_res *out,
                   struct err *e)
{
        int rc;

        kvm_setup_request(s, w);
        if (!s->running && !round_done(s, w))
                setup_inline(s, w);
        pthread_mutex_lock(&s->mu);
        while (!round_done(s, w))
                pthread_cond_wait(&s->cv, &s->mu);
        rc = s->rc;
        if (rc)
                *e = s->e;
        pthread_mutex_unlock(&s->mu);
        if (s->running)
                setup_park(s); /* joined later: its exit is no part of the boot */
        *out = s->res;
        res_init(&s->res);
        s->has_built = s->has_round = false;
        return rc;
}

bool kvm_setup_settle(struct kvm_setup *s, int vm_fd)
{
        bool ok;

        if (!s->joinable)
                return false;
        pthread_mutex_lock(&s->mu);
        ok = s->parked && !s->quit && s->settle_fd < 0;
        if (ok) {
                s->settle_fd = vm_fd;
                pthread_cond_broadcast(&s->cv);
        }
        pthread_mutex_unlock(&s->mu);
        return ok;
}

void kvm_setup_join_parked(struct kvm_setup *s)
{
        if (!s->running)
                setup_join(s);
}

void kvm_setup_stop(struct kvm_setup *s)
{
        s->running = false;
        setup_join(s); /* after its current round: the thread checks quit between rounds */
        kvm_setup_release_res(&s->res);
        s->has_built = s->has_round = false;
}
