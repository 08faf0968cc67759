/* Laying a Diff snapshot's memory file over the memory file it was taken on top of. */
#ifndef BRASA_SNAPSHOT_EDITOR_REBASE_H
#define BRASA_SNAPSHOT_EDITOR_REBASE_H

#include <stddef.h>

/*
 * Copies every data extent of the sparse diff file (found with SEEK_DATA/SEEK_HOLE: the holes
 * are the pages the Diff did not write) to the same offset of the memory file, which then
 * holds the Diff's memory. Returns 0, or -errno with Firecracker's words ("Could not open
 * memory file: No such file or directory (os error 2)") in msg (size bytes).
 */
int rebase_memory(const char *memory_path, const char *diff_path, char *msg, size_t size);

#endif
