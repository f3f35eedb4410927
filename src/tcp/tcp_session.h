#pragma once
// One proxied TCP connection pair. Private to src/tcp. Worker-local.
// Lifetime: owned by shared_ptr held by its pending async operations; the worker's SessionList
// holds a raw pointer that is removed in close(), before the last handler releases the object.

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <array>
#include <memory>
#include <vector>

#include "pilotfish/net/recv.h"
#include "pilotfish/tcp/tcp_proxy.h"

namespace pilotfish::tcp {

class TcpSession : public std::enable_shared_from_this<TcpSession> {
 public:
  TcpSession(TcpProxy& proxy, boost::asio::ip::tcp::socket&& downstream);
  ~TcpSession();

  void start();
  /// Closes both sockets at once (drain timeout, fatal error). Idempotent.
  void close(bool forced);

  /// The cluster this session's upstream belongs to.
  const ClusterView* clusterView() const { return &proxy_.cluster_; }
  /// The endpoint the upstream connection is open to, or null (not connected yet / closed).
  const cluster::Endpoint* upstreamEndpoint() const {
    return upstream_open_ ? snapshot_->endpoints[endpoint_].get() : nullptr;
  }

  TcpSession* prev = nullptr;  ///< SessionList links
  TcpSession* next = nullptr;

 private:
  /// One copy direction: read from `from`, write to `to`, through one fixed buffer.
  struct Pump {
    boost::asio::ip::tcp::socket* from;
    boost::asio::ip::tcp::socket* to;
    std::array<char, TcpProxy::kBufferSize> buf;
    std::size_t begin = 0;  ///< unsent bytes are buf[begin, end)
    std::size_t end = 0;
    bool done = false;       ///< EOF read and propagated as a shutdown(SHUT_WR)
    bool upstream_to_downstream;
    bool more = false;  ///< the kernel said `from` holds more: read it directly (recvSome)
    TcpSession* owner = nullptr;
    net::RecvOp recv;  ///< reads `from` (no EAGAIN read: see net/recv.h)
  };

  void connectTo(std::size_t index);
  void onConnectFailed(std::size_t index, bool timed_out);
  void startPumps();
  void pump(Pump& p);
  static void onRecv(void* pump, const boost::system::error_code& ec, std::size_t n, bool more);
  void received(Pump& p, std::size_t n);
  void onEof(Pump& p);
  void onError(Pump& p, bool reading, const boost::system::error_code& ec);
  void armIdleTimer(std::chrono::steady_clock::duration in);
  void touch() { last_activity_ = std::chrono::steady_clock::now(); }
  void writeAccessLog();

  TcpProxy& proxy_;
  cluster::ClusterSnapshotPtr snapshot_;  // the endpoint set this session chose from
  boost::asio::ip::tcp::socket down_;
  boost::asio::ip::tcp::socket up_;
  boost::asio::steady_timer timer_;
  std::vector<bool> tried_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::system_clock::time_point started_wall_;  // access log `ts`
  std::chrono::steady_clock::time_point connect_started_;
  std::chrono::steady_clock::time_point last_activity_;
  std::size_t first_endpoint_ = 0;
  std::size_t endpoint_ = 0;  // the connected endpoint, when upstream_open_
  uint64_t bytes_in_ = 0;     // from the client
  uint64_t bytes_out_ = 0;    // to the client
  const char* error_ = "";    // access-log error token of how the pair ended
  bool connecting_ = false;
  bool connect_timed_out_ = false;
  bool upstream_open_ = false;
  bool closed_ = false;
  Pump d2u_;
  Pump u2d_;
};

}  // namespace pilotfish::tcp
