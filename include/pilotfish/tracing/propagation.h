#pragma once
// The per-request tracing decision: from a listener's settings, the incoming tracing headers
// and the worker's IdGenerator, which headers the HTTP layer removes and adds, plus the IDs for
// the access log and the x-request-id returned to the client. Protocol-independent: the HTTP/1
// and HTTP/2 sessions both call it.
//
// Use (worker thread, per request):
//   IncomingTraceHeaders in;
//   for (auto& f : request.headers) in.offer(f.name, f.value);
//   PropagationResult r;                        // e.g. a member of the request state
//   decidePropagation(listener.tracing, in, worker.ids, r);
//   request.headers.eraseIf([&](auto& f) { return r.removes(f.name); });
//   for (std::size_t i = 0; i < r.headerCount(); ++i) request.headers.add(r.header(i));
//   ... response: if (!r.responseRequestId().empty()) add x-request-id to the response.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "pilotfish/tracing/header_check.h"
#include "pilotfish/tracing/id_generator.h"
#include "pilotfish/tracing/trace_context.h"
#include "pilotfish/tracing/trace_headers.h"
#include "pilotfish/tracing/trace_parser.h"
#include "pilotfish/tracing/trace_state.h"

namespace pilotfish::tracing {

/// A listener's `tracing:` block, already validated by config (immutable, shared freely).
struct TracingSettings {
  bool propagate_b3 = true;   ///< `propagate` contains `b3`: write X-B3-* headers
  bool propagate_w3c = true;  ///< `propagate` contains `w3c`: write traceparent (+ tracestate)
  bool request_id = true;     ///< keep or create x-request-id and return it to the client
  double sample_rate = 0.01;  ///< probability that a new trace is sampled, 0..1

  bool propagates() const { return propagate_b3 || propagate_w3c; }
};

/// One header to add. Views into the PropagationResult that produced it.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};

/// The outcome of decidePropagation(). A value with inline buffers (about 1 KiB, no heap);
/// every string_view it returns points into *this and is valid while *this is alive and not
/// reassigned. Worker-local like the request it belongs to.
class PropagationResult {
 public:
  static constexpr std::size_t kMaxHeaders = 7;

  /// Headers to add to the upstream request, in a fixed order: x-b3-traceid, x-b3-spanid,
  /// x-b3-parentspanid, x-b3-sampled or x-b3-flags, traceparent, tracestate, x-request-id
  /// (each only when it applies).
  std::size_t headerCount() const { return count_; }
  HeaderField header(std::size_t i) const;
  /// The value added for `h`, or empty when `h` is not added.
  std::string_view valueOf(TraceHeader h) const;

  /// Whether the HTTP layer must remove every incoming field named `name` (case-insensitive).
  bool removes(std::string_view name) const;
  bool removes(TraceHeader h) const { return (remove_ & traceHeaderBit(h)) != 0; }

  /// What was read from the request (source, malformed bits, conflict).
  const ParsedTraceContext& incoming() const { return incoming_; }
  /// Malformed::k* bits for every incoming header that was replaced or dropped, including
  /// tracestate and x-request-id.
  uint8_t malformed() const { return malformed_; }
  /// The context sent upstream: its span ID is pilotfish's, its parent the caller's span.
  const TraceContext& context() const { return context_; }
  /// True when the trace was continued from the request, false when pilotfish started it.
  bool continued() const { return continued_; }

  /// For the access log (empty when tracing headers are not propagated on this listener).
  std::string_view traceId() const { return trace_id_hex_.view(); }
  std::string_view spanId() const { return span_id_hex_.view(); }
  std::string_view parentSpanId() const { return parent_span_id_hex_.view(); }
  bool sampled() const { return context_.isSampled(); }
  /// The request ID: the client's valid one or a new UUIDv4; empty when `request_id` is off
  /// and the client sent none (or an invalid one).
  std::string_view requestId() const { return request_id_.view(); }
  /// The x-request-id to add to the response, empty when none is returned.
  std::string_view responseRequestId() const {
    return return_request_id_ ? request_id_.view() : std::string_view{};
  }
  /// Generated header values that failed isValidOutgoingValue() and were left out (a bug
  /// guard: always 0 unless something is broken).
  uint8_t droppedInvalid() const { return dropped_invalid_; }

 private:
  friend void decidePropagation(const TracingSettings&, const IncomingTraceHeaders&, IdGenerator&,
                                PropagationResult&);
  void reset();
  /// Appends `h` when its candidate value passes isValidOutgoingValue(); false otherwise.
  bool addHeader(TraceHeader h);
  /// The value `h` would have, added or not.
  std::string_view candidate(TraceHeader h) const;

  ParsedTraceContext incoming_;
  TraceContext context_;
  TraceIdHex trace_id_hex_;
  SpanIdHex span_id_hex_;
  SpanIdHex parent_span_id_hex_;
  TraceparentValue traceparent_;
  TraceStateValue tracestate_;
  FixedString<kMaxRequestIdLen> request_id_;
  std::array<TraceHeader, kMaxHeaders> headers_{};
  uint8_t count_ = 0;
  uint16_t remove_ = 0;
  uint8_t malformed_ = 0;
  uint8_t dropped_invalid_ = 0;
  bool continued_ = false;
  bool return_request_id_ = false;
};

/// Decides the tracing headers of one request and writes the outcome into `out` (which is
/// reset first). When at least one format is propagated:
///  - every incoming tracing header is removed (whatever is forwarded is written anew);
///  - with a usable incoming context (parseTraceContext), the trace ID and sampling decision
///    (including B3 debug) are kept, the incoming span becomes the parent and a new span ID is
///    drawn; a deferred decision is made here from `sample_rate`;
///  - without one, a new trace ID and span ID are drawn, and the decision is the incoming
///    sampling-only one (`b3: 0`) if any, else a draw from `sample_rate`;
///  - B3 writes x-b3-traceid (32 hex), x-b3-spanid, x-b3-parentspanid when there is a parent,
///    and x-b3-sampled (or x-b3-flags: 1 for debug, which implies accept);
///  - W3C writes traceparent version 00, and the incoming tracestate (normaliseTraceState)
///    only when the context came from a valid traceparent.
/// With `propagate` empty, tracing headers pass through untouched and no trace IDs are made.
/// Independently, with `request_id` on, a valid incoming x-request-id (isValidRequestId, not
/// repeated) is kept, else a UUIDv4 is made; it replaces the incoming header and is returned to
/// the client. With it off, x-request-id passes through and a valid one is still reported for
/// the access log. Every value written is checked with isValidOutgoingValue().
/// Worker-local (`ids` is the worker's generator); no allocation.
void decidePropagation(const TracingSettings& settings, const IncomingTraceHeaders& in,
                       IdGenerator& ids, PropagationResult& out);

}  // namespace pilotfish::tracing
