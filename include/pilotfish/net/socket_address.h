#pragma once
// A resolved IP socket address, stored as sockaddr_storage so that it can be handed to any
// socket API (Asio endpoints included) without re-parsing. Value type.

#include <sys/socket.h>

#include <optional>
#include <string>

#include "pilotfish/net/address.h"

namespace pilotfish::net {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage); }
  /// Builds from an IP-literal HostPort; nullopt for names or invalid literals.
  static std::optional<SocketAddress> fromHostPort(const HostPort& hp);
  /// The IP literal and port (kind kIpv4/kIpv6); an empty kName HostPort for other families.
  HostPort toHostPort() const;
  /// "1.2.3.4:80" / "[::1]:80".
  std::string toString() const;
  bool operator==(const SocketAddress& o) const;
};

}  // namespace pilotfish::net
