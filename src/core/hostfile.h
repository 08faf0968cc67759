/* Opening the host files behind guest resources (kernel, initrd, disks) without ever blocking. */
#ifndef BRASA_CORE_HOSTFILE_H
#define BRASA_CORE_HOSTFILE_H

/* What a caller says when hostfile_open() refused the kind of file (it returned -EINVAL). */
#define HOSTFILE_BAD_TYPE "is not a regular file or block device"

/*
 * Opens path for a guest resource: flags is O_RDONLY or O_RDWR (O_CLOEXEC and O_NOCTTY are
 * added). The open itself is O_NONBLOCK, so a FIFO without a writer (or a device that waits)
 * cannot stall the calling thread, then anything that is not a regular file or a block device
 * is refused and O_NONBLOCK is cleared again. Returns the fd, -EINVAL for a refused kind of
 * file (say HOSTFILE_BAD_TYPE), or -errno from open(2), fstat(2) or fcntl(2).
 */
int hostfile_open(const char *path, int flags);

#endif
