// Listener-level limits on an http listener, end to end: over `max_connections` a client gets an
// honest 503 (x-pilotfish-error: overflow) and a clean close, never a silent drop, and no upstream
// sees it; out of file descriptors the listener pauses instead of spinning and recovers.

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;

std::string yamlFor(uint16_t port, uint16_t backend, const std::string& listener_extra,
                    int workers = 2) {
  return render(R"(workers: ${WORKERS}
log: {level: info}
clusters:
  - name: be
    endpoints: [127.0.0.1:${BE}]
    connect_timeout: 500ms
listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    cluster: be
${EXTRA})",
                {{"WORKERS", std::to_string(workers)},
                 {"BE", std::to_string(backend)},
                 {"PORT", std::to_string(port)},
                 {"EXTRA", listener_extra}});
}

std::string lm(const std::string& name) {
  return name + "{listener=\"web\"}";
}

const std::string kGet = "GET /x HTTP/1.1\r\nHost: users\r\n\r\n";

// One keepalive request on `c`; true when it got a 200 (the connection stays open).
bool keepaliveGet(TcpClient& c) {
  if (!c.sendAll(kGet)) return false;
  std::string buf;
  auto r = readResponse(c, buf, 3s);
  return r && r->status == 200;
}

TEST(HttpLimits, OverMaxConnectionsAnswers503OverflowAndCloses) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(yamlFor(port, be.port(), "    max_connections: 2\n"));

  TcpClient c1, c2;
  ASSERT_EQ(c1.connect(port), 0);
  ASSERT_TRUE(keepaliveGet(c1));
  ASSERT_EQ(c2.connect(port), 0);
  ASSERT_TRUE(keepaliveGet(c2));
  long before = be.stats().requests;

  // The third client's request is answered by pilotfish, with a clean close (FIN, not RST).
  auto t0 = Clock::now();
  auto x = rawHttp(port, kGet, 3s);
  EXPECT_LT(msSince(t0), 1000);
  ASSERT_EQ(x.connect_error, 0);
  EXPECT_EQ(x.end, ReadEnd::kEof) << toString(x.end) << " after: " << x.data;
  std::size_t consumed = 0;
  auto r = parseResponse(x.data, consumed, true);
  ASSERT_TRUE(r) << x.data;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("x-pilotfish-error"), "overflow");
  EXPECT_EQ(r->header("connection"), "close");
  EXPECT_EQ(r->header("content-type").rfind("text/plain", 0), 0u) << r->header("content-type");
  EXPECT_EQ(consumed, x.data.size()) << "nothing after the 503";

  EXPECT_EQ(pf.waitMetric("pilotfish_http_errors_total{listener=\"web\",token=\"overflow\"}",
                          [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_overflow_total")), 1);
  EXPECT_EQ(be.stats().requests, before) << "an overflowing request reached the upstream";

  // The two admitted connections still work; a slot frees when one closes.
  EXPECT_TRUE(keepaliveGet(c1));
  EXPECT_TRUE(keepaliveGet(c2));
  c1.close();
  ASSERT_EQ(pf.waitMetric(
                lm("pilotfish_listener_connections_active"), [](double v) { return v == 1; }, 3s),
            1);
  auto ok = httpRaw(port, "GET /y HTTP/1.1\r\nHost: users\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_overflow_total")), 1);
}

TEST(HttpLimits, OverflowAnswerSurvivesARequestWithABody) {
  // The refused client already sent a body: it is read and dropped before the close, so the
  // kernel does not answer the unread bytes with an RST (which, on a real network, can reach
  // the client before it has read the 503, or discard the 503 still queued on our side).
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(yamlFor(port, be.port(), "    max_connections: 1\n"));
  TcpClient held;
  ASSERT_EQ(held.connect(port), 0);
  ASSERT_TRUE(keepaliveGet(held));

  std::string body(20000, 'b');
  auto x = rawHttp(port,
                   "POST /upload HTTP/1.1\r\nHost: users\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body,
                   3s);
  ASSERT_EQ(x.connect_error, 0);
  std::size_t consumed = 0;
  auto r = parseResponse(x.data, consumed, true);
  ASSERT_TRUE(r) << toString(x.end) << ": " << x.data;
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->header("x-pilotfish-error"), "overflow");
  // All of it arrived in one segment before the accept: read and dropped, so a FIN, not an RST.
  EXPECT_EQ(x.end, ReadEnd::kEof) << toString(x.end);
}

TEST(HttpLimits, AcceptPausesWhenOutOfDescriptorsAndRecovers) {
  HttpBackend be;
  // A client connection and its pooled upstream take two descriptors; with a limit this low
  // some of the 40 clients below must find accept() failing with EMFILE.
  uint16_t port = freePort();
  Pilotfish::Options o;
  o.nofile = std::make_pair(uint64_t{40}, uint64_t{40});
  Pilotfish pf(yamlFor(port, be.port(), "", 1), o);
  auto emfileLogged = [&] { return pf.output().find("Too many open files") != std::string::npos; };

  std::vector<TcpClient> clients;
  for (int i = 0; i < 40; ++i) {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);  // completes in the kernel's backlog even unaccepted
    ASSERT_TRUE(c.sendAll(kGet));
    clients.push_back(std::move(c));
  }
  ASSERT_TRUE(waitFor(emfileLogged, 3s)) << pf.output();

  // Paused, not spinning: little CPU over one second (a busy loop burns about a second).
  double cpu0 = cpuSeconds(pf.pid());
  std::this_thread::sleep_for(1s);  // measuring that nothing happens
  EXPECT_LT(cpuSeconds(pf.pid()) - cpu0, 0.5) << "CPU seconds used while out of descriptors";
  EXPECT_TRUE(pf.process().running());

  // Closing clients frees descriptors: the waiting ones are accepted and answered in turn.
  int answered = 0;
  for (auto& c : clients) {
    std::string got;
    if (c.recvAtLeast(got, 12, 3s) == ReadEnd::kData && got.rfind("HTTP/1.1 200", 0) == 0) {
      ++answered;
    }
    c.close();
  }
  EXPECT_GE(answered, 30) << "of 40 clients, most must be served once descriptors free up";
  auto ok = httpRaw(port, "GET /z HTTP/1.1\r\nHost: users\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ok.status, 200) << ok.raw;
  // Read once descriptors are free again (the admin listener shares the process's table).
  EXPECT_GE(pf.metric(lm("pilotfish_listener_accept_paused_total")), 1);
}

TEST(HttpLimits, HeadersWithUnderscoresAreRefusedOrDroppedWhenAsked) {
  HttpBackend be;
  uint16_t strict_port = freePort();
  uint16_t open_port = freePort();
  Pilotfish strict(yamlFor(strict_port, be.port(), "    headers_with_underscores: reject\n"));
  Pilotfish open(yamlFor(open_port, be.port(), ""));
  const std::string req =
      "GET /x HTTP/1.1\r\nHost: users\r\nX_Forwarded_For: 6.6.6.6\r\nConnection: close\r\n\r\n";

  auto x = rawHttp(strict_port, req, 3s);
  std::size_t consumed = 0;
  auto r = parseResponse(x.data, consumed, true);
  ASSERT_TRUE(r) << x.data;
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->header("x-pilotfish-error"), "underscore_in_header_name");
  EXPECT_TRUE(x.peerClosed()) << toString(x.end);
  EXPECT_EQ(
      strict.metric(
          "pilotfish_http_errors_total{listener=\"web\",token=\"underscore_in_header_name\"}"),
      1);
  EXPECT_EQ(be.stats().requests, 0) << "a refused request reached the upstream";

  // The default forwards it unchanged.
  auto ok = httpRaw(open_port, req);
  EXPECT_EQ(ok.status, 200) << ok.raw;
  EXPECT_NE(ok.body.find("[\"X_Forwarded_For\", \"6.6.6.6\"]"), std::string::npos) << ok.body;
  EXPECT_EQ(be.stats().requests, 1);

  // drop: the request goes on without the field (and pilotfish's own X-Forwarded-For stands).
  uint16_t drop_port = freePort();
  Pilotfish dropping(yamlFor(drop_port, be.port(), "    headers_with_underscores: drop\n"));
  auto dropped = httpRaw(drop_port, req);
  EXPECT_EQ(dropped.status, 200) << dropped.raw;
  EXPECT_EQ(dropped.body.find("X_Forwarded_For"), std::string::npos) << dropped.body;
  EXPECT_EQ(dropped.body.find("6.6.6.6"), std::string::npos) << dropped.body;
  EXPECT_NE(dropped.body.find("[\"x-forwarded-for\", \"127.0.0.1\"]"), std::string::npos)
      << dropped.body;
  EXPECT_EQ(be.stats().requests, 2);
  EXPECT_EQ(dropping.metric("pilotfish_http_underscore_headers_dropped_total{listener=\"web\"}"),
            1);
  EXPECT_EQ(open.metric("pilotfish_http_underscore_headers_dropped_total{listener=\"web\"}"), 0);
}

}  // namespace
}  // namespace pilotfish::it
