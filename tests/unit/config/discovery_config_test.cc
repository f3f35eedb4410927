// The discovery keys of issue 4: `discovery:` sources, `cache_dir`, the cluster discovery blocks
// (zookeeper, consul, etcd, dns, file) and allow_empty, max_stale, initial_fetch_timeout,
// on_endpoint_removed; their watch keys and how /config renders them.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "loader_test_util.h"
#include "pilotfish/config/config.h"
#include "pilotfish/config/render.h"

namespace pilotfish::config {
namespace {

using namespace pilotfish::config::test_util;  // NOLINT(google-build-using-namespace)

// Files the loader must be able to read, with content that must never reach /config.
struct SecretFiles {
  std::string dir;
  std::string token;        // Consul ACL token
  std::string credentials;  // ZooKeeper digest user:password
  std::string ca;
  std::string cert;
  std::string key;
};

constexpr std::string_view kToken = "tok-5ecret-9f1e";
constexpr std::string_view kCredentials = "svc:pa55-5ecret";
constexpr std::string_view kKey = "KEY-5ECRET-BYTES";

const SecretFiles& files() {
  static const SecretFiles f = [] {
    std::string tmpl = ::testing::TempDir() + "pf-discovery-config-XXXXXX";
    SecretFiles s;
    s.dir = mkdtemp(tmpl.data());
    auto write = [&s](const char* name, std::string_view content) {
      std::string path = s.dir + "/" + name;
      std::ofstream(path) << content;
      return path;
    };
    s.token = write("consul-token", kToken);
    s.credentials = write("zk-digest", kCredentials);
    s.ca = write("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    s.cert = write("client.pem", "-----BEGIN CERTIFICATE-----\n");
    s.key = write("client-key.pem", kKey);
    return s;
  }();
  return f;
}

// A static cluster and a listener, after whatever a test puts first.
constexpr std::string_view kTail =
    "clusters:\n"
    "  - {name: c, endpoints: [127.0.0.1:1]}\n"
    "listeners:\n"
    "  - {name: l, address: 127.0.0.1:7379, cluster: c}\n";

std::string withTail(std::string_view head) {
  return std::string(head) + std::string(kTail);
}

// `discovery` lines (indented by two), then cluster "c" with `cluster` lines (indented by four)
// and a listener using it. The cluster's first line is line (lines of discovery) + 4, or 3
// without sources.
std::string withCluster(std::string_view discovery, std::string_view cluster) {
  return (discovery.empty() ? "" : "discovery:\n") + std::string(discovery) +
         "clusters:\n  - name: c\n" + std::string(cluster) +
         "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n";
}

// Sources of every type, one line each (lines 2-5), for the cluster tests.
constexpr std::string_view kSources =
    "  zk: {type: zookeeper, servers: [127.0.0.1:2181]}\n"
    "  consul: {type: consul}\n"
    "  etcd: {type: etcd, endpoints: [127.0.0.1:2379]}\n"
    "  dns: {type: dns}\n";

// ---------------------------------------------------------------------------------------------
// Sources: valid shapes and defaults

TEST(DiscoverySources, AbsentMeansNoneAndNoCache) {
  auto config = configOf(kTail);
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->discovery.empty());
  EXPECT_EQ(config->cache_dir, "");
  EXPECT_FALSE(config->clusters[0].discovery);
  EXPECT_EQ(config->clusters[0].on_endpoint_removed, OnEndpointRemoved::kKeep);
}

TEST(DiscoverySources, EmptyMapIsValid) {
  auto config = configOf(withTail("discovery: {}\n"));
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->discovery.empty());
}

TEST(DiscoverySources, DefaultsOfEveryType) {
  auto config = configOf(withTail(std::string("discovery:\n") + std::string(kSources)));
  ASSERT_TRUE(config);
  ASSERT_EQ(config->discovery.size(), 4u);
  // In file order.
  const auto& zk = config->discovery[0];
  EXPECT_EQ(zk.name, "zk");
  EXPECT_EQ(zk.type, SourceType::kZookeeper);
  ASSERT_EQ(zk.servers.size(), 1u);
  EXPECT_EQ(zk.servers[0].toString(), "127.0.0.1:2181");
  EXPECT_EQ(zk.chroot, "");
  EXPECT_EQ(zk.session_timeout, Duration(10000));
  EXPECT_EQ(zk.auth_scheme, "");
  EXPECT_EQ(zk.credentials_file, "");
  EXPECT_FALSE(zk.tls);

  const auto& consul = config->discovery[1];
  EXPECT_EQ(consul.name, "consul");
  EXPECT_EQ(consul.type, SourceType::kConsul);
  EXPECT_EQ(consul.address.toString(), "127.0.0.1:8500");
  EXPECT_EQ(consul.datacenter, "");
  EXPECT_EQ(consul.token_file, "");
  EXPECT_EQ(consul.timeout, Duration(2000));
  EXPECT_FALSE(consul.tls);

  const auto& etcd = config->discovery[2];
  EXPECT_EQ(etcd.type, SourceType::kEtcd);
  ASSERT_EQ(etcd.endpoints.size(), 1u);
  EXPECT_EQ(etcd.endpoints[0].toString(), "127.0.0.1:2379");
  EXPECT_EQ(etcd.timeout, Duration(2000));
  EXPECT_FALSE(etcd.tls);

  const auto& dns = config->discovery[3];
  EXPECT_EQ(dns.type, SourceType::kDns);
  EXPECT_TRUE(dns.servers.empty());  // /etc/resolv.conf
  EXPECT_EQ(dns.min_ttl, Duration(1000));
  EXPECT_EQ(dns.max_ttl, Duration(300000));
  EXPECT_EQ(dns.timeout, Duration(2000));
}

TEST(DiscoverySources, ZookeeperEveryKey) {
  auto config =
      configOf(withTail("discovery:\n"
                        "  zk:\n"
                        "    type: zookeeper\n"
                        "    servers: [zk1.example:2181, 10.0.0.2:2181, \"[::1]:2181\"]\n"
                        "    chroot: /smartstack/prod\n"
                        "    session_timeout: 30s\n"
                        "    auth: {scheme: digest, credentials_file: " +
                        files().credentials + "}\n"));
  ASSERT_TRUE(config);
  const auto& zk = config->discovery.at(0);
  ASSERT_EQ(zk.servers.size(), 3u);
  EXPECT_EQ(zk.servers[0].toString(), "zk1.example:2181");
  EXPECT_EQ(zk.servers[1].toString(), "10.0.0.2:2181");
  EXPECT_EQ(zk.servers[2].toString(), "[::1]:2181");
  EXPECT_EQ(zk.chroot, "/smartstack/prod");
  EXPECT_EQ(zk.session_timeout, Duration(30000));
  EXPECT_EQ(zk.auth_scheme, "digest");
  EXPECT_EQ(zk.credentials_file, files().credentials);
}

TEST(DiscoverySources, ConsulEveryKey) {
  auto config = configOf(
      withTail("discovery:\n"
               "  consul:\n"
               "    type: consul\n"
               "    address: consul.service.internal:8501\n"
               "    datacenter: eu-west-1\n"
               "    token_file: " +
               files().token +
               "\n"
               "    timeout: 5s\n"
               "    tls: {ca_file: " +
               files().ca + ", cert_file: " + files().cert + ", key_file: " + files().key + "}\n"));
  ASSERT_TRUE(config);
  const auto& s = config->discovery.at(0);
  EXPECT_EQ(s.address.toString(), "consul.service.internal:8501");
  EXPECT_EQ(s.datacenter, "eu-west-1");
  EXPECT_EQ(s.token_file, files().token);
  EXPECT_EQ(s.timeout, Duration(5000));
  ASSERT_TRUE(s.tls);
  EXPECT_EQ(*s.tls, (SourceTlsConfig{files().ca, files().cert, files().key}));
}

TEST(DiscoverySources, EtcdEveryKey) {
  auto config = configOf(withTail(
      "discovery:\n"
      "  etcd: {type: etcd, endpoints: [10.0.0.1:2379, etcd-2:2379], timeout: 500ms, tls: {}}\n"));
  ASSERT_TRUE(config);
  const auto& s = config->discovery.at(0);
  ASSERT_EQ(s.endpoints.size(), 2u);
  EXPECT_EQ(s.endpoints[1].toString(), "etcd-2:2379");
  EXPECT_EQ(s.timeout, Duration(500));
  // An empty tls block: TLS, verified against the system store, no client certificate.
  ASSERT_TRUE(s.tls);
  EXPECT_EQ(*s.tls, SourceTlsConfig{});
}

TEST(DiscoverySources, DnsEveryKey) {
  auto config = configOf(withTail(
      "discovery:\n"
      "  dns: {type: dns, servers: [127.0.0.1:8600], min_ttl: 5s, max_ttl: 5s, timeout: 1s}\n"));
  ASSERT_TRUE(config);
  const auto& s = config->discovery.at(0);
  ASSERT_EQ(s.servers.size(), 1u);
  EXPECT_EQ(s.servers[0].toString(), "127.0.0.1:8600");
  EXPECT_EQ(s.min_ttl, Duration(5000));
  EXPECT_EQ(s.max_ttl, Duration(5000));
  EXPECT_EQ(s.timeout, Duration(1000));
}

TEST(DiscoverySources, UnusedSourcesAreFine) {
  auto config = configOf(withTail("discovery:\n  a: {type: dns}\n  b: {type: dns}\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->discovery.size(), 2u);
}

// ---------------------------------------------------------------------------------------------
// Sources: errors

TEST(DiscoverySourceErrors, NotAMap) {
  EXPECT_TRUE(onlyError(withTail("discovery: [zk]\n"), 1, 12, "discovery",
                        "expected a map of named sources"));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: zookeeper\n"), 2, 7, "discovery.zk",
                        "expected a map, got \"zookeeper\""));
}

TEST(DiscoverySourceErrors, BadName) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  \"z k\": {type: dns}\n"), 2, 3, "discovery",
                        "invalid name \"z k\""));
}

TEST(DiscoverySourceErrors, MissingType) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: {servers: [127.0.0.1:2181]}\n"), 2, 7,
                        "discovery.zk",
                        "missing required key \"type\" (one of zookeeper, consul, etcd, dns)"));
}

TEST(DiscoverySourceErrors, WrongType) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: {type: zookeper}\n"), 2, 14,
                        "discovery.zk.type",
                        "unknown discovery source type \"zookeper\"; did you mean \"zookeeper\"?; "
                        "supported: zookeeper, consul, etcd, dns"));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  k8s: {type: kubernetes}\n"), 2, 15,
                        "discovery.k8s.type", "unknown discovery source type \"kubernetes\""));
}

TEST(DiscoverySourceErrors, UnknownKey) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  dns: {type: dns, sever: [127.0.0.1:53]}\n"), 2, 20,
                        "discovery.dns.sever", "unknown key \"sever\"; did you mean \"servers\"?"));
}

TEST(DiscoverySourceErrors, KeysOfAnotherSourceType) {
  Errors errors =
      errorsOf(withTail("discovery:\n"
                        "  zk:\n"
                        "    type: zookeeper\n"
                        "    servers: [127.0.0.1:2181]\n"
                        "    address: 127.0.0.1:8500\n"
                        "    tls: {}\n"
                        "    timeout: 1s\n"
                        "  consul: {type: consul, chroot: /x, endpoints: [127.0.0.1:2379]}\n"
                        "  dns: {type: dns, auth: {scheme: digest}, tls: {}}\n"));
  ASSERT_EQ(errors.size(), 7u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 5, 5, "discovery.zk.address",
                       "not a key of a zookeeper source (only for: consul)"));
  EXPECT_TRUE(hasError(errors, 6, 5, "discovery.zk.tls",
                       "not a key of a zookeeper source (only for: consul etcd)"));
  EXPECT_TRUE(hasError(errors, 7, 5, "discovery.zk.timeout",
                       "not a key of a zookeeper source (only for: consul etcd dns)"));
  EXPECT_TRUE(hasError(errors, 8, 26, "discovery.consul.chroot",
                       "not a key of a consul source (only for: zookeeper)"));
  EXPECT_TRUE(hasError(errors, 8, 38, "discovery.consul.endpoints",
                       "not a key of a consul source (only for: etcd)"));
  EXPECT_TRUE(hasError(errors, 9, 20, "discovery.dns.auth",
                       "not a key of a dns source (only for: zookeeper)"));
  EXPECT_TRUE(hasError(errors, 9, 44, "discovery.dns.tls",
                       "not a key of a dns source (only for: consul etcd)"));
}

TEST(DiscoverySourceErrors, ZookeeperServers) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: {type: zookeeper}\n"), 2, 7, "discovery.zk",
                        "missing required key \"servers\" (a list of host:port)"));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: {type: zookeeper, servers: []}\n"), 2, 34,
                        "discovery.zk.servers", "at least one server is required"));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: {type: zookeeper, servers: [zk1]}\n"), 2, 35,
                        "discovery.zk.servers[0]", "invalid address \"zk1\": missing port"));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: {type: zookeeper, servers: 127.0.0.1:2181}\n"),
                        2, 34, "discovery.zk.servers", "expected a list, got \"127.0.0.1:2181\""));
}

TEST(DiscoverySourceErrors, EtcdEndpoints) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  e: {type: etcd}\n"), 2, 6, "discovery.e",
                        "missing required key \"endpoints\" (a list of host:port)"));
  EXPECT_TRUE(
      onlyError(withTail("discovery:\n  e: {type: etcd, endpoints: [\"http://127.0.0.1:2379\"]}\n"),
                2, 31, "discovery.e.endpoints[0]", "invalid address \"http://127.0.0.1:2379\""));
}

// Bad chroots (and the same rule for cluster paths and prefixes, below).
class ZnodePathError : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(ZnodePathError, IsReportedAtTheValue) {
  auto [path, problem] = GetParam();
  EXPECT_TRUE(onlyError(withTail(std::string("discovery:\n  zk: {type: zookeeper, chroot: \"") +
                                 path + "\", servers: [127.0.0.1:2181]}\n"),
                        2, 33, "discovery.zk.chroot",
                        std::string("invalid path \"") + path + "\": " + problem));
}

INSTANTIATE_TEST_SUITE_P(
    All, ZnodePathError,
    ::testing::Values(std::pair{"smartstack", "must start with '/' and name at least one node"},
                      std::pair{"/", "must start with '/' and name at least one node"},
                      std::pair{"", "must start with '/' and name at least one node"},
                      std::pair{"/smartstack/", "must not end with '/'"},
                      std::pair{"/a//b", "must not contain empty segments"},
                      std::pair{"/a/../b", "must not contain \".\" or \"..\" segments"},
                      std::pair{"/a/./b", "must not contain \".\" or \"..\" segments"},
                      std::pair{"/a/..", "must not contain \".\" or \"..\" segments"},
                      std::pair{"/a/.", "must not contain \".\" or \"..\" segments"}));

TEST(DiscoverySourceErrors, ZookeeperSessionTimeoutAndAuth) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  zk: {type: zookeeper, servers: [127.0.0.1:2181], "
                                 "session_timeout: 0s}\n"),
                        2, 69, "discovery.zk.session_timeout", "must be greater than 0"));
  std::string head = "discovery:\n  zk:\n    type: zookeeper\n    servers: [127.0.0.1:2181]\n";
  EXPECT_TRUE(
      onlyError(withTail(head + "    auth: {credentials_file: " + files().credentials + "}\n"), 5,
                11, "discovery.zk.auth", "missing required key \"scheme\" (digest)"));
  EXPECT_TRUE(
      onlyError(withTail(head + "    auth: {scheme: digest}\n"), 5, 11, "discovery.zk.auth",
                "missing required key \"credentials_file\" (a file holding user:password)"));
  EXPECT_TRUE(onlyError(
      withTail(head + "    auth: {scheme: sasl, credentials_file: " + files().credentials + "}\n"),
      5, 20, "discovery.zk.auth.scheme", "unknown auth scheme \"sasl\"; supported: digest"));
  EXPECT_TRUE(onlyError(
      withTail(head + "    auth: {scheme: digest, credentials_file: /nonexistent/zk-digest}\n"), 5,
      46, "discovery.zk.auth.credentials_file", "cannot read file \"/nonexistent/zk-digest\""));
}

TEST(DiscoverySourceErrors, ConsulTokenFileUnreadable) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  c: {type: consul, token_file: /nonexistent/tok}\n"),
                        2, 33, "discovery.c.token_file", "cannot read file \"/nonexistent/tok\""));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  c: {type: consul, token_file: \"\"}\n"), 2, 33,
                        "discovery.c.token_file", "cannot read file \"\""));
}

TEST(DiscoverySourceErrors, ConsulAddressAndDatacenter) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  c: {type: consul, address: 127.0.0.1}\n"), 2, 30,
                        "discovery.c.address", "invalid address \"127.0.0.1\": missing port"));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  c: {type: consul, datacenter: \"dc 1\"}\n"), 2, 33,
                        "discovery.c.datacenter", "invalid name \"dc 1\""));
}

TEST(DiscoverySourceErrors, TlsCertWithoutKey) {
  EXPECT_TRUE(onlyError(
      withTail("discovery:\n  c: {type: consul, tls: {cert_file: " + files().cert + "}}\n"), 2, 26,
      "discovery.c.tls", "cert_file and key_file go together (client certificate)"));
  EXPECT_TRUE(onlyError(
      withTail("discovery:\n  e: {type: etcd, endpoints: [127.0.0.1:2379], tls: {key_file: " +
               files().key + "}}\n"),
      2, 53, "discovery.e.tls", "cert_file and key_file go together"));
}

TEST(DiscoverySourceErrors, TlsFilesUnreadable) {
  EXPECT_TRUE(
      onlyError(withTail("discovery:\n  c: {type: consul, tls: {ca_file: /nonexistent/ca.pem}}\n"),
                2, 36, "discovery.c.tls.ca_file", "cannot read file \"/nonexistent/ca.pem\""));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  c: {type: consul, tls: {verify: false}}\n"), 2, 27,
                        "discovery.c.tls.verify", "unknown key \"verify\""));
}

TEST(DiscoverySourceErrors, DnsTtls) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  d: {type: dns, min_ttl: 10s, max_ttl: 5s}\n"), 2,
                        41, "discovery.d.max_ttl", "must not be below min_ttl"));
  EXPECT_TRUE(onlyError(withTail("discovery:\n  d: {type: dns, min_ttl: 0s}\n"), 2, 27,
                        "discovery.d.min_ttl", "must be greater than 0"));
  // max_ttl alone below the default floor of 1s.
  EXPECT_TRUE(onlyError(withTail("discovery:\n  d: {type: dns, max_ttl: 500ms}\n"), 2, 27,
                        "discovery.d.max_ttl", "must not be below min_ttl"));
}

TEST(DiscoverySourceErrors, DuplicateName) {
  Errors errors = errorsOf(withTail("discovery:\n  d: {type: dns}\n  d: {type: dns}\n"));
  ASSERT_FALSE(errors.empty());
  EXPECT_TRUE(hasError(errors, 3, 3, "discovery.d", "duplicate")) << dump(errors);
}

// ---------------------------------------------------------------------------------------------
// cache_dir

TEST(CacheDir, AbsoluteDirectory) {
  auto config = configOf(withTail("cache_dir: " + files().dir + "\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->cache_dir, files().dir);
  // Not there yet: created when the cache first writes.
  config = configOf(withTail("cache_dir: " + files().dir + "/not-yet\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->cache_dir, files().dir + "/not-yet");
}

TEST(CacheDir, Errors) {
  EXPECT_TRUE(onlyError(withTail("cache_dir: var/lib/pilotfish\n"), 1, 12, "cache_dir",
                        "expected an absolute directory path, got \"var/lib/pilotfish\""));
  EXPECT_TRUE(onlyError(withTail("cache_dir: \"\"\n"), 1, 12, "cache_dir",
                        "expected an absolute directory path, got \"\""));
  EXPECT_TRUE(onlyError(withTail("cache_dir: " + files().token + "\n"), 1, 12, "cache_dir",
                        "\"" + files().token + "\" exists and is not a directory"));
  EXPECT_TRUE(onlyError(withTail("cache_dir: [/a]\n"), 1, 12, "cache_dir", "got a list"));
}

// ---------------------------------------------------------------------------------------------
// Cluster discovery blocks: valid shapes

const ClusterConfig& onlyCluster(const ConfigPtr& config) {
  return config->clusters.at(0);
}

TEST(ClusterDiscovery, Zookeeper) {
  auto config =
      configOf(withCluster(kSources, "    zookeeper: {source: zk, path: /services/users}\n"));
  ASSERT_TRUE(config);
  const auto& c = onlyCluster(config);
  EXPECT_TRUE(c.endpoints.empty());
  ASSERT_TRUE(c.discovery);
  EXPECT_EQ(c.discovery->kind, DiscoveryKind::kZookeeper);
  EXPECT_EQ(c.discovery->source, "zk");
  EXPECT_EQ(c.discovery->source_index, 0u);
  EXPECT_EQ(c.discovery->path, "/services/users");
  // The defaults of the cluster keys.
  EXPECT_FALSE(c.allow_empty);
  EXPECT_FALSE(c.max_stale);
  EXPECT_EQ(c.initial_fetch_timeout, Duration(5000));
  EXPECT_EQ(c.on_endpoint_removed, OnEndpointRemoved::kKeep);
}

TEST(ClusterDiscovery, ConsulWithDefaults) {
  auto config = configOf(withCluster(kSources, "    consul: {source: consul, service: users}\n"));
  ASSERT_TRUE(config);
  const auto& d = *onlyCluster(config).discovery;
  EXPECT_EQ(d.kind, DiscoveryKind::kConsul);
  EXPECT_EQ(d.source, "consul");
  EXPECT_EQ(d.source_index, 1u);
  EXPECT_EQ(d.service, "users");
  EXPECT_TRUE(d.tags.empty());
  EXPECT_TRUE(d.passing_only);
  EXPECT_EQ(d.datacenter, "");
}

TEST(ClusterDiscovery, ConsulEveryKey) {
  auto config = configOf(withCluster(kSources,
                                     "    consul:\n"
                                     "      source: consul\n"
                                     "      service: users-v2\n"
                                     "      tags: [primary, \"zone=b\", v2.1]\n"
                                     "      passing_only: false\n"
                                     "      datacenter: dc2\n"));
  ASSERT_TRUE(config);
  const auto& d = *onlyCluster(config).discovery;
  EXPECT_EQ(d.service, "users-v2");
  EXPECT_EQ(d.tags, (std::vector<std::string>{"primary", "zone=b", "v2.1"}));
  EXPECT_FALSE(d.passing_only);
  EXPECT_EQ(d.datacenter, "dc2");
}

TEST(ClusterDiscovery, Etcd) {
  auto config =
      configOf(withCluster(kSources, "    etcd: {source: etcd, prefix: /services/users}\n"));
  ASSERT_TRUE(config);
  const auto& d = *onlyCluster(config).discovery;
  EXPECT_EQ(d.kind, DiscoveryKind::kEtcd);
  EXPECT_EQ(d.source, "etcd");
  EXPECT_EQ(d.source_index, 2u);
  EXPECT_EQ(d.path, "/services/users");
}

TEST(ClusterDiscovery, DnsSrvWithUnderscores) {
  auto config = configOf(withCluster(
      kSources, "    dns: {source: dns, name: _users._tcp.service.consul, type: SRV}\n"));
  ASSERT_TRUE(config);
  const auto& d = *onlyCluster(config).discovery;
  EXPECT_EQ(d.kind, DiscoveryKind::kDns);
  EXPECT_EQ(d.source, "dns");
  EXPECT_EQ(d.source_index, 3u);
  EXPECT_EQ(d.name, "_users._tcp.service.consul");
  EXPECT_EQ(d.dns_type, DnsRecordType::kSrv);
  EXPECT_EQ(d.port, 0u);
}

TEST(ClusterDiscovery, DnsDefaultsToSrvAndNeedsNoSource) {
  // No source: the system resolver (/etc/resolv.conf). A trailing dot (fully qualified) is
  // kept: an absolute name is not extended with resolv.conf's search domains.
  auto config = configOf(withCluster("", "    dns: {name: users.service.consul.}\n"));
  ASSERT_TRUE(config);
  const auto& d = *onlyCluster(config).discovery;
  EXPECT_EQ(d.source, "");
  EXPECT_EQ(d.name, "users.service.consul.");
  EXPECT_EQ(d.dns_type, DnsRecordType::kSrv);
}

TEST(DiscoverySources, DnsServersAreIpAddresses) {
  auto errors = errorsOf("discovery:\n  d: {type: dns, servers: [ns1.example.com:53]}\n"
                         "listeners: []\n");
  EXPECT_TRUE(hasError(errors, 2, 28, "discovery.d.servers[0]", ""));
}

TEST(ClusterDiscovery, DnsAAndAaaaWithPort) {
  auto config = configOf(withCluster(
      kSources,
      "    dns: {source: dns, name: users.default.svc.cluster.local, type: A, port: 8080}\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(onlyCluster(config).discovery->dns_type, DnsRecordType::kA);
  EXPECT_EQ(onlyCluster(config).discovery->port, 8080u);
  config = configOf(withCluster("", "    dns: {name: users.internal, type: AAAA, port: 1}\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(onlyCluster(config).discovery->dns_type, DnsRecordType::kAaaa);
  EXPECT_EQ(onlyCluster(config).discovery->port, 1u);
}

TEST(ClusterDiscovery, File) {
  auto config = configOf(withCluster("", "    file: {path: /etc/pilotfish/users.yaml}\n"));
  ASSERT_TRUE(config);
  const auto& d = *onlyCluster(config).discovery;
  EXPECT_EQ(d.kind, DiscoveryKind::kFile);
  EXPECT_EQ(d.source, "");
  // Read at run time, not at load: it need not exist yet.
  EXPECT_EQ(d.path, "/etc/pilotfish/users.yaml");
}

TEST(ClusterDiscovery, ClusterKeys) {
  auto config = configOf(withCluster(kSources,
                                     "    zookeeper: {source: zk, path: /services/db}\n"
                                     "    allow_empty: true\n"
                                     "    max_stale: 10m\n"
                                     "    initial_fetch_timeout: 0s\n"
                                     "    on_endpoint_removed: close\n"));
  ASSERT_TRUE(config);
  const auto& c = onlyCluster(config);
  EXPECT_TRUE(c.allow_empty);
  ASSERT_TRUE(c.max_stale);
  EXPECT_EQ(*c.max_stale, Duration(600000));
  EXPECT_EQ(c.initial_fetch_timeout, Duration(0));  // fail at once when there is no set yet
  EXPECT_EQ(c.on_endpoint_removed, OnEndpointRemoved::kClose);
}

TEST(ClusterDiscovery, OnEndpointRemovedIsForStaticClustersToo) {
  auto config = configOf(
      "clusters:\n  - {name: c, endpoints: [127.0.0.1:1], on_endpoint_removed: close}\n"
      "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(onlyCluster(config).on_endpoint_removed, OnEndpointRemoved::kClose);
}

TEST(ClusterDiscovery, SourcesMayFollowTheClusters) {
  auto config = configOf(
      "clusters:\n  - {name: c, etcd: {source: e, prefix: /s/users}}\n"
      "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n"
      "discovery:\n  e: {type: etcd, endpoints: [127.0.0.1:2379]}\n");
  ASSERT_TRUE(config);
  EXPECT_EQ(onlyCluster(config).discovery->source, "e");
}

// ---------------------------------------------------------------------------------------------
// Cluster discovery blocks: errors. With kSources the cluster's first line is line 8.

TEST(ClusterDiscoveryErrors, UnknownSourceWithHint) {
  // Sources of that type exist: they are listed.
  EXPECT_TRUE(onlyError(withCluster("  zk-a: {type: zookeeper, servers: [127.0.0.1:2181]}\n"
                                    "  zk-b: {type: zookeeper, servers: [127.0.0.1:2182]}\n",
                                    "    zookeeper: {source: zk, path: /s}\n"),
                        6, 25, "clusters[0].zookeeper.source",
                        "unknown discovery source \"zk\"; zookeeper sources: zk-a, zk-b"));
  // None of that type: how to define one.
  EXPECT_TRUE(onlyError(withCluster("  zk: {type: zookeeper, servers: [127.0.0.1:2181]}\n",
                                    "    etcd: {source: zk2, prefix: /s}\n"),
                        5, 20, "clusters[0].etcd.source",
                        "unknown discovery source \"zk2\"; define one under discovery: with type: "
                        "etcd"));
}

TEST(ClusterDiscoveryErrors, SourceOfAnotherType) {
  EXPECT_TRUE(onlyError(withCluster(kSources, "    zookeeper: {source: consul, path: /s}\n"), 8, 25,
                        "clusters[0].zookeeper.source",
                        "discovery source \"consul\" is of type consul, not zookeeper"));
  EXPECT_TRUE(onlyError(withCluster(kSources, "    dns: {source: zk, name: a.example}\n"), 8, 19,
                        "clusters[0].dns.source",
                        "discovery source \"zk\" is of type zookeeper, not dns"));
}

TEST(ClusterDiscoveryErrors, MissingRequiredKeys) {
  auto only = [](std::string_view block, int column, std::string_view path, std::string_view text) {
    return onlyError(withCluster(kSources, block), 8, column, path, text);
  };
  EXPECT_TRUE(only("    zookeeper: {path: /s}\n", 16, "clusters[0].zookeeper",
                   "missing required key \"source\" (the name of a zookeeper source under "
                   "discovery:)"));
  EXPECT_TRUE(only("    zookeeper: {source: zk}\n", 16, "clusters[0].zookeeper",
                   "missing required key \"path\" (the service path, e.g. /services/users)"));
  EXPECT_TRUE(only("    consul: {service: users}\n", 13, "clusters[0].consul",
                   "missing required key \"source\" (the name of a consul source"));
  EXPECT_TRUE(only("    consul: {source: consul}\n", 13, "clusters[0].consul",
                   "missing required key \"service\" (the Consul service name)"));
  EXPECT_TRUE(only("    etcd: {prefix: /s}\n", 11, "clusters[0].etcd",
                   "missing required key \"source\" (the name of a etcd source"));
  EXPECT_TRUE(only("    etcd: {source: etcd}\n", 11, "clusters[0].etcd",
                   "missing required key \"prefix\" (the key prefix, e.g. /services/users)"));
  EXPECT_TRUE(
      only("    dns: {source: dns}\n", 10, "clusters[0].dns", "missing required key \"name\""));
  EXPECT_TRUE(only("    file: {}\n", 11, "clusters[0].file",
                   "missing required key \"path\" (the file listing the endpoints)"));
}

TEST(ClusterDiscoveryErrors, KeyOfAnotherBlock) {
  // `prefix` is etcd's, `path` zookeeper's; `tag` is a typo of consul's `tags`.
  EXPECT_TRUE(
      onlyError(withCluster(kSources, "    zookeeper: {source: zk, prefix: /s, path: /s}\n"), 8, 29,
                "clusters[0].zookeeper.prefix", "unknown key \"prefix\""));
  EXPECT_TRUE(onlyError(withCluster(kSources, "    etcd: {source: etcd, path: /s, prefix: /s}\n"),
                        8, 26, "clusters[0].etcd.path", "unknown key \"path\""));
  EXPECT_TRUE(
      onlyError(withCluster(kSources, "    consul: {source: consul, service: u, tag: [a]}\n"), 8,
                42, "clusters[0].consul.tag", "unknown key \"tag\"; did you mean \"tags\"?"));
  EXPECT_TRUE(onlyError(withCluster(kSources, "    file: {source: zk, path: /etc/x.yaml}\n"), 8, 12,
                        "clusters[0].file.source", "unknown key \"source\""));
}

TEST(ClusterDiscoveryErrors, TwoEndpointSources) {
  Errors errors = errorsOf(withCluster(kSources,
                                       "    zookeeper: {source: zk, path: /s}\n"
                                       "    consul: {source: consul, service: s}\n"));
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 9, 5, "clusters[0].consul",
                       "a cluster has one endpoint source: endpoints, zookeeper, consul, etcd, "
                       "dns or file"));
  errors = errorsOf(withCluster(kSources,
                                "    endpoints: [127.0.0.1:1]\n"
                                "    file: {path: /etc/x.yaml}\n"));
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 9, 5, "clusters[0].file", "a cluster has one endpoint source"));
}

TEST(ClusterDiscoveryErrors, TwoEndpointSourcesBlameTheOneWrittenSecond) {
  // consul comes before zookeeper in the list of block names, but is written first here.
  Errors errors = errorsOf(withCluster(kSources,
                                       "    consul: {source: consul, service: s}\n"
                                       "    zookeeper: {source: zk, path: /s}\n"));
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 9, 5, "clusters[0].zookeeper", "a cluster has one endpoint source"));
  errors = errorsOf(withCluster(kSources,
                                "    file: {path: /etc/x.yaml}\n"
                                "    endpoints: [127.0.0.1:1]\n"));
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 9, 5, "clusters[0].endpoints", "a cluster has one endpoint source"));
}

TEST(ClusterDiscoveryErrors, NoEndpointSourceAtAll) {
  EXPECT_TRUE(onlyError(withCluster(kSources, "    connect_timeout: 1s\n"), 7, 5, "clusters[0]",
                        "missing required key \"endpoints\" (or a discovery block: zookeeper, "
                        "consul, etcd, dns or file)"));
}

TEST(ClusterDiscoveryErrors, DiscoveryOnlyKeysOnAStaticCluster) {
  Errors errors = errorsOf(
      "clusters:\n"
      "  - name: c\n"
      "    endpoints: [127.0.0.1:1]\n"
      "    allow_empty: true\n"
      "    max_stale: 1m\n"
      "    initial_fetch_timeout: 1s\n"
      "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n");
  ASSERT_EQ(errors.size(), 3u) << dump(errors);
  const char* text =
      "only for clusters with a discovery block (zookeeper, consul, etcd, dns, file)";
  EXPECT_TRUE(hasError(errors, 4, 5, "clusters[0].allow_empty", text));
  EXPECT_TRUE(hasError(errors, 5, 5, "clusters[0].max_stale", text));
  EXPECT_TRUE(hasError(errors, 6, 5, "clusters[0].initial_fetch_timeout", text));
}

TEST(ClusterDiscoveryErrors, DynamicHostClusterHasNoEndpointSource) {
  Errors errors = errorsOf(
      "clusters:\n"
      "  - name: c\n"
      "    type: dynamic_host\n"
      "    file: {path: /etc/x.yaml}\n"
      "    allow_empty: true\n"
      "listeners:\n  - {name: l, address: 127.0.0.1:7379, protocol: http, routes: "
      "[{match: {host_suffix: .x}, upstream_host_from_request: true, cluster: c}]}\n");
  ASSERT_EQ(errors.size(), 2u) << dump(errors);
  EXPECT_TRUE(
      hasError(errors, 4, 5, "clusters[0].file",
               "a dynamic_host cluster has no endpoint source: each request names its host"));
  EXPECT_TRUE(
      hasError(errors, 5, 5, "clusters[0].allow_empty", "only for clusters with a discovery"));
}

TEST(ClusterDiscoveryErrors, ClusterKeyValues) {
  auto one = [](std::string_view line, int column, std::string_view path, std::string_view text) {
    return onlyError(
        withCluster(kSources, std::string("    file: {path: /etc/x.yaml}\n") + std::string(line)),
        9, column, path, text);
  };
  EXPECT_TRUE(one("    allow_empty: yes\n", 18, "clusters[0].allow_empty", "got \"yes\""));
  EXPECT_TRUE(one("    max_stale: 0s\n", 16, "clusters[0].max_stale", "must be greater than 0"));
  EXPECT_TRUE(one("    max_stale: 10\n", 16, "clusters[0].max_stale", "got \"10\""));
  EXPECT_TRUE(one("    initial_fetch_timeout: 1.5s\n", 28, "clusters[0].initial_fetch_timeout",
                  "got \"1.5s\""));
  EXPECT_TRUE(one("    on_endpoint_removed: drain\n", 26, "clusters[0].on_endpoint_removed",
                  "unknown on_endpoint_removed \"drain\"; supported: keep, close"));
  EXPECT_TRUE(one("    on_endpoint_removed: Close\n", 26, "clusters[0].on_endpoint_removed",
                  "did you mean \"close\"?"));
}

TEST(ClusterDiscoveryErrors, ZnodePathsAndPrefixes) {
  EXPECT_TRUE(onlyError(
      withCluster(kSources, "    zookeeper: {source: zk, path: services/users}\n"), 8, 35,
      "clusters[0].zookeeper.path", "invalid path \"services/users\": must start with '/'"));
  EXPECT_TRUE(
      onlyError(withCluster(kSources, "    zookeeper: {source: zk, path: /services/users/}\n"), 8,
                35, "clusters[0].zookeeper.path", "must not end with '/'"));
  // An etcd prefix is a path too: the watcher appends the '/' (so /s/users never matches
  // /s/users-v2).
  EXPECT_TRUE(onlyError(withCluster(kSources, "    etcd: {source: etcd, prefix: /s/users/}\n"), 8,
                        34, "clusters[0].etcd.prefix", "must not end with '/'"));
  EXPECT_TRUE(onlyError(withCluster(kSources, "    etcd: {source: etcd, prefix: \"/s/a\\tb\"}\n"),
                        8, 34, "clusters[0].etcd.prefix", "must not contain control characters"));
}

TEST(ClusterDiscoveryErrors, Consul) {
  auto one = [](std::string_view block, int column, std::string_view path, std::string_view text) {
    return onlyError(withCluster(kSources, block), 8, column, path, text);
  };
  EXPECT_TRUE(one("    consul: {source: consul, service: \"user s\"}\n", 39,
                  "clusters[0].consul.service", "invalid name \"user s\""));
  EXPECT_TRUE(one("    consul: {source: consul, service: u, tags: [a, \"b c\"]}\n", 52,
                  "clusters[0].consul.tags[1]", "invalid tag \"b c\""));
  EXPECT_TRUE(one("    consul: {source: consul, service: u, tags: [\"\"]}\n", 49,
                  "clusters[0].consul.tags[0]", "invalid tag \"\""));
  EXPECT_TRUE(one("    consul: {source: consul, service: u, tags: [\"a&b\"]}\n", 49,
                  "clusters[0].consul.tags[0]", "invalid tag \"a&b\""));
  EXPECT_TRUE(one("    consul: {source: consul, service: u, tags: a}\n", 48,
                  "clusters[0].consul.tags", "expected a list"));
  EXPECT_TRUE(one("    consul: {source: consul, service: u, passing_only: \"true\"}\n", 56,
                  "clusters[0].consul.passing_only", "got the string \"true\""));
  EXPECT_TRUE(one("    consul: {source: consul, service: u, datacenter: \"\"}\n", 54,
                  "clusters[0].consul.datacenter", "must not be empty"));
}

TEST(ClusterDiscoveryErrors, Dns) {
  auto one = [](std::string_view block, int column, std::string_view path, std::string_view text) {
    return onlyError(withCluster(kSources, block), 8, column, path, text);
  };
  EXPECT_TRUE(one("    dns: {name: _users._tcp.service.consul, port: 80}\n", 45,
                  "clusters[0].dns.port", "only for type A or AAAA (SRV records carry the port)"));
  EXPECT_TRUE(one("    dns: {name: users.svc, type: SRV, port: 80}\n", 39, "clusters[0].dns.port",
                  "only for type A or AAAA"));
  EXPECT_TRUE(one("    dns: {name: users.svc, type: A}\n", 10, "clusters[0].dns",
                  "missing required key \"port\" (type A/AAAA records have no port)"));
  EXPECT_TRUE(one("    dns: {name: users.svc, type: AAAA}\n", 10, "clusters[0].dns",
                  "missing required key \"port\""));
  EXPECT_TRUE(one("    dns: {name: users.svc, type: A, port: 0}\n", 43, "clusters[0].dns.port",
                  "must be between 1 and 65535, got 0"));
  EXPECT_TRUE(one("    dns: {name: users.svc, type: A, port: 65536}\n", 43, "clusters[0].dns.port",
                  "must be between 1 and 65535"));
  EXPECT_TRUE(one("    dns: {name: users.svc, type: MX}\n", 34, "clusters[0].dns.type",
                  "unknown record type \"MX\"; supported: SRV, A, AAAA"));
  // Record types are written in capitals, as in zone files.
  EXPECT_TRUE(one("    dns: {name: users.svc, type: srv}\n", 34, "clusters[0].dns.type",
                  "unknown record type \"srv\""));
  EXPECT_TRUE(one("    dns: {name: \"users svc\"}\n", 17, "clusters[0].dns.name",
                  "invalid DNS name \"users svc\""));
  EXPECT_TRUE(
      one("    dns: {name: a..b}\n", 17, "clusters[0].dns.name", "invalid DNS name \"a..b\""));
  EXPECT_TRUE(one("    dns: {name: .}\n", 17, "clusters[0].dns.name", "invalid DNS name \".\""));
  EXPECT_TRUE(one("    dns: {name: " + std::string(64, 'a') + ".example}\n", 17,
                  "clusters[0].dns.name", "invalid DNS name"));
}

TEST(ClusterDiscoveryErrors, DnsTypeErrorIsNotAlsoAPortError) {
  // The type is unknown: whether a port belongs is not known, so the port is not blamed.
  Errors errors =
      errorsOf(withCluster(kSources, "    dns: {name: users.svc, type: MX, port: 25}\n"));
  ASSERT_EQ(errors.size(), 1u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 8, 34, "clusters[0].dns.type", "unknown record type \"MX\""));
}

TEST(ClusterDiscoveryErrors, FilePath) {
  EXPECT_TRUE(onlyError(withCluster("", "    file: {path: users.yaml}\n"), 3, 18,
                        "clusters[0].file.path",
                        "expected an absolute file path, got \"users.yaml\""));
  EXPECT_TRUE(onlyError(withCluster("", "    file: {path: /etc/pilotfish/}\n"), 3, 18,
                        "clusters[0].file.path", "expected an absolute file path"));
}

TEST(ClusterDiscoveryErrors, BlockNotAMap) {
  EXPECT_TRUE(onlyError(withCluster(kSources, "    zookeeper: /services/users\n"), 8, 16,
                        "clusters[0].zookeeper", "expected a map, got \"/services/users\""));
}

TEST(ClusterDiscoveryErrors, ABrokenSourceIsNotAlsoUnknown) {
  // One mistake, one error: the source with the bad type still counts as defined.
  EXPECT_TRUE(onlyError(withCluster("  zk: {type: zookeper, servers: [127.0.0.1:2181]}\n",
                                    "    zookeeper: {source: zk, path: /s}\n"),
                        2, 14, "discovery.zk.type", "unknown discovery source type \"zookeper\""));
  EXPECT_TRUE(onlyError(
      withCluster("  zk: {servers: [127.0.0.1:2181]}\n", "    zookeeper: {source: zk, path: /s}\n"),
      2, 7, "discovery.zk", "missing required key \"type\""));
}

TEST(ClusterDiscoveryErrors, AnUnreadableTlsFileIsNotAlsoAPairingError) {
  EXPECT_TRUE(onlyError(withTail("discovery:\n  c: {type: consul, tls: {cert_file: /nonexistent/c, "
                                 "key_file: " +
                                 files().key + "}}\n"),
                        2, 38, "discovery.c.tls.cert_file", "cannot read file \"/nonexistent/c\""));
}

// ---------------------------------------------------------------------------------------------
// Every error of a file at once, in file order

TEST(DiscoveryErrors, AllReportedAtOnce) {
  Errors errors = errorsOf(R"(discovery:
  zk: {type: zookeeper, servers: [], chroot: smartstack}
  consul: {type: consul, token_file: /nonexistent/token, endpoints: [127.0.0.1:2379]}
  bad: {type: kubernetes}
cache_dir: relative/dir
clusters:
  - name: a
    zookeeper: {source: consul, path: /services/a/}
  - name: b
    consul: {source: nope, service: b}
    allow_empty: maybe
  - name: c
    dns: {name: _c._tcp.example, type: A}
    on_endpoint_removed: drop
  - name: d
    endpoints: [127.0.0.1:1]
    max_stale: 1m
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: a}
)");
  std::vector<std::string> paths;
  for (const auto& e : errors) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "discovery.zk.servers", "discovery.zk.chroot", "discovery.consul.token_file",
                       "discovery.consul.endpoints", "discovery.bad.type", "cache_dir",
                       "clusters[0].zookeeper.source", "clusters[0].zookeeper.path",
                       "clusters[1].consul.source", "clusters[1].allow_empty", "clusters[2].dns",
                       "clusters[2].on_endpoint_removed", "clusters[3].max_stale"}))
      << dump(errors);
  for (std::size_t i = 1; i < errors.size(); ++i) {
    EXPECT_TRUE(errors[i - 1].line < errors[i].line ||
                (errors[i - 1].line == errors[i].line && errors[i - 1].column <= errors[i].column))
        << dump(errors);
  }
  EXPECT_TRUE(hasError(errors, 10, 22, "clusters[1].consul.source",
                       "unknown discovery source \"nope\"; consul sources: consul"));
}

// ---------------------------------------------------------------------------------------------
// ClusterDiscoveryConfig::watchKey: one watch (and one cache file) per distinct definition

// The watch key of cluster `index` in `yaml`.
std::string keyOf(const ConfigPtr& config, std::size_t index) {
  const auto& c = config->clusters.at(index);
  const auto& d = c.discovery.value();
  const DiscoverySourceConfig* src = d.kind == DiscoveryKind::kFile || d.source.empty()
                                         ? nullptr
                                         : &config->discovery.at(d.source_index);
  return d.watchKey(src);
}

// Clusters a and b, each with one discovery block, sharing the sources `discovery`.
ConfigPtr twoClusters(std::string_view discovery, std::string_view a, std::string_view b) {
  return configOf((discovery.empty() ? "" : "discovery:\n") + std::string(discovery) +
                  "clusters:\n  - name: a\n    " + std::string(a) + "\n  - name: b\n    " +
                  std::string(b) +
                  "\nlisteners:\n  - {name: l, address: 127.0.0.1:7379, cluster: a}\n");
}

::testing::AssertionResult sameKey(std::string_view discovery, std::string_view a,
                                   std::string_view b) {
  auto config = twoClusters(discovery, a, b);
  if (!config) return ::testing::AssertionFailure() << "invalid config";
  std::string ka = keyOf(config, 0), kb = keyOf(config, 1);
  if (ka == kb) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "keys differ:\n" << ka << "---\n" << kb;
}

::testing::AssertionResult distinctKeys(std::string_view discovery, std::string_view a,
                                        std::string_view b) {
  auto config = twoClusters(discovery, a, b);
  if (!config) return ::testing::AssertionFailure() << "invalid config";
  std::string ka = keyOf(config, 0), kb = keyOf(config, 1);
  if (ka != kb) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "same key for different definitions:\n" << ka;
}

TEST(WatchKey, SameDefinitionSameKey) {
  EXPECT_TRUE(sameKey(kSources, "zookeeper: {source: zk, path: /s/users}",
                      "zookeeper: {source: zk, path: /s/users}"));
  EXPECT_TRUE(sameKey(kSources, "etcd: {source: etcd, prefix: /s/users}",
                      "etcd: {source: etcd, prefix: /s/users}"));
  EXPECT_TRUE(sameKey(kSources, "dns: {source: dns, name: users.svc, type: A, port: 80}",
                      "dns: {source: dns, name: users.svc, type: A, port: 80}"));
  // A final dot makes the name absolute (no search domains): another query.
  EXPECT_FALSE(sameKey(kSources, "dns: {source: dns, name: users.svc, type: A, port: 80}",
                       "dns: {source: dns, name: users.svc., type: A, port: 80}"));
  EXPECT_TRUE(sameKey("", "file: {path: /etc/u.yaml}", "file: {path: /etc/u.yaml}"));
}

TEST(WatchKey, ConsulTagsOrderAndDefaultsDoNotMatter) {
  EXPECT_TRUE(sameKey(kSources, "consul: {source: consul, service: u, tags: [a, b, c]}",
                      "consul: {source: consul, service: u, tags: [c, a, b]}"));
  EXPECT_TRUE(sameKey(kSources, "consul: {source: consul, service: u}",
                      "consul: {source: consul, service: u, passing_only: true, tags: []}"));
  // The cluster's datacenter and the source's are the same datacenter.
  EXPECT_TRUE(sameKey("  consul: {type: consul, datacenter: dc1}\n",
                      "consul: {source: consul, service: u}",
                      "consul: {source: consul, service: u, datacenter: dc1}"));
}

TEST(WatchKey, TwoSourcesWithTheSameStoreShareTheWatch) {
  // Names and timeouts do not change the answer.
  EXPECT_TRUE(
      sameKey("  z1: {type: zookeeper, servers: [127.0.0.1:2181]}\n"
              "  z2: {type: zookeeper, servers: [127.0.0.1:2181], session_timeout: 30s}\n",
              "zookeeper: {source: z1, path: /s}", "zookeeper: {source: z2, path: /s}"));
}

TEST(WatchKey, DifferentDefinitionsDifferentKeys) {
  EXPECT_TRUE(distinctKeys(kSources, "zookeeper: {source: zk, path: /s/users}",
                           "zookeeper: {source: zk, path: /s/users-v2}"));
  EXPECT_TRUE(distinctKeys(kSources, "etcd: {source: etcd, prefix: /s/users}",
                           "etcd: {source: etcd, prefix: /s/users/a}"));
  // Same path in another store.
  EXPECT_TRUE(distinctKeys(kSources, "zookeeper: {source: zk, path: /s/users}",
                           "etcd: {source: etcd, prefix: /s/users}"));
  EXPECT_TRUE(distinctKeys("", "file: {path: /etc/a.yaml}", "file: {path: /etc/b.yaml}"));
  EXPECT_TRUE(distinctKeys(kSources, "consul: {source: consul, service: u}",
                           "consul: {source: consul, service: v}"));
  EXPECT_TRUE(distinctKeys(kSources, "consul: {source: consul, service: u, tags: [a]}",
                           "consul: {source: consul, service: u, tags: [a, b]}"));
  EXPECT_TRUE(distinctKeys(kSources, "consul: {source: consul, service: u}",
                           "consul: {source: consul, service: u, passing_only: false}"));
  EXPECT_TRUE(distinctKeys(kSources, "consul: {source: consul, service: u, datacenter: dc1}",
                           "consul: {source: consul, service: u, datacenter: dc2}"));
  EXPECT_TRUE(distinctKeys(kSources, "dns: {source: dns, name: u.svc, type: A, port: 80}",
                           "dns: {source: dns, name: u.svc, type: AAAA, port: 80}"));
  EXPECT_TRUE(distinctKeys(kSources, "dns: {source: dns, name: u.svc, type: A, port: 80}",
                           "dns: {source: dns, name: u.svc, type: A, port: 81}"));
  EXPECT_TRUE(distinctKeys(kSources, "dns: {source: dns, name: u.svc, type: SRV}",
                           "dns: {source: dns, name: v.svc, type: SRV}"));
}

TEST(WatchKey, DifferentStoresDifferentKeys) {
  // The same path in two ensembles, or under two chroots, is two services.
  EXPECT_TRUE(
      distinctKeys("  z1: {type: zookeeper, servers: [127.0.0.1:2181]}\n"
                   "  z2: {type: zookeeper, servers: [127.0.0.1:2182]}\n",
                   "zookeeper: {source: z1, path: /s}", "zookeeper: {source: z2, path: /s}"));
  EXPECT_TRUE(
      distinctKeys("  z1: {type: zookeeper, servers: [127.0.0.1:2181], chroot: /a}\n"
                   "  z2: {type: zookeeper, servers: [127.0.0.1:2181], chroot: /b}\n",
                   "zookeeper: {source: z1, path: /s}", "zookeeper: {source: z2, path: /s}"));
  EXPECT_TRUE(
      distinctKeys("  c1: {type: consul, address: 10.0.0.1:8500}\n"
                   "  c2: {type: consul, address: 10.0.0.2:8500}\n",
                   "consul: {source: c1, service: u}", "consul: {source: c2, service: u}"));
  EXPECT_TRUE(
      distinctKeys("  c1: {type: consul, datacenter: dc1}\n"
                   "  c2: {type: consul, datacenter: dc2}\n",
                   "consul: {source: c1, service: u}", "consul: {source: c2, service: u}"));
  EXPECT_TRUE(
      distinctKeys("  e1: {type: etcd, endpoints: [127.0.0.1:2379]}\n"
                   "  e2: {type: etcd, endpoints: [127.0.0.1:2380]}\n",
                   "etcd: {source: e1, prefix: /s}", "etcd: {source: e2, prefix: /s}"));
  EXPECT_TRUE(distinctKeys("  d1: {type: dns, servers: [127.0.0.1:53]}\n",
                           "dns: {source: d1, name: u.svc}", "dns: {name: u.svc}"));
}

TEST(WatchKey, ValuesCannotForgeAnotherDefinition) {
  // One field per line, names included: a tag cannot pass for two tags.
  EXPECT_TRUE(distinctKeys(kSources, "consul: {source: consul, service: u, tags: [a, b]}",
                           "consul: {source: consul, service: u, tags: [\"a,b\"]}"));
}

// ---------------------------------------------------------------------------------------------
// /config rendering (config::toJson)

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(DiscoveryToJson, SourcesWithTheirDefaults) {
  auto config = configOf(withTail(std::string("discovery:\n") + std::string(kSources)));
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_TRUE(contains(
      json,
      R"("discovery":{"zk":{"type":"zookeeper","servers":["127.0.0.1:2181"],"chroot":"",)"
      R"("session_timeout":"10s"},)"
      R"("consul":{"type":"consul","address":"127.0.0.1:8500","datacenter":"","token_file":"",)"
      R"("timeout":"2s"},)"
      R"("etcd":{"type":"etcd","endpoints":["127.0.0.1:2379"],"timeout":"2s"},)"
      R"("dns":{"type":"dns","servers":[],"min_ttl":"1s","max_ttl":"5m","timeout":"2s"}},)"
      R"("cache_dir":"","clusters")"))
      << json;
}

TEST(DiscoveryToJson, SourcesShowFilePathsNeverTheirContent) {
  const auto& f = files();
  auto config =
      configOf(withTail("discovery:\n"
                        "  zk:\n"
                        "    type: zookeeper\n"
                        "    servers: [zk1:2181]\n"
                        "    chroot: /smartstack\n"
                        "    auth: {scheme: digest, credentials_file: " +
                        f.credentials +
                        "}\n"
                        "  consul:\n"
                        "    type: consul\n"
                        "    address: 127.0.0.1:8501\n"
                        "    datacenter: dc1\n"
                        "    token_file: " +
                        f.token +
                        "\n"
                        "    tls: {ca_file: " +
                        f.ca + ", cert_file: " + f.cert + ", key_file: " + f.key +
                        "}\n"
                        "  etcd: {type: etcd, endpoints: [127.0.0.1:2379], tls: {ca_file: " +
                        f.ca + "}}\n" + "cache_dir: " + f.dir + "\n"));
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_TRUE(contains(json, R"("zk":{"type":"zookeeper","servers":["zk1:2181"],)"
                             R"("chroot":"/smartstack","session_timeout":"10s",)"
                             R"("auth":{"scheme":"digest","credentials_file":")" +
                                 f.credentials + R"("}})"))
      << json;
  EXPECT_TRUE(contains(json, R"("consul":{"type":"consul","address":"127.0.0.1:8501",)"
                             R"("datacenter":"dc1","token_file":")" +
                                 f.token + R"(","timeout":"2s","tls":{"ca_file":")" + f.ca +
                                 R"(","cert_file":")" + f.cert + R"(","key_file":")" + f.key +
                                 R"("}})"))
      << json;
  EXPECT_TRUE(contains(json, R"("etcd":{"type":"etcd","endpoints":["127.0.0.1:2379"],)"
                             R"("timeout":"2s","tls":{"ca_file":")" +
                                 f.ca + R"(","cert_file":"","key_file":""}})"))
      << json;
  EXPECT_TRUE(contains(json, R"("cache_dir":")" + f.dir + R"(")")) << json;
  // The files are named, never read into the config.
  EXPECT_FALSE(contains(json, kToken)) << json;
  EXPECT_FALSE(contains(json, kCredentials)) << json;
  EXPECT_FALSE(contains(json, "pa55")) << json;
  EXPECT_FALSE(contains(json, kKey)) << json;
}

TEST(DiscoveryToJson, ClusterBlocks) {
  auto config = configOf("discovery:\n" + std::string(kSources) +
                         "clusters:\n"
                         "  - {name: z, zookeeper: {source: zk, path: /s/z}, allow_empty: true,"
                         " max_stale: 10m, initial_fetch_timeout: 0s, on_endpoint_removed: close}\n"
                         "  - {name: c, consul: {source: consul, service: u, tags: [b, a],"
                         " passing_only: false, datacenter: dc2}}\n"
                         "  - {name: e, etcd: {source: etcd, prefix: /s/e}}\n"
                         "  - {name: s, dns: {source: dns, name: _u._tcp.service.consul}}\n"
                         "  - {name: a, dns: {name: u.svc, type: AAAA, port: 8080}}\n"
                         "  - {name: f, file: {path: /etc/f.yaml}}\n"
                         "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: z}\n");
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_TRUE(contains(json,
                       R"({"name":"z","endpoints":[],"zookeeper":{"source":"zk","path":"/s/z"},)"
                       R"("allow_empty":true,"max_stale":"10m","initial_fetch_timeout":"0s",)"
                       R"("on_endpoint_removed":"close","connect_timeout":"1s",)"))
      << json;
  // Tags as written; defaults filled in.
  EXPECT_TRUE(contains(json,
                       R"({"name":"c","endpoints":[],"consul":{"source":"consul","service":"u",)"
                       R"("tags":["b","a"],"passing_only":false,"datacenter":"dc2"},)"
                       R"("allow_empty":false,"max_stale":null,"initial_fetch_timeout":"5s",)"
                       R"("on_endpoint_removed":"keep",)"))
      << json;
  EXPECT_TRUE(
      contains(json, R"({"name":"e","endpoints":[],"etcd":{"source":"etcd","prefix":"/s/e"},)"))
      << json;
  EXPECT_TRUE(contains(json, R"({"name":"s","endpoints":[],"dns":{"source":"dns",)"
                             R"("name":"_u._tcp.service.consul","type":"SRV"},)"))
      << json;
  // No source: none shown; A/AAAA show their port.
  EXPECT_TRUE(contains(json, R"({"name":"a","endpoints":[],"dns":{"name":"u.svc","type":"AAAA",)"
                             R"("port":8080},)"))
      << json;
  EXPECT_TRUE(contains(json, R"({"name":"f","endpoints":[],"file":{"path":"/etc/f.yaml"},)"
                             R"("allow_empty":false,)"))
      << json;
}

TEST(DiscoveryToJson, StaticClusterHasNoDiscoveryKeys) {
  auto config = configOf(kTail);
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_FALSE(contains(json, "allow_empty")) << json;
  EXPECT_FALSE(contains(json, "initial_fetch_timeout")) << json;
  EXPECT_TRUE(contains(json, R"("on_endpoint_removed":"keep","connect_timeout")")) << json;
}

}  // namespace
}  // namespace pilotfish::config
