/* virtio-net metrics: deltas, the sum over interfaces and Firecracker's JSON field names. */
#include "devices/virtio/net/metrics.h"

void net_metrics_take(const struct net_metrics *cur, struct net_metrics *prev,
                      struct net_metrics *delta)
{
#define NET_METRIC_DELTA(x) delta->x = cur->x - prev->x;
        NET_METRICS(NET_METRIC_DELTA)
#undef NET_METRIC_DELTA
        *prev = *cur;
}

void net_metrics_add(struct net_metrics *sum, const struct net_metrics *m)
{
#define NET_METRIC_ADD(x) sum->x += m->x;
        NET_METRICS(NET_METRIC_ADD)
#undef NET_METRIC_ADD
}

json_t *net_metrics_json(const struct net_metrics *m)
{
        json_t *o = json_object();

        if (!o)
                return NULL;
#define NET_METRIC_JSON(x) json_object_set_new(o, #x, json_integer((json_int_t)m->x));
        NET_METRICS(NET_METRIC_JSON)
#undef NET_METRIC_JSON
        return o;
}
