/* Ethernet, ARP, IPv4 and TCP headers: bounds-checked parsing and building, checksums. */
#ifndef BRASA_NETSTACK_PDU_H
#define BRASA_NETSTACK_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ETH_HDR_LEN      14
#define ETH_ADDR_LEN     6
#define ETHTYPE_IPV4     0x0800
#define ETHTYPE_ARP      0x0806
#define ARP_ETH_IPV4_LEN 28
#define ARP_OP_REQUEST   1
#define ARP_OP_REPLY     2
#define IPV4_HDR_LEN     20
#define IPV4_PROTO_TCP   6
#define IPV4_TTL         1 /* the metadata service is on the guest's link: one hop */
#define TCP_HDR_LEN      20
#define TCP_MAX_HDR_LEN  60
#define TCP_OPT_MSS_LEN  4
#define TCP_MSS_MIN      100 /* a smaller advertised MSS is refused, as Firecracker */

/* The eight flag bits after NS (byte 13 of the header). */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

struct eth_view {
        const uint8_t *dst, *src;
        uint16_t type;
        const uint8_t *payload;
        size_t payload_len;
};

struct arp_view {
        uint16_t oper;
        uint8_t sha[ETH_ADDR_LEN], tha[ETH_ADDR_LEN];
        uint32_t spa, tpa; /* host order */
};

struct ipv4_view {
        uint8_t proto;
        uint32_t src, dst; /* host order */
        const uint8_t *payload;
        size_t payload_len;
};

struct tcp_view {
        uint16_t sport, dport, window;
        uint32_t seq, ack;
        uint8_t flags; /* TCP_FIN..., NS left out */
        const uint8_t *opts;
        size_t opts_len;
        const uint8_t *payload;
        size_t payload_len;
};

/* One segment to build: ports, numbers, flags, window, an MSS option (0: none), payload. */
struct tcp_out {
        uint16_t sport, dport, window, mss_opt;
        uint32_t seq, ack;
        uint8_t flags;
        const uint8_t *payload;
        size_t payload_len;
};

/* The Internet checksum of buf[0, len) folded onto sum (start with 0). Not complemented. */
uint32_t pdu_csum_add(uint32_t sum, const uint8_t *buf, size_t len);

/* Folds sum to 16 bits and complements it: the value a header carries. */
uint16_t pdu_csum_fold(uint32_t sum);

/* An Ethernet frame (no FCS). Returns 0, or -EINVAL when shorter than the header. */
int eth_parse(const uint8_t *buf, size_t len, struct eth_view *out);

/* Writes an Ethernet header at buf (cap bytes). Returns ETH_HDR_LEN, or 0 when it does not fit. */
size_t eth_write(uint8_t *buf, size_t cap, const uint8_t *dst, const uint8_t *src, uint16_t type);

/*
 * An Ethernet/IPv4 ARP packet of exactly ARP_ETH_IPV4_LEN bytes (hardware type 1,
 * protocol 0x0800, lengths 6 and 4). Returns 0 or -EINVAL.
 */
int arp_parse(const uint8_t *buf, size_t len, struct arp_view *out);

/* Writes an ARP packet (a->oper, addresses). Returns ARP_ETH_IPV4_LEN, or 0 when it does not fit.
 */
size_t arp_write(uint8_t *buf, size_t cap, const struct arp_view *a);

/* The target protocol address of buf, an Ethernet frame, if it holds an ARP packet's worth. */
bool arp_peek_tpa(const uint8_t *frame, size_t len, uint32_t *tpa);

/*
 * An IPv4 packet: version 4, header 20 to 60 bytes, total length from the header up to len
 * (bytes past it, Ethernet padding, are left out of the payload); the header checksum is
 * checked when verify. Returns 0 or -EINVAL.
 */
int ipv4_parse(const uint8_t *buf, size_t len, bool verify, struct ipv4_view *out);

/* The destination address of buf, an Ethernet frame, if it holds an IPv4 header's worth. */
bool ipv4_peek_dst(const uint8_t *frame, size_t len, uint32_t *dst);

/*
 * Writes a 20-byte IPv4 header at buf for payload_len bytes that follow it, with its
 * checksum. Returns IPV4_HDR_LEN, or 0 when header and payload exceed cap or 65535.
 */
size_t ipv4_write(uint8_t *buf, size_t cap, uint8_t proto, uint32_t src, uint32_t dst,
                  size_t payload_len);

/*
 * A TCP segment: header 20 to 60 bytes and within len; when verify the checksum over the
 * IPv4 pseudo-header of src and dst (host order) must hold. Returns 0 or -EINVAL.
 */
int tcp_parse(const uint8_t *buf, size_t len, bool verify, uint32_t src, uint32_t dst,
              struct tcp_view *out);

/*
 * The MSS option of a parsed segment: 0 with *mss set, 1 when there is none, -EINVAL when it
 * is below TCP_MSS_MIN or an option is malformed.
 */
int tcp_parse_mss(const struct tcp_view *t, uint16_t *mss);

/*
 * Writes o as a TCP segment at buf (cap bytes), checksum over src and dst. Returns its
 * length, or 0 when it does not fit.
 */
size_t tcp_write(uint8_t *buf, size_t cap, const struct tcp_out *o, uint32_t src, uint32_t dst);

#endif
