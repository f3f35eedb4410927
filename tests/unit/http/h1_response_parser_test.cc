#include "pilotfish/http/h1_response_parser.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "pilotfish/http/h1_body.h"

namespace pilotfish::http {
namespace {

using namespace std::string_literals;

// The parsed bytes are kept alive with the head whose views point into them.
struct Parsed {
  std::shared_ptr<const std::string> bytes;
  H1Result result;
  H1ResponseHead head;
};

Parsed parse(std::string bytes, H1Method method = H1Method::kGet, const H1Limits& limits = {}) {
  Parsed p;
  p.bytes = std::make_shared<const std::string>(std::move(bytes));
  H1ResponseParser parser(limits);
  p.result = parser.parse(*p.bytes, method, p.head);
  return p;
}

std::string resp(const std::string& fields, const std::string& line = "HTTP/1.1 200 OK") {
  return line + "\r\n" + fields + "\r\n";
}

void expectUpstreamError(const std::string& bytes, H1Error why, H1Method method = H1Method::kGet) {
  const H1Result r = parse(bytes, method).result;
  EXPECT_TRUE(r.failed()) << ::testing::PrintToString(bytes);
  EXPECT_EQ(r.error, why) << h1ErrorToken(r.error) << " for " << ::testing::PrintToString(bytes);
  EXPECT_EQ(r.status, 502);
  EXPECT_EQ(r.token, "upstream_protocol_error");
}

TEST(H1ResponseParser, ContentLength) {
  const std::string s = resp("Content-Length: 5\r\nContent-Type: text/plain\r\n");
  auto p = parse(s);
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.result.consumed, s.size());
  EXPECT_EQ(p.head.status, 200);
  EXPECT_EQ(p.head.reason, "OK");
  EXPECT_EQ(p.head.version, H1Version::kHttp11);
  EXPECT_EQ(p.head.body_kind, H1BodyKind::kContentLength);
  EXPECT_EQ(p.head.content_length, 5u);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_FALSE(p.head.interim);
  EXPECT_FALSE(p.head.tunnel);
  EXPECT_EQ(p.head.headers.get("content-type"), "text/plain");
}

TEST(H1ResponseParser, Chunked) {
  auto p = parse(resp("Transfer-Encoding: gzip, chunked\r\n"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.body_kind, H1BodyKind::kChunked);
  EXPECT_TRUE(p.head.keep_alive);
}

TEST(H1ResponseParser, CloseDelimited) {
  auto p = parse(resp("Content-Type: text/plain\r\n"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.body_kind, H1BodyKind::kUntilClose);
  EXPECT_FALSE(p.head.keep_alive);
  // A final coding other than chunked: the body runs until close (RFC 9112 §6.3 item 4).
  auto gz = parse(resp("Transfer-Encoding: gzip\r\n"));
  ASSERT_TRUE(gz.result.complete());
  EXPECT_EQ(gz.head.body_kind, H1BodyKind::kUntilClose);
  EXPECT_FALSE(gz.head.keep_alive);
}

TEST(H1ResponseParser, NoBodyCases) {
  for (const char* line : {"HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified"}) {
    auto p = parse(resp("Content-Length: 10\r\n", line));
    ASSERT_TRUE(p.result.complete()) << line;
    EXPECT_EQ(p.head.body_kind, H1BodyKind::kNone) << line;
    EXPECT_TRUE(p.head.keep_alive);
  }
  auto head = parse(resp("Content-Length: 10\r\n"), H1Method::kHead);
  ASSERT_TRUE(head.result.complete());
  EXPECT_EQ(head.head.body_kind, H1BodyKind::kNone);
  auto head_chunked = parse(resp("Transfer-Encoding: chunked\r\n"), H1Method::kHead);
  ASSERT_TRUE(head_chunked.result.complete());
  EXPECT_EQ(head_chunked.head.body_kind, H1BodyKind::kNone);
}

TEST(H1ResponseParser, InterimResponses) {
  const std::string cont = resp("", "HTTP/1.1 100 Continue");
  const std::string hints = resp("Link: </s.css>; rel=preload\r\n", "HTTP/1.1 103 Early Hints");
  const std::string final_head = resp("Content-Length: 2\r\n");
  const std::string wire = cont + hints + final_head + "ok";
  H1ResponseParser parser;
  H1ResponseHead head;
  std::string_view rest = wire;
  for (int expected : {100, 103, 200}) {
    parser.reset();
    const H1Result r = parser.parse(rest, H1Method::kPost, head);
    ASSERT_TRUE(r.complete());
    EXPECT_EQ(head.status, expected);
    EXPECT_EQ(head.interim, expected < 200);
    EXPECT_EQ(head.body_kind, expected < 200 ? H1BodyKind::kNone : H1BodyKind::kContentLength);
    rest.remove_prefix(r.consumed);
  }
  EXPECT_EQ(rest, "ok");
}

TEST(H1ResponseParser, SwitchingProtocols) {
  auto p = parse(
      resp("Connection: Upgrade\r\nUpgrade: websocket\r\n", "HTTP/1.1 101 Switching Protocols"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_TRUE(p.head.tunnel);
  EXPECT_FALSE(p.head.interim);
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_EQ(p.head.body_kind, H1BodyKind::kNone);
  EXPECT_EQ(p.head.upgrade_protocols, (std::vector<std::string_view>{"websocket"}));
}

TEST(H1ResponseParser, ConnectTunnel) {
  auto p = parse(resp("", "HTTP/1.1 200 Connection established"), H1Method::kConnect);
  ASSERT_TRUE(p.result.complete());
  EXPECT_TRUE(p.head.tunnel);
  EXPECT_EQ(p.head.body_kind, H1BodyKind::kNone);
  auto refused = parse(resp("Content-Length: 3\r\n", "HTTP/1.1 403 Forbidden"), H1Method::kConnect);
  ASSERT_TRUE(refused.result.complete());
  EXPECT_FALSE(refused.head.tunnel);
  EXPECT_EQ(refused.head.body_kind, H1BodyKind::kContentLength);
}

TEST(H1ResponseParser, KeepAlivePerVersion) {
  auto old = parse(resp("Content-Length: 0\r\n", "HTTP/1.0 200 OK"));
  ASSERT_TRUE(old.result.complete());
  EXPECT_EQ(old.head.version, H1Version::kHttp10);
  EXPECT_FALSE(old.head.keep_alive);
  auto old_ka = parse(resp("Connection: keep-alive\r\nContent-Length: 0\r\n", "HTTP/1.0 200 OK"));
  EXPECT_TRUE(old_ka.head.keep_alive);
  auto close = parse(resp("Connection: close\r\nContent-Length: 0\r\n"));
  EXPECT_FALSE(close.head.keep_alive);
}

TEST(H1ResponseParser, StatusLineForms) {
  auto no_reason = parse(resp("Content-Length: 0\r\n", "HTTP/1.1 200"));
  ASSERT_TRUE(no_reason.result.complete());
  EXPECT_EQ(no_reason.head.reason, "");
  auto empty_reason = parse(resp("Content-Length: 0\r\n", "HTTP/1.1 200 "));
  ASSERT_TRUE(empty_reason.result.complete());
  auto odd_reason = parse(resp("Content-Length: 0\r\n", "HTTP/1.1 404 N\xc3\xa4 t\tfound (x)"));
  ASSERT_TRUE(odd_reason.result.complete());
  EXPECT_EQ(odd_reason.head.reason, "N\xc3\xa4 t\tfound (x)");
  auto custom = parse(resp("Content-Length: 0\r\n", "HTTP/1.1 599 Custom"));
  ASSERT_TRUE(custom.result.complete());
  EXPECT_EQ(custom.head.status, 599);
}

TEST(H1ResponseParser, BadStatusLines) {
  for (const char* line :
       {"HTTP/1.1 20 OK", "HTTP/1.1 2000 OK", "HTTP/1.1 099 X", "HTTP/2 200 OK", "HTTP/1.2 200 OK",
        "http/1.1 200 OK", "HTTP/1.1  200 OK", "HTTP/1.1 2x0 OK", "HTTP/1.1 200 O\x01K",
        "HTTP/1.1 200 O\x7fK", "ICY 200 OK", "HTTP/1.1 200\tOK", ""}) {
    expectUpstreamError(resp("Content-Length: 0\r\n", line), H1Error::kBadStatusLine);
  }
}

TEST(H1ResponseParser, FramingErrorsFromUpstream) {  // must-survive #1, #4
  expectUpstreamError(resp("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
                      H1Error::kContentLengthAndTransferEncoding);
  expectUpstreamError(
      resp("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "HTTP/1.1 204 No Content"),
      H1Error::kContentLengthAndTransferEncoding);
  expectUpstreamError(resp("Content-Length: 5\r\nContent-Length: 6\r\n"),
                      H1Error::kBadContentLength);
  expectUpstreamError(resp("Content-Length: 5, 6\r\n"), H1Error::kBadContentLength);
  expectUpstreamError(resp("Content-Length: -1\r\n"), H1Error::kBadContentLength);
  expectUpstreamError(resp("Content-Length: 99999999999999999999\r\n"), H1Error::kBadContentLength);
  expectUpstreamError(resp("Transfer-Encoding: chunked, chunked\r\n"),
                      H1Error::kBadTransferEncoding);
  expectUpstreamError(resp("Transfer-Encoding: chunked, gzip\r\n"), H1Error::kBadTransferEncoding);
  expectUpstreamError(resp("Transfer-Encoding: xchunked\r\n"), H1Error::kUnknownTransferEncoding);
  expectUpstreamError(resp("Transfer-Encoding: chunked\r\n", "HTTP/1.0 200 OK"),
                      H1Error::kTransferEncodingInHttp10);
}

TEST(H1ResponseParser, LineErrorsFromUpstream) {
  expectUpstreamError("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", H1Error::kBareLf);
  expectUpstreamError("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", H1Error::kBareCr);
  expectUpstreamError(resp("X: a\r\n b\r\n"), H1Error::kObsFold);
  expectUpstreamError(resp("X : a\r\n"), H1Error::kSpaceBeforeColon);
  expectUpstreamError(resp("X: a\x00\r\n"s), H1Error::kBadHeaderValue);
  expectUpstreamError(resp("\x00X: a\r\n"s), H1Error::kBadHeaderName);
  // No leading empty lines before a status line.
  expectUpstreamError("\r\n" + resp("Content-Length: 0\r\n"), H1Error::kBadStatusLine);
}

TEST(H1ResponseParser, Limits) {
  H1Limits limits;
  limits.max_head_bytes = 256;
  limits.max_headers = 3;
  H1ResponseParser parser(limits);
  H1ResponseHead head;
  const H1Result big =
      parser.parse(resp("X: " + std::string(300, 'v') + "\r\n"), H1Method::kGet, head);
  EXPECT_EQ(big.error, H1Error::kHeadTooLarge);
  EXPECT_EQ(big.status, 502);
  parser.reset();
  const H1Result many =
      parser.parse(resp("A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n"), H1Method::kGet, head);
  EXPECT_EQ(many.error, H1Error::kTooManyHeaders);
}

TEST(H1ResponseParser, SplitsEqualWhole) {
  const std::vector<std::string> corpus = {
      resp("Content-Length: 5\r\n"),
      resp("Transfer-Encoding: chunked\r\nX: y\r\n"),
      resp("", "HTTP/1.1 100 Continue"),
      resp("Connection: upgrade\r\nUpgrade: websocket\r\n", "HTTP/1.1 101 Switching"),
      resp("", "HTTP/1.0 200 OK"),
      resp("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
      resp("X: a\r\n b\r\n"),
      "HTTP/1.1 200 OK\r\nX: a\r",
      "HTTP/1.1 200 OK\r\nX: a\rb",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      resp("Content-Length: 0\r\n", "HTTP/1.1 200"),
      resp("X: " + std::string(100, 'v') + "\r\n"),
  };
  H1Limits small;
  small.max_line_bytes = 20;
  small.max_head_bytes = 64;
  small.max_headers = 2;
  std::mt19937 rng(7);
  for (const H1Limits& limits : {H1Limits{}, small}) {
    for (const std::string& s : corpus) {
      auto whole = parse(s, H1Method::kGet, limits);
      for (int trial = 0; trial < 30; ++trial) {
        H1ResponseParser parser(limits);
        H1ResponseHead head;
        H1Result r;
        std::size_t k = 0;
        do {
          k = trial == 0 ? k + 1 : std::min(s.size(), k + 1 + rng() % 16);
          std::string copy = s.substr(0, k);  // a new buffer each call
          r = parser.parse(copy, H1Method::kGet, head);
          if (r.complete()) {
            EXPECT_EQ(head.reason, whole.head.reason);
            ASSERT_EQ(head.headers.size(), whole.head.headers.size());
            for (std::size_t i = 0; i < head.headers.size(); ++i) {
              EXPECT_EQ(head.headers[i].name, whole.head.headers[i].name);
              EXPECT_EQ(head.headers[i].value, whole.head.headers[i].value);
            }
          }
        } while (r.needMore() && k < s.size());
        ASSERT_EQ(r.progress, whole.result.progress) << ::testing::PrintToString(s);
        EXPECT_EQ(r.error, whole.result.error);
        EXPECT_EQ(r.consumed, whole.result.consumed);
        EXPECT_EQ(head.status, whole.head.status);
        EXPECT_EQ(head.body_kind, whole.head.body_kind);
        EXPECT_EQ(head.keep_alive, whole.head.keep_alive);
      }
    }
  }
}

TEST(H1ResponseParser, TruncatedBodyIsNeverComplete) {  // must-survive #28
  // Reset after the head: the body trackers say "not done", so the proxy must abort the
  // downstream (close without the last chunk) rather than end the message.
  auto p = parse(resp("Content-Length: 10\r\n"));
  ASSERT_TRUE(p.result.complete());
  H1ContentLengthBody cl(p.head.content_length);
  cl.take("12345");
  EXPECT_FALSE(cl.done());

  H1ChunkedDecoder chunked;
  const std::string partial = "a\r\n12345";
  std::string_view in = partial;
  while (!in.empty()) {
    const H1DecodeResult d = chunked.decode(in);
    in.remove_prefix(d.consumed);
    ASSERT_FALSE(d.failed());
  }
  EXPECT_FALSE(chunked.done());

  // A head cut off before its end is incomplete, never complete.
  H1ResponseParser parser;
  H1ResponseHead head;
  EXPECT_TRUE(parser.parse("HTTP/1.1 200 OK\r\nContent-Le", H1Method::kGet, head).needMore());
}

}  // namespace
}  // namespace pilotfish::http
