/* Functions shared by the API's handler files only. */
#ifndef BRASA_API_API_PRIV_H
#define BRASA_API_API_PRIV_H

#include "api/api.h"

/* Routes handled in api_mmds.c (/mmds GET/PUT/PATCH); anything else gets a 400. */
void api_handle_other(struct api_ctx *ctx, struct api_call *call);

#endif
