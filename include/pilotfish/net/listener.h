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

  /// How the listening socket is set up.
  struct BindOptions {
    int backlog = 4096;
    /// For protocols where the client speaks first and the answer follows at once (HTTP):
    /// TCP quick ACKs off for the accepted sockets, so the answer carries the ACK.
    bool delay_acks = false;
    /// For protocols where the client always speaks first (HTTP/1.1, h2c, TLS): TCP_DEFER_ACCEPT,
    /// so a connection is handed over with its first bytes instead of on the handshake's last
    /// ACK — one wake-up of the worker per connection instead of two. A client that stays
    /// silent is still accepted, after about `kDeferAcceptSeconds` (the kernel's first SYN-ACK
    /// retransmission), so the listener's own timeouts apply to it. Never for `tcp`
    /// listeners: MySQL, SMTP and others have the server speak first.
    bool defer_accept = false;
  };
  static constexpr int kDeferAcceptSeconds = 1;

  /// Opens, sets SO_REUSEADDR + SO_REUSEPORT, binds and listens. Returns the error (and a
  /// message in `why`) on failure; the caller decides whether that is fatal.
  std::error_code bind(const SocketAddress& address, const BindOptions& options, std::string* why);

  /// The listening socket (after bind), for diagnostics and tests.
  int nativeHandle() { return acceptor_.native_handle(); }

  /// Starts the accept loop.
  void start();
  /// Closes the listening socket; in-flight accepts complete with operation_aborted. A started
  /// listener first accepts what is already queued (up to kFinalAccepts), so that those clients
  /// are served instead of reset by the close. Connections whose handshake the kernel is still
  /// holding back (TCP_DEFER_ACCEPT, no data yet) cannot be taken over and are reset.
  void stop();

  /// Connections accepted per turn of the worker's loop at most, before the others run.
  static constexpr int kAcceptBatch = 16;
  /// How long accepting pauses after EMFILE/ENFILE/ENOBUFS/ENOMEM.
  static constexpr std::chrono::milliseconds kAcceptPause{100};
  /// At most this many queued connections are taken over by stop().
  static constexpr int kFinalAccepts = 4096;

 private:
  enum class Batch { kEmpty, kFull, kPaused, kStopped };
  /// Accepts up to `limit` queued connections. `may_pause`: on EMFILE and the like, arm the
  /// pause timer (kPaused) rather than just stop (kEmpty).
  Batch acceptQueued(int limit, bool may_pause);
  void acceptSome();

  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  std::string name_;
  ListenerStats& stats_;
  AcceptFn on_accept_;
  bool stopped_ = false;
  bool started_ = false;
};

}  // namespace pilotfish::net
