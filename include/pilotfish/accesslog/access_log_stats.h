#pragma once
// Statistics of the access log. AccessLogger keeps one instance per worker (written only by
// that worker: `dropped` when its queue is full) and one for its writer thread (written only by
// the writer: everything else, plus `dropped` for entries it could not write). A scrape sums
// all of them: AccessLogger::stats() lists them for stats::Series. See docs/access-log.md.
//
// Invariant once the logger has stopped: written + dropped == entries submitted.

#include "pilotfish/stats/stats.h"

namespace pilotfish::accesslog {

#define PILOTFISH_ACCESS_LOG_STATS(COUNTER, GAUGE, HISTOGRAM)                          \
  COUNTER(written, "pilotfish_access_log_written_total", "Access log entries written") \
  COUNTER(dropped, "pilotfish_access_log_dropped_total",                               \
          "Access log entries lost: a worker's queue was full, or the output failed")  \
  COUNTER(write_errors, "pilotfish_access_log_write_errors_total",                     \
          "Failed writes to (or reopens of) the access log output")                    \
  COUNTER(reopens, "pilotfish_access_log_reopens_total",                               \
          "Times the access log file was reopened (SIGUSR1)")

PILOTFISH_STATS_STRUCT(AccessLogStats, PILOTFISH_ACCESS_LOG_STATS);

}  // namespace pilotfish::accesslog
