/* stdout for the console and the log, never blocking the thread that writes to it. */
#ifndef BRASA_CORE_OUTFD_H
#define BRASA_CORE_OUTFD_H

/*
 * A descriptor for stdout on which write() never waits. A regular file, a block device or
 * another character device (/dev/null) is used as fd 1: writes to it do not wait on a
 * reader. A pipe, FIFO, terminal or socket is
 * reopened through /proc/self/fd/1 with O_NONBLOCK: its own open file description, so the
 * flags of the terminal or pipe shared with the parent stay as they were. Without /proc (a
 * jail) or for a socket, O_NONBLOCK is set on fd 1 itself and outfd_restore() clears it.
 * The first call decides, before any thread starts; later calls return the same fd.
 */
int outfd_stdout(void);

/* Puts back fd 1's flags if outfd_stdout() had to change them. At exit. */
void outfd_restore(void);

#endif
