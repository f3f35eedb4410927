#pragma once
// The trace context pilotfish reads from and writes to requests, and its text forms: B3
// (multi-header and single `b3`) and W3C `traceparent` version 00. All formatting is lowercase
// hex into fixed buffers; nothing here allocates. Pure functions and value types: thread-safe.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "pilotfish/tracing/fixed_string.h"

namespace pilotfish::tracing {

/// A 128-bit trace ID. All-zero is invalid in both B3 and W3C; a 64-bit B3 trace ID is held
/// with `high == 0` (that is, left-padded to 32 hex digits).
struct TraceId {
  uint64_t high = 0;
  uint64_t low = 0;

  constexpr bool isZero() const { return (high | low) == 0; }
  friend constexpr bool operator==(const TraceId&, const TraceId&) = default;
};

/// One position in a trace tree plus the sampling decision. A context "has IDs" when both the
/// trace ID and span ID are non-zero; B3 also allows a sampling-only context (`b3: 0`) with no
/// IDs. Debug (B3 `X-B3-Flags: 1` / `b3: …-d`) implies an accept decision, and parsers set
/// `sampled = true` whenever they set `debug`.
struct TraceContext {
  TraceId trace_id;
  uint64_t span_id = 0;                    ///< 0: absent
  std::optional<uint64_t> parent_span_id;  ///< never holds 0
  std::optional<bool> sampled;             ///< nullopt: decision deferred to the receiver
  bool debug = false;

  constexpr bool hasIds() const { return !trace_id.isZero() && span_id != 0; }
  constexpr bool hasSamplingDecision() const { return debug || sampled.has_value(); }
  constexpr bool isSampled() const { return debug || sampled.value_or(false); }
  friend constexpr bool operator==(const TraceContext&, const TraceContext&) = default;
};

inline constexpr std::size_t kTraceIdHexLen = 32;
inline constexpr std::size_t kSpanIdHexLen = 16;
/// `00-` + 32 + `-` + 16 + `-` + 2.
inline constexpr std::size_t kTraceparentLen = 55;
/// 32 + `-` + 16 + `-` + 1 + `-` + 16.
inline constexpr std::size_t kB3SingleMaxLen = 68;

using TraceIdHex = FixedString<kTraceIdHexLen>;
using SpanIdHex = FixedString<kSpanIdHexLen>;
using TraceparentValue = FixedString<kTraceparentLen>;
using B3SingleValue = FixedString<kB3SingleMaxLen>;

/// Writes `v` as exactly 16 lowercase hex digits to out[0..16).
void writeHex64(uint64_t v, char* out);

/// Writes `id` as exactly 32 lowercase hex digits to out[0..32) (64-bit IDs zero-padded).
void writeTraceId(const TraceId& id, char* out);

/// Writes the kTraceparentLen chars of formatTraceparent() to `out`; `ctx.hasIds()` required.
void writeTraceparent(const TraceContext& ctx, char* out);

/// Parses 1..16 lowercase hex digits ([0-9a-f] only; uppercase, signs and spaces are rejected).
std::optional<uint64_t> parseLowerHex64(std::string_view s);

/// Parses a trace ID of exactly 32, or (when `allow64` is set, for B3) 16 lowercase hex digits,
/// left-padding a 16-digit one. nullopt for other lengths, other characters, or all zeros.
std::optional<TraceId> parseTraceIdHex(std::string_view s, bool allow64);

/// Parses a span ID of exactly 16 lowercase hex digits; nullopt when malformed or all zeros.
std::optional<uint64_t> parseSpanIdHex(std::string_view s);

/// 32 lowercase hex digits (a 64-bit ID is left-padded with zeros). Used for `X-B3-TraceId`,
/// the `traceparent` trace-id field and the access log.
TraceIdHex formatTraceId(const TraceId& id);

/// 16 lowercase hex digits. Used for `X-B3-SpanId`, `X-B3-ParentSpanId` and `traceparent`.
SpanIdHex formatSpanId(uint64_t id);

/// The `X-B3-Sampled` value: "1" or "0".
constexpr std::string_view formatB3Sampled(bool sampled) {
  return sampled ? "1" : "0";
}

/// The single `b3` header value: `{trace}-{span}[-{1|0|d}][-{parent}]` when `ctx.hasIds()`, else
/// the sampling state alone (`1`, `0` or `d`), or empty when there is neither IDs nor decision.
B3SingleValue formatB3Single(const TraceContext& ctx);

/// The W3C `traceparent` value, version 00: `00-{32 hex trace}-{16 hex span}-{flags}` where
/// flags is `01` when `ctx.isSampled()` and `00` otherwise (pilotfish defines no other flag).
/// Empty when `!ctx.hasIds()`.
TraceparentValue formatTraceparent(const TraceContext& ctx);

}  // namespace pilotfish::tracing
