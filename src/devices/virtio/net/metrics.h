/* Per-interface virtio-net metrics: Firecracker's NetDeviceMetrics counters. */
#ifndef BRASA_DEVICES_VIRTIO_NET_METRICS_H
#define BRASA_DEVICES_VIRTIO_NET_METRICS_H

#include <jansson.h>
#include <stdint.h>

/* Every counter, by its Firecracker name, in Firecracker's order. */
#define NET_METRICS(X)                                                                             \
        X(activate_fails)                                                                          \
        X(cfg_fails)                                                                               \
        X(mac_address_updates)                                                                     \
        X(no_rx_avail_buffer)                                                                      \
        X(no_tx_avail_buffer)                                                                      \
        X(event_fails)                                                                             \
        X(rx_queue_event_count)                                                                    \
        X(rx_event_rate_limiter_count)                                                             \
        X(rx_partial_writes)                                                                       \
        X(rx_rate_limiter_throttled)                                                               \
        X(rx_tap_event_count)                                                                      \
        X(rx_bytes_count)                                                                          \
        X(rx_packets_count)                                                                        \
        X(rx_fails)                                                                                \
        X(rx_count)                                                                                \
        X(tap_read_fails)                                                                          \
        X(tap_write_fails)                                                                         \
        X(tx_bytes_count)                                                                          \
        X(tx_malformed_frames)                                                                     \
        X(tx_fails)                                                                                \
        X(tx_count)                                                                                \
        X(tx_packets_count)                                                                        \
        X(tx_partial_reads)                                                                        \
        X(tx_queue_event_count)                                                                    \
        X(tx_rate_limiter_event_count)                                                             \
        X(tx_rate_limiter_throttled)                                                               \
        X(tx_spoofed_mac_count)                                                                    \
        X(tx_remaining_reqs_count)

/* Counters (cumulative in a device; deltas once taken for a metrics line). */
struct net_metrics {
#define NET_METRIC_FIELD(x) uint64_t x;
        NET_METRICS(NET_METRIC_FIELD)
#undef NET_METRIC_FIELD
};

/* *delta = *cur - *prev, then *prev = *cur. */
void net_metrics_take(const struct net_metrics *cur, struct net_metrics *prev,
                      struct net_metrics *delta);

/* Adds *m into *sum: the "net" line over all interfaces. */
void net_metrics_add(struct net_metrics *sum, const struct net_metrics *m);

/* Firecracker's serialization of NetDeviceMetrics. New reference or NULL. */
json_t *net_metrics_json(const struct net_metrics *m);

#endif
