#include "pilotfish/tracing/propagation.h"

namespace pilotfish::tracing {
namespace {

constexpr uint16_t kAllTraceHeaders = static_cast<uint16_t>(
    traceHeaderBit(TraceHeader::kTraceparent) | traceHeaderBit(TraceHeader::kTracestate) |
    traceHeaderBit(TraceHeader::kB3Single) | traceHeaderBit(TraceHeader::kB3TraceId) |
    traceHeaderBit(TraceHeader::kB3SpanId) | traceHeaderBit(TraceHeader::kB3ParentSpanId) |
    traceHeaderBit(TraceHeader::kB3Sampled) | traceHeaderBit(TraceHeader::kB3Flags));

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The (trace) part of the decision: the context sent upstream.
TraceContext outgoingContext(const TracingSettings& settings, const ParsedTraceContext& in,
                             IdGenerator& ids) {
  TraceContext out;
  if (in.context.hasIds()) {
    out.trace_id = in.context.trace_id;
    out.parent_span_id = in.context.span_id;
    do {
      out.span_id = ids.spanId();
    } while (out.span_id == in.context.span_id);
  } else {
    out.trace_id = ids.traceId();
    out.span_id = ids.spanId();
  }
  if (in.context.hasSamplingDecision()) {
    out.sampled = in.context.isSampled();
    out.debug = in.context.debug;
  } else {
    out.sampled = ids.sample(settings.sample_rate);
  }
  return out;
}

}  // namespace

void PropagationResult::reset() {
  // Field by field: cheaper than assigning a fresh object (no need to zero the buffers).
  incoming_ = ParsedTraceContext();
  context_ = TraceContext();
  trace_id_hex_.clear();
  span_id_hex_.clear();
  parent_span_id_hex_.clear();
  traceparent_.clear();
  tracestate_.clear();
  request_id_.clear();
  count_ = 0;
  remove_ = 0;
  malformed_ = 0;
  dropped_invalid_ = 0;
  continued_ = false;
  return_request_id_ = false;
}

std::string_view PropagationResult::candidate(TraceHeader h) const {
  switch (h) {
    case TraceHeader::kB3TraceId: return trace_id_hex_.view();
    case TraceHeader::kB3SpanId: return span_id_hex_.view();
    case TraceHeader::kB3ParentSpanId: return parent_span_id_hex_.view();
    case TraceHeader::kB3Sampled: return formatB3Sampled(context_.isSampled());
    case TraceHeader::kB3Flags: return "1";
    case TraceHeader::kTraceparent: return traceparent_.view();
    case TraceHeader::kTracestate: return tracestate_.view();
    case TraceHeader::kRequestId: return request_id_.view();
    case TraceHeader::kB3Single: return {};  // not written (see docs/tracing.md)
  }
  return {};
}

bool PropagationResult::addHeader(TraceHeader h) {
  if (!isValidOutgoingValue(h, candidate(h))) {
    ++dropped_invalid_;
    return false;
  }
  headers_[count_++] = h;
  return true;
}

std::string_view PropagationResult::valueOf(TraceHeader h) const {
  for (std::size_t i = 0; i < count_; ++i) {
    if (headers_[i] == h) return candidate(h);
  }
  return {};
}

HeaderField PropagationResult::header(std::size_t i) const {
  if (i >= count_) return {};
  return {traceHeaderName(headers_[i]), valueOf(headers_[i])};
}

bool PropagationResult::removes(std::string_view name) const {
  if (remove_ == 0) return false;
  const std::optional<TraceHeader> h = classifyTraceHeader(name);
  return h && removes(*h);
}

void decidePropagation(const TracingSettings& settings, const IncomingTraceHeaders& in,
                       IdGenerator& ids, PropagationResult& out) {
  out.reset();

  if (settings.propagates()) {
    out.incoming_ = parseTraceContext(in);
    out.malformed_ = out.incoming_.malformed;
    out.continued_ = out.incoming_.context.hasIds();
    out.context_ = outgoingContext(settings, out.incoming_, ids);
    // Formatted in place (the result is about 1 KiB; no temporaries to copy around).
    writeTraceId(out.context_.trace_id, out.trace_id_hex_.extend(kTraceIdHexLen));
    writeHex64(out.context_.span_id, out.span_id_hex_.extend(kSpanIdHexLen));
    if (out.context_.parent_span_id) {
      writeHex64(*out.context_.parent_span_id, out.parent_span_id_hex_.extend(kSpanIdHexLen));
    }
    // Whatever arrived is replaced: nothing incoming is forwarded as-is.
    out.remove_ = kAllTraceHeaders;

    if (settings.propagate_b3) {
      out.addHeader(TraceHeader::kB3TraceId);
      out.addHeader(TraceHeader::kB3SpanId);
      if (out.context_.parent_span_id) out.addHeader(TraceHeader::kB3ParentSpanId);
      // B3: debug implies accept, so X-B3-Sampled is not sent alongside X-B3-Flags.
      out.addHeader(out.context_.debug ? TraceHeader::kB3Flags : TraceHeader::kB3Sampled);
    }
    if (settings.propagate_w3c) {
      writeTraceparent(out.context_, out.traceparent_.extend(kTraceparentLen));
      out.addHeader(TraceHeader::kTraceparent);
    }
    // tracestate belongs to the traceparent it arrived with; it is dropped when the context
    // came from B3 or was started here.
    if (in.has(TraceHeader::kTracestate) && out.incoming_.source == ContextSource::kTraceparent) {
      const bool valid =
          !in.traceStateOverflow() && normaliseTraceState(in.traceState(), out.tracestate_);
      if (!valid) {
        out.malformed_ |= Malformed::kTracestate;
        out.tracestate_.clear();
      } else if (settings.propagate_w3c && !out.tracestate_.empty()) {
        out.addHeader(TraceHeader::kTracestate);
      }
    }
  }

  // x-request-id: the client's if it is one we can safely repeat, else a new UUIDv4.
  const std::optional<std::string_view> rid = in.get(TraceHeader::kRequestId);
  bool kept = false;
  if (rid) {
    const std::string_view v = trimOws(*rid);
    if (!in.repeated(TraceHeader::kRequestId) && isValidRequestId(v)) {
      kept = out.request_id_.assign(v);
    } else if (settings.request_id) {
      out.malformed_ |= Malformed::kRequestId;  // replaced below
    }
  }
  if (settings.request_id) {
    if (!kept) ids.writeUuidV4(out.request_id_.extend(kUuidLen));
    out.remove_ |= traceHeaderBit(TraceHeader::kRequestId);
    out.return_request_id_ = out.addHeader(TraceHeader::kRequestId);
  }
}

}  // namespace pilotfish::tracing
