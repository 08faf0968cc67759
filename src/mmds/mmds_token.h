/* MMDS V2 session tokens: stateless, AES-256-GCM sealed expiry times, as Firecracker's. */
#ifndef BRASA_MMDS_MMDS_TOKEN_H
#define BRASA_MMDS_MMDS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nettle/gcm.h>

#define MMDS_TOKEN_TTL_MIN 1u     /* seconds */
#define MMDS_TOKEN_TTL_MAX 21600u /* six hours */
#define MMDS_TOKEN_LEN     48u    /* base64 of nonce (12) + sealed expiry (8) + tag (16) */
#define MMDS_TOKEN_AAD_MAX 128u   /* "microvmid=" + the instance id, cut to fit */

/*
 * The token authority. A token is base64(nonce || AES-256-GCM(expiry_ms) || tag) under a
 * random per-process key, with "microvmid=<instance id>" as associated data, so no state
 * is kept per token and a flood of requests costs no memory. Expiry is a CLOCK_MONOTONIC
 * time in milliseconds, as Firecracker's.
 */
struct mmds_tokens {
        struct gcm_aes256_ctx gcm;
        uint8_t salt[4];    /* the nonce's random part, drawn with the key */
        uint64_t sealed;    /* tokens sealed under this key: the nonce's counter part */
        uint64_t key_limit; /* tokens per key before a new key (Firecracker: 2^32 - 1) */
        char aad[MMDS_TOKEN_AAD_MAX];
        size_t aad_len;
        uint64_t (*now_ms)(void); /* CLOCK_MONOTONIC in ms; tests replace it */
};

/*
 * Draws a fresh key (getrandom, non-blocking) and sets the associated data to
 * "microvmid=<instance_id>". Returns 0 or -errno (-EAGAIN: the host's pool is not ready).
 */
int mmds_tokens_init(struct mmds_tokens *t, const char *instance_id);

/*
 * Writes a token valid for ttl seconds (MMDS_TOKEN_TTL_MIN..MAX, checked by the caller)
 * to out (MMDS_TOKEN_LEN bytes + NUL). Draws a new key first when the current one has
 * sealed key_limit tokens, which invalidates the earlier ones, as Firecracker does.
 * Returns 0 or -errno.
 */
int mmds_tokens_issue(struct mmds_tokens *t, uint32_t ttl, char out[MMDS_TOKEN_LEN + 1]);

/* True when tok[0, n) is a token of this key and its expiry is still ahead. */
bool mmds_tokens_valid(struct mmds_tokens *t, const char *tok, size_t n);

/* Wipes the key. */
void mmds_tokens_fini(struct mmds_tokens *t);

/* CLOCK_MONOTONIC in milliseconds (the default now_ms). */
uint64_t mmds_monotonic_ms(void);

#endif
