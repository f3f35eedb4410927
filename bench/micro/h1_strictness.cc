// Strictness comparison: runs the parser-relevant cases of shared/reference/must-survive.md
// (rows 1-10, 14) and the other rejections issue 3 lists, plus valid-but-unusual requests that
// must still pass, through pilotfish, Boost.Beast's request_parser and libhttp-parser 2.9.
// Prints a markdown table. Build and run: bench/micro/run.sh
//
// A parser "accepts" when it delivers one complete request from the bytes without error;
// "wait" means it framed the message so that it still expects bytes (e.g. took the
// Content-Length of a CL+TE request) - for a proxy that is a smuggling hazard, not a rejection.
// Beast runs with header_limit 60 KiB and http-parser with its compiled-in 80 KiB, so that the
// limit rows compare like with like; neither has a request-line or header-count limit.

#include <http_parser.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "pilotfish/http/h1_body.h"
#include "pilotfish/http/h1_request_parser.h"

namespace {

namespace http = boost::beast::http;
namespace ph = pilotfish::http;
using namespace std::string_literals;

enum class Verdict { kAccept, kReject, kWait };

struct Outcome {
  Verdict verdict;
  std::string detail;
};

Outcome runPilotfish(const std::string& msg) {
  ph::H1RequestParser parser;
  ph::H1RequestHead head;
  const ph::H1Result r = parser.parse(msg, head);
  if (r.failed()) return {Verdict::kReject, std::to_string(r.status) + " " + std::string(r.token)};
  if (r.needMore()) return {Verdict::kWait, "head"};
  std::string_view rest = std::string_view(msg).substr(r.consumed);
  if (head.body_kind == ph::H1BodyKind::kContentLength) {
    if (rest.size() < head.content_length) return {Verdict::kWait, "body"};
  } else if (head.body_kind == ph::H1BodyKind::kChunked) {
    ph::H1ChunkedDecoder d;
    for (;;) {
      if (rest.empty()) return {Verdict::kWait, "chunk"};
      const ph::H1DecodeResult dr = d.decode(rest);
      rest.remove_prefix(dr.consumed);
      if (dr.failed()) {
        return {Verdict::kReject, std::to_string(ph::h1ErrorStatus(dr.error)) + " " +
                                      std::string(ph::h1ErrorToken(dr.error))};
      }
      if (dr.done) break;
    }
  }
  return {Verdict::kAccept, ""};
}

Outcome runBeast(const std::string& msg) {
  http::request_parser<http::string_body> p;
  p.header_limit(60 * 1024);
  p.eager(true);
  boost::beast::error_code ec;
  boost::asio::const_buffer buf(msg.data(), msg.size());
  while (!p.is_done()) {
    const std::size_t n = p.put(buf, ec);
    if (ec == http::error::need_more) return {Verdict::kWait, ""};
    if (ec) return {Verdict::kReject, ec.message()};
    buf += n;
    if (n == 0 && buf.size() == 0) return {Verdict::kWait, ""};
  }
  return {Verdict::kAccept, ""};
}

int hpComplete(http_parser* p) {
  *static_cast<bool*>(p->data) = true;
  http_parser_pause(p, 1);
  return 0;
}

Outcome runHttpParser(const std::string& msg) {
  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_message_complete = hpComplete;
  bool complete = false;
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST);
  p.data = &complete;
  http_parser_execute(&p, &settings, msg.data(), msg.size());
  const auto err = HTTP_PARSER_ERRNO(&p);
  if (err != HPE_OK && err != HPE_PAUSED) {
    return {Verdict::kReject, http_errno_name(err)};
  }
  return complete ? Outcome{Verdict::kAccept, ""} : Outcome{Verdict::kWait, ""};
}

struct Case {
  std::string row;
  std::string what;
  bool must_reject;
  std::string bytes;
};

std::string get(const std::string& fields, const std::string& line = "GET / HTTP/1.1") {
  return line + "\r\nHost: a\r\n" + fields + "\r\n";
}
std::string post(const std::string& fields, const std::string& body) {
  return "POST / HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n" + body;
}

std::vector<Case> cases() {
  const std::string chunk = "5\r\nhello\r\n0\r\n\r\n";
  std::string many;
  for (int i = 0; i < 101; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  std::string cookies;
  for (int i = 0; i < 100; ++i)
    cookies += "Cookie: c" + std::to_string(i) + "=" + std::string(700, 'x') + "\r\n";
  return {
      {"1", "CL + TE: chunked", true,
       post("Content-Length: 15\r\nTransfer-Encoding: chunked\r\n", chunk)},
      {"1", "TE: chunked + CL", true,
       post("Transfer-Encoding: chunked\r\nContent-Length: 15\r\n", chunk)},
      {"2", "TE: xchunked", true, post("Transfer-Encoding: xchunked\r\n", chunk)},
      {"2", "TE: chunked, identity", true, post("Transfer-Encoding: chunked, identity\r\n", chunk)},
      {"2", "TE: chunked, gzip (not final)", true,
       post("Transfer-Encoding: chunked, gzip\r\n", chunk)},
      {"2", "TE: gzip only (request)", true, post("Transfer-Encoding: gzip\r\n", chunk)},
      {"2", "TE twice: chunked / chunked", true,
       post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", chunk)},
      {"2", "SP before colon: `Transfer-Encoding : chunked`", true,
       post("Transfer-Encoding : chunked\r\n", chunk)},
      {"2", "VT before value: `TE:\\x0bchunked`", true,
       post("Transfer-Encoding:\x0b"
            "chunked\r\n",
            chunk)},
      {"3", "TE in HTTP/1.0", true,
       "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk},
      {"4", "CL: 5, 6", true, post("Content-Length: 5, 6\r\n", "hello!")},
      {"4", "CL: 5 and CL: 6", true, post("Content-Length: 5\r\nContent-Length: 6\r\n", "hello!")},
      {"4", "CL: (empty)", true, post("Content-Length:\r\n", "")},
      {"4", "CL: +5", true, post("Content-Length: +5\r\n", "hello")},
      {"4", "CL: 0x5", true, post("Content-Length: 0x5\r\n", "hello")},
      {"4", "CL: 2^64 (overflow)", true, post("Content-Length: 18446744073709551616\r\n", "")},
      {"5", "chunk size `g`", true, post("Transfer-Encoding: chunked\r\n", "g\r\nx\r\n0\r\n\r\n")},
      {"5", "chunk size overflow (17 hex digits)", true,
       post("Transfer-Encoding: chunked\r\n", "10000000000000001\r\nx\r\n0\r\n\r\n")},
      {"5", "chunk data without CRLF", true,
       post("Transfer-Encoding: chunked\r\n", "5\r\nhelloX0\r\n\r\n")},
      {"5", "bare LF after chunk size", true,
       post("Transfer-Encoding: chunked\r\n", "5\nhello\r\n0\r\n\r\n")},
      {"5", "CTL in chunk extension", true,
       post("Transfer-Encoding: chunked\r\n", "5;a=\x01\r\nhello\r\n0\r\n\r\n")},
      {"5", "bare LF in chunk extension", true,
       post("Transfer-Encoding: chunked\r\n", "5;a\nb\r\nhello\r\n0\r\n\r\n")},
      {"5", "bare LF in trailer", true,
       post("Transfer-Encoding: chunked\r\n", "0\r\nX: a\nY: b\r\n\r\n")},
      {"6", "obs-fold", true, get("X-A: a\r\n b\r\n")},
      {"7", "empty header name", true, get(": a\r\n")},
      {"7", "no colon", true, get("NoColon\r\n")},
      {"7", "non-token name `a(b`", true, get("a(b: c\r\n")},
      {"7", "70 KiB header name", true, get(std::string(70 * 1024, 'n') + ": v\r\n")},
      {"8", "NUL in value", true,
       get("X: a\x00"
           "b\r\n"s)},
      {"8", "bare CR in value", true, get("X: a\rb\r\n")},
      {"8", "bare LF in value (injection)", true, get("X: a\nInjected: 1\r\n")},
      {"9", "request line 9 KiB", true,
       get("", "GET /" + std::string(9 * 1024, 'a') + " HTTP/1.1")},
      {"10", "headers 70 KiB (100 cookies)", true, get(cookies)},
      {"10", "101 header fields", true, get(many)},
      {"14", "`_` in a header name (option, off)", false, get("X_Forwarded_For: 1.2.3.4\r\n")},
      {"i3", "bare LF ending the request line", true, "GET / HTTP/1.1\nHost: a\r\n\r\n"},
      {"i3", "bare CR in the request line", true, "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"i3", "missing Host (HTTP/1.1)", true, "GET / HTTP/1.1\r\n\r\n"},
      {"i3", "two Host fields", true, get("Host: b\r\n")},
      {"i3", "Host with userinfo `a@b`", true, "GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"},
      {"i3", "method not a token `G(T`", true, get("", "G(T / HTTP/1.1")},
      {"i3", "target with CTL", true, get("", "GET /a\x01 HTTP/1.1")},
      {"i3", "target not origin-form `a/b`", true, get("", "GET a/b HTTP/1.1")},
      {"i3", "`*` with GET", true, get("", "GET * HTTP/1.1")},
      {"i3", "CONNECT with origin-form", true, get("", "CONNECT / HTTP/1.1")},
      {"i3", "version HTTP/1.2", true, get("", "GET / HTTP/1.2")},
      {"i3", "version `HTTP/1.1 ` (trailing SP)", true, get("", "GET / HTTP/1.1 ")},
      {"ok", "simple GET", false, get("Accept: */*\r\n")},
      {"ok", "absolute-form", false, get("", "GET http://b:8080/p?q HTTP/1.1")},
      {"ok", "CONNECT authority-form", false, get("", "CONNECT b:443 HTTP/1.1")},
      {"ok", "OPTIONS *", false, get("", "OPTIONS * HTTP/1.1")},
      {"ok", "HTTP/1.0 without Host", false, "GET / HTTP/1.0\r\n\r\n"},
      {"ok", "CL: 5, 5 (identical, merged)", false, post("Content-Length: 5, 5\r\n", "hello")},
      {"ok", "TE: gzip, chunked", false, post("Transfer-Encoding: gzip, chunked\r\n", chunk)},
      {"ok", "TE: Chunked (case)", false, post("Transfer-Encoding: Chunked\r\n", chunk)},
      {"ok", "chunk extension + trailer", false,
       post("Transfer-Encoding: chunked\r\n", "5;a=\"b c\"\r\nhello\r\n0\r\nT: v\r\n\r\n")},
      {"ok", "leading CRLF", false, "\r\n" + get("")},
      {"ok", "obs-text and HTAB in a value", false, get("X: caf\xc3\xa9\tau lait\r\n")},
  };
}

const char* mark(const Outcome& o, bool must_reject) {
  switch (o.verdict) {
    case Verdict::kReject: return must_reject ? "rejected" : "**rejected**";
    case Verdict::kWait: return "**waits**";
    case Verdict::kAccept: return must_reject ? "**accepted**" : "accepted";
  }
  return "?";
}

std::string cell(const Outcome& o, bool must_reject) {
  std::string s = mark(o, must_reject);
  if (!o.detail.empty() && o.verdict == Verdict::kReject) s += " (" + o.detail + ")";
  for (char& c : s) {
    if (c == '|') c = '/';
  }
  return s;
}

}  // namespace

int main() {
  int ok[3] = {0, 0, 0};
  int total_reject = 0, total_accept = 0, good_accept[3] = {0, 0, 0};
  std::printf("| # | case | want | pilotfish | Beast 1.81 | http-parser 2.9 |\n");
  std::printf("|---|---|---|---|---|---|\n");
  for (const Case& c : cases()) {
    const Outcome o[3] = {runPilotfish(c.bytes), runBeast(c.bytes), runHttpParser(c.bytes)};
    std::printf("| %s | %s | %s | %s | %s | %s |\n", c.row.c_str(), c.what.c_str(),
                c.must_reject ? "reject" : "accept", cell(o[0], c.must_reject).c_str(),
                cell(o[1], c.must_reject).c_str(), cell(o[2], c.must_reject).c_str());
    for (int i = 0; i < 3; ++i) {
      if (c.must_reject && o[i].verdict == Verdict::kReject) ++ok[i];
      if (!c.must_reject && o[i].verdict == Verdict::kAccept) ++good_accept[i];
    }
    (c.must_reject ? total_reject : total_accept)++;
  }
  std::printf("\nmust-reject cases rejected: pilotfish %d/%d, Beast %d/%d, http-parser %d/%d\n",
              ok[0], total_reject, ok[1], total_reject, ok[2], total_reject);
  std::printf("valid cases accepted:       pilotfish %d/%d, Beast %d/%d, http-parser %d/%d\n",
              good_accept[0], total_accept, good_accept[1], total_accept, good_accept[2],
              total_accept);
  return 0;
}
