// etcd discovery end to end: the built binary watches a prefix in a real etcd 3.4 member started
// by the test (etcdctl plays the registrar) and routes TCP connections to the instances it finds.
// The watcher's finer cases (compaction, prefix isolation, stop with calls in flight) are in
// tests/unit/discovery/etcd_watcher_test.cc.

#include <gtest/gtest.h>

#include "integration/harness/discovery.h"
#include "integration/harness/etcd_server.h"
#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;

std::string cm(const std::string& name) {
  return name + "{cluster=\"users\",store=\"etcd\"}";
}

std::string nerve(uint16_t port, const std::string& extra = "") {
  return R"({"host":"127.0.0.1","port":)" + std::to_string(port) + extra + "}";
}

struct Fixture {
  uint16_t port = freePort();

  std::string yaml(const std::vector<uint16_t>& etcd_ports, const std::string& root_extra = "",
                   const std::string& cluster_extra = "") const {
    std::string endpoints;
    for (auto p : etcd_ports) endpoints += (endpoints.empty() ? "" : ", ") + loopback(p);
    return render(R"(workers: 2
${ROOT}
discovery:
  store: {type: etcd, endpoints: [${ENDPOINTS}], timeout: 1s}
clusters:
  - name: users
    etcd: {source: store, prefix: /services/users}
    connect_timeout: 1s
    ${EXTRA}
listeners:
  - {name: front, address: 127.0.0.1:${PORT}, protocol: tcp, cluster: users}
)",
                  {{"ROOT", root_extra},
                   {"ENDPOINTS", endpoints},
                   {"EXTRA", cluster_extra},
                   {"PORT", std::to_string(port)}});
  }

  bool roundTrip() const {
    TcpClient c;
    if (c.connect(port) != 0) return false;
    return c.echoRoundTrip("ping");
  }
};

TEST(EtcdDiscovery, RoutesToRegisteredInstancesAndFollowsChanges) {
  EtcdServer etcd;
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  etcd.put("/services/users/i-a", nerve(a.port()));
  etcd.put("/services/users-v2/i-x", nerve(b.port()));  // another service: never routed
  Pilotfish pf(f.yaml({etcd.port()}));
  ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(a.port())}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 3);
  EXPECT_EQ(b.accepted(), 0);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_connected")), 1);

  // Registration, then deregistration of the first instance.
  etcd.put("/services/users/i-b", nerve(b.port(), R"(,"weight":5,"labels":{"zone":"z9"})"));
  ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(a.port()), loopback(b.port())}));
  etcd.del("/services/users/i-a");
  ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(b.port())}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 3);
  EXPECT_EQ(b.accepted(), 3);
  auto ep = clusterState(pf, "users").at("endpoints").as_array().at(0).as_object();
  EXPECT_EQ(ep.at("weight").as_int64(), 5);
  EXPECT_EQ(ep.at("zone").as_string(), "z9");
  EXPECT_EQ(ep.at("id").as_string(), "i-b");

  // In place: weight rewritten, then a malformed neighbour (skipped, counted), then go-nerve's
  // available:false takes i-b out of the set while a new instance comes in.
  etcd.put("/services/users/i-b", nerve(b.port(), R"(,"weight":9)"));
  ASSERT_TRUE(waitFor(
      [&] {
        auto eps = clusterState(pf, "users").at("endpoints").as_array();
        return eps.size() == 1 && eps.at(0).as_object().at("weight").as_int64() == 9;
      },
      5000ms));
  etcd.put("/services/users/broken", "{\"host\":");
  ASSERT_TRUE(waitFor(
      [&] { return pf.metric(cm("pilotfish_discovery_instances_skipped_total")) >= 1; }, 5000ms));
  etcd.put("/services/users/i-a", nerve(a.port()));
  etcd.put("/services/users/i-b", nerve(b.port(), R"(,"available":false)"));
  ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(a.port())}));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 4);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_rejected_total")), 0);
}

TEST(EtcdDiscovery, KilledStoreKeepsTheLastSetAndResyncsWhenBack) {
  EtcdServer etcd;
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  etcd.put("/services/users/i-a", nerve(a.port()));
  Pilotfish pf(f.yaml({etcd.port()}));
  ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(a.port())}));

  etcd.stop();
  ASSERT_EQ(pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 0; }), 0);
  // The watcher reports "disconnected" and the error as two posts to the control thread: a
  // scrape may fall between them, so the error count is waited for too.
  EXPECT_GE(pf.waitMetric(cm("pilotfish_discovery_errors_total"), [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_stale")), 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.roundTrip()) << "the last set keeps routing";
  EXPECT_EQ(clusterEndpoints(pf, "users"), std::set<std::string>{loopback(a.port())});

  etcd.start();
  etcd.put("/services/users/i-b", nerve(b.port()));
  etcd.del("/services/users/i-a");
  ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(b.port())}, 20000ms));
  ASSERT_EQ(pf.waitMetric(
                cm("pilotfish_discovery_connected"), [](double v) { return v == 1; }, 20000ms),
            1);
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(b.accepted(), 1);
}

TEST(EtcdDiscovery, FailsOverFromADeadEndpoint) {
  EtcdServer etcd;
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  etcd.put("/services/users/i-a", nerve(a.port()));
  uint16_t dead = freePort();
  Pilotfish pf(f.yaml({dead, etcd.port()}));
  ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(a.port())}, 10000ms));
  ASSERT_TRUE(f.roundTrip());
  // The set arrives with the Range; "connected" once the Watch stream is created just after.
  EXPECT_EQ(pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 1; }), 1);
}

TEST(EtcdDiscovery, CacheDirRoutesAfterARestartWhileTheStoreIsDown) {
  EtcdServer etcd;
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  std::string cache = makeTempDir("etcdcache");
  etcd.put("/services/users/i-a", nerve(a.port()));
  {
    Pilotfish pf(f.yaml({etcd.port()}, "cache_dir: " + cache));
    ASSERT_TRUE(waitEndpoints(pf, "users", {loopback(a.port())}));
    ASSERT_TRUE(waitFor(
        [&] { return pf.metric(cm("pilotfish_discovery_cache_writes_total")) >= 1; }, 5000ms));
  }
  etcd.stop();
  Pilotfish pf(f.yaml({etcd.port()}, "cache_dir: " + cache));
  EXPECT_EQ(clusterEndpoints(pf, "users"), std::set<std::string>{loopback(a.port())});
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_connected")), 0);
}

}  // namespace
}  // namespace pilotfish::it
