#pragma once
// The request headers tracing reads, removes and writes, and a small collector that the HTTP
// layer fills while it walks a request's header list once (no lookup callbacks, no copies).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace pilotfish::tracing {

/// Every header tracing owns. Names are matched case-insensitively and written lowercase (the
/// form HTTP/2 requires and HTTP/1 accepts).
enum class TraceHeader : uint8_t {
  kTraceparent,     ///< `traceparent` (W3C)
  kTracestate,      ///< `tracestate` (W3C)
  kB3Single,        ///< `b3`
  kB3TraceId,       ///< `x-b3-traceid`
  kB3SpanId,        ///< `x-b3-spanid`
  kB3ParentSpanId,  ///< `x-b3-parentspanid`
  kB3Sampled,       ///< `x-b3-sampled`
  kB3Flags,         ///< `x-b3-flags`
  kRequestId,       ///< `x-request-id`
};
inline constexpr std::size_t kTraceHeaderCount = 9;

/// The lowercase wire name of `h`.
std::string_view traceHeaderName(TraceHeader h);

/// Which tracing header `name` is (ASCII case-insensitive), or nullopt for any other header.
std::optional<TraceHeader> classifyTraceHeader(std::string_view name);

/// A bit per TraceHeader, for "which headers" sets.
constexpr uint16_t traceHeaderBit(TraceHeader h) {
  return static_cast<uint16_t>(1u << static_cast<unsigned>(h));
}

/// The tracing headers of one incoming request, as views into the request's own header
/// storage. Fill it with offer() for every header field line (do not pre-join repeated
/// fields), then hand it to parseTraceContext()/decidePropagation(); the views must stay valid
/// until those return (the results copy what they keep).
///
/// Repeats are kept as the HTTP semantics of each header require: for `x-b3-*` the first
/// value wins (B3 spec); for `traceparent`, `b3` and `x-request-id` a repeat makes the header
/// malformed (repeated() is true); `tracestate` lines are list fragments and are all kept,
/// up to kMaxTraceStateFields (more marks the tracestate malformed).
///
/// Value type, worker-local; no allocation.
class IncomingTraceHeaders {
 public:
  static constexpr std::size_t kMaxTraceStateFields = 8;

  /// Records the field if `name` is a tracing header; returns whether it was one.
  bool offer(std::string_view name, std::string_view value);

  /// Records a value for a known header (what offer() does after classifying the name).
  void add(TraceHeader h, std::string_view value);

  /// The first value of `h`, or nullopt when the request does not carry it.
  std::optional<std::string_view> get(TraceHeader h) const;

  bool has(TraceHeader h) const { return (present_ & traceHeaderBit(h)) != 0; }
  /// True when `h` occurred on more than one field line.
  bool repeated(TraceHeader h) const { return (repeated_ & traceHeaderBit(h)) != 0; }
  /// True when any of the `x-b3-*` headers is present.
  bool hasB3Multi() const;

  /// Every `tracestate` field line, in order.
  std::span<const std::string_view> traceState() const {
    return {tracestate_.data(), tracestate_count_};
  }
  /// True when there were more `tracestate` lines than kMaxTraceStateFields.
  bool traceStateOverflow() const { return tracestate_overflow_; }

  /// Builds the set from a lookup callable, for callers with a keyed header map:
  /// `lookup(std::string_view lowercase_name) -> std::optional<std::string_view>`, called
  /// once per tracing header. Such a lookup cannot show repeats; prefer offer().
  template <class Lookup>
  static IncomingTraceHeaders fromLookup(Lookup&& lookup) {
    IncomingTraceHeaders in;
    for (std::size_t i = 0; i < kTraceHeaderCount; ++i) {
      const auto h = static_cast<TraceHeader>(i);
      if (std::optional<std::string_view> v = lookup(traceHeaderName(h))) in.add(h, *v);
    }
    return in;
  }

 private:
  std::array<std::string_view, kTraceHeaderCount> values_{};
  std::array<std::string_view, kMaxTraceStateFields> tracestate_{};
  uint16_t present_ = 0;
  uint16_t repeated_ = 0;
  uint8_t tracestate_count_ = 0;
  bool tracestate_overflow_ = false;
};

}  // namespace pilotfish::tracing
