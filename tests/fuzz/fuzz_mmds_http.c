/* libFuzzer target: guest bytes -> mmds_http_answer() (V1/V2, IMDS on or off, a fixed store). */
#define _GNU_SOURCE /* memmem */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "mmds/mmds_service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char store_text[] =
    "{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-12345678\", \"tags\": [\"a\", {\"b\": 1.5}],"
    " \"n\": 42, \"e\": {}}}, \"a/b~c\": \"x\\u0000y\\n\", \"list\": [0, [1, [2]]]}";

/* The answer must be one whole micro_http response whose Content-Length is its body's. */
static void check(const uint8_t *resp, size_t n)
{
        const char *s = (const char *)resp, *end, *cl;
        size_t head;

        end = memmem(s, n, "\r\n\r\n", 4);
        cl = memmem(s, n, "Content-Length: ", 16);
        if (n < 13 || memcmp(s, "HTTP/1.", 7) != 0 || !end || !cl || cl > end)
                abort();
        head = (size_t)(end + 4 - s);
        if (strtoull(cl + 16, NULL, 10) != n - head)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct mmds_service svcs[4];
        static json_t *store;
        struct mmds_cfg cfg = {.present = true};
        uint8_t *resp = NULL;
        size_t n = 0;
        unsigned int i;

        if (!store) {
                log_set_level(LOG_ERROR);
                store = json_loads(store_text, JSON_ALLOW_NUL, NULL);
                for (i = 0; i < 4; i++) {
                        cfg.version = 1 + (i & 1);
                        cfg.imds_compat = i & 2;
                        if (!store || mmds_service_start(&svcs[i], &store, &cfg, "fuzz"))
                                abort();
                }
        }
        if (size == 0)
                return 0;
        /* the first byte picks the service: V1 or V2, imds_compat or not */
        if (mmds_http_answer(&svcs[data[0] & 3], data + 1, size - 1, &resp, &n))
                return 0; /* ENOMEM */
        check(resp, n);
        free(resp);
        return 0;
}
