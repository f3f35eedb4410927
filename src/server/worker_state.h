#pragma once
// Everything one worker owns. Private to src/server. Worker-local once the worker runs; the
// control thread only reads the stats (relaxed atomics) for /metrics.

#include <memory>
#include <vector>

#include "pilotfish/cluster/cluster_stats.h"
#include "pilotfish/http/http_proxy.h"
#include "pilotfish/net/listener.h"
#include "pilotfish/net/listener_stats.h"
#include "pilotfish/tcp/tcp_proxy.h"

namespace pilotfish::server {

struct WorkerState {
  WorkerState(std::size_t listeners, std::size_t clusters)
      : listener_stats(listeners),
        cluster_stats(clusters),
        clusters(clusters),
        http_stats(listeners),
        http_errors(listeners),
        pool_stats(clusters) {}

  std::vector<net::ListenerStats> listener_stats;    // indexed like Config::listeners
  std::vector<cluster::ClusterStats> cluster_stats;  // indexed like Config::clusters
  std::vector<lb::ClusterView> clusters;             // indexed like Config::clusters
  tcp::SessionList sessions;
  std::vector<std::unique_ptr<tcp::TcpProxy>> proxies;
  std::vector<http::HttpStats> http_stats;        // indexed like Config::listeners
  std::vector<http::HttpErrorStats> http_errors;  // indexed like Config::listeners
  std::vector<pool::PoolStats> pool_stats;        // indexed like Config::clusters
  std::unique_ptr<http::HttpWorker> http;         // pools, IDs, sessions of http listeners
  std::vector<std::unique_ptr<http::HttpProxy>> http_proxies;
  std::vector<std::unique_ptr<net::Listener>> listeners;
};

}  // namespace pilotfish::server
