#pragma once
// Worker-local store of idle upstream connections, keyed by endpoint (and later TLS identity),
// for keepalive reuse. Most recently used first (warm connections, and the cold ones age out).
// A connection is checked for EOF/error before it is handed out, since the upstream may have
// closed it while it sat idle. Worker-local: no locks; every call on the owning worker's thread.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "pilotfish/net/socket_address.h"
#include "pilotfish/stats/stats.h"
#include "pilotfish/tls/tls_client.h"

namespace pilotfish::pool {

struct PoolConfig {
  uint32_t max_idle_per_endpoint = 64;            ///< idle connections kept per endpoint
  std::chrono::milliseconds idle_timeout{60000};  ///< closed after idle this long
  uint32_t max_requests_per_connection = 0;       ///< 0 = unlimited
};

#define PILOTFISH_POOL_STATS(COUNTER, GAUGE, HISTOGRAM)                                     \
  COUNTER(reused, "pilotfish_pool_connections_reused_total",                                \
          "Requests sent on a pooled keepalive connection")                                 \
  COUNTER(stale, "pilotfish_pool_connections_stale_total",                                  \
          "Pooled connections found closed by the upstream when about to be reused")        \
  COUNTER(expired, "pilotfish_pool_connections_expired_total",                              \
          "Pooled connections closed after pool.idle_timeout")                              \
  COUNTER(overflow, "pilotfish_pool_connections_overflow_total",                            \
          "Connections closed instead of pooled because max_idle_per_endpoint was reached") \
  GAUGE(idle, "pilotfish_pool_connections_idle", "Idle pooled connections")

PILOTFISH_STATS_STRUCT(PoolStats, PILOTFISH_POOL_STATS);

/// A pooled connection with how many requests it has carried, and its TLS state when the
/// cluster originates TLS (the pool of a cluster holds only one kind).
struct PooledConnection {
  boost::asio::ip::tcp::socket socket;
  uint32_t requests = 0;
  std::unique_ptr<tls::TlsConnection> tls;
};

class IdlePool {
 public:
  using Clock = std::chrono::steady_clock;

  IdlePool(boost::asio::io_context& io, PoolConfig cfg, PoolStats& stats);
  ~IdlePool();

  /// An idle connection to `key`, or nullopt. With `check_alive` each candidate is peeked at
  /// first (one syscall) and stale ones are closed; without it the caller must be able to retry
  /// on a fresh connection when the one it got turns out dead.
  std::optional<PooledConnection> acquire(const net::SocketAddress& key, bool check_alive = true);

  /// Offers a connection back after a complete response. Kept when the connection may carry
  /// more requests and the endpoint's idle list has room; closed otherwise.
  void release(const net::SocketAddress& key, PooledConnection&& conn);

  /// Closes every idle connection to `key` (endpoint removed).
  void drop(const net::SocketAddress& key);
  /// Closes everything (drain, shutdown).
  void clear();

  std::size_t idleCount() const { return idle_; }

  /// True when the socket has no pending EOF or error (non-blocking MSG_PEEK). Any unsolicited
  /// byte from an idle HTTP/1 upstream also makes it unusable, so that counts as dead too.
  static bool isAlive(boost::asio::ip::tcp::socket& s);

 private:
  struct Entry {
    PooledConnection conn;
    Clock::time_point since;
  };
  struct KeyHash {
    std::size_t operator()(const net::SocketAddress& a) const;
  };

  void armSweep();
  void sweep(Clock::time_point now);

  PoolConfig cfg_;
  PoolStats& stats_;
  boost::asio::steady_timer sweep_timer_;
  bool sweep_armed_ = false;
  std::unordered_map<net::SocketAddress, std::deque<Entry>, KeyHash> idle_by_key_;
  std::size_t idle_ = 0;
};

}  // namespace pilotfish::pool
