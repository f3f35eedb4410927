#pragma once
// Strict, streaming, zero-copy HTTP/1.1 response head parser (RFC 9112) for upstream responses.
// Same line rules and limits as H1RequestParser; framing per RFC 9112 §6.3. Every error is
// answered to the client as 502 `upstream_protocol_error` (H1Result::status/token); the
// H1Error value says why.
// Thread-safety: worker-local. A parser and a head are used by one connection at a time.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "pilotfish/http/h1_types.h"

namespace pilotfish::http {

/// A parsed response head. Caller-owned and reused: clear() keeps capacities. Views point into
/// the buffer given to H1ResponseParser::parse().
struct H1ResponseHead {
  /// Reserves room for `max_headers` fields so a warmed-up head never allocates.
  explicit H1ResponseHead(std::size_t max_headers = 100);

  H1Version version = H1Version::kHttp11;
  uint16_t status = 0;      ///< 100-999
  std::string_view reason;  ///< possibly empty; carries no meaning
  H1FieldList headers;      ///< every field line, in order

  /// kNone for 1xx, 204, 304, responses to HEAD and 2xx responses to CONNECT (whatever their
  /// Content-Length says); else chunked, Content-Length, or kUntilClose.
  H1BodyKind body_kind = H1BodyKind::kNone;
  uint64_t content_length = 0;  ///< when kContentLength
  /// The upstream connection may carry another request afterwards: HTTP/1.1 without "close" (or
  /// HTTP/1.0 with "keep-alive"), and the body is not delimited by close.
  bool keep_alive = true;
  /// An interim 1xx response other than 101 (e.g. 100 Continue, 103): forward it if wanted, then
  /// reset() the parser and parse the final response that follows `consumed` bytes.
  bool interim = false;
  /// After this head the connection is a byte tunnel: 101 Switching Protocols, or a 2xx answer to
  /// CONNECT.
  bool tunnel = false;
  std::vector<std::string_view> connection_options;  ///< as in H1RequestHead
  std::vector<std::string_view> upgrade_protocols;   ///< Upgrade value(s), e.g. for a 101

  /// Empties every field; keeps capacities.
  void clear() noexcept;
};

/// Parses one response head from the start of a growing buffer; same calling convention as
/// H1RequestParser (re-call with the longer buffer on kNeedMore; sticky errors; reset() between
/// responses; linear total work; never reads past `buffer`; no allocation once warmed up;
/// no exceptions). Worker-local.
class H1ResponseParser {
 public:
  explicit H1ResponseParser(const H1Limits& limits = {}) noexcept : limits_(limits) {}

  /// Parses `buffer` into `head`. `request_method` is the method of the request this responds
  /// to (HEAD and CONNECT change the framing). Errors: status 502, token
  /// kUpstreamProtocolErrorToken.
  H1Result parse(std::string_view buffer, H1Method request_method, H1ResponseHead& head) noexcept;

  /// Forgets the current response; the next parse() starts a new one.
  void reset() noexcept;

 private:
  H1Result fail(H1Error error) noexcept;
  H1Error finish(std::string_view buffer, H1Method request_method, H1ResponseHead& head) noexcept;

  H1Limits limits_;
  detail::H1HeadCursor cursor_;
  H1Result result_;  // sticky once complete or failed
  uint32_t reason_off_ = 0, reason_len_ = 0;
  uint16_t status_ = 0;
  H1Version version_ = H1Version::kHttp11;
};

}  // namespace pilotfish::http
