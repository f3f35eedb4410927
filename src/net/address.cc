#include "pilotfish/net/address.h"

#include <arpa/inet.h>

#include <algorithm>

namespace pilotfish::net {

namespace {

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
bool isAlnum(char c) {
  return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

void setWhy(std::string* why, std::string text) {
  if (why != nullptr) *why = std::move(text);
}

bool isIpv4(const std::string& host) {
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool isIpv6(const std::string& host) {
  in6_addr a{};
  return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

// Decimal digits only: no sign, no spaces, no hex. Leading zeros are harmless here (the port is
// inside a string, so YAML's octal rules do not apply) and accepted.
std::optional<uint16_t> parsePort(std::string_view text, bool allow_zero, std::string* why) {
  if (text.empty()) {
    setWhy(why, "missing port");
    return std::nullopt;
  }
  if (!std::all_of(text.begin(), text.end(), isDigit)) {
    setWhy(why, "port must be a decimal number, got \"" + std::string(text) + "\"");
    return std::nullopt;
  }
  uint32_t value = 0;
  for (char c : text) {
    value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 65535) break;  // stop before the accumulator can overflow
  }
  if (value > 65535 || (value == 0 && !allow_zero)) {
    setWhy(why, allow_zero ? "port out of range 0-65535" : "port out of range 1-65535");
    return std::nullopt;
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

std::string HostPort::toString() const {
  std::string out;
  out.reserve(host.size() + 8);
  if (kind == Kind::kIpv6) {
    out += '[';
    out += host;
    out += ']';
  } else {
    out += host;
  }
  out += ':';
  out += std::to_string(port);
  return out;
}

bool isValidHostName(std::string_view name) {
  // A single trailing dot (fully qualified form) is allowed and not counted.
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  bool last_label_numeric = false;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!isAlnum(c) && c != '-') return false;
    }
    last_label_numeric = std::all_of(label.begin(), label.end(), isDigit);
    start = end + 1;
  }
  // RFC 1123 2.1: a name must not look like a dotted-decimal address ("1.2.3.4" or "10.0.0.300"
  // are broken IPs, not names); an all-numeric last label is the test the RFC suggests.
  return !last_label_numeric;
}

std::optional<HostPort> parseHostPort(std::string_view text, bool allow_name, std::string* why,
                                      bool allow_port_zero) {
  if (text.empty()) {
    setWhy(why, "empty address");
    return std::nullopt;
  }
  HostPort out;
  std::string_view port_text;
  if (text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      setWhy(why, "missing ']' after IPv6 address");
      return std::nullopt;
    }
    out.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) {
      setWhy(why, "missing port");
      return std::nullopt;
    }
    if (rest.front() != ':') {
      setWhy(why, "expected ':' and a port after ']'");
      return std::nullopt;
    }
    port_text = rest.substr(1);
    if (out.host.empty()) {
      setWhy(why, "missing host");
      return std::nullopt;
    }
    if (!isIpv6(out.host)) {
      setWhy(why, "invalid IPv6 address \"" + out.host + "\"");
      return std::nullopt;
    }
    out.kind = HostPort::Kind::kIpv6;
  } else {
    std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      setWhy(why, "missing port");
      return std::nullopt;
    }
    if (text.find(':') != colon) {
      setWhy(why, "IPv6 addresses must be in brackets, e.g. \"[::1]:80\"");
      return std::nullopt;
    }
    out.host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (out.host.empty()) {
      setWhy(why, "missing host");
      return std::nullopt;
    }
    if (isIpv4(out.host)) {
      out.kind = HostPort::Kind::kIpv4;
    } else if (std::all_of(out.host.begin(), out.host.end(),
                           [](char c) { return isDigit(c) || c == '.'; })) {
      setWhy(why, "invalid IPv4 address \"" + out.host + "\"");
      return std::nullopt;
    } else if (!allow_name) {
      setWhy(why, "expected an IP address, got host name \"" + out.host +
                      "\" (host names are not allowed here)");
      return std::nullopt;
    } else if (!isValidHostName(out.host)) {
      setWhy(why, "invalid host name \"" + out.host + "\"");
      return std::nullopt;
    } else {
      out.kind = HostPort::Kind::kName;
    }
  }
  auto port = parsePort(port_text, allow_port_zero, why);
  if (!port) return std::nullopt;
  out.port = *port;
  return out;
}

}  // namespace pilotfish::net
