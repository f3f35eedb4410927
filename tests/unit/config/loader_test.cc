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

namespace pilotfish::config {
namespace {

using Errors = std::vector<ConfigError>;

constexpr const char* kFile = "test.yaml";

// A valid tail: one cluster, one listener. Tests prepend top-level lines to it, so an error in
// the prepended text is on line 1 (or the line the test counts).
constexpr std::string_view kBase =
    "clusters:\n"
    "  - name: c\n"
    "    endpoints: [127.0.0.1:6379]\n"
    "listeners:\n"
    "  - {name: l, address: 127.0.0.1:7379, cluster: c}\n";

std::string dump(const Errors& errors) {
  std::string out;
  for (const auto& e : errors) out += "  " + e.toString() + "\n";
  return out;
}

Errors errorsOf(std::string_view yaml) {
  auto result = loadFromString(yaml, kFile);
  if (auto* errors = std::get_if<Errors>(&result)) return *errors;
  ADD_FAILURE() << "config was accepted, expected errors:\n" << yaml;
  return {};
}

ConfigPtr configOf(std::string_view yaml) {
  auto result = loadFromString(yaml, kFile);
  if (auto* errors = std::get_if<Errors>(&result)) {
    ADD_FAILURE() << "unexpected errors:\n" << dump(*errors);
    return nullptr;
  }
  return std::get<ConfigPtr>(result);
}

// True when some error has exactly this position and path and a message containing `text`.
::testing::AssertionResult hasError(const Errors& errors, int line, int column,
                                    std::string_view path, std::string_view text) {
  for (const auto& e : errors) {
    if (e.file == kFile && e.line == line && e.column == column && e.path == path &&
        e.message.find(text) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  return ::testing::AssertionFailure() << "no error " << line << ":" << column << " [" << path
                                       << "] ~ \"" << text << "\" among:\n"
                                       << dump(errors);
}

// Exactly one error, with this position, path and message text.
::testing::AssertionResult onlyError(std::string_view yaml, int line, int column,
                                     std::string_view path, std::string_view text) {
  Errors errors = errorsOf(yaml);
  if (errors.size() != 1) {
    return ::testing::AssertionFailure() << "expected 1 error, got " << errors.size() << ":\n"
                                         << dump(errors);
  }
  return hasError(errors, line, column, path, text);
}

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
  EXPECT_TRUE(onlyError(withBase("frobnicate: 2\n"), 1, 1, "frobnicate",
                        "unknown key \"frobnicate\"; expected one of: node, workers, drain_delay, "
                        "drain_timeout, admin, log, access_log, clusters, listeners"));
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
                       "missing required key \"endpoints\" (static endpoints are the only"));
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
      std::string("protocol \"") + GetParam() + "\" is not supported yet; supported: tcp"));
}

INSTANTIATE_TEST_SUITE_P(All, ProtocolLater, ::testing::Values("http", "http2", "grpc"));

TEST(Loader, UnknownProtocol) {
  EXPECT_TRUE(onlyError(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: l, address: 127.0.0.1:7379, protocol: udp, cluster: c}
)",
                        4, 50, "listeners[0].protocol",
                        "unknown protocol \"udp\"; supported: tcp"));
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
  for (std::string key : {"discovery", "cache_dir", "service", "tracing"}) {
    out.push_back({std::string(kBase) + key + ": {}\n", 6, 1, key});
  }
  // A cluster with static endpoints plus one later key.
  for (std::string key :
       {"zookeeper", "consul", "etcd", "dns", "file", "tls", "type", "pool", "circuit_breaker",
        "outlier_detection", "health_check", "on_endpoint_removed", "allow_empty", "max_stale",
        "initial_fetch_timeout"}) {
    out.push_back({"clusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n    " + key +
                       ": x\nlisteners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n",
                   4, 5, "clusters[0]." + key});
  }
  for (std::string key : {"routes", "tracing", "tls"}) {
    out.push_back(
        {"clusters:\n  - {name: c, endpoints: [127.0.0.1:1]}\nlisteners:\n"
         "  - name: l\n    address: 127.0.0.1:7379\n    cluster: c\n    " +
             key + ": x\n",
         7, 5, "listeners[0]." + key});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, NotSupportedYet, ::testing::ValuesIn(laterKeys()));

TEST(Loader, ClusterFromAnotherSourceNeedsNoEndpoints) {
  // Only the "not supported yet" error: the missing static endpoints would be noise.
  EXPECT_TRUE(onlyError(R"(clusters:
  - name: c
    consul: {source: consul, service: c}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)",
                        3, 5, "clusters[0].consul", "key \"consul\" is not supported yet"));
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

TEST(Loader, IssueSampleGivesExactlyTheNotSupportedErrors) {
  Errors errors = errorsOf(kIssueSample);
  ASSERT_EQ(errors.size(), 6u) << dump(errors);
  EXPECT_TRUE(hasError(errors, 8, 1, "discovery", "key \"discovery\" is not supported yet"));
  EXPECT_TRUE(hasError(errors, 13, 1, "cache_dir", "key \"cache_dir\" is not supported yet"));
  EXPECT_TRUE(
      hasError(errors, 18, 5, "clusters[1].zookeeper", "key \"zookeeper\" is not supported yet"));
  EXPECT_TRUE(hasError(errors, 25, 15, "listeners[1].protocol",
                       "protocol \"http\" is not supported yet; supported: tcp"));
  EXPECT_TRUE(
      hasError(errors, 26, 5, "listeners[1].routes", "key \"routes\" is not supported yet"));
  EXPECT_TRUE(hasError(errors, 27, 1, "service", "key \"service\" is not supported yet"));
  EXPECT_EQ(errors[0].toString(),
            "test.yaml:8:1: discovery: key \"discovery\" is not supported yet");
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
