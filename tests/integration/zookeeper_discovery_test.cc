// `zookeeper:` discovery end to end: the built binary reads SmartStack nerve znodes from a real
// ZooKeeper 3.8 started by the test and routes TCP connections to the registered endpoints; a
// separate session (ZkClient) plays nerve / go-nerve. The cache's own rules are tested in
// file_discovery_test.cc; this suite tests what the ZooKeeper watcher adds.

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <thread>

#include <boost/json/serialize.hpp>

#include "integration/harness/discovery.h"
#include "integration/harness/harness.h"
#include "integration/harness/zookeeper_server.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;

std::string cm(const std::string& name) {
  return name + "{cluster=\"backend\",store=\"zookeeper\"}";
}

struct Fixture {
  ZooKeeperServer zk;
  uint16_t port = freePort();
  std::string path = "/services/backend";
  std::string session_timeout = "2s";

  /// `servers` defaults to the server itself (a relay's address to partition pilotfish).
  std::string yaml(const std::string& source_extra = "", const std::string& servers = "") const {
    return render(R"(workers: 2
discovery:
  zk: {type: zookeeper, servers: [${SERVERS}], session_timeout: ${TIMEOUT} ${SOURCE}}
clusters:
  - name: backend
    zookeeper: {source: zk, path: ${PATH}}
    connect_timeout: 1s
listeners:
  - {name: front, address: 127.0.0.1:${PORT}, protocol: tcp, cluster: backend}
)",
                  {{"SERVERS", servers.empty() ? zk.address() : servers},
                   {"SOURCE", source_extra},
                   {"TIMEOUT", session_timeout},
                   {"PATH", path},
                   {"PORT", std::to_string(port)}});
  }

  /// nerve registers `name` (an airbnb nerve node for 127.0.0.1:port); returns its path.
  std::string announce(ZkClient& nerve, const std::string& name, uint16_t port) const {
    return nerve.createEphemeralSequential(path + "/" + name + "_",
                                           airbnbNerveData("127.0.0.1", port, name));
  }

  bool roundTrip(const std::string& text = "ping") const {
    TcpClient c;
    if (c.connect(port) != 0) return false;
    return c.echoRoundTrip(text);
  }
};

TEST(ZookeeperDiscovery, RegisteredNodesAreRoutedAndDeregisteredOnesAreNot) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  ZkClient nerve(f.zk.address());
  std::string na = f.announce(nerve, "i-0abc", a.port());
  Pilotfish pf(f.yaml());
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_connected")), 1);

  // go-nerve registers (protected ephemeral sequential name); traffic spreads over both.
  nerve.createEphemeralSequential(
      f.path + "/_c_5f1d3c0e9a8b47d2a1c4e6f7b8d9e0a1-backend_127.0.0.1_",
      goNerveData("127.0.0.1", b.port(), "backend", true, 255, R"({"zone": "z1"})"));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port()), loopback(b.port())}));
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(f.roundTrip());
  EXPECT_GT(b.accepted(), 0);
  bool zoned = false;
  auto state = clusterState(pf, "backend");
  for (const auto& e : state.at("endpoints").as_array()) {
    if (e.at("address").as_string() == loopback(b.port())) {
      zoned = e.at("zone").as_string() == "z1" && e.at("weight").as_int64() == 255;
    }
  }
  EXPECT_TRUE(zoned) << boost::json::serialize(state);

  // nerve deregisters a: nothing goes there any more.
  nerve.remove(na);
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}));
  int before = a.accepted();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), before);
}

TEST(ZookeeperDiscovery, GoNerveRewritesInPlaceAreFollowed) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  ZkClient nerve(f.zk.address());
  f.announce(nerve, "i-a", a.port());
  std::string nb = nerve.createEphemeralSequential(
      f.path + "/_c_00000000000000000000000000000001-backend_127.0.0.1_",
      goNerveData("127.0.0.1", b.port(), "backend"));
  Pilotfish pf(f.yaml());
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port()), loopback(b.port())}));

  // The check fails: go-nerve rewrites its node with available: false.
  nerve.set(nb, goNerveData("127.0.0.1", b.port(), "backend", false, 0));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  int before = b.accepted();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(b.accepted(), before);
  EXPECT_GE(pf.metric(cm("pilotfish_discovery_instances_skipped_total")), 1);

  // Back, warming up with a low weight.
  nerve.set(nb, goNerveData("127.0.0.1", b.port(), "backend", true, 7));
  ASSERT_TRUE(waitFor(
      [&] {
        auto state = clusterState(pf, "backend");
        for (const auto& e : state.at("endpoints").as_array()) {
          if (e.at("address").as_string() == loopback(b.port()) && e.at("weight").as_int64() == 7)
            return true;
        }
        return false;
      },
      5000ms));
}

TEST(ZookeeperDiscovery, MalformedNodesAreSkippedAndCountedTheRestIsRouted) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  ZkClient nerve(f.zk.address());
  f.announce(nerve, "i-good", a.port());
  nerve.createEphemeralSequential(f.path + "/i-json_", "{\"host\": ");
  nerve.createEphemeralSequential(f.path + "/i-noport_", R"({"host": "127.0.0.1"})");
  nerve.createEphemeralSequential(f.path + "/i-bigport_",
                                  R"({"host": "127.0.0.1", "port": 70000})");
  Pilotfish pf(f.yaml());
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(pf.waitMetric(cm("pilotfish_discovery_instances_skipped_total"),
                          [](double v) { return v == 3; }),
            3);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_rejected_total")), 0);
}

TEST(ZookeeperDiscovery, StoreDownKeepsTrafficFlowingAndTheSessionSurvivesARestart) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  ZkClient nerve(f.zk.address());
  std::string na = f.announce(nerve, "i-a", a.port());
  Pilotfish pf(f.yaml());
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));

  f.zk.stop();
  pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 0; });
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_stale")), 1);
  EXPECT_GE(pf.metric(cm("pilotfish_discovery_errors_total")), 1);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.roundTrip()) << "the last set keeps routing";
  EXPECT_EQ(clusterEndpoints(pf, "backend"), (std::set<std::string>{loopback(a.port())}));

  // Back within the session timeout: same session, watches still armed; changes are seen.
  f.zk.start();
  f.announce(nerve, "i-b", b.port());
  nerve.remove(na);
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}, 10000ms));
  pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 1; });
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_stale")), 0);
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(b.accepted(), 1);
}

TEST(ZookeeperDiscovery, AnExpiredSessionIsReplacedAndEverythingReadAgain) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  ZkClient nerve(f.zk.address());
  std::string na = f.announce(nerve, "i-a", a.port());
  // pilotfish reaches ZooKeeper through a relay the test can cut (a network partition).
  TcpRelay relay(f.zk.port());
  f.session_timeout = "800ms";
  Pilotfish pf(f.yaml("", relay.address()));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));

  relay.pause();
  pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 0; });
  // While away (longer than the session: the server expires it), the registry changes.
  nerve.remove(na);
  f.announce(nerve, "i-b", b.port());
  auto until = Clock::now() + 2000ms;
  while (Clock::now() < until) {
    ASSERT_TRUE(f.roundTrip()) << "the last set keeps routing while partitioned";
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(clusterEndpoints(pf, "backend"), (std::set<std::string>{loopback(a.port())}));

  relay.resume();
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}, 10000ms));
  pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 1; });
  EXPECT_NE(pf.output().find("session expired"), std::string::npos) << pf.output();
  int before = a.accepted();
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), before);
  EXPECT_EQ(b.accepted(), 1);
}

TEST(ZookeeperDiscovery, ChrootAndDigestAuth) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  ZkClient nerve(f.zk.address());
  nerve.addDigestAuth("pilotfish:s3cret");
  nerve.createEphemeralSequential("/smartstack" + f.path + "/i-a_",
                                  airbnbNerveData("127.0.0.1", a.port(), "a"), true);
  std::string cred = writeTempFile("pilotfish:s3cret\n", ".cred");
  Pilotfish pf(
      f.yaml(", chroot: /smartstack, auth: {scheme: digest, credentials_file: " + cred + "}"));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(pf.output().find("s3cret"), std::string::npos) << "credentials must never be logged";
}

}  // namespace
}  // namespace pilotfish::it
