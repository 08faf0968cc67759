/* VMClock: a page of clock data for the guest, whose generation counter moves on restore. */
#ifndef BRASA_DEVICES_ACPI_VMCLOCK_H
#define BRASA_DEVICES_ACPI_VMCLOCK_H

#include <stdint.h>

#include "core/guest_mem.h"

/* The page's ABI (Linux's include/uapi/linux/vmclock-abi.h, version 1): 112 bytes. */
struct vmclock_abi {
        uint32_t magic; /* VMCLOCK_MAGIC */
        uint32_t size;  /* the page */
        uint16_t version;
        uint8_t counter_id;
        uint8_t time_type;
        uint32_t seq_count; /* odd while the host updates the page */
        uint64_t disruption_marker;
        uint64_t flags;
        uint8_t pad[2];
        uint8_t clock_status;
        uint8_t leap_second_smearing_hint;
        uint16_t tai_offset_sec;
        uint8_t leap_indicator;
        uint8_t counter_period_shift;
        uint64_t counter_value;
        uint64_t counter_period_frac_sec;
        uint64_t counter_period_esterror_rate_frac_sec;
        uint64_t counter_period_maxerror_rate_frac_sec;
        uint64_t time_sec;
        uint64_t time_frac_sec;
        uint64_t time_esterror_nanosec;
        uint64_t time_maxerror_nanosec;
        uint64_t vm_generation_counter;
};
_Static_assert(sizeof(struct vmclock_abi) == 112, "vmclock_abi is 112 bytes");

#define VMCLOCK_MAGIC                       0x4b4c4356u /* "VCLK" */
#define VMCLOCK_COUNTER_INVALID             0xff
#define VMCLOCK_STATUS_UNKNOWN              0
#define VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT (1ULL << 8)
#define VMCLOCK_FLAG_NOTIFICATION_PRESENT   (1ULL << 9)

/*
 * The device as Firecracker has it: no clock information (status unknown, no counter),
 * only the VM generation counter and its notification through the GED's interrupt on gsi.
 * The host's copy is what brasa writes; a guest writing the page changes nothing here.
 * VMM thread only.
 */
struct vmclock {
        uint64_t gpa;     /* LAYOUT_VMCLOCK_START: one page */
        unsigned int gsi; /* raised through irq_fd */
        int irq_fd;       /* not owned: the KVM irqfd of gsi */
        struct vmclock_abi abi;
};

/*
 * Sets up c for a new VM and writes the page's data at gpa (size = page_size). Returns 0
 * or -EFAULT when [gpa, gpa + page_size) is not guest RAM.
 */
int vmclock_init(struct vmclock *c, const struct guest_mem *mem, uint64_t gpa, uint32_t page_size,
                 unsigned int gsi, int irq_fd);

/*
 * For a restored snapshot: under the sequence counter (odd while it writes), moves the
 * disruption marker and the VM generation counter on, then raises the interrupt. Returns 0
 * or -errno.
 */
int vmclock_restored(struct vmclock *c, const struct guest_mem *mem);

#endif
