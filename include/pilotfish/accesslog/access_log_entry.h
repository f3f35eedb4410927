#pragma once
// One access-log record: a value type with every field (see access_log_fields.h) held inline —
// numbers in fixed slots, strings in one fixed-size arena inside the object — so building,
// copying and queueing an entry never touches the heap. Copies move only the bytes in use.
//
// Each string field has a length cap (maxLength); a longer value is cut at the cap, on a UTF-8
// character boundary, and truncated() turns true. The caps add up to less than the arena, so
// setting each field once always fits whatever the order.
//
// Thread-safety: a plain value; not synchronised. Built on a worker, copied into that worker's
// queue by AccessLogger::submit(), read by the writer thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pilotfish/accesslog/access_log_fields.h"

namespace pilotfish::accesslog {

class AccessLogEntry {
 public:
  /// Bytes available to all string fields together.
  static constexpr std::size_t kArenaSize = 2048;

  /// Longest value stored for string field `f` (bytes); 0 for numeric fields.
  static constexpr std::size_t maxLength(Field f) {
    switch (f) {
      case Field::kListener: return 128;
      case Field::kMethod: return 32;
      case Field::kAuthority: return 256;
      case Field::kPath: return 1024;
      case Field::kProtocol: return 16;
      case Field::kUpstreamAddress: return 128;
      case Field::kTraceId: return 64;
      case Field::kSpanId: return 32;
      case Field::kRequestId: return 128;
      case Field::kError: return 64;
      case Field::kCluster: return 128;
      default: return 0;
    }
  }

  AccessLogEntry() = default;
  /// Copies only the used part of the arena.
  AccessLogEntry(const AccessLogEntry& other) { copyFrom(other); }
  AccessLogEntry& operator=(const AccessLogEntry& other) {
    if (this != &other) copyFrom(other);
    return *this;
  }

  /// Removes every field.
  void clear();

  // --- setters (a field that is never set is "absent": null in JSON, "-" in text) ---

  /// Wall-clock time of the request (by convention its start). If absent when the entry is
  /// submitted, AccessLogger::submit() stamps the submit time.
  void setTs(std::chrono::system_clock::time_point t) {
    setTsUs(std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count());
  }
  /// Same, as microseconds since the Unix epoch.
  void setTsUs(int64_t us_since_epoch) {
    ts_us_ = us_since_epoch;
    present_ |= bit(Field::kTs);
  }
  void setListener(std::string_view v) { setString(Field::kListener, v); }
  void setMethod(std::string_view v) { setString(Field::kMethod, v); }
  void setAuthority(std::string_view v) { setString(Field::kAuthority, v); }
  void setPath(std::string_view v) { setString(Field::kPath, v); }
  void setProtocol(std::string_view v) { setString(Field::kProtocol, v); }
  void setStatus(uint64_t v) { setNumber(Field::kStatus, v); }
  void setBytesIn(uint64_t v) { setNumber(Field::kBytesIn, v); }
  void setBytesOut(uint64_t v) { setNumber(Field::kBytesOut, v); }
  void setDurationUs(uint64_t v) { setNumber(Field::kDurationUs, v); }
  void setUpstreamAddress(std::string_view v) { setString(Field::kUpstreamAddress, v); }
  void setUpstreamTimeUs(uint64_t v) { setNumber(Field::kUpstreamTimeUs, v); }
  void setTraceId(std::string_view v) { setString(Field::kTraceId, v); }
  void setSpanId(std::string_view v) { setString(Field::kSpanId, v); }
  void setRequestId(std::string_view v) { setString(Field::kRequestId, v); }
  void setError(std::string_view v) { setString(Field::kError, v); }
  void setCluster(std::string_view v) { setString(Field::kCluster, v); }

  /// Sets string field `f` (ignored if `f` is not a string field). Setting a field again
  /// replaces its value; the old bytes are reused when the new value fits in them.
  void setString(Field f, std::string_view v);
  /// Sets numeric field `f` (ignored for string fields and ts).
  void setNumber(Field f, uint64_t v);
  /// Makes `f` absent again.
  void unset(Field f) { present_ &= ~bit(f); }

  // --- getters ---

  bool has(Field f) const { return (present_ & bit(f)) != 0; }
  /// Value of string field `f`; empty when absent or not a string field.
  std::string_view string(Field f) const;
  /// Value of numeric field `f`; 0 when absent or not numeric.
  uint64_t number(Field f) const;
  /// ts in microseconds since the Unix epoch; 0 when absent.
  int64_t tsUs() const { return has(Field::kTs) ? ts_us_ : 0; }
  /// True when some string value was cut to fit.
  bool truncated() const { return truncated_; }
  /// Bytes of the arena in use.
  std::size_t arenaUsed() const { return used_; }

 private:
  static constexpr std::size_t kStringSlots = 11;
  static constexpr std::size_t kNumberSlots = 5;
  static constexpr uint32_t bit(Field f) { return uint32_t{1} << static_cast<unsigned>(f); }
  /// Slot of a string field in off_/len_, or -1.
  static constexpr int stringSlot(Field f);
  /// Slot of a numeric field in nums_, or -1.
  static constexpr int numberSlot(Field f);

  void copyFrom(const AccessLogEntry& other);

  uint32_t present_ = 0;
  bool truncated_ = false;
  uint16_t used_ = 0;
  int64_t ts_us_ = 0;
  uint64_t nums_[kNumberSlots] = {};
  uint16_t off_[kStringSlots] = {};
  uint16_t len_[kStringSlots] = {};
  char arena_[kArenaSize];  // deliberately uninitialised: only [0, used_) is ever read
};

constexpr int AccessLogEntry::stringSlot(Field f) {
  switch (f) {
    case Field::kListener: return 0;
    case Field::kMethod: return 1;
    case Field::kAuthority: return 2;
    case Field::kPath: return 3;
    case Field::kProtocol: return 4;
    case Field::kUpstreamAddress: return 5;
    case Field::kTraceId: return 6;
    case Field::kSpanId: return 7;
    case Field::kRequestId: return 8;
    case Field::kError: return 9;
    case Field::kCluster: return 10;
    default: return -1;
  }
}

constexpr int AccessLogEntry::numberSlot(Field f) {
  switch (f) {
    case Field::kStatus: return 0;
    case Field::kBytesIn: return 1;
    case Field::kBytesOut: return 2;
    case Field::kDurationUs: return 3;
    case Field::kUpstreamTimeUs: return 4;
    default: return -1;
  }
}

}  // namespace pilotfish::accesslog
