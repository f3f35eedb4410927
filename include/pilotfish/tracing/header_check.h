#pragma once
// Last-line checks on header values: pilotfish validates every tracing header value it writes
// (and every incoming x-request-id it keeps), so nothing it forwards can smuggle CR/LF, NUL or
// other bytes outside the header's own grammar. Pure functions, thread-safe.

#include <cstddef>
#include <string_view>

#include "pilotfish/tracing/trace_headers.h"

namespace pilotfish::tracing {

/// The longest x-request-id kept from a client; longer ones are replaced.
inline constexpr std::size_t kMaxRequestIdLen = 128;

/// Non-empty and every char in [0-9a-f].
bool isLowerHex(std::string_view s);

/// An acceptable `x-request-id`: 1..kMaxRequestIdLen chars, each an RFC 9110 `tchar`
/// (ALPHA / DIGIT / ``!#$%&'*+-.^_`|~``) or one of `/ : = @` (base64 and URN-style IDs).
/// Spaces, quotes, backslashes, commas, semicolons, controls and non-ASCII are rejected, so a
/// kept ID is safe in a header, a JSON log line and a text log.
bool isValidRequestId(std::string_view s);

/// True when `value` is a well-formed value pilotfish may write for header `h`:
///  - x-b3-traceid: 16 or 32 [0-9a-f], not all zeros
///  - x-b3-spanid, x-b3-parentspanid: 16 [0-9a-f], not all zeros
///  - x-b3-sampled: `0` or `1`;  x-b3-flags: `1`
///  - b3: only [0-9a-f-], and parseB3Single() accepts it
///  - traceparent: `00-{32 hex}-{16 hex}-{2 hex}`, IDs not all zeros (so parseTraceparent()
///    accepts it)
///  - tracestate: 1..kMaxTraceStateLen chars of visible ASCII, space or tab, not starting or
///    ending with whitespace (its list grammar is normaliseTraceState()'s job)
///  - x-request-id: isValidRequestId()
bool isValidOutgoingValue(TraceHeader h, std::string_view value);

}  // namespace pilotfish::tracing
