#pragma once
// Round robin. When every endpoint that may take traffic has the same weight (the common case,
// and the one of large discovered clusters) it is plain round robin over a precomputed list: O(1)
// per pick whatever the cluster's size. Otherwise smooth weighted round robin (the nginx
// algorithm, O(endpoints) per pick): with weights 5,1,1 it yields a,a,b,a,c,a,a rather than a
// burst of five a's. Each reset starts at a random position, so that after a discovery update
// the workers (and every sidecar of a fleet) do not all send their next request to the same
// endpoint.
// Worker-local: one instance per worker per cluster snapshot; no locks, no shared state.

#include <cstdint>
#include <optional>
#include <vector>

#include "pilotfish/cluster/cluster.h"

namespace pilotfish::lb {

class RoundRobin {
 public:
  /// Resets state for a (new) snapshot. Endpoints with weight 0 or unhealthy are never picked.
  /// `start` is where the rotation begins (nullopt: random).
  void reset(const cluster::ClusterSnapshot& snapshot, std::optional<std::size_t> start = {});

  /// Index into snapshot.endpoints of the next endpoint, or nullopt when none may take traffic.
  /// `snapshot` must be the one passed to reset().
  std::optional<std::size_t> pick(const cluster::ClusterSnapshot& snapshot);

  /// The endpoint to try after `tried` failed (connect failure): the next eligible endpoint in
  /// list order that is not in `tried`, or nullopt when all were tried.
  static std::optional<std::size_t> next(const cluster::ClusterSnapshot& snapshot,
                                         std::size_t after, const std::vector<bool>& tried);

 private:
  std::vector<int64_t> current_;
  std::vector<uint32_t> eligible_;  // indexes of endpoints that may take traffic
  bool uniform_ = true;             // every eligible endpoint has the same weight
  std::size_t next_ = 0;            // uniform: position in eligible_
};

}  // namespace pilotfish::lb
