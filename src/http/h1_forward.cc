#include "pilotfish/http/h1_forward.h"

#include <charconv>

#include "pilotfish/tracing/propagation.h"

namespace pilotfish::http {

namespace {

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ", 2);
  out.append(value);
  out.append("\r\n", 2);
}

void appendNumber(std::string& out, uint64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

// Fields the proxy always writes itself (or drops) in upstream requests.
bool replacedUpstream(std::string_view name) noexcept {
  switch (name.size()) {
    case 4: return h1EqualsIgnoreCase(name, "host");
    case 14: return h1EqualsIgnoreCase(name, "content-length");
    case 15: return h1EqualsIgnoreCase(name, "x-forwarded-for");
    case 16: return h1EqualsIgnoreCase(name, kHopsHeader);
    case 17: return h1EqualsIgnoreCase(name, "x-forwarded-proto");
    default: return false;
  }
}

// "transfer-encoding: <every coding received>" — the codings before chunked (e.g. gzip) are
// end-to-end and must survive; chunked itself is re-encoded by the caller.
void appendTransferEncoding(std::string& out, const H1FieldList& fields) {
  out.append("transfer-encoding: ", 19);
  bool first = true;
  for (const H1Field& f : fields) {
    if (f.name.size() != 17 || !h1EqualsIgnoreCase(f.name, "transfer-encoding")) continue;
    if (!first) out.append(", ", 2);
    out.append(f.value);
    first = false;
  }
  if (first) out.append("chunked", 7);
  out.append("\r\n", 2);
}

}  // namespace

bool isHopByHop(std::string_view name) noexcept {
  switch (name.size()) {
    case 2: return h1EqualsIgnoreCase(name, "te");
    case 7: return h1EqualsIgnoreCase(name, "trailer") || h1EqualsIgnoreCase(name, "upgrade");
    case 10:
      return h1EqualsIgnoreCase(name, "connection") || h1EqualsIgnoreCase(name, "keep-alive");
    case 16: return h1EqualsIgnoreCase(name, "proxy-connection");
    case 17: return h1EqualsIgnoreCase(name, "transfer-encoding");
    default: return false;
  }
}

bool namedByConnection(std::string_view name,
                       const std::vector<std::string_view>& options) noexcept {
  for (std::string_view o : options) {
    if (h1EqualsIgnoreCase(name, o)) return true;
  }
  return false;
}

uint32_t incomingHops(const H1FieldList& headers) noexcept {
  uint32_t hops = 0;
  bool seen = false;
  for (const H1Field& f : headers) {
    if (f.name.size() != kHopsHeader.size() || !h1EqualsIgnoreCase(f.name, kHopsHeader)) continue;
    if (seen || f.value.empty() || f.value.size() > 3) return UINT32_MAX;
    seen = true;
    for (char c : f.value) {
      if (c < '0' || c > '9') return UINT32_MAX;
      hops = hops * 10 + static_cast<uint32_t>(c - '0');
    }
  }
  return hops;
}

std::size_t writeUpstreamRequestHead(const UpstreamRequest& r, std::string& out) {
  const H1RequestHead& h = *r.head;
  out.append(h.method);
  out.push_back(' ');
  out.append(r.target);
  out.append(" HTTP/1.1\r\n", 11);
  appendField(out, "host", r.host);
  std::string_view xff_first;  // first X-Forwarded-For line, joined below with any others
  bool xff_many = false;
  std::size_t dropped = 0;
  for (const H1Field& f : h.headers) {
    if (isHopByHop(f.name) || replacedUpstream(f.name)) {
      if (f.name.size() == 15 && h1EqualsIgnoreCase(f.name, "x-forwarded-for")) {
        if (xff_first.empty()) {
          xff_first = f.value;
        } else {
          xff_many = true;
        }
      }
      continue;
    }
    if (!h.connection_options.empty() && namedByConnection(f.name, h.connection_options)) continue;
    if (r.tracing != nullptr && r.tracing->removes(f.name)) continue;
    if (r.drop_underscore_names && f.name.find('_') != std::string_view::npos) {
      ++dropped;
      continue;
    }
    appendField(out, f.name, f.value);
  }
  if (h.body_kind == H1BodyKind::kContentLength) {
    out.append("content-length: ", 16);
    appendNumber(out, h.content_length);
    out.append("\r\n", 2);
  } else if (h.body_kind == H1BodyKind::kChunked) {
    appendTransferEncoding(out, h.headers);
  }
  if (r.websocket) {
    out.append("connection: upgrade\r\nupgrade: websocket\r\n", 41);
  }
  out.append("x-forwarded-for: ", 17);
  if (!xff_first.empty()) {
    if (xff_many) {
      for (const H1Field& f : h.headers) {
        if (f.name.size() == 15 && h1EqualsIgnoreCase(f.name, "x-forwarded-for") &&
            !f.value.empty()) {
          out.append(f.value);
          out.append(", ", 2);
        }
      }
    } else {
      out.append(xff_first);
      out.append(", ", 2);
    }
  }
  out.append(r.client_address);
  out.append("\r\nx-forwarded-proto: http\r\n", 27);
  out.append(kHopsHeader);
  out.append(": ", 2);
  appendNumber(out, r.hops);
  out.append("\r\n", 2);
  if (r.tracing != nullptr) {
    for (std::size_t i = 0; i < r.tracing->headerCount(); ++i) {
      auto f = r.tracing->header(i);
      appendField(out, f.name, f.value);
    }
  }
  out.append("\r\n", 2);
  return dropped;
}

void writeDownstreamResponseHead(const DownstreamResponse& r, std::string& out) {
  const H1ResponseHead& h = *r.head;
  out.append("HTTP/1.1 ", 9);
  appendNumber(out, h.status);
  out.push_back(' ');
  out.append(h.reason);
  out.append("\r\n", 2);
  for (const H1Field& f : h.headers) {
    if (isHopByHop(f.name)) {
      // A 101 keeps the protocol it switches to.
      if (r.tunnel && f.name.size() == 7 && h1EqualsIgnoreCase(f.name, "upgrade")) {
        appendField(out, f.name, f.value);
      }
      continue;
    }
    if (!h.connection_options.empty() && namedByConnection(f.name, h.connection_options)) continue;
    if (f.name.size() == 14 && h1EqualsIgnoreCase(f.name, "content-length") &&
        r.body == H1BodyKind::kUntilClose) {
      continue;
    }
    if (!r.request_id.empty() && f.name.size() == 12 &&
        h1EqualsIgnoreCase(f.name, "x-request-id")) {
      continue;
    }
    appendField(out, f.name, f.value);
  }
  if (r.body == H1BodyKind::kChunked) appendTransferEncoding(out, h.headers);
  if (r.tunnel) {
    out.append("connection: upgrade\r\n", 21);
  } else if (r.close) {
    out.append("connection: close\r\n", 19);
  } else if (r.keep_alive_10) {
    out.append("connection: keep-alive\r\n", 24);
  }
  if (!r.request_id.empty()) appendField(out, "x-request-id", r.request_id);
  out.append("\r\n", 2);
}

std::string_view reasonPhrase(uint16_t status) noexcept {
  switch (status) {
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 508: return "Loop Detected";
    default: return "";
  }
}

void writeLocalResponse(std::string& out, uint16_t status, std::string_view token,
                        std::string_view request_id, bool close, bool head_request) {
  std::string_view reason = reasonPhrase(status);
  out.append("HTTP/1.1 ", 9);
  appendNumber(out, status);
  out.push_back(' ');
  out.append(reason);
  out.append("\r\ncontent-type: text/plain\r\ncontent-length: ", 44);
  const std::size_t body_len = reason.size() + 2 + token.size() + 1;
  appendNumber(out, body_len);
  out.append("\r\n", 2);
  appendField(out, kErrorHeader, token);
  if (!request_id.empty()) appendField(out, "x-request-id", request_id);
  if (close) out.append("connection: close\r\n", 19);
  out.append("\r\n", 2);
  if (!head_request) {
    out.append(reason);
    out.append(": ", 2);
    out.append(token);
    out.push_back('\n');
  }
}

void appendChunk(std::string& out, std::string_view data) {
  if (data.empty()) return;
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, data.size(), 16);
  out.append(buf, static_cast<std::size_t>(end - buf));
  out.append("\r\n", 2);
  out.append(data);
  out.append("\r\n", 2);
}

void appendLastChunk(std::string& out) {
  out.append("0\r\n\r\n", 5);
}

}  // namespace pilotfish::http
