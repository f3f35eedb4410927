// The admin HTTP API of the running binary: /ready, /metrics, /clusters, /config, /logging, and
// how it treats requests it does not serve.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

std::string endpoint(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

// Two listeners (l1 -> c1, l2 -> c2) and two clusters with both endpoint forms.
struct TwoListeners {
  TestServer a{TestServer::Mode::kEcho};
  TestServer b{TestServer::Mode::kEcho};
  uint16_t refused = freePort();  // nobody listens on these two
  uint16_t refused2 = freePort();
  uint16_t l1 = freePort();
  uint16_t l2 = freePort();

  std::string yaml() const {
    return render(R"(workers: 2
clusters:
  - name: c1
    endpoints:
      - ${A}
      - {address: ${B}, weight: 3, zone: zone-b}
  - name: c2
    connect_timeout: 250ms
    endpoints:
      - {address: ${REFUSED}, weight: 0, zone: zone-c}
      - ${REFUSED2}
listeners:
  - name: l1
    address: 127.0.0.1:${L1}
    protocol: tcp
    cluster: c1
  - {name: l2, address: "127.0.0.1:${L2}", cluster: c2, idle_timeout: 10m, max_connections: 7}
)",
                  {{"A", endpoint(a.port())},
                   {"B", endpoint(b.port())},
                   {"REFUSED", endpoint(refused)},
                   {"REFUSED2", endpoint(refused2)},
                   {"L1", std::to_string(l1)},
                   {"L2", std::to_string(l2)}});
  }
};

const json::object& clusterNamed(const json::value& v, const std::string& name) {
  for (const auto& c : v.at("clusters").as_array()) {
    if (c.at("name").as_string() == name) return c.as_object();
  }
  throw std::runtime_error("no cluster " + name + " in " + json::serialize(v));
}

std::string str(const json::value& v) {
  return std::string(v.as_string());
}

double num(const json::value& v) {
  if (v.is_double()) return v.as_double();
  if (v.is_int64()) return static_cast<double>(v.as_int64());
  if (v.is_uint64()) return static_cast<double>(v.as_uint64());
  throw std::runtime_error("not a number: " + json::serialize(v));
}

// ---------------------------------------------------------------------------------------------

TEST(Admin, ReadyAnswers200WhenUp) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  auto r = pf.get("/ready");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ready\n");
  auto head = http("HEAD", pf.adminPort(), "/ready");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  // Both listeners really are up when /ready says so.
  TcpClient c;
  EXPECT_EQ(c.connect(s.l1), 0);
  TcpClient d;
  EXPECT_EQ(d.connect(s.l2), 0);
}

TEST(Admin, MetricsIsValidPrometheusText) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  {
    TcpClient c;  // one closed connection, so that histograms have a sample
    ASSERT_EQ(c.connect(s.l1), 0);
    ASSERT_TRUE(c.echoRoundTrip("hello"));
  }
  pf.waitMetric("pilotfish_listener_connections_closed_total{listener=\"l1\"}",
                [](double v) { return v == 1; });
  auto r = pf.get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("text/plain", 0), 0u) << r.header("content-type");
  EXPECT_NE(r.header("content-type").find("version=0.0.4"), std::string::npos)
      << r.header("content-type");
  ASSERT_FALSE(r.body.empty());
  EXPECT_EQ(r.body.back(), '\n');

  // Every sample belongs to the family of the closest preceding # TYPE line, which has a
  // # HELP line too; each family is declared once.
  std::map<std::string, std::string> types;
  std::set<std::string> helps;
  std::string current;
  std::istringstream in(r.body);
  std::string line;
  const std::regex sample_re(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*\})? \S+$)");
  int samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      auto name = line.substr(7, line.find(' ', 7) - 7);
      EXPECT_TRUE(helps.insert(name).second) << "HELP twice for " << name;
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram" ||
                  type == "summary" || type == "untyped")
          << line;
      EXPECT_TRUE(types.emplace(name, type).second) << "TYPE twice for " << name;
      EXPECT_TRUE(helps.count(name)) << "no HELP before TYPE for " << name;
      current = name;
      continue;
    }
    ASSERT_NE(line.rfind('#', 0), 0u) << "unexpected comment: " << line;
    EXPECT_TRUE(std::regex_match(line, sample_re)) << "malformed sample line: " << line;
    ++samples;
    auto name = line.substr(0, line.find_first_of("{ "));
    std::string family = name;
    if (!types.count(name)) {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string sfx = suffix;
        if (name.size() > sfx.size() &&
            name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
          family = name.substr(0, name.size() - sfx.size());
        }
      }
      EXPECT_EQ(types[family], "histogram") << "sample without TYPE: " << line;
    }
    EXPECT_EQ(family, current) << "sample outside its family block: " << line;
    if (types[family] == "counter") {
      EXPECT_NE(name.find("_total"), std::string::npos) << "counter not named *_total: " << name;
    }
  }
  EXPECT_GT(samples, 20);
  for (const auto& [name, type] : types) {
    EXPECT_EQ(name.rfind("pilotfish_", 0), 0u) << name;
  }

  // Histograms: the +Inf bucket equals _count; buckets are cumulative.
  auto all = parseMetrics(r.body);
  std::map<std::string, double> last_bucket;
  for (const auto& smp : all) {
    if (smp.name.size() < 7 || smp.name.compare(smp.name.size() - 7, 7, "_bucket") != 0) continue;
    auto labels = smp.labels;
    ASSERT_TRUE(labels.count("le")) << smp.name;
    labels.erase("le");
    std::string key = smp.name;
    for (const auto& [k, v] : labels) key += "," + k + "=" + v;
    if (last_bucket.count(key)) {
      EXPECT_GE(smp.value, last_bucket[key]) << key;
    }
    last_bucket[key] = smp.value;
  }
  double count = NAN, inf = NAN;
  for (const auto& smp : all) {
    if (smp.name == "pilotfish_listener_connection_duration_seconds_count" &&
        smp.labels == std::map<std::string, std::string>{{"listener", "l1"}}) {
      count = smp.value;
    }
    if (smp.name == "pilotfish_listener_connection_duration_seconds_bucket" &&
        smp.labels == std::map<std::string, std::string>{{"listener", "l1"}, {"le", "+Inf"}}) {
      inf = smp.value;
    }
  }
  EXPECT_EQ(count, 1);
  EXPECT_EQ(inf, 1);
}

TEST(Admin, MetricsHaveListenerAndClusterSeries) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  auto body = pf.get("/metrics").body;
  // The issue's own metrics, per listener and per cluster.
  for (const char* name :
       {"pilotfish_listener_connections_accepted_total", "pilotfish_listener_connections_active",
        "pilotfish_listener_connections_closed_total", "pilotfish_listener_received_bytes_total",
        "pilotfish_listener_sent_bytes_total", "pilotfish_listener_accept_paused_total"}) {
    for (const char* l : {"l1", "l2"}) {
      std::string series = std::string(name) + "{listener=\"" + l + "\"}";
      EXPECT_EQ(pf.metric(series), 0) << series << " missing or not 0 at start";
    }
    EXPECT_NE(body.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(body.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
  for (const char* name : {"pilotfish_cluster_upstream_connect_failures_total",
                           "pilotfish_cluster_upstream_connect_timeouts_total",
                           "pilotfish_cluster_upstream_sent_bytes_total",
                           "pilotfish_cluster_upstream_received_bytes_total"}) {
    for (const char* c : {"c1", "c2"}) {
      std::string series = std::string(name) + "{cluster=\"" + c + "\"}";
      EXPECT_EQ(pf.metric(series), 0) << series << " missing or not 0 at start";
    }
    EXPECT_NE(body.find(std::string("# HELP ") + name + " "), std::string::npos) << name;
    EXPECT_NE(body.find(std::string("# TYPE ") + name + " counter\n"), std::string::npos) << name;
  }
  EXPECT_NE(body.find("# TYPE pilotfish_listener_connections_active gauge\n"), std::string::npos);
  EXPECT_NE(body.find("# TYPE pilotfish_listener_connections_accepted_total counter\n"),
            std::string::npos);

  // Traffic through l1 moves l1's and c1's series only.
  TcpClient c;
  ASSERT_EQ(c.connect(s.l1), 0);
  ASSERT_TRUE(c.echoRoundTrip("12345"));
  EXPECT_EQ(pf.metric("pilotfish_listener_connections_accepted_total{listener=\"l1\"}"), 1);
  EXPECT_EQ(pf.metric("pilotfish_listener_connections_active{listener=\"l1\"}"), 1);
  EXPECT_EQ(pf.metric("pilotfish_listener_received_bytes_total{listener=\"l1\"}"), 5);
  EXPECT_EQ(pf.metric("pilotfish_listener_sent_bytes_total{listener=\"l1\"}"), 5);
  EXPECT_EQ(pf.metric("pilotfish_cluster_upstream_sent_bytes_total{cluster=\"c1\"}"), 5);
  EXPECT_EQ(pf.metric("pilotfish_cluster_upstream_received_bytes_total{cluster=\"c1\"}"), 5);
  EXPECT_EQ(pf.metric("pilotfish_listener_connections_accepted_total{listener=\"l2\"}"), 0);
  EXPECT_EQ(pf.metric("pilotfish_cluster_upstream_sent_bytes_total{cluster=\"c2\"}"), 0);
  // And a connection through l2 (nothing reachable) moves c2's failures.
  TcpClient d;
  ASSERT_EQ(d.connect(s.l2), 0);
  EXPECT_NE(d.waitClosed(3s), ReadEnd::kTimeout);
  EXPECT_EQ(pf.waitMetric("pilotfish_cluster_upstream_connect_failures_total{cluster=\"c2\"}",
                          [](double v) { return v >= 1; }),
            1);
  EXPECT_EQ(pf.metric("pilotfish_cluster_upstream_connect_failures_total{cluster=\"c1\"}"), 0);
}

TEST(Admin, EveryExposedMetricIsDocumented) {
  std::string doc_path = std::string(PILOTFISH_SOURCE_DIR) + "/docs/metrics.md";
  if (!std::filesystem::exists(doc_path)) GTEST_SKIP() << doc_path << " does not exist yet";
  std::ifstream f(doc_path);
  std::stringstream doc;
  doc << f.rdbuf();
  std::set<std::string> documented;
  std::regex name_re(R"(pilotfish_[a-z0-9_]+)");
  std::string text = doc.str();
  for (std::sregex_iterator it(text.begin(), text.end(), name_re), end; it != end; ++it) {
    documented.insert(it->str());
  }
  TwoListeners s;
  Pilotfish pf(s.yaml());
  auto body = pf.get("/metrics").body;
  std::istringstream in(body);
  std::string line;
  int families = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) != 0) continue;
    auto name = line.substr(7, line.find(' ', 7) - 7);
    ++families;
    EXPECT_TRUE(documented.count(name)) << name << " is exposed but not in docs/metrics.md";
  }
  EXPECT_GT(families, 10);
}

TEST(Admin, ClustersListsStaticEndpoints) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  auto r = pf.get("/clusters");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("application/json", 0), 0u);
  auto v = parseJson(r.body);
  ASSERT_EQ(v.at("clusters").as_array().size(), 2u) << r.body;

  const auto& c1 = clusterNamed(v, "c1");
  EXPECT_EQ(str(c1.at("source")), "static");
  const auto& eps = c1.at("endpoints").as_array();
  ASSERT_EQ(eps.size(), 2u) << r.body;
  EXPECT_EQ(str(eps[0].at("address")), endpoint(s.a.port()));
  EXPECT_EQ(num(eps[0].at("weight")), 1);
  EXPECT_EQ(str(eps[0].at("zone")), "");
  EXPECT_EQ(str(eps[1].at("address")), endpoint(s.b.port()));
  EXPECT_EQ(num(eps[1].at("weight")), 3);
  EXPECT_EQ(str(eps[1].at("zone")), "zone-b");
  for (const auto& e : eps) {
    ASSERT_TRUE(e.as_object().contains("health")) << json::serialize(e);
    // No health checking in this version: static endpoints are healthy.
    EXPECT_EQ(str(e.at("health")), "healthy");
  }
  EXPECT_EQ(num(c1.at("connect_timeout_ms")), 1000);

  const auto& c2 = clusterNamed(v, "c2");
  const auto& eps2 = c2.at("endpoints").as_array();
  ASSERT_EQ(eps2.size(), 2u);
  EXPECT_EQ(num(eps2[0].at("weight")), 0);
  EXPECT_EQ(str(eps2[0].at("zone")), "zone-c");
  EXPECT_EQ(num(c2.at("connect_timeout_ms")), 250);

  // The age of the endpoint set: a number that grows.
  double age1 = num(c1.at("age_seconds"));
  EXPECT_GE(age1, 0);
  EXPECT_LT(age1, 30);
  double age2 = age1;
  EXPECT_TRUE(waitFor(
      [&] {
        age2 = num(clusterNamed(parseJson(pf.get("/clusters").body), "c1").at("age_seconds"));
        return age2 >= age1 + 0.1;
      },
      3s))
      << age1 << " -> " << age2;
}

TEST(Admin, ConfigShowsEffectiveConfigWithDefaults) {
  TestServer echo(TestServer::Mode::kEcho);
  uint16_t l = freePort();
  // Only what is required: everything else must show its default.
  Pilotfish pf(render(R"(clusters:
  - name: only
    endpoints: [${EP}]
listeners:
  - {name: main, address: 127.0.0.1:${L}, cluster: only}
)",
                      {{"EP", endpoint(echo.port())}, {"L", std::to_string(l)}}));
  auto r = pf.get("/config");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type").rfind("application/json", 0), 0u);
  auto v = parseJson(r.body);
  EXPECT_EQ(str(v.at("source")), pf.configPath());
  EXPECT_EQ(num(v.at("workers")), 0);
  EXPECT_EQ(str(v.at("drain_delay")), "0s");
  EXPECT_EQ(str(v.at("drain_timeout")), "15s");
  EXPECT_EQ(str(v.at("admin").at("address")), endpoint(pf.adminPort()));
  EXPECT_EQ(str(v.at("log").at("level")), "info");
  EXPECT_EQ(str(v.at("log").at("format")), "text");
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  EXPECT_EQ(str(v.at("node").at("id")), host) << "node.id defaults to the host name";
  EXPECT_EQ(str(v.at("node").at("zone")), "");

  const auto& c = v.at("clusters").as_array().at(0);
  EXPECT_EQ(str(c.at("name")), "only");
  EXPECT_EQ(str(c.at("connect_timeout")), "1s");
  EXPECT_EQ(str(c.at("lb").at("policy")), "round_robin");
  const auto& e = c.at("endpoints").as_array().at(0);
  EXPECT_EQ(str(e.at("address")), endpoint(echo.port()));
  EXPECT_EQ(num(e.at("weight")), 1);
  EXPECT_EQ(str(e.at("zone")), "");

  const auto& li = v.at("listeners").as_array().at(0);
  EXPECT_EQ(str(li.at("name")), "main");
  EXPECT_EQ(str(li.at("address")), endpoint(l));
  EXPECT_EQ(str(li.at("protocol")), "tcp");
  EXPECT_EQ(str(li.at("cluster")), "only");
  EXPECT_EQ(str(li.at("idle_timeout")), "1h");
  EXPECT_EQ(num(li.at("max_connections")), 0);
}

TEST(Admin, ConfigShowsConfiguredValues) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  auto v = parseJson(pf.get("/config").body);
  EXPECT_EQ(num(v.at("workers")), 2);
  const auto& l2 = v.at("listeners").as_array().at(1);
  EXPECT_EQ(str(l2.at("name")), "l2");
  EXPECT_EQ(str(l2.at("idle_timeout")), "10m");
  EXPECT_EQ(num(l2.at("max_connections")), 7);
  const auto& c2 = v.at("clusters").as_array().at(1);
  EXPECT_EQ(str(c2.at("connect_timeout")), "250ms");
}

TEST(Admin, UnknownPathIs404) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  EXPECT_EQ(pf.get("/nope").status, 404);
  EXPECT_EQ(pf.get("/metrics/extra").status, 404);
  EXPECT_EQ(pf.get("/readyz").status, 404);
  // The query string is not part of the path.
  EXPECT_EQ(pf.get("/ready?verbose=1").status, 200);
}

TEST(Admin, WrongMethodIs405WithAllow) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  for (const char* path : {"/metrics", "/ready", "/clusters", "/config"}) {
    auto r = http("POST", pf.adminPort(), path);
    EXPECT_EQ(r.status, 405) << path;
    EXPECT_NE(r.header("allow").find("GET"), std::string::npos) << path << ": " << r.raw;
  }
  EXPECT_EQ(http("DELETE", pf.adminPort(), "/logging").status, 405);
}

TEST(Admin, OversizedRequestHeadIs431) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  // Just under the limit is fine...
  std::string ok =
      "GET /ready HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(7000, 'a') + "\r\n\r\n";
  EXPECT_EQ(httpRaw(pf.adminPort(), ok).status, 200);
  // ...over it is refused with 431.
  std::string big =
      "GET /ready HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n";
  auto r = httpRaw(pf.adminPort(), big);
  EXPECT_EQ(r.status, 431) << r.raw.substr(0, 200);
  // Also when the head never ends.
  auto r2 = httpRaw(pf.adminPort(), "GET /ready HTTP/1.1\r\nX-Pad: " + std::string(20000, 'b'));
  EXPECT_EQ(r2.status, 431) << r2.raw.substr(0, 200);
  // The admin server is still fine.
  EXPECT_TRUE(pf.ready());
}

TEST(Admin, GarbageRequestIs400) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  for (const char* req :
       {"HELLO\r\n\r\n", "GET /ready HTTP/9.9\r\n\r\n", "GET ready HTTP/1.1\r\n\r\n",
        "G(T /ready HTTP/1.1\r\n\r\n", "\x01\x02\x03 / HTTP/1.1\r\n\r\n"}) {
    auto r = httpRaw(pf.adminPort(), req);
    EXPECT_EQ(r.status, 400) << "request: " << req << "\nresponse: " << r.raw;
  }
  EXPECT_TRUE(pf.ready());
}

TEST(Admin, LoggingLevelCanBeReadAndChanged) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  auto r = pf.get("/logging");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "info\n");

  // At info, a failed upstream connect is not logged...
  {
    TcpClient c;
    ASSERT_EQ(c.connect(s.l2), 0);
    EXPECT_NE(c.waitClosed(3s), ReadEnd::kTimeout);
  }
  ASSERT_EQ(pf.waitMetric("pilotfish_cluster_upstream_unavailable_total{cluster=\"c2\"}",
                          [](double v) { return v >= 1; }),
            1);
  std::string refused = endpoint(s.refused2);
  EXPECT_EQ(pf.output().find(refused), std::string::npos) << pf.output();

  auto set = http("POST", pf.adminPort(), "/logging?level=debug");
  EXPECT_EQ(set.status, 200);
  EXPECT_EQ(set.body, "debug\n");
  EXPECT_EQ(pf.get("/logging").body, "debug\n");
  // ...at debug it is.
  {
    TcpClient c;
    ASSERT_EQ(c.connect(s.l2), 0);
    EXPECT_NE(c.waitClosed(3s), ReadEnd::kTimeout);
  }
  EXPECT_TRUE(waitFor([&] { return pf.output().find(refused) != std::string::npos; }, 3s))
      << pf.output();

  auto bad = http("POST", pf.adminPort(), "/logging?level=loud");
  EXPECT_EQ(bad.status, 400);
  auto none = http("POST", pf.adminPort(), "/logging");
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(pf.get("/logging").body, "debug\n") << "a rejected change leaves the level alone";
  // GET never changes it, and says so rather than answer 200 to what looks like a change.
  auto get_change = pf.get("/logging?level=error");
  EXPECT_EQ(get_change.status, 400);
  EXPECT_NE(get_change.body.find("use POST"), std::string::npos) << get_change.body;
  EXPECT_EQ(pf.get("/logging").body, "debug\n");
  EXPECT_EQ(http("POST", pf.adminPort(), "/logging?level=warn").body, "warn\n");
  EXPECT_EQ(pf.get("/logging").body, "warn\n");
}

TEST(Admin, RequestsFromWebPagesOfOtherSitesAreRefused) {
  // A page in the operator's browser can reach 127.0.0.1:9901 (CSRF): the browser's Origin and
  // Sec-Fetch-Site give it away. Nothing the admin API answers opens it to other origins.
  TwoListeners s;
  Pilotfish pf(s.yaml());
  const std::string self = "127.0.0.1:" + std::to_string(pf.adminPort());
  auto send = [&](const std::string& line, const std::string& fields) {
    return httpRaw(pf.adminPort(), line + " HTTP/1.1\r\nHost: " + self + "\r\n" + fields +
                                       "Connection: close\r\n\r\n");
  };
  auto refused = [](const HttpResponse& r) {
    return r.status == 403 && r.body.find("other sites") != std::string::npos;
  };
  auto change = send("POST /logging?level=debug", "Origin: http://evil.example\r\n");
  EXPECT_TRUE(refused(change)) << change.raw;
  EXPECT_EQ(pf.get("/logging").body, "info\n") << "a cross-site POST changed the level";
  auto fetched = send("GET /config", "Sec-Fetch-Site: cross-site\r\n");
  EXPECT_TRUE(refused(fetched)) << fetched.raw;
  EXPECT_TRUE(refused(send("GET /clusters", "Sec-Fetch-Site: same-site\r\n")));
  EXPECT_TRUE(refused(send("GET /metrics", "Origin: null\r\n")));
  EXPECT_TRUE(refused(send("GET /metrics", "origin:  http://127.0.0.1:1\r\n")));

  // The operator's own browser: typed into the address bar, or a page the admin serves itself.
  auto typed = send("GET /metrics", "Sec-Fetch-Site: none\r\nSec-Fetch-Mode: navigate\r\n");
  EXPECT_EQ(typed.status, 200) << typed.raw;
  auto same = send("POST /logging?level=warn",
                   "Origin: http://" + self + "\r\nSec-Fetch-Site: same-origin\r\n");
  EXPECT_EQ(same.status, 200) << same.raw;
  EXPECT_EQ(pf.get("/logging").body, "warn\n");
  for (const auto* r : {&change, &fetched, &typed, &same}) {
    EXPECT_EQ(r->raw.find("Access-Control-"), std::string::npos) << r->raw;
    EXPECT_EQ(r->raw.find("access-control-"), std::string::npos) << r->raw;
  }
}

TEST(Admin, AdminBindsLoopback9901ByDefault) {
  // Only when 9901 is free on every address (another pilotfish, or anything else, may hold it).
  // SO_REUSEADDR like pilotfish itself: connections in TIME_WAIT do not make it "in use".
  int probe = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(probe, 0);
  int one = 1;
  ::setsockopt(probe, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in any{};
  any.sin_family = AF_INET;
  any.sin_port = htons(9901);
  any.sin_addr.s_addr = htonl(INADDR_ANY);
  bool free =
      ::bind(probe, reinterpret_cast<sockaddr*>(&any), sizeof any) == 0 && ::listen(probe, 1) == 0;
  ::close(probe);
  if (!free) GTEST_SKIP() << "port 9901 is in use here; cannot test the default admin address";

  TestServer echo(TestServer::Mode::kEcho);
  uint16_t l = freePort();
  Pilotfish::Options o;
  o.admin_port = 9901;  // no admin key in the YAML
  o.wait_ready = false;
  Pilotfish pf(render(R"(clusters:
  - name: only
    endpoints: [${EP}]
listeners:
  - {name: main, address: 127.0.0.1:${L}, cluster: only}
)",
                      {{"EP", endpoint(echo.port())}, {"L", std::to_string(l)}}),
               o);
  bool up = waitFor([&] { return !pf.process().running() || pf.ready(); }, 10s);
  if (!pf.process().running() && pf.output().find("127.0.0.1:9901") != std::string::npos &&
      pf.output().find("in use") != std::string::npos) {
    GTEST_SKIP() << "something else took port 9901 meanwhile: " << pf.output();
  }
  ASSERT_TRUE(up && pf.process().running()) << pf.output();
  EXPECT_TRUE(pf.ready());
  EXPECT_EQ(str(parseJson(pf.get("/config").body).at("admin").at("address")), "127.0.0.1:9901");

  // The listening socket is bound to 127.0.0.1 (0100007F:26AD in /proc/net/tcp), not 0.0.0.0.
  std::ifstream tcp("/proc/" + std::to_string(pf.pid()) + "/net/tcp");
  std::string line;
  bool loopback = false, wildcard = false;
  while (std::getline(tcp, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, state;
    f >> sl >> local >> remote >> state;
    if (state != "0A") continue;  // LISTEN
    if (local == "0100007F:26AD") loopback = true;
    if (local == "00000000:26AD") wildcard = true;
  }
  EXPECT_TRUE(loopback) << "no listening socket on 127.0.0.1:9901";
  EXPECT_FALSE(wildcard) << "admin listens on 0.0.0.0:9901";
}

TEST(Admin, IdleAdminClientsDoNotBlockOthers) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  // Connections that never send a request must not stop others from being served.
  std::vector<TcpClient> idle(40);
  for (auto& c : idle) ASSERT_EQ(c.connect(pf.adminPort()), 0);
  TcpClient partial;
  ASSERT_EQ(partial.connect(pf.adminPort()), 0);
  ASSERT_TRUE(partial.sendAll("GET /ready HTTP/1.1\r\nHost: x\r\n"));  // head never finished
  auto t0 = Clock::now();
  auto r = http("GET", pf.adminPort(), "/ready", 2s);
  EXPECT_EQ(r.status, 200);
  EXPECT_LT(msSince(t0), 1000);
  EXPECT_EQ(http("GET", pf.adminPort(), "/metrics", 2s).status, 200);
}

TEST(Admin, WorkersDefaultToTheCpusThisProcessMayUse) {
  TwoListeners s;
  // workers: 0 under an affinity mask of one CPU -> one worker, whatever the host has.
  std::string yaml = s.yaml();
  auto pos = yaml.find("workers: 2");
  ASSERT_NE(pos, std::string::npos);
  yaml.replace(pos, 10, "workers: 0");
  Pilotfish::Options o;
  o.wrapper = {"taskset", "-c", "0"};
  Pilotfish pf(yaml, o);
  EXPECT_EQ(pf.metric("pilotfish_server_workers"), 1);
  // Still serves.
  TcpClient c;
  ASSERT_EQ(c.connect(s.l1), 0);
  EXPECT_TRUE(c.echoRoundTrip("one worker"));
}

TEST(Admin, FileLimitIsRaisedToTheHardLimit) {
  TwoListeners s;
  Pilotfish::Options o;
  o.nofile = std::make_pair(uint64_t{256}, uint64_t{2048});
  Pilotfish pf(s.yaml(), o);
  std::ifstream limits("/proc/" + std::to_string(pf.pid()) + "/limits");
  std::string line;
  bool found = false;
  while (std::getline(limits, line)) {
    if (line.rfind("Max open files", 0) != 0) continue;
    found = true;
    std::istringstream f(line.substr(14));
    std::string soft, hard;
    f >> soft >> hard;
    EXPECT_EQ(soft, "2048") << line;
    EXPECT_EQ(hard, "2048") << line;
  }
  EXPECT_TRUE(found);
}

TEST(Admin, IndexListsEndpoints) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  auto r = pf.get("/");
  ASSERT_EQ(r.status, 200);
  for (const char* path : {"/metrics", "/ready", "/clusters", "/config", "/logging"}) {
    EXPECT_NE(r.body.find(path), std::string::npos) << path << " not listed in:\n" << r.body;
  }
}

TEST(Admin, IncompleteRequestTimesOutWith408) {
  TwoListeners s;
  Pilotfish pf(s.yaml());
  TcpClient c;
  ASSERT_EQ(c.connect(pf.adminPort()), 0);
  ASSERT_TRUE(c.sendAll("GET /ready HTTP/1.1\r\nHost: x\r\n"));  // never finished
  auto t0 = Clock::now();
  std::string got;
  auto end = c.waitClosed(13s, &got);
  double elapsed = msSince(t0);
  EXPECT_NE(end, ReadEnd::kTimeout);
  EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
  EXPECT_GE(elapsed, 9000) << "documented as 10 s";
  EXPECT_LT(elapsed, 12500);
}

}  // namespace
}  // namespace pilotfish::it
