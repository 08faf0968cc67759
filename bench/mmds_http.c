/* Cost of one MMDS answer on the VMM thread: token issue, V2 GETs, a 401 (build/bench_mmds_http).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mmds/mmds_service.h"

#define ROUNDS 200000

static const char store_text[] =
    "{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-12345678\",\"reservation-id\":\"r-fea54097\","
    "\"local-hostname\":\"ip-10-251-50-12.ec2.internal\",\"public-hostname\":"
    "\"ec2-203-0-113-25.compute-1.amazonaws.com\",\"network\":{\"interfaces\":{\"macs\":"
    "{\"02:29:96:8f:6a:2d\":{\"device-number\":\"13345342\",\"local-hostname\":\"localhost\","
    "\"subnet-id\":\"subnet-be9b61d\"}}}}}}}";

static double now_s(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Answers req ROUNDS times; prints the mean wall time per answer. */
static int run(struct mmds_service *svc, const char *name, const char *req)
{
        double t0 = now_s();
        uint8_t *resp;
        size_t n;
        int i;

        for (i = 0; i < ROUNDS; i++) {
                if (mmds_http_answer(svc, (const uint8_t *)req, strlen(req), &resp, &n))
                        return 1;
                free(resp);
        }
        printf("%-30s %6.0f ns per answer\n", name, (now_s() - t0) / ROUNDS * 1e9);
        return 0;
}

int main(void)
{
        static const char put[] =
            "PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n";
        struct mmds_cfg cfg = {.present = true, .version = 2};
        char tok[MMDS_TOKEN_LEN + 1], leaf[256], all[256];
        struct mmds_service svc;
        json_t *store = json_loads(store_text, 0, NULL);
        uint8_t *resp;
        size_t n;

        if (!store || mmds_service_start(&svc, &store, &cfg, "bench"))
                return 1;
        if (mmds_http_answer(&svc, (const uint8_t *)put, strlen(put), &resp, &n) ||
            n < MMDS_TOKEN_LEN)
                return 1;
        memcpy(tok, resp + n - MMDS_TOKEN_LEN, MMDS_TOKEN_LEN);
        tok[MMDS_TOKEN_LEN] = '\0';
        free(resp);
        snprintf(leaf, sizeof(leaf),
                 "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: %s\r\n\r\n", tok);
        snprintf(all, sizeof(all),
                 "GET / HTTP/1.1\r\nAccept: application/json\r\nX-metadata-token: %s\r\n\r\n", tok);
        return run(&svc, "PUT /latest/api/token", put) ||
               run(&svc, "GET a leaf (V2, IMDS text)", leaf) ||
               run(&svc, "GET / (V2, JSON, 332 bytes)", all) ||
               run(&svc, "GET without a token (401)", "GET / HTTP/1.1\r\n\r\n");
}
