#pragma once
// The admin endpoints of this version: /metrics, /ready, /clusters, /config, /logging.
// Control thread only.

#include <chrono>
#include <functional>
#include <vector>

#include "pilotfish/accesslog/access_log_stats.h"
#include "pilotfish/admin/admin_server.h"
#include "pilotfish/cluster/cluster.h"
#include "pilotfish/cluster/cluster_stats.h"
#include "pilotfish/config/config.h"
#include "pilotfish/discovery/cache.h"
#include "pilotfish/http/http_stats.h"
#include "pilotfish/net/listener_stats.h"
#include "pilotfish/pool/idle_pool.h"
#include "pilotfish/stats/prometheus.h"

namespace pilotfish::server {

struct AdminContext {
  config::ConfigPtr config;
  std::function<cluster::ClusterSetPtr()> clusters;
  std::function<bool()> ready;
  std::function<bool()> draining;
  std::chrono::steady_clock::time_point started_at;
  unsigned workers = 0;
  std::function<std::vector<stats::Series<net::ListenerStats>>()> listener_series;
  std::function<std::vector<stats::Series<cluster::ClusterStats>>()> cluster_series;
  std::function<std::vector<stats::Series<accesslog::AccessLogStats>>()> access_log_series;
  std::function<std::vector<stats::Series<http::HttpStats>>()> http_series;
  std::function<std::vector<stats::Series<http::HttpErrorCounter>>()> http_error_series;
  std::function<std::vector<stats::Series<pool::PoolStats>>()> pool_series;
  /// Discovery state of cluster i (Config::clusters order).
  std::function<discovery::ClusterStatus(std::size_t)> discovery_status;
  /// Appends the pilotfish_discovery_* metrics.
  std::function<void(std::string&)> discovery_metrics;
};

void registerAdminHandlers(admin::AdminServer& server, AdminContext ctx);

/// /clusters body: JSON document of every cluster and its endpoints.
/// `status(i)` gives the discovery state of cluster i (may be empty: all static).
std::string clustersJson(const cluster::ClusterSet& set, std::chrono::steady_clock::time_point now,
                         const std::function<discovery::ClusterStatus(std::size_t)>& status = {});

}  // namespace pilotfish::server
