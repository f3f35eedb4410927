// TLS origination: the app speaks plain HTTP to pilotfish, which speaks TLS to the cluster
// (nginx with a certificate from a CA made by the test), verifying the chain and the name.

#include <gtest/gtest.h>

#include "harness/harness.h"

namespace pilotfish::it {
namespace {

struct TlsSetup {
  TestCa ca{"test.pf.internal"};
  Nginx nginx{[this] {
    Nginx::Options o;
    o.tls_cert = ca.server_cert;
    o.tls_key = ca.server_key;
    o.body = "hello over tls\n";
    return o;
  }()};
  uint16_t listen_port = freePort();

  // One http listener: /wrong-name goes to a cluster expecting another name, /unverified to
  // one with verify: false and the wrong name, everything else to the right cluster.
  std::string yaml(const std::string& pool = "{}", const std::string& ca_file = "") const {
    const std::string ca_path = ca_file.empty() ? ca.ca_cert : ca_file;
    return render(R"(workers: 1
clusters:
  - name: secure
    endpoints: [127.0.0.1:${TLS}]
    tls: {sni: test.pf.internal, ca_file: ${CA}}
    pool: ${POOL}
  - name: wrong-name
    endpoints: [127.0.0.1:${TLS}]
    tls: {sni: other.pf.internal, ca_file: ${CA}}
  - name: unverified
    endpoints: [127.0.0.1:${TLS}]
    tls: {verify: false, sni: other.pf.internal}
listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    routes:
      - match: {path_prefix: /wrong-name}
        cluster: wrong-name
      - match: {path_prefix: /unverified}
        cluster: unverified
    cluster: secure
)",
                  {{"TLS", std::to_string(nginx.tlsPort())},
                   {"CA", ca_path},
                   {"POOL", pool},
                   {"PORT", std::to_string(listen_port)}});
  }
};

TEST(TlsOrigination, PlainRequestBecomesPooledHttps) {
  TlsSetup s;
  Pilotfish pf(s.yaml());
  const std::string url = "http://127.0.0.1:" + std::to_string(s.listen_port) + "/";
  // One curl, five requests on one client connection; then five more connections.
  auto r = runCommand({"curl", "-sS", "--fail", url, url, url, url, url});
  ASSERT_TRUE(r.ok()) << r.err;
  std::string want;
  for (int i = 0; i < 5; ++i) want += "hello over tls\n";
  EXPECT_EQ(r.out, want);
  EXPECT_NE(r.out.find("hello over tls"), std::string::npos) << r.out;
  for (int i = 0; i < 5; ++i) {
    auto one = runCommand({"curl", "-sS", "--fail", url});
    ASSERT_TRUE(one.ok()) << one.err;
  }
  auto lines = s.nginx.waitAccessLog(10);
  ASSERT_GE(lines.size(), 10u);
  for (const auto& l : lines) EXPECT_EQ(l.scheme, "https") << l.raw;
  // Ten requests, one worker, pooled: far fewer TLS connections than requests.
  EXPECT_LE(s.nginx.connectionsLogged(), 2u);
  EXPECT_GE(pf.metric("pilotfish_cluster_upstream_tls_handshakes_total{cluster=\"secure\"}"), 1);
  EXPECT_GE(pf.metric("pilotfish_pool_connections_reused_total{cluster=\"secure\"}"), 8);
}

TEST(TlsOrigination, WrongNameIsRefused) {
  TlsSetup s;
  Pilotfish pf(s.yaml());
  auto r = http("GET", s.listen_port, "/wrong-name/x");
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.header("x-pilotfish-error"), "connect_failure");
  EXPECT_GE(pf.metric("pilotfish_cluster_upstream_tls_failures_total{cluster=\"wrong-name\"}"), 1);
  EXPECT_TRUE(s.nginx.accessLog().empty()) << "no request may reach an unverified upstream";
  // verify: false accepts the same certificate.
  auto ok = http("GET", s.listen_port, "/unverified/x");
  EXPECT_EQ(ok.status, 200) << ok.raw;
}

TEST(TlsOrigination, UnknownCaIsRefused) {
  TlsSetup s;
  TestCa other("test.pf.internal");
  Pilotfish pf(s.yaml("{}", other.ca_cert));
  auto r = http("GET", s.listen_port, "/");
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.header("x-pilotfish-error"), "connect_failure");
  EXPECT_GE(pf.metric("pilotfish_cluster_upstream_tls_failures_total{cluster=\"secure\"}"), 1);
}

TEST(TlsOrigination, NewConnectionsResumeTheSession) {
  TlsSetup s;
  Pilotfish pf(s.yaml("{max_idle_per_endpoint: 0}"));  // every request on a new connection
  for (int i = 0; i < 4; ++i) {
    auto r = http("GET", s.listen_port, "/");
    ASSERT_EQ(r.status, 200) << r.raw;
  }
  EXPECT_EQ(pf.metric("pilotfish_cluster_upstream_tls_handshakes_total{cluster=\"secure\"}"), 4);
  EXPECT_GE(pf.metric("pilotfish_cluster_upstream_tls_resumed_total{cluster=\"secure\"}"), 3);
}

TEST(TlsOrigination, UnreadableCaFileIsAConfigError) {
  TlsSetup s;
  auto path = writeTempFile(s.yaml("{}", "/nonexistent/ca.pem"), ".yaml");
  auto r = runCommand({PILOTFISH_BINARY, "validate", "-c", path});
  ASSERT_TRUE(r.status && r.status->exited);
  EXPECT_EQ(r.status->code, 2);
  EXPECT_NE(r.err.find("clusters[0].tls.ca_file: cannot read file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace pilotfish::it

namespace pilotfish::it {
namespace {

// chocon style: `Host: <name>.pf-https` on a plain request becomes HTTPS to <name> (SNI and
// certificate checked against that name) over a pooled connection per name.
struct DynamicSetup {
  TestCa ca{"localhost"};  // the certificate names "localhost", which resolves to loopback
  Nginx nginx{[this] {
    Nginx::Options o;
    o.tls_cert = ca.server_cert;
    o.tls_key = ca.server_key;
    o.body = "dynamic over tls\n";
    return o;
  }()};
  uint16_t listen_port = freePort();
  std::string yaml() const {
    return render(R"(workers: 1
clusters:
  - name: external
    type: dynamic_host
    port: ${TLS}
    dns_ttl: 30s
    connect_timeout: 2s
    tls: {ca_file: ${CA}}
listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    routes:
      - match: {host_suffix: .pf-https}
        upstream_host_from_request: true
        cluster: external
)",
                  {{"TLS", std::to_string(nginx.tlsPort())},
                   {"CA", ca.ca_cert},
                   {"PORT", std::to_string(listen_port)}});
  }
};

TEST(DynamicHost, HostSuffixBecomesHttpsToThatName) {
  DynamicSetup s;
  Pilotfish pf(s.yaml());
  const std::string url = "http://127.0.0.1:" + std::to_string(s.listen_port) + "/x";
  auto r = runCommand({"curl", "-sS", "--fail", "-H", "Host: localhost.pf-https", url, "-H",
                       "Host: LOCALHOST.pf-https", url, url});
  ASSERT_TRUE(r.ok()) << r.err << r.out;
  EXPECT_EQ(r.out, "dynamic over tls\ndynamic over tls\ndynamic over tls\n");
  auto lines = s.nginx.waitAccessLog(3);
  ASSERT_GE(lines.size(), 3u);
  for (const auto& l : lines) {
    EXPECT_EQ(l.scheme, "https") << l.raw;
    EXPECT_EQ(l.host, "localhost") << "the suffix is removed from Host: " << l.raw;
  }
  EXPECT_EQ(s.nginx.connectionsLogged(), 1u) << "one pooled connection per name";
  EXPECT_EQ(pf.metric("pilotfish_cluster_upstream_tls_handshakes_total{cluster=\"external\"}"), 1);
}

TEST(DynamicHost, UnresolvableAndInvalidNames) {
  DynamicSetup s;
  Pilotfish pf(s.yaml());
  auto bad = httpRaw(s.listen_port,
                     "GET / HTTP/1.1\r\nHost: no-such-host.invalid.pf-https\r\n"
                     "Connection: close\r\n\r\n");
  EXPECT_EQ(bad.status, 503) << bad.raw;
  EXPECT_EQ(bad.header("x-pilotfish-error"), "dns_failure");
  auto empty =
      httpRaw(s.listen_port, "GET / HTTP/1.1\r\nHost: .pf-https\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(empty.status, 400) << empty.raw;
  EXPECT_EQ(empty.header("x-pilotfish-error"), "bad_upstream_host");
  EXPECT_TRUE(s.nginx.accessLog().empty());
}

}  // namespace
}  // namespace pilotfish::it
