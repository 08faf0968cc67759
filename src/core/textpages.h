/* Handing back the pages of brasa's own read-only segments (code, constants) once it booted. */
#ifndef BRASA_CORE_TEXTPAGES_H
#define BRASA_CORE_TEXTPAGES_H

/*
 * Drops this process's mappings of the pages of its loaded, never-written segments (PT_LOAD
 * without PF_W: code, read-only data): the set-up code that built the VM is mapped no more,
 * and what runs later faults its pages back from the page cache. Written segments (data,
 * RELRO, bss) are never touched. Returns how many bytes it covered.
 */
unsigned long textpages_release(void);

#endif
