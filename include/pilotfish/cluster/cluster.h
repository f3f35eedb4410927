#pragma once
// Immutable descriptions of clusters and their endpoints. Built on the control thread,
// published to workers as shared_ptr<const ...>, never mutated after publish. Endpoints are
// shared between successive snapshots of a cluster.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pilotfish/config/config.h"
#include "pilotfish/net/socket_address.h"

namespace pilotfish::cluster {

enum class Health { kHealthy, kUnhealthy, kUnknown };
const char* healthName(Health h);

/// Key/value labels of an endpoint (Consul tags as {tag, ""} and Meta, nerve labels), sorted.
using Labels = std::vector<std::pair<std::string, std::string>>;

struct Endpoint {
  net::HostPort host_port;
  net::SocketAddress address;
  uint32_t weight = 1;  ///< 0 = no new traffic
  std::string zone;
  Health health = Health::kHealthy;  ///< as reported by the store
  std::string id;                    ///< instance id in the store; empty for static endpoints
  Labels labels;
  int64_t registered_at_ms = 0;  ///< Unix ms of registration (znode ctime); 0 = unknown
};
using EndpointPtr = std::shared_ptr<const Endpoint>;

/// One version of one cluster's endpoint set.
struct ClusterSnapshot {
  std::string name;
  std::string source;  ///< static, dynamic_host, zookeeper, consul, etcd, dns, file
  std::vector<EndpointPtr> endpoints;
  std::chrono::milliseconds connect_timeout{1000};
  /// When this endpoint set was obtained (steady clock), for the age shown in /clusters.
  std::chrono::steady_clock::time_point updated_at;
  /// Sum of weights of endpoints that may take new traffic.
  uint64_t total_weight = 0;
};
using ClusterSnapshotPtr = std::shared_ptr<const ClusterSnapshot>;

/// Every cluster, indexed like Config::clusters.
struct ClusterSet {
  std::vector<ClusterSnapshotPtr> clusters;
};
using ClusterSetPtr = std::shared_ptr<const ClusterSet>;

/// Builds the static snapshot of a configured cluster.
ClusterSnapshotPtr buildStatic(const config::ClusterConfig& c,
                               std::chrono::steady_clock::time_point now);

/// Builds the set for every cluster of a config.
ClusterSetPtr buildAll(const config::Config& cfg, std::chrono::steady_clock::time_point now);

}  // namespace pilotfish::cluster
