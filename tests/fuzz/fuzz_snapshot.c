/* libFuzzer target: statefile_parse() on arbitrary bytes, raw and with magic and CRC made right. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/statefile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every indexed section must lie inside the buffer. */
static void check(const struct statefile *sf, const uint8_t *buf, size_t size)
{
        unsigned int i;

        for (i = 0; i < sf->nr; i++) {
                const struct statefile_section *s = &sf->sect[i];

                if (s->data < buf || s->len > size || (size_t)(s->data - buf) > size - s->len)
                        abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct statefile sf;
        uint8_t *copy;
        uint64_t crc;
        size_t i;

        if (statefile_parse(data, size, &sf, NULL) == 0)
                check(&sf, data, size);
        if (size < STATEFILE_HDR_SIZE + 8)
                return 0;
        /* The CRC gates everything else: make it match so the fuzzer reaches the sections. */
        copy = malloc(size);
        if (!copy)
                abort();
        memcpy(copy, data, size);
        memcpy(copy, STATEFILE_MAGIC, 8);
        crc = statefile_crc64(0, copy, size - 8);
        for (i = 0; i < 8; i++)
                copy[size - 8 + i] = (uint8_t)(crc >> (8 * i));
        if (statefile_parse(copy, size, &sf, NULL) == 0)
                check(&sf, copy, size);
        free(copy);
        return 0;
}
