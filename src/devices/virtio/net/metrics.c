/* virtio-net metrics: the descriptor table of Firecracker's NetDeviceMetrics. */
#include "devices/virtio/net/metrics.h"

static const struct metrics_desc net_desc[] = {NET_METRICS(METRICS_DESC, struct net_metrics)};

const struct metrics_table net_metrics_table = METRICS_TABLE(net_desc, struct net_metrics);
