#pragma once
// L7 proxy for `protocol: http` listeners (HTTP/1.1 to the app): strict parsing, routing to
// clusters, keepalive pools per worker and endpoint, forwarding/tracing headers, timeouts,
// retries, proxy-made error responses with `x-pilotfish-error`, one access-log entry per
// request. Worker-local: one HttpProxy per listener per worker; everything a connection does
// runs on that worker's thread. See docs/architecture.md ("life of an HTTP request").

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "pilotfish/accesslog/access_logger.h"
#include "pilotfish/config/config.h"
#include "pilotfish/http/http_stats.h"
#include "pilotfish/http/router.h"
#include "pilotfish/lb/cluster_view.h"
#include "pilotfish/net/listener_stats.h"
#include "pilotfish/net/socket_address.h"
#include "pilotfish/pool/idle_pool.h"
#include "pilotfish/tls/tls_client.h"
#include "pilotfish/tracing/id_generator.h"
#include "pilotfish/tracing/propagation.h"

namespace pilotfish::dns {
class Resolver;
}

namespace pilotfish::http {

class H1Session;

/// Intrusive list of one worker's live HTTP connections (drain closes them).
struct HttpSessionList {
  H1Session* head = nullptr;
  std::size_t size = 0;
  void add(H1Session* s);
  void remove(H1Session* s);
  /// Graceful: idle keepalive connections close now, busy ones after their response.
  void drain();
  /// drain_timeout expired: closes every connection. Returns how many.
  std::size_t closeAll();
};

/// One name of a dynamic_host cluster as resolved on one worker: its own endpoint snapshot, LB
/// state, connection pool and TLS sessions (connections are per name: SNI and certificate).
struct DynamicHost {
  std::string name;
  cluster::ClusterSnapshotPtr snapshot;  ///< null until resolved; kept (stale) if a refresh fails
  lb::RoundRobin lb;
  std::unique_ptr<pool::IdlePool> pool;
  tls::SessionCache sessions;
  std::chrono::steady_clock::time_point expires{};
  bool resolving = false;
  std::vector<std::weak_ptr<H1Session>> waiters;  ///< sessions waiting for the first answer
};

/// What every http listener of one worker shares: pools, ID generator, session list.
struct HttpWorker {
  /// `tls` has one entry per cluster: its TLS context, or null for plaintext clusters.
  HttpWorker(boost::asio::io_context& io, const config::Config& cfg,
             std::vector<lb::ClusterView>& clusters, std::vector<pool::PoolStats>& pool_stats,
             std::vector<std::shared_ptr<const tls::ClientContext>> tls,
             accesslog::AccessLogger* access_log, std::size_t index);
  ~HttpWorker();

  boost::asio::io_context& io;
  std::vector<lb::ClusterView>& clusters;                      ///< indexed like Config::clusters
  std::vector<std::unique_ptr<pool::IdlePool>> pools;          ///< indexed like Config::clusters
  std::vector<net::SocketAddress> own_addresses;               ///< every listener (loop protection)
  std::vector<std::shared_ptr<const tls::ClientContext>> tls;  ///< per cluster; null = plain
  std::vector<tls::SessionCache> tls_sessions;                 ///< per cluster (resumption)
  const config::Config& config;
  /// Per cluster (empty for static clusters): name -> resolved host.
  std::vector<std::unordered_map<std::string, std::shared_ptr<DynamicHost>>> dynamic_hosts;
  /// c-ares on this worker's io_context (system resolv.conf and hosts file); created at the
  /// first dynamic_host lookup. Null when c-ares could not be initialised.
  std::shared_ptr<dns::Resolver> resolver;
  bool resolver_failed = false;
  std::vector<pool::PoolStats>& pool_stats;
  tracing::IdGenerator ids;             ///< seeded from the OS; used only on this worker's thread
  accesslog::AccessLogger* access_log;  ///< may be null
  std::size_t index;
  HttpSessionList sessions;
  bool draining = false;
  /// Failed upstream TLS handshakes are logged at warn at most once per kTlsWarnInterval per
  /// worker (an expired certificate fails every request); the others at debug, and counted here
  /// until the next warning reports them.
  std::chrono::steady_clock::time_point tls_warned_at{};
  uint64_t tls_failures_unreported = 0;
  static constexpr std::chrono::seconds kTlsWarnInterval{10};

  /// The worker's entry for `name` in dynamic_host cluster `cluster`, created on first use.
  /// Expired entries are dropped when the table grows past kMaxDynamicHosts.
  std::shared_ptr<DynamicHost> dynamicHost(std::size_t cluster, const std::string& name);
  /// Starts resolving `host` (c-ares on this worker's io_context: never blocks, no thread).
  /// The answer is used for its TTL, within [kMinDnsTtl, the cluster's dns_ttl]. Its waiters
  /// are told when it is done.
  void resolve(std::size_t cluster, const std::shared_ptr<DynamicHost>& host);
  static constexpr std::size_t kMaxDynamicHosts = 4096;
  static constexpr std::chrono::seconds kMinDnsTtl{1};
  /// How long a failed lookup is remembered before the next request tries again.
  static constexpr std::chrono::seconds kNegativeTtl{5};

  /// Drain: no new keepalive requests; idle connections and pooled upstreams are closed.
  void drain();
  /// True when `a` is one of our own listeners (an unspecified listener address matches
  /// every local address on its port, approximated as loopback + unspecified).
  bool isOwnListener(const net::SocketAddress& a) const;
};

class HttpProxy {
 public:
  HttpProxy(const config::ListenerConfig& cfg, std::shared_ptr<const Router> router,
            HttpWorker& worker, net::ListenerStats& listener_stats, HttpStats& stats,
            HttpErrorStats& errors, std::atomic<uint32_t>& shared_connections);

  /// Takes ownership of an accepted client socket.
  void onAccept(boost::asio::ip::tcp::socket&& socket, const boost::asio::ip::tcp::endpoint& peer);

  /// Bytes read from a socket at a time, and the high-water mark of each direction's buffer.
  static constexpr std::size_t kReadSize = 16 * 1024;
  static constexpr std::size_t kHighWater = 64 * 1024;
  /// Request body bytes kept so a failed try can be replayed; a longer body is not retried.
  static constexpr std::size_t kReplayLimit = 64 * 1024;

 private:
  friend class H1Session;
  /// Over max_connections: answers 503 overflow on the accepted socket `fd` (not closed here).
  void refuseOverCapacity(int fd) const;

  const config::ListenerConfig& cfg_;
  std::shared_ptr<const Router> router_;
  HttpWorker& worker_;
  net::ListenerStats& listener_stats_;
  HttpStats& stats_;
  HttpErrorStats& errors_;
  std::atomic<uint32_t>& shared_connections_;
  H1Limits limits_;
  tracing::TracingSettings tracing_;
  std::string overflow_response_;  ///< 503 overflow, connection: close (made once)
};

/// Builds the immutable route table of an http listener (shared by all workers).
std::shared_ptr<const Router> buildRouter(const config::ListenerConfig& cfg);

}  // namespace pilotfish::http
