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
};

void registerAdminHandlers(admin::AdminServer& server, AdminContext ctx);

/// /clusters body: JSON document of every cluster and its endpoints.
std::string clustersJson(const cluster::ClusterSet& set, std::chrono::steady_clock::time_point now);

}  // namespace pilotfish::server
