// `consul:` discovery end to end: the built binary follows the Consul test server
// (tests/integration/backends/consul_server.py) and routes TCP connections to what is registered
// there, through restarts of the store and of itself.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "integration/harness/consul_server.h"
#include "integration/harness/discovery.h"
#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;

std::string cm(const std::string& name) {
  return name + "{cluster=\"backend\",store=\"consul\"}";
}

struct Fixture {
  uint16_t port = freePort();

  std::string yaml(uint16_t consul_port, const std::string& source_extra = "",
                   const std::string& root_extra = "", const std::string& cluster_extra = "") {
    return render(R"(workers: 2
${ROOT}
discovery:
  c1: {type: consul, address: 127.0.0.1:${CONSUL}${SOURCE}}
clusters:
  - name: backend
    consul: {source: c1, service: users${CLUSTER}}
    connect_timeout: 1s
listeners:
  - {name: front, address: 127.0.0.1:${PORT}, protocol: tcp, cluster: backend}
)",
                  {{"ROOT", root_extra},
                   {"CONSUL", std::to_string(consul_port)},
                   {"SOURCE", source_extra},
                   {"CLUSTER", cluster_extra},
                   {"PORT", std::to_string(port)}});
  }

  /// One connection through the listener, echoed back by whichever backend it reached.
  bool roundTrip() const {
    TcpClient c;
    return c.connect(port) == 0 && c.echoRoundTrip("ping");
  }
};

/// pilotfish on `f`'s config, routing to `a` once registered in `consul` as users-a.
std::unique_ptr<Pilotfish> routedTo(Fixture& f, ConsulServer& consul, TestServer& a) {
  consul.registerSimple("users-a", "users", a.port());
  auto pf = std::make_unique<Pilotfish>(f.yaml(consul.port()));
  EXPECT_TRUE(waitEndpoints(*pf, "backend", {loopback(a.port())}));
  return pf;
}

TEST(ConsulDiscovery, RegisteredIsRoutedDeregisteredIsNot) {
  Fixture f;
  ConsulServer consul;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  auto pfp = routedTo(f, consul, a);
  Pilotfish& pf = *pfp;
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);

  consul.registerSimple("users-b", "users", b.port(), {"v2"});
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port()), loopback(b.port())}));
  consul.deregister("users-a");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(b.accepted(), 4);
  auto ep = clusterState(pf, "backend").at("endpoints").as_array().at(0).as_object();
  EXPECT_EQ(ep.at("id").as_string(), "users-b@node-dc1");
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_connected")), 1);

  // A failing check takes it out (passing_only is the default)...
  consul.registerSimple("users-a", "users", a.port());
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port()), loopback(b.port())}));
  consul.check("fail", "service:users-b");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  // ... and an instance Consul could not have sent whole is skipped and counted.
  consul.control(
      "inject?service=users&id=raw",
      R"({"Node":{"Node":"n9","Address":"127.0.0.1"},"Service":{"ID":"x"},"Checks":[]})");
  pf.waitMetric(cm("pilotfish_discovery_instances_skipped_total"), [](double v) { return v >= 1; });
  EXPECT_GE(pf.metric(cm("pilotfish_discovery_instances_skipped_total")), 1);
  EXPECT_EQ(clusterEndpoints(pf, "backend"), std::set<std::string>{loopback(a.port())});
}

TEST(ConsulDiscovery, StoreDownKeepsRoutingAndComesBackWithTheChanges) {
  Fixture f;
  ConsulServer consul;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  auto pfp = routedTo(f, consul, a);
  Pilotfish& pf = *pfp;

  consul.kill();
  pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 0; });
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_connected")), 0);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.roundTrip()) << "the last good set must still route";
  EXPECT_EQ(a.accepted(), 3);

  // Back (a restored server: empty catalog, lower index) with what changed meanwhile.
  consul.restart();
  consul.registerSimple("users-b", "users", b.port());
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}, 40000ms));
  pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 1; });
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(b.accepted(), 1);
  EXPECT_GE(pf.metric(cm("pilotfish_discovery_errors_total")), 1);
}

TEST(ConsulDiscovery, RestartWithCacheDirWhileTheStoreIsDownStillRoutes) {
  Fixture f;
  std::string cache = makeTempDir("consulcache");
  ConsulServer consul;
  TestServer a(TestServer::Mode::kEcho);
  consul.registerSimple("users-a", "users", a.port());
  std::string yaml = f.yaml(consul.port(), "", "cache_dir: " + cache);
  {
    Pilotfish pf(yaml);
    ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  }
  consul.kill();
  Pilotfish pf(yaml);
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  EXPECT_TRUE(discoveryFlag(pf, "backend", "from_cache"));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);
}

TEST(ConsulDiscovery, HttpsWithAclToken) {
  Fixture f;
  TestCa ca;
  TlsFiles client = ca.issue("consul-client", "pilotfish", {}, true);
  ConsulServer::Options o;
  o.tls_cert = ca.server_cert;
  o.tls_key = ca.server_key;
  o.tls_client_ca = ca.ca_cert;
  o.client_cert = client.cert;
  o.client_key = client.key;
  o.token = "s3cret";
  ConsulServer consul(o);
  TestServer a(TestServer::Mode::kEcho);
  consul.registerSimple("users-a", "users", a.port());
  std::string token = writeTempFile("s3cret\n", ".token");
  Pilotfish pf(f.yaml(consul.port(), ", token_file: " + token + ", tls: {ca_file: " + ca.ca_cert +
                                         ", cert_file: " + client.cert +
                                         ", key_file: " + client.key + "}"));
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(pf.output().find("s3cret"), std::string::npos) << "the token is never logged";
}

TEST(ConsulDiscovery, AnUntrustedServerCertificateIsAnError) {
  Fixture f;
  TestCa ca, other("other.pf.internal");
  ConsulServer::Options o;
  o.tls_cert = ca.server_cert;
  o.tls_key = ca.server_key;
  ConsulServer consul(o);
  consul.registerSimple("users-a", "users", 1234);
  Pilotfish::Options po;
  po.wait_ready = false;
  Pilotfish pf(f.yaml(consul.port(), ", tls: {ca_file: " + other.ca_cert + "}"), po);
  pf.waitMetric(cm("pilotfish_discovery_errors_total"), [](double v) { return v >= 1; });
  EXPECT_GE(pf.metric(cm("pilotfish_discovery_errors_total")), 1);
  EXPECT_TRUE(clusterEndpoints(pf, "backend").empty());
  EXPECT_NE(pf.output().find("TLS handshake"), std::string::npos) << pf.output();
}

}  // namespace
}  // namespace pilotfish::it
