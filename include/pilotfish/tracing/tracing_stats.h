#pragma once
// Per-worker tracing counters (one instance per worker; see pilotfish/stats/stats.h and
// docs/tracing.md). Single writer: the owning worker.

#include "pilotfish/stats/stats.h"
#include "pilotfish/tracing/propagation.h"

namespace pilotfish::tracing {

#define PILOTFISH_TRACING_STATS(COUNTER, GAUGE, HISTOGRAM)                                 \
  COUNTER(started, "pilotfish_tracing_traces_started_total",                               \
          "Requests without a usable incoming trace context that got a new trace")         \
  COUNTER(continued, "pilotfish_tracing_traces_continued_total",                           \
          "Requests whose incoming trace context was continued")                           \
  COUNTER(sampled, "pilotfish_tracing_sampled_total", "Requests forwarded with sampled=1") \
  COUNTER(malformed_traceparent, "pilotfish_tracing_malformed_traceparent_total",          \
          "Incoming traceparent headers that were malformed and replaced")                 \
  COUNTER(malformed_b3_single, "pilotfish_tracing_malformed_b3_single_total",              \
          "Incoming b3 headers that were malformed and replaced")                          \
  COUNTER(malformed_b3_multi, "pilotfish_tracing_malformed_b3_multi_total",                \
          "Incoming X-B3-* header sets that were malformed and replaced")                  \
  COUNTER(malformed_tracestate, "pilotfish_tracing_malformed_tracestate_total",            \
          "Incoming tracestate headers that were malformed and dropped")                   \
  COUNTER(invalid_request_id, "pilotfish_tracing_invalid_request_id_total",                \
          "Incoming x-request-id headers that were invalid and replaced")                  \
  COUNTER(conflicts, "pilotfish_tracing_conflicts_total",                                  \
          "Requests whose B3 and traceparent contexts disagreed (traceparent won)")        \
  COUNTER(dropped_invalid, "pilotfish_tracing_dropped_invalid_values_total",               \
          "Generated header values that failed validation and were not written (a bug)")

PILOTFISH_STATS_STRUCT(TracingStats, PILOTFISH_TRACING_STATS);

/// Counts one decidePropagation() outcome. Call on the worker that owns `stats`.
inline void recordPropagation(TracingStats& stats, const PropagationResult& r) {
  if (!r.traceId().empty()) {
    (r.continued() ? stats.continued : stats.started).inc();
    if (r.sampled()) stats.sampled.inc();
  }
  const uint8_t m = r.malformed();
  if (m & Malformed::kTraceparent) stats.malformed_traceparent.inc();
  if (m & Malformed::kB3Single) stats.malformed_b3_single.inc();
  if (m & Malformed::kB3Multi) stats.malformed_b3_multi.inc();
  if (m & Malformed::kTracestate) stats.malformed_tracestate.inc();
  if (m & Malformed::kRequestId) stats.invalid_request_id.inc();
  if (r.incoming().conflict) stats.conflicts.inc();
  if (r.droppedInvalid() != 0) stats.dropped_invalid.inc(r.droppedInvalid());
}

}  // namespace pilotfish::tracing
