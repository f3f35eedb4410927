// `dns:` discovery end to end: the built binary resolves names at the test DNS server
// (tests/integration/backends/dns_server.py) and routes TCP connections to what the records say,
// following TTLs, through failures of the server.

#include <gtest/gtest.h>

#include <string>

#include "integration/harness/discovery.h"
#include "integration/harness/dns_records.h"
#include "integration/harness/dns_server.h"
#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;
using ::pilotfish::testing::dns::withFailure;

std::string dm(const std::string& name, const std::string& cluster = "backend") {
  return name + "{cluster=\"" + cluster + "\",store=\"dns\"}";
}

// web.service.consul: SRV to a.node.consul:<port> (additional A record included).
std::string srv(uint16_t port, int ttl, const std::string& extra = "") {
  return render(R"({"additional": true, "records": [
    {"name": "web.service.consul", "type": "SRV", "ttl": ${TTL}, "priority": 1, "weight": 1,
     "port": ${PORT}, "target": "a.node.consul"},
    {"name": "a.node.consul", "type": "A", "ttl": ${TTL}, "address": "127.0.0.1"}${EXTRA}]})",
                {{"TTL", std::to_string(ttl)}, {"PORT", std::to_string(port)}, {"EXTRA", extra}});
}

struct Fixture {
  uint16_t port = freePort();

  std::string yaml(const DnsServer& dns, const std::string& cluster_dns,
                   const std::string& cluster_extra = "") {
    return render(R"(workers: 2
discovery:
  d1: {type: dns, servers: [${DNS}], min_ttl: 200ms, max_ttl: 10s, timeout: 300ms}
clusters:
  - name: backend
    dns: {source: d1, ${CLUSTER_DNS}}
    connect_timeout: 1s${CLUSTER}
listeners:
  - {name: front, address: 127.0.0.1:${PORT}, protocol: tcp, cluster: backend}
)",
                  {{"DNS", dns.address()},
                   {"CLUSTER_DNS", cluster_dns},
                   {"CLUSTER", cluster_extra},
                   {"PORT", std::to_string(port)}});
  }

  bool roundTrip() const {
    TcpClient c;
    if (c.connect(port) != 0) return false;
    return c.echoRoundTrip("ping");
  }
};

TEST(DnsDiscovery, SrvIsRoutedAndAChangeFollowsTheTtl) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  DnsServer dns(srv(a.port(), 1));
  Pilotfish pf(f.yaml(dns, "name: web.service.consul"));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(pf.metric(dm("pilotfish_discovery_connected")), 1);
  EXPECT_EQ(dns.queries("a.node.consul", "A"), 0) << "the additional section was not used";

  const auto changed = Clock::now();
  dns.setRecords(srv(b.port(), 1));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}, 5000ms));
  EXPECT_LE(msSince(changed), 3500) << "a TTL of 1 s must be followed within about a second";
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(b.accepted(), 1);
  auto ep = clusterState(pf, "backend").at("endpoints").as_array().at(0).as_object();
  EXPECT_EQ(ep.at("id").as_string(), loopback(b.port()));
}

TEST(DnsDiscovery, ARecordsTakeTheClusterPort) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  DnsServer dns(R"({"records": [{"name": "redis.test", "type": "A", "ttl": 30,
                                 "address": "127.0.0.1"}]})");
  Pilotfish pf(f.yaml(dns, "name: redis.test, type: A, port: " + std::to_string(a.port())));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);
}

TEST(DnsDiscovery, ServfailAndAServerDownKeepRoutingThenResync) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  DnsServer dns(srv(a.port(), 0));
  Pilotfish pf(f.yaml(dns, "name: web.service.consul"));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));

  dns.setRecords(withFailure(srv(b.port(), 0), "web.service.consul", "servfail"));
  pf.waitMetric(dm("pilotfish_discovery_errors_total"), [](double v) { return v >= 1; });
  EXPECT_EQ(pf.metric(dm("pilotfish_discovery_connected")), 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.roundTrip()) << "the last good set must still route";
  EXPECT_EQ(a.accepted(), 3);

  dns.stop();
  const double errors = pf.metric(dm("pilotfish_discovery_errors_total"));
  pf.waitMetric(dm("pilotfish_discovery_errors_total"), [&](double v) { return v > errors; });
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 4);

  // Back, with what changed while it was away.
  dns.setRecords(srv(b.port(), 0));
  dns.start();
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}, 40000ms));
  pf.waitMetric(dm("pilotfish_discovery_connected"), [](double v) { return v == 1; });
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(b.accepted(), 1);
}

TEST(DnsDiscovery, NxdomainIsAnEmptyAnswerKeptUnlessAllowEmpty) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  DnsServer dns(srv(a.port(), 0));
  Pilotfish keep(f.yaml(dns, "name: web.service.consul"));
  Fixture g;
  Pilotfish apply(g.yaml(dns, "name: web.service.consul", "\n    allow_empty: true"));
  ASSERT_TRUE(waitEndpoints(keep, "backend", {loopback(a.port())}));
  ASSERT_TRUE(waitEndpoints(apply, "backend", {loopback(a.port())}));

  dns.setRecords(R"({"records": []})");
  ASSERT_TRUE(waitEndpoints(apply, "backend", {}));
  keep.waitMetric(dm("pilotfish_discovery_empty_ignored_total"), [](double v) { return v >= 1; });
  EXPECT_GE(keep.metric(dm("pilotfish_discovery_empty_ignored_total")), 1);
  EXPECT_EQ(clusterEndpoints(keep, "backend"), std::set<std::string>{loopback(a.port())});
  EXPECT_EQ(keep.metric(dm("pilotfish_discovery_errors_total")), 0);
  ASSERT_TRUE(f.roundTrip());
}

TEST(DnsDiscovery, TtlZeroIsFlooredByMinTtl) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  DnsServer dns(srv(a.port(), 0));
  Pilotfish pf(f.yaml(dns, "name: web.service.consul"));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  const int before = dns.queries("web.service.consul", "SRV");
  const auto t0 = Clock::now();
  ASSERT_TRUE(waitFor([] { return false; }, 2000ms) == false);
  const double seconds = msSince(t0) / 1000.0;
  const int during = dns.queries("web.service.consul", "SRV") - before;
  // min_ttl 200 ms: about 5 queries a second, never a busy loop.
  EXPECT_GE(during, 4) << "in " << seconds << " s";
  EXPECT_LE(during, static_cast<int>(seconds * 5) + 2) << "in " << seconds << " s";
}

}  // namespace
}  // namespace pilotfish::it
