// TLS origination: the app speaks plain HTTP to pilotfish, which speaks TLS to the cluster
// (nginx with a certificate from a CA made by the test), verifying the chain and the name.

#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

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

namespace pilotfish::it {
namespace {

// TLS origination faults: peers that accept TCP but fail the TLS part in various ways.

constexpr const char* kName = "test.pf.internal";

std::string series(const std::string& name, const std::string& cluster) {
  return name + "{cluster=\"" + cluster + "\"}";
}

/// The first line of `text` that contains `needle` ("" when none does).
std::string lineContaining(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos) return "";
  const auto nl = text.rfind('\n', at);
  const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
  const auto end = text.find('\n', at);
  return text.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

TEST(TlsOriginationFaults, SilentHandshakeTimesOut) {
  TestCa ca{kName};
  TestServer silent(TestServer::Mode::kHold);  // completes TCP, never answers the ClientHello
  const uint16_t port = freePort();
  Pilotfish pf(render(
      R"(workers: 1
clusters:
  - name: silent
    endpoints: [127.0.0.1:${UP}]
    connect_timeout: 300ms
    tls: {sni: test.pf.internal, ca_file: ${CA}}
listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    cluster: silent
)",
      {{"UP", std::to_string(silent.port())}, {"CA", ca.ca_cert}, {"PORT", std::to_string(port)}}));
  const auto t0 = Clock::now();
  auto r = http("GET", port, "/");
  const double ms = msSince(t0);
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.header("x-pilotfish-error"), "connect_timeout") << r.raw;
  // The handshake runs under connect_timeout: not sooner (it did wait), not much later.
  EXPECT_GE(ms, 280) << "answered before connect_timeout";
  EXPECT_LT(ms, 1300) << "took far longer than connect_timeout (300ms)";
  // TCP got through: it is the handshake that stalled.
  EXPECT_EQ(silent.accepted(), 1);
  EXPECT_EQ(pf.waitMetric(series("pilotfish_cluster_upstream_connect_timeouts_total", "silent"),
                          [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(pf.metric(series("pilotfish_cluster_upstream_tls_handshakes_total", "silent")), 0);
  EXPECT_EQ(pf.metric(series("pilotfish_cluster_upstream_connect_failures_total", "silent")), 0);
  // The stalled upstream connection was given up, not leaked.
  EXPECT_EQ(pf.waitMetric(series("pilotfish_cluster_upstream_connections_active", "silent"),
                          [](double v) { return v == 0; }),
            0);
}

TEST(TlsOriginationFaults, PlaintextPeerFailsTheHandshake) {
  TestCa ca{kName};
  Nginx nginx;                               // its plain HTTP port is the "TLS" endpoint
  TestServer echo(TestServer::Mode::kEcho);  // sends the ClientHello back
  const uint16_t port = freePort();
  Pilotfish pf(render(R"(workers: 1
clusters:
  - name: plain-http
    endpoints: [127.0.0.1:${HTTP}]
    connect_timeout: 3s
    tls: {sni: test.pf.internal, ca_file: ${CA}}
  - name: echo
    endpoints: [127.0.0.1:${ECHO}]
    connect_timeout: 3s
    tls: {sni: test.pf.internal, ca_file: ${CA}}
listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    routes:
      - match: {path_prefix: /echo}
        cluster: echo
    cluster: plain-http
)",
                      {{"HTTP", std::to_string(nginx.port())},
                       {"ECHO", std::to_string(echo.port())},
                       {"CA", ca.ca_cert},
                       {"PORT", std::to_string(port)}}));
  for (const std::string cluster : {"plain-http", "echo"}) {
    SCOPED_TRACE(cluster);
    const auto t0 = Clock::now();
    auto r = http("GET", port, cluster == "echo" ? "/echo/x" : "/x");
    const double ms = msSince(t0);
    EXPECT_EQ(r.status, 503) << r.raw;
    EXPECT_EQ(r.header("x-pilotfish-error"), "connect_failure") << r.raw;
    EXPECT_LT(ms, 1500) << "a protocol error must fail at once, not wait for connect_timeout";
    EXPECT_EQ(pf.waitMetric(series("pilotfish_cluster_upstream_tls_failures_total", cluster),
                            [](double v) { return v >= 1; }),
              1);
    EXPECT_EQ(pf.metric(series("pilotfish_cluster_upstream_tls_handshakes_total", cluster)), 0);
    EXPECT_EQ(pf.metric(series("pilotfish_cluster_upstream_connect_timeouts_total", cluster)), 0);
  }
  // nginx saw the ClientHello as a malformed request (400, no method) and nothing else: no
  // request in clear text followed.
  auto lines = nginx.waitAccessLog(1);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0].status, 400) << lines[0].raw;
  EXPECT_EQ(lines[0].method, "") << lines[0].raw;
  EXPECT_EQ(echo.accepted(), 1) << "one attempt, no plaintext fallback";
  EXPECT_GT(echo.bytesIn(), 0u);
  // The plain-http error page, misread as TLS records, leaves nothing behind either.
  EXPECT_EQ(pf.waitMetric(series("pilotfish_cluster_upstream_connections_active", "plain-http"),
                          [](double v) { return v == 0; }),
            0);
}

TEST(TlsOriginationFaults, ExpiredCertificateIsRefusedAndLogged) {
  TestCa ca{kName};
  const TlsFiles expired = ca.issue("expired", kName, {std::string("DNS:") + kName, "IP:127.0.0.1"},
                                    /*client=*/false, TestCa::Validity{-10, -1});
  // Expired, and nothing else wrong with it.
  auto check = runCommand({"openssl", "verify", "-CAfile", ca.ca_cert, expired.cert});
  EXPECT_FALSE(check.ok());
  EXPECT_NE((check.out + check.err).find("certificate has expired"), std::string::npos)
      << check.out << check.err;
  auto untimed =
      runCommand({"openssl", "verify", "-no_check_time", "-CAfile", ca.ca_cert, expired.cert});
  EXPECT_TRUE(untimed.ok()) << untimed.out << untimed.err;

  Nginx nginx{[&] {
    Nginx::Options o;
    o.tls_cert = expired.cert;
    o.tls_key = expired.key;
    o.body = "expired but served\n";
    return o;
  }()};
  const uint16_t port = freePort();
  // The default log level: the reason of a failed handshake is a warning.
  Pilotfish pf(render(R"(workers: 1
clusters:
  - name: expired
    endpoints: [127.0.0.1:${TLS}]
    tls: {sni: test.pf.internal, ca_file: ${CA}}
  - name: expired-unverified
    endpoints: [127.0.0.1:${TLS}]
    tls: {verify: false, sni: test.pf.internal}
listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    routes:
      - match: {path_prefix: /unverified}
        cluster: expired-unverified
    cluster: expired
)",
                      {{"TLS", std::to_string(nginx.tlsPort())},
                       {"CA", ca.ca_cert},
                       {"PORT", std::to_string(port)}}));
  auto r = http("GET", port, "/x");
  EXPECT_EQ(r.status, 503) << r.raw;
  EXPECT_EQ(r.header("x-pilotfish-error"), "connect_failure") << r.raw;
  EXPECT_EQ(pf.waitMetric(series("pilotfish_cluster_upstream_tls_failures_total", "expired"),
                          [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(pf.metric(series("pilotfish_cluster_upstream_tls_handshakes_total", "expired")), 0);
  // Only the expiry is wrong: without verification the same server answers.
  auto ok = http("GET", port, "/unverified/x");
  EXPECT_EQ(ok.status, 200) << ok.raw;
  EXPECT_EQ(ok.body, "expired but served\n");
  auto lines = nginx.waitAccessLog(1);
  ASSERT_EQ(lines.size(), 1u) << "no request may reach the upstream whose certificate expired";
  EXPECT_EQ(lines[0].uri, "/unverified/x") << lines[0].raw;

  // The log says which cluster, which endpoint and why.
  std::string line;
  waitFor(
      [&] {
        line = lineContaining(pf.output(), "certificate has expired");
        return !line.empty();
      },
      milliseconds(3000));
  ASSERT_FALSE(line.empty()) << "no log line names the expired certificate:\n" << pf.output();
  EXPECT_NE(line.find("TLS handshake"), std::string::npos) << line;
  EXPECT_NE(line.find("cluster expired"), std::string::npos) << line;
  EXPECT_NE(line.find("127.0.0.1:" + std::to_string(nginx.tlsPort())), std::string::npos) << line;
  EXPECT_NE(line.find("certificate verify failed"), std::string::npos) << line;
  EXPECT_NE(line.find("[warn"), std::string::npos) << line;
  // Every request fails the same way: the warning is rate-limited, not one per request.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(http("GET", port, "/again").status, 503);
  EXPECT_EQ(pf.waitMetric(series("pilotfish_cluster_upstream_tls_failures_total", "expired"),
                          [](double v) { return v >= 6; }),
            6);
  std::size_t warned = 0;
  for (std::size_t at = pf.output().find("certificate has expired"); at != std::string::npos;
       at = pf.output().find("certificate has expired", at + 1)) {
    ++warned;
  }
  EXPECT_EQ(warned, 1u) << pf.output();
  // No secrets: neither key material nor the PEM of anything.
  const std::string out = pf.output();
  EXPECT_EQ(out.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(out.find("-----BEGIN"), std::string::npos);
  std::ifstream key_file(expired.key);
  for (std::string k; std::getline(key_file, k);) {
    if (k.empty() || k.rfind("-----", 0) == 0) continue;
    EXPECT_EQ(out.find(k), std::string::npos) << "the log holds a line of the private key";
  }
}

// Resumption seen from the server: nginx logs $ssl_session_reused ("r" or ".") per request.
void expectServerSeesResumption(const std::string& protocols, const std::string& want_protocol) {
  TestCa ca{kName};
  Nginx nginx{[&] {
    Nginx::Options o;
    o.tls_cert = ca.server_cert;
    o.tls_key = ca.server_key;
    o.extra_http = "  log_format pf_tls '$connection $ssl_session_reused $ssl_protocol';";
    // A server-level access_log replaces the inherited one: keep the harness's log too
    // (relative paths are under nginx's prefix, its dir()).
    o.extra_server = "    ssl_protocols " + protocols +
                     ";\n    access_log access.log pf;\n    access_log tls.log pf_tls;";
    return o;
  }()};
  const uint16_t port = freePort();
  Pilotfish pf(render(R"(workers: 1
clusters:
  - name: secure
    endpoints: [127.0.0.1:${TLS}]
    tls: {sni: test.pf.internal, ca_file: ${CA}}
    pool: {max_idle_per_endpoint: 0}
listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    cluster: secure
)",
                      {{"TLS", std::to_string(nginx.tlsPort())},
                       {"CA", ca.ca_cert},
                       {"PORT", std::to_string(port)}}));
  constexpr int kRequests = 3;
  for (int i = 0; i < kRequests; ++i) {
    auto r = http("GET", port, "/");
    ASSERT_EQ(r.status, 200) << r.raw;
  }
  std::vector<std::string> tls_lines;
  waitFor(
      [&] {
        tls_lines.clear();
        std::ifstream f(nginx.dir() + "/tls.log");
        for (std::string l; std::getline(f, l);) {
          if (!l.empty()) tls_lines.push_back(l);
        }
        return tls_lines.size() >= static_cast<std::size_t>(kRequests);
      },
      milliseconds(5000));
  ASSERT_EQ(tls_lines.size(), static_cast<std::size_t>(kRequests));
  std::set<std::string> connections;
  for (int i = 0; i < kRequests; ++i) {
    std::istringstream in(tls_lines[i]);
    std::string conn, reused, protocol;
    in >> conn >> reused >> protocol;
    connections.insert(conn);
    EXPECT_EQ(protocol, want_protocol) << tls_lines[i];
    // The first connection has nothing to resume; every later one resumes.
    EXPECT_EQ(reused, i == 0 ? "." : "r") << "request " << i << ": " << tls_lines[i];
  }
  EXPECT_EQ(connections.size(), static_cast<std::size_t>(kRequests)) << "one connection each";
  EXPECT_EQ(pf.metric(series("pilotfish_cluster_upstream_tls_handshakes_total", "secure")),
            kRequests);
  EXPECT_EQ(pf.metric(series("pilotfish_cluster_upstream_tls_resumed_total", "secure")),
            kRequests - 1);
}

TEST(TlsOriginationFaults, ServerSeesResumedSessionsTls13) {
  expectServerSeesResumption("TLSv1.3", "TLSv1.3");
}

TEST(TlsOriginationFaults, ServerSeesResumedSessionsTls12) {
  expectServerSeesResumption("TLSv1.2", "TLSv1.2");
}

}  // namespace
}  // namespace pilotfish::it
