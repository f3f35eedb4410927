#pragma once
// A listening socket on one worker. Every worker binds its own socket to the listener address
// with SO_REUSEPORT, so the kernel spreads connections and each connection stays on the worker
// that accepted it. Worker-local: all methods run on the owning worker's thread (construction
// and bind may run on the control thread before the worker starts).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <system_error>

#include "pilotfish/net/listener_stats.h"
#include "pilotfish/net/socket_address.h"

namespace pilotfish::net {

class Listener {
 public:
  /// Called with each accepted socket — non-blocking, TCP_NODELAY set — and the client's
  /// address (from accept(2) itself: no getpeername per connection).
  using AcceptFn =
      std::function<void(boost::asio::ip::tcp::socket&&, const boost::asio::ip::tcp::endpoint&)>;

  Listener(boost::asio::io_context& io, std::string name, ListenerStats& stats, AcceptFn on_accept);

  /// Opens, sets SO_REUSEADDR + SO_REUSEPORT, binds and listens. Returns the error (and a
  /// message in `why`) on failure; the caller decides whether that is fatal. `delay_acks`
  /// (protocols where the client speaks first and the answer follows at once, HTTP) turns off
  /// TCP quick ACKs for the accepted sockets, so the answer carries the ACK.
  std::error_code bind(const SocketAddress& address, int backlog, std::string* why,
                       bool delay_acks = false);

  /// Starts the accept loop.
  void start();
  /// Closes the listening socket; in-flight accepts complete with operation_aborted.
  void stop();

  /// Connections accepted per turn of the worker's loop at most, before the others run.
  static constexpr int kAcceptBatch = 16;
  /// How long accepting pauses after EMFILE/ENFILE/ENOBUFS/ENOMEM.
  static constexpr std::chrono::milliseconds kAcceptPause{100};

 private:
  void acceptSome();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  std::string name_;
  ListenerStats& stats_;
  AcceptFn on_accept_;
  bool stopped_ = false;
};

}  // namespace pilotfish::net
