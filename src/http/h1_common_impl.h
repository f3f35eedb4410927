#pragma once
// Private helpers shared by the HTTP/1 head parsers and the chunked decoder: character classes,
// the field-line parser, the line loop with limits, and the framing fields
// (Host, Content-Length, Transfer-Encoding, Connection, Upgrade, Expect).
//
// Every line parser here is *resumable* and *prefix-monotonic*: given the first `avail` bytes of
// a line (and the H1LineProgress saved by the previous call) it examines only bytes it has not
// seen and returns kIncomplete, or the result it would return for any longer prefix. Together
// with limits checked at fixed byte positions, this makes a head give the same result however it
// is split across parse() calls, in linear total work (unit tests and the fuzzer check it).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "pilotfish/http/h1_types.h"

namespace pilotfish::http::detail {

// ---- character classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar; RFC 3986 reg-name) ----------

enum : uint8_t {
  kClsTchar = 1,     // token character
  kClsFvchar = 2,    // VCHAR or obs-text (a non-blank field-value character)
  kClsWs = 4,        // SP or HTAB
  kClsTarget = 8,    // allowed in a request-target: VCHAR except '#'
  kClsHex = 16,      // HEXDIG
  kClsRegName = 32,  // unreserved / sub-delims (reg-name and IPv4 characters, without '%')
  kClsQdtext = 64,   // qdtext of a quoted-string (RFC 9110 §5.6.4)
};

constexpr std::array<uint8_t, 256> makeCharClasses() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t v = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit) v |= kClsTchar | kClsRegName;
    switch (c) {
      case '!':
      case '#':
      case '$':
      case '%':
      case '&':
      case '\'':
      case '*':
      case '+':
      case '-':
      case '.':
      case '^':
      case '_':
      case '`':
      case '|':
      case '~': v |= kClsTchar; break;
      default: break;
    }
    switch (c) {
      case '-':
      case '.':
      case '_':
      case '~':
      case '!':
      case '$':
      case '&':
      case '\'':
      case '(':
      case ')':
      case '*':
      case '+':
      case ',':
      case ';':
      case '=': v |= kClsRegName; break;
      default: break;
    }
    if ((c >= 0x21 && c <= 0x7e) || c >= 0x80) v |= kClsFvchar;
    if (c == ' ' || c == '\t') v |= kClsWs;
    if (c >= 0x21 && c <= 0x7e && c != '#') v |= kClsTarget;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) v |= kClsHex;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
        (c >= 0x5d && c <= 0x7e) || c >= 0x80) {
      v |= kClsQdtext;
    }
    t[static_cast<std::size_t>(c)] = v;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> kCharClass = makeCharClasses();

inline bool is(char c, uint8_t cls) noexcept {
  return (kCharClass[static_cast<unsigned char>(c)] & cls) != 0;
}

inline bool isToken(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s) {
    if (!is(c, kClsTchar)) return false;
  }
  return true;
}

inline char toLower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

/// `s` equals `lower` (already lower-case) ignoring ASCII case.
inline bool equalsLower(std::string_view s, std::string_view lower) noexcept {
  if (s.size() != lower.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (toLower(s[i]) != lower[i]) return false;
  }
  return true;
}

inline int hexValue(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Index of the first byte in p[from, avail) that is a control character (0x00-0x1f, 0x7f;
/// HTAB, CR and LF included), or `avail`. Reads nothing at or past `avail`.
inline std::size_t findControl(const char* p, std::size_t from, std::size_t avail) noexcept {
  std::size_t i = from;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (i + 16 <= avail) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    // x < 0x20 (unsigned)  <=>  max(x, 0x20) != x
    const __m128i ge = _mm_cmpeq_epi8(_mm_max_epu8(x, space), x);
    const __m128i bad =
        _mm_or_si128(_mm_andnot_si128(ge, _mm_set1_epi8(-1)), _mm_cmpeq_epi8(x, del));
    const int mask = _mm_movemask_epi8(bad);
    if (mask != 0) return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    i += 16;
  }
#endif
  for (; i < avail; ++i) {
    const auto c = static_cast<unsigned char>(p[i]);
    if (c < 0x20 || c == 0x7f) return i;
  }
  return avail;
}

// ---- lines ---------------------------------------------------------------------------------

enum class LineStatus : uint8_t { kIncomplete, kComplete, kError };

struct LineOutcome {
  LineStatus status = LineStatus::kIncomplete;
  H1Error error = H1Error::kNone;
  std::size_t len = 0;  // content bytes before the CRLF, when kComplete
};

inline LineOutcome incomplete() noexcept {
  return {};
}
inline LineOutcome lineError(H1Error e) noexcept {
  return {LineStatus::kError, e, 0};
}
inline LineOutcome lineComplete(std::size_t len) noexcept {
  return {LineStatus::kComplete, H1Error::kNone, len};
}

/// The line p[0, avail) has an unexpected byte at `i` where a part of it (method, target, name,
/// ...) was expected to go on: tells a premature line end (`ended`), a bare CR or LF, or
/// `other`; or, for a CR that is the last available byte, that more bytes are needed (then
/// `progress.pos` is left at the CR so that the next call looks at it again).
inline LineOutcome unexpectedAt(const char* p, std::size_t i, std::size_t avail, H1Error ended,
                                H1Error other, H1LineProgress& progress) noexcept {
  if (p[i] == '\r') {
    if (i + 1 == avail) {
      progress.pos = i;
      return incomplete();
    }
    return lineError(p[i + 1] == '\n' ? ended : H1Error::kBareCr);
  }
  if (p[i] == '\n') return lineError(H1Error::kBareLf);
  return lineError(other);
}

/// Parses a field line (or the empty line ending a field section) from its first `avail` bytes,
/// resuming at `progress` (zero-initialised for a new line). kComplete with len 0 is the empty
/// line. `field` is set on kComplete with len > 0. `at_capacity`: the section already holds its
/// maximum number of fields. Each byte is examined once, however the line is split.
inline LineOutcome parseFieldLine(const char* p, std::size_t avail, bool at_capacity,
                                  bool reject_underscore, H1LineProgress& progress,
                                  H1Field& field) noexcept {
  enum : uint8_t { kStart, kName, kOws, kValue };
  std::size_t i = progress.pos;
  switch (progress.part) {
    case kStart: {
      if (avail == 0) return incomplete();
      const char first = p[0];
      if (first == '\r') {
        if (avail < 2) return incomplete();
        return p[1] == '\n' ? lineComplete(0) : lineError(H1Error::kBareCr);
      }
      if (first == '\n') return lineError(H1Error::kBareLf);
      if (first == ' ' || first == '\t') return lineError(H1Error::kObsFold);
      if (at_capacity) return lineError(H1Error::kTooManyHeaders);
      progress.part = kName;
      [[fallthrough]];
    }
    case kName:
      while (i < avail && is(p[i], kClsTchar)) ++i;
      if (i == avail) {
        progress.pos = i;
        return incomplete();
      }
      if (p[i] != ':') {
        if (p[i] == ' ' || p[i] == '\t') return lineError(H1Error::kSpaceBeforeColon);
        return unexpectedAt(p, i, avail, H1Error::kBadHeaderName, H1Error::kBadHeaderName,
                            progress);
      }
      if (i == 0) return lineError(H1Error::kBadHeaderName);
      if (reject_underscore && std::memchr(p, '_', i) != nullptr) {
        return lineError(H1Error::kUnderscoreInName);
      }
      progress.mark_a = i;  // name length
      ++i;
      progress.part = kOws;
      [[fallthrough]];
    case kOws:
      while (i < avail && (p[i] == ' ' || p[i] == '\t')) ++i;
      if (i == avail) {
        progress.pos = i;
        return incomplete();
      }
      progress.mark_b = i;  // value start
      progress.part = kValue;
      [[fallthrough]];
    case kValue:
    default:
      for (;;) {
        i = findControl(p, i, avail);
        if (i == avail) {
          progress.pos = i;
          return incomplete();
        }
        const char c = p[i];
        if (c == '\t') {
          ++i;
          continue;
        }
        if (c == '\r') {
          if (i + 1 == avail) {
            progress.pos = i;
            return incomplete();
          }
          if (p[i + 1] != '\n') return lineError(H1Error::kBareCr);
          const std::size_t value_start = progress.mark_b;
          std::size_t value_end = i;
          while (value_end > value_start && (p[value_end - 1] == ' ' || p[value_end - 1] == '\t')) {
            --value_end;
          }
          field.name = std::string_view(p, progress.mark_a);
          field.value = std::string_view(p + value_start, value_end - value_start);
          return lineComplete(i);
        }
        if (c == '\n') return lineError(H1Error::kBareLf);
        return lineError(H1Error::kBadHeaderValue);
      }
  }
}

enum class HeadStep : uint8_t { kNeedMore, kComplete, kError };

struct HeadScan {
  HeadStep step = HeadStep::kNeedMore;
  H1Error error = H1Error::kNone;
  std::size_t consumed = 0;
};

/// The line loop shared by the request and response parsers.
/// `start_line(b, ls, avail, progress)` parses the start line beginning at b[ls] from its first
/// `avail` bytes, resuming at `progress` (kComplete with len 0 = an empty line to skip before
/// the start line). Field lines go to `fields`.
///
/// Every byte is examined once in order (a CR that ends the available bytes is looked at again
/// with its successor), so errors are reported at the first offending byte and the result does
/// not depend on how the head is split. A limit is reported once the bytes before the limit
/// position have been seen without the line ending.
template <class StartLineFn>
HeadScan scanHead(H1HeadCursor& cur, const H1Limits& limits, std::string_view buffer,
                  H1FieldList& fields, StartLineFn&& start_line) noexcept {
  const char* const b = buffer.data();
  const std::size_t n = buffer.size();
  if (cur.base != nullptr && cur.base != b) fields.rebase(cur.base, b);
  cur.base = b;

  for (;;) {
    const std::size_t ls = cur.line_start;
    // The first byte position that breaks a limit if the line has not ended before it.
    std::size_t limit = limits.max_head_bytes;
    H1Error limit_error = H1Error::kHeadTooLarge;
    if (!cur.in_fields && ls <= limit && limits.max_line_bytes <= limit - ls) {
      limit = ls + limits.max_line_bytes;
      limit_error = H1Error::kLineTooLong;
    }
    if (limit < ls) return {HeadStep::kError, H1Error::kHeadTooLarge, 0};  // defensive
    const std::size_t stop = std::min(n, limit);
    const std::size_t avail = stop - ls;

    H1Field field;
    const LineOutcome r = cur.in_fields
                              ? parseFieldLine(b + ls, avail, fields.size() >= limits.max_headers,
                                               limits.reject_underscore_in_names, cur.line, field)
                              : start_line(b, ls, avail, cur.line);
    if (r.status == LineStatus::kError) return {HeadStep::kError, r.error, 0};
    if (r.status == LineStatus::kIncomplete) {
      if (stop < limit) return {};
      return {HeadStep::kError, limit_error, 0};
    }

    const std::size_t next = ls + r.len + 2;
    cur.line_start = next;
    cur.line = {};
    if (!cur.in_fields) {
      if (r.len > 0) cur.in_fields = true;  // else an empty line before the start line
    } else if (r.len == 0) {
      return {HeadStep::kComplete, H1Error::kNone, next};
    } else {
      fields.push(field);
    }
  }
}

// ---- framing fields -------------------------------------------------------------------------

/// Validates uri-host [":" port] (RFC 3986 §3.2.2; no userinfo). `require_port` for CONNECT.
inline bool validAuthority(std::string_view a, bool require_port) noexcept {
  const std::size_t n = a.size();
  if (n == 0) return false;
  std::size_t i = 0;
  if (a[0] == '[') {
    const std::size_t close = a.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (std::size_t k = 1; k < close; ++k) {
      const char c = a[k];
      if (!(is(c, kClsHex) || c == ':' || c == '.')) return false;
    }
    i = close + 1;
  } else {
    while (i < n && a[i] != ':') {
      if (a[i] == '%') {
        if (i + 2 >= n || !is(a[i + 1], kClsHex) || !is(a[i + 2], kClsHex)) return false;
        i += 3;
      } else if (is(a[i], kClsRegName)) {
        ++i;
      } else {
        return false;
      }
    }
    if (i == 0) return false;
  }
  if (i == n) return !require_port;
  if (a[i] != ':') return false;
  const std::string_view port = a.substr(i + 1);
  if (port.empty() || port.size() > 5) return false;
  uint32_t v = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint32_t>(c - '0');
  }
  return v <= 65535;
}

/// Everything the framing depends on, gathered in one pass over the fields.
struct FramingFields {
  std::size_t host_count = 0;
  std::string_view host;
  bool cl_present = false;
  bool cl_bad = false;
  uint64_t content_length = 0;
  bool te_present = false;
  bool te_malformed = false;  // empty element, or an element that is not a plain token
  bool te_unknown = false;    // a coding we do not know
  int te_chunked = 0;         // how many times "chunked" appears
  bool te_last_chunked = false;
  bool conn_close = false;
  bool conn_keep_alive = false;
  bool conn_upgrade = false;
  bool conn_bad = false;
  bool upgrade_bad = false;
  bool expect_continue = false;
};

/// Adds the elements of one Content-Length value. Only 1*DIGIT elements below 2^63, all equal
/// (also across field lines: identical duplicates merge), are accepted.
inline void addContentLength(std::string_view value, FramingFields& f) noexcept {
  H1ListElements it(value);
  std::string_view e;
  bool any = false;
  while (it.next(e)) {
    any = true;
    if (e.empty()) {
      f.cl_bad = true;
      return;
    }
    uint64_t v = 0;
    for (char c : e) {
      if (c < '0' || c > '9') {
        f.cl_bad = true;
        return;
      }
      const auto d = static_cast<uint64_t>(c - '0');
      if (v > (uint64_t{INT64_MAX} - d) / 10) {  // keep v <= 2^63 - 1
        f.cl_bad = true;
        return;
      }
      v = v * 10 + d;
    }
    if (f.cl_present && v != f.content_length) {
      f.cl_bad = true;
      return;
    }
    f.cl_present = true;
    f.content_length = v;
  }
  if (!any) f.cl_bad = true;
}

/// Adds the codings of one Transfer-Encoding value (RFC 9112 §6.1, §7).
inline void addTransferEncoding(std::string_view value, FramingFields& f) noexcept {
  f.te_present = true;
  H1ListElements it(value);
  std::string_view e;
  bool any = false;
  while (it.next(e)) {
    any = true;
    if (!isToken(e)) {  // empty, or with parameters: we accept neither
      f.te_malformed = true;
      continue;
    }
    if (equalsLower(e, "chunked")) {
      ++f.te_chunked;
      f.te_last_chunked = true;
      continue;
    }
    f.te_last_chunked = false;
    if (!(equalsLower(e, "gzip") || equalsLower(e, "deflate") || equalsLower(e, "compress") ||
          equalsLower(e, "x-gzip") || equalsLower(e, "x-compress") || equalsLower(e, "identity"))) {
      f.te_unknown = true;
    }
  }
  if (!any) f.te_malformed = true;
}

inline void addConnection(std::string_view value, FramingFields& f,
                          std::vector<std::string_view>& options) {
  H1ListElements it(value);
  std::string_view e;
  while (it.next(e)) {
    if (e.empty()) continue;  // RFC 9110 §5.6.1: ignore empty elements
    if (!isToken(e)) {
      f.conn_bad = true;
      continue;
    }
    if (equalsLower(e, "close"))
      f.conn_close = true;
    else if (equalsLower(e, "keep-alive"))
      f.conn_keep_alive = true;
    else if (equalsLower(e, "upgrade"))
      f.conn_upgrade = true;
    options.push_back(e);
  }
}

inline void addUpgrade(std::string_view value, FramingFields& f,
                       std::vector<std::string_view>& protocols) {
  H1ListElements it(value);
  std::string_view e;
  while (it.next(e)) {
    if (e.empty()) continue;
    const std::size_t slash = e.find('/');
    const bool ok = slash == std::string_view::npos
                        ? isToken(e)
                        : isToken(e.substr(0, slash)) && isToken(e.substr(slash + 1));
    if (!ok) {
      f.upgrade_bad = true;
      continue;
    }
    protocols.push_back(e);
  }
}

/// One pass over `fields` collecting the framing-relevant ones.
inline void gatherFraming(const H1FieldList& fields, FramingFields& f,
                          std::vector<std::string_view>& connection_options,
                          std::vector<std::string_view>& upgrade_protocols) {
  for (const H1Field& h : fields) {
    const std::string_view name = h.name;
    switch (name.size()) {
      case 4:
        if (equalsLower(name, "host")) {
          ++f.host_count;
          f.host = h.value;
        }
        break;
      case 6:
        if (equalsLower(name, "expect") && equalsLower(h.value, "100-continue")) {
          f.expect_continue = true;
        }
        break;
      case 7:
        if (equalsLower(name, "upgrade")) addUpgrade(h.value, f, upgrade_protocols);
        break;
      case 10:
        if (equalsLower(name, "connection")) addConnection(h.value, f, connection_options);
        break;
      case 14:
        if (equalsLower(name, "content-length")) addContentLength(h.value, f);
        break;
      case 17:
        if (equalsLower(name, "transfer-encoding")) addTransferEncoding(h.value, f);
        break;
      default: break;
    }
  }
}

/// The first Transfer-Encoding problem, or kNone. Order: an unknown coding (501 for requests),
/// then a malformed list, chunked twice or not last, or (`require_final_chunked`, requests) a
/// final coding other than chunked.
inline H1Error transferEncodingError(const FramingFields& f, bool require_final_chunked) noexcept {
  if (f.te_unknown) return H1Error::kUnknownTransferEncoding;
  if (f.te_malformed || f.te_chunked > 1) return H1Error::kBadTransferEncoding;
  if (f.te_chunked > 0 && !f.te_last_chunked) return H1Error::kBadTransferEncoding;
  if (require_final_chunked && !f.te_last_chunked) return H1Error::kBadTransferEncoding;
  return H1Error::kNone;
}

inline std::string_view viewAt(std::string_view buffer, uint32_t off, uint32_t len) noexcept {
  return buffer.substr(off, len);
}

}  // namespace pilotfish::http::detail
