/* libFuzzer target: kernel_load() and initrd_load() on arbitrary bytes into 64 MiB of guest RAM. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "arch/x86_64/layout.h"
#include "arch/x86_64/loader.h"
#include "arch/x86_64/mem_layout.h"
#include "core/guest_mem.h"

#define FUZZ_MEM_SIZE MiB(64)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static uint8_t *ram;
        static struct guest_mem mem;
        struct kernel_info ki;
        uint64_t gpa;
        struct err e;

        if (!ram) {
                ram = calloc(1, FUZZ_MEM_SIZE);
                if (!ram || mem_layout_map(&mem, ram, FUZZ_MEM_SIZE))
                        abort();
        }
        if (kernel_load(&mem, data, size, &ki, &e) == 0) {
                if (ki.load_end <= LAYOUT_HIMEM_START || ki.entry < LAYOUT_HIMEM_START)
                        abort();
                (void)initrd_load(&mem, data, size, ki.load_end, &gpa, &e);
        }
        return 0;
}
