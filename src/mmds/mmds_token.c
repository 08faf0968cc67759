/* MMDS session tokens: nonce + AES-256-GCM sealed expiry, base64, checked without any state. */
#include "mmds/mmds_token.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nettle/memops.h>

#include "core/log.h"

#define KEY_LEN    32u
#define NONCE_LEN  12u
#define EXPIRY_LEN 8u
#define TAG_LEN    16u
#define RAW_LEN    (NONCE_LEN + EXPIRY_LEN + TAG_LEN) /* 36: base64 without padding */

/* Firecracker draws a new key before a cipher seals its 2^32-th token. */
#define KEY_LIMIT 0xffffffffull

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

uint64_t mmds_monotonic_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int fill_random(void *buf, size_t n)
{
        ssize_t got = getrandom(buf, n, GRND_NONBLOCK);

        if (got < 0)
                return -errno;
        return (size_t)got == n ? 0 : -EAGAIN;
}

static int new_key(struct mmds_tokens *t)
{
        uint8_t key[KEY_LEN];
        int rc;

        rc = fill_random(key, sizeof(key));
        if (!rc)
                rc = fill_random(t->salt, sizeof(t->salt));
        if (!rc) {
                gcm_aes256_set_key(&t->gcm, key);
                t->sealed = 0;
        }
        explicit_bzero(key, sizeof(key));
        return rc;
}

int mmds_tokens_init(struct mmds_tokens *t, const char *instance_id)
{
        int n;

        memset(t, 0, sizeof(*t));
        t->key_limit = KEY_LIMIT;
        t->now_ms = mmds_monotonic_ms;
        n = snprintf(t->aad, sizeof(t->aad), "microvmid=%s", instance_id);
        t->aad_len = n < 0 ? 0 : ((size_t)n < sizeof(t->aad) ? (size_t)n : sizeof(t->aad) - 1);
        return new_key(t);
}

void mmds_tokens_fini(struct mmds_tokens *t)
{
        explicit_bzero(t, sizeof(*t));
}

/* Little-endian, as Firecracker's u64::to_le_bytes(). */
static void put_le64(uint8_t *p, uint64_t v)
{
        unsigned int i;

        for (i = 0; i < 8; i++)
                p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
        uint64_t v = 0;
        unsigned int i;

        for (i = 0; i < 8; i++)
                v |= (uint64_t)p[i] << (8 * i);
        return v;
}

static void encode(const uint8_t raw[RAW_LEN], char *out)
{
        size_t i, o = 0;
        uint32_t w;

        for (i = 0; i < RAW_LEN; i += 3) {
                w = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
                out[o++] = b64[w >> 18];
                out[o++] = b64[(w >> 12) & 63];
                out[o++] = b64[(w >> 6) & 63];
                out[o++] = b64[w & 63];
        }
        out[o] = '\0';
}

/* Strict standard base64 of exactly RAW_LEN bytes (48 characters, no padding). */
static int decode(const char *s, size_t n, uint8_t raw[RAW_LEN])
{
        size_t i, o = 0;
        uint32_t w = 0;
        const char *c;

        if (n != MMDS_TOKEN_LEN)
                return -EINVAL;
        for (i = 0; i < n; i++) {
                c = s[i] ? memchr(b64, s[i], 64) : NULL;
                if (!c)
                        return -EINVAL;
                w = w << 6 | (uint32_t)(c - b64);
                if (i % 4 == 3) {
                        raw[o++] = (uint8_t)(w >> 16);
                        raw[o++] = (uint8_t)(w >> 8);
                        raw[o++] = (uint8_t)w;
                        w = 0;
                }
        }
        return 0;
}

static void make_nonce(const struct mmds_tokens *t, uint8_t nonce[NONCE_LEN])
{
        put_le64(nonce, t->sealed); /* unique per key: the key changes before it wraps */
        memcpy(nonce + 8, t->salt, sizeof(t->salt));
}

int mmds_tokens_issue(struct mmds_tokens *t, uint32_t ttl, char out[MMDS_TOKEN_LEN + 1])
{
        uint8_t raw[RAW_LEN], expiry[EXPIRY_LEN];
        int rc;

        if (t->sealed >= t->key_limit) {
                rc = new_key(t);
                if (rc)
                        return rc;
                log_warn("The limit of tokens generated under current MMDS token authority has "
                         "been reached. MMDS's token authority entity has been reseeded and all "
                         "previously created tokens are now invalid.");
        }
        make_nonce(t, raw);
        put_le64(expiry, t->now_ms() + (uint64_t)ttl * 1000u);
        gcm_aes256_set_iv(&t->gcm, NONCE_LEN, raw);
        gcm_aes256_update(&t->gcm, t->aad_len, (const uint8_t *)t->aad);
        gcm_aes256_encrypt(&t->gcm, EXPIRY_LEN, raw + NONCE_LEN, expiry);
        gcm_aes256_digest(&t->gcm, TAG_LEN, raw + NONCE_LEN + EXPIRY_LEN);
        t->sealed++;
        encode(raw, out);
        return 0;
}

bool mmds_tokens_valid(struct mmds_tokens *t, const char *tok, size_t n)
{
        uint8_t raw[RAW_LEN], expiry[EXPIRY_LEN], tag[TAG_LEN];

        if (decode(tok, n, raw))
                return false;
        gcm_aes256_set_iv(&t->gcm, NONCE_LEN, raw);
        gcm_aes256_update(&t->gcm, t->aad_len, (const uint8_t *)t->aad);
        gcm_aes256_decrypt(&t->gcm, EXPIRY_LEN, expiry, raw + NONCE_LEN);
        gcm_aes256_digest(&t->gcm, TAG_LEN, tag);
        if (!memeql_sec(tag, raw + NONCE_LEN + EXPIRY_LEN, TAG_LEN))
                return false;
        return get_le64(expiry) > t->now_ms();
}
