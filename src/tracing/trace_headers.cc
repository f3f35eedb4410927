#include "pilotfish/tracing/trace_headers.h"

namespace pilotfish::tracing {
namespace {

constexpr std::string_view kNames[kTraceHeaderCount] = {
    "traceparent",       "tracestate",   "b3",         "x-b3-traceid", "x-b3-spanid",
    "x-b3-parentspanid", "x-b3-sampled", "x-b3-flags", "x-request-id",
};

constexpr char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;
}

// `lowercase` is one of kNames.
bool equalsIgnoreCase(std::string_view name, std::string_view lowercase) {
  if (name.size() != lowercase.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (lower(name[i]) != lowercase[i]) return false;
  }
  return true;
}

constexpr uint16_t kB3MultiBits =
    traceHeaderBit(TraceHeader::kB3TraceId) | traceHeaderBit(TraceHeader::kB3SpanId) |
    traceHeaderBit(TraceHeader::kB3ParentSpanId) | traceHeaderBit(TraceHeader::kB3Sampled) |
    traceHeaderBit(TraceHeader::kB3Flags);

}  // namespace

std::string_view traceHeaderName(TraceHeader h) {
  return kNames[static_cast<std::size_t>(h)];
}

std::optional<TraceHeader> classifyTraceHeader(std::string_view name) {
  // Called for every request header: reject on length and first letter before comparing.
  switch (name.size()) {
    case 2:   // b3
    case 10:  // tracestate, x-b3-flags
    case 11:  // traceparent, x-b3-spanid
    case 12:  // x-b3-traceid, x-b3-sampled, x-request-id
    case 17:  // x-b3-parentspanid
      break;
    default: return std::nullopt;
  }
  const char first = lower(name[0]);
  if (first != 't' && first != 'b' && first != 'x') return std::nullopt;
  for (std::size_t i = 0; i < kTraceHeaderCount; ++i) {
    if (equalsIgnoreCase(name, kNames[i])) return static_cast<TraceHeader>(i);
  }
  return std::nullopt;
}

bool IncomingTraceHeaders::offer(std::string_view name, std::string_view value) {
  const std::optional<TraceHeader> h = classifyTraceHeader(name);
  if (!h) return false;
  add(*h, value);
  return true;
}

void IncomingTraceHeaders::add(TraceHeader h, std::string_view value) {
  const uint16_t bit = traceHeaderBit(h);
  if (h == TraceHeader::kTracestate) {
    if (tracestate_count_ < kMaxTraceStateFields) {
      tracestate_[tracestate_count_++] = value;
    } else {
      tracestate_overflow_ = true;
    }
  }
  if (present_ & bit) {
    repeated_ |= bit;
    return;  // the first value stays
  }
  present_ |= bit;
  values_[static_cast<std::size_t>(h)] = value;
}

std::optional<std::string_view> IncomingTraceHeaders::get(TraceHeader h) const {
  if (!has(h)) return std::nullopt;
  return values_[static_cast<std::size_t>(h)];
}

bool IncomingTraceHeaders::hasB3Multi() const {
  return (present_ & kB3MultiBits) != 0;
}

}  // namespace pilotfish::tracing
