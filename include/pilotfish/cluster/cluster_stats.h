#pragma once
// Per-worker statistics of one upstream cluster (label `cluster`). See docs/metrics.md.

#include "pilotfish/stats/stats.h"

namespace pilotfish::cluster {

#define PILOTFISH_CLUSTER_STATS(COUNTER, GAUGE, HISTOGRAM)                                       \
  COUNTER(cx_total, "pilotfish_cluster_upstream_connections_total",                              \
          "Upstream connections established")                                                    \
  GAUGE(cx_active, "pilotfish_cluster_upstream_connections_active", "Upstream connections open") \
  COUNTER(connect_failures, "pilotfish_cluster_upstream_connect_failures_total",                 \
          "Upstream connect attempts that failed (refused, unreachable, reset)")                 \
  COUNTER(connect_timeouts, "pilotfish_cluster_upstream_connect_timeouts_total",                 \
          "Upstream connect attempts that exceeded connect_timeout")                             \
  COUNTER(no_endpoint, "pilotfish_cluster_upstream_unavailable_total",                           \
          "Downstream connections closed because no endpoint could be reached")                  \
  COUNTER(tx_bytes, "pilotfish_cluster_upstream_sent_bytes_total", "Bytes sent to upstreams")    \
  COUNTER(rx_bytes, "pilotfish_cluster_upstream_received_bytes_total",                           \
          "Bytes received from upstreams")                                                       \
  COUNTER(tls_handshakes, "pilotfish_cluster_upstream_tls_handshakes_total",                     \
          "TLS handshakes completed with upstreams")                                             \
  COUNTER(tls_resumed, "pilotfish_cluster_upstream_tls_resumed_total",                           \
          "TLS handshakes that resumed a session")                                               \
  COUNTER(tls_failures, "pilotfish_cluster_upstream_tls_failures_total",                         \
          "TLS handshakes that failed (verification, protocol, reset)")                          \
  HISTOGRAM(connect_time, "pilotfish_cluster_upstream_connect_duration_seconds",                 \
            "Time to establish upstream connections")

PILOTFISH_STATS_STRUCT(ClusterStats, PILOTFISH_CLUSTER_STATS);

}  // namespace pilotfish::cluster
