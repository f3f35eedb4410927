#pragma once
// Socket addresses as written in config: "127.0.0.1:80", "[::1]:80", or "host:port" where a
// host name is allowed (discovery servers). Parsing never throws.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pilotfish::net {

/// A parsed "host:port". `host` is the literal IP (without brackets) or a DNS name.
/// Value type; thread-safe to copy.
struct HostPort {
  enum class Kind { kIpv4, kIpv6, kName };
  std::string host;
  uint16_t port = 0;
  Kind kind = Kind::kIpv4;

  bool isIp() const { return kind != Kind::kName; }
  /// "1.2.3.4:80", "[::1]:80", "name:80".
  std::string toString() const;
  bool operator==(const HostPort&) const = default;
};

/// Parses "ip:port" or "[ipv6]:port"; with `allow_name`, also "hostname:port" (RFC 1123 names).
/// Port must be 1-65535 (0 is accepted only with `allow_port_zero`). On failure returns nullopt
/// and, when `why` is given, a short reason ("missing port", "port out of range 1-65535", ...).
std::optional<HostPort> parseHostPort(std::string_view text, bool allow_name,
                                      std::string* why = nullptr, bool allow_port_zero = false);

/// True when `name` is a syntactically valid DNS host name (RFC 1123 labels, <= 253 chars).
bool isValidHostName(std::string_view name);

}  // namespace pilotfish::net
