// The real peers of the HTTP/1.1 proxy tests, tested on their own (no pilotfish here): the
// Python backend (tests/integration/backends/http_backend.py) in every mode, nginx plain and
// TLS with its access log, the test CA, and the harness's wire helpers. With curl, wrk and raw
// sockets, so that a later failure through the proxy cannot be a broken peer.

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <random>
#include <regex>
#include <sstream>

#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* kHelloSha =
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
constexpr const char* kHelloWorldSha =
    "b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";

// curl, silent but with errors, bounded in time.
CommandResult curl(std::vector<std::string> args, milliseconds timeout = 20s) {
  std::vector<std::string> argv{"curl", "-sS", "--max-time", "15"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, timeout);
}

std::string describe(const CommandResult& r) {
  return (r.status ? r.status->describe() : std::string("timed out")) + "\nstdout: " + r.out +
         "\nstderr: " + r.err;
}

int exitCode(const CommandResult& r) {
  return r.status && r.status->exited ? r.status->code : -1;
}

json::object obj(const std::string& text) {
  return parseJson(text).as_object();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty()) out.push_back(l);
  }
  return out;
}

std::string str(const json::value& v) {
  return std::string(v.as_string().c_str());
}
long num(const json::value& v) {
  return v.to_number<long>();
}

std::string request(const std::string& method, const std::string& target,
                    const std::string& extra_headers = "", const std::string& body = "") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: peers.test\r\n" + extra_headers;
  if (!body.empty()) r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

std::string lowered_copy(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string sha256File(const std::string& path) {
  auto r = runCommand({"sha256sum", path});
  if (!r.ok()) throw std::runtime_error("sha256sum: " + describe(r));
  return r.out.substr(0, 64);
}

// One request on an open connection; the next response.
HttpResponse roundTrip(TcpClient& c, std::string& buf, const std::string& req,
                       bool head_request = false) {
  if (!c.sendAll(req)) throw std::runtime_error("send failed");
  auto r = readResponse(c, buf, 5s, head_request);
  if (!r) throw std::runtime_error("no response to: " + req.substr(0, 80));
  return *r;
}

// ---------------------------------------------------------------------------------------------
// Python backend: the default echo answer

TEST(HttpPeers, BackendEchoesRequestAsJson) {
  HttpBackend be;
  auto r = curl({"-X", "PUT", "-H", "X-First: 1", "-H", "x-second: two", "-H", "X-First: again",
                 "--data-binary", "hello", "-w", "\n%{content_type}\n%{http_code}",
                 be.url("/some/path?q=1&r=2")});
  ASSERT_TRUE(r.ok()) << describe(r);
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 3u) << r.out;
  EXPECT_EQ(out[1], "application/json");
  EXPECT_EQ(out[2], "200");
  auto j = obj(out[0]);
  EXPECT_EQ(str(j.at("method")), "PUT");
  EXPECT_EQ(str(j.at("target")), "/some/path?q=1&r=2");
  EXPECT_EQ(str(j.at("version")), "HTTP/1.1");
  EXPECT_EQ(num(j.at("body_len")), 5);
  EXPECT_EQ(str(j.at("body_sha256")), kHelloSha);
  EXPECT_EQ(num(j.at("conn_id")), 1);
  EXPECT_EQ(num(j.at("conn_requests")), 1);
  EXPECT_EQ(num(j.at("port")), be.port());
  EXPECT_FALSE(j.at("tls").as_bool());
  EXPECT_FALSE(j.at("chunked").as_bool());
  // Headers: received order, original case, duplicates kept.
  std::vector<std::pair<std::string, std::string>> hs;
  for (const auto& h : j.at("headers").as_array()) {
    hs.emplace_back(str(h.as_array().at(0)), str(h.as_array().at(1)));
  }
  auto pos = [&](const std::string& n, const std::string& v) {
    return std::find(hs.begin(), hs.end(), std::make_pair(n, v)) - hs.begin();
  };
  ASSERT_LT(pos("X-First", "1"), static_cast<long>(hs.size())) << out[0];
  EXPECT_LT(pos("X-First", "1"), pos("x-second", "two"));
  EXPECT_LT(pos("x-second", "two"), pos("X-First", "again"));
  EXPECT_LT(pos("Host", "127.0.0.1:" + std::to_string(be.port())), pos("X-First", "1"));
  EXPECT_LT(pos("Content-Length", "5"), static_cast<long>(hs.size()));
}

TEST(HttpPeers, BackendKeepaliveReusesOneConnectionForTwoUrls) {
  HttpBackend be;
  auto r = curl({"-w", "\n", be.url("/first"), be.url("/second")});
  ASSERT_TRUE(r.ok()) << describe(r);
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  auto a = obj(out[0]);
  auto b = obj(out[1]);
  EXPECT_EQ(str(a.at("target")), "/first");
  EXPECT_EQ(str(b.at("target")), "/second");
  EXPECT_EQ(num(a.at("conn_id")), num(b.at("conn_id")));
  EXPECT_EQ(num(a.at("conn_requests")), 1);
  EXPECT_EQ(num(b.at("conn_requests")), 2);
  // The backend's own view: one connection, two requests, closed by the client.
  auto s = be.waitStats([](const BackendStats& x) { return x.open == 0; });
  EXPECT_EQ(s.connections, 1);
  EXPECT_EQ(s.requests, 2);
  EXPECT_EQ(s.open, 0);
  auto conns = be.conns();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(num(conns[0].at("requests")), 2);
  EXPECT_EQ(str(conns[0].at("closed_by")), "client");
}

TEST(HttpPeers, BackendStatsCountConnectionsButNotAdminRequests) {
  HttpBackend be;
  auto s0 = be.stats();
  EXPECT_EQ(s0.connections, 0);
  EXPECT_EQ(s0.requests, 0);
  for (int i = 0; i < 3; ++i) {
    auto r = curl({"-o", "/dev/null", be.url("/n" + std::to_string(i))});
    ASSERT_TRUE(r.ok()) << describe(r);
  }
  auto s = be.waitStats([](const BackendStats& x) { return x.open == 0; });
  EXPECT_EQ(s.connections, 3);
  EXPECT_EQ(s.requests, 3);
  EXPECT_GE(s.accepted, 3 + 2);  // the two /__stats connections so far
  // Connection ids go up in accept order.
  auto conns = be.conns();
  ASSERT_EQ(conns.size(), 3u);
  EXPECT_LT(num(conns[0].at("conn_id")), num(conns[1].at("conn_id")));
  EXPECT_LT(num(conns[1].at("conn_id")), num(conns[2].at("conn_id")));
}

TEST(HttpPeers, BackendReadsChunkedRequestBodies) {
  HttpBackend be;
  // With curl: 100000 bytes sent chunked.
  auto file = writeTempFile(randomBytes(100000, 7), ".bin");
  auto r = curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file, be.url("/up")});
  ASSERT_TRUE(r.ok()) << describe(r);
  auto j = obj(r.out);
  EXPECT_TRUE(j.at("chunked").as_bool());
  EXPECT_EQ(num(j.at("body_len")), 100000);
  EXPECT_EQ(str(j.at("body_sha256")), sha256File(file));

  // Raw: chunk extensions and a trailer.
  auto x = rawHttp(be.port(),
                   "POST /t HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   "Connection: close\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
                   "X-Trailer: t\r\n\r\n");
  EXPECT_EQ(x.end, ReadEnd::kEof);
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << x.data;
  auto k = obj(rs[0].body);
  EXPECT_EQ(num(k.at("body_len")), 11);
  EXPECT_EQ(str(k.at("body_sha256")), kHelloWorldSha);
  ASSERT_EQ(k.at("trailers").as_array().size(), 1u);
  EXPECT_EQ(str(k.at("trailers").as_array()[0].as_array()[0]), "X-Trailer");
  EXPECT_EQ(rs[0].header("connection"), "close");
}

TEST(HttpPeers, BackendAnswersPipelinedRequestsInOrder) {
  HttpBackend be;
  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  ASSERT_TRUE(c.sendAll(request("GET", "/one") + request("POST", "/two", "", "hello") +
                        request("HEAD", "/three")));
  std::string buf;
  auto a = readResponse(c, buf, 5s);
  auto b = readResponse(c, buf, 5s);
  auto h = readResponse(c, buf, 5s, /*head_request=*/true);
  ASSERT_TRUE(a && b && h);
  EXPECT_EQ(str(obj(a->body).at("target")), "/one");
  EXPECT_EQ(num(obj(b->body).at("conn_requests")), 2);
  EXPECT_EQ(str(obj(b->body).at("body_sha256")), kHelloSha);
  // HEAD: the head of the same answer (its content-length), no body.
  EXPECT_EQ(h->status, 200);
  EXPECT_TRUE(h->body.empty());
  EXPECT_GT(std::stol(h->header("content-length")), 0);
  EXPECT_TRUE(buf.empty()) << buf;
  // Still open: a fourth request with Connection: close is answered, then the backend closes.
  ASSERT_TRUE(c.sendAll(request("GET", "/four", "Connection: close\r\n")));
  auto d = readResponse(c, buf, 5s);
  ASSERT_TRUE(d);
  EXPECT_EQ(num(obj(d->body).at("conn_requests")), 4);
  EXPECT_EQ(d->header("connection"), "close");
  EXPECT_EQ(c.waitClosed(5s), ReadEnd::kEof);
}

TEST(HttpPeers, BackendHttp10ClosesUnlessKeepAlive) {
  HttpBackend be;
  auto x = rawHttp(be.port(), "GET /old HTTP/1.0\r\n\r\n");
  EXPECT_EQ(x.end, ReadEnd::kEof);
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << x.data;
  EXPECT_EQ(str(obj(rs[0].body).at("version")), "HTTP/1.0");

  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  std::string buf;
  auto a = roundTrip(c, buf, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(a.header("connection"), "keep-alive");
  auto b = roundTrip(c, buf, "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_EQ(num(obj(b.body).at("conn_requests")), 2);
}

TEST(HttpPeers, BackendRejectsMalformedRequestWith400) {
  HttpBackend be;
  auto x = rawHttp(be.port(), "THIS IS NOT HTTP\r\n\r\n");
  EXPECT_EQ(x.end, ReadEnd::kEof);
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << x.data;
  EXPECT_EQ(rs[0].status, 400);
  EXPECT_EQ(rs[0].header("connection"), "close");
}

// ---------------------------------------------------------------------------------------------
// Python backend: misbehaviour modes

TEST(HttpPeers, BackendStatusModeKeepsFramingOnOneConnection) {
  HttpBackend be;
  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  std::string buf;
  auto r204 = roundTrip(c, buf, request("GET", "/status/204"));
  EXPECT_EQ(r204.status, 204);
  EXPECT_EQ(r204.headerCount("content-length"), 0);
  EXPECT_TRUE(r204.body.empty());
  auto r304 = roundTrip(c, buf, request("GET", "/status/304"));
  EXPECT_EQ(r304.status, 304);
  EXPECT_TRUE(r304.body.empty());
  auto r503 = roundTrip(c, buf, request("GET", "/status/503"));
  EXPECT_EQ(r503.status, 503);
  EXPECT_EQ(r503.reason, "Service Unavailable");
  EXPECT_EQ(num(obj(r503.body).at("conn_requests")), 3);
  // The header selects the mode whatever the path.
  auto r418 = roundTrip(c, buf, request("GET", "/any/path", "x-backend-mode: status/418\r\n"));
  EXPECT_EQ(r418.status, 418);
  EXPECT_EQ(str(obj(r418.body).at("target")), "/any/path");
  EXPECT_EQ(str(obj(r418.body).at("mode")), "status/418");
  auto r200 = roundTrip(c, buf, request("GET", "/plain"));
  EXPECT_EQ(r200.status, 200);
  EXPECT_EQ(num(obj(r200.body).at("conn_requests")), 5);
  EXPECT_TRUE(buf.empty());
  // curl agrees.
  auto cr = curl({"-o", "/dev/null", "-w", "%{http_code}", be.url("/status/502")});
  EXPECT_EQ(cr.out, "502") << describe(cr);
}

TEST(HttpPeers, BackendSlowModeDelaysTheAnswer) {
  HttpBackend be;
  auto t0 = Clock::now();
  auto r = curl({"-o", "/dev/null", "-w", "%{http_code}", be.url("/slow/400")});
  EXPECT_EQ(r.out, "200") << describe(r);
  EXPECT_GE(msSince(t0), 400);
  t0 = Clock::now();
  auto h = curl({"-o", "/dev/null", "-w", "%{http_code}", "-H", "x-backend-mode: /slow/300",
                 be.url("/fast")});
  EXPECT_EQ(h.out, "200") << describe(h);
  EXPECT_GE(msSince(t0), 300);
}

TEST(HttpPeers, BackendSlowBodySendsTheHeadFirst) {
  HttpBackend be;
  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  auto t0 = Clock::now();
  ASSERT_TRUE(c.sendAll(request("GET", "/slow-body/1500")));
  std::string buf;
  while (buf.find("\r\n\r\n") == std::string::npos) {
    ASSERT_EQ(c.recvSome(buf, 5s), ReadEnd::kData) << buf;
  }
  double head_ms = msSince(t0);
  EXPECT_LT(head_ms, 1400) << "the head came with the body";
  std::size_t consumed = 0;
  EXPECT_FALSE(parseResponse(buf, consumed, false)) << "complete before the delay: " << buf;
  auto r = readResponse(c, buf, 10s);
  ASSERT_TRUE(r);
  EXPECT_GE(msSince(t0), 1500);
  EXPECT_EQ(str(obj(r->body).at("target")), "/slow-body/1500");
}

TEST(HttpPeers, BackendResetBeforeHead) {
  HttpBackend be;
  auto x = rawHttp(be.port(), request("GET", "/reset-before-head"));
  EXPECT_EQ(x.end, ReadEnd::kReset) << toString(x.end);
  EXPECT_TRUE(x.data.empty()) << x.data;
  auto r = curl({be.url("/reset-before-head")});
  EXPECT_EQ(exitCode(r), 56) << describe(r);  // "Recv failure: Connection reset by peer"
  auto conns = be.conns();
  ASSERT_EQ(conns.size(), 2u);
  EXPECT_EQ(str(conns[0].at("closed_by")), "reset");
}

TEST(HttpPeers, BackendResetMidBody) {
  HttpBackend be;
  auto x = rawHttp(be.port(), request("GET", "/reset-mid-body"));
  EXPECT_EQ(x.end, ReadEnd::kReset) << toString(x.end);
  auto head_end = x.data.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << x.data;
  EXPECT_NE(x.data.find("content-length: 1000\r\n"), std::string::npos) << x.data;
  EXPECT_EQ(x.data.substr(head_end + 4), "abcdefghij");
  std::size_t consumed = 0;
  EXPECT_FALSE(parseResponse(x.data, consumed, true)) << "10 of 1000 bytes is not a response";
  auto r = curl({"-o", "/dev/null", be.url("/reset-mid-body")});
  EXPECT_TRUE(exitCode(r) == 56 || exitCode(r) == 18) << describe(r);
}

TEST(HttpPeers, BackendCloseAfterAnswersWithConnectionClose) {
  HttpBackend be;
  auto x = rawHttp(be.port(), request("GET", "/close-after"));
  EXPECT_EQ(x.end, ReadEnd::kEof) << toString(x.end);
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << x.data;
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].header("connection"), "close");
  EXPECT_EQ(str(obj(rs[0].body).at("target")), "/close-after");
}

TEST(HttpPeers, BackendNoKeepaliveClosesWithoutSaying) {
  HttpBackend be;
  auto x = rawHttp(be.port(), request("GET", "/no-keepalive"));
  EXPECT_EQ(x.end, ReadEnd::kEof) << toString(x.end);
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << x.data;
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].headerCount("connection"), 0);
  // Also when a second request is already pipelined behind the first: answered once, then FIN.
  auto y = rawHttp(be.port(), request("GET", "/no-keepalive") + request("GET", "/again"));
  EXPECT_EQ(y.end, ReadEnd::kEof) << toString(y.end);
  EXPECT_EQ(parseResponses(y.data).size(), 1u) << y.data;
}

TEST(HttpPeers, BackendBadFramingSendsContentLengthAndChunked) {
  HttpBackend be;
  auto x = rawHttp(be.port(), request("GET", "/bad-framing"));
  EXPECT_EQ(x.end, ReadEnd::kEof) << toString(x.end);
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << x.data;
  EXPECT_EQ(rs[0].headerCount("content-length"), 1);
  EXPECT_EQ(rs[0].headerCount("transfer-encoding"), 1);
  EXPECT_TRUE(rs[0].chunked);
  EXPECT_EQ(rs[0].body, "hello");
}

TEST(HttpPeers, BackendBadStatusSendsGarbage) {
  HttpBackend be;
  auto x = rawHttp(be.port(), request("GET", "/bad-status"));
  EXPECT_EQ(x.end, ReadEnd::kEof) << toString(x.end);
  EXPECT_EQ(x.data.rfind("HTTP/1.1 two-hundred", 0), 0u) << x.data;
  std::size_t consumed = 0;
  EXPECT_THROW(parseResponse(x.data, consumed, true), std::runtime_error);
  auto r = curl({be.url("/bad-status")});
  EXPECT_FALSE(r.ok()) << describe(r);
}

TEST(HttpPeers, BackendChunkedResponse) {
  HttpBackend be;
  auto r = curl({be.url("/chunked/5")});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r.out, "chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n");

  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  std::string buf;
  auto x = roundTrip(c, buf, request("GET", "/chunked/3"));
  EXPECT_TRUE(x.chunked);
  EXPECT_EQ(x.header("transfer-encoding"), "chunked");
  EXPECT_EQ(x.headerCount("content-length"), 0);
  EXPECT_EQ(x.body, "chunk 0\nchunk 1\nchunk 2\n");
  EXPECT_NE(x.raw.find("\r\n\r\n8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n"), std::string::npos) << x.raw;
  EXPECT_EQ(x.raw.substr(x.raw.size() - 5), "0\r\n\r\n");
  auto empty = roundTrip(c, buf, request("GET", "/chunked/0"));
  EXPECT_TRUE(empty.chunked);
  EXPECT_TRUE(empty.body.empty());
  EXPECT_EQ(roundTrip(c, buf, request("GET", "/after")).status, 200);  // framing held
}

TEST(HttpPeers, BackendBytesBody) {
  HttpBackend be;
  auto out = tempDir() + "/bytes-" + std::to_string(be.port());
  auto r = curl({"-o", out, "-w", "%{http_code} %{size_download}", be.url("/bytes/10240")});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r.out, "200 10240");
  auto x = rawHttp(be.port(), request("GET", "/bytes/100000", "Connection: close\r\n"));
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].header("content-length"), "100000");
  EXPECT_EQ(rs[0].header("content-type"), "application/octet-stream");
  ASSERT_EQ(rs[0].body.size(), 100000u);
  EXPECT_EQ(rs[0].body.substr(0, 40), "abcdefghijklmnopqrstuvwxyz0123456789abcd");
}

TEST(HttpPeers, BackendSends100ContinueBeforeReadingTheBody) {
  HttpBackend be;
  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  std::string buf;
  ASSERT_TRUE(
      c.sendAll("POST /expect HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                "Content-Length: 5\r\n\r\n"));
  auto cont = readResponse(c, buf, 5s);
  ASSERT_TRUE(cont);
  EXPECT_EQ(cont->raw, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_TRUE(buf.empty()) << "a final answer before the body was sent: " << buf;
  ASSERT_TRUE(c.sendAll("hello"));
  auto fin = readResponse(c, buf, 5s);
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->status, 200);
  EXPECT_EQ(str(obj(fin->body).at("body_sha256")), kHelloSha);
  // Any path: 100 Continue whenever asked.
  auto other = roundTrip(c, buf, request("PUT", "/elsewhere", "Expect: 100-continue\r\n", "hi"));
  EXPECT_EQ(other.status, 100);
  auto other_final = readResponse(c, buf, 5s);
  ASSERT_TRUE(other_final);
  EXPECT_EQ(num(obj(other_final->body).at("body_len")), 2);
}

TEST(HttpPeers, BackendExpectWithCurl) {
  HttpBackend be;
  auto file = writeTempFile(std::string(4000, 'e'), ".txt");
  // Without the 100 curl would wait the whole --expect100-timeout (10 s) before sending.
  auto r = curl({"-v", "-H", "Expect: 100-continue", "--expect100-timeout", "10", "--data-binary",
                 "@" + file, "-w", "\n%{time_total}", be.url("/expect")});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_NE(r.err.find("< HTTP/1.1 100 Continue"), std::string::npos) << r.err;
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  EXPECT_EQ(num(obj(out[0]).at("body_len")), 4000);
  EXPECT_LT(std::stod(out[1]), 5.0);
}

TEST(HttpPeers, BackendExpectRejectAnswers417WithoutContinue) {
  HttpBackend be;
  auto x = rawHttp(be.port(),
                   "POST /expect-reject HTTP/1.1\r\nHost: x\r\n"
                   "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n");
  EXPECT_EQ(x.end, ReadEnd::kEof) << toString(x.end);
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << x.data;
  EXPECT_EQ(rs[0].status, 417);
}

TEST(HttpPeers, BackendWebSocketUpgradeThenEchoesRawBytes) {
  HttpBackend be;
  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  std::string buf;
  // The sample handshake of RFC 6455 section 1.3.
  auto r = roundTrip(c, buf,
                     request("GET", "/upgrade",
                             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n"));
  EXPECT_EQ(r.status, 101);
  EXPECT_EQ(lowered_copy(r.header("upgrade")), "websocket");
  EXPECT_EQ(r.header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_TRUE(buf.empty());
  EXPECT_TRUE(c.echoRoundTrip("not a websocket frame, echoed as it is"));
  EXPECT_TRUE(c.echoRoundTrip(randomBytes(200000, 3), 10s));
  c.shutdownWrite();
  EXPECT_EQ(c.waitClosed(5s), ReadEnd::kEof);
}

TEST(HttpPeers, BackendUpgradeWithoutUpgradeHeaderIs426) {
  HttpBackend be;
  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  std::string buf;
  auto r = roundTrip(c, buf, request("GET", "/upgrade"));
  EXPECT_EQ(r.status, 426);
  EXPECT_EQ(roundTrip(c, buf, request("GET", "/next")).status, 200);
}

TEST(HttpPeers, BackendIdleTimeoutClosesIdleConnections) {
  HttpBackend be(HttpBackend::Options{.idle_timeout = 300ms});
  TcpClient c;
  ASSERT_EQ(c.connect(be.port()), 0);
  std::string buf;
  EXPECT_EQ(roundTrip(c, buf, request("GET", "/one")).status, 200);
  auto t0 = Clock::now();
  EXPECT_EQ(c.waitClosed(5s), ReadEnd::kEof);
  EXPECT_GE(msSince(t0), 250);
  be.waitStats([](const BackendStats& x) { return x.open == 0; });
  auto conns = be.conns();
  ASSERT_EQ(conns.size(), 1u);
  EXPECT_EQ(str(conns[0].at("closed_by")), "idle-timeout");
}

TEST(HttpPeers, BackendOverTlsWithTestCa) {
  TestCa ca;
  HttpBackend be(HttpBackend::Options{.tls_cert = ca.server_cert, .tls_key = ca.server_key});
  ASSERT_TRUE(be.tls());
  ASSERT_NE(be.plainPort(), be.port());
  std::string host = ca.server_name + ":" + std::to_string(be.port());
  auto r = curl({"--cacert", ca.ca_cert, "--resolve", host + ":127.0.0.1", "-w", "\n",
                 "https://" + host + "/a", "https://" + host + "/b"});
  ASSERT_TRUE(r.ok()) << describe(r);
  auto out = lines(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  EXPECT_TRUE(obj(out[0]).at("tls").as_bool());
  EXPECT_EQ(num(obj(out[1]).at("conn_requests")), 2);
  // The IP SAN: https://127.0.0.1 verifies too.
  auto ip = curl({"--cacert", ca.ca_cert, "-o", "/dev/null", "-w", "%{http_code}", be.url("/")});
  EXPECT_EQ(ip.out, "200") << describe(ip);
  // Not trusted without the CA.
  auto untrusted = curl({"--resolve", host + ":127.0.0.1", "https://" + host + "/"});
  EXPECT_EQ(exitCode(untrusted), 60) << describe(untrusted);
  auto s = be.waitStats([](const BackendStats& x) { return x.open == 0; });
  EXPECT_EQ(s.requests, 3);
  EXPECT_EQ(s.connections, 3);
}

TEST(HttpPeers, BackendUnderWrkKeepsItsConnections) {
  HttpBackend be;
  auto r = runCommand({"wrk", "-t1", "-c4", "-d1s", be.url("/bytes/10240")}, 30s);
  ASSERT_TRUE(r.ok()) << describe(r);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.out, m, std::regex(R"(([0-9]+) requests in)"))) << r.out;
  long done = std::stol(m[1]);
  EXPECT_GT(done, 50) << r.out;
  EXPECT_EQ(r.out.find("Socket errors"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("Non-2xx"), std::string::npos) << r.out;
  auto s = be.waitStats([](const BackendStats& x) { return x.open == 0; });
  EXPECT_GE(s.requests, done);
  // wrk probes the address with one connection of its own first (no request on it): the four
  // connections of -c4 carried every request.
  long with_requests = 0;
  for (const auto& c : be.conns()) with_requests += num(c.at("requests")) > 0 ? 1 : 0;
  EXPECT_EQ(with_requests, 4);
  EXPECT_LE(s.connections, 5);
}

// ---------------------------------------------------------------------------------------------
// Test CA

TEST(HttpPeers, TestCaIssuesVerifiableCertificates) {
  TestCa ca("svc.pf.internal");
  auto v = runCommand({"openssl", "verify", "-CAfile", ca.ca_cert, ca.server_cert});
  EXPECT_TRUE(v.ok()) << describe(v);
  EXPECT_NE(v.out.find(": OK"), std::string::npos) << v.out;
  auto san = runCommand({"openssl", "x509", "-in", ca.server_cert, "-noout", "-ext",
                         "subjectAltName,extendedKeyUsage"});
  ASSERT_TRUE(san.ok()) << describe(san);
  EXPECT_NE(san.out.find("DNS:svc.pf.internal"), std::string::npos) << san.out;
  EXPECT_NE(san.out.find("IP Address:127.0.0.1"), std::string::npos) << san.out;
  EXPECT_NE(san.out.find("TLS Web Server Authentication"), std::string::npos) << san.out;
  auto client = ca.issue("client", "pf-client", {}, /*client=*/true);
  auto vc = runCommand(
      {"openssl", "verify", "-CAfile", ca.ca_cert, "-purpose", "sslclient", client.cert});
  EXPECT_TRUE(vc.ok()) << describe(vc);
  auto vs = runCommand(
      {"openssl", "verify", "-CAfile", ca.ca_cert, "-purpose", "sslserver", client.cert});
  EXPECT_FALSE(vs.ok()) << "a client certificate must not pass as a server one";
  // Two CAs do not trust each other's certificates.
  TestCa other;
  auto cross = runCommand({"openssl", "verify", "-CAfile", other.ca_cert, ca.server_cert});
  EXPECT_FALSE(cross.ok());
}

// ---------------------------------------------------------------------------------------------
// nginx

TEST(HttpPeers, NginxServesFixedBody) {
  Nginx ng(Nginx::Options{.body = "fixed \"body\"\nline two\n"});
  auto r = curl({"-w", "%{http_code}", "http://127.0.0.1:" + std::to_string(ng.port()) + "/x"});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r.out, "fixed \"body\"\nline two\n200");
  auto s = curl({"-o", "/dev/null", "-w", "%{size_download}",
                 "http://127.0.0.1:" + std::to_string(ng.port()) + "/static/10k"});
  EXPECT_EQ(s.out, "10240") << describe(s);
}

TEST(HttpPeers, NginxEchoesRequestHeaders) {
  Nginx ng;
  auto r = curl({"-H", "X-Request-Id: req-42", "-H",
                 "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "-H",
                 "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7", "-H", "X-Test: yes",
                 "http://127.0.0.1:" + std::to_string(ng.port()) + "/echo-headers?q=1"});
  ASSERT_TRUE(r.ok()) << describe(r);
  for (const char* want : {"method: GET\n", "uri: /echo-headers?q=1\n", "version: HTTP/1.1\n",
                           "scheme: http\n", "connection-requests: 1\n", "x-request-id: req-42\n",
                           "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
                           "x-b3-traceid: 80f198ee56343ba864fe8b2a57d3eff7\n", "x-test: yes\n",
                           "x-forwarded-for: \n"}) {
    EXPECT_NE(r.out.find(want), std::string::npos) << want << " not in:\n" << r.out;
  }
  auto log = ng.waitAccessLog(1);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].x_request_id, "req-42");
  EXPECT_EQ(log[0].traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(log[0].uri, "/echo-headers?q=1");
}

TEST(HttpPeers, NginxOverTlsWithTestCa) {
  TestCa ca;
  Nginx ng(Nginx::Options{.tls_cert = ca.server_cert, .tls_key = ca.server_key});
  ASSERT_NE(ng.tlsPort(), 0);
  std::string host = ca.server_name + ":" + std::to_string(ng.tlsPort());
  auto r = curl({"--cacert", ca.ca_cert, "--resolve", host + ":127.0.0.1", "-w", "%{http_code}",
                 "https://" + host + "/"});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r.out, "hello from nginx\n200");
  auto untrusted = curl({"--resolve", host + ":127.0.0.1", "https://" + host + "/"});
  EXPECT_EQ(exitCode(untrusted), 60) << describe(untrusted);
  auto wrong_name = curl({"--cacert", ca.ca_cert, "--resolve",
                          "other.pf.internal:" + std::to_string(ng.tlsPort()) + ":127.0.0.1",
                          "https://other.pf.internal:" + std::to_string(ng.tlsPort()) + "/"});
  EXPECT_EQ(exitCode(wrong_name), 60) << describe(wrong_name);
  // Plain listener still plain.
  auto plain = curl({"http://127.0.0.1:" + std::to_string(ng.port()) + "/"});
  EXPECT_EQ(plain.out, "hello from nginx\n") << describe(plain);
  auto log = ng.waitAccessLog(2);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].scheme, "https");
  EXPECT_EQ(log[0].host, ca.server_name);
  EXPECT_EQ(log[1].scheme, "http");
}

TEST(HttpPeers, NginxAccessLogCountsConnections) {
  Nginx ng;
  std::string base = "http://127.0.0.1:" + std::to_string(ng.port());
  auto r = curl({"-o", "/dev/null", "-o", "/dev/null", base + "/a", base + "/b"});
  ASSERT_TRUE(r.ok()) << describe(r);
  auto r2 = curl({"-o", "/dev/null", base + "/c"});
  ASSERT_TRUE(r2.ok()) << describe(r2);
  auto log = ng.waitAccessLog(3);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].uri, "/a");
  EXPECT_EQ(log[0].connection, log[1].connection);
  EXPECT_EQ(log[0].connection_requests, 1);
  EXPECT_EQ(log[1].connection_requests, 2);
  EXPECT_EQ(log[0].remote_port, log[1].remote_port);
  EXPECT_NE(log[2].connection, log[0].connection);
  EXPECT_EQ(log[2].connection_requests, 1);
  EXPECT_EQ(log[2].status, 200);
  EXPECT_EQ(log[2].method, "GET");
  EXPECT_GT(log[2].bytes_sent, 0);
  EXPECT_EQ(ng.connectionsLogged(), 2u);
}

TEST(HttpPeers, NginxKeepaliveTimeoutIsConfigurable) {
  Nginx ng(Nginx::Options{.keepalive_timeout = "1s", .keepalive_requests = 2});
  TcpClient c;
  ASSERT_EQ(c.connect(ng.port()), 0);
  std::string buf;
  EXPECT_EQ(roundTrip(c, buf, request("GET", "/")).status, 200);
  auto t0 = Clock::now();
  EXPECT_EQ(c.waitClosed(5s), ReadEnd::kEof);
  EXPECT_GE(msSince(t0), 900);
  // keepalive_requests 2: the second answer on a connection closes it.
  TcpClient d;
  ASSERT_EQ(d.connect(ng.port()), 0);
  buf.clear();
  EXPECT_EQ(roundTrip(d, buf, request("GET", "/1")).header("connection"), "keep-alive");
  EXPECT_EQ(roundTrip(d, buf, request("GET", "/2")).header("connection"), "close");
  EXPECT_EQ(d.waitClosed(5s), ReadEnd::kEof);
}

TEST(HttpPeers, NginxProxiesToBackendOverUpstreamKeepalive) {
  HttpBackend be;
  Nginx ng(Nginx::Options{.upstream_port = be.port()});
  std::string base = "http://127.0.0.1:" + std::to_string(ng.port());
  auto r = curl({"-w", "\n", base + "/proxy/a", base + "/proxy/b", base + "/proxy/c"});
  ASSERT_TRUE(r.ok()) << describe(r);
  auto r2 = curl({"-w", "\n", base + "/proxy/d"});
  ASSERT_TRUE(r2.ok()) << describe(r2);
  auto out = lines(r.out + r2.out);
  ASSERT_EQ(out.size(), 4u) << r.out << r2.out;
  EXPECT_EQ(str(obj(out[0]).at("target")), "/a");
  EXPECT_EQ(str(obj(out[3]).at("target")), "/d");
  EXPECT_EQ(num(obj(out[3]).at("conn_requests")), 4);
  // Two client connections to nginx, one upstream connection to the backend.
  EXPECT_EQ(ng.waitAccessLog(4).size(), 4u);
  EXPECT_EQ(ng.connectionsLogged(), 2u);
  auto s = be.stats();
  EXPECT_EQ(s.connections, 1);
  EXPECT_EQ(s.requests, 4);
}

// ---------------------------------------------------------------------------------------------
// Wire helpers

TEST(HttpPeers, RawHttpTellsWhetherThePeerClosed) {
  Nginx ng;
  auto closed = rawHttp(ng.port(), request("GET", "/", "Connection: close\r\n"));
  EXPECT_EQ(closed.connect_error, 0);
  EXPECT_TRUE(closed.peerClosed());
  auto rs = parseResponses(closed.data);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].body, "hello from nginx\n");
  // A keepalive answer and no close: the deadline ends it, the answer is there.
  auto open = rawHttp(ng.port(), request("GET", "/"), 300ms);
  EXPECT_EQ(open.end, ReadEnd::kTimeout);
  EXPECT_FALSE(open.peerClosed());
  EXPECT_EQ(parseResponses(open.data).size(), 1u);
  // Nobody listening.
  auto refused = rawHttp(freePort(), "x");
  EXPECT_EQ(refused.connect_error, ECONNREFUSED);
}

TEST(HttpPeers, ParseResponsesFramesEveryKind) {
  std::string wire =
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\nx-a: 2\r\n\r\nabc"
      "HTTP/1.1 204 No Content\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nfoo\r\n2\r\nba\r\n0\r\n"
      "T: 1\r\n\r\n"
      "HTTP/1.0 200 OK\r\n\r\nuntil eof";
  auto rs = parseResponses(wire);
  ASSERT_EQ(rs.size(), 5u);
  EXPECT_EQ(rs[0].status, 100);
  EXPECT_EQ(rs[1].body, "abc");
  EXPECT_EQ(rs[1].headerCount("x-a"), 2);
  EXPECT_EQ(rs[1].header_list[1].first, "X-A");
  EXPECT_EQ(rs[2].status, 204);
  EXPECT_TRUE(rs[3].chunked);
  EXPECT_EQ(rs[3].body, "fooba");
  EXPECT_EQ(rs[4].version, "HTTP/1.0");
  EXPECT_EQ(rs[4].body, "until eof");
  std::size_t consumed = 0;
  EXPECT_FALSE(parseResponse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", consumed, true));
  EXPECT_FALSE(parseResponse("HTTP/1.1 200 OK\r\n\r\nbody", consumed, false));
  EXPECT_TRUE(parseResponse("HTTP/1.1 200 OK\r\n\r\nbody", consumed, true));
  EXPECT_THROW(parseResponse("HTTP/1.1 2x0 OK\r\n\r\n", consumed, true), std::runtime_error);
  EXPECT_THROW(
      parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", consumed, true),
      std::runtime_error);
}

}  // namespace
}  // namespace pilotfish::it
