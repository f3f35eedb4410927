#pragma once
// Smooth weighted round robin (the nginx algorithm): with equal weights it is plain round
// robin; with weights 5,1,1 it yields a,a,b,a,c,a,a rather than a burst of five a's.
// Worker-local: one instance per worker per cluster snapshot; no locks, no shared state.

#include <cstdint>
#include <optional>
#include <vector>

#include "pilotfish/cluster/cluster.h"

namespace pilotfish::lb {

class RoundRobin {
 public:
  /// Resets state for a (new) snapshot. Endpoints with weight 0 or unhealthy are never picked.
  void reset(const cluster::ClusterSnapshot& snapshot);

  /// Index into snapshot.endpoints of the next endpoint, or nullopt when none may take traffic.
  /// `snapshot` must be the one passed to reset().
  std::optional<std::size_t> pick(const cluster::ClusterSnapshot& snapshot);

  /// The endpoint to try after `tried` failed (connect failure): the next eligible endpoint in
  /// list order that is not in `tried`, or nullopt when all were tried.
  static std::optional<std::size_t> next(const cluster::ClusterSnapshot& snapshot,
                                         std::size_t after, const std::vector<bool>& tried);

 private:
  std::vector<int64_t> current_;
};

}  // namespace pilotfish::lb
