#pragma once
// Access to Asio's per-socket state, for the few places where the data path needs what Asio's
// public API does not offer (epoll build only; decision 0007). Internal to the net area.

#include <boost/asio/ip/tcp.hpp>

namespace pilotfish::net::detail {

// The socket's implementation (descriptor, state bits, reactor data) is a protected member of
// asio::basic_socket; a pointer to member named through a derived class reaches it without
// copying or changing Asio.
struct SocketAccess : boost::asio::ip::tcp::socket {
  static auto& impl(boost::asio::ip::tcp::socket& s) {
    return (s.*(&SocketAccess::impl_)).get_implementation();
  }
};

}  // namespace pilotfish::net::detail
