#pragma once
// L4 proxy for `protocol: tcp` listeners: each accepted connection is paired with an upstream
// connection to an endpoint of the listener's cluster and bytes are copied both ways with one
// bounded buffer per direction (a slow reader stops the other side being read: backpressure).
// Each FIN is propagated separately; `idle_timeout` without a byte either way closes the pair.
// Worker-local: one TcpProxy per listener per worker; everything runs on that worker's thread.

#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "pilotfish/accesslog/access_logger.h"
#include "pilotfish/cluster/cluster.h"
#include "pilotfish/cluster/cluster_stats.h"
#include "pilotfish/config/config.h"
#include "pilotfish/lb/cluster_view.h"
#include "pilotfish/net/listener_stats.h"

namespace pilotfish::tcp {

using ClusterView = lb::ClusterView;

class TcpSession;

/// Intrusive list of the live sessions of one worker, so drain can close them all.
struct SessionList {
  TcpSession* head = nullptr;
  std::size_t size = 0;
  void add(TcpSession* s);
  void remove(TcpSession* s);
  /// Closes every session (drain_timeout expired). Returns how many were closed.
  std::size_t closeAll();
  /// Closes the sessions of `cluster` whose connected upstream endpoint satisfies `gone`
  /// (on_endpoint_removed: close). Returns how many were closed.
  std::size_t closeUpstreams(const ClusterView& cluster,
                             const std::function<bool(const cluster::Endpoint&)>& gone);
};

class TcpProxy {
 public:
  /// `shared_connections` counts this listener's connections across all workers, for
  /// max_connections (one relaxed atomic per accepted connection; never per byte).
  /// `access_log` (may be null) gets one entry per closed connection, submitted as `worker`.
  TcpProxy(const config::ListenerConfig& cfg, net::ListenerStats& stats, ClusterView& cluster,
           SessionList& sessions, std::atomic<uint32_t>& shared_connections,
           accesslog::AccessLogger* access_log = nullptr, std::size_t worker = 0);

  /// Takes ownership of an accepted client socket.
  void onAccept(boost::asio::ip::tcp::socket&& socket);

  /// Per-direction buffer size.
  static constexpr std::size_t kBufferSize = 16 * 1024;

 private:
  friend class TcpSession;
  const config::ListenerConfig& cfg_;
  net::ListenerStats& stats_;
  ClusterView& cluster_;
  SessionList& sessions_;
  std::atomic<uint32_t>& shared_connections_;
  accesslog::AccessLogger* access_log_;
  std::size_t worker_;
};

}  // namespace pilotfish::tcp
