#include "pilotfish/net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace pilotfish::net {

std::optional<SocketAddress> SocketAddress::fromHostPort(const HostPort& hp) {
  SocketAddress a;
  if (hp.kind == HostPort::Kind::kIpv4) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(hp.port);
    if (inet_pton(AF_INET, hp.host.c_str(), &in->sin_addr) != 1) return std::nullopt;
    a.length = sizeof(sockaddr_in);
    return a;
  }
  if (hp.kind == HostPort::Kind::kIpv6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(hp.port);
    if (inet_pton(AF_INET6, hp.host.c_str(), &in6->sin6_addr) != 1) return std::nullopt;
    a.length = sizeof(sockaddr_in6);
    return a;
  }
  return std::nullopt;
}

HostPort SocketAddress::toHostPort() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return HostPort{buf, ntohs(in->sin_port), HostPort::Kind::kIpv4};
  }
  if (storage.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return HostPort{buf, ntohs(in6->sin6_port), HostPort::Kind::kIpv6};
  }
  return HostPort{"", 0, HostPort::Kind::kName};
}

std::string SocketAddress::toString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (storage.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "?";
}

bool SocketAddress::operator==(const SocketAddress& o) const {
  return length == o.length && std::memcmp(&storage, &o.storage, length) == 0;
}

}  // namespace pilotfish::net
