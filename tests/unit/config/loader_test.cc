#include "pilotfish/config/loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <string>
#include <string_view>
#include <variant>

#include "loader_test_util.h"

namespace pilotfish::config {
namespace {

using namespace pilotfish::config::test_util;  // NOLINT(google-build-using-namespace)

// A valid tail: one cluster, one listener. Tests prepend top-level lines to it, so an error in
// the prepended text is on line 1 (or the line the test counts).
constexpr std::string_view kBase =
    "clusters:\n"
    "  - name: c\n"
    "    endpoints: [127.0.0.1:6379]\n"
    "listeners:\n"
    "  - {name: l, address: 127.0.0.1:7379, cluster: c}\n";

std::string withBase(std::string_view prefix) {
  return std::string(prefix) + std::string(kBase);
}

std::string hostName() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// ---------------------------------------------------------------------------------------------
// Valid configs and defaults

TEST(Loader, MinimalConfigGetsEveryDefault) {
  auto config = configOf(kBase);
  ASSERT_TRUE(config);
  EXPECT_EQ(config->source_path, kFile);
  EXPECT_EQ(config->node.id, hostName());
  EXPECT_EQ(config->node.zone, "");
  EXPECT_EQ(config->workers, 0u);
  EXPECT_EQ(config->drain_delay, Duration(0));
  EXPECT_EQ(config->drain_timeout, Duration(15000));
  EXPECT_EQ(config->admin.address.toString(), "127.0.0.1:9901");
  EXPECT_EQ(config->log.level, "info");
  EXPECT_EQ(config->log.format, LogFormat::kText);
  ASSERT_EQ(config->clusters.size(), 1u);
  const ClusterConfig& c = config->clusters[0];
  EXPECT_EQ(c.name, "c");
  EXPECT_EQ(c.connect_timeout, Duration(1000));
  EXPECT_EQ(c.lb.policy, LbPolicy::kRoundRobin);
  ASSERT_EQ(c.endpoints.size(), 1u);
  EXPECT_EQ(c.endpoints[0].address.toString(), "127.0.0.1:6379");
  EXPECT_EQ(c.endpoints[0].weight, 1u);
  EXPECT_EQ(c.endpoints[0].zone, "");
  ASSERT_EQ(config->listeners.size(), 1u);
  const ListenerConfig& l = config->listeners[0];
  EXPECT_EQ(l.name, "l");
  EXPECT_EQ(l.address.toString(), "127.0.0.1:7379");
  EXPECT_EQ(l.protocol, ListenerProtocol::kTcp);
  EXPECT_EQ(l.cluster, "c");
  EXPECT_EQ(l.cluster_index, 0u);
  EXPECT_EQ(l.idle_timeout, Duration(3600 * 1000));
  EXPECT_EQ(l.max_connections, 0u);
}

TEST(Loader, EverySupportedKey) {
  auto config = configOf(R"(node: {id: web-1, zone: eu-west-1a}
workers: 4
drain_delay: 5s
drain_timeout: 2m
admin: {address: "[::1]:9999"}
log: {level: debug, format: json}
clusters:
  - name: redis
    endpoints:
      - 127.0.0.1:6379
      - {address: 127.0.0.1:6380, weight: 2, zone: b}
      - {address: "[::1]:6381", weight: 0}
      - address: 10.0.0.1:6382
        weight: 65535
    connect_timeout: 250ms
    lb: {policy: round_robin}
  - name: db.main_2-x
    endpoints: ["[2001:db8::1]:3306"]
listeners:
  - {name: redis, address: 127.0.0.1:7379, protocol: tcp, cluster: redis, idle_timeout: 10m}
  - name: db
    address: "[::1]:3307"
    cluster: db.main_2-x
    max_connections: 4294967295
)");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->node.id, "web-1");
  EXPECT_EQ(config->node.zone, "eu-west-1a");
  EXPECT_EQ(config->workers, 4u);
  EXPECT_EQ(config->drain_delay, Duration(5000));
  EXPECT_EQ(config->drain_timeout, Duration(120000));
  EXPECT_EQ(config->admin.address.host, "::1");
  EXPECT_EQ(config->admin.address.port, 9999);
  EXPECT_EQ(config->admin.address.kind, net::HostPort::Kind::kIpv6);
  EXPECT_EQ(config->log.level, "debug");
  EXPECT_EQ(config->log.format, LogFormat::kJson);
  ASSERT_EQ(config->clusters.size(), 2u);
  const auto& eps = config->clusters[0].endpoints;
  ASSERT_EQ(eps.size(), 4u);
  EXPECT_EQ(eps[1].address.toString(), "127.0.0.1:6380");
  EXPECT_EQ(eps[1].weight, 2u);
  EXPECT_EQ(eps[1].zone, "b");
  EXPECT_EQ(eps[2].address.toString(), "[::1]:6381");
  EXPECT_EQ(eps[2].weight, 0u);
  EXPECT_EQ(eps[3].weight, 65535u);
  EXPECT_EQ(config->clusters[0].connect_timeout, Duration(250));
  EXPECT_EQ(config->clusters[1].name, "db.main_2-x");
  ASSERT_EQ(config->listeners.size(), 2u);
  EXPECT_EQ(config->listeners[0].idle_timeout, Duration(600000));
  EXPECT_EQ(config->listeners[0].cluster_index, 0u);
  EXPECT_EQ(config->listeners[1].cluster_index, 1u);
  EXPECT_EQ(config->listeners[1].max_connections, 4294967295u);
  EXPECT_EQ(config->findCluster("db.main_2-x"), 1u);
  EXPECT_EQ(config->findCluster("nope"), std::nullopt);
}

TEST(Loader, ZeroDrainValuesAreAllowed) {
  auto config = configOf(withBase("drain_delay: 0s\ndrain_timeout: 0ms\nworkers: 1024\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->drain_delay, Duration(0));
  EXPECT_EQ(config->drain_timeout, Duration(0));
  EXPECT_EQ(config->workers, 1024u);
}

TEST(Loader, ClustersMayBeDeclaredInAnyOrder) {
  auto config = configOf(R"(listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: b}
clusters:
  - {name: a, endpoints: [127.0.0.1:1]}
  - {name: b, endpoints: [127.0.0.1:2]}
)");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->listeners[0].cluster_index, 1u);
}

TEST(Loader, ShippedConfigsAreValid) {
  // The shipped configs live in <source>/config.
  auto root = std::filesystem::path(PILOTFISH_SOURCE_DIR);
  for (const char* name : {"config/quickstart.yaml", "config/example.yaml"}) {
    auto path = (root / name).lexically_normal().string();
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    auto result = loadFromFile(path);
    auto* errors = std::get_if<Errors>(&result);
    EXPECT_EQ(errors, nullptr) << path << ":\n" << (errors ? dump(*errors) : "");
  }
  auto quickstart = loadFromFile((root / "config/quickstart.yaml").lexically_normal().string());
  ASSERT_TRUE(std::holds_alternative<ConfigPtr>(quickstart));
  const Config& q = *std::get<ConfigPtr>(quickstart);
  EXPECT_EQ(q.listeners.at(0).address.toString(), "127.0.0.1:7379");
  EXPECT_EQ(q.clusters.at(0).endpoints.at(0).address.toString(), "127.0.0.1:6379");
  EXPECT_EQ(q.drain_timeout, Duration(5000));
}

// ---------------------------------------------------------------------------------------------
// Files and documents

TEST(Loader, MissingFileIsOneError) {
  auto result = loadFromFile("/nonexistent/pilotfish.yaml");
  auto* errors = std::get_if<Errors>(&result);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].file, "/nonexistent/pilotfish.yaml");
  EXPECT_EQ((*errors)[0].line, 0);
  EXPECT_NE((*errors)[0].message.find("cannot open"), std::string::npos);
  EXPECT_NE((*errors)[0].message.find("No such file"), std::string::npos);
}

TEST(Loader, DirectoryIsOneError) {
  auto result = loadFromFile(std::filesystem::temp_directory_path().string());
  auto* errors = std::get_if<Errors>(&result);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_NE((*errors)[0].message.find("directory"), std::string::npos);
}

TEST(Loader, LoadFromFileNamesTheFile) {
  auto path = std::filesystem::temp_directory_path() /
              ("pilotfish_loader_test_" + std::to_string(getpid()) + ".yaml");
  {
    std::ofstream out(path);
    out << withBase("workers: x\n");
  }
  auto result = loadFromFile(path.string());
  std::filesystem::remove(path);
  auto* errors = std::get_if<Errors>(&result);
  ASSERT_NE(errors, nullptr);
  ASSERT_EQ(errors->size(), 1u);
  EXPECT_EQ((*errors)[0].file, path.string());
  EXPECT_EQ((*errors)[0].toString(),
            path.string() + ":1:10: workers: expected a decimal integer, got \"x\"");
}

TEST(Loader, SyntaxErrorKeepsTheMark) {
  EXPECT_TRUE(onlyError("workers: 1\n  bad: 2\n", 2, 6, "", "YAML syntax error"));
  EXPECT_TRUE(onlyError("clusters: [a\n", 2, 1, "", "end of sequence flow not found"));
  EXPECT_TRUE(onlyError("a:\n\tb: 1\n", 2, 3, "", "YAML syntax error"));
}

TEST(Loader, EmptyDocument) {
  EXPECT_TRUE(onlyError("", 1, 1, "", "empty document"));
  EXPECT_TRUE(onlyError("# only a comment\n", 1, 1, "", "empty document"));
  EXPECT_TRUE(onlyError("~\n", 1, 1, "", "empty document"));
}

TEST(Loader, RootMustBeAMap) {
  EXPECT_TRUE(onlyError("- a\n- b\n", 1, 1, "", "expected a map, got a list"));
  EXPECT_TRUE(onlyError("hello\n", 1, 1, "", "expected a map, got \"hello\""));
}

TEST(Loader, SingleDocumentOnly) {
  EXPECT_TRUE(onlyError(withBase("") + "---\nworkers: 1\n", 6, 1, "",
                        "expected a single YAML document, found more than one"));
  // A syntax error in the second document is still found.
  EXPECT_TRUE(onlyError(withBase("") + "---\n[a\n", 8, 1, "", "YAML syntax error"));
  // Document markers around a single document are fine.
  EXPECT_TRUE(configOf("---\n" + withBase("") + "...\n"));
}

TEST(Loader, StrayFlowTokenIsASyntaxErrorNotAHang) {
  // yaml-cpp 0.7's LoadAll never returns on these (jbeder/yaml-cpp#1040).
  EXPECT_TRUE(onlyError(",\n", 1, 1, "", "YAML syntax error: unexpected \",\""));
  EXPECT_TRUE(onlyError("# c\n  , x\n", 2, 3, "", "YAML syntax error: unexpected \",\""));
  EXPECT_TRUE(onlyError("--- ]\n", 1, 5, "", "YAML syntax error"));
  EXPECT_TRUE(onlyError(withBase("") + "---\n,\n", 7, 1, "", "YAML syntax error"));
}

// ---------------------------------------------------------------------------------------------
// Keys and types

TEST(Loader, UnknownKeyWithSuggestion) {
  EXPECT_TRUE(onlyError(withBase("worker: 2\n"), 1, 1, "worker",
                        "unknown key \"worker\"; did you mean \"workers\"?"));
}

TEST(Loader, UnknownKeyListsTheKnownOnes) {
  EXPECT_TRUE(
      onlyError(withBase("frobnicate: 2\n"), 1, 1, "frobnicate",
                "unknown key \"frobnicate\"; expected one of: node, workers, drain_delay, "
                "drain_timeout, admin, log, access_log, tracing, discovery, cache_dir, clusters, "
                "listeners"));
}

TEST(Loader, UnknownNestedKeys) {
  Errors errors = errorsOf(R"(node: {id: a, zome: b}
admin: {address: 127.0.0.1:9901, port: 1}
log: {level: info, colour: true}
clusters:
  - name: c
    endpoints: [{address: 127.0.0.1:1, wieght: 2}]
    conect_timeout: 1s
    lb: {policy: round_robin, hash: x}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c, protcol: tcp}
)");
  EXPECT_EQ(errors.size(), 7u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 1, 15, "node.zome", "did you mean \"zone\"?"));
  EXPECT_TRUE(hasError(errors, 2, 34, "admin.port", "unknown key \"port\""));
  EXPECT_TRUE(hasError(errors, 3, 20, "log.colour", "unknown key \"colour\""));
  EXPECT_TRUE(
      hasError(errors, 6, 40, "clusters[0].endpoints[0].wieght", "did you mean \"weight\"?"));
  EXPECT_TRUE(
      hasError(errors, 7, 5, "clusters[0].conect_timeout", "did you mean \"connect_timeout\"?"));
  EXPECT_TRUE(hasError(errors, 8, 31, "clusters[0].lb.hash", "unknown key \"hash\""));
  EXPECT_TRUE(hasError(errors, 10, 52, "listeners[0].protcol", "did you mean \"protocol\"?"));
}

TEST(Loader, DuplicateKey) {
  EXPECT_TRUE(onlyError(withBase("workers: 1\nworkers: 2\n"), 2, 1, "workers",
                        "duplicate key \"workers\" (first at line 1)"));
}

TEST(Loader, NonStringKey) {
  EXPECT_TRUE(onlyError(withBase("? [a]\n: 1\n"), 1, 3, "", "expected a string key, got a list"));
}

TEST(Loader, WrongTypes) {
  Errors errors = errorsOf(R"(node: [a]
workers: {n: 1}
admin: 127.0.0.1:9901
log:
  level: [info]
clusters: {name: c}
listeners:
  - {name: l, address: [127.0.0.1], cluster: {name: c}}
)");
  EXPECT_EQ(errors.size(), 7u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 1, 7, "node", "expected a map, got a list"));
  EXPECT_TRUE(hasError(errors, 2, 10, "workers", "expected an integer, got a map"));
  EXPECT_TRUE(hasError(errors, 3, 8, "admin", "expected a map, got \"127.0.0.1:9901\""));
  EXPECT_TRUE(hasError(errors, 5, 10, "log.level", "expected a string, got a list"));
  EXPECT_TRUE(hasError(errors, 6, 11, "clusters", "expected a list, got a map"));
  EXPECT_TRUE(hasError(errors, 8, 24, "listeners[0].address",
                       "expected ip:port like 127.0.0.1:80 or \"[::1]:80\" (quote IPv6 addresses "
                       "in YAML), got a list"));
  EXPECT_TRUE(hasError(errors, 8, 46, "listeners[0].cluster", "expected a string, got a map"));
}

TEST(Loader, EmptyValueIsReportedAtItsKey) {
  // `workers:` has no value; the error points at the key, not at the next line.
  EXPECT_TRUE(onlyError(withBase("workers:\n\n\n"), 1, 1, "workers",
                        "expected an integer, got an empty value"));
  EXPECT_TRUE(onlyError(withBase("node:\n  id: ~\n"), 2, 3, "node.id",
                        "expected a string, got an empty value"));
}

// ---------------------------------------------------------------------------------------------
// Scalars: integers, durations, addresses, names

struct ScalarCase {
  const char* line;  // a top-level line prepended to kBase
  int column;
  const char* path;
  const char* message;
};

void PrintTo(const ScalarCase& c, std::ostream* os) {
  *os << c.line;
}

class ScalarError : public ::testing::TestWithParam<ScalarCase> {};

TEST_P(ScalarError, IsReported) {
  const ScalarCase& c = GetParam();
  EXPECT_TRUE(onlyError(withBase(std::string(c.line) + "\n"), 1, c.column, c.path, c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Integers, ScalarError,
    ::testing::Values(
        ScalarCase{"workers: \"4\"", 10, "workers",
                   "expected a plain integer, got the string \"4\""},
        ScalarCase{"workers: '4'", 10, "workers", "expected a plain integer"},
        ScalarCase{"workers: !!int 4", 10, "workers", "expected a plain integer"},
        ScalarCase{"workers: 0x10", 10, "workers", "expected a decimal integer, got \"0x10\""},
        ScalarCase{"workers: 1e3", 10, "workers", "expected a decimal integer"},
        ScalarCase{"workers: 4.0", 10, "workers", "expected a decimal integer"},
        ScalarCase{"workers: 1_000", 10, "workers", "expected a decimal integer"},
        ScalarCase{"workers: +4", 10, "workers", "expected a decimal integer"},
        ScalarCase{"workers: four", 10, "workers", "expected a decimal integer, got \"four\""},
        ScalarCase{"workers: 010", 10, "workers", "without leading zeros"},
        ScalarCase{"workers: -1", 10, "workers", "must be between 0 and 1024, got -1"},
        ScalarCase{"workers: 1025", 10, "workers", "must be between 0 and 1024, got 1025"},
        ScalarCase{"workers: 99999999999999999999999", 10, "workers",
                   "must be between 0 and 1024"}));

INSTANTIATE_TEST_SUITE_P(
    Durations, ScalarError,
    ::testing::Values(
        ScalarCase{"drain_delay: 5 s", 14, "drain_delay",
                   "expected a duration like 250ms, 5s, 2m or 1h, got \"5 s\""},
        ScalarCase{"drain_delay: 5", 14, "drain_delay", "got \"5\" (missing unit)"},
        ScalarCase{"drain_delay: -5s", 14, "drain_delay", "(negative durations are not allowed)"},
        ScalarCase{"drain_delay: 1.5s", 14, "drain_delay", "(no fractions; use a smaller unit"},
        ScalarCase{"drain_delay: 5sec", 14, "drain_delay", "got \"5sec\""},
        ScalarCase{"drain_delay: 1d", 14, "drain_delay", "got \"1d\""},
        ScalarCase{"drain_timeout: 2562048h", 16, "drain_timeout",
                   "(too large; the maximum is 2562047h)"},
        ScalarCase{"drain_timeout: 99999999999999999999999s", 16, "drain_timeout", "too large"},
        ScalarCase{"drain_timeout: [5s]", 16, "drain_timeout",
                   "expected a duration like 250ms, 5s, 2m or 1h, got a list"}));

INSTANTIATE_TEST_SUITE_P(
    AdminAddress, ScalarError,
    ::testing::Values(
        ScalarCase{"admin: {address: localhost:9901}", 18, "admin.address",
                   "host names are not allowed"},
        ScalarCase{"admin: {address: 127.0.0.1}", 18, "admin.address",
                   "invalid address \"127.0.0.1\": missing port; expected ip:port like"},
        ScalarCase{"admin: {address: \"127.0.0.1:0\"}", 18, "admin.address",
                   "port out of range 1-65535"},
        ScalarCase{"admin: {address: \"127.0.0.1:65536\"}", 18, "admin.address",
                   "port out of range"},
        ScalarCase{"admin: {address: \"::1:9901\"}", 18, "admin.address", "must be in brackets"},
        ScalarCase{"admin: {address: \"127.0.0.1:+80\"}", 18, "admin.address",
                   "port must be a decimal number"}));

INSTANTIATE_TEST_SUITE_P(
    NodeAndLog, ScalarError,
    ::testing::Values(
        ScalarCase{"node: {id: \"\"}", 12, "node.id", "must not be empty"},
        ScalarCase{"log: {level: warning}", 14, "log.level",
                   "unknown log level \"warning\"; did you mean \"warn\"?; supported: trace, "
                   "debug, info, warn, error, critical, off"},
        ScalarCase{"log: {level: loud}", 14, "log.level", "unknown log level \"loud\""},
        ScalarCase{"log: {format: xml}", 15, "log.format",
                   "unknown log format \"xml\"; supported: text, json"}));

TEST(Loader, NodeIdDefaultsToHostNameAndZoneIsKept) {
  auto config = configOf(withBase("node: {zone: z1}\n"));
  ASSERT_TRUE(config);
  EXPECT_EQ(config->node.id, hostName());
  EXPECT_EQ(config->node.zone, "z1");
}

TEST(Loader, LogLevelsAndFormats) {
  for (const char* level : {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
    auto config = configOf(withBase(std::string("log: {level: ") + level + ", format: json}\n"));
    ASSERT_TRUE(config) << level;
    EXPECT_EQ(config->log.level, level);
    EXPECT_EQ(config->log.format, LogFormat::kJson);
  }
}

// ---------------------------------------------------------------------------------------------
// Clusters

TEST(Loader, ClusterNameRules) {
  Errors errors = errorsOf(R"(clusters:
  - endpoints: [127.0.0.1:1]
  - {name: "", endpoints: [127.0.0.1:1]}
  - {name: "a b", endpoints: [127.0.0.1:1]}
  - {name: c, endpoints: [127.0.0.1:1]}
  - {name: c, endpoints: [127.0.0.1:2]}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)");
  EXPECT_EQ(errors.size(), 4u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 2, 5, "clusters[0]", "missing required key \"name\""));
  EXPECT_TRUE(hasError(errors, 3, 12, "clusters[1].name", "must not be empty"));
  EXPECT_TRUE(hasError(errors, 4, 12, "clusters[2].name",
                       "invalid name \"a b\"; use only letters, digits, '_', '.' and '-'"));
  // The duplicate is reported at the second definition and names the first one's line.
  EXPECT_TRUE(hasError(errors, 6, 12, "clusters[4].name",
                       "duplicate cluster name \"c\" (first defined at line 5)"));
}

TEST(Loader, ClusterNeedsEndpoints) {
  Errors errors = errorsOf(R"(clusters:
  - name: a
  - name: b
    endpoints: []
  - name: c
    endpoints: 127.0.0.1:1
  - name: d
    endpoints:
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: a}
)");
  EXPECT_EQ(errors.size(), 4u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 2, 5, "clusters[0]",
                       "missing required key \"endpoints\" (or a discovery block: zookeeper, "
                       "consul, etcd, dns or file)"));
  EXPECT_TRUE(
      hasError(errors, 4, 16, "clusters[1].endpoints", "at least one endpoint is required"));
  EXPECT_TRUE(
      hasError(errors, 6, 16, "clusters[2].endpoints", "expected a list, got \"127.0.0.1:1\""));
  EXPECT_TRUE(
      hasError(errors, 8, 5, "clusters[3].endpoints", "expected a list, got an empty value"));
}

TEST(Loader, EndpointErrors) {
  Errors errors = errorsOf(R"(clusters:
  - name: c
    endpoints:
      - 127.0.0.1:1
      - localhost:2
      - "127.0.0.1:0"
      - {weight: 2}
      - {address: 127.0.0.1:3, weight: 65536}
      - {address: 127.0.0.1:4, weight: -1}
      - {address: 127.0.0.1:5, weight: "2"}
      - {address: 127.0.0.1:6, zone: [a]}
      - [127.0.0.1:7]
      - 127.0.0.1:1
      - "::1:8"
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)");
  EXPECT_EQ(errors.size(), 10u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 5, 9, "clusters[0].endpoints[1]",
                       "invalid address \"localhost:2\": expected an IP address, got host name"));
  EXPECT_TRUE(hasError(errors, 6, 9, "clusters[0].endpoints[2]", "port out of range 1-65535"));
  EXPECT_TRUE(
      hasError(errors, 7, 9, "clusters[0].endpoints[3]", "missing required key \"address\""));
  EXPECT_TRUE(hasError(errors, 8, 40, "clusters[0].endpoints[4].weight",
                       "must be between 0 and 65535, got 65536"));
  EXPECT_TRUE(hasError(errors, 9, 40, "clusters[0].endpoints[5].weight",
                       "must be between 0 and 65535, got -1"));
  EXPECT_TRUE(
      hasError(errors, 10, 40, "clusters[0].endpoints[6].weight", "expected a plain integer"));
  EXPECT_TRUE(
      hasError(errors, 11, 38, "clusters[0].endpoints[7].zone", "expected a string, got a list"));
  EXPECT_TRUE(hasError(errors, 12, 9, "clusters[0].endpoints[8]",
                       "expected an endpoint (\"ip:port\" or a map with address, weight, zone), "
                       "got a list"));
  EXPECT_TRUE(hasError(errors, 13, 9, "clusters[0].endpoints[9]",
                       "duplicate endpoint 127.0.0.1:1 (first at line 4)"));
  EXPECT_TRUE(hasError(errors, 14, 9, "clusters[0].endpoints[10]", "must be in brackets"));
}

TEST(Loader, ConnectTimeoutMustBePositive) {
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1], connect_timeout: 0ms}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)",
                        2, 58, "clusters[0].connect_timeout", "must be greater than 0"));
}

class LbPolicyLater : public ::testing::TestWithParam<const char*> {};

TEST_P(LbPolicyLater, IsNotSupportedYet) {
  std::string yaml = std::string("clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n") +
                     "    lb: {policy: " + GetParam() + "}\n" +
                     "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n";
  EXPECT_TRUE(onlyError(yaml, 4, 18, "clusters[0].lb.policy",
                        std::string("lb policy \"") + GetParam() +
                            "\" is not supported yet; supported: round_robin"));
}

INSTANTIATE_TEST_SUITE_P(All, LbPolicyLater,
                         ::testing::Values("least_request", "ewma", "ring_hash", "maglev",
                                           "ordered", "zone_aware", "random"));

TEST(Loader, UnknownLbPolicyIsAPlainError) {
  Errors errors = errorsOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1], lb: {policy: round_robbin}}
  - {name: d, endpoints: [127.0.0.1:1], lb: {policy: fastest}}
  - {name: e, endpoints: [127.0.0.1:1], lb: round_robin}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)");
  EXPECT_EQ(errors.size(), 3u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 2, 54, "clusters[0].lb.policy",
                       "unknown lb policy \"round_robbin\"; did you mean \"round_robin\"?"));
  EXPECT_TRUE(hasError(errors, 3, 54, "clusters[1].lb.policy",
                       "unknown lb policy \"fastest\"; supported: round_robin"));
  for (const auto& e : errors) EXPECT_EQ(e.message.find("not supported yet"), std::string::npos);
  EXPECT_TRUE(hasError(errors, 4, 45, "clusters[2].lb", "expected a map, got \"round_robin\""));
}

// ---------------------------------------------------------------------------------------------
// Listeners

TEST(Loader, ListenerRequiredKeys) {
  Errors errors = errorsOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {address: 127.0.0.1:7379, cluster: c}
  - {name: b, cluster: c}
  - {name: d, address: 127.0.0.1:7380}
)");
  EXPECT_EQ(errors.size(), 3u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 4, 5, "listeners[0]", "missing required key \"name\""));
  EXPECT_TRUE(hasError(errors, 5, 5, "listeners[1]", "missing required key \"address\""));
  EXPECT_TRUE(hasError(errors, 6, 5, "listeners[2]", "missing required key \"cluster\""));
}

TEST(Loader, ListenersAreRequired) {
  EXPECT_TRUE(onlyError("workers: 1\n", 1, 1, "", "missing required key \"listeners\""));
  EXPECT_TRUE(
      onlyError("listeners: []\n", 1, 12, "listeners", "at least one listener is required"));
  EXPECT_TRUE(
      onlyError("listeners: {name: l}\n", 1, 12, "listeners", "expected a list, got a map"));
}

TEST(Loader, UnknownCluster) {
  Errors errors = errorsOf(R"(clusters:
  - {name: redis, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:7379, cluster: redis}
  - {name: b, address: 127.0.0.1:7380, cluster: rediss}
  - {name: c, address: 127.0.0.1:7381, cluster: x}
)");
  EXPECT_EQ(errors.size(), 2u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 5, 49, "listeners[1].cluster",
                       "unknown cluster \"rediss\"; did you mean \"redis\"?"));
  EXPECT_TRUE(hasError(errors, 6, 49, "listeners[2].cluster", "unknown cluster \"x\""));
}

TEST(Loader, ClusterWithOtherErrorsIsStillKnown) {
  // The cluster is broken, but the listener's reference to it is not; only one error.
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1], connect_timeout: 5}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)",
                        2, 58, "clusters[0].connect_timeout", "missing unit"));
}

TEST(Loader, ListenerNamesAndAddresses) {
  Errors errors = errorsOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:7379, cluster: c}
  - {name: a, address: 127.0.0.1:7380, cluster: c}
  - {name: b, address: 127.0.0.1:7379, cluster: c}
  - {name: d, address: "[::1]:7381", cluster: c}
  - {name: e, address: "[0:0::1]:7381", cluster: c}
  - {name: f, address: localhost:7382, cluster: c}
  - {name: "g h", address: 127.0.0.1:7383, cluster: c}
)");
  EXPECT_EQ(errors.size(), 5u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 5, 12, "listeners[1].name",
                       "duplicate listener name \"a\" (first defined at line 4)"));
  EXPECT_TRUE(hasError(errors, 6, 24, "listeners[2].address",
                       "address 127.0.0.1:7379 is already used by listener \"a\" (line 4)"));
  // The same IPv6 address spelled differently.
  EXPECT_TRUE(hasError(errors, 8, 24, "listeners[4].address",
                       "overlaps the address [::1]:7381 of listener \"d\" (line 7)"));
  EXPECT_TRUE(hasError(errors, 9, 24, "listeners[5].address", "host names are not allowed"));
  EXPECT_TRUE(hasError(errors, 10, 12, "listeners[6].name", "invalid name \"g h\""));
}

TEST(Loader, WildcardListenerOverlapsSpecificOne) {
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:7379, cluster: c}
  - {name: b, address: 0.0.0.0:7379, cluster: c}
  - {name: v6, address: "[::1]:7379", cluster: c}
)",
                        5, 24, "listeners[1].address",
                        "address 0.0.0.0:7379 overlaps the address 127.0.0.1:7379 of listener "
                        "\"a\" (line 4)"));
}

TEST(Loader, ListenerOnTheAdminAddress) {
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:9901, cluster: c}
)",
                        4, 24, "listeners[0].address",
                        "address 127.0.0.1:9901 clashes with the admin address 127.0.0.1:9901"));
  // The admin address may come after the listeners in the file.
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:8000, cluster: c}
admin: {address: 0.0.0.0:8000}
)",
                        4, 24, "listeners[0].address", "clashes with the admin address"));
  // Moving the admin away frees the default port.
  EXPECT_TRUE(configOf(R"(admin: {address: 127.0.0.1:9902}
clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:9901, cluster: c}
)"));
}

TEST(Loader, ListenerTimeoutsAndLimits) {
  Errors errors = errorsOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:7379, cluster: c, idle_timeout: 0s}
  - {name: b, address: 127.0.0.1:7380, cluster: c, max_connections: -1}
  - {name: d, address: 127.0.0.1:7381, cluster: c, max_connections: 4294967296}
  - {name: e, address: 127.0.0.1:7382, cluster: c, idle_timeout: 1.5h}
)");
  EXPECT_EQ(errors.size(), 4u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 4, 66, "listeners[0].idle_timeout", "must be greater than 0"));
  EXPECT_TRUE(hasError(errors, 5, 69, "listeners[1].max_connections",
                       "must be between 0 and 4294967295, got -1"));
  EXPECT_TRUE(hasError(errors, 6, 69, "listeners[2].max_connections", "must be between"));
  EXPECT_TRUE(hasError(errors, 7, 66, "listeners[3].idle_timeout", "no fractions"));
}

class ProtocolLater : public ::testing::TestWithParam<const char*> {};

TEST_P(ProtocolLater, IsNotSupportedYet) {
  std::string yaml = std::string("clusters:\n  - {name: c, endpoints: [127.0.0.1:1]}\n") +
                     "listeners:\n  - {name: l, address: 127.0.0.1:7379, protocol: " + GetParam() +
                     "}\n";
  // No "missing cluster" on top: such a listener would route instead.
  EXPECT_TRUE(onlyError(
      yaml, 4, 50, "listeners[0].protocol",
      std::string("protocol \"") + GetParam() + "\" is not supported yet; supported: tcp, http"));
}

INSTANTIATE_TEST_SUITE_P(All, ProtocolLater, ::testing::Values("http2", "grpc"));

TEST(Loader, UnknownProtocol) {
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: l, address: 127.0.0.1:7379, protocol: udp, cluster: c}
)",
                        4, 50, "listeners[0].protocol",
                        "unknown protocol \"udp\"; supported: tcp, http"));
}

// ---------------------------------------------------------------------------------------------
// Keys of the full contract that this version does not implement

struct LaterKey {
  std::string yaml;
  int line;
  int column;
  std::string path;
};

void PrintTo(const LaterKey& k, std::ostream* os) {
  *os << k.path;
}

class NotSupportedYet : public ::testing::TestWithParam<LaterKey> {};

TEST_P(NotSupportedYet, NamesTheKey) {
  const LaterKey& k = GetParam();
  std::string key = k.path.substr(k.path.rfind('.') + 1);
  EXPECT_TRUE(
      onlyError(k.yaml, k.line, k.column, k.path, "key \"" + key + "\" is not supported yet"));
}

std::vector<LaterKey> laterKeys() {
  std::vector<LaterKey> out;
  // discovery, cache_dir and the cluster discovery keys (issue 4) are read now:
  // discovery_config_test.cc.
  for (std::string key : {"service"}) {
    out.push_back({std::string(kBase) + key + ": {}\n", 6, 1, key});
  }
  // A cluster with static endpoints plus one later key.
  for (std::string key : {"circuit_breaker", "outlier_detection", "health_check"}) {
    out.push_back({"clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    " + key +
                       ": x\nlisteners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n",
                   4, 5, "clusters[0]." + key});
  }
  // On a tcp and on an http listener.
  for (std::string protocol : {"tcp", "http"}) {
    out.push_back(
        {"clusters:\n  - {name: c, endpoints: [127.0.0.1:1]}\nlisteners:\n"
         "  - name: l\n    address: 127.0.0.1:7379\n    protocol: " +
             protocol + "\n    cluster: c\n    tls: x\n",
         8, 5, "listeners[0].tls"});
  }
  // Reporting spans to a backend, in either tracing block.
  for (std::string key : {"zipkin", "otlp", "jaeger"}) {
    out.push_back({std::string(kBase) + "tracing:\n  " + key + ": {}\n", 7, 3, "tracing." + key});
    out.push_back(
        {"clusters:\n  - {name: c, endpoints: [127.0.0.1:1]}\nlisteners:\n"
         "  - name: l\n    address: 127.0.0.1:7379\n    protocol: http\n"
         "    cluster: c\n    tracing: {sample_rate: 1, " +
             key + ": x}\n",
         8, 31, "listeners[0].tracing." + key});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, NotSupportedYet, ::testing::ValuesIn(laterKeys()));

TEST(Loader, ClusterFromAnotherSourceNeedsNoEndpoints) {
  // Only the error in the discovery block: the missing static endpoints would be noise.
  EXPECT_TRUE(onlyError(R"(clusters:
  - name: c
    consul: {source: consul, service: c}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)",
                        3, 22, "clusters[0].consul.source",
                        "unknown discovery source \"consul\"; define one under discovery: with "
                        "type: consul"));
}

// ---------------------------------------------------------------------------------------------
// Many errors at once, and the full sample of the issue

TEST(Loader, ReportsEveryErrorInDocumentOrder) {
  Errors errors = errorsOf(R"(workers: -1
drain_delay: 5 s
drain_timeout: 1.5s
admin: {address: localhost:9901}
log: {level: loud, format: xml}
clusters:
  - name: c
    endpoints: [127.0.0.1:1, {address: 127.0.0.1:2, weight: 70000}]
  - name: c
    endpoints: [127.0.0.1:3]
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: nope}
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)");
  std::vector<std::string> paths;
  for (const auto& e : errors) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{
                       "workers", "drain_delay", "drain_timeout", "admin.address", "log.level",
                       "log.format", "clusters[0].endpoints[1].weight", "clusters[1].name",
                       "listeners[0].cluster", "listeners[1].name", "listeners[1].address"}))
      << dump(errors);
  for (std::size_t i = 1; i < errors.size(); ++i) {
    EXPECT_TRUE(errors[i - 1].line < errors[i].line ||
                (errors[i - 1].line == errors[i].line && errors[i - 1].column <= errors[i].column))
        << dump(errors);
  }
}

constexpr std::string_view kIssueSample =
    R"(node: {id: web-1, zone: eu-west-1a}        # id defaults to the hostname
workers: 0
drain_delay: 5s
drain_timeout: 15s
admin: {address: 127.0.0.1:9901}
log: {level: info, format: text}            # text | json
access_log: {path: stdout, format: json}    # format: json | text; optional fields: [..]
discovery:                                  # named sources, used by clusters and service.register
  zk: {type: zookeeper, servers: [zk1:2181, zk2:2181], chroot: /smartstack, session_timeout: 10s}
  consul: {type: consul, address: 127.0.0.1:8500, datacenter: dc1, token_file: /run/secrets/consul}
  etcd: {type: etcd, endpoints: [127.0.0.1:2379]}
  dns: {type: dns, servers: [127.0.0.1:53]}
cache_dir: /var/lib/pilotfish               # last-known-good endpoint snapshots
clusters:
  - name: redis
    endpoints: [127.0.0.1:6379, {address: 127.0.0.1:6380, weight: 2, zone: b}]   # static
  - name: mysql-main
    zookeeper: {source: zk, path: /services/mysql/main}   # or consul / etcd / dns / file
    connect_timeout: 1s
    lb: {policy: round_robin}
listeners:
  - {name: redis, address: 127.0.0.1:7379, protocol: tcp, cluster: redis, idle_timeout: 1h}
  - name: egress
    address: 127.0.0.1:4140
    protocol: http
    routes: [{match: {host: users}, cluster: users}]
service:                                    # the local app: inbound listener + registration
  name: users
  address: 127.0.0.1:8080
)";

TEST(Loader, IssueSampleGivesItsErrors) {
  // discovery, cache_dir and the zookeeper block are read now; the sample's token file does not
  // exist here, its route names a cluster it lacks, and service is a later key.
  Errors errors = errorsOf(kIssueSample);
  ASSERT_EQ(errors.size(), 3u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 10, 80, "discovery.consul.token_file",
                       "cannot read file \"/run/secrets/consul\""));
  EXPECT_TRUE(
      hasError(errors, 26, 46, "listeners[1].routes[0].cluster", "unknown cluster \"users\""));
  EXPECT_TRUE(hasError(errors, 27, 1, "service", "key \"service\" is not supported yet"));
  EXPECT_EQ(
      errors[0].toString(),
      "test.yaml:10:80: discovery.consul.token_file: cannot read file \"/run/secrets/consul\"");
}

TEST(Loader, IssueSampleWithoutTheLaterPartsIsValid) {
  auto config = configOf(R"(node: {id: web-1, zone: eu-west-1a}
workers: 0
drain_delay: 5s
drain_timeout: 15s
admin: {address: 127.0.0.1:9901}
log: {level: info, format: text}
clusters:
  - name: redis
    endpoints: [127.0.0.1:6379, {address: 127.0.0.1:6380, weight: 2, zone: b}]
listeners:
  - {name: redis, address: 127.0.0.1:7379, protocol: tcp, cluster: redis, idle_timeout: 1h}
)");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->drain_delay, Duration(5000));
  EXPECT_EQ(config->clusters[0].endpoints[1].weight, 2u);
  EXPECT_EQ(config->clusters[0].endpoints[1].zone, "b");
}

// ---------------------------------------------------------------------------------------------
// ConfigError rendering

TEST(ConfigError, ToString) {
  EXPECT_EQ(
      (ConfigError{"a.yaml", 3, 7, "listeners[1].cluster", "unknown cluster \"x\""}.toString()),
      "a.yaml:3:7: listeners[1].cluster: unknown cluster \"x\"");
  EXPECT_EQ((ConfigError{"a.yaml", 1, 1, "", "empty document"}.toString()),
            "a.yaml:1:1: empty document");
  EXPECT_EQ((ConfigError{"a.yaml", 0, 0, "", "cannot open config file"}.toString()),
            "a.yaml: cannot open config file");
}

}  // namespace
}  // namespace pilotfish::config

namespace pilotfish::config {
namespace {

constexpr const char* kAccessBase =
    "clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n"
    "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n";

TEST(LoaderAccessLog, AbsentMeansNoAccessLog) {
  auto r = loadFromString(kAccessBase, "t.yaml");
  ASSERT_TRUE(std::holds_alternative<ConfigPtr>(r));
  EXPECT_FALSE(std::get<ConfigPtr>(r)->access_log.has_value());
}

TEST(LoaderAccessLog, ParsesPathFormatFields) {
  auto r = loadFromString(std::string(kAccessBase) +
                              "access_log: {path: /tmp/x.log, format: text, fields: [ts, "
                              "listener, bytes_in]}\n",
                          "t.yaml");
  ASSERT_TRUE(std::holds_alternative<ConfigPtr>(r));
  const auto& al = *std::get<ConfigPtr>(r)->access_log;
  EXPECT_EQ(al.path, "/tmp/x.log");
  EXPECT_EQ(al.format, accesslog::AccessLogFormat::kText);
  EXPECT_EQ(al.fields, (std::vector<std::string>{"ts", "listener", "bytes_in"}));
}

TEST(LoaderAccessLog, DefaultsToStdoutJson) {
  auto r = loadFromString(std::string(kAccessBase) + "access_log: {}\n", "t.yaml");
  ASSERT_TRUE(std::holds_alternative<ConfigPtr>(r));
  const auto& al = *std::get<ConfigPtr>(r)->access_log;
  EXPECT_EQ(al.path, "stdout");
  EXPECT_EQ(al.format, accesslog::AccessLogFormat::kJson);
  EXPECT_TRUE(al.fields.empty());
}

TEST(LoaderAccessLog, RejectsUnknownFieldFormatAndKey) {
  auto r = loadFromString(std::string(kAccessBase) +
                              "access_log:\n  format: xml\n  fields: [ts, nope]\n  colour: red\n",
                          "t.yaml");
  ASSERT_TRUE(std::holds_alternative<std::vector<ConfigError>>(r));
  const auto& errors = std::get<std::vector<ConfigError>>(r);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].path, "access_log.format");
  EXPECT_EQ(errors[0].line, 7);
  EXPECT_EQ(errors[1].path, "access_log.fields[1]");
  EXPECT_EQ(errors[1].line, 8);
  EXPECT_EQ(errors[1].column, 16);
  EXPECT_NE(errors[1].message.find("unknown access log field \"nope\""), std::string::npos);
  EXPECT_EQ(errors[2].path, "access_log.colour");
}

}  // namespace
}  // namespace pilotfish::config

// -------------------------------------------------------------------------------------------
// HTTP listeners: routes, limits, tracing; cluster pools

namespace pilotfish::config {
namespace {

// Two clusters and the head of an http listener; tests append the listener's remaining keys
// (indented by four spaces), which start on line 9.
constexpr std::string_view kHttpHead =
    "clusters:\n"
    "  - {name: c, endpoints: [127.0.0.1:1]}\n"
    "  - {name: api, endpoints: [127.0.0.1:2]}\n"
    "listeners:\n"
    "  - name: h\n"
    "    address: 127.0.0.1:4140\n"
    "    protocol: http\n"
    "    cluster: c\n";

std::string withHttp(std::string_view tail) {
  return std::string(kHttpHead) + std::string(tail);
}

const ListenerConfig& onlyListener(const ConfigPtr& config) {
  return config->listeners.at(0);
}

constexpr std::string_view kFullHttp = R"(tracing:
  propagate: [w3c]
  request_id: false
  sample_rate: 0.5
clusters:
  - name: web
    endpoints: [127.0.0.1:8090]
  - name: api
    endpoints: [127.0.0.1:8081]
    pool: {max_idle_per_endpoint: 0, idle_timeout: 20s, max_requests_per_connection: 100}
listeners:
  - name: edge
    address: 127.0.0.1:4140
    protocol: http
    cluster: web
    idle_timeout: 2m
    max_connections: 5
    max_request_headers_kb: 1024
    max_headers: 1000
    max_request_line_kb: 64
    max_request_body: 10MiB
    request_headers_timeout: 5s
    request_body_timeout: 20s
    response_send_timeout: 25s
    max_hops: 255
    headers_with_underscores: reject
    routes:
      - match:
          host: Users.Example.COM
          path_prefix: /api/
          method: POST
          header: {name: X-Canary, value: "1"}
        cluster: api
        timeout: 30s
        prefix_rewrite: /v1/
        host_rewrite: users.internal:8080
        upstream_host_from_request: false
        retries: {attempts: 10, on: [502, connect-failure, 504, reset, 503], per_try_timeout: 3s}
      - match:
          host_suffix: .Example.com
          path_exact: /health
          header:
            - {name: x-a, present: true}
            - {name: X-B, value: ""}
        cluster: web
        retries: {attempts: 1}
      - match: {}
        cluster: api
      - cluster: web
    tracing:
      sample_rate: 1
  - name: tcp
    address: 127.0.0.1:7379
    cluster: api
)";

TEST(LoaderHttp, FullExampleParsesToTheStructs) {
  auto config = configOf(kFullHttp);
  ASSERT_TRUE(config);
  EXPECT_FALSE(config->tracing.propagate_b3);
  EXPECT_TRUE(config->tracing.propagate_w3c);
  EXPECT_FALSE(config->tracing.request_id);
  EXPECT_EQ(config->tracing.sample_rate, 0.5);

  ASSERT_EQ(config->clusters.size(), 2u);
  const PoolConfig& web_pool = config->clusters[0].pool;
  EXPECT_EQ(web_pool.max_idle_per_endpoint, 64u);
  EXPECT_EQ(web_pool.idle_timeout, Duration(50000));
  EXPECT_EQ(web_pool.max_requests_per_connection, 0u);
  const PoolConfig& api_pool = config->clusters[1].pool;
  EXPECT_EQ(api_pool.max_idle_per_endpoint, 0u);
  EXPECT_EQ(api_pool.idle_timeout, Duration(20000));
  EXPECT_EQ(api_pool.max_requests_per_connection, 100u);

  ASSERT_EQ(config->listeners.size(), 2u);
  const ListenerConfig& l = config->listeners[0];
  EXPECT_EQ(l.protocol, ListenerProtocol::kHttp);
  EXPECT_EQ(l.cluster, "web");
  EXPECT_EQ(l.cluster_index, 0u);
  EXPECT_EQ(l.idle_timeout, Duration(120000));
  EXPECT_EQ(l.max_connections, 5u);
  const HttpListenerConfig& h = l.http;
  EXPECT_EQ(h.max_request_headers_kb, 1024u);
  EXPECT_EQ(h.max_headers, 1000u);
  EXPECT_EQ(h.max_request_line_kb, 64u);
  EXPECT_EQ(h.max_request_body, std::optional<uint64_t>(10u << 20));
  EXPECT_EQ(h.request_headers_timeout, Duration(5000));
  EXPECT_EQ(h.request_body_timeout, Duration(20000));
  EXPECT_EQ(h.response_send_timeout, Duration(25000));
  EXPECT_EQ(h.max_hops, 255u);
  EXPECT_EQ(h.headers_with_underscores, HttpListenerConfig::Underscores::kReject);
  // The listener's block replaces sample_rate; the keys it leaves out come from the top level.
  EXPECT_FALSE(h.tracing.propagate_b3);
  EXPECT_TRUE(h.tracing.propagate_w3c);
  EXPECT_FALSE(h.tracing.request_id);
  EXPECT_EQ(h.tracing.sample_rate, 1.0);

  // Four routes plus the catch-all for the listener's cluster.
  ASSERT_EQ(h.routes.size(), 5u);
  const RouteConfig& r0 = h.routes[0];
  EXPECT_EQ(r0.host, "users.example.com");  // lowercased
  EXPECT_EQ(r0.host_suffix, std::nullopt);
  EXPECT_EQ(r0.path_prefix, "/api/");
  EXPECT_EQ(r0.path_exact, std::nullopt);
  EXPECT_EQ(r0.method, "POST");
  ASSERT_EQ(r0.headers.size(), 1u);
  EXPECT_EQ(r0.headers[0].name, "x-canary");  // lowercased
  EXPECT_EQ(r0.headers[0].value, "1");
  EXPECT_EQ(r0.cluster, "api");
  EXPECT_EQ(r0.cluster_index, 1u);
  EXPECT_EQ(r0.timeout, Duration(30000));
  EXPECT_EQ(r0.prefix_rewrite, "/v1/");
  EXPECT_EQ(r0.host_rewrite, "users.internal:8080");
  EXPECT_FALSE(r0.upstream_host_from_request);
  EXPECT_EQ(r0.retries.attempts, 10u);
  EXPECT_EQ(r0.retries.on, kRetryConnectFailure | kRetryReset | kRetry502 | kRetry503 | kRetry504);
  EXPECT_EQ(r0.retries.per_try_timeout, Duration(3000));

  const RouteConfig& r1 = h.routes[1];
  EXPECT_EQ(r1.host, std::nullopt);
  EXPECT_EQ(r1.host_suffix, ".example.com");
  EXPECT_EQ(r1.path_prefix, std::nullopt);
  EXPECT_EQ(r1.path_exact, "/health");
  EXPECT_EQ(r1.method, std::nullopt);
  ASSERT_EQ(r1.headers.size(), 2u);
  EXPECT_EQ(r1.headers[0].name, "x-a");
  EXPECT_EQ(r1.headers[0].value, std::nullopt);  // present: true
  EXPECT_EQ(r1.headers[1].name, "x-b");
  EXPECT_EQ(r1.headers[1].value, "");
  EXPECT_EQ(r1.cluster_index, 0u);
  EXPECT_EQ(r1.timeout, std::nullopt);
  EXPECT_EQ(r1.retries.attempts, 1u);
  EXPECT_EQ(r1.retries.on, kRetryConnectFailure | kRetryReset);  // the default conditions
  EXPECT_EQ(r1.retries.per_try_timeout, std::nullopt);

  // `match: {}` and no `match` both match everything.
  for (std::size_t i : {2u, 3u, 4u}) {
    const RouteConfig& r = h.routes[i];
    EXPECT_FALSE(r.host || r.host_suffix || r.path_prefix || r.path_exact || r.method) << i;
    EXPECT_TRUE(r.headers.empty()) << i;
    EXPECT_EQ(r.retries.attempts, 0u) << i;
  }
  EXPECT_EQ(h.routes[2].cluster_index, 1u);
  EXPECT_EQ(h.routes[3].cluster_index, 0u);
  // The catch-all.
  EXPECT_EQ(h.routes[4].cluster, "web");
  EXPECT_EQ(h.routes[4].cluster_index, 0u);

  const ListenerConfig& t = config->listeners[1];
  EXPECT_EQ(t.protocol, ListenerProtocol::kTcp);
  EXPECT_EQ(t.cluster_index, 1u);
  EXPECT_TRUE(t.http.routes.empty());
}

TEST(LoaderHttp, DefaultsWithOnlyACluster) {
  auto config = configOf(withHttp(""));
  ASSERT_TRUE(config);
  const ListenerConfig& l = onlyListener(config);
  EXPECT_EQ(l.protocol, ListenerProtocol::kHttp);
  EXPECT_EQ(l.idle_timeout, Duration(3600 * 1000));
  const HttpListenerConfig& h = l.http;
  EXPECT_EQ(h.max_request_headers_kb, 60u);
  EXPECT_EQ(h.max_headers, 100u);
  EXPECT_EQ(h.max_request_line_kb, 8u);
  EXPECT_EQ(h.max_request_body, std::nullopt);
  EXPECT_EQ(h.request_headers_timeout, Duration(10000));
  EXPECT_EQ(h.request_body_timeout, Duration(60000));
  EXPECT_EQ(h.response_send_timeout, Duration(60000));
  EXPECT_EQ(h.max_hops, 10u);
  EXPECT_EQ(h.headers_with_underscores, HttpListenerConfig::Underscores::kAllow);
  EXPECT_TRUE(h.tracing.propagate_b3);
  EXPECT_TRUE(h.tracing.propagate_w3c);
  EXPECT_TRUE(h.tracing.request_id);
  EXPECT_EQ(h.tracing.sample_rate, 0.01);
  // The catch-all route alone.
  ASSERT_EQ(h.routes.size(), 1u);
  EXPECT_EQ(h.routes[0].cluster, "c");
  EXPECT_EQ(h.routes[0].cluster_index, 0u);
  EXPECT_FALSE(h.routes[0].path_prefix);
  EXPECT_EQ(config->tracing.sample_rate, 0.01);
}

TEST(LoaderHttp, CatchAllIsAppendedAfterTheRoutes) {
  auto config = configOf(R"(clusters:
  - {name: a, endpoints: [127.0.0.1:1]}
  - {name: b, endpoints: [127.0.0.1:2]}
listeners:
  - name: h
    address: 127.0.0.1:4140
    protocol: http
    routes:
      - {match: {path_prefix: /b}, cluster: b}
    cluster: a
  - name: only-routes
    address: 127.0.0.1:4141
    protocol: http
    routes: [{match: {path_prefix: /}, cluster: b}]
  - {name: empty-routes, address: 127.0.0.1:4142, protocol: http, cluster: b, routes: []}
)");
  ASSERT_TRUE(config);
  const auto& r = config->listeners[0].http.routes;
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].cluster, "b");
  EXPECT_EQ(r[0].cluster_index, 1u);
  EXPECT_EQ(r[0].path_prefix, "/b");
  EXPECT_EQ(r[1].cluster, "a");
  EXPECT_EQ(r[1].cluster_index, 0u);
  EXPECT_FALSE(r[1].path_prefix);
  // Without `cluster`, no catch-all: unmatched requests are 404.
  const auto& l1 = config->listeners[1];
  EXPECT_EQ(l1.cluster, "");
  ASSERT_EQ(l1.http.routes.size(), 1u);
  EXPECT_EQ(l1.http.routes[0].cluster_index, 1u);
  // An empty list with a cluster: only the catch-all.
  const auto& l2 = config->listeners[2];
  ASSERT_EQ(l2.http.routes.size(), 1u);
  EXPECT_EQ(l2.http.routes[0].cluster, "b");
  EXPECT_EQ(l2.http.routes[0].cluster_index, 1u);
}

TEST(LoaderHttp, HttpListenerNeedsRoutesOrCluster) {
  Errors errors = errorsOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:4140, protocol: http}
  - {name: b, address: 127.0.0.1:4141, protocol: http, routes: []}
  - {name: d, address: 127.0.0.1:4142, protocol: http, routes: {cluster: c}}
)");
  EXPECT_EQ(errors.size(), 3u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 4, 5, "listeners[0]",
                       "missing required key \"routes\" (an http listener needs \"routes\", "
                       "\"cluster\" or both)"));
  EXPECT_TRUE(hasError(errors, 5, 64, "listeners[1].routes",
                       "at least one route is required (or give the listener a \"cluster\")"));
  EXPECT_TRUE(hasError(errors, 6, 64, "listeners[2].routes", "expected a list, got a map"));
}

TEST(LoaderHttp, TcpListenerStillNeedsACluster) {
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: a, address: 127.0.0.1:4140, protocol: tcp}
)",
                        4, 5, "listeners[0]", "missing required key \"cluster\""));
}

// Every http-only key on a tcp listener (explicit or by default) is one error at the key.
class HttpOnlyKey : public ::testing::TestWithParam<const char*> {};

TEST_P(HttpOnlyKey, IsAnErrorOnATcpListener) {
  for (const char* protocol : {"", "    protocol: tcp\n"}) {
    std::string yaml =
        "clusters:\n  - {name: c, endpoints: [127.0.0.1:1]}\nlisteners:\n"
        "  - name: l\n    address: 127.0.0.1:7379\n    cluster: c\n" +
        std::string(protocol) + "    " + GetParam() + ": x\n";
    int line = protocol[0] ? 8 : 7;
    EXPECT_TRUE(onlyError(yaml, line, 5, std::string("listeners[0].") + GetParam(),
                          std::string("key \"") + GetParam() +
                              "\" is only for protocol: http (this listener is tcp)"));
  }
}

INSTANTIATE_TEST_SUITE_P(All, HttpOnlyKey,
                         ::testing::Values("routes", "tracing", "max_request_headers_kb",
                                           "max_headers", "max_request_line_kb", "max_request_body",
                                           "request_headers_timeout", "request_body_timeout",
                                           "response_send_timeout", "max_hops",
                                           "headers_with_underscores"));

TEST(LoaderHttp, RoutesOnATcpListenerWithoutClusterIsOneError) {
  // It was meant to be an http listener; "missing cluster" would be noise.
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - name: l
    address: 127.0.0.1:7379
    routes: [{cluster: c}]
)",
                        6, 5, "listeners[0].routes", "only for protocol: http"));
}

TEST(LoaderHttp, RefusedProtocolStillChecksTheHttpKeys) {
  // protocol: http2 is refused, but its (http) keys are still read; nothing is missing.
  Errors errors = errorsOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - name: l
    address: 127.0.0.1:7379
    protocol: http2
    max_hops: 0
    routes: [{cluster: x}]
)");
  EXPECT_EQ(errors.size(), 3u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 6, 15, "listeners[0].protocol", "not supported yet"));
  EXPECT_TRUE(hasError(errors, 7, 15, "listeners[0].max_hops", "must be between 1 and 255"));
  EXPECT_TRUE(hasError(errors, 8, 24, "listeners[0].routes[0].cluster", "unknown cluster \"x\""));
}

// One http listener key (or block) appended to kHttpHead, starting on line 9.
struct HttpCase {
  const char* tail;
  int line;
  int column;
  const char* path;
  const char* message;
};

void PrintTo(const HttpCase& c, std::ostream* os) {
  *os << c.tail;
}

class HttpError : public ::testing::TestWithParam<HttpCase> {};

TEST_P(HttpError, IsReported) {
  const HttpCase& c = GetParam();
  EXPECT_TRUE(onlyError(withHttp(c.tail), c.line, c.column, c.path, c.message));
}

INSTANTIATE_TEST_SUITE_P(
    Limits, HttpError,
    ::testing::Values(
        HttpCase{"    max_request_headers_kb: 0\n", 9, 29, "listeners[0].max_request_headers_kb",
                 "must be between 1 and 1024, got 0"},
        HttpCase{"    max_request_headers_kb: 1025\n", 9, 29, "listeners[0].max_request_headers_kb",
                 "must be between 1 and 1024, got 1025"},
        HttpCase{"    max_headers: 0\n", 9, 18, "listeners[0].max_headers",
                 "must be between 1 and 1000, got 0"},
        HttpCase{"    max_headers: 1001\n", 9, 18, "listeners[0].max_headers",
                 "must be between 1 and 1000, got 1001"},
        HttpCase{"    max_request_line_kb: 0\n", 9, 26, "listeners[0].max_request_line_kb",
                 "must be between 1 and 64, got 0"},
        HttpCase{"    max_request_line_kb: 65\n", 9, 26, "listeners[0].max_request_line_kb",
                 "must be between 1 and 64, got 65"},
        HttpCase{"    max_hops: 0\n", 9, 15, "listeners[0].max_hops",
                 "must be between 1 and 255, got 0"},
        HttpCase{"    max_hops: 256\n", 9, 15, "listeners[0].max_hops",
                 "must be between 1 and 255, got 256"},
        HttpCase{"    max_hops: \"3\"\n", 9, 15, "listeners[0].max_hops",
                 "expected a plain integer"},
        HttpCase{"    request_headers_timeout: 0s\n", 9, 30, "listeners[0].request_headers_timeout",
                 "must be greater than 0"},
        HttpCase{"    request_headers_timeout: 10\n", 9, 30, "listeners[0].request_headers_timeout",
                 "(missing unit)"},
        HttpCase{"    request_body_timeout: 0ms\n", 9, 27, "listeners[0].request_body_timeout",
                 "must be greater than 0"},
        HttpCase{"    request_body_timeout: [1s]\n", 9, 27, "listeners[0].request_body_timeout",
                 "expected a duration"},
        HttpCase{"    response_send_timeout: 5\n", 9, 28, "listeners[0].response_send_timeout",
                 "(missing unit)"},
        HttpCase{"    idle_timeout: 0s\n", 9, 19, "listeners[0].idle_timeout",
                 "must be greater than 0"},
        HttpCase{"    headers_with_underscores: rejected\n", 9, 31,
                 "listeners[0].headers_with_underscores",
                 "unknown headers_with_underscores action \"rejected\"; did you mean "
                 "\"reject\"?"},
        HttpCase{"    max_hop: 3\n", 9, 5, "listeners[0].max_hop",
                 "unknown key \"max_hop\"; did you mean \"max_hops\"?"},
        HttpCase{"    route: []\n", 9, 5, "listeners[0].route",
                 "unknown key \"route\"; did you mean \"routes\"?"}));

INSTANTIATE_TEST_SUITE_P(
    RequestBody, HttpError,
    ::testing::Values(
        HttpCase{"    max_request_body: 0\n", 9, 23, "listeners[0].max_request_body",
                 "must be greater than 0"},
        HttpCase{"    max_request_body: 0MiB\n", 9, 23, "listeners[0].max_request_body",
                 "must be greater than 0"},
        HttpCase{"    max_request_body: -1\n", 9, 23, "listeners[0].max_request_body",
                 "expected a size like 1048576, 512KiB, 10MiB or 1GiB, got \"-1\" (negative "
                 "sizes are not allowed)"},
        HttpCase{"    max_request_body: 10MB\n", 9, 23, "listeners[0].max_request_body",
                 "got \"10MB\" (units are KiB, MiB and GiB, powers of 1024, written without a "
                 "space)"},
        HttpCase{"    max_request_body: 10 MiB\n", 9, 23, "listeners[0].max_request_body",
                 "(units are KiB, MiB and GiB"},
        HttpCase{"    max_request_body: 10mib\n", 9, 23, "listeners[0].max_request_body",
                 "(units are KiB, MiB and GiB"},
        HttpCase{"    max_request_body: 1.5MiB\n", 9, 23, "listeners[0].max_request_body",
                 "(no fractions; use a smaller unit, e.g. 1536KiB)"},
        HttpCase{"    max_request_body: 010\n", 9, 23, "listeners[0].max_request_body",
                 "(no leading zeros)"},
        HttpCase{"    max_request_body: MiB\n", 9, 23, "listeners[0].max_request_body",
                 "got \"MiB\""},
        HttpCase{"    max_request_body: 9999999999GiB\n", 9, 23, "listeners[0].max_request_body",
                 "too large"},
        HttpCase{"    max_request_body: 99999999999999999999999\n", 9, 23,
                 "listeners[0].max_request_body", "too large"},
        HttpCase{"    max_request_body: [1]\n", 9, 23, "listeners[0].max_request_body",
                 "expected a size like 1048576, 512KiB, 10MiB or 1GiB, got a list"}));

TEST(LoaderHttp, RequestBodySizes) {
  struct Case {
    const char* text;
    uint64_t bytes;
  };
  for (Case c : {Case{"1", 1}, Case{"1048576", 1048576}, Case{"512KiB", 512u << 10},
                 Case{"10MiB", 10u << 20}, Case{"\"2GiB\"", uint64_t{2} << 30},
                 Case{"8589934591GiB", uint64_t{8589934591} << 30}}) {
    auto config = configOf(withHttp(std::string("    max_request_body: ") + c.text + "\n"));
    ASSERT_TRUE(config) << c.text;
    EXPECT_EQ(onlyListener(config).http.max_request_body, c.bytes) << c.text;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Routes, HttpError,
    ::testing::Values(
        HttpCase{"    routes: [[c]]\n", 9, 14, "listeners[0].routes[0]",
                 "expected a map, got a list"},
        HttpCase{"    routes: [c]\n", 9, 14, "listeners[0].routes[0]", "expected a map, got \"c\""},
        HttpCase{"    routes:\n      - {match: {path_prefix: /}}\n", 10, 9,
                 "listeners[0].routes[0]", "missing required key \"cluster\""},
        HttpCase{"    routes:\n      - {cluster: apu}\n", 10, 19, "listeners[0].routes[0].cluster",
                 "unknown cluster \"apu\"; did you mean \"api\"?"},
        HttpCase{"    routes:\n      - {cluster: [api]}\n", 10, 19,
                 "listeners[0].routes[0].cluster", "expected a string, got a list"},
        HttpCase{"    routes:\n      - {cluster: api, mach: {}}\n", 10, 24,
                 "listeners[0].routes[0].mach", "unknown key \"mach\"; did you mean \"match\"?"},
        HttpCase{"    routes:\n      - {cluster: api, match: /api}\n", 10, 31,
                 "listeners[0].routes[0].match", "expected a map, got \"/api\""},
        HttpCase{"    routes:\n      - {cluster: api, match: {query: /api}}\n", 10, 32,
                 "listeners[0].routes[0].match.query",
                 "unknown key \"query\"; expected one of: host, host_suffix, path_prefix, "
                 "path_exact, method, header"},
        HttpCase{"    routes:\n      - {cluster: api, timeout: 0s}\n", 10, 33,
                 "listeners[0].routes[0].timeout", "must be greater than 0"},
        HttpCase{"    routes:\n      - {cluster: api, timeout: 5}\n", 10, 33,
                 "listeners[0].routes[0].timeout", "(missing unit)"},
        HttpCase{"    routes:\n      - {cluster: api, timout: 5s}\n", 10, 24,
                 "listeners[0].routes[0].timout", "did you mean \"timeout\"?"}));

INSTANTIATE_TEST_SUITE_P(
    Match, HttpError,
    ::testing::Values(
        HttpCase{"    routes:\n      - {cluster: api, match: {path_prefix: api}}\n", 10, 45,
                 "listeners[0].routes[0].match.path_prefix",
                 "invalid path \"api\": must start with '/'"},
        HttpCase{"    routes:\n      - {cluster: api, match: {path_exact: \"\"}}\n", 10, 44,
                 "listeners[0].routes[0].match.path_exact",
                 "invalid path \"\": must start with '/'"},
        HttpCase{"    routes:\n      - {cluster: api, match: {path_exact: \"/a b\"}}\n", 10, 44,
                 "listeners[0].routes[0].match.path_exact",
                 "must not contain spaces, control characters or non-ASCII characters "
                 "(percent-encode them)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {path_prefix: /a, path_exact: /b}}\n",
                 10, 49, "listeners[0].routes[0].match.path_exact",
                 "give either path_prefix or path_exact, not both"},
        HttpCase{"    routes:\n      - {cluster: api, match: {host: \"a b\"}}\n", 10, 38,
                 "listeners[0].routes[0].match.host",
                 "invalid host \"a b\": expected a host name or IP address like users, "
                 "api.example.com or 10.0.0.1"},
        HttpCase{"    routes:\n      - {cluster: api, match: {host: \"users:80\"}}\n", 10, 38,
                 "listeners[0].routes[0].match.host",
                 "invalid host \"users:80\": a port is not allowed here (the port of the "
                 "request's Host is ignored)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {host: .users}}\n", 10, 38,
                 "listeners[0].routes[0].match.host", "invalid host \".users\""},
        HttpCase{"    routes:\n      - {cluster: api, match: {host: \"\"}}\n", 10, 38,
                 "listeners[0].routes[0].match.host", "must not be empty"},
        HttpCase{"    routes:\n      - {cluster: api, match: {host: \"::1\"}}\n", 10, 38,
                 "listeners[0].routes[0].match.host",
                 "an IPv6 literal must be in brackets, e.g. [::1]"},
        HttpCase{"    routes:\n      - {cluster: api, match: {host: \"[::g]\"}}\n", 10, 38,
                 "listeners[0].routes[0].match.host", "invalid IPv6 literal"},
        HttpCase{"    routes:\n      - {cluster: api, match: {host_suffix: \"a b\"}}\n", 10, 45,
                 "listeners[0].routes[0].match.host_suffix", "invalid host \"a b\""},
        HttpCase{"    routes:\n      - {cluster: api, match: {method: \"GE T\"}}\n", 10, 40,
                 "listeners[0].routes[0].match.method",
                 "invalid method \"GE T\"; expected a token like GET or PURGE"},
        HttpCase{"    routes:\n      - {cluster: api, match: {method: \"\"}}\n", 10, 40,
                 "listeners[0].routes[0].match.method", "invalid method \"\""}));

INSTANTIATE_TEST_SUITE_P(
    Header, HttpError,
    ::testing::Values(
        HttpCase{"    routes:\n      - {cluster: api, match: {header: x-a}}\n", 10, 40,
                 "listeners[0].routes[0].match.header",
                 "expected a map {name, value} or {name, present: true}, or a list of them, got "
                 "\"x-a\""},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: []}}\n", 10, 40,
                 "listeners[0].routes[0].match.header",
                 "at least one header is required (or leave out the key)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {value: a}}}\n", 10, 40,
                 "listeners[0].routes[0].match.header", "missing required key \"name\""},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: x-a}}}\n", 10, 40,
                 "listeners[0].routes[0].match.header",
                 "missing required key \"value\" (or present: true)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: [{name: x-a}]}}\n", 10, 41,
                 "listeners[0].routes[0].match.header[0]",
                 "missing required key \"value\" (or present: true)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: [x-a]}}\n", 10, 41,
                 "listeners[0].routes[0].match.header[0]", "expected a map, got \"x-a\""},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: \"x a\", value: "
                 "b}}}\n",
                 10, 47, "listeners[0].routes[0].match.header.name",
                 "invalid header name \"x a\"; expected a token"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: \":path\", "
                 "present: true}}}\n",
                 10, 47, "listeners[0].routes[0].match.header.name",
                 "invalid header name \":path\""},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: a, value: b, "
                 "present: true}}}\n",
                 10, 60, "listeners[0].routes[0].match.header.present",
                 "give either value or present, not both"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: a, present: "
                 "false}}}\n",
                 10, 59, "listeners[0].routes[0].match.header.present",
                 "must be true (matching a header that is absent is not supported)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: a, present: "
                 "yes}}}\n",
                 10, 59, "listeners[0].routes[0].match.header.present",
                 "expected true or false, got \"yes\" (YAML 1.1 spelling; write true or false)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: a, value: \" "
                 "b\"}}}\n",
                 10, 57, "listeners[0].routes[0].match.header.value",
                 "must not begin or end with a space or tab"},
        HttpCase{"    routes:\n      - {cluster: api, match: {header: {name: a, value: "
                 "\"b\\x01\"}}}\n",
                 10, 57, "listeners[0].routes[0].match.header.value",
                 "must not contain control characters"},
        HttpCase{
            "    routes:\n      - {cluster: api, match: {header: {name: a, value: c, valu: b}}}\n",
            10, 60, "listeners[0].routes[0].match.header.valu", "did you mean \"value\"?"}));

INSTANTIATE_TEST_SUITE_P(
    Rewrites, HttpError,
    ::testing::Values(
        HttpCase{"    routes:\n      - {cluster: api, prefix_rewrite: /v1}\n", 10, 24,
                 "listeners[0].routes[0].prefix_rewrite",
                 "needs match.path_prefix (the part of the path that it replaces)"},
        HttpCase{"    routes:\n      - {cluster: api, match: {path_exact: /a}, prefix_rewrite: "
                 "/v1}\n",
                 10, 49, "listeners[0].routes[0].prefix_rewrite", "needs match.path_prefix"},
        HttpCase{"    routes:\n      - {cluster: api, match: {path_prefix: /a}, prefix_rewrite: "
                 "v1}\n",
                 10, 66, "listeners[0].routes[0].prefix_rewrite",
                 "invalid path \"v1\": must start with '/'"},
        HttpCase{"    routes:\n      - {cluster: api, host_rewrite: \"a b\"}\n", 10, 38,
                 "listeners[0].routes[0].host_rewrite", "invalid host \"a b\""},
        HttpCase{"    routes:\n      - {cluster: api, host_rewrite: \"a:0\"}\n", 10, 38,
                 "listeners[0].routes[0].host_rewrite",
                 "invalid host \"a:0\": port must be a number 1-65535"},
        HttpCase{"    routes:\n      - {cluster: api, host_rewrite: \"a:\"}\n", 10, 38,
                 "listeners[0].routes[0].host_rewrite", "empty port after ':'"},
        HttpCase{"    routes:\n      - {cluster: api, upstream_host_from_request: true}\n", 10, 19,
                 "listeners[0].routes[0].cluster",
                 "upstream_host_from_request needs a cluster of type dynamic_host"},
        HttpCase{"    routes:\n      - {cluster: api, upstream_host_from_request: \"true\"}\n", 10,
                 52, "listeners[0].routes[0].upstream_host_from_request",
                 "expected true or false, got the string \"true\""}));

INSTANTIATE_TEST_SUITE_P(
    Retries, HttpError,
    ::testing::Values(
        HttpCase{"    routes:\n      - {cluster: api, retries: {attempts: 11}}\n", 10, 44,
                 "listeners[0].routes[0].retries.attempts", "must be between 0 and 10, got 11"},
        HttpCase{"    routes:\n      - {cluster: api, retries: {attempts: -1}}\n", 10, 44,
                 "listeners[0].routes[0].retries.attempts", "must be between 0 and 10, got -1"},
        HttpCase{"    routes:\n      - {cluster: api, retries: {on: [5xx]}}\n", 10, 39,
                 "listeners[0].routes[0].retries.on[0]",
                 "unknown retry condition \"5xx\"; supported: connect-failure, reset, 502, "
                 "503, 504"},
        HttpCase{"    routes:\n      - {cluster: api, retries: {on: [connect_failure]}}\n", 10, 39,
                 "listeners[0].routes[0].retries.on[0]", "did you mean \"connect-failure\"?"},
        HttpCase{"    routes:\n      - {cluster: api, retries: {on: [reset, reset]}}\n", 10, 46,
                 "listeners[0].routes[0].retries.on[1]",
                 "duplicate retry condition \"reset\" (first at line 10)"},
        HttpCase{"    routes:\n      - {cluster: api, retries: {on: []}}\n", 10, 38,
                 "listeners[0].routes[0].retries.on",
                 "at least one condition is required (set attempts: 0 for no retries)"},
        HttpCase{"    routes:\n      - {cluster: api, retries: {on: 503}}\n", 10, 38,
                 "listeners[0].routes[0].retries.on", "expected a list, got \"503\""},
        HttpCase{"    routes:\n      - {cluster: api, retries: {per_try_timeout: 0ms}}\n", 10, 51,
                 "listeners[0].routes[0].retries.per_try_timeout", "must be greater than 0"},
        HttpCase{"    routes:\n      - {cluster: api, retries: {attempt: 1}}\n", 10, 34,
                 "listeners[0].routes[0].retries.attempt", "did you mean \"attempts\"?"},
        HttpCase{"    routes:\n      - {cluster: api, retries: 3}\n", 10, 33,
                 "listeners[0].routes[0].retries", "expected a map, got \"3\""}));

INSTANTIATE_TEST_SUITE_P(
    ListenerTracing, HttpError,
    ::testing::Values(HttpCase{"    tracing: {sample_rate: 1.5}\n", 9, 28,
                               "listeners[0].tracing.sample_rate",
                               "must be between 0 and 1, got 1.5"},
                      HttpCase{"    tracing: {propagate: [b3, zipkin]}\n", 9, 31,
                               "listeners[0].tracing.propagate[1]",
                               "unknown propagation format \"zipkin\"; supported: b3, w3c"},
                      HttpCase{"    tracing: {request_id: 1}\n", 9, 27,
                               "listeners[0].tracing.request_id",
                               "expected true or false, got \"1\""},
                      HttpCase{"    tracing: {sample: 1}\n", 9, 15, "listeners[0].tracing.sample",
                               "did you mean \"sample_rate\"?"},
                      HttpCase{"    tracing: off\n", 9, 14, "listeners[0].tracing",
                               "expected a map, got \"off\""}));

// Top-level tracing: a line prepended to kBase.
INSTANTIATE_TEST_SUITE_P(
    Tracing, ScalarError,
    ::testing::Values(ScalarCase{"tracing: {sample_rate: 1.01}", 24, "tracing.sample_rate",
                                 "must be between 0 and 1, got 1.01"},
                      ScalarCase{"tracing: {sample_rate: -0.1}", 24, "tracing.sample_rate",
                                 "must be between 0 and 1, got -0.1"},
                      ScalarCase{"tracing: {sample_rate: \"0.5\"}", 24, "tracing.sample_rate",
                                 "expected a plain number, got the string \"0.5\""},
                      ScalarCase{"tracing: {sample_rate: 1%}", 24, "tracing.sample_rate",
                                 "expected a decimal number like 0.25, got \"1%\""},
                      ScalarCase{"tracing: {sample_rate: .nan}", 24, "tracing.sample_rate",
                                 "expected a decimal number"},
                      ScalarCase{"tracing: {sample_rate: 1e}", 24, "tracing.sample_rate",
                                 "expected a decimal number"},
                      ScalarCase{"tracing: {sample_rate: [0]}", 24, "tracing.sample_rate",
                                 "expected a number, got a list"},
                      ScalarCase{"tracing: {propagate: b3}", 22, "tracing.propagate",
                                 "expected a list, got \"b3\""},
                      ScalarCase{"tracing: {propagate: [w3c, b3, w3c]}", 32, "tracing.propagate[2]",
                                 "duplicate propagation format \"w3c\" (first at line 1)"},
                      ScalarCase{"tracing: {propagate: [B3]}", 23, "tracing.propagate[0]",
                                 "unknown propagation format \"B3\"; supported: b3, w3c"},
                      ScalarCase{"tracing: {request_id: on}", 23, "tracing.request_id",
                                 "(YAML 1.1 spelling; write true or false)"},
                      ScalarCase{"tracing: {request_id: [true]}", 23, "tracing.request_id",
                                 "expected true or false, got a list"},
                      ScalarCase{"tracing: [b3]", 10, "tracing", "expected a map, got a list"}));

TEST(LoaderHttp, TracingValues) {
  struct Case {
    const char* yaml;
    double rate;
  };
  for (Case c : {Case{"0", 0}, Case{"1", 1}, Case{"0.25", 0.25}, Case{".5", 0.5},
                 Case{"1e-3", 0.001}, Case{"1.0", 1}, Case{"-0", 0}, Case{"0.", 0}}) {
    auto config = configOf(withBase(std::string("tracing: {sample_rate: ") + c.yaml + "}\n"));
    ASSERT_TRUE(config) << c.yaml;
    EXPECT_EQ(config->tracing.sample_rate, c.rate) << c.yaml;
  }
  for (const char* yes : {"true", "True", "TRUE"}) {
    auto config = configOf(withBase(std::string("tracing: {request_id: ") + yes + "}\n"));
    ASSERT_TRUE(config) << yes;
    EXPECT_TRUE(config->tracing.request_id);
  }
  for (const char* no : {"false", "False", "FALSE"}) {
    auto config = configOf(withBase(std::string("tracing: {request_id: ") + no + "}\n"));
    ASSERT_TRUE(config) << no;
    EXPECT_FALSE(config->tracing.request_id);
  }
  // An empty list turns propagation off.
  auto off = configOf(withBase("tracing: {propagate: []}\n"));
  ASSERT_TRUE(off);
  EXPECT_FALSE(off->tracing.propagate_b3);
  EXPECT_FALSE(off->tracing.propagate_w3c);
  // An empty block keeps every default.
  auto empty = configOf(withBase("tracing: {}\n"));
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->tracing.propagate_b3 && empty->tracing.propagate_w3c);
  EXPECT_TRUE(empty->tracing.request_id);
  EXPECT_EQ(empty->tracing.sample_rate, 0.01);
}

TEST(LoaderHttp, TracingInheritance) {
  auto config = configOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: inherits, address: 127.0.0.1:4140, protocol: http, cluster: c}
  - name: own
    address: 127.0.0.1:4141
    protocol: http
    cluster: c
    tracing: {propagate: []}
  - name: all-own
    address: 127.0.0.1:4142
    protocol: http
    cluster: c
    tracing: {propagate: [b3, w3c], request_id: true, sample_rate: 0}
tracing: {propagate: [b3], request_id: false, sample_rate: 0.2}
)");
  ASSERT_TRUE(config);
  // The top-level block may come after the listeners in the file.
  const TracingConfig& top = config->tracing;
  EXPECT_TRUE(top.propagate_b3);
  EXPECT_FALSE(top.propagate_w3c);
  EXPECT_FALSE(top.request_id);
  EXPECT_EQ(top.sample_rate, 0.2);
  const TracingConfig& inherits = config->listeners[0].http.tracing;
  EXPECT_TRUE(inherits.propagate_b3);
  EXPECT_FALSE(inherits.propagate_w3c);
  EXPECT_FALSE(inherits.request_id);
  EXPECT_EQ(inherits.sample_rate, 0.2);
  const TracingConfig& own = config->listeners[1].http.tracing;
  EXPECT_FALSE(own.propagate_b3);
  EXPECT_FALSE(own.propagate_w3c);
  EXPECT_FALSE(own.request_id);     // from the top level
  EXPECT_EQ(own.sample_rate, 0.2);  // from the top level
  const TracingConfig& all = config->listeners[2].http.tracing;
  EXPECT_TRUE(all.propagate_b3);
  EXPECT_TRUE(all.propagate_w3c);
  EXPECT_TRUE(all.request_id);
  EXPECT_EQ(all.sample_rate, 0.0);
}

TEST(LoaderHttp, HostAndHeaderForms) {
  auto config = configOf(withHttp(R"(    routes:
      - {cluster: api, match: {host: 10.0.0.1}}
      - {cluster: api, match: {host: "[::1]", method: PURGE}}
      - {cluster: api, match: {host: my_svc.internal, host_suffix: internal}}
      - {cluster: api, match: {header: {name: X-Present, present: TRUE}}}
      - {cluster: api, host_rewrite: "[::1]:8080"}
      - {cluster: api, host_rewrite: Users}
      - {cluster: api, match: {path_prefix: /}, prefix_rewrite: /x/}
)"));
  ASSERT_TRUE(config);
  const auto& r = onlyListener(config).http.routes;
  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(r[0].host, "10.0.0.1");
  EXPECT_EQ(r[1].host, "[::1]");
  EXPECT_EQ(r[1].method, "PURGE");
  EXPECT_EQ(r[2].host, "my_svc.internal");
  EXPECT_EQ(r[2].host_suffix, "internal");
  ASSERT_EQ(r[3].headers.size(), 1u);
  EXPECT_EQ(r[3].headers[0].name, "x-present");
  EXPECT_FALSE(r[3].headers[0].value);
  EXPECT_EQ(r[4].host_rewrite, "[::1]:8080");
  EXPECT_EQ(r[5].host_rewrite, "Users");  // a new Host value, kept as written
  EXPECT_EQ(r[6].prefix_rewrite, "/x/");
  EXPECT_EQ(r[7].cluster, "c");  // the catch-all
}

TEST(LoaderHttp, RouteErrorsAreAllReported) {
  Errors errors = errorsOf(withHttp(R"(    routes:
      - match: {path_prefix: nope}
        cluster: nope
        prefix_rewrite: /x
      - match: [a]
        cluster: api
        prefix_rewrite: /y
      - cluster: api
        retries: {attempts: 99, on: [reset, 500]}
)"));
  // A broken `match` makes no prefix_rewrite error of its own.
  EXPECT_EQ(errors.size(), 5u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 10, 30, "listeners[0].routes[0].match.path_prefix", "invalid path"));
  EXPECT_TRUE(hasError(errors, 11, 18, "listeners[0].routes[0].cluster", "unknown cluster"));
  EXPECT_TRUE(hasError(errors, 13, 16, "listeners[0].routes[1].match", "expected a map"));
  EXPECT_TRUE(
      hasError(errors, 17, 29, "listeners[0].routes[2].retries.attempts", "must be between"));
  EXPECT_TRUE(hasError(errors, 17, 45, "listeners[0].routes[2].retries.on[1]",
                       "unknown retry condition \"500\""));
}

TEST(LoaderHttp, AddressRulesApplyToHttpListeners) {
  Errors errors = errorsOf(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: t, address: 127.0.0.1:4140, cluster: c}
  - {name: h, address: 127.0.0.1:4140, protocol: http, cluster: c}
  - {name: h, address: 0.0.0.0:4141, protocol: http, cluster: c}
  - {name: a, address: 127.0.0.1:9901, protocol: http, cluster: c}
  - {name: b, address: localhost:4142, protocol: http, cluster: c}
)");
  EXPECT_EQ(errors.size(), 4u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 5, 24, "listeners[1].address",
                       "address 127.0.0.1:4140 is already used by listener \"t\" (line 4)"));
  EXPECT_TRUE(hasError(errors, 6, 12, "listeners[2].name",
                       "duplicate listener name \"h\" (first defined at line 5)"));
  EXPECT_TRUE(hasError(errors, 7, 24, "listeners[3].address",
                       "clashes with the admin address 127.0.0.1:9901"));
  EXPECT_TRUE(hasError(errors, 8, 24, "listeners[4].address", "host names are not allowed"));
}

TEST(LoaderHttp, ListenerClusterOfAnHttpListenerMustExist) {
  // One error at the listener's cluster; the catch-all route made from it adds none.
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: h, address: 127.0.0.1:4140, protocol: http, cluster: d}
)",
                        4, 65, "listeners[0].cluster", "unknown cluster \"d\""));
}

// ---------------------------------------------------------------------------------------------
// Cluster pools

struct PoolCase {
  const char* pool;  // the value of `pool:`
  int column;
  const char* path;
  const char* message;
};

void PrintTo(const PoolCase& c, std::ostream* os) {
  *os << c.pool;
}

class PoolError : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolError, IsReported) {
  const PoolCase& c = GetParam();
  std::string yaml = std::string("clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n") +
                     "    pool: " + c.pool + "\n" +
                     "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n";
  EXPECT_TRUE(onlyError(yaml, 4, c.column, c.path, c.message));
}

INSTANTIATE_TEST_SUITE_P(
    All, PoolError,
    ::testing::Values(
        PoolCase{"{max_idle_per_endpoint: 10001}", 35, "clusters[0].pool.max_idle_per_endpoint",
                 "must be between 0 and 10000, got 10001"},
        PoolCase{"{max_idle_per_endpoint: -1}", 35, "clusters[0].pool.max_idle_per_endpoint",
                 "must be between 0 and 10000, got -1"},
        PoolCase{"{idle_timeout: 0s}", 26, "clusters[0].pool.idle_timeout",
                 "must be greater than 0"},
        PoolCase{"{idle_timeout: 1.5s}", 26, "clusters[0].pool.idle_timeout", "no fractions"},
        PoolCase{"{max_requests_per_connection: -1}", 41,
                 "clusters[0].pool.max_requests_per_connection",
                 "must be between 0 and 4294967295, got -1"},
        PoolCase{"{max_idle: 1}", 12, "clusters[0].pool.max_idle",
                 "did you mean \"max_idle_per_endpoint\"?"},
        PoolCase{"32", 11, "clusters[0].pool", "expected a map, got \"32\""}));

TEST(LoaderHttp, PoolOnAnyCluster) {
  // A pool is accepted on every cluster (tcp listeners just do not use it).
  auto config = configOf(R"(clusters:
  - name: c
    endpoints: [127.0.0.1:1]
    pool: {max_idle_per_endpoint: 10000, max_requests_per_connection: 4294967295}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)");
  ASSERT_TRUE(config);
  EXPECT_EQ(config->clusters[0].pool.max_idle_per_endpoint, 10000u);
  EXPECT_EQ(config->clusters[0].pool.idle_timeout, Duration(50000));
  EXPECT_EQ(config->clusters[0].pool.max_requests_per_connection, 4294967295u);
}

TEST(LoaderHttp, ShippedHttpExample) {
  auto path = (std::filesystem::path(PILOTFISH_SOURCE_DIR) / "config/http-example.yaml")
                  .lexically_normal()
                  .string();
  auto result = loadFromFile(path);
  auto* errors = std::get_if<Errors>(&result);
  ASSERT_EQ(errors, nullptr) << dump(*errors);
  const Config& c = *std::get<ConfigPtr>(result);
  ASSERT_EQ(c.listeners.size(), 1u);
  const ListenerConfig& l = c.listeners[0];
  EXPECT_EQ(l.address.toString(), "127.0.0.1:4140");
  EXPECT_EQ(l.protocol, ListenerProtocol::kHttp);
  auto api = c.findCluster("api");
  auto web = c.findCluster("web");
  ASSERT_TRUE(api && web);
  ASSERT_GE(l.http.routes.size(), 2u);
  // /api goes to one cluster, everything else (the catch-all, last) to the other.
  bool api_routed = false;
  for (std::size_t i = 0; i + 1 < l.http.routes.size(); ++i) {
    const RouteConfig& r = l.http.routes[i];
    std::string p = r.path_prefix.value_or(r.path_exact.value_or(""));
    EXPECT_EQ(p.rfind("/api", 0), 0u) << i;
    EXPECT_EQ(r.cluster_index, *api) << i;
    api_routed = true;
  }
  EXPECT_TRUE(api_routed);
  const RouteConfig& last = l.http.routes.back();
  EXPECT_FALSE(last.host || last.path_prefix || last.path_exact || last.method);
  EXPECT_EQ(last.cluster_index, *web);
}

}  // namespace
}  // namespace pilotfish::config

namespace pilotfish::config {
namespace {

// TLS origination (`tls:` on a cluster).
std::string tlsConfig(const std::string& tls_block, const std::string& protocol = "http") {
  return "clusters:\n  - name: ext\n    endpoints: [127.0.0.1:443]\n    tls: " + tls_block +
         "\nlisteners:\n  - name: l\n    address: 127.0.0.1:4140\n    protocol: " + protocol +
         "\n    cluster: ext\n";
}

std::string tlsErrors(const std::string& tls_block, const std::string& protocol = "http") {
  return dump(errorsOf(tlsConfig(tls_block, protocol)));
}

TEST(LoaderTls, ReadsEveryKey) {
  const std::string ca = std::string(PILOTFISH_SOURCE_DIR) + "/README.md";  // any readable file
  auto cfg = configOf(tlsConfig("{sni: api.example.com, ca_file: " + ca + ", alpn: [http/1.1]}"));
  ASSERT_NE(cfg, nullptr);
  const auto& t = cfg->clusters[0].tls;
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(t->verify);
  EXPECT_EQ(t->sni, "api.example.com");
  EXPECT_EQ(t->ca_file, ca);
  EXPECT_EQ(t->alpn, std::vector<std::string>{"http/1.1"});
  EXPECT_TRUE(t->cert_file.empty());
  EXPECT_FALSE(configOf(kBase)->clusters[0].tls.has_value());
}

TEST(LoaderTls, VerifyNeedsSni) {
  EXPECT_NE(tlsErrors("{verify: true}").find("clusters[0].tls: verify: true needs sni"),
            std::string::npos)
      << tlsErrors("{verify: true}");
  auto cfg = configOf(tlsConfig("{verify: false}"));
  ASSERT_NE(cfg, nullptr);
  EXPECT_FALSE(cfg->clusters[0].tls->verify);
}

TEST(LoaderTls, Errors) {
  auto has = [](const std::string& errors, const std::string& what) {
    EXPECT_NE(errors.find(what), std::string::npos) << "want: " << what << "\ngot:\n" << errors;
  };
  has(tlsErrors("{sni: a.example, ca_file: /nonexistent/ca.pem}"),
      "clusters[0].tls.ca_file: cannot read file");
  has(tlsErrors("{sni: 'a b'}"), "invalid server name");
  has(tlsErrors("{sni: a.example, alpn: [h2]}"), "alpn protocol \"h2\" is not supported yet");
  const std::string f = std::string(PILOTFISH_SOURCE_DIR) + "/README.md";
  has(tlsErrors("{sni: a.example, cert_file: " + f + "}"), "cert_file needs key_file");
  has(tlsErrors("{sni: a.example}", "tcp"), "only http listeners originate");
  has(tlsErrors("{sni: a.example, verfy: false}"), "did you mean \"verify\"?");
}

}  // namespace
}  // namespace pilotfish::config

namespace pilotfish::config {
namespace {

// `type: dynamic_host` clusters and `upstream_host_from_request` routes (chocon style).
const char* kDynamic = R"(clusters:
  - name: external
    type: dynamic_host
    port: 8443
    dns_ttl: 30s
    tls: {ca_file: )" PILOTFISH_SOURCE_DIR R"(/README.md}
listeners:
  - name: l
    address: 127.0.0.1:4140
    protocol: http
    routes:
      - match: {host_suffix: .pf-https}
        upstream_host_from_request: true
        cluster: external
)";

TEST(LoaderDynamicHost, Parses) {
  auto cfg = configOf(kDynamic);
  ASSERT_NE(cfg, nullptr);
  const auto& c = cfg->clusters[0];
  EXPECT_EQ(c.type, ClusterType::kDynamicHost);
  EXPECT_EQ(c.port, 8443);
  EXPECT_EQ(c.dns_ttl, std::chrono::seconds(30));
  EXPECT_TRUE(c.endpoints.empty());
  ASSERT_TRUE(c.tls.has_value());
  EXPECT_TRUE(c.tls->verify) << "verify needs no sni here: the name comes from the request";
  EXPECT_TRUE(cfg->listeners[0].http.routes[0].upstream_host_from_request);
}

TEST(LoaderDynamicHost, Errors) {
  auto has = [](const std::string& yaml, const std::string& what) {
    std::string errors = dump(errorsOf(yaml));
    EXPECT_NE(errors.find(what), std::string::npos) << "want: " << what << "\ngot:\n" << errors;
  };
  std::string y = kDynamic;
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string out = y;
    out.replace(out.find(from), from.size(), to);
    return out;
  };
  has(replaced("    port: 8443\n", "    port: 8443\n    endpoints: [127.0.0.1:1]\n"),
      "a dynamic_host cluster has no endpoints");
  has(replaced("        upstream_host_from_request: true\n", ""),
      "the route needs upstream_host_from_request: true");
  has(replaced("      - match: {host_suffix: .pf-https}\n", "      - match: {}\n"),
      "upstream_host_from_request needs match.host_suffix");
  has(replaced("    tls: {", "    tls: {sni: a.example, "), "not for a dynamic_host cluster");
  has(replaced("    type: dynamic_host\n", "    endpoints: [127.0.0.1:1]\n"),
      "clusters[0].port: only for type: dynamic_host");
  has(replaced("    type: dynamic_host\n", "    type: dynamic\n"),
      "did you mean \"dynamic_host\"?");
  has(replaced("    routes:\n", "    cluster: external\n    routes:\n"),
      "is dynamic_host: use it from a route with upstream_host_from_request");
}

}  // namespace
}  // namespace pilotfish::config
