/* The metadata service's set-up from mmds-config: version, IMDS compatibility, token key. */
#include "mmds/mmds_service.h"

#include <string.h>

int mmds_service_start(struct mmds_service *svc, json_t *const *store, const struct mmds_cfg *cfg,
                       const char *instance_id)
{
        int rc;

        memset(svc, 0, sizeof(*svc));
        rc = mmds_tokens_init(&svc->tokens, instance_id);
        if (rc)
                return rc;
        svc->version = cfg->version == 2 ? 2 : 1;
        svc->imds_compat = cfg->imds_compat;
        svc->store = store;
        return 0;
}

void mmds_service_fini(struct mmds_service *svc)
{
        mmds_tokens_fini(&svc->tokens);
        svc->store = NULL;
}
