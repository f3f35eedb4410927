#pragma once
// Reading the incoming trace context: W3C `traceparent`, single `b3`, and B3 multi-headers.
// Precedence: a valid `traceparent` wins; else a valid `b3`; else valid `x-b3-*` headers
// (the B3 spec ranks the single header over the multiple ones). A malformed source is treated
// as absent and reported, so the caller can count it and replace the context; it is never
// forwarded. Pure functions, thread-safe, no allocation.

#include <cstdint>
#include <optional>
#include <string_view>

#include "pilotfish/tracing/trace_context.h"
#include "pilotfish/tracing/trace_headers.h"

namespace pilotfish::tracing {

/// Where the incoming context came from.
enum class ContextSource : uint8_t { kNone, kTraceparent, kB3Single, kB3Multi };

/// Bits of a "malformed" mask: which incoming headers were present but unusable.
struct Malformed {
  static constexpr uint8_t kTraceparent = 1u << 0;
  static constexpr uint8_t kB3Single = 1u << 1;
  static constexpr uint8_t kB3Multi = 1u << 2;
  static constexpr uint8_t kTracestate = 1u << 3;  ///< set by decidePropagation()
  static constexpr uint8_t kRequestId = 1u << 4;   ///< set by decidePropagation()
};

struct ParsedTraceContext {
  /// The winning context. When source is kNone it is empty; when a B3 source carries only a
  /// sampling decision (`b3: 0`, `X-B3-Sampled: 1` alone), it has a decision but no IDs.
  TraceContext context;
  ContextSource source = ContextSource::kNone;
  uint8_t malformed = 0;  ///< Malformed::k* bits
  /// A lower-ranked valid source disagreed with the winner (different trace ID, span ID or
  /// sampling decision) and was ignored.
  bool conflict = false;
};

/// W3C `traceparent` (surrounding spaces/tabs ignored). Version 00 must be exactly
/// `00-{32 hex}-{16 hex}-{2 hex}`; a higher version must be at least that long and, if longer,
/// continue with `-` after the flags, and only its first four fields are read. Rejected:
/// version `ff`, uppercase or non-hex digits, wrong field lengths or separators, all-zero
/// trace or parent ID. `sampled` is bit 0 of the flags; other flag bits are ignored.
std::optional<TraceContext> parseTraceparent(std::string_view value);

/// Single `b3` (surrounding spaces/tabs ignored): `{trace}-{span}[-{state}][-{parent}]` with a
/// 16- or 32-hex trace ID (16 is left-padded), or a sampling state alone. State: `1` accept,
/// `0` deny, `d` debug. IDs are lowercase hex and not all zero.
std::optional<TraceContext> parseB3Single(std::string_view value);

/// B3 multi-headers (first value of each wins): `X-B3-TraceId` (16/32 hex) and `X-B3-SpanId`
/// (16 hex) together or not at all, optional `X-B3-ParentSpanId` (only with IDs),
/// `X-B3-Sampled` (`1`/`0`, leniently `true`/`false`), `X-B3-Flags` (`1` debug, `0`). Call
/// only when headers.hasB3Multi(). The result may carry a sampling decision and no IDs.
std::optional<TraceContext> parseB3Multi(const IncomingTraceHeaders& headers);

/// All sources with the precedence above. A repeated `traceparent` or `b3` is malformed.
/// When `traceparent` wins and a B3 source agrees with it (same IDs and decision), the B3
/// debug flag and parent span ID are kept.
ParsedTraceContext parseTraceContext(const IncomingTraceHeaders& headers);

}  // namespace pilotfish::tracing
