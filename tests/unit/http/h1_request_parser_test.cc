#include "pilotfish/http/h1_request_parser.h"

#include <gtest/gtest.h>

#include <chrono>
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
  H1RequestHead head;
};

Parsed parseWhole(std::string bytes, const H1Limits& limits = {}) {
  Parsed p;
  p.bytes = std::make_shared<const std::string>(std::move(bytes));
  H1RequestParser parser(limits);
  p.result = parser.parse(*p.bytes, p.head);
  return p;
}

// Feeds the request one byte at a time, each time as a fresh copy of the longer prefix (so the
// buffer moves on every call, like a reallocating std::string). The head's views are checked
// against the final copy, which is kept in `storage`.
Parsed parseBytewise(const std::string& bytes, std::string& storage, const H1Limits& limits = {}) {
  Parsed p;
  H1RequestParser parser(limits);
  std::unique_ptr<std::string> buf;
  for (std::size_t k = 0; k <= bytes.size(); ++k) {
    buf = std::make_unique<std::string>(bytes.substr(0, k));
    p.result = parser.parse(*buf, p.head);
    if (!p.result.needMore()) break;
  }
  storage = *buf;
  // Re-point views from the last copy into `storage` for the caller.
  p.head.headers.rebase(buf->data(), storage.data());
  auto move = [&](std::string_view& v) {
    if (v.data() == nullptr) return;
    v = std::string_view(storage.data() + (v.data() - buf->data()), v.size());
  };
  move(p.head.method);
  move(p.head.target);
  move(p.head.path);
  move(p.head.authority);
  move(p.head.host);
  for (auto& v : p.head.connection_options) move(v);
  for (auto& v : p.head.upgrade_protocols) move(v);
  return p;
}

void expectSameHead(const H1RequestHead& a, const H1RequestHead& b) {
  EXPECT_EQ(a.method, b.method);
  EXPECT_EQ(a.method_id, b.method_id);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.target_form, b.target_form);
  EXPECT_EQ(a.path, b.path);
  EXPECT_EQ(a.authority, b.authority);
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.version, b.version);
  EXPECT_EQ(a.body_kind, b.body_kind);
  EXPECT_EQ(a.content_length, b.content_length);
  EXPECT_EQ(a.keep_alive, b.keep_alive);
  EXPECT_EQ(a.expect_continue, b.expect_continue);
  EXPECT_EQ(a.connection_options, b.connection_options);
  EXPECT_EQ(a.upgrade_protocols, b.upgrade_protocols);
  ASSERT_EQ(a.headers.size(), b.headers.size());
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    EXPECT_EQ(a.headers[i].name, b.headers[i].name);
    EXPECT_EQ(a.headers[i].value, b.headers[i].value);
  }
}

H1Result errorOf(const std::string& bytes, const H1Limits& limits = {}) {
  return parseWhole(bytes, limits).result;
}

#define EXPECT_REJECTED(bytes, expected_error, expected_status)    \
  do {                                                             \
    SCOPED_TRACE(::testing::PrintToString(std::string(bytes)));    \
    const H1Result r_ = errorOf(bytes);                            \
    EXPECT_TRUE(r_.failed());                                      \
    EXPECT_EQ(r_.error, expected_error) << h1ErrorToken(r_.error); \
    EXPECT_EQ(r_.status, expected_status);                         \
    EXPECT_EQ(r_.token, h1ErrorToken(expected_error));             \
  } while (0)

const std::string kHost = "Host: example.com\r\n";

std::string req(const std::string& fields, const std::string& line = "GET / HTTP/1.1") {
  return line + "\r\n" + fields + "\r\n";
}

// ---- valid requests ---------------------------------------------------------------------

TEST(H1RequestParser, SimpleGet) {
  const std::string s = req(kHost + "Accept: */*\r\n");
  auto p = parseWhole(s);
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.result.consumed, s.size());
  EXPECT_EQ(p.head.method, "GET");
  EXPECT_EQ(p.head.method_id, H1Method::kGet);
  EXPECT_EQ(p.head.target, "/");
  EXPECT_EQ(p.head.path, "/");
  EXPECT_EQ(p.head.target_form, H1TargetForm::kOrigin);
  EXPECT_EQ(p.head.version, H1Version::kHttp11);
  EXPECT_EQ(p.head.host, "example.com");
  EXPECT_EQ(p.head.authority, "example.com");
  EXPECT_EQ(p.head.body_kind, H1BodyKind::kNone);
  EXPECT_TRUE(p.head.keep_alive);
  EXPECT_FALSE(p.head.expect_continue);
  ASSERT_EQ(p.head.headers.size(), 2u);
  EXPECT_EQ(p.head.headers[1].name, "Accept");
  EXPECT_EQ(p.head.headers[1].value, "*/*");
  EXPECT_EQ(p.head.headers.get("accept"), "*/*");
  EXPECT_EQ(p.head.headers.count("HOST"), 1u);
}

TEST(H1RequestParser, ViewsPointIntoTheBuffer) {
  auto p = parseWhole(req(kHost));
  ASSERT_TRUE(p.result.complete());
  const std::string& s = *p.bytes;
  EXPECT_EQ(p.head.method.data(), s.data());
  EXPECT_EQ(p.head.headers[0].value.data(), s.data() + s.find("example.com"));
}

TEST(H1RequestParser, ValueOwsTrimmedInnerSpaceKept) {
  auto p = parseWhole(req(kHost + "X-A: \t a  b \t \r\nX-Empty:\r\nX-Sp:   \r\n"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.headers.get("x-a"), "a  b");
  EXPECT_EQ(p.head.headers.get("x-empty"), "");
  EXPECT_EQ(p.head.headers.get("x-sp"), "");
}

TEST(H1RequestParser, ObsTextAndHtabAllowedInValues) {
  auto p = parseWhole(req(kHost + "X-A: caf\xc3\xa9\tb\r\n"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.headers.get("x-a"), "caf\xc3\xa9\tb");
}

TEST(H1RequestParser, Http10DefaultsToClose) {
  auto p = parseWhole(req("", "GET / HTTP/1.0"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.version, H1Version::kHttp10);
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_EQ(p.head.authority, "");
  auto ka = parseWhole(req("Connection: Keep-Alive\r\n", "GET / HTTP/1.0"));
  ASSERT_TRUE(ka.result.complete());
  EXPECT_TRUE(ka.head.keep_alive);
}

TEST(H1RequestParser, ConnectionOptionsListed) {
  auto p = parseWhole(req(kHost + "Connection: close, X-Foo\r\nConnection: ,x-bar,\r\n"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_EQ(p.head.connection_options, (std::vector<std::string_view>{"close", "X-Foo", "x-bar"}));
}

TEST(H1RequestParser, ContentLength) {
  auto p = parseWhole(req(kHost + "Content-Length: 42\r\n", "POST /x HTTP/1.1"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.body_kind, H1BodyKind::kContentLength);
  EXPECT_EQ(p.head.content_length, 42u);
  EXPECT_EQ(p.head.method_id, H1Method::kPost);
}

TEST(H1RequestParser, IdenticalContentLengthsMerge) {
  for (const char* f : {"Content-Length: 5, 5\r\n", "Content-Length: 5\r\nContent-Length: 5\r\n",
                        "Content-Length: 5 ,5\r\n"}) {
    auto p = parseWhole(req(kHost + f, "POST / HTTP/1.1"));
    ASSERT_TRUE(p.result.complete()) << f;
    EXPECT_EQ(p.head.content_length, 5u);
  }
}

TEST(H1RequestParser, ContentLengthLargestAccepted) {
  auto p = parseWhole(req(kHost + "Content-Length: 9223372036854775807\r\n", "PUT / HTTP/1.1"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.content_length, 9223372036854775807u);
  auto z = parseWhole(req(kHost + "Content-Length: 000\r\n", "PUT / HTTP/1.1"));
  ASSERT_TRUE(z.result.complete());
  EXPECT_EQ(z.head.body_kind, H1BodyKind::kContentLength);
  EXPECT_EQ(z.head.content_length, 0u);
}

TEST(H1RequestParser, Chunked) {
  for (const char* te :
       {"chunked", "Chunked", "CHUNKED", "gzip, chunked", "gzip,chunked", " deflate ,  chunked "}) {
    auto p = parseWhole(req(kHost + "Transfer-Encoding: " + te + "\r\n", "POST / HTTP/1.1"));
    ASSERT_TRUE(p.result.complete()) << te;
    EXPECT_EQ(p.head.body_kind, H1BodyKind::kChunked) << te;
  }
  auto split = parseWhole(
      req(kHost + "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "POST / HTTP/1.1"));
  ASSERT_TRUE(split.result.complete());
  EXPECT_EQ(split.head.body_kind, H1BodyKind::kChunked);
}

TEST(H1RequestParser, AbsoluteFormAuthorityReplacesHost) {
  auto p = parseWhole(req("Host: other\r\n", "GET http://Example.com:8080/p/q?x=1 HTTP/1.1"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.target_form, H1TargetForm::kAbsolute);
  EXPECT_EQ(p.head.authority, "Example.com:8080");
  EXPECT_EQ(p.head.path, "/p/q?x=1");
  EXPECT_EQ(p.head.host, "other");

  auto bare = parseWhole(req(kHost, "GET HTTP://example.com HTTP/1.1"));
  ASSERT_TRUE(bare.result.complete());
  EXPECT_EQ(bare.head.authority, "example.com");
  EXPECT_EQ(bare.head.path, "");

  auto v6 = parseWhole(req(kHost, "GET http://[::1]:80/ HTTP/1.1"));
  ASSERT_TRUE(v6.result.complete());
  EXPECT_EQ(v6.head.authority, "[::1]:80");
}

TEST(H1RequestParser, ConnectAuthorityForm) {
  auto p = parseWhole(req("Host: example.com:443\r\n", "CONNECT example.com:443 HTTP/1.1"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.target_form, H1TargetForm::kAuthority);
  EXPECT_EQ(p.head.authority, "example.com:443");
  EXPECT_EQ(p.head.method_id, H1Method::kConnect);
}

TEST(H1RequestParser, OptionsAsterisk) {
  auto p = parseWhole(req(kHost, "OPTIONS * HTTP/1.1"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.target_form, H1TargetForm::kAsterisk);
  EXPECT_EQ(p.head.path, "*");
}

TEST(H1RequestParser, UnknownTokenMethodAccepted) {
  auto p = parseWhole(req(kHost, "PROPFIND /x HTTP/1.1"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.method_id, H1Method::kOther);
  EXPECT_EQ(p.head.method, "PROPFIND");
}

TEST(H1RequestParser, LeadingEmptyLinesSkipped) {
  const std::string s = "\r\n\r\n" + req(kHost);
  auto p = parseWhole(s);
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.result.consumed, s.size());
  EXPECT_EQ(p.head.method, "GET");
}

TEST(H1RequestParser, ExpectContinue) {
  auto p =
      parseWhole(req(kHost + "Expect: 100-Continue\r\nContent-Length: 3\r\n", "POST / HTTP/1.1"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_TRUE(p.head.expect_continue);
  auto old = parseWhole(req("Expect: 100-continue\r\n", "POST / HTTP/1.0"));
  ASSERT_TRUE(old.result.complete());
  EXPECT_FALSE(old.head.expect_continue);  // RFC 9110 §10.1.1: ignored in HTTP/1.0
}

TEST(H1RequestParser, UpgradeNeedsConnectionUpgrade) {
  auto p = parseWhole(req(kHost + "Connection: Upgrade\r\nUpgrade: websocket, foo/2\r\n"));
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.upgrade_protocols, (std::vector<std::string_view>{"websocket", "foo/2"}));
  auto no_conn = parseWhole(req(kHost + "Upgrade: websocket\r\n"));
  ASSERT_TRUE(no_conn.result.complete());
  EXPECT_TRUE(no_conn.head.upgrade_protocols.empty());
  auto old = parseWhole(req("Connection: upgrade\r\nUpgrade: websocket\r\n", "GET / HTTP/1.0"));
  ASSERT_TRUE(old.result.complete());
  EXPECT_TRUE(old.head.upgrade_protocols.empty());
}

TEST(H1RequestParser, HostForms) {
  for (const char* h : {"a", "a:1", "[::1]", "[::1]:8080", "10.0.0.1:65535", "a-b.c_d~e",
                        "xn--bcher-kva.example", "%41bc"}) {
    auto p = parseWhole(req("Host: "s + h + "\r\n"));
    EXPECT_TRUE(p.result.complete()) << h;
  }
  // Empty Host is allowed (RFC 9112 §3.2) when the target has no authority.
  EXPECT_TRUE(parseWhole(req("Host:\r\n")).result.complete());
}

// ---- rejected requests: every case of issue 3 / must-survive rows 1-10, 14 ----------------

TEST(H1RequestParser, ContentLengthAndTransferEncoding) {  // must-survive #1
  const H1Error e = H1Error::kContentLengthAndTransferEncoding;
  EXPECT_REJECTED(req(kHost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), e, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), e, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: chunked\r\nContent-Length: x\r\n"), e, 400);
}

TEST(H1RequestParser, TransferEncodingObfuscation) {  // must-survive #2
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: xchunked\r\n"), H1Error::kUnknownTransferEncoding,
                  501);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: gzip2, chunked\r\n"),
                  H1Error::kUnknownTransferEncoding, 501);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: chunked, identity\r\n"),
                  H1Error::kBadTransferEncoding, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: chunked, gzip\r\n"),
                  H1Error::kBadTransferEncoding, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: gzip\r\n"), H1Error::kBadTransferEncoding, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: chunked, chunked\r\n"),
                  H1Error::kBadTransferEncoding, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
                  H1Error::kBadTransferEncoding, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding:\r\n"), H1Error::kBadTransferEncoding, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: ,chunked\r\n"), H1Error::kBadTransferEncoding,
                  400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: chunked;q=1\r\n"), H1Error::kBadTransferEncoding,
                  400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding: \"chunked\"\r\n"), H1Error::kBadTransferEncoding,
                  400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding : chunked\r\n"), H1Error::kSpaceBeforeColon, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding\x0b: chunked\r\n"), H1Error::kBadHeaderName, 400);
  EXPECT_REJECTED(req(kHost + "Transfer-Encoding:\x0b"
                              "chunked\r\n"),
                  H1Error::kBadHeaderValue, 400);
  EXPECT_REJECTED(req(kHost + " Transfer-Encoding: chunked\r\n"), H1Error::kObsFold, 400);
}

TEST(H1RequestParser, TransferEncodingInHttp10) {  // must-survive #3
  EXPECT_REJECTED(req("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.0"),
                  H1Error::kTransferEncodingInHttp10, 400);
}

TEST(H1RequestParser, BadContentLength) {  // must-survive #4
  for (const char* v :
       {"5, 6", "+5", "0x5", "", "-1", "5 5", "5,", ",5", "5;", "1e3", "\xd9\xa5",
        "9223372036854775808", "18446744073709551616", "99999999999999999999999999"}) {
    EXPECT_REJECTED(req(kHost + "Content-Length: " + v + "\r\n", "POST / HTTP/1.1"),
                    H1Error::kBadContentLength, 400);
  }
  EXPECT_REJECTED(req(kHost + "Content-Length: 5\r\nContent-Length: 6\r\n", "POST / HTTP/1.1"),
                  H1Error::kBadContentLength, 400);
}

TEST(H1RequestParser, ObsFold) {  // must-survive #6
  EXPECT_REJECTED(req(kHost + "X-A: a\r\n b\r\n"), H1Error::kObsFold, 400);
  EXPECT_REJECTED(req(kHost + "X-A: a\r\n\tb\r\n"), H1Error::kObsFold, 400);
  EXPECT_REJECTED(req(" Host: a\r\n"), H1Error::kObsFold, 400);
}

TEST(H1RequestParser, BadHeaderNames) {  // must-survive #7
  EXPECT_REJECTED(req(kHost + ": a\r\n"), H1Error::kBadHeaderName, 400);
  EXPECT_REJECTED(req(kHost + "NoColon\r\n"), H1Error::kBadHeaderName, 400);
  EXPECT_REJECTED(req(kHost + "Fo(o: a\r\n"), H1Error::kBadHeaderName, 400);
  EXPECT_REJECTED(req(kHost + "Fo\"o: a\r\n"), H1Error::kBadHeaderName, 400);
  EXPECT_REJECTED(req(kHost + "Fo\x00o: a\r\n"s), H1Error::kBadHeaderName, 400);
  EXPECT_REJECTED(req(kHost + "F\xc3\xa9: a\r\n"), H1Error::kBadHeaderName, 400);
  EXPECT_REJECTED(req(kHost + "Foo : a\r\n"), H1Error::kSpaceBeforeColon, 400);
  EXPECT_REJECTED(req(kHost + "Foo\t: a\r\n"), H1Error::kSpaceBeforeColon, 400);
  // A huge name is just a long line: bounded by the head limit.
  EXPECT_REJECTED(req(kHost + std::string(70 * 1024, 'a') + ": b\r\n"), H1Error::kHeadTooLarge,
                  431);
}

TEST(H1RequestParser, ControlCharactersInValues) {  // must-survive #8
  EXPECT_REJECTED(req(kHost + "X: a\x00"
                              "b\r\n"s),
                  H1Error::kBadHeaderValue, 400);
  EXPECT_REJECTED(req(kHost + "X: a\x7f"
                              "b\r\n"),
                  H1Error::kBadHeaderValue, 400);
  EXPECT_REJECTED(req(kHost + "X: a\x01\r\n"), H1Error::kBadHeaderValue, 400);
  EXPECT_REJECTED(req(kHost + "X: a\x1b[0m\r\n"), H1Error::kBadHeaderValue, 400);
  EXPECT_REJECTED(req(kHost + "X: a\rb\r\n"), H1Error::kBareCr, 400);
  EXPECT_REJECTED(req(kHost + "X: a\nInjected: 1\r\n"), H1Error::kBareLf, 400);
}

TEST(H1RequestParser, BareLfAnywhere) {
  EXPECT_REJECTED("GET / HTTP/1.1\nHost: a\r\n\r\n", H1Error::kBareLf, 400);
  EXPECT_REJECTED("GET / HTTP/1.1\r\nHost: a\n\r\n", H1Error::kBareLf, 400);
  EXPECT_REJECTED("GET / HTTP/1.1\r\nHost: a\r\n\n", H1Error::kBareLf, 400);
  EXPECT_REJECTED("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", H1Error::kBareLf, 400);
  EXPECT_REJECTED("GET /\n HTTP/1.1\r\nHost: a\r\n\r\n", H1Error::kBareLf, 400);
  EXPECT_REJECTED("GET / HTTP/1.1\r\nHost\n: a\r\n\r\n", H1Error::kBareLf, 400);
}

TEST(H1RequestParser, BareCrAnywhere) {
  EXPECT_REJECTED("GET / HTTP/1.1\rHost: a\r\n\r\n", H1Error::kBareCr, 400);
  EXPECT_REJECTED("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", H1Error::kBareCr, 400);
  EXPECT_REJECTED("GET / HTTP/1.1\r\nHost: a\r\n\rX", H1Error::kBareCr, 400);
  EXPECT_REJECTED("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", H1Error::kBareCr, 400);
  EXPECT_REJECTED("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", H1Error::kBareCr, 400);
  EXPECT_REJECTED("GET\r / HTTP/1.1\r\nHost: a\r\n\r\n", H1Error::kBareCr, 400);
  EXPECT_REJECTED("GET / HTTP/1.1\r\nHo\rst: a\r\n\r\n", H1Error::kBareCr, 400);
}

TEST(H1RequestParser, HostRules) {
  EXPECT_REJECTED(req(""), H1Error::kMissingHost, 400);
  EXPECT_REJECTED(req("", "GET http://a/ HTTP/1.1"), H1Error::kMissingHost, 400);
  EXPECT_REJECTED(req("Host: a\r\nHost: a\r\n"), H1Error::kDuplicateHost, 400);
  EXPECT_REJECTED(req("Host: a\r\nhost: b\r\n", "GET / HTTP/1.0"), H1Error::kDuplicateHost, 400);
  for (const char* h : {"a b", "a@b", "user@a:80", "a:", "a:99999", "a:1x", "a/b", "[::1", "[]",
                        "[zz]", "a:80:80", "%4", "a\"b", ":80"}) {
    EXPECT_REJECTED(req("Host: "s + h + "\r\n"), H1Error::kBadHost, 400);
  }
}

TEST(H1RequestParser, BadMethods) {
  EXPECT_REJECTED(req(kHost, "G(ET / HTTP/1.1"), H1Error::kBadMethod, 400);
  EXPECT_REJECTED(req(kHost, " GET / HTTP/1.1"), H1Error::kBadMethod, 400);
  EXPECT_REJECTED(req(kHost, "GET\t/ HTTP/1.1"), H1Error::kBadMethod, 400);
  EXPECT_REJECTED(req(kHost, "G\xc3\xa9T / HTTP/1.1"), H1Error::kBadMethod, 400);
  EXPECT_REJECTED(req(kHost, "GET"), H1Error::kBadMethod, 400);
}

TEST(H1RequestParser, BadTargets) {
  for (const char* line :
       {"GET  / HTTP/1.1", "GET /a\x01 HTTP/1.1", "GET /\xff HTTP/1.1", "GET /#frag HTTP/1.1",
        "GET * HTTP/1.1", "GET example.com:80 HTTP/1.1", "GET http://user@host/ HTTP/1.1",
        "GET http:///x HTTP/1.1", "GET https://a/ HTTP/1.1", "GET ftp://a/ HTTP/1.1",
        "GET http://a%zz/ HTTP/1.1", "CONNECT / HTTP/1.1", "CONNECT example.com HTTP/1.1",
        "CONNECT http://example.com:443 HTTP/1.1", "OPTIONS ** HTTP/1.1", "GET a/b HTTP/1.1",
        "GET /\x7f HTTP/1.1"}) {
    EXPECT_REJECTED(req(kHost, line), H1Error::kBadTarget, 400);
  }
}

TEST(H1RequestParser, BadVersions) {
  for (const char* line :
       {"GET / HTTP/1.2", "GET / HTTP/2.0", "GET / http/1.1", "GET / HTTP/1.1 ", "GET / HTTP/1",
        "GET / HTTP/1.10", "GET / HTTP/01.1", "GET / HTTP/1.1 x", "GET /", "GET / FOO"}) {
    EXPECT_REJECTED(req(kHost, line), H1Error::kBadVersion, 400);
  }
}

TEST(H1RequestParser, BadConnectionAndUpgrade) {
  EXPECT_REJECTED(req(kHost + "Connection: close, a b\r\n"), H1Error::kBadConnection, 400);
  EXPECT_REJECTED(req(kHost + "Connection: upgrade\r\nUpgrade: websocket/\r\n"),
                  H1Error::kBadUpgrade, 400);
}

TEST(H1RequestParser, UnderscoreNamesOnlyWhenAsked) {  // must-survive #14
  const std::string s = req(kHost + "X_Forwarded_For: 1.2.3.4\r\n");
  EXPECT_TRUE(parseWhole(s).result.complete());
  H1Limits strict;
  strict.reject_underscore_in_names = true;
  const H1Result r = parseWhole(s, strict).result;
  EXPECT_EQ(r.error, H1Error::kUnderscoreInName);
  EXPECT_EQ(r.status, 400);
}

// ---- limits -------------------------------------------------------------------------------

TEST(H1RequestParser, RequestLineLimit414) {  // must-survive #9
  H1Limits limits;
  const std::string fixed = "GET / HTTP/1.1\r\n";
  // A request line of exactly max_line_bytes (incl. CRLF) passes; one more byte is 414.
  const std::string ok_target = "/" + std::string(limits.max_line_bytes - fixed.size(), 'a');
  EXPECT_TRUE(parseWhole(req(kHost, "GET " + ok_target + " HTTP/1.1"), limits).result.complete());
  const H1Result r = parseWhole(req(kHost, "GET " + ok_target + "a HTTP/1.1"), limits).result;
  EXPECT_EQ(r.error, H1Error::kLineTooLong);
  EXPECT_EQ(r.status, 414);
  EXPECT_EQ(r.token, "request_line_too_long");

  H1Limits small;
  small.max_line_bytes = 100;
  EXPECT_EQ(
      parseWhole(req(kHost, "GET /" + std::string(90, 'a') + " HTTP/1.1"), small).result.status,
      414);
  // Reported as soon as it is certain: the line is not even complete yet.
  const H1Result early = parseWhole("GET /" + std::string(200, 'a'), small).result;
  EXPECT_EQ(early.status, 414);
}

TEST(H1RequestParser, HeadLimit431) {  // must-survive #10
  H1Limits limits;
  limits.max_head_bytes = 1024;
  std::string s = req(kHost);
  const std::string filler_name = "X-Fill: ";
  std::string exact = req(kHost + filler_name + std::string(1024 - s.size() - 10, 'v') + "\r\n");
  ASSERT_EQ(exact.size(), 1024u);
  EXPECT_TRUE(parseWhole(exact, limits).result.complete());
  std::string over = req(kHost + filler_name + std::string(1024 - s.size() - 9, 'v') + "\r\n");
  const H1Result r = parseWhole(over, limits).result;
  EXPECT_EQ(r.error, H1Error::kHeadTooLarge);
  EXPECT_EQ(r.status, 431);
  // Default 60 KiB, many cookies.
  std::string cookies;
  for (int i = 0; i < 90; ++i)
    cookies += "Cookie: c" + std::to_string(i) + "=" + std::string(700, 'x') + "\r\n";
  EXPECT_EQ(errorOf(req(kHost + cookies)).status, 431);
}

TEST(H1RequestParser, HeaderCountLimit431) {  // must-survive #10
  std::string fields = kHost;
  for (int i = 1; i < 100; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  auto ok = parseWhole(req(fields));
  ASSERT_TRUE(ok.result.complete());
  EXPECT_EQ(ok.head.headers.size(), 100u);
  const H1Result r = errorOf(req(fields + "X-101: v\r\n"));
  EXPECT_EQ(r.error, H1Error::kTooManyHeaders);
  EXPECT_EQ(r.status, 431);
  EXPECT_EQ(r.token, "too_many_headers");
}

TEST(H1RequestParser, WarmHeadDoesNotGrow) {
  H1RequestHead head(100);
  const std::size_t cap = head.headers.capacity();
  H1RequestParser parser;
  std::string fields = kHost;
  for (int i = 1; i < 100; ++i) fields += "X-" + std::to_string(i) + ": v\r\n";
  const std::string s = req(fields);
  for (int round = 0; round < 3; ++round) {
    parser.reset();
    ASSERT_TRUE(parser.parse(s, head).complete());
    EXPECT_EQ(head.headers.capacity(), cap);
  }
}

TEST(H1RequestParser, LongLineByteAtATimeIsLinear) {
  // 59 KiB header value fed one byte at a time: quadratic rescanning would take seconds.
  const std::string s = req(kHost + "X-Big: " + std::string(59 * 1024, 'v') + "\r\n");
  H1RequestParser parser;
  H1RequestHead head;
  const auto t0 = std::chrono::steady_clock::now();
  H1Result r;
  for (std::size_t k = 1; k <= s.size(); ++k) {
    r = parser.parse(std::string_view(s.data(), k), head);
    if (!r.needMore()) break;
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(head.headers.get("x-big")->size(), 59u * 1024);
  EXPECT_LT(ms, 500);
}

// ---- streaming, pipelining, stickiness ------------------------------------------------------

TEST(H1RequestParser, EveryStrictPrefixNeedsMore) {
  const std::string s = req(kHost + "Content-Length: 3\r\nX-A: b\r\n", "POST /x HTTP/1.1");
  for (std::size_t k = 0; k < s.size(); ++k) {
    H1RequestParser parser;
    H1RequestHead head;
    EXPECT_TRUE(parser.parse(std::string_view(s.data(), k), head).needMore()) << k;
  }
}

TEST(H1RequestParser, PipelinedRequests) {
  const std::string first = req(kHost + "Content-Length: 5\r\n", "POST /a HTTP/1.1") + "hello";
  const std::string second =
      req(kHost + "Transfer-Encoding: chunked\r\n", "POST /b HTTP/1.1") + "3\r\nabc\r\n0\r\n\r\n";
  const std::string third = req(kHost, "GET /c HTTP/1.1");
  const std::string wire = first + second + third;

  H1RequestParser parser;
  H1RequestHead head;
  std::string_view rest = wire;

  H1Result r = parser.parse(rest, head);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(head.path, "/a");
  ASSERT_EQ(head.body_kind, H1BodyKind::kContentLength);
  rest.remove_prefix(r.consumed);
  H1ContentLengthBody body(head.content_length);
  EXPECT_EQ(body.take(rest), "hello");
  EXPECT_TRUE(body.done());
  rest.remove_prefix(5);

  parser.reset();
  r = parser.parse(rest, head);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(head.path, "/b");
  ASSERT_EQ(head.body_kind, H1BodyKind::kChunked);
  rest.remove_prefix(r.consumed);
  H1ChunkedDecoder chunked;
  std::string data;
  for (;;) {
    const H1DecodeResult d = chunked.decode(rest);
    rest.remove_prefix(d.consumed);
    data.append(d.data);
    ASSERT_FALSE(d.failed());
    if (d.done) break;
  }
  EXPECT_EQ(data, "abc");

  parser.reset();
  r = parser.parse(rest, head);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(head.path, "/c");
  EXPECT_EQ(r.consumed, rest.size());
}

TEST(H1RequestParser, PipelinedSecondRequestIncompleteNeedsMore) {
  const std::string first = req(kHost);
  const std::string wire = first + "GET /next HT";
  H1RequestParser parser;
  H1RequestHead head;
  H1Result r = parser.parse(wire, head);
  ASSERT_TRUE(r.complete());
  EXPECT_EQ(r.consumed, first.size());
  parser.reset();
  EXPECT_TRUE(parser.parse(std::string_view(wire).substr(r.consumed), head).needMore());
}

TEST(H1RequestParser, ErrorIsStickyNothingAfterIsParsed) {  // must-survive #12
  const std::string bad = "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n";
  const std::string wire = bad + req(kHost, "GET /smuggled HTTP/1.1");
  H1RequestParser parser;
  H1RequestHead head;
  H1Result r = parser.parse(wire, head);
  ASSERT_TRUE(r.failed());
  EXPECT_EQ(r.consumed, 0u);
  for (int i = 0; i < 3; ++i) {
    const H1Result again = parser.parse(wire, head);
    EXPECT_TRUE(again.failed());
    EXPECT_EQ(again.error, H1Error::kBadContentLength);
  }
}

TEST(H1RequestParser, CompleteIsIdempotentUntilReset) {
  const std::string s = req(kHost);
  H1RequestParser parser;
  H1RequestHead head;
  ASSERT_TRUE(parser.parse(s, head).complete());
  const H1Result again = parser.parse(s + "garbage", head);
  EXPECT_TRUE(again.complete());
  EXPECT_EQ(again.consumed, s.size());
}

TEST(H1RequestParser, BufferMovesBetweenCalls) {
  const std::string s = req(kHost + "X-A: one\r\nX-B: two\r\n", "GET /moved HTTP/1.1");
  std::string storage;
  auto p = parseBytewise(s, storage);
  ASSERT_TRUE(p.result.complete());
  EXPECT_EQ(p.head.headers.get("x-a"), "one");
  EXPECT_EQ(p.head.headers.get("x-b"), "two");
  EXPECT_EQ(p.head.path, "/moved");
}

TEST(H1RequestParser, ShrunkBufferRestartsSafely) {
  H1RequestParser parser;
  H1RequestHead head;
  const std::string s = req(kHost);
  EXPECT_TRUE(parser.parse(std::string_view(s).substr(0, 20), head).needMore());
  EXPECT_TRUE(parser.parse(std::string_view(s).substr(0, 5), head).needMore());
  EXPECT_TRUE(parser.parse(s, head).complete());
  EXPECT_EQ(head.host, "example.com");
}

// The corpus used for the split-invariance properties: valid and invalid heads.
std::vector<std::string> corpus() {
  std::vector<std::string> c = {
      req(kHost),
      req(kHost + "Accept: */*\r\nUser-Agent: t\r\n", "GET /a?b=c HTTP/1.1"),
      req(kHost + "Content-Length: 5, 5\r\n", "POST / HTTP/1.1"),
      req(kHost + "Transfer-Encoding: gzip, chunked\r\n", "POST / HTTP/1.1"),
      req("Host: other\r\n", "GET http://example.com:8080/p HTTP/1.1"),
      req("Host: example.com:443\r\n", "CONNECT example.com:443 HTTP/1.1"),
      req(kHost, "OPTIONS * HTTP/1.1"),
      req("", "GET / HTTP/1.0"),
      "\r\n" + req(kHost),
      req(kHost + "Connection: Upgrade, x-a\r\nUpgrade: websocket\r\nx-a: 1\r\n"),
      req(kHost + "X: \t v \t\r\n"),
      req(kHost + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
      req(kHost + "Transfer-Encoding: xchunked\r\n"),
      req(kHost + "Transfer-Encoding: chunked, gzip\r\n"),
      req(kHost + "Content-Length: +5\r\n"),
      req(kHost + "X: a\r\n b\r\n"),
      req(kHost + "X : a\r\n"),
      req(kHost + "X: a\x00b\r\n"s),
      "GET / HTTP/1.1\nHost: a\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\n\r",
      "GET / HTTP/1.1\r\nHost: a\r\n\rX",
      req(""),
      req("Host: a\r\nHost: b\r\n"),
      req(kHost, "G(T / HTTP/1.1"),
      req(kHost, "GET /# HTTP/1.1"),
      req(kHost, "GET / HTTP/1.2"),
      req(kHost + "X: " + std::string(300, 'v') + "\r\n"),
      "GET /" + std::string(300, 'a') + " HTTP/1.1\r\n" + kHost + "\r\n",
      "GET / HTTP/1.1\r\n" + kHost + "X: " + std::string(300, 'v') + "\r",
      "GET / HTTP/1.1\r\n" + kHost + "X: " + std::string(300, 'v') + "\x01" + std::string(300, 'v'),
  };
  std::string many = kHost;
  for (int i = 0; i < 12; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  c.push_back(req(many));
  return c;
}

// Small limits so that the corpus also crosses every limit at many positions.
std::vector<H1Limits> limitSets() {
  H1Limits defaults;
  H1Limits small;
  small.max_line_bytes = 64;
  small.max_head_bytes = 200;
  small.max_headers = 4;
  H1Limits tiny;
  tiny.max_line_bytes = 17;
  tiny.max_head_bytes = 40;
  tiny.max_headers = 1;
  return {defaults, small, tiny};
}

TEST(H1RequestParser, ByteAtATimeEqualsWhole) {
  for (const H1Limits& limits : limitSets()) {
    for (const std::string& s : corpus()) {
      SCOPED_TRACE(::testing::PrintToString(s));
      auto whole = parseWhole(s, limits);
      std::string storage;
      auto bytewise = parseBytewise(s, storage, limits);
      EXPECT_EQ(whole.result.progress, bytewise.result.progress);
      EXPECT_EQ(whole.result.error, bytewise.result.error);
      EXPECT_EQ(whole.result.status, bytewise.result.status);
      EXPECT_EQ(whole.result.consumed, bytewise.result.consumed);
      if (whole.result.complete()) expectSameHead(whole.head, bytewise.head);
    }
  }
}

TEST(H1RequestParser, RandomSplitsEqualWhole) {
  std::mt19937 rng(12345);
  for (const H1Limits& limits : limitSets()) {
    for (const std::string& s : corpus()) {
      auto whole = parseWhole(s, limits);
      for (int trial = 0; trial < 20; ++trial) {
        H1RequestParser parser(limits);
        H1RequestHead head;
        H1Result r;
        std::size_t k = 0;
        do {
          k = std::min(s.size(), k + 1 + rng() % 40);
          r = parser.parse(std::string_view(s.data(), k), head);
        } while (r.needMore() && k < s.size());
        ASSERT_EQ(r.progress, whole.result.progress) << ::testing::PrintToString(s);
        EXPECT_EQ(r.error, whole.result.error);
        EXPECT_EQ(r.consumed, whole.result.consumed);
        if (r.complete()) expectSameHead(whole.head, head);
      }
    }
  }
}

TEST(H1Types, ErrorTableComplete) {
  for (int i = 1; i < static_cast<int>(H1Error::kCount); ++i) {
    const auto e = static_cast<H1Error>(i);
    EXPECT_FALSE(h1ErrorToken(e).empty()) << i;
    EXPECT_GE(h1ErrorStatus(e), 400) << i;
  }
  EXPECT_EQ(h1ErrorStatus(H1Error::kNone), 0);
  EXPECT_EQ(h1ErrorStatus(H1Error::kUnknownTransferEncoding), 501);
  EXPECT_EQ(h1ErrorToken(H1Error::kBadContentLength), "bad_content_length");
}

TEST(H1Types, ListElements) {
  H1ListElements it(" a , b,,c ");
  std::vector<std::string_view> got;
  std::string_view e;
  while (it.next(e)) got.push_back(e);
  EXPECT_EQ(got, (std::vector<std::string_view>{"a", "b", "", "c"}));
}

}  // namespace
}  // namespace pilotfish::http
