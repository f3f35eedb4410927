#include "pilotfish/cluster/cluster.h"

namespace pilotfish::cluster {

const char* healthName(Health h) {
  switch (h) {
    case Health::kHealthy: return "healthy";
    case Health::kUnhealthy: return "unhealthy";
    case Health::kUnknown: break;
  }
  return "unknown";
}

ClusterSnapshotPtr buildStatic(const config::ClusterConfig& c,
                               std::chrono::steady_clock::time_point now) {
  auto s = std::make_shared<ClusterSnapshot>();
  s->name = c.name;
  s->source = c.type == config::ClusterType::kDynamicHost ? "dynamic_host"
              : c.discovery ? config::discoveryKindName(c.discovery->kind)
                            : "static";
  s->connect_timeout = c.connect_timeout;
  s->updated_at = now;
  for (const auto& e : c.endpoints) {
    auto addr = net::SocketAddress::fromHostPort(e.address);
    if (!addr) continue;  // the loader only accepts IP literals; defensive
    auto ep = std::make_shared<Endpoint>();
    ep->host_port = e.address;
    ep->address = *addr;
    ep->weight = e.weight;
    ep->zone = e.zone;
    s->total_weight += ep->health == Health::kHealthy ? ep->weight : 0;
    s->endpoints.push_back(std::move(ep));
  }
  return s;
}

ClusterSetPtr buildAll(const config::Config& cfg, std::chrono::steady_clock::time_point now) {
  auto set = std::make_shared<ClusterSet>();
  for (const auto& c : cfg.clusters) set->clusters.push_back(buildStatic(c, now));
  return set;
}

}  // namespace pilotfish::cluster
