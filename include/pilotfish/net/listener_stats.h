#pragma once
// Per-worker statistics of one listener (label `listener`). See docs/metrics.md.

#include "pilotfish/stats/stats.h"

namespace pilotfish::net {

#define PILOTFISH_LISTENER_STATS(COUNTER, GAUGE, HISTOGRAM)                                   \
  COUNTER(accepted, "pilotfish_listener_connections_accepted_total", "Connections accepted")  \
  GAUGE(active, "pilotfish_listener_connections_active", "Connections open now")              \
  COUNTER(closed, "pilotfish_listener_connections_closed_total", "Connections closed")        \
  COUNTER(overflow, "pilotfish_listener_connections_overflow_total",                          \
          "Connections closed at once because max_connections was reached")                   \
  COUNTER(rx_bytes, "pilotfish_listener_received_bytes_total", "Bytes received from clients") \
  COUNTER(tx_bytes, "pilotfish_listener_sent_bytes_total", "Bytes sent to clients")           \
  COUNTER(accept_paused, "pilotfish_listener_accept_paused_total",                            \
          "Times accepting paused because the process or system ran out of file descriptors") \
  COUNTER(accept_errors, "pilotfish_listener_accept_errors_total",                            \
          "accept() failures other than descriptor exhaustion")                               \
  COUNTER(drain_closed, "pilotfish_listener_connections_drain_closed_total",                  \
          "Connections closed by force when drain_timeout expired")                           \
  COUNTER(idle_timeouts, "pilotfish_listener_idle_timeouts_total",                            \
          "Connections closed by idle_timeout")                                               \
  HISTOGRAM(duration, "pilotfish_listener_connection_duration_seconds",                       \
            "Lifetime of closed connections")

PILOTFISH_STATS_STRUCT(ListenerStats, PILOTFISH_LISTENER_STATS);

}  // namespace pilotfish::net
