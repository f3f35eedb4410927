// The Consul watcher through its Source, against the Consul test server (real HTTP, real
// blocking queries), plus its answer parser on Consul's documented answer shapes.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "discovery/consul_watcher.h"
#include "unit/discovery/consul_test_server.h"

namespace pilotfish::discovery {
namespace {

using std::chrono::milliseconds;
using testing::ConsulTestServer;

// --- parser -------------------------------------------------------------------------------

const char* kDocExample = R"([
  {"Node": {"ID": "40e4a748", "Node": "node-1", "Address": "10.1.10.12", "Datacenter": "dc1",
            "Meta": {"zone": "eu-1a"}},
   "Service": {"ID": "users-1", "Service": "users", "Tags": ["primary", "v2"],
               "Address": "10.1.10.13", "Port": 8000, "Meta": {"version": "2.4"},
               "Weights": {"Passing": 10, "Warning": 1}},
   "Checks": [{"CheckID": "serfHealth", "Status": "passing"},
              {"CheckID": "service:users-1", "Status": "passing"}]}
])";

TEST(ConsulHealthParse, DocumentedAnswer) {
  std::string why;
  auto a = parseConsulHealth(kDocExample, &why);
  ASSERT_TRUE(a) << why;
  ASSERT_EQ(a->instances.size(), 1u);
  const Instance& i = a->instances[0];
  EXPECT_EQ(i.id, "users-1@node-1");
  EXPECT_EQ(i.host, "10.1.10.13");  // Service.Address wins over Node.Address
  EXPECT_EQ(i.port, 8000);
  EXPECT_EQ(i.weight, 10u);
  EXPECT_EQ(i.zone, "eu-1a");  // from Node.Meta when Service.Meta has none
  EXPECT_EQ(i.health, cluster::Health::kHealthy);
  cluster::Labels want{{"primary", ""}, {"v2", ""}, {"version", "2.4"}};
  EXPECT_EQ(i.labels, want);
  EXPECT_EQ(a->skipped, 0u);
}

TEST(ConsulHealthParse, NodeAddressFallbackWeightsAndHealth) {
  std::string why;
  auto a = parseConsulHealth(R"([
    {"Node": {"Node": "n1", "Address": "::1"},
     "Service": {"ID": "a", "Address": "", "Port": 1, "Meta": {"zone": "z1"}},
     "Checks": [{"Status": "passing"}, {"Status": "warning"}]},
    {"Node": {"Node": "n1", "Address": "10.0.0.1"},
     "Service": {"ID": "b", "Port": 2, "Weights": {"Passing": 5, "Warning": 2}},
     "Checks": [{"Status": "warning"}]},
    {"Node": {"Node": "n1", "Address": "10.0.0.1"},
     "Service": {"ID": "c", "Port": 3},
     "Checks": [{"Status": "passing"}, {"CheckID": "_service_maintenance:c", "Status": "critical"}]}
  ])",
                             &why);
  ASSERT_TRUE(a) << why;
  ASSERT_EQ(a->instances.size(), 3u);
  EXPECT_EQ(a->instances[0].host, "::1");
  EXPECT_EQ(a->instances[0].weight, 1u);  // default Weights
  EXPECT_EQ(a->instances[0].zone, "z1");
  EXPECT_EQ(a->instances[1].weight, 2u);  // Weights.Warning
  EXPECT_EQ(a->instances[1].health, cluster::Health::kHealthy);
  EXPECT_EQ(a->instances[2].health, cluster::Health::kUnhealthy);
}

TEST(ConsulHealthParse, MalformedInstancesSkippedAndCounted) {
  std::string why;
  auto a = parseConsulHealth(R"([
    {"Node": {"Node": "n", "Address": "10.0.0.1"}, "Service": {"ID": "ok", "Port": 80}},
    {"Node": {"Node": "n", "Address": "10.0.0.1"}, "Service": {"ID": "noport"}},
    {"Node": {"Node": "n", "Address": "10.0.0.1"}, "Service": {"ID": "big", "Port": 70000}},
    {"Node": {"Node": "n", "Address": "10.0.0.1"}, "Service": {"ID": "str", "Port": "80"}},
    {"Node": {"Node": "n", "Address": "db.example"}, "Service": {"ID": "name", "Port": 80}},
    {"Node": {"Node": "n"}, "Service": {"Port": 80, "Address": "10.0.0.2"}},
    {"Node": {"Node": "n"}},
    42
  ])",
                             &why);
  ASSERT_TRUE(a) << why;
  ASSERT_EQ(a->instances.size(), 1u);
  EXPECT_EQ(a->instances[0].id, "ok@n");
  EXPECT_EQ(a->skipped, 7u);
  EXPECT_NE(a->skip_example.find("noport"), std::string::npos) << a->skip_example;
}

TEST(ConsulHealthParse, NotAnArrayIsRejected) {
  std::string why;
  EXPECT_FALSE(parseConsulHealth(R"({"users": []})", &why));
  EXPECT_NE(why.find("not a JSON array"), std::string::npos) << why;
  EXPECT_FALSE(parseConsulHealth("this is not json", &why));
  EXPECT_FALSE(parseConsulHealth("[{\"Service\": ", &why));
  auto empty = parseConsulHealth("[]", &why);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->instances.empty());
}

// --- against the test server ----------------------------------------------------------------

struct Recorder : WatchSink {
  std::vector<Answer> answers;
  std::vector<std::string> rejected;
  std::vector<std::string> errors;
  std::vector<bool> connected;
  void onAnswer(Answer a) override { answers.push_back(std::move(a)); }
  void onRejected(std::string_view why) override { rejected.emplace_back(why); }
  void onError(std::string_view why) override { errors.emplace_back(why); }
  void onConnected(bool c) override { connected.push_back(c); }

  std::vector<std::string> lastIds() const {
    std::vector<std::string> ids;
    if (answers.empty()) return ids;
    for (const auto& i : answers.back().instances) ids.push_back(i.id);
    return ids;
  }
};

class ConsulWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { options.wait = milliseconds(5000); }
  // Stop, then let the cancelled operations complete before the io_context is destroyed: their
  // handlers own the HTTP client, whose timers must not outlive the io_context's services
  // (the io_uring backend destroys queued handlers after the timer service).
  void TearDown() override {
    if (watcher) watcher->stop();
    watcher.reset();
    if (source) source->stop();
    source.reset();
    runFor(milliseconds(100));
  }

  config::DiscoverySourceConfig sourceConfig(uint16_t port) {
    config::DiscoverySourceConfig c;
    c.name = "consul-test";
    c.type = config::SourceType::kConsul;
    c.address = net::HostPort{"127.0.0.1", port, net::HostPort::Kind::kIpv4};
    return c;
  }
  static config::ClusterDiscoveryConfig what(const std::string& service,
                                             std::vector<std::string> tags = {},
                                             bool passing_only = true) {
    config::ClusterDiscoveryConfig w;
    w.kind = config::DiscoveryKind::kConsul;
    w.source = "consul-test";
    w.service = service;
    w.tags = std::move(tags);
    w.passing_only = passing_only;
    return w;
  }
  /// Runs the io_context until `pred` holds or `deadline` passes.
  bool runUntil(const std::function<bool()>& pred, milliseconds deadline = milliseconds(5000)) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= end) return false;
      io.restart();
      io.run_for(milliseconds(10));
    }
    return true;
  }
  void runFor(milliseconds d) {
    auto end = std::chrono::steady_clock::now() + d;
    while (std::chrono::steady_clock::now() < end) {
      io.restart();
      io.run_for(milliseconds(10));
    }
  }
  static void registerSvc(ConsulTestServer& s, const std::string& id, const std::string& name,
                          uint16_t port, const std::string& extra = "",
                          const std::string& token = "") {
    s.curl("PUT", "/v1/agent/service/register",
           "{\"ID\":\"" + id + "\",\"Name\":\"" + name + "\",\"Address\":\"127.0.0.1\",\"Port\":" +
               std::to_string(port) + ",\"Check\":{\"CheckID\":\"service:" + id +
               "\",\"TTL\":\"1h\",\"Status\":\"passing\"}" + extra + "}",
           token);
  }
  /// Health requests for `service` the server received.
  static std::size_t healthRequests(ConsulTestServer& s, const std::string& service) {
    std::string all = s.curl("GET", "/__test/requests");
    std::string needle = "\"/v1/health/service/" + service + "\"";
    std::size_t n = 0;
    for (auto p = all.find(needle); p != std::string::npos; p = all.find(needle, p + 1)) ++n;
    return n;
  }

  /// A source on `server` and a started watch of service "users" into `sink`; returns after
  /// the first answer.
  void watchUsers(ConsulTestServer& server) {
    source = makeConsulSource(io, sourceConfig(server.port()), options);
    watcher = source->watch(what("users"), sink);
    watcher->start();
    ASSERT_TRUE(runUntil([&] { return !sink.answers.empty(); }));
  }

  boost::asio::io_context io;
  ConsulOptions options;
  Recorder sink;  // outlives the watcher
  std::unique_ptr<Source> source;
  std::unique_ptr<Watcher> watcher;
};

TEST_F(ConsulWatcherTest, RegisterThenDeregister) {
  ConsulTestServer server;
  registerSvc(server, "users-1", "users", 8001);
  watchUsers(server);
  EXPECT_EQ(sink.lastIds(), std::vector<std::string>{"users-1@node-dc1"});
  EXPECT_EQ(sink.answers.back().instances[0].port, 8001);
  EXPECT_EQ(sink.connected, std::vector<bool>{true});
  registerSvc(server, "users-2", "users", 8002);
  ASSERT_TRUE(runUntil([&] { return sink.lastIds().size() == 2; }));
  server.curl("PUT", "/v1/agent/service/deregister/users-1");
  ASSERT_TRUE(
      runUntil([&] { return sink.lastIds() == std::vector<std::string>{"users-2@node-dc1"}; }));
  server.curl("PUT", "/v1/agent/service/deregister/users-2");
  ASSERT_TRUE(runUntil([&] { return sink.answers.back().instances.empty(); }));
  EXPECT_TRUE(sink.errors.empty());
  watcher->stop();
  source->stop();
}

TEST_F(ConsulWatcherTest, LargeChunkedAnswers) {
  ConsulTestServer server;
  for (int i = 0; i < 200; ++i) {
    registerSvc(server, "u-" + std::to_string(i), "users", static_cast<uint16_t>(10000 + i));
  }
  watchUsers(server);  // ~250 KB, chunked by 2 KiB, over one kept-alive connection
  EXPECT_EQ(sink.answers.back().instances.size(), 200u);
  server.curl("PUT", "/v1/agent/service/deregister/u-7");
  ASSERT_TRUE(runUntil([&] { return sink.lastIds().size() == 199; }));
}

TEST_F(ConsulWatcherTest, OnlyRealChangesAreReported) {
  ConsulTestServer server;
  registerSvc(server, "users-1", "users", 8001);
  registerSvc(server, "other-1", "other", 9001);
  watchUsers(server);
  // The wait ends (the index did not move) and a TTL refresh that changes nothing: no answer.
  server.curl("POST", "/__test/wake");
  server.curl("PUT", "/v1/agent/check/pass/service:users-1");
  std::size_t before = healthRequests(server, "users");
  runFor(milliseconds(500));
  EXPECT_GT(healthRequests(server, "users"), before);
  EXPECT_EQ(sink.answers.size(), 1u);
}

TEST_F(ConsulWatcherTest, TagsAndDatacenterAreSent) {
  ConsulTestServer server({"--extra-dc", "dc2"});
  registerSvc(server, "u-1", "users", 8001, R"(,"Tags":["v2","primary"])");
  registerSvc(server, "u-2", "users", 8002, R"(,"Tags":["v2"])");
  server.curl("PUT", "/__test/register?dc=dc2", R"({"ID":"far","Name":"users","Port":9000})");
  auto source = makeConsulSource(io, sourceConfig(server.port()), options);
  Recorder both, v2, dc2;
  auto w1 = source->watch(what("users", {"primary", "v2"}), both);
  auto w2 = source->watch(what("users", {"v2"}), v2);
  auto far = what("users");
  far.datacenter = "dc2";
  auto w3 = source->watch(far, dc2);
  w1->start();
  w2->start();
  w3->start();
  ASSERT_TRUE(runUntil(
      [&] { return !both.answers.empty() && !v2.answers.empty() && !dc2.answers.empty(); }));
  EXPECT_EQ(both.lastIds(), std::vector<std::string>{"u-1@node-dc1"});
  EXPECT_EQ(v2.lastIds(), (std::vector<std::string>{"u-1@node-dc1", "u-2@node-dc1"}));
  EXPECT_EQ(dc2.lastIds(), std::vector<std::string>{"far@node-dc2"});
  // A datacenter Consul does not know: 404, an error, never an empty set.
  Recorder nowhere;
  auto bad = what("users");
  bad.datacenter = "nowhere";
  auto w4 = source->watch(bad, nowhere);
  w4->start();
  ASSERT_TRUE(runUntil([&] { return !nowhere.errors.empty(); }));
  EXPECT_NE(nowhere.errors[0].find("404"), std::string::npos) << nowhere.errors[0];
  EXPECT_TRUE(nowhere.answers.empty());
}

TEST_F(ConsulWatcherTest, PassingOnlyAndWarningWeight) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001, R"(,"Weights":{"Passing":10,"Warning":3})");
  registerSvc(server, "u-2", "users", 8002);
  auto source = makeConsulSource(io, sourceConfig(server.port()), options);
  Recorder passing, all;
  auto w1 = source->watch(what("users", {}, true), passing);
  auto w2 = source->watch(what("users", {}, false), all);
  w1->start();
  w2->start();
  ASSERT_TRUE(runUntil([&] { return passing.lastIds().size() == 2 && all.lastIds().size() == 2; }));
  server.curl("PUT", "/v1/agent/check/warn/service:u-1");
  server.curl("PUT", "/v1/agent/check/fail/service:u-2");
  ASSERT_TRUE(runUntil([&] { return passing.lastIds().empty(); }));
  ASSERT_TRUE(runUntil([&] {
    const auto& a = all.answers.back().instances;
    return a.size() == 2 && a[0].weight == 3 && a[1].health == cluster::Health::kUnhealthy;
  }));
  EXPECT_EQ(all.answers.back().instances[0].health, cluster::Health::kHealthy);
  server.curl("PUT", "/v1/agent/check/pass/service:u-1");
  ASSERT_TRUE(runUntil([&] {
    return passing.lastIds() == std::vector<std::string>{"u-1@node-dc1"} &&
           passing.answers.back().instances[0].weight == 10;
  }));
}

TEST_F(ConsulWatcherTest, IndexGoingBackwardsStartsOver) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001);
  watchUsers(server);
  runFor(milliseconds(200));  // the blocking query is held now
  // A restore: the index drops to 3; the held query ends (leader change) with index 3.
  server.curl("POST", "/__test/index?set=3");
  server.curl("POST", "/__test/wake");
  // Starting over, the watcher blocks on 3: the next write (index 4) arrives at once, not after
  // the 5 s wait that blocking on the old, higher index would cost.
  runFor(milliseconds(300));
  auto t0 = std::chrono::steady_clock::now();
  registerSvc(server, "u-2", "users", 8002);
  ASSERT_TRUE(runUntil([&] { return sink.lastIds().size() == 2; }, milliseconds(10000)));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2500));
  std::string reqs = server.curl("GET", "/__test/requests");
  EXPECT_NE(reqs.find("\"index\": [\"3\"]"), std::string::npos) << reqs;
  EXPECT_TRUE(sink.errors.empty());
}

TEST_F(ConsulWatcherTest, IndexZeroIsBlockedOnAsOne) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001);
  server.curl("POST", "/__test/zero-index?enable=1");
  watchUsers(server);
  std::size_t before = healthRequests(server, "users");
  runFor(milliseconds(1000));
  // Blocking on 0 would return at once, every time: a busy loop (20/s with the rate limit).
  EXPECT_LE(healthRequests(server, "users") - before, 2u);
  std::string reqs = server.curl("GET", "/__test/requests");
  EXPECT_NE(reqs.find("\"index\": [\"1\"]"), std::string::npos) << reqs;
  registerSvc(server, "u-2", "users", 8002);
  ASSERT_TRUE(runUntil([&] { return sink.lastIds().size() == 2; }));
}

TEST_F(ConsulWatcherTest, ServerErrorsBackOffAndKeepTheSet) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001);
  options.backoff_base = milliseconds(200);
  watchUsers(server);
  server.curl("POST", "/__test/fail?count=2&status=500");
  server.curl("POST", "/__test/fail?count=1&status=429");
  server.curl("POST", "/__test/wake");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runUntil([&] { return sink.errors.size() == 3; }));
  EXPECT_NE(sink.errors[0].find("500"), std::string::npos) << sink.errors[0];
  EXPECT_NE(sink.errors[2].find("429"), std::string::npos) << sink.errors[2];
  EXPECT_EQ(sink.connected, (std::vector<bool>{true, false}));
  ASSERT_TRUE(runUntil([&] { return sink.connected.size() == 3; }));
  // Jittered exponential backoff: at least 100 + 200 + 400 ms over the three retries.
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(700));
  // Errors never produced an answer; the set is unchanged, so nothing new was reported.
  EXPECT_EQ(sink.answers.size(), 1u);
  EXPECT_EQ(sink.errors.size(), 3u);
}

TEST_F(ConsulWatcherTest, GarbageIsRejectedAndTheSetKept) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001);
  options.backoff_base = milliseconds(50);
  watchUsers(server);
  server.curl("POST", "/__test/garbage?count=1", R"({"not": "an array"})");
  server.curl("POST", "/__test/garbage?count=1", "nonsense");
  registerSvc(server, "u-2", "users", 8002);
  ASSERT_TRUE(runUntil([&] { return sink.rejected.size() == 2; }));
  ASSERT_TRUE(runUntil([&] { return sink.lastIds().size() == 2; }));
  EXPECT_EQ(sink.answers.size(), 2u);  // no empty answer in between
  // An instance Consul could not have sent whole: skipped and counted, the rest applied.
  server.curl(
      "PUT", "/__test/inject?service=users&id=raw",
      R"({"Node":{"Node":"n9","Address":"10.0.0.9"},"Service":{"ID":"no-port"},"Checks":[]})");
  ASSERT_TRUE(runUntil([&] { return sink.answers.back().skipped == 1; }));
  EXPECT_EQ(sink.lastIds().size(), 2u);
  EXPECT_NE(sink.answers.back().skip_example.find("no-port"), std::string::npos);
}

TEST_F(ConsulWatcherTest, TokenFromFileIsSent) {
  ConsulTestServer server({"--token", "root-secret"});
  registerSvc(server, "u-1", "users", 8001, "", "root-secret");
  std::string dir = ::testing::TempDir();
  std::string good = dir + "/consul-token-good";
  std::ofstream(good) << "  root-secret\n";
  std::string bad = dir + "/consul-token-bad";
  std::ofstream(bad) << "wrong";
  auto cfg = sourceConfig(server.port());
  cfg.token_file = good;
  auto source = makeConsulSource(io, cfg, options);
  Recorder ok;
  auto w = source->watch(what("users"), ok);
  w->start();
  ASSERT_TRUE(runUntil([&] { return !ok.answers.empty(); }));
  EXPECT_EQ(ok.lastIds(), std::vector<std::string>{"u-1@node-dc1"});

  cfg.token_file = bad;
  auto bad_source = makeConsulSource(io, cfg, options);
  Recorder denied;
  auto w2 = bad_source->watch(what("users"), denied);
  w2->start();
  ASSERT_TRUE(runUntil([&] { return !denied.errors.empty(); }));
  EXPECT_NE(denied.errors[0].find("403"), std::string::npos) << denied.errors[0];
  EXPECT_NE(denied.errors[0].find("ACL not found"), std::string::npos) << denied.errors[0];
  EXPECT_TRUE(denied.answers.empty());

  cfg.token_file = dir + "/no-such-token-file";
  auto missing_source = makeConsulSource(io, cfg, options);
  Recorder missing;
  auto w3 = missing_source->watch(what("users"), missing);
  w3->start();
  ASSERT_TRUE(runUntil([&] { return !missing.errors.empty(); }));
  EXPECT_NE(missing.errors[0].find("token_file"), std::string::npos);
}

TEST_F(ConsulWatcherTest, OneHttpWatchPerDistinctQuery) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001, R"(,"Tags":["a","b"])");
  auto source = makeConsulSource(io, sourceConfig(server.port()), options);
  Recorder s1, s2, s3;
  auto w1 = source->watch(what("users", {"a", "b"}), s1);
  auto w2 = source->watch(what("users", {"b", "a", "a"}), s2);  // the same query
  w1->start();
  w2->start();
  ASSERT_TRUE(runUntil([&] { return !s1.answers.empty() && !s2.answers.empty(); }));
  runFor(milliseconds(200));
  EXPECT_EQ(healthRequests(server, "users"), 2u);  // the first answer, then one held query
  // A cluster joining later gets the current set at once, from the same watch.
  auto w3 = source->watch(what("users", {"a", "b"}), s3);
  w3->start();
  ASSERT_TRUE(runUntil([&] { return !s3.answers.empty(); }));
  EXPECT_EQ(s3.connected, std::vector<bool>{true});
  EXPECT_EQ(healthRequests(server, "users"), 2u);
  // Stopping one leaves the others fed.
  w1->stop();
  registerSvc(server, "u-2", "users", 8002, R"(,"Tags":["a","b"])");
  ASSERT_TRUE(runUntil([&] { return s2.lastIds().size() == 2 && s3.lastIds().size() == 2; }));
  EXPECT_EQ(s1.lastIds().size(), 1u);
}

TEST_F(ConsulWatcherTest, ServerGoneThenBackResyncs) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001);
  options.backoff_base = milliseconds(100);
  options.backoff_cap = milliseconds(400);
  watchUsers(server);
  runFor(milliseconds(100));
  server.kill();
  ASSERT_TRUE(runUntil([&] { return sink.errors.size() >= 2; }));
  EXPECT_EQ(sink.connected, (std::vector<bool>{true, false}));
  EXPECT_EQ(sink.answers.size(), 1u);
  // Back with another catalog (a fresh server: lower index, different instances).
  server.restart();
  registerSvc(server, "u-9", "users", 8009);
  ASSERT_TRUE(runUntil([&] { return sink.lastIds() == std::vector<std::string>{"u-9@node-dc1"}; }));
  EXPECT_EQ(sink.connected.back(), true);
}

TEST_F(ConsulWatcherTest, StopWithAQueryInFlightIsQuiet) {
  ConsulTestServer server;
  registerSvc(server, "u-1", "users", 8001);
  watchUsers(server);
  runFor(milliseconds(100));
  watcher->stop();
  registerSvc(server, "u-2", "users", 8002);
  server.kill();
  runFor(milliseconds(300));
  EXPECT_EQ(sink.answers.size(), 1u);
  EXPECT_TRUE(sink.errors.empty());
  source->stop();
  watcher.reset();
  source.reset();
  runFor(milliseconds(50));  // handlers of the cancelled request run and find nothing to do
}

}  // namespace
}  // namespace pilotfish::discovery
