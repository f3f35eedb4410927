#include "pilotfish/net/listener.h"
#include "pilotfish/net/close.h"
#include "pilotfish/net/recv.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <boost/asio/ip/v6_only.hpp>

#include <cerrno>
#include <cstring>

namespace pilotfish::net {

namespace asio = boost::asio;
using asio::ip::tcp;

Listener::Listener(asio::io_context& io, std::string name, ListenerStats& stats, AcceptFn on_accept)
    : acceptor_(io),
      pause_timer_(io),
      name_(std::move(name)),
      stats_(stats),
      on_accept_(std::move(on_accept)) {}

std::error_code Listener::bind(const SocketAddress& address, int backlog, std::string* why) {
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
  if (!ec) acceptor_.listen(backlog, ec);
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
  acceptOne();
}

void Listener::stop() {
  stopped_ = true;
  pause_timer_.cancel();
  net::close(acceptor_);
}

void Listener::acceptOne() {
  acceptor_.async_accept(peer_, [this](boost::system::error_code ec, tcp::socket socket) {
    if (stopped_ || ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      enableInq(socket);
      on_accept_(std::move(socket), peer_);
      acceptOne();
      return;
    }
    switch (ec.value()) {
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM: {
        // Out of descriptors or memory: the pending connection stays in the backlog and would
        // make accept fail again at once. Pause instead of spinning; existing connections keep
        // running and free descriptors as they close.
        stats_.accept_paused.inc();
        SPDLOG_WARN("listener {}: accept failed ({}); pausing {}ms", name_, ec.message(),
                    kAcceptPause.count());
        pause_timer_.expires_after(kAcceptPause);
        pause_timer_.async_wait([this](boost::system::error_code tec) {
          if (!tec && !stopped_) acceptOne();
        });
        return;
      }
      default:
        // ECONNABORTED and friends: the peer gave up before we accepted; carry on.
        stats_.accept_errors.inc();
        SPDLOG_DEBUG("listener {}: accept error {}", name_, ec.message());
        acceptOne();
        return;
    }
  });
}

}  // namespace pilotfish::net
