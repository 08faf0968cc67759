/* The constant names rule files may use, taken from the system headers so values never drift. */
#define _GNU_SOURCE
#include "consts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/mman.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>

struct named {
        const char *name;
        uint64_t value;
};

#define C(x)                                                                                       \
        {                                                                                          \
#x, (uint64_t)(x)                                                                  \
        }

static const struct named consts[] = {
    /* KVM system, VM and vCPU ioctls (linux/kvm.h). */
    C(KVM_GET_API_VERSION),
    C(KVM_CREATE_VM),
    C(KVM_CHECK_EXTENSION),
    C(KVM_GET_VCPU_MMAP_SIZE),
    C(KVM_GET_SUPPORTED_CPUID),
    C(KVM_GET_MSR_INDEX_LIST),
    C(KVM_GET_MSR_FEATURE_INDEX_LIST),
    C(KVM_CREATE_VCPU),
    C(KVM_SET_USER_MEMORY_REGION),
    C(KVM_SET_TSS_ADDR),
    C(KVM_SET_IDENTITY_MAP_ADDR),
    C(KVM_CREATE_IRQCHIP),
    C(KVM_CREATE_PIT2),
    C(KVM_IRQFD),
    C(KVM_IOEVENTFD),
    C(KVM_IRQ_LINE),
    C(KVM_IRQ_LINE_STATUS),
    C(KVM_SET_GSI_ROUTING),
    C(KVM_SIGNAL_MSI),
    C(KVM_GET_IRQCHIP),
    C(KVM_SET_IRQCHIP),
    C(KVM_GET_CLOCK),
    C(KVM_SET_CLOCK),
    C(KVM_GET_PIT2),
    C(KVM_SET_PIT2),
    C(KVM_GET_DIRTY_LOG),
    C(KVM_ENABLE_CAP),
    C(KVM_RUN),
    C(KVM_GET_REGS),
    C(KVM_SET_REGS),
    C(KVM_GET_SREGS),
    C(KVM_SET_SREGS),
    C(KVM_TRANSLATE),
    C(KVM_GET_FPU),
    C(KVM_SET_FPU),
    C(KVM_GET_MSRS),
    C(KVM_SET_MSRS),
    C(KVM_SET_CPUID2),
    C(KVM_GET_CPUID2),
    C(KVM_GET_LAPIC),
    C(KVM_SET_LAPIC),
    C(KVM_GET_MP_STATE),
    C(KVM_SET_MP_STATE),
    C(KVM_GET_VCPU_EVENTS),
    C(KVM_SET_VCPU_EVENTS),
    C(KVM_GET_DEBUGREGS),
    C(KVM_SET_DEBUGREGS),
    C(KVM_GET_XSAVE),
    C(KVM_SET_XSAVE),
    C(KVM_GET_XCRS),
    C(KVM_SET_XCRS),
    C(KVM_GET_TSC_KHZ),
    C(KVM_SET_TSC_KHZ),
    C(KVM_KVMCLOCK_CTRL),
    C(KVM_SET_SIGNAL_MASK),
    C(KVM_NMI),
    C(KVM_INTERRUPT),
    /* Terminal, socket and tap ioctls. */
    C(TCGETS),
    C(TCSETS),
    C(TCSETSW),
    C(TCSETSF),
    C(TIOCGWINSZ),
    C(FIONBIO),
    C(FIONREAD),
    C(FIOCLEX),
    C(TUNSETIFF),
    /* userfaultfd ioctls (linux/userfaultfd.h): the Uffd snapshot backend. */
    C(UFFDIO_API),
    C(UFFDIO_REGISTER),
    C(UFFDIO_UNREGISTER),
    C(TUNGETIFF),
    C(TUNSETOFFLOAD),
    C(TUNSETVNETHDRSZ),
    C(TUNGETFEATURES),
    /* mmap, mprotect, madvise, mremap. */
    C(PROT_NONE),
    C(PROT_READ),
    C(PROT_WRITE),
    C(PROT_EXEC),
    C(MAP_SHARED),
    C(MAP_PRIVATE),
    C(MAP_FIXED),
    C(MAP_ANONYMOUS),
    C(MAP_NORESERVE),
    C(MAP_POPULATE),
    C(MAP_STACK),
    C(MAP_GROWSDOWN),
    C(MAP_HUGETLB),
    C(MAP_HUGE_2MB),
    C(MADV_DONTNEED),
    C(MADV_FREE),
    C(MADV_DONTDUMP),
    C(MADV_DODUMP),
    C(MADV_HUGEPAGE),
    C(MADV_NOHUGEPAGE),
    C(MADV_MERGEABLE),
    C(MADV_REMOVE),
    C(MREMAP_MAYMOVE),
    C(MREMAP_FIXED),
    C(MS_SYNC),
    /* futex operations and flags. */
    C(FUTEX_WAIT),
    C(FUTEX_WAKE),
    C(FUTEX_REQUEUE),
    C(FUTEX_CMP_REQUEUE),
    C(FUTEX_WAKE_OP),
    C(FUTEX_LOCK_PI),
    C(FUTEX_UNLOCK_PI),
    C(FUTEX_WAIT_BITSET),
    C(FUTEX_WAKE_BITSET),
    C(FUTEX_PRIVATE_FLAG),
    C(FUTEX_CLOCK_REALTIME),
    /* clone flags. */
    C(CLONE_VM),
    C(CLONE_FS),
    C(CLONE_FILES),
    C(CLONE_SIGHAND),
    C(CLONE_THREAD),
    C(CLONE_SYSVSEM),
    C(CLONE_SETTLS),
    C(CLONE_PARENT_SETTID),
    C(CLONE_CHILD_CLEARTID),
    C(CLONE_NEWNS),
    C(CLONE_NEWPID),
    C(CLONE_NEWNET),
    /* Signals (SIGRTMIN is glibc's run-time value: 34, the vCPU kick; glibc keeps 32 and 33). */
    {"SIGCANCEL", __SIGRTMIN},
    {"SIGSETXID", __SIGRTMIN + 1},
    C(SIGABRT),
    C(SIGSYS),
    C(SIGTERM),
    C(SIGINT),
    C(SIGHUP),
    C(SIGPIPE),
    C(SIG_BLOCK),
    C(SIG_UNBLOCK),
    C(SIG_SETMASK),
    /* Sockets. */
    C(AF_UNIX),
    C(AF_INET),
    C(AF_INET6),
    C(AF_NETLINK),
    C(AF_VSOCK),
    C(SOCK_STREAM),
    C(SOCK_DGRAM),
    C(SOCK_SEQPACKET),
    C(SOCK_CLOEXEC),
    C(SOCK_NONBLOCK),
    C(MSG_DONTWAIT),
    C(MSG_NOSIGNAL),
    C(MSG_PEEK),
    /* fcntl, open, eventfd, timerfd, epoll, clocks. */
    C(F_GETFD),
    C(F_SETFD),
    C(F_GETFL),
    C(F_SETFL),
    C(F_DUPFD_CLOEXEC),
    C(F_ADD_SEALS),
    C(FD_CLOEXEC),
    C(O_RDONLY),
    C(O_WRONLY),
    C(O_RDWR),
    C(O_CREAT),
    C(O_EXCL),
    C(O_TRUNC),
    C(O_APPEND),
    C(O_NONBLOCK),
    C(O_CLOEXEC),
    C(O_DIRECT),
    C(O_NOFOLLOW),
    C(EFD_CLOEXEC),
    C(EFD_NONBLOCK),
    C(SFD_CLOEXEC),
    C(SFD_NONBLOCK),
    C(TFD_CLOEXEC),
    C(TFD_NONBLOCK),
    C(EPOLL_CLOEXEC),
    C(GRND_NONBLOCK),
    C(EPOLL_CTL_ADD),
    C(EPOLL_CTL_DEL),
    C(EPOLL_CTL_MOD),
    C(CLOCK_REALTIME),
    C(CLOCK_MONOTONIC),
    C(CLOCK_PROCESS_CPUTIME_ID),
    C(CLOCK_THREAD_CPUTIME_ID),
    C(CLOCK_BOOTTIME),
    /* prctl and seccomp. */
    C(PR_SET_NAME),
    C(PR_GET_NAME),
    C(PR_SET_NO_NEW_PRIVS),
    C(PR_GET_NO_NEW_PRIVS),
    C(SECCOMP_SET_MODE_FILTER),
    /* errno values for "-> ERRNO" actions. */
    C(ENOSYS),
    C(EPERM),
    C(EACCES),
    C(EINVAL),
};

int consts_lookup(const char *name, uint64_t *value)
{
        size_t i;

        /* Not a constant in glibc: the run-time value of the libc brasa is built with. */
        if (strcmp(name, "SIGRTMIN") == 0) {
                *value = (uint64_t)SIGRTMIN;
                return 0;
        }
        for (i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) {
                if (strcmp(consts[i].name, name) == 0) {
                        *value = consts[i].value;
                        return 0;
                }
        }
        return -1;
}
