/* Per-interface virtio-net metrics: Firecracker's NetDeviceMetrics counters. */
#ifndef BRASA_DEVICES_VIRTIO_NET_METRICS_H
#define BRASA_DEVICES_VIRTIO_NET_METRICS_H

#include "core/metrics.h"

/* Every counter, by its Firecracker name, in Firecracker 1.16's order (core/metrics.h's scheme;
 * rx_partial_writes and tx_partial_reads went in Firecracker 1.14). */
#define NET_METRICS(X, T)                                                                          \
        X(T, COUNTER, activate_fails)                                                              \
        X(T, COUNTER, cfg_fails)                                                                   \
        X(T, COUNTER, mac_address_updates)                                                         \
        X(T, COUNTER, no_rx_avail_buffer)                                                          \
        X(T, COUNTER, no_tx_avail_buffer)                                                          \
        X(T, COUNTER, event_fails)                                                                 \
        X(T, COUNTER, rx_queue_event_count)                                                        \
        X(T, COUNTER, rx_event_rate_limiter_count)                                                 \
        X(T, COUNTER, rx_rate_limiter_throttled)                                                   \
        X(T, COUNTER, rx_tap_event_count)                                                          \
        X(T, COUNTER, rx_bytes_count)                                                              \
        X(T, COUNTER, rx_packets_count)                                                            \
        X(T, COUNTER, rx_fails)                                                                    \
        X(T, COUNTER, rx_count)                                                                    \
        X(T, COUNTER, tap_read_fails)                                                              \
        X(T, COUNTER, tap_write_fails)                                                             \
        X(T, COUNTER, tx_bytes_count)                                                              \
        X(T, COUNTER, tx_malformed_frames)                                                         \
        X(T, COUNTER, tx_fails)                                                                    \
        X(T, COUNTER, tx_count)                                                                    \
        X(T, COUNTER, tx_packets_count)                                                            \
        X(T, COUNTER, tx_queue_event_count)                                                        \
        X(T, COUNTER, tx_rate_limiter_event_count)                                                 \
        X(T, COUNTER, tx_rate_limiter_throttled)                                                   \
        X(T, COUNTER, tx_spoofed_mac_count)                                                        \
        X(T, COUNTER, tx_remaining_reqs_count)                                                     \
        X(T, LATENCY, tap_write_agg)

/* Counters (cumulative in a device; deltas once taken for a metrics line). */
struct net_metrics {
        NET_METRICS(METRICS_FIELD_PLAIN, _)
};

/* The fields of struct net_metrics: the "net" and "net_<iface_id>" groups. */
extern const struct metrics_table net_metrics_table;

#endif
