// The TCP proxy (`protocol: tcp`) end to end: the built binary between real clients
// (redis-cli, redis-benchmark, raw sockets) and real upstreams (redis-server, TestServer).

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <random>
#include <regex>

#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;

constexpr const char* kListener = "front";
constexpr const char* kCluster = "backend";

std::string lm(const std::string& name) {
  return name + "{listener=\"" + kListener + "\"}";
}
std::string cm(const std::string& name) {
  return name + "{cluster=\"" + kCluster + "\"}";
}

std::string endpoint(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

// One tcp listener on `port` in front of cluster "backend" with `endpoints` (YAML list items,
// e.g. "127.0.0.1:1234" or "{address: 127.0.0.1:1234, weight: 0}").
std::string proxyYaml(uint16_t port, const std::vector<std::string>& endpoints,
                      const std::string& listener_extra = "", int workers = 2,
                      const std::string& cluster_extra = "connect_timeout: 1s") {
  std::string eps;
  for (const auto& e : endpoints) eps += "      - " + e + "\n";
  std::string extra;
  if (!listener_extra.empty()) extra = "    " + listener_extra + "\n";
  return render(R"(workers: ${WORKERS}
log: {level: info}
clusters:
  - name: backend
    ${CLUSTER_EXTRA}
    endpoints:
${EPS}listeners:
  - name: front
    address: 127.0.0.1:${PORT}
    protocol: tcp
    cluster: backend
${EXTRA})",
                {{"WORKERS", std::to_string(workers)},
                 {"CLUSTER_EXTRA", cluster_extra},
                 {"EPS", eps},
                 {"PORT", std::to_string(port)},
                 {"EXTRA", extra}});
}

std::string randomBytes(std::size_t n, unsigned seed = 42) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

CommandResult redisCli(uint16_t port, std::vector<std::string> args) {
  std::vector<std::string> argv{"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, 10s);
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(TcpProxy, RedisCliSetGetThroughListener) {
  Redis redis;
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(redis.port())}));

  auto set = redisCli(port, {"SET", "greeting", "hello through pilotfish"});
  ASSERT_TRUE(set.ok()) << set.out << set.err;
  EXPECT_EQ(trimmed(set.out), "OK");
  auto get = redisCli(port, {"GET", "greeting"});
  ASSERT_TRUE(get.ok()) << get.out << get.err;
  EXPECT_EQ(trimmed(get.out), "hello through pilotfish");
  // The value really landed in the redis behind the proxy.
  EXPECT_EQ(redis.cli({"GET", "greeting"}), "hello through pilotfish");

  EXPECT_EQ(pf.waitMetric(lm("pilotfish_listener_connections_accepted_total"),
                          [](double v) { return v >= 2; }),
            2);
  EXPECT_EQ(
      pf.waitMetric(lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }),
      0);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_closed_total")), 2);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connections_total")), 2);
}

TEST(TcpProxy, RedisBenchmarkThroughListenerMovesCounters) {
  Redis redis;
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(redis.port())}));

  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_accepted_total")), 0);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_received_bytes_total")), 0);

  auto r = runCommand({"redis-benchmark", "-h", "127.0.0.1", "-p", std::to_string(port), "-n",
                       "20000", "-c", "20", "-q", "-t", "set,get"},
                      60s);
  ASSERT_TRUE(r.ok()) << (r.status ? r.status->describe() : "timed out") << "\n" << r.out << r.err;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(SET: [0-9.]+ requests per second)"))) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(GET: [0-9.]+ requests per second)"))) << r.out;
  EXPECT_EQ(r.err.find("rror"), std::string::npos) << r.err;
  // redis-benchmark's SET key (3-byte value), written through the proxy.
  EXPECT_EQ(redis.cli({"STRLEN", "key:__rand_int__"}), "3");

  // 20 clients per test, two tests.
  EXPECT_GE(pf.metric(lm("pilotfish_listener_connections_accepted_total")), 40);
  double accepted = pf.metric(lm("pilotfish_listener_connections_accepted_total"));
  EXPECT_EQ(pf.waitMetric(lm("pilotfish_listener_connections_closed_total"),
                          [&](double v) { return v == accepted; }),
            accepted);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_active")), 0);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connections_active")), 0);
  // 20000 SETs of ~45 bytes and 20000 GETs of ~30 bytes in; "+OK\r\n" and "$3\r\nabc\r\n" out.
  double rx = pf.metric(lm("pilotfish_listener_received_bytes_total"));
  double tx = pf.metric(lm("pilotfish_listener_sent_bytes_total"));
  EXPECT_GE(rx, 20000.0 * 45 + 20000.0 * 30) << "bytes from clients";
  EXPECT_GE(tx, 20000.0 * 5 + 20000.0 * 9) << "bytes to clients";
  // What came in from clients went out to the upstream, and vice versa.
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_sent_bytes_total")), rx);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_received_bytes_total")), tx);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connect_failures_total")), 0);
}

TEST(TcpProxy, RoundRobinAcrossEndpoints) {
  TestServer a(TestServer::Mode::kEcho);
  TestServer b(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  // One worker: one round-robin state, so the split is exact.
  Pilotfish pf(proxyYaml(port, {endpoint(a.port()), endpoint(b.port())}, "", 1));
  for (int i = 0; i < 10; ++i) {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.echoRoundTrip("ping " + std::to_string(i))) << "connection " << i;
  }
  EXPECT_EQ(a.accepted(), 5);
  EXPECT_EQ(b.accepted(), 5);
}

TEST(TcpProxy, RefusingEndpointIsSkipped) {
  Redis redis;
  uint16_t refused = freePort();  // nobody listens here
  uint16_t port = freePort();
  // Round robin (random start) picks the refusing endpoint for at least one of the six: a
  // worker alternates, and with six connections some worker takes two or more.
  Pilotfish pf(proxyYaml(port, {endpoint(refused), endpoint(redis.port())}));
  for (int i = 0; i < 6; ++i) {
    auto r = redisCli(port, {"PING"});
    ASSERT_TRUE(r.ok()) << r.out << r.err;
    EXPECT_EQ(trimmed(r.out), "PONG") << "attempt " << i;
  }
  EXPECT_GT(pf.metric(cm("pilotfish_cluster_upstream_connect_failures_total")), 0);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_unavailable_total")), 0);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connections_total")), 6);
}

TEST(TcpProxy, AllEndpointsRefusingClosesClient) {
  uint16_t refused1 = freePort();
  uint16_t refused2 = freePort();
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(refused1), endpoint(refused2)}));

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.sendAll("PING\r\n"));
  std::string got;
  auto end = c.waitClosed(3s, &got);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  EXPECT_EQ(got, "") << "nothing may be answered for an unreachable cluster";

  EXPECT_EQ(pf.waitMetric(cm("pilotfish_cluster_upstream_unavailable_total"),
                          [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connect_failures_total")), 2)
      << "both endpoints tried once";
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_accepted_total")), 1);
  EXPECT_EQ(
      pf.waitMetric(lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }),
      0);
}

TEST(TcpProxy, ConnectTimeoutMovesToNextEndpoint) {
  // An endpoint that never completes the handshake: a listener with a full accept queue drops
  // further SYNs.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(lfd, 0);
  uint16_t blackhole = freePort();
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(blackhole);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(lfd, 0), 0);
  std::vector<TcpClient> fillers;
  bool full = false;
  for (int i = 0; i < 16 && !full; ++i) {
    TcpClient f;
    if (f.connect(blackhole, 300ms) != 0) {
      full = true;
    } else {
      fillers.push_back(std::move(f));
    }
  }
  if (!full) {
    ::close(lfd);
    GTEST_SKIP() << "could not make a listener that drops SYNs on this kernel";
  }

  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(blackhole), endpoint(echo.port())}, "", 1,
                         "connect_timeout: 200ms"));
  // Round robin starts at a random endpoint: of two consecutive connections exactly one tries
  // the blackhole first, waits for connect_timeout and moves on to the echo server.
  int waited = 0;
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.echoRoundTrip("hello", 5s)) << "connection " << i;
    if (i < 2 && msSince(t0) >= 150) ++waited;
  }
  EXPECT_EQ(waited, 1) << "one of the first two connections waited for connect_timeout";
  EXPECT_GE(pf.metric(cm("pilotfish_cluster_upstream_connect_timeouts_total")), 1);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_unavailable_total")), 0);
  EXPECT_EQ(echo.accepted(), 3);
  ::close(lfd);
}

TEST(TcpProxy, BackendResetMidStreamResetsClient) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}));

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.echoRoundTrip("first half of the stream"));
  ASSERT_EQ(pf.metric(lm("pilotfish_listener_connections_active")), 1);

  echo.abortAll();  // the backend dies: RST
  auto end = c.waitClosed(3s);
  // A reset upstream must not look like a clean end of stream to the client.
  EXPECT_EQ(end, ReadEnd::kReset) << toString(end);
  // Without any action from the client, the pair is gone.
  EXPECT_EQ(pf.waitMetric(
                lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }, 3s),
            0);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_closed_total")), 1);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connections_active")), 0);
}

TEST(TcpProxy, RedisKilledMidRequest) {
  Redis redis;
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(redis.port())}));

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.sendAll("PING\r\n"));
  std::string got;
  ASSERT_EQ(c.recvAtLeast(got, 7, 3s), ReadEnd::kData);
  ASSERT_EQ(got, "+PONG\r\n");
  // A blocking command: redis holds the reply back, the client waits mid-request.
  ASSERT_TRUE(c.sendAll("*3\r\n$5\r\nBLPOP\r\n$5\r\nqueue\r\n$1\r\n0\r\n"));
  ASSERT_TRUE(waitFor(
      [&] {
        return redis.cli({"INFO", "clients"}).find("blocked_clients:1") != std::string::npos;
      },
      3s))
      << "redis did not get the BLPOP";

  auto t0 = Clock::now();
  redis.process().signal(SIGKILL);
  got.clear();
  auto end = c.waitClosed(3s, &got);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  EXPECT_LT(msSince(t0), 3000);
  EXPECT_EQ(got, "");
  c.close();
  EXPECT_EQ(pf.waitMetric(
                lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }, 3s),
            0);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connections_active")), 0);
  // The next client finds no backend and is closed. (Only once redis is reaped: a process
  // killed by SIGKILL may still hold its listening socket after its connections are gone.)
  ASSERT_TRUE(redis.process().wait(5s));
  TcpClient d;
  ASSERT_EQ(d.connect(port), 0);
  auto end2 = d.waitClosed(3s);
  EXPECT_TRUE(end2 == ReadEnd::kEof || end2 == ReadEnd::kReset) << toString(end2);
  EXPECT_EQ(pf.waitMetric(cm("pilotfish_cluster_upstream_unavailable_total"),
                          [](double v) { return v >= 1; }),
            1);
}

TEST(TcpProxy, HalfCloseFromClientStillDeliversFullReply) {
  TestServer echo(TestServer::Mode::kEcho);  // echoes until EOF, then closes
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}));

  // Much larger than the proxy's 16 KiB buffers and the socket buffers in between.
  std::string data = randomBytes(4 * 1024 * 1024);
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  auto [got, end] = c.exchange(data, /*half_close=*/true, 10s);
  EXPECT_EQ(end, ReadEnd::kEof) << toString(end);
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data) << "echoed bytes differ";
  EXPECT_EQ(echo.eofs(), 1) << "the client's FIN reached the upstream";
  c.close();
  EXPECT_EQ(pf.waitMetric(
                lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }, 3s),
            0);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_received_bytes_total")), data.size());
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_sent_bytes_total")), data.size());
}

TEST(TcpProxy, HalfCloseFromUpstreamKeepsClientDirectionOpen) {
  TestServer srv(TestServer::Mode::kGreetHalfClose);  // "bye\n", FIN, then reads until EOF
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(srv.port())}));

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string got;
  ASSERT_EQ(c.recvAtLeast(got, 4, 3s), ReadEnd::kData);
  EXPECT_EQ(got, "bye\n");
  EXPECT_EQ(c.recvSome(got, 3s), ReadEnd::kEof) << "the upstream's FIN reaches the client";

  // The other direction is still open: everything the client sends arrives.
  std::string data = randomBytes(512 * 1024, 7);
  ASSERT_TRUE(c.sendAll(data, 5s));
  EXPECT_TRUE(waitFor([&] { return srv.bytesIn() == data.size(); }, 5s)) << srv.bytesIn();
  EXPECT_EQ(srv.eofs(), 0);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_active")), 1);
  c.shutdownWrite();
  EXPECT_TRUE(waitFor([&] { return srv.eofs() == 1; }, 3s));
  EXPECT_EQ(pf.waitMetric(
                lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }, 3s),
            0);
}

TEST(TcpProxy, IdleTimeoutClosesIdlePair) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}, "idle_timeout: 300ms"));

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  // Traffic every 100ms for ~1.2s (four idle_timeouts): the pair stays open.
  for (int i = 0; i < 12; ++i) {
    ASSERT_TRUE(c.echoRoundTrip("tick" + std::to_string(i))) << "round trip " << i;
    std::this_thread::sleep_for(100ms);  // pacing, not synchronisation
  }
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_idle_timeouts_total")), 0);

  auto t0 = Clock::now();
  auto end = c.waitClosed(3s);
  double elapsed = msSince(t0);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  EXPECT_GE(elapsed, 150) << "closed before idle_timeout";
  EXPECT_LT(elapsed, 2000);
  EXPECT_EQ(
      pf.waitMetric(lm("pilotfish_listener_idle_timeouts_total"), [](double v) { return v >= 1; }),
      1);
  EXPECT_TRUE(waitFor([&] { return echo.open() == 0; }, 3s)) << "upstream side closed too";
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_active")), 0);
}

TEST(TcpProxy, MaxConnectionsClosesOverflowAtOnce) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}, "max_connections: 2"));

  TcpClient c1, c2, c3;
  ASSERT_EQ(c1.connect(port), 0);
  ASSERT_TRUE(c1.echoRoundTrip("one"));
  ASSERT_EQ(c2.connect(port), 0);
  ASSERT_TRUE(c2.echoRoundTrip("two"));

  ASSERT_EQ(c3.connect(port), 0);  // the kernel accepts; pilotfish closes it
  auto t0 = Clock::now();
  auto end = c3.waitClosed(3s);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  EXPECT_LT(msSince(t0), 1000);
  EXPECT_EQ(pf.waitMetric(lm("pilotfish_listener_connections_overflow_total"),
                          [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(echo.accepted(), 2) << "an overflowing connection gets no upstream";
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_active")), 2);
  // The first two still work.
  EXPECT_TRUE(c1.echoRoundTrip("one again"));
  EXPECT_TRUE(c2.echoRoundTrip("two again"));

  // A slot frees up when one closes.
  c1.close();
  ASSERT_EQ(pf.waitMetric(
                lm("pilotfish_listener_connections_active"), [](double v) { return v == 1; }, 3s),
            1);
  TcpClient c4;
  ASSERT_EQ(c4.connect(port), 0);
  EXPECT_TRUE(c4.echoRoundTrip("four"));
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_overflow_total")), 1);
}

TEST(TcpProxy, BackpressureClientToStuckUpstreamKeepsMemoryBounded) {
  TestServer hold(TestServer::Mode::kHold);  // accepts, never reads
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(hold.port())}));

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(waitFor([&] { return hold.accepted() == 1; }, 3s));
  long rss0 = rssKiB(pf.pid());
  ASSERT_GT(rss0, 0);

  // Push up to 256 MiB with non-blocking sends; it must stall long before that.
  const std::size_t kChunk = 256 * 1024;
  const std::size_t kAttempt = 256u * 1024 * 1024;
  std::string chunk = randomBytes(kChunk, 3);
  std::size_t sent = 0;
  bool stalled = false;
  while (sent < kAttempt) {
    long n = c.sendSome(chunk.data(), chunk.size());
    ASSERT_GE(n, 0) << "send failed: " << std::strerror(static_cast<int>(-n));
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    pollfd p{c.fd(), POLLOUT, 0};
    if (::poll(&p, 1, 1000) == 0) {  // proving that the send stays blocked
      stalled = true;
      break;
    }
  }
  long rss1 = rssKiB(pf.pid());
  RecordProperty("bytes_sent_before_stall", std::to_string(sent));
  EXPECT_TRUE(stalled) << "sent " << sent << " bytes without blocking";
  EXPECT_LT(sent, 64u * 1024 * 1024) << "far more buffered than socket buffers explain";
  EXPECT_LT(rss1 - rss0, 64 * 1024)
      << "pilotfish RSS grew from " << rss0 << " KiB to " << rss1 << " KiB";
  double rx = pf.metric(lm("pilotfish_listener_received_bytes_total"));
  EXPECT_LT(rx, 64.0 * 1024 * 1024);
  EXPECT_GT(rx, 0);
}

TEST(TcpProxy, BackpressureUpstreamToNonReadingClientKeepsMemoryBounded) {
  TestServer flood(TestServer::Mode::kFlood);  // writes as fast as it may, never reads
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(flood.port())}));
  long rss0 = rssKiB(pf.pid());
  ASSERT_GT(rss0, 0);

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);  // and never reads until told below
  ASSERT_TRUE(waitFor([&] { return flood.bytesOut() > 0; }, 3s));
  // Stalled: the flooder's byte count stops moving for 1s.
  uint64_t last = 0;
  bool stalled = waitFor(
      [&] {
        uint64_t before = flood.bytesOut();
        std::this_thread::sleep_for(1000ms);
        last = flood.bytesOut();
        return last == before || last > 256u * 1024 * 1024;
      },
      15s);
  long rss1 = rssKiB(pf.pid());
  EXPECT_TRUE(stalled);
  EXPECT_LT(last, 64u * 1024 * 1024) << "the upstream could write " << last << " bytes";
  EXPECT_LT(rss1 - rss0, 64 * 1024)
      << "pilotfish RSS grew from " << rss0 << " KiB to " << rss1 << " KiB";
  // It was backpressure, not a dead connection: reading lets the upstream write again.
  std::string got;
  ASSERT_EQ(c.recvAtLeast(got, last + 1024 * 1024, 10s), ReadEnd::kData);
  EXPECT_GT(flood.bytesOut(), last);
}

TEST(TcpProxy, WeightZeroEndpointNeverGetsConnections) {
  TestServer zero(TestServer::Mode::kEcho);
  TestServer one(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {"{address: " + endpoint(zero.port()) + ", weight: 0}",
                                "{address: " + endpoint(one.port()) + ", weight: 1}"}));
  for (int i = 0; i < 10; ++i) {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.echoRoundTrip("x" + std::to_string(i)));
  }
  EXPECT_EQ(zero.accepted(), 0);
  EXPECT_EQ(one.accepted(), 10);
}

TEST(TcpProxy, WeightZeroEndpointIsNotAFailoverTarget) {
  TestServer zero(TestServer::Mode::kEcho);
  uint16_t refused = freePort();
  uint16_t port = freePort();
  Pilotfish pf(
      proxyYaml(port, {"{address: " + endpoint(zero.port()) + ", weight: 0}", endpoint(refused)}));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  auto end = c.waitClosed(3s);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  EXPECT_EQ(pf.waitMetric(cm("pilotfish_cluster_upstream_unavailable_total"),
                          [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(zero.accepted(), 0);
}

TEST(TcpProxy, WeightedRoundRobin) {
  TestServer a(TestServer::Mode::kEcho);
  TestServer b(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port,
                         {"{address: " + endpoint(a.port()) + ", weight: 1}",
                          "{address: " + endpoint(b.port()) + ", weight: 3}"},
                         "", 1));
  for (int i = 0; i < 12; ++i) {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.echoRoundTrip("w" + std::to_string(i)));
  }
  EXPECT_EQ(a.accepted(), 3);
  EXPECT_EQ(b.accepted(), 9);
}

TEST(TcpProxy, CountersMergeAcrossWorkers) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}, "", 4));
  std::size_t bytes = 0;
  for (int i = 0; i < 40; ++i) {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    std::string msg = "message number " + std::to_string(i);
    ASSERT_TRUE(c.echoRoundTrip(msg));
    bytes += msg.size();
  }
  EXPECT_EQ(pf.waitMetric(lm("pilotfish_listener_connections_closed_total"),
                          [](double v) { return v == 40; }),
            40);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_accepted_total")), 40);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_active")), 0);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_received_bytes_total")), bytes);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_sent_bytes_total")), bytes);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connections_total")), 40);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connection_duration_seconds_count")), 40);
  EXPECT_EQ(pf.metric("pilotfish_listener_connection_duration_seconds_bucket{listener=\"front\","
                      "le=\"+Inf\"}"),
            40);
  EXPECT_EQ(pf.metric("pilotfish_server_workers"), 4);
  EXPECT_EQ(echo.accepted(), 40);
}

TEST(TcpProxy, ClientResetPropagatesToUpstream) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.echoRoundTrip("before the reset"));
  c.abort();  // RST
  EXPECT_TRUE(waitFor([&] { return echo.open() == 0; }, 3s)) << "upstream still open";
  EXPECT_EQ(echo.eofs(), 0) << "the upstream saw a clean EOF: a reset was turned into a FIN";
  EXPECT_EQ(pf.waitMetric(
                lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }, 3s),
            0);
}

TEST(TcpProxy, Ipv6ListenerToIpv4Endpoint) {
  {
    // Skip where ::1 is not usable.
    int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok) GTEST_SKIP() << "no IPv6 loopback here";
  }
  Redis redis;
  uint16_t port = freePort();
  std::string yaml = render(R"(workers: 1
clusters:
  - name: backend
    endpoints: [127.0.0.1:${UP}]
listeners:
  - {name: front, address: "[::1]:${PORT}", protocol: tcp, cluster: backend}
)",
                            {{"UP", std::to_string(redis.port())}, {"PORT", std::to_string(port)}});
  Pilotfish pf(yaml);
  auto r = runCommand({"redis-cli", "-h", "::1", "-p", std::to_string(port), "PING"}, 10s);
  ASSERT_TRUE(r.ok()) << r.out << r.err;
  EXPECT_EQ(trimmed(r.out), "PONG");
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_accepted_total")), 1);
}

// Out of file descriptors: accept fails with EMFILE; the listener pauses and counts it instead
// of spinning, and resumes once descriptors are free again. (While pilotfish is out of
// descriptors its admin API cannot accept either, so the pause is first seen in the log and
// counted only afterwards.)
TEST(TcpProxy, AcceptPausesWhenOutOfDescriptors) {
  TestServer echo(TestServer::Mode::kEcho);
  // Each proxied connection takes two descriptors (client + upstream). Whether the last free
  // descriptor is taken by accept() (-> EMFILE on the next accept) or by the upstream socket
  // (-> that connection fails instead) depends on the parity of the descriptors pilotfish uses
  // for itself, so try two limits of different parity; at least one must pause.
  bool paused_somewhere = false;
  for (uint64_t limit : {40, 41}) {
    SCOPED_TRACE("RLIMIT_NOFILE " + std::to_string(limit));
    uint16_t port = freePort();
    Pilotfish::Options o;
    o.nofile = std::make_pair(limit, limit);
    Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}, "", 1), o);
    auto emfileLogged = [&] {
      return pf.output().find("Too many open files") != std::string::npos;
    };

    std::vector<TcpClient> clients;
    for (int i = 0; i < 40; ++i) {
      TcpClient c;
      ASSERT_EQ(c.connect(port), 0);  // completes in the kernel's backlog even unaccepted
      ASSERT_TRUE(c.sendAll("ping"));
      clients.push_back(std::move(c));
    }
    const bool paused = waitFor(emfileLogged, 2s);
    if (paused) {
      paused_somewhere = true;

      // Paused, not spinning: little CPU over one second (a busy loop burns ~1s).
      double cpu0 = cpuSeconds(pf.pid());
      std::this_thread::sleep_for(1s);  // measuring that nothing happens
      double cpu1 = cpuSeconds(pf.pid());
      EXPECT_LT(cpu1 - cpu0, 0.5) << "CPU seconds used while out of descriptors";
      EXPECT_TRUE(pf.process().running());

      // Which clients were served, which wait in the backlog? (A client accepted with the
      // last free descriptor may also have been closed: its upstream socket could not be
      // opened.)
      std::vector<std::size_t> served, waiting;
      int closed_by_proxy = 0;
      for (std::size_t i = 0; i < clients.size(); ++i) {
        std::string got;
        auto r = clients[i].recvAtLeast(got, 4, 20ms);
        if (r == ReadEnd::kData && got == "ping") {
          served.push_back(i);
        } else if (r == ReadEnd::kTimeout) {
          waiting.push_back(i);
        } else {
          ++closed_by_proxy;
        }
      }
      RecordProperty("closed_while_out_of_descriptors_" + std::to_string(limit), closed_by_proxy);
      EXPECT_FALSE(served.empty());
      // Free descriptors: the listener resumes and serves connections queued during the pause.
      for (auto i : served) clients[i].close();
      int served_after = 0;
      auto deadline = Clock::now() + 5s;
      for (auto i : waiting) {
        std::string got;
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left < 50ms) left = 50ms;
        if (clients[i].recvAtLeast(got, 4, left) == ReadEnd::kData && got == "ping") {
          ++served_after;
        }
      }
      if (!waiting.empty()) {
        EXPECT_GT(served_after, 0) << "none of the " << waiting.size()
                                   << " connections queued during the pause was served after "
                                      "descriptors were freed";
      }
    }
    clients.clear();
    // Let pilotfish get its descriptors back before talking to its admin API or stopping it.
    // (Besides, in sanitizer builds UBSan's vptr check needs a free descriptor itself: it
    // probes memory through a pipe and reports a bogus "invalid vptr" while there is none.)
    EXPECT_TRUE(waitFor([&] { return openFds(pf.pid()) <= static_cast<int>(limit) - 10; }, 10s))
        << openFds(pf.pid()) << " descriptors still open";
    if (paused) {
      TcpClient fresh;  // accepting again
      ASSERT_EQ(fresh.connect(port), 0);
      EXPECT_TRUE(fresh.echoRoundTrip("after the pause", 5s));
      EXPECT_GE(pf.waitMetric(lm("pilotfish_listener_accept_paused_total"),
                              [](double v) { return v >= 1; }),
                1);
      double pauses = pf.metric(lm("pilotfish_listener_accept_paused_total"));
      EXPECT_LT(pauses, 200) << "paused " << pauses << " times in a few seconds";
    }
  }
  EXPECT_TRUE(paused_somewhere) << "accept never paused with 40 connections and a low limit";
}

TEST(TcpProxy, ManyConcurrentConnections) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t port = freePort();
  Pilotfish pf(proxyYaml(port, {endpoint(echo.port())}));
  constexpr int kConns = 200;
  std::vector<TcpClient> clients(kConns);
  for (int i = 0; i < kConns; ++i) ASSERT_EQ(clients[i].connect(port), 0) << i;
  for (int i = 0; i < kConns; ++i) ASSERT_TRUE(clients[i].sendAll("c" + std::to_string(i) + ";"));
  for (int i = 0; i < kConns; ++i) {
    std::string want = "c" + std::to_string(i) + ";";
    std::string got;
    ASSERT_EQ(clients[i].recvAtLeast(got, want.size(), 5s), ReadEnd::kData) << i;
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_active")), kConns);
  EXPECT_EQ(pf.metric(cm("pilotfish_cluster_upstream_connections_active")), kConns);
  clients.clear();
  EXPECT_EQ(
      pf.waitMetric(lm("pilotfish_listener_connections_active"), [](double v) { return v == 0; }),
      0);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_closed_total")), kConns);
  EXPECT_TRUE(waitFor([&] { return echo.open() == 0; }, 5s));
}

}  // namespace
}  // namespace pilotfish::it
