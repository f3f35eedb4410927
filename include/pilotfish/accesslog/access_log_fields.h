#pragma once
// The fields of an access-log entry, their names and their fixed output order.
// Types and constexpr tables only; thread-safe (immutable). See docs/access-log.md.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pilotfish::accesslog {

/// Every field an entry can carry. The enumerator order IS the output order of both formats
/// (documented in docs/access-log.md); append new fields at the end, never reorder.
enum class Field : uint8_t {
  kTs,               ///< wall-clock time, RFC 3339 UTC with microseconds
  kListener,         ///< listener name
  kMethod,           ///< HTTP method
  kAuthority,        ///< Host / :authority as received
  kPath,             ///< request target (path and query) as received
  kProtocol,         ///< "HTTP/1.1", "HTTP/1.0", "HTTP/2", "tcp"
  kStatus,           ///< response status sent to the client
  kBytesIn,          ///< bytes received from the client
  kBytesOut,         ///< bytes sent to the client
  kDurationUs,       ///< request (or TCP connection) duration in microseconds
  kUpstreamAddress,  ///< ip:port of the upstream endpoint used
  kUpstreamTimeUs,   ///< time to the upstream's response headers (TCP: connect time), in us
  kTraceId,          ///< 32 hex digits
  kSpanId,           ///< 16 hex digits
  kRequestId,        ///< x-request-id
  kError,            ///< proxy error token (e.g. "connect_failure"), absent on success
  kCluster,          ///< upstream cluster name
};

inline constexpr std::size_t kFieldCount = static_cast<std::size_t>(Field::kCluster) + 1;

/// Field names as written in config (`fields: [..]`) and in the output, in output order.
inline constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "ts",        "listener",    "method",           "authority",
    "path",      "protocol",    "status",           "bytes_in",
    "bytes_out", "duration_us", "upstream_address", "upstream_time_us",
    "trace_id",  "span_id",     "request_id",       "error",
    "cluster"};

/// True for fields whose value is a string; the others are unsigned integers (ts is special:
/// stored as microseconds since the Unix epoch, written as an RFC 3339 string).
constexpr bool isStringField(Field f) {
  switch (f) {
    case Field::kListener:
    case Field::kMethod:
    case Field::kAuthority:
    case Field::kPath:
    case Field::kProtocol:
    case Field::kUpstreamAddress:
    case Field::kTraceId:
    case Field::kSpanId:
    case Field::kRequestId:
    case Field::kError:
    case Field::kCluster: return true;
    default: return false;
  }
}

constexpr std::string_view fieldName(Field f) {
  return kFieldNames[static_cast<std::size_t>(f)];
}

/// The field called `name` (exact, case-sensitive), or nullopt.
constexpr std::optional<Field> fieldFromName(std::string_view name) {
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    if (kFieldNames[i] == name) return static_cast<Field>(i);
  }
  return std::nullopt;
}

/// True when `name` is one of kFieldNames. For the config loader: an unknown name in
/// `access_log.fields` is a config error.
constexpr bool isKnownField(std::string_view name) {
  return fieldFromName(name).has_value();
}

/// A set of fields (bitmask). Value type.
class FieldSet {
 public:
  constexpr FieldSet() = default;
  static constexpr FieldSet all() { return FieldSet((uint32_t{1} << kFieldCount) - 1); }

  constexpr void add(Field f) { bits_ |= bit(f); }
  constexpr bool has(Field f) const { return (bits_ & bit(f)) != 0; }
  constexpr bool empty() const { return bits_ == 0; }
  constexpr uint32_t bits() const { return bits_; }
  constexpr bool operator==(const FieldSet&) const = default;

 private:
  constexpr explicit FieldSet(uint32_t bits) : bits_(bits) {}
  static constexpr uint32_t bit(Field f) { return uint32_t{1} << static_cast<unsigned>(f); }
  uint32_t bits_ = 0;
};

}  // namespace pilotfish::accesslog
