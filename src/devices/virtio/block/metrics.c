/* virtio-block metrics: the descriptor table of Firecracker's BlockDeviceMetrics. */
#include "devices/virtio/block/metrics.h"

static const struct metrics_desc blk_desc[] = {BLK_METRICS(METRICS_DESC, struct blk_metrics)};

const struct metrics_table blk_metrics_table = METRICS_TABLE(blk_desc, struct blk_metrics);
