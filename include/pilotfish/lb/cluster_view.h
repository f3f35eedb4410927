#pragma once
// A worker's view of one cluster: the endpoint snapshot it currently routes to, the load
// balancer state for that snapshot and the worker's stats for the cluster. Used by every proxy
// (tcp, http) on that worker. Worker-local: no locks; the control thread publishes a new
// snapshot by posting update() to the worker.

#include "pilotfish/cluster/cluster.h"
#include "pilotfish/cluster/cluster_stats.h"
#include "pilotfish/lb/round_robin.h"

namespace pilotfish::lb {

struct ClusterView {
  cluster::ClusterSnapshotPtr snapshot;
  RoundRobin lb;
  cluster::ClusterStats* stats = nullptr;

  /// Swaps in a new snapshot (between connections/requests; those in flight keep the one they
  /// started with).
  void update(cluster::ClusterSnapshotPtr s) {
    snapshot = std::move(s);
    lb.reset(*snapshot);
  }
};

}  // namespace pilotfish::lb
