/* VMGenID: the generation ID in guest memory and its change notification. */
#include "devices/acpi/vmgenid.h"

#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

/*
 * 16 random bytes from the kernel's CSPRNG. Non-blocking, as the VMM thread's seccomp filter
 * requires: -EAGAIN only on a host whose pool is not seeded yet.
 */
static int new_id(uint8_t *id)
{
        size_t got = 0;
        ssize_t n;

        while (got < VMGENID_ID_SIZE) {
                n = getrandom(id + got, VMGENID_ID_SIZE - got, GRND_NONBLOCK);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                got += (size_t)n;
        }
        return 0;
}

int vmgenid_init(struct vmgenid *g, const struct guest_mem *mem, uint64_t gpa, unsigned int gsi,
                 int irq_fd)
{
        int rc;

        g->gpa = gpa;
        g->gsi = gsi;
        g->irq_fd = irq_fd;
        rc = new_id(g->id);
        if (rc)
                return rc;
        return guest_mem_write(mem, gpa, g->id, VMGENID_ID_SIZE);
}

int vmgenid_regenerate(struct vmgenid *g, const struct guest_mem *mem)
{
        const uint64_t one = 1;
        int rc = new_id(g->id);

        if (!rc)
                rc = guest_mem_write(mem, g->gpa, g->id, VMGENID_ID_SIZE);
        if (rc)
                return rc;
        /* The GED's _EVT turns this interrupt into Notify(VGEN, 0x80). */
        if (write(g->irq_fd, &one, sizeof(one)) != sizeof(one))
                return -errno;
        return 0;
}
