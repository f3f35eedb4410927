#include "pilotfish/tracing/trace_parser.h"

#include <array>

namespace pilotfish::tracing {
namespace {

constexpr bool isOws(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

// Splits `s` on '-' into at most N fields; nullopt-like (count 0) when there are more.
template <std::size_t N>
std::size_t splitDash(std::string_view s, std::array<std::string_view, N>& out) {
  std::size_t n = 0;
  while (true) {
    const std::size_t dash = s.find('-');
    if (n == N) return 0;
    out[n++] = s.substr(0, dash);
    if (dash == std::string_view::npos) return n;
    s.remove_prefix(dash + 1);
  }
}

// A B3 sampling state character.
bool applyB3State(char c, TraceContext& ctx) {
  switch (c) {
    case '0': ctx.sampled = false; return true;
    case '1': ctx.sampled = true; return true;
    case 'd':
      ctx.debug = true;
      ctx.sampled = true;
      return true;
    default: return false;
  }
}

// Same trace position and no contradicting decision.
bool agrees(const TraceContext& winner, const TraceContext& other) {
  if (other.hasIds() && (other.trace_id != winner.trace_id || other.span_id != winner.span_id)) {
    return false;
  }
  if (other.hasSamplingDecision() && winner.hasSamplingDecision() &&
      other.isSampled() != winner.isSampled()) {
    return false;
  }
  return true;
}

}  // namespace

std::optional<TraceContext> parseTraceparent(std::string_view value) {
  value = trimOws(value);
  if (value.size() < kTraceparentLen) return std::nullopt;
  const std::optional<uint64_t> version = parseLowerHex64(value.substr(0, 2));
  if (!version || *version == 0xff) return std::nullopt;
  if (*version == 0) {
    if (value.size() != kTraceparentLen) return std::nullopt;
  } else if (value.size() > kTraceparentLen && value[kTraceparentLen] != '-') {
    // A future version may append fields, always after another '-'.
    return std::nullopt;
  }
  if (value[2] != '-' || value[35] != '-' || value[52] != '-') return std::nullopt;
  const std::optional<TraceId> trace_id = parseTraceIdHex(value.substr(3, 32), false);
  const std::optional<uint64_t> span_id = parseSpanIdHex(value.substr(36, 16));
  const std::optional<uint64_t> flags = parseLowerHex64(value.substr(53, 2));
  if (!trace_id || !span_id || !flags) return std::nullopt;
  TraceContext ctx;
  ctx.trace_id = *trace_id;
  ctx.span_id = *span_id;
  ctx.sampled = (*flags & 0x01) != 0;
  return ctx;
}

std::optional<TraceContext> parseB3Single(std::string_view value) {
  value = trimOws(value);
  TraceContext ctx;
  if (value.size() == 1) {  // sampling state only: `b3: 0`, `b3: 1`, `b3: d`
    if (!applyB3State(value[0], ctx)) return std::nullopt;
    return ctx;
  }
  std::array<std::string_view, 4> f;
  const std::size_t n = splitDash(value, f);
  if (n < 2) return std::nullopt;
  const std::optional<TraceId> trace_id = parseTraceIdHex(f[0], true);
  const std::optional<uint64_t> span_id = parseSpanIdHex(f[1]);
  if (!trace_id || !span_id) return std::nullopt;
  ctx.trace_id = *trace_id;
  ctx.span_id = *span_id;
  std::size_t next = 2;
  if (next < n && f[next].size() == 1) {
    if (!applyB3State(f[next][0], ctx)) return std::nullopt;
    ++next;
  }
  // The parent may follow the state, or directly the span ID (`{trace}-{span}-{parent}`; odd,
  // but unambiguous by length, and what Brave writes for a deferred decision).
  if (next < n) {
    const std::optional<uint64_t> parent = parseSpanIdHex(f[next]);
    if (!parent) return std::nullopt;
    ctx.parent_span_id = *parent;
    ++next;
  }
  if (next != n) return std::nullopt;
  return ctx;
}

std::optional<TraceContext> parseB3Multi(const IncomingTraceHeaders& headers) {
  const auto trace = headers.get(TraceHeader::kB3TraceId);
  const auto span = headers.get(TraceHeader::kB3SpanId);
  const auto parent = headers.get(TraceHeader::kB3ParentSpanId);
  const auto sampled = headers.get(TraceHeader::kB3Sampled);
  const auto flags = headers.get(TraceHeader::kB3Flags);

  TraceContext ctx;
  if (trace.has_value() != span.has_value()) return std::nullopt;
  if (trace) {
    const std::optional<TraceId> trace_id = parseTraceIdHex(trimOws(*trace), true);
    const std::optional<uint64_t> span_id = parseSpanIdHex(trimOws(*span));
    if (!trace_id || !span_id) return std::nullopt;
    ctx.trace_id = *trace_id;
    ctx.span_id = *span_id;
  }
  if (parent) {
    if (!trace) return std::nullopt;  // a parent without a position
    const std::optional<uint64_t> parent_id = parseSpanIdHex(trimOws(*parent));
    if (!parent_id) return std::nullopt;
    ctx.parent_span_id = *parent_id;
  }
  if (sampled) {
    const std::string_view s = trimOws(*sampled);
    if (s == "1" || s == "true") {
      ctx.sampled = true;
    } else if (s == "0" || s == "false") {
      ctx.sampled = false;
    } else {
      return std::nullopt;
    }
  }
  if (flags) {
    const std::string_view s = trimOws(*flags);
    if (s == "1") {
      ctx.debug = true;
      ctx.sampled = true;  // debug implies accept, whatever X-B3-Sampled said
    } else if (s != "0") {
      return std::nullopt;
    }
  }
  return ctx;
}

ParsedTraceContext parseTraceContext(const IncomingTraceHeaders& headers) {
  ParsedTraceContext r;

  std::optional<TraceContext> tp;
  if (headers.has(TraceHeader::kTraceparent)) {
    if (!headers.repeated(TraceHeader::kTraceparent)) {
      tp = parseTraceparent(*headers.get(TraceHeader::kTraceparent));
    }
    if (!tp) r.malformed |= Malformed::kTraceparent;
  }
  std::optional<TraceContext> single;
  if (headers.has(TraceHeader::kB3Single)) {
    if (!headers.repeated(TraceHeader::kB3Single)) {
      single = parseB3Single(*headers.get(TraceHeader::kB3Single));
    }
    if (!single) r.malformed |= Malformed::kB3Single;
  }
  std::optional<TraceContext> multi;
  if (headers.hasB3Multi()) {
    multi = parseB3Multi(headers);
    if (!multi) {
      r.malformed |= Malformed::kB3Multi;
    } else if (!multi->hasIds() && !multi->hasSamplingDecision()) {
      multi.reset();  // e.g. only `X-B3-Flags: 0`: nothing to continue, nothing wrong
    }
  }

  // B3 among itself: the single header outranks the multiple ones.
  std::optional<TraceContext> b3 = single ? single : multi;
  ContextSource b3_source = single ? ContextSource::kB3Single : ContextSource::kB3Multi;
  if (single && multi && !agrees(*single, *multi)) r.conflict = true;

  if (tp) {
    r.context = *tp;
    r.source = ContextSource::kTraceparent;
    if (b3) {
      if (!agrees(*tp, *b3)) {
        r.conflict = true;
      } else {
        // Same span: what W3C cannot carry (debug, the caller's parent) comes from B3.
        r.context.debug = b3->debug && tp->isSampled();
        if (b3->hasIds()) r.context.parent_span_id = b3->parent_span_id;
      }
    }
  } else if (b3) {
    r.context = *b3;
    r.source = b3_source;
  }
  return r;
}

}  // namespace pilotfish::tracing
