/* Ethernet, ARP, IPv4 and TCP: every read is checked against the buffer's length first. */
#include "netstack/pdu.h"

#include <errno.h>
#include <string.h>

static uint16_t rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
        wr16(p, (uint16_t)(v >> 16));
        wr16(p + 2, (uint16_t)v);
}

uint32_t pdu_csum_add(uint32_t sum, const uint8_t *buf, size_t len)
{
        size_t i;

        for (i = 0; i + 1 < len; i += 2) {
                sum += rd16(buf + i);
                sum = (sum & 0xffff) + (sum >> 16); /* fold as we go: no overflow */
        }
        if (len & 1) {
                sum += (uint32_t)buf[len - 1] << 8;
                sum = (sum & 0xffff) + (sum >> 16);
        }
        return sum;
}

uint16_t pdu_csum_fold(uint32_t sum)
{
        while (sum >> 16)
                sum = (sum & 0xffff) + (sum >> 16);
        return (uint16_t)~sum;
}

int eth_parse(const uint8_t *buf, size_t len, struct eth_view *out)
{
        if (len < ETH_HDR_LEN)
                return -EINVAL;
        out->dst = buf;
        out->src = buf + ETH_ADDR_LEN;
        out->type = rd16(buf + 12);
        out->payload = buf + ETH_HDR_LEN;
        out->payload_len = len - ETH_HDR_LEN;
        return 0;
}

size_t eth_write(uint8_t *buf, size_t cap, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
        if (cap < ETH_HDR_LEN)
                return 0;
        memcpy(buf, dst, ETH_ADDR_LEN);
        memcpy(buf + ETH_ADDR_LEN, src, ETH_ADDR_LEN);
        wr16(buf + 12, type);
        return ETH_HDR_LEN;
}

int arp_parse(const uint8_t *buf, size_t len, struct arp_view *out)
{
        if (len != ARP_ETH_IPV4_LEN)
                return -EINVAL;
        if (rd16(buf) != 1 || rd16(buf + 2) != ETHTYPE_IPV4 || buf[4] != ETH_ADDR_LEN ||
            buf[5] != 4)
                return -EINVAL;
        out->oper = rd16(buf + 6);
        memcpy(out->sha, buf + 8, ETH_ADDR_LEN);
        out->spa = rd32(buf + 14);
        memcpy(out->tha, buf + 18, ETH_ADDR_LEN);
        out->tpa = rd32(buf + 24);
        return 0;
}

size_t arp_write(uint8_t *buf, size_t cap, const struct arp_view *a)
{
        if (cap < ARP_ETH_IPV4_LEN)
                return 0;
        wr16(buf, 1);
        wr16(buf + 2, ETHTYPE_IPV4);
        buf[4] = ETH_ADDR_LEN;
        buf[5] = 4;
        wr16(buf + 6, a->oper);
        memcpy(buf + 8, a->sha, ETH_ADDR_LEN);
        wr32(buf + 14, a->spa);
        memcpy(buf + 18, a->tha, ETH_ADDR_LEN);
        wr32(buf + 24, a->tpa);
        return ARP_ETH_IPV4_LEN;
}

bool arp_peek_tpa(const uint8_t *frame, size_t len, uint32_t *tpa)
{
        if (len < ETH_HDR_LEN + ARP_ETH_IPV4_LEN)
                return false;
        *tpa = rd32(frame + ETH_HDR_LEN + 24);
        return true;
}

int ipv4_parse(const uint8_t *buf, size_t len, bool verify, struct ipv4_view *out)
{
        size_t hlen, total;

        if (len < IPV4_HDR_LEN || buf[0] >> 4 != 4)
                return -EINVAL;
        hlen = (size_t)(buf[0] & 0xf) * 4;
        total = rd16(buf + 2);
        if (hlen < IPV4_HDR_LEN || total < hlen || total > len)
                return -EINVAL;
        if (verify && pdu_csum_fold(pdu_csum_add(0, buf, hlen)) != 0)
                return -EINVAL;
        out->proto = buf[9];
        out->src = rd32(buf + 12);
        out->dst = rd32(buf + 16);
        out->payload = buf + hlen;
        out->payload_len = total - hlen;
        return 0;
}

bool ipv4_peek_dst(const uint8_t *frame, size_t len, uint32_t *dst)
{
        if (len < ETH_HDR_LEN + IPV4_HDR_LEN)
                return false;
        *dst = rd32(frame + ETH_HDR_LEN + 16);
        return true;
}

size_t ipv4_write(uint8_t *buf, size_t cap, uint8_t proto, uint32_t src, uint32_t dst,
                  size_t payload_len)
{
        size_t total = IPV4_HDR_LEN + payload_len;

        if (total > cap || total > 0xffff)
                return 0;
        memset(buf, 0, IPV4_HDR_LEN);
        buf[0] = 0x45;
        wr16(buf + 2, (uint16_t)total);
        buf[8] = IPV4_TTL;
        buf[9] = proto;
        wr32(buf + 12, src);
        wr32(buf + 16, dst);
        wr16(buf + 10, pdu_csum_fold(pdu_csum_add(0, buf, IPV4_HDR_LEN)));
        return IPV4_HDR_LEN;
}

/* The pseudo-header's sum: addresses, protocol, TCP length. */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, size_t len)
{
        uint8_t ph[12];

        wr32(ph, src);
        wr32(ph + 4, dst);
        ph[8] = 0;
        ph[9] = IPV4_PROTO_TCP;
        wr16(ph + 10, (uint16_t)len);
        return pdu_csum_add(0, ph, sizeof(ph));
}

int tcp_parse(const uint8_t *buf, size_t len, bool verify, uint32_t src, uint32_t dst,
              struct tcp_view *out)
{
        size_t hlen;

        if (len < TCP_HDR_LEN || len > 0xffff)
                return -EINVAL;
        hlen = (size_t)(buf[12] >> 4) * 4;
        if (hlen < TCP_HDR_LEN || hlen > len)
                return -EINVAL;
        if (verify && pdu_csum_fold(pdu_csum_add(pseudo_sum(src, dst, len), buf, len)) != 0)
                return -EINVAL;
        out->sport = rd16(buf);
        out->dport = rd16(buf + 2);
        out->seq = rd32(buf + 4);
        out->ack = rd32(buf + 8);
        out->flags = buf[13];
        out->window = rd16(buf + 14);
        out->opts = buf + TCP_HDR_LEN;
        out->opts_len = hlen - TCP_HDR_LEN;
        out->payload = buf + hlen;
        out->payload_len = len - hlen;
        return 0;
}

int tcp_parse_mss(const struct tcp_view *t, uint16_t *mss)
{
        const uint8_t *b = t->opts;
        size_t i = 0;

        /* As Firecracker: options are walked while a kind, a length and two bytes remain. */
        while (i + 3 < t->opts_len) {
                if (b[i] == 0) /* end of options */
                        break;
                if (b[i] == 1) { /* no-op */
                        i++;
                        continue;
                }
                if (b[i] == 2) {
                        *mss = rd16(b + i + 2);
                        return *mss < TCP_MSS_MIN ? -EINVAL : 0;
                }
                if (b[i + 1] < 2)
                        return -EINVAL;
                i += b[i + 1];
        }
        return 1;
}

size_t tcp_write(uint8_t *buf, size_t cap, const struct tcp_out *o, uint32_t src, uint32_t dst)
{
        size_t hlen = TCP_HDR_LEN + (o->mss_opt ? TCP_OPT_MSS_LEN : 0);
        size_t len = hlen + o->payload_len;

        if (len > cap || len > 0xffff)
                return 0;
        wr16(buf, o->sport);
        wr16(buf + 2, o->dport);
        wr32(buf + 4, o->seq);
        wr32(buf + 8, o->ack);
        buf[12] = (uint8_t)(hlen / 4) << 4;
        buf[13] = o->flags;
        wr16(buf + 14, o->window);
        wr16(buf + 16, 0);
        wr16(buf + 18, 0);
        if (o->mss_opt) {
                buf[20] = 2;
                buf[21] = TCP_OPT_MSS_LEN;
                wr16(buf + 22, o->mss_opt);
        }
        if (o->payload_len)
                memcpy(buf + hlen, o->payload, o->payload_len);
        wr16(buf + 16, pdu_csum_fold(pdu_csum_add(pseudo_sum(src, dst, len), buf, len)));
        return len;
}
