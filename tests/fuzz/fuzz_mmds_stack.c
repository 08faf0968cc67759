/*
 * libFuzzer target: the metadata network stack fed guest frames. Each frame is offered the
 * way virtio-net offers it (netstack_wants(), then netstack_take()), the clock moves on, and
 * every frame the stack has is drawn and checked (well-formed, checksums right, bounds kept).
 * A last pass far in the future drives retransmissions, timeouts and resets.
 *
 * Input: records of [len lo, len hi, flags] then len frame bytes; flags bit 0: the guest asked
 * for checksum offload (NEEDS_CSUM), bits 1..7: the clock advances that many 100 ms steps.
 * The answer callback returns 1 to 40000 bytes depending on the request. The initial sequence
 * numbers are fixed so that seeds can hold whole sessions: tests/fuzz/mmds_stack_seeds.py.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "netstack/netstack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[70000];

/* An answer whose size depends on the request, as the store's answers do. */
static int answer(void *ctx, const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len)
{
        size_t n = 1 + (len * 997 + req[0]) % 40000;
        uint8_t *r = malloc(n);

        (void)ctx;
        if (!r)
                return -12;
        memset(r, 'r', n);
        *resp = r;
        *resp_len = n;
        return 0;
}

/* Everything the stack sends is a frame it could legally send. */
static void check(const uint8_t *f, size_t n)
{
        struct ipv4_view ip;
        struct tcp_view t;
        struct eth_view e;
        struct arp_view a;

        if (eth_parse(f, n, &e))
                abort();
        if (e.type == ETHTYPE_ARP) {
                if (arp_parse(e.payload, e.payload_len, &a) || a.oper != ARP_OP_REPLY)
                        abort();
                return;
        }
        if (e.type != ETHTYPE_IPV4 || ipv4_parse(e.payload, e.payload_len, true, &ip) ||
            tcp_parse(ip.payload, ip.payload_len, true, ip.src, ip.dst, &t) || t.sport != 80)
                abort();
}

static void drain(struct netstack *ns, uint64_t now)
{
        size_t n;
        int i;

        for (i = 0; i < 5000; i++) {
                n = netstack_next(ns, out, sizeof(out), now);
                if (!n)
                        return;
                check(out, n);
        }
        abort(); /* a stack that never runs dry would spin the VMM thread */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct netstack *ns;
        uint64_t now = 1;
        size_t len;

        log_set_level(LOG_OFF);
        if (netstack_create(&ns, 0xa9fea9feu, answer, NULL))
                return 0;
        ns->isn_state = 0x12345678u;
        while (size >= 3) {
                len = (size_t)(data[0] | data[1] << 8);
                if (len > size - 3)
                        len = size - 3;
                now += (uint64_t)(data[2] >> 1) * 100000000ULL;
                if (netstack_wants(ns, data + 3, len))
                        netstack_take(ns, data + 3, len, data[2] & 1, now);
                if (ns->nconns > NETSTACK_MAX_CONNS || ns->nrsts > NETSTACK_MAX_RSTS)
                        abort();
                drain(ns, now);
                data += 3 + len;
                size -= 3 + len;
        }
        for (int k = 0; k < 20; k++)
                drain(ns, now += 2 * TCP_EP_RTO_NS);
        netstack_destroy(ns);
        return 0;
}
