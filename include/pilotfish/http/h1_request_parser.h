#pragma once
// Strict, streaming, zero-copy HTTP/1.1 request head parser (RFC 9112) for the downstream side
// of the proxy. Rejects every request-smuggling ambiguity (CL+TE, bad or repeated
// Content-Length, TE not ending in chunked, bare CR/LF, obs-fold, ...) with the status in
// h1_types.h. Decisions and measurements: docs/decisions/0004-http1-parser.md.
// Thread-safety: worker-local. A parser and a head are used by one connection at a time.

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "pilotfish/http/h1_types.h"

namespace pilotfish::http {

/// Form of the request-target (RFC 9112 §3.2).
enum class H1TargetForm : uint8_t {
  kOrigin,     ///< "/path?query"
  kAbsolute,   ///< "http://authority/path?query" (authority replaces Host)
  kAuthority,  ///< "host:port", CONNECT only
  kAsterisk,   ///< "*", OPTIONS only
};

/// A parsed request head. Caller-owned and reused across requests: clear() (called by the
/// parser) keeps every container's capacity. All views point into the buffer given to
/// H1RequestParser::parse() and are valid while those bytes are unchanged.
struct H1RequestHead {
  /// Reserves room for `max_headers` fields so a warmed-up head never allocates.
  explicit H1RequestHead(std::size_t max_headers = 100);

  std::string_view method;  ///< a token, case-sensitive
  H1Method method_id = H1Method::kOther;
  std::string_view target;  ///< as received
  H1TargetForm target_form = H1TargetForm::kOrigin;
  /// Origin-form: the target. Absolute-form: what follows the authority ("/p?q", "?q" or ""; ""
  /// means "/"). Asterisk-form: "*". Authority-form: "".
  std::string_view path;
  /// Where the request goes: the authority of an absolute- or authority-form target, else the
  /// Host value (possibly empty for HTTP/1.0 without Host). Validated as uri-host [":" port].
  std::string_view authority;
  std::string_view host;  ///< the Host field value as received ("" when absent)
  H1Version version = H1Version::kHttp11;
  H1FieldList headers;  ///< every field line, in order, including hop-by-hop ones

  H1BodyKind body_kind = H1BodyKind::kNone;  ///< kNone, kContentLength or kChunked
  uint64_t content_length = 0;               ///< when kContentLength
  /// HTTP/1.1 without "close", or HTTP/1.0 with "keep-alive" and without "close".
  bool keep_alive = true;
  bool expect_continue = false;  ///< Expect: 100-continue in an HTTP/1.1 request
  /// Connection options as received (e.g. "close", "upgrade", "x-foo"): every field they name is
  /// hop-by-hop and must be removed before forwarding. Compare case-insensitively.
  std::vector<std::string_view> connection_options;
  /// Upgrade protocols ("websocket", "h2c", "foo/2"), only when the request is HTTP/1.1 and its
  /// Connection lists "upgrade" (RFC 9110 §7.8); otherwise empty.
  std::vector<std::string_view> upgrade_protocols;

  /// Empties every field; keeps capacities.
  void clear() noexcept;
};

/// Parses one request head from the start of a growing buffer.
///
/// Usage: call parse() with all bytes received so far for this request; on kNeedMore, append
/// what arrives and call again with the longer buffer (same first bytes; the buffer may have
/// moved). Each call looks only at new bytes (total work is linear in the head size, also when
/// fed one byte at a time), and no call reads past `buffer`. On kComplete, `consumed` bytes are
/// the head; the body (per head.body_kind) follows, then the next pipelined request, which is
/// parsed after reset() from a buffer starting right after this request's body. On kError the
/// result is sticky: nothing more is parsed until reset(); the connection must be closed.
///
/// The same bytes give the same result however they are split across calls. Limit errors are
/// reported as soon as the limit is certain to be exceeded.
///
/// No allocation once the head's containers have reached the largest request seen; no
/// exceptions; no locks. Worker-local.
class H1RequestParser {
 public:
  explicit H1RequestParser(const H1Limits& limits = {}) noexcept : limits_(limits) {}

  /// Parses `buffer` (see class comment) into `head`. Pass the same head on every call for one
  /// request; the first call clears it.
  H1Result parse(std::string_view buffer, H1RequestHead& head) noexcept;

  /// Forgets the current request; the next parse() starts a new one.
  void reset() noexcept;

  const H1Limits& limits() const noexcept { return limits_; }

 private:
  H1Result fail(H1Error error) noexcept;
  H1Error finish(std::string_view buffer, H1RequestHead& head) noexcept;

  H1Limits limits_;
  detail::H1HeadCursor cursor_;
  H1Result result_;  // sticky once complete or failed
  // Request line, as offsets (the buffer may move before the head completes).
  uint32_t method_off_ = 0, method_len_ = 0, target_off_ = 0, target_len_ = 0;
  uint32_t path_off_ = 0, path_len_ = 0, authority_off_ = 0, authority_len_ = 0;
  H1Method method_id_ = H1Method::kOther;
  H1TargetForm target_form_ = H1TargetForm::kOrigin;
  H1Version version_ = H1Version::kHttp11;
};

}  // namespace pilotfish::http
