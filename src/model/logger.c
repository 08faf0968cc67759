/* Logger (PUT /logger, the config file's "logger"): unset fields keep the logger's value. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/resource.h"

int config_log_level_from_name(const char *s)
{
        static const struct {
                const char *name;
                int level;
        } levels[] = {{"off", 0},  {"error", 1}, {"warn", 2}, {"warning", 2},
                      {"info", 3}, {"debug", 4}, {"trace", 5}};
        size_t i;

        for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
                if (strcasecmp(s, levels[i].name) == 0)
                        return levels[i].level;
        return -1;
}

static int check_level(struct perr *pe, const json_t *v, const struct mfield *f)
{
        return mt_str.check(pe, v, f);
}

/* LevelFilter's Deserialize: a level name, any case. */
static int store_level(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        int level = config_log_level_from_name(json_string_value(v));

        (void)f;
        if (level < 0)
                return cfg_error_at(pe, v, JSON_AT_NEXT, "Invalid LevelFilter");
        *(int *)dst = level;
        return 0;
}

/* An Option<bool> kept as -1 (unset), 0 or 1. */
static int store_tristate(struct perr *pe, const json_t *v, void *dst, const struct mfield *f)
{
        (void)pe;
        (void)f;
        *(int *)dst = json_is_true(v);
        return 0;
}

static int check_tristate(struct perr *pe, const json_t *v, const struct mfield *f)
{
        return mt_bool.check(pe, v, f);
}

static const struct mtype mt_level = {check_level, store_level, NULL, NULL};
static const struct mtype mt_tristate = {check_tristate, store_tristate, NULL, NULL};

#define LC struct logger_cfg
static const struct mfield logger_fields[] = {
    F(LC, log_path, "log_path", mt_str, MF_OPTION),
    F_DFLT(LC, level, "level", mt_level, MF_OPTION, (uint64_t)-1),
    F_DFLT(LC, show_level, "show_level", mt_tristate, MF_OPTION, (uint64_t)-1),
    F_DFLT(LC, show_log_origin, "show_log_origin", mt_tristate, MF_OPTION, (uint64_t)-1),
    F(LC, module, "module", mt_str, MF_OPTION),
};
static const struct model logger_model = MODEL("struct LoggerConfig", logger_fields, false);

void config_logger_free(struct logger_cfg *l)
{
        model_release(&logger_model, l);
        memset(l, 0, sizeof(*l));
        l->level = l->show_level = l->show_log_origin = -1;
}

int config_parse_logger(const json_t *body, struct logger_cfg *out, struct err *e)
{
        struct perr pe = PERR_API(e);
        struct logger_cfg l;
        int rc;

        memset(&l, 0, sizeof(l));
        rc = model_decode(&pe, &logger_model, body, &l, false);
        if (rc)
                return rc;
        l.present = true;
        *out = l;
        return 0;
}

static int logger_apply(struct perr *pe, struct vm_config *cfg, void *val, const json_t *body)
{
        (void)pe;
        (void)body;
        config_logger_free(&cfg->logger);
        cfg->logger = *(struct logger_cfg *)val;
        cfg->logger.present = true;
        memset(val, 0, sizeof(cfg->logger));
        return 0;
}

/* Applied by main.c when it comes from the config file; not part of GET /vm/config. */
static json_t *logger_show(const struct vm_config *cfg)
{
        (void)cfg;
        return json_null();
}

const struct resource res_logger = {
    .key = "logger",
    .prefix = "Logger error: ",
    .model = &logger_model,
    RES_ONE(struct logger_cfg, logger),
    .apply_rank = 0,
    .apply = logger_apply,
    .show = logger_show,
};
