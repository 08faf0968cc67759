/* Boot payload loading: files into guest memory, then the boot-protocol structures. */
#include "vmm/vmm_boot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/x86_64/boot_params.h"
#include "core/hostfile.h"
#include "core/log.h"
#include "arch/x86_64/loader.h"
#include "arch/x86_64/mptable.h"
#include "arch/x86_64/regs.h"

static int read_all(int fd, uint8_t *buf, size_t len)
{
        size_t off = 0;

        while (off < len) {
                ssize_t n = read(fd, buf + off, len - off);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EIO; /* the file shrank under us */
                off += (size_t)n;
        }
        return 0;
}

int vmm_read_file(const char *what, const char *path, uint64_t max, uint8_t **buf, size_t *len,
                  struct err *e)
{
        struct stat st;
        int fd, rc;

        *buf = NULL;
        fd = hostfile_open(path, O_RDONLY);
        if (fd == -EINVAL)
                return err_set(e, -EINVAL, "%s %s is not a regular file", what, path);
        if (fd < 0)
                return err_set(e, fd, "cannot open %s %s: %s", what, path, strerror(-fd));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                rc = err_set(e, -EINVAL, "%s %s is not a regular file", what, path);
                goto out;
        }
        if ((uint64_t)st.st_size > max) {
                rc = err_set(e, -E2BIG, "%s %s is too large: %lld bytes, at most %llu", what, path,
                             (long long)st.st_size, (unsigned long long)max);
                goto out;
        }
        *len = (size_t)st.st_size;
        *buf = malloc(*len ? *len : 1);
        if (!*buf) {
                rc = err_set(e, -ENOMEM, "cannot allocate %zu bytes for %s", *len, what);
                goto out;
        }
        rc = read_all(fd, *buf, *len);
        if (rc) {
                err_set(e, rc, "cannot read %s %s: %s", what, path, strerror(-rc));
                free(*buf);
                *buf = NULL;
        }
out:
        close(fd);
        return rc;
}

/* A boot file, open for its loader. */
struct image {
        const char *what, *path;
        int fd;
        size_t len;
};

/*
 * Opens img's file (a regular file of at most max bytes: never a FIFO or device, which
 * hostfile_open() refuses without blocking) for a loader that reads it straight into guest
 * memory. Returns 0 or -errno (e set).
 */
static int image_open(struct image *img, uint64_t max, struct err *e)
{
        struct stat st;
        int rc;

        img->fd = hostfile_open(img->path, O_RDONLY);
        if (img->fd == -EINVAL)
                return err_set(e, -EINVAL, "%s %s is not a regular file", img->what, img->path);
        if (img->fd < 0)
                return err_set(e, img->fd, "cannot open %s %s: %s", img->what, img->path,
                               strerror(-img->fd));
        if (fstat(img->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                rc = err_set(e, -EINVAL, "%s %s is not a regular file", img->what, img->path);
                goto fail;
        }
        if ((uint64_t)st.st_size > max) {
                rc =
                    err_set(e, -E2BIG, "%s %s is too large: %lld bytes, guest memory is %llu bytes",
                            img->what, img->path, (long long)st.st_size, (unsigned long long)max);
                goto fail;
        }
        img->len = (size_t)st.st_size;
        return 0;
fail:
        close(img->fd);
        img->fd = -1;
        return rc;
}

/* After the loader ran with result rc: names the file in its error, closes it. */
static int image_done(struct image *img, int rc, struct err *e)
{
        if (rc)
                err_prefix(e, "cannot load %s %s: ", img->what, img->path);
        close(img->fd);
        return rc;
}

static int load_kernel(const struct guest_mem *mem, const char *path, struct kernel_info *ki,
                       struct err *e)
{
        struct image img = {.what = "kernel image", .path = path};
        int rc = image_open(&img, mem->total_bytes, e);

        if (rc)
                return rc;
        return image_done(&img, kernel_load_fd(mem, img.fd, img.len, ki, e), e);
}

static int load_initrd(const struct guest_mem *mem, const char *path, uint64_t kernel_end,
                       uint64_t *gpa, uint64_t *size, struct err *e)
{
        struct image img = {.what = "initrd", .path = path};
        int rc = image_open(&img, mem->total_bytes, e);

        if (rc)
                return rc;
        *size = img.len;
        return image_done(&img, initrd_load_fd(mem, img.fd, img.len, kernel_end, gpa, e), e);
}

/* The user's boot_args, then brasa's additions (devices, root=): never the other way round. */
static int build_cmdline(const struct vm_config *cfg, const char *extra, char *out, size_t outlen,
                         struct err *e)
{
        const char *user = cfg->boot.boot_args ? cfg->boot.boot_args : CONFIG_DEFAULT_BOOT_ARGS;
        int n;

        if (extra && extra[0])
                n = snprintf(out, outlen, "%s%s%s", user, user[0] ? " " : "", extra);
        else
                n = snprintf(out, outlen, "%s", user);
        if (n < 0 || (size_t)n >= outlen)
                return err_set(e, -E2BIG, "kernel command line is too long: max %llu bytes",
                               LAYOUT_CMDLINE_MAX_SIZE - 1);
        return 0;
}

/* The ACPI tables go right after the MP table, as Firecracker allocates both. */
static int write_acpi(const struct guest_mem *mem, unsigned int nr_vcpus,
                      const struct acpi_machine *acpi, struct err *e)
{
        struct acpi_machine m = *acpi;
        struct acpi_placement at;
        int rc;

        m.nr_vcpus = nr_vcpus;
        rc = acpi_write_tables(mem, LAYOUT_SYSTEM_MEM_START + mptable_size(nr_vcpus), &m, &at);
        if (rc)
                return err_set(e, rc, "cannot write ACPI tables: %s", strerror(-rc));
        log_debug("acpi: DSDT at 0x%llx, FADT 0x%llx, MADT 0x%llx, MCFG 0x%llx, XSDT 0x%llx, "
                  "RSDP 0x%llx",
                  (unsigned long long)at.dsdt, (unsigned long long)at.fadt,
                  (unsigned long long)at.madt, (unsigned long long)at.mcfg,
                  (unsigned long long)at.xsdt, (unsigned long long)at.rsdp);
        return 0;
}

static int write_boot_structures(const struct guest_mem *mem, const struct vm_config *cfg,
                                 const struct acpi_machine *acpi, const char *cmdline_extra,
                                 const struct kernel_info *ki, uint64_t initrd_gpa,
                                 uint64_t initrd_size, struct err *e)
{
        char cmdline[2 * LAYOUT_CMDLINE_MAX_SIZE];
        size_t cmdline_len;
        int rc;

        rc = build_cmdline(cfg, cmdline_extra, cmdline, sizeof(cmdline), e);
        if (rc)
                return rc;
        cmdline_len = strlen(cmdline);
        rc = cmdline_write(mem, cmdline, e);
        if (rc)
                return rc;
        if (ki->proto == BOOT_PROTO_PVH)
                rc = pvh_start_info_write(mem, cmdline_len, initrd_gpa, initrd_size);
        else
                rc = zero_page_write(mem, ki, cmdline_len, initrd_gpa, initrd_size);
        if (rc)
                return err_set(e, rc, "cannot write boot parameters: %s", strerror(-rc));
        rc = mptable_write(mem, cfg->machine.vcpu_count);
        if (rc)
                return err_set(e, rc, "cannot write MP table: %s", strerror(-rc));
        rc = write_acpi(mem, cfg->machine.vcpu_count, acpi, e);
        if (rc)
                return rc;
        rc = regs_write_boot_tables(mem, ki->proto == BOOT_PROTO_PVH);
        if (rc)
                return err_set(e, rc, "cannot write boot page tables: %s", strerror(-rc));
        return 0;
}

int vmm_boot_load_images(const struct guest_mem *mem, const struct vm_config *cfg,
                         struct vmm_boot_images *img, struct err *e)
{
        int rc;

        memset(img, 0, sizeof(*img));
        rc = load_kernel(mem, cfg->boot.kernel_image_path, &img->ki, e);
        if (rc || !cfg->boot.initrd_path)
                return rc;
        return load_initrd(mem, cfg->boot.initrd_path, img->ki.load_end, &img->initrd_gpa,
                           &img->initrd_size, e);
}

int vmm_boot_write(const struct guest_mem *mem, const struct vm_config *cfg,
                   const struct acpi_machine *acpi, const char *cmdline_extra,
                   const struct vmm_boot_images *img, struct vmm_boot_result *res, struct err *e)
{
        int rc;

        rc = write_boot_structures(mem, cfg, acpi, cmdline_extra, &img->ki, img->initrd_gpa,
                                   img->initrd_size, e);
        if (rc)
                return rc;
        res->pvh = img->ki.proto == BOOT_PROTO_PVH;
        res->entry = img->ki.entry;
        return 0;
}

int vmm_boot_load(const struct guest_mem *mem, const struct vm_config *cfg,
                  const struct acpi_machine *acpi, const char *cmdline_extra,
                  struct vmm_boot_result *res, struct err *e)
{
        struct vmm_boot_images img;
        int rc = vmm_boot_load_images(mem, cfg, &img, e);

        return rc ? rc : vmm_boot_write(mem, cfg, acpi, cmdline_extra, &img, res, e);
}
