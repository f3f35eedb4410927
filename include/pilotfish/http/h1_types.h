#pragma once
// Vocabulary of the HTTP/1.1 codec (RFC 9112): errors with the status a proxy answers them with,
// limits, zero-copy header field views and the list helpers shared by the head parsers
// (h1_request_parser.h, h1_response_parser.h) and the body decoders (h1_body.h).
// Thread-safety: plain values. An H1FieldList points into the buffer it was parsed from and is
// worker-local like that buffer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

namespace pilotfish::http {

/// Why a message was rejected. Every value has a fixed HTTP status (h1ErrorStatus, for errors in
/// what a client sent) and a short token (h1ErrorToken) for `x-pilotfish-error` and counters.
/// Errors in what an upstream sent are answered 502 `upstream_protocol_error` whatever the value;
/// the value then says why (logs, per-reason counters).
enum class H1Error : uint8_t {
  kNone = 0,
  // Syntax of the head (and of trailer lines).
  kBareLf,            ///< LF not preceded by CR
  kBareCr,            ///< CR not followed by LF
  kObsFold,           ///< a field line starting with SP or HTAB (RFC 9112 §5.2)
  kSpaceBeforeColon,  ///< "Name :" (RFC 9112 §5.1)
  kBadHeaderName,     ///< empty or non-token name, or no colon
  kUnderscoreInName,  ///< '_' in a name, only with H1Limits::reject_underscore_in_names
  kBadHeaderValue,    ///< a control character (other than HTAB) in a value
  kBadMethod,         ///< method is not a token
  kBadTarget,         ///< request-target not allowed for the method, or bad characters
  kBadVersion,        ///< not exactly HTTP/1.0 or HTTP/1.1
  kBadStatusLine,     ///< response: malformed status line or status code
  // Semantics of the head.
  kMissingHost,                       ///< HTTP/1.1 request without Host
  kDuplicateHost,                     ///< more than one Host field line
  kBadHost,                           ///< Host is not uri-host [":" port]
  kBadContentLength,                  ///< not plain digits, differing values, or >= 2^63
  kContentLengthAndTransferEncoding,  ///< both present (CL.TE / TE.CL smuggling)
  kBadTransferEncoding,               ///< final coding not chunked, chunked twice, malformed list
  kTransferEncodingInHttp10,          ///< Transfer-Encoding in an HTTP/1.0 message
  kUnknownTransferEncoding,           ///< a coding we do not know (501 for requests)
  kBadConnection,                     ///< a Connection option that is not a token
  kBadUpgrade,                        ///< an Upgrade protocol that is not token ["/" token]
  // Limits.
  kLineTooLong,     ///< request line over H1Limits::max_line_bytes (414)
  kHeadTooLarge,    ///< head over H1Limits::max_head_bytes (431)
  kTooManyHeaders,  ///< more than H1Limits::max_headers field lines (431)
  // Chunked body.
  kBadChunkSize,       ///< not hex, empty, or over 2^62
  kBadChunkExtension,  ///< not ;token[=token|quoted-string], or a control character in it
  kBadChunkFraming,    ///< missing CRLF after the size line or the data, or a bare LF/CR
  kChunkLineTooLong,   ///< size line (with extensions) over H1ChunkedLimits::max_line_bytes
  kBadTrailer,         ///< a trailer field line with bad syntax (same rules as the head)
  kTrailersTooLarge,   ///< trailer section over its byte or field-count limit
  kCount
};

/// HTTP status to answer a client with for `error` (400, 414, 431 or 501; 0 for kNone).
uint16_t h1ErrorStatus(H1Error error);

/// Short snake_case token for `error` ("bad_content_length", ...); "" for kNone. The returned
/// view refers to static storage.
std::string_view h1ErrorToken(H1Error error);

/// The token for every error in an upstream's response (answered with status 502).
inline constexpr std::string_view kUpstreamProtocolErrorToken = "upstream_protocol_error";
inline constexpr uint16_t kUpstreamProtocolErrorStatus = 502;

/// Bounds of one message head. Immutable per listener or cluster; copied into each parser.
struct H1Limits {
  std::size_t max_line_bytes = 8 * 1024;    ///< request or status line incl. CRLF; else 414
  std::size_t max_head_bytes = 60 * 1024;   ///< whole head incl. start line and final CRLF; 431
  std::size_t max_headers = 100;            ///< field lines; one more is 431
  bool reject_underscore_in_names = false;  ///< '_' in a field name is 400 (must-survive #14)
};

enum class H1Version : uint8_t { kHttp10, kHttp11 };

/// Methods the proxy treats specially; anything else that is a token is kOther.
enum class H1Method : uint8_t {
  kOther,
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kConnect,
  kOptions,
  kTrace,
  kPatch
};

/// The method named exactly (case-sensitively) by `token`, else kOther.
H1Method h1MethodFromToken(std::string_view token);

/// How the message body is delimited (RFC 9112 §6.3).
enum class H1BodyKind : uint8_t {
  kNone,           ///< no body follows the head
  kContentLength,  ///< exactly `content_length` bytes follow (possibly 0)
  kChunked,        ///< chunked; decode with H1ChunkedDecoder
  kUntilClose,     ///< response only: the body runs until the upstream closes
};

/// One field line: both views point into the parsed buffer. `value` has OWS trimmed.
struct H1Field {
  std::string_view name;
  std::string_view value;
};

/// Header (or trailer) fields in received order. Caller-owned and reused: clear() keeps the
/// capacity, so once warmed up to the largest head seen, parsing allocates nothing.
/// Worker-local; the views are valid while the buffer they point into is unchanged.
class H1FieldList {
 public:
  H1FieldList() = default;
  /// Reserves room for `capacity` fields (use H1Limits::max_headers).
  explicit H1FieldList(std::size_t capacity) { fields_.reserve(capacity); }

  void clear() noexcept { fields_.clear(); }
  void reserve(std::size_t capacity) { fields_.reserve(capacity); }
  void push(H1Field field) { fields_.push_back(field); }

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  std::size_t capacity() const noexcept { return fields_.capacity(); }
  const H1Field& operator[](std::size_t i) const { return fields_[i]; }
  auto begin() const noexcept { return fields_.begin(); }
  auto end() const noexcept { return fields_.end(); }

  /// Value of the first field named `name` (ASCII case-insensitive), or nullopt.
  std::optional<std::string_view> get(std::string_view name) const noexcept;
  /// Number of field lines named `name` (ASCII case-insensitive).
  std::size_t count(std::string_view name) const noexcept;

  /// For the parsers: the buffer holding the viewed bytes moved from `from` to `to` (the caller
  /// re-called with a reallocated, longer copy of the same bytes); re-point every view.
  void rebase(const char* from, const char* to) noexcept;

 private:
  std::vector<H1Field> fields_;
};

/// True when `a` and `b` are equal ignoring ASCII case.
bool h1EqualsIgnoreCase(std::string_view a, std::string_view b) noexcept;

/// Walks the elements of a comma-separated list field value (RFC 9110 §5.6.1): each element is
/// returned with OWS trimmed; empty elements are returned as empty views (the caller decides
/// whether they are an error). Example: for " a , b,,c " yields "a", "b", "", "c".
class H1ListElements {
 public:
  explicit H1ListElements(std::string_view list) noexcept : rest_(list) {}
  /// Stores the next element in `element` and returns true, or returns false at the end.
  bool next(std::string_view& element) noexcept;

 private:
  std::string_view rest_;
  bool done_ = false;
};

/// Outcome of one call to a head parser.
enum class H1Progress : uint8_t {
  kNeedMore,  ///< head incomplete and nothing wrong so far: call again with more bytes
  kComplete,  ///< head parsed; `consumed` bytes of the buffer belong to it
  kError,     ///< reject: answer `status` with `token`, close, parse nothing more
};

struct H1Result {
  H1Progress progress = H1Progress::kNeedMore;
  H1Error error = H1Error::kNone;  ///< why, when kError
  uint16_t status = 0;             ///< HTTP status to answer with, when kError
  std::string_view token;          ///< x-pilotfish-error token / counter name, when kError
  std::size_t consumed = 0;        ///< head length incl. the final CRLF, when kComplete

  bool complete() const noexcept { return progress == H1Progress::kComplete; }
  bool needMore() const noexcept { return progress == H1Progress::kNeedMore; }
  bool failed() const noexcept { return progress == H1Progress::kError; }
};

namespace detail {
/// Progress inside the line being parsed (private to the parsers): bytes [0, pos) of the line
/// are validated; `part` and the marks are the line parser's sub-state.
struct H1LineProgress {
  std::size_t pos = 0;
  std::size_t mark_a = 0;
  std::size_t mark_b = 0;
  uint8_t part = 0;
};

/// Scan position of a head parser across parse() calls (private to the parsers).
struct H1HeadCursor {
  std::size_t line_start = 0;  ///< first byte of the line being parsed
  H1LineProgress line;         ///< how far into that line
  const char* base = nullptr;  ///< buffer.data() at the previous call
  bool in_fields = false;      ///< the start line is done
  bool started = false;        ///< parse() was called since the last reset
};
}  // namespace detail

}  // namespace pilotfish::http
