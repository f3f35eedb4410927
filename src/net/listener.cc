#include "pilotfish/net/listener.h"
#include "net/asio_access.h"
#include "pilotfish/net/close.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace pilotfish::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

// accept4 made the descriptor non-blocking. Tell Asio so, instead of the ioctl that
// socket.non_blocking(true) would make, and that the descriptor is nobody's duplicate, so that
// closing it needs no EPOLL_CTL_DEL (closing removes it from epoll). assign() assumes the
// worst of a descriptor it did not create. (epoll build; decision 0007)
void adoptNonBlocking(tcp::socket& s) {
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  namespace ops = asio::detail::socket_ops;
  auto& impl = detail::SocketAccess::impl(s);
  impl.state_ |= ops::user_set_non_blocking | ops::internal_non_blocking;
  impl.state_ &= ~ops::possible_dup;
#else
  boost::system::error_code ec;
  s.non_blocking(true, ec);
#endif
}

}  // namespace

Listener::Listener(asio::io_context& io, std::string name, ListenerStats& stats, AcceptFn on_accept)
    : acceptor_(io),
      pause_timer_(io),
      name_(std::move(name)),
      stats_(stats),
      on_accept_(std::move(on_accept)) {}

std::error_code Listener::bind(const SocketAddress& address, const BindOptions& options,
                               std::string* why) {
  tcp::endpoint ep;
  std::memcpy(ep.data(), address.data(), address.length);
  boost::system::error_code ec;
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    int one = 1;
    if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (!ec && ep.protocol() == tcp::v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(options.backlog, ec);
  if (!ec) acceptor_.non_blocking(true, ec);  // acceptSome() calls accept4 on it directly
  if (!ec && options.delay_acks) {
    // Accepted sockets inherit it: the client's request is acknowledged with the response
    // instead of by a bare ACK of its own (one packet less per exchange, as HAProxy does for HTTP
    // frontends).
    int zero = 0;
    (void)::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &zero, sizeof zero);
  }
  if (!ec && options.defer_accept) {
    // Measured (docs/benchmarks.md): with a new connection per request, waking the idle worker
    // for the handshake's ACK was 15 % of the client side's CPU on a 2-vCPU VM.
    const int secs = kDeferAcceptSeconds;
    if (::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
                     sizeof secs) != 0) {
      ec.assign(errno, boost::system::system_category());
    }
  }
  if (ec) {
    if (why) *why = "cannot listen on " + address.toString() + ": " + ec.message();
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    return std::error_code(ec.value(), std::generic_category());
  }
  return {};
}

void Listener::start() {
  stopped_ = false;
  started_ = true;
  acceptSome();
}

void Listener::stop() {
  if (started_ && !stopped_ && acceptor_.is_open()) (void)acceptQueued(kFinalAccepts, false);
  stopped_ = true;
  pause_timer_.cancel();
  net::close(acceptor_);
}

// Accepts what is queued now, handing each connection to its session at once (a client's request
// has usually arrived with it), up to kAcceptBatch per turn; then waits for the listening socket
// to become readable again. accept4 makes the socket non-blocking in the same system call.
void Listener::acceptSome() {
  const Batch b = acceptQueued(kAcceptBatch, true);
  if (b == Batch::kPaused || b == Batch::kStopped || stopped_) return;
  acceptor_.async_wait(tcp::acceptor::wait_read, [this](boost::system::error_code ec) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    acceptSome();
  });
}

Listener::Batch Listener::acceptQueued(int limit, bool may_pause) {
  for (int i = 0; i < limit; ++i) {
    sockaddr_storage ss;
    socklen_t len = sizeof ss;
    const int fd = ::accept4(acceptor_.native_handle(), reinterpret_cast<sockaddr*>(&ss), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return Batch::kEmpty;
      if (err == EINTR) continue;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        // Out of descriptors or memory: the pending connection stays in the backlog and would
        // make accept fail again at once. Pause instead of spinning; existing connections keep
        // running and free descriptors as they close.
        stats_.accept_paused.inc();
        if (!may_pause) return Batch::kEmpty;
        SPDLOG_WARN("listener {}: accept failed ({}); pausing {}ms", name_, std::strerror(err),
                    kAcceptPause.count());
        pause_timer_.expires_after(kAcceptPause);
        pause_timer_.async_wait([this](boost::system::error_code tec) {
          if (!tec && !stopped_) acceptSome();
        });
        return Batch::kPaused;
      }
      // ECONNABORTED and friends: the peer gave up before we accepted; carry on.
      stats_.accept_errors.inc();
      SPDLOG_DEBUG("listener {}: accept error {}", name_, std::strerror(err));
      continue;
    }
    tcp::socket socket(acceptor_.get_executor());
    boost::system::error_code ec;
    socket.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
    if (ec) {
      ::close(fd);
      stats_.accept_errors.inc();
      continue;
    }
    adoptNonBlocking(socket);
    socket.set_option(tcp::no_delay(true), ec);
    tcp::endpoint peer;
    len = static_cast<socklen_t>(std::min<std::size_t>(len, peer.capacity()));
    std::memcpy(peer.data(), &ss, len);
    peer.resize(len);
    on_accept_(std::move(socket), peer);
    if (stopped_) return Batch::kStopped;
  }
  return Batch::kFull;
}

}  // namespace pilotfish::net
