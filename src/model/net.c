/* Network interfaces (PUT/PATCH /network-interfaces/{id}, "network-interfaces"): virtio-net. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "core/tap.h"
#include "model/resource.h"

/* ---- the MAC address type ---------------------------------------------------------------- */

static int parse_mac(const char *s, uint8_t mac[6])
{
        unsigned int i;

        if (strlen(s) != 17)
                return -EINVAL;
        for (i = 0; i < 6; i++) {
                const char *p = s + i * 3;
                char hex[3] = {p[0], p[1], 0};

                if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]) ||
                    (i < 5 && p[2] != ':'))
                        return -EINVAL;
                mac[i] = (uint8_t)strtoul(hex, NULL, 16);
        }
        return 0;
}

static void fmt_mac(const uint8_t mac[6], char *out)
{
        snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
}

static int check_mac(struct perr *pe, const json_t *v, const struct mfield *f)
{
        return mt_str.check(pe, v, f);
}

/* MacAddr's Deserialize: the format is checked while decoding. */
static int store_mac(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        (void)f;
        if (parse_mac(json_string_value(v), dst))
                return cfg_error_at(pe, v, JSON_AT_NEXT, "The provided MAC address is invalid.");
        return 0;
}

static json_t *encode_mac(const void *src, const struct mfield *f)
{
        char mac[18];

        (void)f;
        fmt_mac(src, mac);
        return json_string(mac);
}

static const struct mtype mt_mac = {check_mac, store_mac, encode_mac, NULL};

/* ---- the models ------------------------------------------------------------------------- */

#define NC struct net_cfg
static const struct mfield net_fields[] = {
    F(NC, iface_id, "iface_id", mt_str, MF_REQUIRED),
    F(NC, host_dev_name, "host_dev_name", mt_str, MF_REQUIRED),
    {MFIELD(NC, guest_mac, "guest_mac", mt_mac, MF_OPTION | MF_NULL_UNSET),
     .has = offsetof(NC, has_mac)},
    {MFIELD(NC, mtu, "mtu", mt_u16, MF_OPTION | MF_NULL_UNSET), .has = offsetof(NC, has_mtu)},
    F_OBJ(NC, rx_rate_limiter, "rx_rate_limiter", mt_object, MF_OPTION, &model_rate_limiter),
    F_OBJ(NC, tx_rate_limiter, "tx_rate_limiter", mt_object, MF_OPTION, &model_rate_limiter),
};
static const struct model net_model = MODEL("struct NetworkInterfaceConfig", net_fields, false);

#define NU struct net_update
static const struct mfield patch_fields[] = {
    F(NU, iface_id, "iface_id", mt_str, MF_REQUIRED),
    F_OBJ(NU, rx, "rx_rate_limiter", mt_rl_update, MF_OPTION, &model_rate_limiter),
    F_OBJ(NU, tx, "tx_rate_limiter", mt_rl_update, MF_OPTION, &model_rate_limiter),
};
const struct model model_net_patch =
    MODEL("struct NetworkInterfaceUpdateConfig", patch_fields, false);

/* ---- storing ------------------------------------------------------------------------------ */

static int (*net_tap_open)(const char *name, struct err *e) = tap_open;

void config_set_tap_open(int (*fn)(const char *name, struct err *e))
{
        net_tap_open = fn ? fn : tap_open;
}

/* Closes the tap of n, if it holds one. */
static void net_close_tap(struct net_cfg *n)
{
        if (n->has_tap)
                close(n->tap_fd);
        n->has_tap = false;
}

static void net_release_one(struct net_cfg *n)
{
        net_close_tap(n);
        model_release(&net_model, n);
        memset(n, 0, sizeof(*n));
}

static int net_mac_conflict(struct perr *pe, const struct vm_config *cfg, const struct net_cfg *n)
{
        char mac[18];
        unsigned int i;

        for (i = 0; n->has_mac && i < cfg->nr_nets; i++) {
                if (cfg->nets[i].has_mac && memcmp(cfg->nets[i].guest_mac, n->guest_mac, 6) == 0 &&
                    strcmp(cfg->nets[i].iface_id, n->iface_id) != 0) {
                        fmt_mac(n->guest_mac, mac);
                        return cfg_fail(pe, -EINVAL, "The MAC address is already in use: %s", mac);
                }
        }
        return 0;
}

/* Net::new(): the tap (name, TUNSETIFF, vnet header), then the MTU; n holds the tap after. */
static int net_create(struct perr *pe, struct net_cfg *n)
{
        struct err e = ERR_INIT;
        int fd;

        fd = net_tap_open(n->host_dev_name, &e);
        if (fd < 0) {
                cfg_fail(pe, fd, "Could not create the network device: %s", e.msg);
                if (pe->e)
                        pe->e->hint = e.hint;
                return fd;
        }
        if (n->has_mtu && n->mtu < 68) {
                close(fd);
                return cfg_fail(pe, -EINVAL,
                                "Could not create the network device: MTU %u is out of range [68, "
                                "65535]",
                                n->mtu);
        }
        n->tap_fd = fd;
        n->has_tap = true;
        return 0;
}

/*
 * NetBuilder::build(): the MAC conflict check, then an interface with the same id is removed
 * (even when creating its replacement then fails, as in Firecracker, which frees its tap
 * first), then the new one is created, which opens its tap.
 */
static int net_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        struct net_cfg *n = val;
        int pos, rc;

        (void)body;
        rc = net_mac_conflict(pe, cfg, n);
        if (rc)
                return rc;
        pos = cfg_list_index(cfg, &res_nets, n->iface_id);
        if (pos < 0 && cfg->nr_nets >= CONFIG_MAX_NETS)
                return cfg_fail(pe, -ENOSPC, "brasa supports at most %d network interfaces",
                                CONFIG_MAX_NETS);
        if (pos >= 0) {
                net_release_one(&cfg->nets[pos]);
                cfg->nets[pos] = cfg->nets[--cfg->nr_nets];
                memset(&cfg->nets[cfg->nr_nets], 0, sizeof(cfg->nets[0]));
        }
        rc = net_create(pe, n);
        if (rc)
                return rc;
        cfg->nets[cfg->nr_nets++] = *n;
        memset(n, 0, sizeof(*n));
        return 0;
}

static void net_release(struct vm_config *cfg)
{
        unsigned int i;

        for (i = 0; i < cfg->nr_nets; i++)
                net_release_one(&cfg->nets[i]);
        cfg->nr_nets = 0;
}

int config_net_patch_check(const struct vm_config *cfg, const struct net_update *u, struct err *e)
{
        struct perr pe = PERR_API(e);

        if (cfg_list_index(cfg, &res_nets, u->iface_id) < 0)
                return cfg_fail(&pe, -ENOENT, "Unable to update the net device: " MSG_NOT_FOUND);
        return 0;
}

const struct resource res_nets = {
    .key = "network-interfaces",
    .prefix = "Network device error: ",
    .model = &net_model,
    RES_LIST(struct net_cfg, nets, nr_nets),
    .apply_rank = 6,
    .net_ids = true,
    .apply = net_apply,
    .release = net_release,
};
