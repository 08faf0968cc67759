/*
 * The test guest's metadata client: ARP for the service's address, then HTTP over a small
 * TCP client (in-order receive, an ACK per segment, Content-Length framing, FIN), and the
 * hostile peers of brasa.mmds.hostile=. Everything polls; waits are timed with the TSC.
 */
#include "guest.h"

#define GUEST_IP 0x0a000002u   /* 10.0.0.2: any address works, the service answers its sender */
#define SEC      3000000000ull /* TSC cycles taken as a second: waits are generous anyway */
#define RESP_MAX (64u << 10)
#define F_FIN    0x01
#define F_SYN    0x02
#define F_RST    0x04
#define F_PSH    0x08
#define F_ACK    0x10

static u8 gmac[6], smac[6];
static u32 sip; /* the service's address */
static u8 fr[1600];
static u8 resp[RESP_MAX];
static u32 resp_len;

struct tcb {
        u16 lport, win, mss;
        u32 snd_nxt, rcv_nxt;
        u32 segs, retx, rsts, fin, synack;
        int no_ack; /* hostile: never acknowledge data */
};

static u64 rdtsc(void)
{
        u32 lo, hi;
        __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
        return (u64)hi << 32 | lo;
}

static void put16(u8 *p, u32 v)
{
        p[0] = (u8)(v >> 8);
        p[1] = (u8)v;
}

static void put32(u8 *p, u32 v)
{
        put16(p, v >> 16);
        put16(p + 2, v);
}

static u32 get16(const u8 *p)
{
        return (u32)p[0] << 8 | p[1];
}

static u32 get32(const u8 *p)
{
        return get16(p) << 16 | get16(p + 2);
}

static u32 csum_add(u32 s, const u8 *p, u32 n)
{
        for (u32 i = 0; i + 1 < n; i += 2)
                s += get16(p + i);
        if (n & 1)
                s += (u32)p[n - 1] << 8;
        return s;
}

static u16 csum_fold(u32 s)
{
        while (s >> 16)
                s = (s & 0xffff) + (s >> 16);
        return (u16)~s;
}

/* Ethernet + IPv4 (+ the TCP checksum when proto is 6) around the l4 bytes at fr + 34. */
static u32 ip_frame(u32 proto, u32 l4len, const u8 *dst_mac)
{
        for (u32 i = 0; i < 6; i++) {
                fr[i] = dst_mac[i];
                fr[6 + i] = gmac[i];
        }
        put16(fr + 12, 0x0800);
        u8 *ip = fr + 14;
        for (u32 i = 0; i < 20; i++)
                ip[i] = 0;
        ip[0] = 0x45;
        put16(ip + 2, 20 + l4len);
        ip[8] = 64;
        ip[9] = (u8)proto;
        put32(ip + 12, GUEST_IP);
        put32(ip + 16, sip);
        put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
        if (proto == 6) {
                u8 ph[12];
                put32(ph, GUEST_IP);
                put32(ph + 4, sip);
                put16(ph + 8, 6);
                put16(ph + 10, l4len);
                put16(fr + 34 + 16, 0);
                put16(fr + 34 + 16, csum_fold(csum_add(csum_add(0, ph, 12), fr + 34, l4len)));
        }
        return 34 + l4len;
}

/* Builds a segment of t in fr; returns the frame's length. */
static u32 tcp_build(struct tcb *t, u32 seq, u8 flags, const u8 *data, u32 len)
{
        u8 *h = fr + 34;
        u32 hl = flags & F_SYN ? 24 : 20;
        put16(h, t->lport);
        put16(h + 2, 80);
        put32(h + 4, seq);
        put32(h + 8, flags & F_ACK ? t->rcv_nxt : 0);
        h[12] = (u8)(hl / 4 << 4);
        h[13] = flags;
        put16(h + 14, t->win);
        put16(h + 18, 0);
        if (flags & F_SYN) {
                h[20] = 2;
                h[21] = 4;
                put16(h + 22, t->mss);
        }
        for (u32 i = 0; i < len; i++)
                h[hl + i] = data[i];
        return ip_frame(6, hl + len, smac);
}

static void tcp_send(struct tcb *t, u32 seq, u8 flags, const u8 *data, u32 len)
{
        gnet_send(fr, tcp_build(t, seq, flags, data, len));
}

/* ARP for sip until it answers: 0, or -1 after a few tries. */
static int arp(void)
{
        static const u8 bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        for (u32 tries = 0; tries < 5; tries++) {
                for (u32 i = 0; i < 6; i++) {
                        fr[i] = bcast[i];
                        fr[6 + i] = gmac[i];
                }
                put16(fr + 12, 0x0806);
                static const u8 arph[8] = {0, 1, 8, 0, 6, 4, 0, 1};
                for (u32 i = 0; i < 8; i++)
                        fr[14 + i] = arph[i];
                for (u32 i = 0; i < 6; i++) {
                        fr[22 + i] = gmac[i];
                        fr[32 + i] = 0;
                }
                put32(fr + 28, GUEST_IP);
                put32(fr + 38, sip);
                gnet_send(fr, 42);
                for (u64 end = rdtsc() + SEC; rdtsc() < end;) {
                        u32 len;
                        const u8 *f = gnet_poll(&len);
                        if (!f)
                                continue;
                        int ok = len >= 42 && get16(f + 12) == 0x0806 && get16(f + 20) == 2 &&
                                 get32(f + 28) == sip;
                        if (ok)
                                for (u32 i = 0; i < 6; i++)
                                        smac[i] = f[22 + i];
                        gnet_release(f);
                        if (ok)
                                return 0;
                }
        }
        return -1;
}

/* One TCP segment for t from the service: payload appended to resp when in order. Returns
 * its flags, 0 for nothing of t's within `cycles`. */
static u32 tcp_recv(struct tcb *t, u64 cycles, u32 *seq_out, u32 *plen_out)
{
        for (u64 end = rdtsc() + cycles; rdtsc() < end;) {
                u32 len;
                const u8 *f = gnet_poll(&len);
                if (!f)
                        continue;
                const u8 *ip = f + 14, *h = ip + 20;
                u32 flags = 0;
                if (len >= 54 && get16(f + 12) == 0x0800 && ip[9] == 6 && get32(ip + 12) == sip &&
                    get16(h + 2) == t->lport) {
                        u32 tot = get16(ip + 2), hl = (u32)(h[12] >> 4) * 4;
                        u32 plen = tot - 20 - hl, seq = get32(h + 4);
                        flags = h[13] | 0x100;
                        *seq_out = seq;
                        *plen_out = plen;
                        if (flags & F_SYN)
                                t->rcv_nxt = seq + 1;
                        else if (plen && seq == t->rcv_nxt && resp_len + plen <= RESP_MAX) {
                                for (u32 i = 0; i < plen; i++)
                                        resp[resp_len + i] = h[hl + i];
                                resp_len += plen;
                                t->rcv_nxt += plen;
                                t->segs++;
                        } else if (plen) {
                                t->retx++; /* a copy of what we have: a retransmission */
                        }
                        if ((flags & F_FIN) && seq + plen == t->rcv_nxt) {
                                t->rcv_nxt++;
                                t->fin = 1;
                        }
                        if (flags & F_RST)
                                t->rsts++;
                }
                gnet_release(f);
                if (flags)
                        return flags;
        }
        return 0;
}

/* Handshake from lport: 0, or -1 (no SYN-ACK, or a RST). */
static int tcp_connect(struct tcb *t)
{
        u32 seq, plen;
        resp_len = 0;
        t->snd_nxt = 1000;
        for (u32 tries = 0; tries < 3; tries++) {
                tcp_send(t, t->snd_nxt, F_SYN, 0, 0);
                u32 fl = tcp_recv(t, SEC, &seq, &plen);
                if (fl & F_RST)
                        return -1;
                if ((fl & (F_SYN | F_ACK)) == (F_SYN | F_ACK)) {
                        t->snd_nxt++;
                        tcp_send(t, t->snd_nxt, F_ACK, 0, 0);
                        return 0;
                }
        }
        return -1;
}

/* The Content-Length of resp's headers, and where its body starts; 0 until both are in. */
static u32 resp_body(u32 *clen)
{
        for (u32 i = 0; i + 3 < resp_len; i++) {
                if (resp[i] != '\r' || resp[i + 1] != '\n' || resp[i + 2] != '\r' ||
                    resp[i + 3] != '\n')
                        continue;
                *clen = 0;
                for (u32 j = 0; j + 15 < i; j++) {
                        static const char k[] = "content-length:";
                        u32 m = 0;
                        while (m < 15 && (resp[j + m] | 0x20) == (u8)k[m])
                                m++;
                        if (m < 15)
                                continue;
                        for (j += 15; resp[j] == ' '; j++)
                                ;
                        while (resp[j] >= '0' && resp[j] <= '9')
                                *clen = *clen * 10 + (resp[j++] - '0');
                        break;
                }
                return i + 4;
        }
        return 0;
}

/* Reads until the whole answer is in (ACKing each segment unless t->no_ack), `idle`
 * cycles at most between segments. Returns 0 once complete, -1 otherwise. */
static int read_answer(struct tcb *t, u64 idle)
{
        u32 seq, plen, clen = 0, body;
        for (;;) {
                u32 fl = tcp_recv(t, idle, &seq, &plen);
                if (!fl || (fl & F_RST))
                        return -1;
                if (plen && !t->no_ack)
                        tcp_send(t, t->snd_nxt, F_ACK, 0, 0);
                body = resp_body(&clen);
                if (body && resp_len >= body + clen)
                        return 0;
        }
}

/* Closes t: our FIN, then the service's FIN is acknowledged. */
static void tcp_close(struct tcb *t)
{
        u32 seq, plen;
        tcp_send(t, t->snd_nxt, F_FIN | F_ACK, 0, 0);
        t->snd_nxt++;
        for (u32 i = 0; i < 8 && !t->fin; i++)
                if (!tcp_recv(t, SEC / 2, &seq, &plen))
                        break;
        if (t->fin)
                tcp_send(t, t->snd_nxt, F_ACK, 0, 0);
}

/* ---- requests ------------------------------------------------------------------------------ */

static u8 req[1024];
static u32 req_len;

static void req_str(const char *s)
{
        while (*s && req_len < sizeof(req))
                req[req_len++] = (u8)*s++;
}

static void req_bytes(const u8 *p, u64 n)
{
        for (u64 i = 0; i < n && req_len < sizeof(req); i++)
                req[req_len++] = p[i];
}

/* "<method> <path> HTTP/1.1", the optional headers, the blank line. */
static void build_req(const char *method, const u8 *path, u64 plen, const u8 *token, u32 tlen,
                      int json)
{
        req_len = 0;
        req_str(method);
        req_str(" ");
        req_bytes(path, plen);
        req_str(" HTTP/1.1\r\n");
        if (method[0] == 'P')
                req_str("X-metadata-token-ttl-seconds: 60\r\n");
        if (token) {
                req_str("X-metadata-token: ");
                req_bytes(token, tlen);
                req_str("\r\n");
        }
        if (json)
                req_str("Accept: application/json\r\n");
        req_str("\r\n");
}

/* One request on a new connection from lport; the answer in resp. Returns 0 or -1. */
static int exchange(struct tcb *t)
{
        if (tcp_connect(t))
                return -1;
        tcp_send(t, t->snd_nxt, F_ACK | F_PSH, req, req_len);
        t->snd_nxt += req_len;
        if (read_answer(t, 2 * SEC))
                return -1;
        tcp_close(t);
        return 0;
}

static void report(const struct tcb *t, int rc)
{
        say("mmds-resp rc=%u segs=%u len=%u retx=%u", rc ? 1u : 0u, t->segs, resp_len, t->retx);
        say_bytes("mmds-data ", resp, resp_len);
}

static u16 next_port = 40000;

static struct tcb new_tcb(void)
{
        struct tcb t = {.lport = next_port++, .win = 65535, .mss = 536};
        return t;
}

/* The token in resp's body (after the blank line). */
static const u8 *body_of(u32 *len)
{
        u32 clen = 0, b = resp_body(&clen);
        *len = b ? resp_len - b : 0;
        return resp + b;
}

static u32 parse_ip(const u8 *p, u64 n)
{
        u32 ip = 0, part = 0;
        for (u64 i = 0; i <= n; i++) {
                if (i == n || p[i] == '.') {
                        ip = ip << 8 | (part & 0xff);
                        part = 0;
                } else {
                        part = part * 10 + (p[i] - '0');
                }
        }
        return ip;
}

/* ---- hostile peers ------------------------------------------------------------------------- */

#define FLOOD 100

/* SYNs from FLOOD ports: the SYN-ACKs and RSTs that come back, then RSTs free the slots. */
static void synflood(void)
{
        struct tcb t = new_tcb();
        u32 synack = 0, rst = 0;
        u16 base = next_port;
        static u8 acked[FLOOD];
        for (u32 i = 0; i < FLOOD; i++) {
                t.lport = (u16)(base + i);
                tcp_send(&t, 1000, F_SYN, 0, 0);
        }
        next_port = (u16)(next_port + FLOOD);
        for (u64 end = rdtsc() + SEC; rdtsc() < end;) {
                u32 len;
                const u8 *f = gnet_poll(&len);
                if (!f)
                        continue;
                const u8 *h = f + 34;
                u32 port = get16(h + 2) - base;
                if (len >= 54 && get16(f + 12) == 0x0800 && f[23] == 6 && port < FLOOD) {
                        if ((h[13] & (F_SYN | F_ACK)) == (F_SYN | F_ACK)) {
                                synack++;
                                acked[port] = 1;
                        }
                        rst += (h[13] & F_RST) != 0;
                }
                gnet_release(f);
        }
        u32 ports = 0;
        for (u32 i = 0; i < FLOOD; i++)
                ports += acked[i];
        /* SYN-ACKs may come twice (retransmitted on the service's timer): ports count once. */
        say("mmds-hostile synflood syns=%u synack_ports=%u synacks=%u rst=%u", FLOOD, ports, synack,
            rst);
        for (u32 i = 0; i < FLOOD; i++) {
                if (!acked[i])
                        continue;
                t.lport = (u16)(base + i);
                tcp_send(&t, 1001, F_RST, 0, 0);
        }
}

static void win0(void)
{
        struct tcb t = new_tcb();
        u32 seq, plen;
        t.win = 0;
        if (tcp_connect(&t)) {
                say("mmds-hostile win0 connect-failed");
                return;
        }
        tcp_send(&t, t.snd_nxt, F_ACK | F_PSH, req, req_len);
        t.snd_nxt += req_len;
        while (tcp_recv(&t, SEC / 2, &seq, &plen))
                ;
        say("mmds-hostile win0 early_segs=%u early_bytes=%u", t.segs, resp_len);
        t.win = 65535;
        tcp_send(&t, t.snd_nxt, F_ACK, 0, 0); /* the window opens */
        int rc = read_answer(&t, 2 * SEC);
        if (!rc)
                tcp_close(&t);
        report(&t, rc);
}

static void out_of_order(void)
{
        struct tcb t = new_tcb();
        if (tcp_connect(&t)) {
                say("mmds-hostile ooo connect-failed");
                return;
        }
        u32 half = req_len / 2;
        tcp_send(&t, t.snd_nxt + half, F_ACK | F_PSH, req + half, req_len - half);
        tcp_send(&t, t.snd_nxt, F_ACK, req, half);
        tcp_send(&t, t.snd_nxt + half, F_ACK | F_PSH, req + half, req_len - half);
        t.snd_nxt += req_len;
        int rc = read_answer(&t, 2 * SEC);
        if (!rc)
                tcp_close(&t);
        say("mmds-hostile ooo done");
        report(&t, rc);
}

/* The answer's first segment is never acknowledged: the service resends it on its timer. */
static void no_ack(void)
{
        struct tcb t = new_tcb();
        u32 seq, plen;
        if (tcp_connect(&t)) {
                say("mmds-hostile noack connect-failed");
                return;
        }
        t.no_ack = 1;
        tcp_send(&t, t.snd_nxt, F_ACK | F_PSH, req, req_len);
        t.snd_nxt += req_len;
        for (u64 end = rdtsc() + 4 * SEC; rdtsc() < end;)
                tcp_recv(&t, SEC / 4, &seq, &plen);
        say("mmds-hostile noack segs=%u retx=%u", t.segs, t.retx);
        tcp_send(&t, t.snd_nxt, F_RST, 0, 0);
}

/* Frames for the service's address that no stack should take; none may get an answer. */
static void garbage(void)
{
        u32 sent = 0, answers = 0, len;
        for (u32 k = 0; k < 8; k++) {
                struct tcb t = new_tcb();
                u32 n;
                n = tcp_build(&t, 1, F_SYN, 0, 0); /* a valid SYN in fr, broken below */
                switch (k) {
                case 0:
                        n = 20;
                        break; /* runt */
                case 1:
                        fr[14] = 0x4f;
                        break; /* IHL past the packet */
                case 2:
                        fr[14 + 10] ^= 0x55;
                        break; /* IPv4 checksum */
                case 3:
                        fr[23] = 17;
                        break; /* UDP */
                case 4:
                        fr[34 + 3] = 81;
                        break; /* port 81 */
                case 5:
                        fr[34 + 12] = 0xf0;
                        break; /* TCP header past it */
                case 6:
                        fr[34 + 16] ^= 0x55;
                        break; /* TCP checksum */
                default:
                        for (u32 i = 14; i < n; i++)
                                fr[i] = (u8)(i * 37);
                        break;
                }
                gnet_send(fr, n);
                sent++;
        }
        for (u64 end = rdtsc() + SEC / 2; rdtsc() < end;) {
                const u8 *f = gnet_poll(&len);
                if (!f)
                        continue;
                /* The service's frames only: the host may talk on the tap too. */
                answers += len >= 34 && get16(f + 12) == 0x0800 && get32(f + 26) == sip;
                gnet_release(f);
        }
        say("mmds-hostile garbage sent=%u answers=%u", sent, answers);
}

static void run_hostile(const u8 *m, u64 n)
{
        if (cmd_same(m, n, "synflood"))
                synflood();
        else if (cmd_same(m, n, "win0"))
                win0();
        else if (cmd_same(m, n, "ooo"))
                out_of_order();
        else if (cmd_same(m, n, "noack"))
                no_ack();
        else if (cmd_same(m, n, "garbage"))
                garbage();
        else
                say_bytes("mmds-hostile unknown ", m, n);
}

/* ---- entry --------------------------------------------------------------------------------- */

static void v2(const u8 *path, u64 plen, int json)
{
        static const u8 tpath[] = "/latest/api/token";
        static u8 token[256];
        struct tcb t = new_tcb();
        u32 tlen;

        build_req("PUT", tpath, sizeof(tpath) - 1, 0, 0, 0);
        int rc = exchange(&t);
        report(&t, rc);
        const u8 *b = body_of(&tlen);
        if (rc || tlen > sizeof(token))
                return;
        for (u32 i = 0; i < tlen; i++)
                token[i] = b[i];
        t = new_tcb();
        build_req("GET", path, plen, token, tlen, json);
        report(&t, exchange(&t));
}

static void get(const u8 *path, u64 plen, int json, u32 count)
{
        struct tcb t = new_tcb();
        u32 ok = 0;
        u64 t0 = rdtsc();
        int rc = 0;

        build_req("GET", path, plen, 0, 0, json);
        for (u32 i = 0; i < count; i++) {
                t = new_tcb();
                rc = exchange(&t);
                ok += rc == 0;
        }
        if (count > 1)
                say("mmds-bench count=%u ok=%u cycles=%lu", count, ok, rdtsc() - t0);
        report(&t, rc);
}

void mmds_tests(const u8 *cmd, u64 n)
{
        u64 len;
        const u8 *v;

        if (!cmd_word(cmd, n, "brasa.mmds", &len))
                return;
        v = cmd_word(cmd, n, "brasa.mmds.ip=", &len);
        sip = v ? parse_ip(v, len) : 0xa9fea9feu;
        if (gnet_open(cmd, n, gmac)) {
                say("mmds none");
                return;
        }
        if (arp()) {
                say("mmds-arp none");
                return;
        }
        say("mmds-arp mac=%02x%02x%02x%02x%02x%02x", smac[0], smac[1], smac[2], smac[3], smac[4],
            smac[5]);
        int json = cmd_word(cmd, n, "brasa.mmds.json", &len) != 0;
        static const u8 root[] = "/";
        v = cmd_word(cmd, n, "brasa.mmds.get=", &len);
        build_req("GET", v ? v : root, v ? len : 1, 0, 0, json);
        const u8 *m = cmd_word(cmd, n, "brasa.mmds.hostile=", &len);
        if (m)
                run_hostile(m, len);
        v = cmd_word(cmd, n, "brasa.mmds.get=", &len);
        if (v)
                get(v, len, json, cmd_opt(cmd, n, "brasa.mmds.count=", 1));
        v = cmd_word(cmd, n, "brasa.mmds.v2=", &len);
        if (v)
                v2(v, len, json);
        say("mmds-done");
}
