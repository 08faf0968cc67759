/* MMDS config (PUT /mmds/config, the config file's "mmds-config"): version, interfaces, address. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "model/resource.h"

#define MMDS_DEFAULT_IPV4 0xa9fea9feu /* 169.254.169.254 */

static int check_ipv4(struct perr *pe, const json_t *v, const struct mfield *f)
{
        return mt_str.check(pe, v, f);
}

/* Ipv4Addr's Deserialize: the syntax is checked while decoding (host order stored). */
static int store_ipv4(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        struct in_addr a;

        (void)f;
        if (inet_pton(AF_INET, json_string_value(v), &a) != 1)
                return cfg_error_at(pe, v, JSON_AT_VALUE, "invalid IPv4 address syntax");
        *(uint32_t *)dst = ntohl(a.s_addr);
        return 0;
}

static json_t *encode_ipv4(const void *src, const struct mfield *f)
{
        struct in_addr a = {.s_addr = htonl(*(const uint32_t *)src)};
        char ip[INET_ADDRSTRLEN];

        (void)f;
        inet_ntop(AF_INET, &a, ip, sizeof(ip));
        return json_string(ip);
}

static const struct mtype mt_ipv4 = {check_ipv4, store_ipv4, encode_ipv4, NULL};

static const char *const versions[] = {"V1", "V2", NULL};

/* MmdsVersion, kept as its number (1 or 2): the variant's index plus one. */
static int check_version(struct perr *pe, const json_t *v, const struct mfield *f)
{
        return mt_enum.check(pe, v, f);
}

static int store_version(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        int rc = mt_enum.store(pe, v, dst, f);

        *(unsigned int *)dst += 1;
        return rc;
}

static json_t *encode_version(const void *src, const struct mfield *f)
{
        (void)f;
        return json_string(versions[*(const unsigned int *)src - 1]);
}

static const struct mtype mt_version = {check_version, store_version, encode_version, NULL};

#define MM struct mmds_cfg
static const struct mfield mmds_fields[] = {
    {MFIELD(MM, version, "version", mt_version, 0), .has = MF_NO_HAS, .arg = versions,
     .expected = "enum MmdsVersion", .dflt = 1},
    F(MM, ifaces, "network_interfaces", mt_strings, MF_REQUIRED),
    F_DFLT(MM, ipv4_address, "ipv4_address", mt_ipv4, MF_OPTION, MMDS_DEFAULT_IPV4),
    F(MM, imds_compat, "imds_compat", mt_bool, 0),
};
static const struct model mmds_model = MODEL("struct MmdsConfig", mmds_fields, false);

/* MmdsConfig's validation: a link-local address, known interfaces. */
static int mmds_validate(struct perr *pe, const struct vm_config *cfg, const struct mmds_cfg *m)
{
        uint32_t ip = m->ipv4_address;
        unsigned int i;

        /* is_link_local_valid(): 169.254.0.0/16 minus its first and last /24. */
        if ((ip >> 16) != 0xa9fe || ((ip >> 8) & 0xff) == 0 || ((ip >> 8) & 0xff) == 0xff)
                return cfg_fail(pe, -EINVAL, "The MMDS IPv4 address is not link local.");
        if (m->ifaces.n == 0)
                return cfg_fail(pe, -EINVAL,
                                "The list of network interface IDs that allow forwarding MMDS "
                                "requests is empty.");
        for (i = 0; i < m->ifaces.n; i++)
                if (cfg_list_index(cfg, &res_nets, m->ifaces.v[i]) < 0)
                        return cfg_fail(pe, -EINVAL,
                                        "The list of network interface IDs provided contains at "
                                        "least one ID that does not correspond to any existing "
                                        "network interface.");
        return 0;
}

static int mmds_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        int rc;

        (void)body;
        rc = mmds_validate(pe, cfg, val);
        if (rc)
                return rc;
        model_release(&mmds_model, &cfg->mmds);
        cfg->mmds = *(struct mmds_cfg *)val;
        cfg->mmds.present = true;
        memset(val, 0, sizeof(cfg->mmds));
        return 0;
}

const struct resource res_mmds = {
    .key = "mmds-config",
    .prefix = "MMDS config error: ",
    .model = &mmds_model,
    RES_ONE(struct mmds_cfg, mmds),
    .apply_rank = 9,
    .apply = mmds_apply,
};
