/* VMClock: its page in guest memory and the restore-time generation bump. */
#include "devices/acpi/vmclock.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

int vmclock_init(struct vmclock *c, const struct guest_mem *mem, uint64_t gpa, uint32_t page_size,
                 unsigned int gsi, int irq_fd)
{
        c->gpa = gpa;
        c->gsi = gsi;
        c->irq_fd = irq_fd;
        memset(&c->abi, 0, sizeof(c->abi));
        c->abi.magic = VMCLOCK_MAGIC;
        c->abi.size = page_size;
        c->abi.version = 1;
        c->abi.counter_id = VMCLOCK_COUNTER_INVALID;
        c->abi.clock_status = VMCLOCK_STATUS_UNKNOWN;
        c->abi.flags = VMCLOCK_FLAG_VM_GEN_COUNTER_PRESENT | VMCLOCK_FLAG_NOTIFICATION_PRESENT;
        if (!guest_mem_ptr(mem, gpa, page_size))
                return -EFAULT;
        return guest_mem_write(mem, gpa, &c->abi, sizeof(c->abi));
}

/* Writes the host copy's field at off (size n) into the page. */
static int put_field(const struct vmclock *c, const struct guest_mem *mem, size_t off, size_t n)
{
        return guest_mem_write(mem, c->gpa + off, (const uint8_t *)&c->abi + off, n);
}

#define PUT(c, mem, field)                                                                         \
        put_field(c, mem, offsetof(struct vmclock_abi, field), sizeof((c)->abi.field))

int vmclock_restored(struct vmclock *c, const struct guest_mem *mem)
{
        const uint64_t one = 1;
        int rc;

        /* A guest reading while seq_count is odd, or changed under it, reads again. */
        c->abi.seq_count |= 1;
        rc = PUT(c, mem, seq_count);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        c->abi.disruption_marker++;
        c->abi.vm_generation_counter++;
        rc = rc ? rc : PUT(c, mem, disruption_marker);
        rc = rc ? rc : PUT(c, mem, vm_generation_counter);
        __atomic_thread_fence(__ATOMIC_RELEASE);
        c->abi.seq_count++;
        rc = rc ? rc : PUT(c, mem, seq_count);
        if (rc)
                return rc;
        if (write(c->irq_fd, &one, sizeof(one)) != sizeof(one))
                return -errno;
        return 0;
}
