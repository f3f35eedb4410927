#pragma once
// What an HTTP/1.1 proxy writes: the request head sent upstream (hop-by-hop fields removed,
// forwarding and tracing fields added), the response head sent back to the client, proxy-made
// responses, and chunked re-encoding. Pure functions over parsed heads; they append to a
// caller-owned std::string that is reused across requests (no allocation once it has grown).
// Thread-safety: none needed (no state).

#include <cstdint>
#include <string>
#include <string_view>

#include "pilotfish/http/h1_request_parser.h"
#include "pilotfish/http/h1_response_parser.h"

namespace pilotfish::tracing {
class PropagationResult;
}

namespace pilotfish::http {

/// The header pilotfish counts its own hops in (loop protection).
inline constexpr std::string_view kHopsHeader = "x-pilotfish-hops";
/// The header naming why a proxy-made response was made.
inline constexpr std::string_view kErrorHeader = "x-pilotfish-error";

/// True for the hop-by-hop fields of RFC 9110 §7.6.1 plus the legacy ones proxies also drop
/// (keep-alive, proxy-connection) — name compared case-insensitively.
bool isHopByHop(std::string_view name) noexcept;

/// True when `name` is one of the Connection options in `options` (then it is hop-by-hop too).
bool namedByConnection(std::string_view name,
                       const std::vector<std::string_view>& options) noexcept;

/// The value of x-pilotfish-hops in `head`: 0 when absent; UINT32_MAX when present but not
/// plain digits, repeated, or huge (treated as a loop: somebody is forging or mangling it).
uint32_t incomingHops(const H1FieldList& headers) noexcept;

struct UpstreamRequest {
  const H1RequestHead* head = nullptr;
  std::string_view target;             ///< origin-form target to send ("/p?q"), already rewritten
  std::string_view host;               ///< Host value to send
  std::string_view client_address;     ///< appended to X-Forwarded-For
  uint32_t hops = 1;                   ///< x-pilotfish-hops value to send
  bool websocket = false;              ///< forward Upgrade: websocket + Connection: upgrade
  bool drop_underscore_names = false;  ///< leave out fields with '_' in their names
  const tracing::PropagationResult* tracing = nullptr;  ///< headers to add/remove; may be null
};

/// Appends the HTTP/1.1 request head for the upstream to `out`: request line; Host; every
/// end-to-end field of the client's request in order (hop-by-hop, Connection-named, Host,
/// framing, X-Forwarded-Proto, x-pilotfish-hops and, when tracing is set, the tracing fields
/// it replaces are left out); then framing (Content-Length or Transfer-Encoding: chunked),
/// X-Forwarded-For (client's list + client_address), X-Forwarded-Proto: http, the hop counter,
/// tracing fields. Upstream requests are always HTTP/1.1 keepalive. Returns the number of fields
/// left out for `drop_underscore_names`.
std::size_t writeUpstreamRequestHead(const UpstreamRequest& r, std::string& out);

struct DownstreamResponse {
  const H1ResponseHead* head = nullptr;
  /// How the body goes to the client: kChunked (re-encoded), kContentLength (as received),
  /// kUntilClose (the client learns the end from the close), kNone.
  H1BodyKind body = H1BodyKind::kNone;
  bool close = false;          ///< add "connection: close"
  bool keep_alive_10 = false;  ///< HTTP/1.0 client keeping the connection: "connection: keep-alive"
  bool tunnel = false;         ///< 101: keep Upgrade and write "connection: upgrade"
  std::string_view request_id;  ///< x-request-id to return ("" = none; replaces upstream's)
};

/// Appends the response head for the client: status line (HTTP/1.1, the upstream's code and
/// reason), end-to-end fields in order, then framing, connection and x-request-id.
void writeDownstreamResponseHead(const DownstreamResponse& r, std::string& out);

/// Reason phrase for the statuses pilotfish itself answers with ("" for others).
std::string_view reasonPhrase(uint16_t status) noexcept;

/// Appends a proxy-made response: `status`, content-type text/plain, x-pilotfish-error:
/// `token`, optional x-request-id, "connection: close" when `close`, and a one-line body
/// ("<reason>: <token>\n"), omitted for HEAD requests (content-length still says its size).
void writeLocalResponse(std::string& out, uint16_t status, std::string_view token,
                        std::string_view request_id, bool close, bool head_request);

/// Appends `data` as one chunk ("<hex>\r\n<data>\r\n"); nothing for empty data.
void appendChunk(std::string& out, std::string_view data);
/// Appends the last chunk with an empty trailer section ("0\r\n\r\n").
void appendLastChunk(std::string& out);

}  // namespace pilotfish::http
