#include "pilotfish/http/h1_response_parser.h"

#include "http/h1_common_impl.h"

namespace pilotfish::http {
namespace {

using detail::LineOutcome;

struct StatusLine {
  bool complete = false;
  std::size_t reason_off = 0, reason_len = 0;
  uint16_t status = 0;
  H1Version version = H1Version::kHttp11;
};

/// status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] CRLF (RFC 9112 §4). A line that ends
/// right after the code (no SP) is accepted, as most clients do. Resumes at `progress`.
LineOutcome parseStatusLine(const char* b, std::size_t ls, std::size_t avail,
                            detail::H1LineProgress& progress, StatusLine& out) noexcept {
  enum : uint8_t { kFixed, kReason };
  const char* p = b + ls;
  constexpr std::string_view kPrefix = "HTTP/1.";
  std::size_t i = progress.pos;
  if (progress.part == kFixed) {
    // "HTTP/1.x SP ddd", byte by byte as it arrives.
    for (; i < 12; ++i) {
      if (i == avail) {
        progress.pos = i;
        return detail::incomplete();
      }
      const char c = p[i];
      bool ok = false;
      if (i < kPrefix.size())
        ok = c == kPrefix[i];
      else if (i == 7)
        ok = c == '0' || c == '1';
      else if (i == 8)
        ok = c == ' ';
      else if (i == 9)
        ok = c >= '1' && c <= '9';
      else
        ok = c >= '0' && c <= '9';
      if (!ok) {
        return detail::unexpectedAt(p, i, avail, H1Error::kBadStatusLine, H1Error::kBadStatusLine,
                                    progress);
      }
    }
    if (i == avail) {
      progress.pos = i;
      return detail::incomplete();
    }
    progress.mark_a = 12;  // reason start
    if (p[12] == ' ') {
      progress.mark_a = i = 13;
      progress.part = kReason;
    }
  }
  if (progress.part == kReason) {
    while (i < avail && detail::is(p[i], detail::kClsFvchar | detail::kClsWs)) ++i;
    if (i == avail) {
      progress.pos = i;
      return detail::incomplete();
    }
  }
  if (p[i] != '\r') {
    return detail::unexpectedAt(p, i, avail, H1Error::kBadStatusLine, H1Error::kBadStatusLine,
                                progress);
  }
  if (i + 1 == avail) {
    progress.pos = i;
    return detail::incomplete();
  }
  if (p[i + 1] != '\n') return detail::lineError(H1Error::kBareCr);

  const std::size_t reason = progress.mark_a;
  out.complete = true;
  out.version = p[7] == '1' ? H1Version::kHttp11 : H1Version::kHttp10;
  out.status = static_cast<uint16_t>((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
  out.reason_off = ls + reason;
  out.reason_len = i - reason;
  return detail::lineComplete(i);
}

}  // namespace

H1ResponseHead::H1ResponseHead(std::size_t max_headers) : headers(max_headers) {
  connection_options.reserve(8);
  upgrade_protocols.reserve(4);
}

void H1ResponseHead::clear() noexcept {
  version = H1Version::kHttp11;
  status = 0;
  reason = {};
  headers.clear();
  body_kind = H1BodyKind::kNone;
  content_length = 0;
  keep_alive = true;
  interim = false;
  tunnel = false;
  connection_options.clear();
  upgrade_protocols.clear();
}

void H1ResponseParser::reset() noexcept {
  cursor_ = {};
  result_ = {};
}

H1Result H1ResponseParser::fail(H1Error error) noexcept {
  result_.progress = H1Progress::kError;
  result_.error = error;
  result_.status = kUpstreamProtocolErrorStatus;
  result_.token = kUpstreamProtocolErrorToken;
  result_.consumed = 0;
  return result_;
}

H1Result H1ResponseParser::parse(std::string_view buffer, H1Method request_method,
                                 H1ResponseHead& head) noexcept {
  if (result_.progress != H1Progress::kNeedMore) return result_;
  if (buffer.size() < cursor_.line_start + cursor_.line.pos) {
    cursor_ = {};  // contract broken (the buffer shrank): start over
  }
  if (!cursor_.started) {
    head.clear();
    cursor_.started = true;
  }

  StatusLine line;
  const detail::HeadScan scan = detail::scanHead(
      cursor_, limits_, buffer, head.headers,
      [&](const char* b, std::size_t ls, std::size_t avail, detail::H1LineProgress& progress) {
        return parseStatusLine(b, ls, avail, progress, line);
      });
  if (line.complete) {
    reason_off_ = static_cast<uint32_t>(line.reason_off);
    reason_len_ = static_cast<uint32_t>(line.reason_len);
    status_ = line.status;
    version_ = line.version;
  }
  switch (scan.step) {
    case detail::HeadStep::kNeedMore: return result_;
    case detail::HeadStep::kError: return fail(scan.error);
    case detail::HeadStep::kComplete: break;
  }
  if (const H1Error e = finish(buffer, request_method, head); e != H1Error::kNone) return fail(e);
  result_.progress = H1Progress::kComplete;
  result_.consumed = scan.consumed;
  return result_;
}

H1Error H1ResponseParser::finish(std::string_view buffer, H1Method request_method,
                                 H1ResponseHead& head) noexcept {
  head.version = version_;
  head.status = status_;
  head.reason = detail::viewAt(buffer, reason_off_, reason_len_);

  detail::FramingFields f;
  detail::gatherFraming(head.headers, f, head.connection_options, head.upgrade_protocols);
  const bool http11 = version_ == H1Version::kHttp11;

  // Framing errors are errors whatever the status: an upstream that sends them is not trusted
  // to delimit its message (must-survive #1, #4).
  if (f.te_present) {
    if (!http11) return H1Error::kTransferEncodingInHttp10;
    if (f.cl_present || f.cl_bad) return H1Error::kContentLengthAndTransferEncoding;
    if (const H1Error e = detail::transferEncodingError(f, /*require_final_chunked=*/false);
        e != H1Error::kNone) {
      return e;
    }
  } else if (f.cl_bad) {
    return H1Error::kBadContentLength;
  }
  if (f.conn_bad) return H1Error::kBadConnection;
  if (f.upgrade_bad) return H1Error::kBadUpgrade;

  // RFC 9112 §6.3, in its order.
  const uint16_t s = status_;
  if (s < 200) {
    head.body_kind = H1BodyKind::kNone;
    head.tunnel = s == 101;
    head.interim = s != 101;
  } else if (request_method == H1Method::kHead || s == 204 || s == 304) {
    head.body_kind = H1BodyKind::kNone;
  } else if (request_method == H1Method::kConnect && s < 300) {
    head.body_kind = H1BodyKind::kNone;
    head.tunnel = true;
  } else if (f.te_present) {
    head.body_kind = f.te_last_chunked ? H1BodyKind::kChunked : H1BodyKind::kUntilClose;
  } else if (f.cl_present) {
    head.body_kind = H1BodyKind::kContentLength;
    head.content_length = f.content_length;
  } else {
    head.body_kind = H1BodyKind::kUntilClose;
  }
  head.keep_alive = (http11 ? !f.conn_close : (f.conn_keep_alive && !f.conn_close)) &&
                    head.body_kind != H1BodyKind::kUntilClose && !head.tunnel;
  return H1Error::kNone;
}

}  // namespace pilotfish::http
