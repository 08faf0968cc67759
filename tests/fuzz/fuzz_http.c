/* libFuzzer target: client bytes -> HTTP parser -> router -> handlers (no VMM, no socket). */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "api/server.h"
#include "core/log.h"
#include "core/tap.h"
#include "model/config.h"

#define OUT_CAP (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Routes that create files at client-chosen paths; the harness must not litter the host. */
static bool creates_files(const uint8_t *data, size_t size)
{
        return memmem(data, size, "logger", 6) || memmem(data, size, "metrics", 7);
}

/* PUT /network-interfaces opens a tap: a stand-in, so the harness creates no interfaces. */
static int fake_tap_open(const char *name, struct err *e)
{
        if (strlen(name) >= 16)
                return tap_open(name, e); /* its length check comes before any syscall */
        return open("/dev/null", O_RDWR | O_CLOEXEC);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char *out;
        struct vm_config cfg;
        struct api_ctx ctx;
        size_t outlen;

        if (!out) {
                out = malloc(OUT_CAP);
                if (!out)
                        abort();
                log_set_level(LOG_OFF);
                json_object_seed(1);
                config_set_tap_open(fake_tap_open);
        }
        if (creates_files(data, size))
                return 0;
        config_init(&cfg);
        api_ctx_init(&ctx, NULL, &cfg, NULL, 4096);
        /* A small payload limit reaches the size checks with small inputs too. */
        (void)api_serve_buffer(&ctx, 4096, data, size, out, OUT_CAP, &outlen);
        api_ctx_fini(&ctx);
        config_free(&cfg);
        return 0;
}
