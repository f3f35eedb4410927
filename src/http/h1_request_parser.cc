#include "pilotfish/http/h1_request_parser.h"

#include "http/h1_common_impl.h"

namespace pilotfish::http {
namespace {

using detail::LineOutcome;

struct RequestLine {
  std::size_t method_off = 0, method_len = 0, target_off = 0, target_len = 0;
  std::size_t path_off = 0, path_len = 0, authority_off = 0, authority_len = 0;
  H1Method method = H1Method::kOther;
  H1TargetForm form = H1TargetForm::kOrigin;
  H1Version version = H1Version::kHttp11;
};

bool startsWithHttpScheme(std::string_view t) noexcept {
  return t.size() >= 7 && detail::equalsLower(t.substr(0, 7), "http://");
}

/// Classifies and checks the request-target (RFC 9112 §3.2) for `out.method`. Offsets in `out`
/// are relative to `b`; the target starts at b[out.target_off].
H1Error classifyTarget(const char* b, RequestLine& out) noexcept {
  const std::string_view target(b + out.target_off, out.target_len);
  if (out.method == H1Method::kConnect) {
    // authority-form only: "host:port"
    if (!detail::validAuthority(target, /*require_port=*/true)) return H1Error::kBadTarget;
    out.form = H1TargetForm::kAuthority;
    out.authority_off = out.target_off;
    out.authority_len = out.target_len;
    out.path_off = out.target_off;
    out.path_len = 0;
    return H1Error::kNone;
  }
  if (target[0] == '/') {
    out.form = H1TargetForm::kOrigin;
    out.path_off = out.target_off;
    out.path_len = out.target_len;
    return H1Error::kNone;
  }
  if (target == "*") {
    if (out.method != H1Method::kOptions) return H1Error::kBadTarget;
    out.form = H1TargetForm::kAsterisk;
    out.path_off = out.target_off;
    out.path_len = 1;
    return H1Error::kNone;
  }
  if (startsWithHttpScheme(target)) {
    const std::string_view rest = target.substr(7);
    const std::size_t end = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, end);
    if (!detail::validAuthority(authority, /*require_port=*/false)) return H1Error::kBadTarget;
    out.form = H1TargetForm::kAbsolute;
    out.authority_off = out.target_off + 7;
    out.authority_len = authority.size();
    out.path_off = out.authority_off + authority.size();
    out.path_len = out.target_len - 7 - authority.size();
    return H1Error::kNone;
  }
  return H1Error::kBadTarget;
}

/// request-line = method SP request-target SP HTTP-version CRLF, exactly (single spaces).
/// Parses the line starting at b[ls] from its first `avail` bytes, resuming at `progress`.
LineOutcome parseRequestLine(const char* b, std::size_t ls, std::size_t avail,
                             detail::H1LineProgress& progress, RequestLine& out) noexcept {
  enum : uint8_t { kStart, kMethod, kTarget, kVersion };
  const char* p = b + ls;
  std::size_t i = progress.pos;
  switch (progress.part) {
    case kStart:
      if (avail == 0) return detail::incomplete();
      if (p[0] == '\r') {  // an empty line before the request line (RFC 9112 §2.2)
        if (avail < 2) return detail::incomplete();
        return p[1] == '\n' ? detail::lineComplete(0) : detail::lineError(H1Error::kBareCr);
      }
      progress.part = kMethod;
      [[fallthrough]];
    case kMethod:
      while (i < avail && detail::is(p[i], detail::kClsTchar)) ++i;
      if (i == avail) {
        progress.pos = i;
        return detail::incomplete();
      }
      if (p[i] != ' ' || i == 0) {
        return detail::unexpectedAt(p, i, avail, H1Error::kBadMethod, H1Error::kBadMethod,
                                    progress);
      }
      progress.mark_a = i;  // method length
      ++i;
      progress.part = kTarget;
      [[fallthrough]];
    case kTarget:
      while (i < avail && detail::is(p[i], detail::kClsTarget)) ++i;
      if (i == avail) {
        progress.pos = i;
        return detail::incomplete();
      }
      if (p[i] != ' ' || i == progress.mark_a + 1) {
        // A line ending right after the target lacks its version.
        return detail::unexpectedAt(p, i, avail, H1Error::kBadVersion, H1Error::kBadTarget,
                                    progress);
      }
      progress.mark_b = i;  // end of the target
      ++i;
      progress.part = kVersion;
      [[fallthrough]];
    case kVersion:
    default:
      while (i<avail&& static_cast<unsigned char>(p[i])> 0x20 &&
             static_cast<unsigned char>(p[i]) < 0x7f) {
        ++i;
      }
      if (i == avail) {
        progress.pos = i;
        return detail::incomplete();
      }
      if (p[i] != '\r') {
        return detail::unexpectedAt(p, i, avail, H1Error::kBadVersion, H1Error::kBadVersion,
                                    progress);
      }
      if (i + 1 == avail) {
        progress.pos = i;
        return detail::incomplete();
      }
      if (p[i + 1] != '\n') return detail::lineError(H1Error::kBareCr);
      break;
  }

  const std::size_t method_len = progress.mark_a;
  const std::size_t target_end = progress.mark_b;
  const std::string_view version(p + target_end + 1, i - target_end - 1);
  if (version == "HTTP/1.1") {
    out.version = H1Version::kHttp11;
  } else if (version == "HTTP/1.0") {
    out.version = H1Version::kHttp10;
  } else {
    return detail::lineError(H1Error::kBadVersion);
  }
  out.method_off = ls;
  out.method_len = method_len;
  out.method = h1MethodFromToken(std::string_view(p, method_len));
  out.target_off = ls + method_len + 1;
  out.target_len = target_end - method_len - 1;
  if (const H1Error e = classifyTarget(b, out); e != H1Error::kNone) return detail::lineError(e);
  return detail::lineComplete(i);
}

}  // namespace

H1RequestHead::H1RequestHead(std::size_t max_headers) : headers(max_headers) {
  connection_options.reserve(8);
  upgrade_protocols.reserve(4);
}

void H1RequestHead::clear() noexcept {
  method = {};
  method_id = H1Method::kOther;
  target = {};
  target_form = H1TargetForm::kOrigin;
  path = {};
  authority = {};
  host = {};
  version = H1Version::kHttp11;
  headers.clear();
  body_kind = H1BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
  expect_continue = false;
  connection_options.clear();
  upgrade_protocols.clear();
}

void H1RequestParser::reset() noexcept {
  cursor_ = {};
  result_ = {};
}

H1Result H1RequestParser::fail(H1Error error) noexcept {
  result_.progress = H1Progress::kError;
  result_.error = error;
  result_.status = h1ErrorStatus(error);
  result_.token = h1ErrorToken(error);
  result_.consumed = 0;
  return result_;
}

H1Result H1RequestParser::parse(std::string_view buffer, H1RequestHead& head) noexcept {
  if (result_.progress != H1Progress::kNeedMore) return result_;
  if (buffer.size() < cursor_.line_start + cursor_.line.pos) {
    cursor_ = {};  // contract broken (the buffer shrank): start over
  }
  if (!cursor_.started) {
    head.clear();
    cursor_.started = true;
  }

  RequestLine line;
  const detail::HeadScan scan = detail::scanHead(
      cursor_, limits_, buffer, head.headers,
      [&](const char* b, std::size_t ls, std::size_t avail, detail::H1LineProgress& progress) {
        return parseRequestLine(b, ls, avail, progress, line);
      });
  if (cursor_.in_fields && line.method_len != 0) {
    // The request line completed during this call: keep it as offsets.
    method_off_ = static_cast<uint32_t>(line.method_off);
    method_len_ = static_cast<uint32_t>(line.method_len);
    target_off_ = static_cast<uint32_t>(line.target_off);
    target_len_ = static_cast<uint32_t>(line.target_len);
    path_off_ = static_cast<uint32_t>(line.path_off);
    path_len_ = static_cast<uint32_t>(line.path_len);
    authority_off_ = static_cast<uint32_t>(line.authority_off);
    authority_len_ = static_cast<uint32_t>(line.authority_len);
    method_id_ = line.method;
    target_form_ = line.form;
    version_ = line.version;
  }
  switch (scan.step) {
    case detail::HeadStep::kNeedMore: return result_;
    case detail::HeadStep::kError: return fail(scan.error);
    case detail::HeadStep::kComplete: break;
  }
  if (const H1Error e = finish(buffer, head); e != H1Error::kNone) return fail(e);
  result_.progress = H1Progress::kComplete;
  result_.consumed = scan.consumed;
  return result_;
}

H1Error H1RequestParser::finish(std::string_view buffer, H1RequestHead& head) noexcept {
  head.method = detail::viewAt(buffer, method_off_, method_len_);
  head.method_id = method_id_;
  head.target = detail::viewAt(buffer, target_off_, target_len_);
  head.target_form = target_form_;
  head.path = detail::viewAt(buffer, path_off_, path_len_);
  head.version = version_;

  detail::FramingFields f;
  detail::gatherFraming(head.headers, f, head.connection_options, head.upgrade_protocols);
  const bool http11 = version_ == H1Version::kHttp11;

  // Host (RFC 9112 §3.2): exactly one in HTTP/1.1, at most one in HTTP/1.0, always valid.
  if (f.host_count > 1) return H1Error::kDuplicateHost;
  if (f.host_count == 1 && !f.host.empty() && !detail::validAuthority(f.host, false)) {
    return H1Error::kBadHost;
  }
  if (http11 && f.host_count == 0) return H1Error::kMissingHost;
  head.host = f.host;
  if (target_form_ == H1TargetForm::kAbsolute || target_form_ == H1TargetForm::kAuthority) {
    head.authority = detail::viewAt(buffer, authority_off_, authority_len_);
  } else {
    head.authority = f.host;
  }

  // Framing (RFC 9112 §6.1, §6.3). Any doubt is a 400 and a closed connection.
  if (f.te_present) {
    if (!http11) return H1Error::kTransferEncodingInHttp10;
    if (f.cl_present || f.cl_bad) return H1Error::kContentLengthAndTransferEncoding;
    if (const H1Error e = detail::transferEncodingError(f, /*require_final_chunked=*/true);
        e != H1Error::kNone) {
      return e;
    }
    head.body_kind = H1BodyKind::kChunked;
  } else if (f.cl_bad) {
    return H1Error::kBadContentLength;
  } else if (f.cl_present) {
    head.body_kind = H1BodyKind::kContentLength;
    head.content_length = f.content_length;
  } else {
    head.body_kind = H1BodyKind::kNone;
  }

  if (f.conn_bad) return H1Error::kBadConnection;
  if (f.upgrade_bad) return H1Error::kBadUpgrade;
  head.keep_alive = http11 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close);
  head.expect_continue = http11 && f.expect_continue;
  if (!http11 || !f.conn_upgrade) head.upgrade_protocols.clear();
  return H1Error::kNone;
}

}  // namespace pilotfish::http
