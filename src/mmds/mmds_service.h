/* One microVM's metadata service: its version, IMDS compatibility, token authority and store. */
#ifndef BRASA_MMDS_MMDS_SERVICE_H
#define BRASA_MMDS_MMDS_SERVICE_H

#include <stdbool.h>

#include <jansson.h>

#include "mmds/mmds_http.h"
#include "mmds/mmds_token.h"
#include "model/config.h"

/*
 * Everything lives on the VMM thread. The store is read through the owner's pointer at each
 * request, so PUT and PATCH /mmds after boot (which replace the json_t) are served at once.
 */
struct mmds_service {
        unsigned int version; /* 1 or 2 (MmdsVersion) */
        bool imds_compat;     /* IMDS text whatever the Accept header says */
        json_t *const *store; /* the data store's owner (api_ctx.mmds); *store NULL: never set */
        struct mmds_tokens tokens;
};

/*
 * Makes svc serve the store behind *store with cfg's version and imds_compat, as
 * Firecracker's set_mmds_basic_config(): tokens bound to "microvmid=<instance_id>" under a
 * fresh random key. Called before InstanceStart builds the devices. Returns 0 or -errno
 * (the key could not be drawn).
 */
int mmds_service_start(struct mmds_service *svc, json_t *const *store, const struct mmds_cfg *cfg,
                       const char *instance_id);

/* Wipes the key; svc serves nothing afterwards. */
void mmds_service_fini(struct mmds_service *svc);

#endif
