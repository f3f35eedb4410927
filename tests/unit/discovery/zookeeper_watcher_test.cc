// The ZooKeeper source driven directly (no cache, no binary) against a real ZooKeeper 3.8 started
// by the test; a second session (ZkClient) plays nerve / go-nerve.

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "discovery/zookeeper_watcher.h"
#include "integration/harness/zookeeper_server.h"

namespace pilotfish::discovery {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct RecordingSink : WatchSink {
  std::vector<Answer> answers;
  std::vector<std::string> rejected;
  std::vector<std::string> errors;
  std::vector<bool> connected;
  bool stopped = false;
  int calls_after_stop = 0;

  void onAnswer(Answer a) override {
    note();
    answers.push_back(std::move(a));
  }
  void onRejected(std::string_view why) override {
    note();
    rejected.emplace_back(why);
  }
  void onError(std::string_view why) override {
    note();
    errors.emplace_back(why);
  }
  void onConnected(bool c) override {
    note();
    connected.push_back(c);
  }
  void note() {
    if (stopped) ++calls_after_stop;
  }
  const Answer& last() const { return answers.back(); }
  bool isConnected() const { return !connected.empty() && connected.back(); }
  /// The last answer holds exactly these ports (any order).
  bool hasPorts(std::vector<uint16_t> ports) const {
    if (answers.empty()) return false;
    std::vector<uint16_t> got;
    for (const auto& i : last().instances) got.push_back(i.port);
    std::sort(got.begin(), got.end());
    std::sort(ports.begin(), ports.end());
    return got == ports;
  }
  const Instance* find(uint16_t port) const {
    if (answers.empty()) return nullptr;
    for (const auto& i : last().instances) {
      if (i.port == port) return &i;
    }
    return nullptr;
  }
};

class ZookeeperWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { zk = std::make_unique<it::ZooKeeperServer>(); }

  config::DiscoverySourceConfig sourceConfig(uint16_t port = 0) {
    config::DiscoverySourceConfig c;
    c.name = "zk";
    c.type = config::SourceType::kZookeeper;
    c.servers.push_back({"127.0.0.1", port ? port : zk->port(), net::HostPort::Kind::kIpv4});
    c.session_timeout = 2000ms;
    return c;
  }

  static config::ClusterDiscoveryConfig what(const std::string& path) {
    config::ClusterDiscoveryConfig w;
    w.kind = config::DiscoveryKind::kZookeeper;
    w.source = "zk";
    w.path = path;
    return w;
  }

  /// Runs the control loop until `pred` holds (or `deadline` passes).
  bool until(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 10s) {
    auto end = Clock::now() + deadline;
    while (Clock::now() < end) {
      if (pred()) return true;
      io.run_for(10ms);
    }
    return pred();
  }

  /// Runs the control loop for `d` (to show that nothing more arrives).
  void settle(std::chrono::milliseconds d) {
    auto end = Clock::now() + d;
    while (Clock::now() < end) io.run_for(10ms);
  }

  std::unique_ptr<Watcher> start(Source& source, const std::string& path, RecordingSink& sink) {
    auto w = source.watch(what(path), sink);
    w->start();
    return w;
  }

  // Declared first: destroyed last, after every source and watcher.
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::unique_ptr<it::ZooKeeperServer> zk;
};

constexpr const char* kGoNerveChild = "/_c_5f1d3c0e9a8b47d2a1c4e6f7b8d9e0a1-users_10.0.0.7_";

TEST_F(ZookeeperWatcherTest, ReadsAirbnbAndGoNerveNodesAndSeesDeletion) {
  it::ZkClient writer(zk->address());
  auto t0 = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count();
  std::string airbnb = writer.createEphemeralSequential(
      "/services/users/i-0abc_", it::airbnbNerveData("10.0.0.5", 8080, "i-0abc"));
  std::string gonerve = writer.createEphemeralSequential(
      std::string("/services/users") + kGoNerveChild,
      it::goNerveData("10.0.0.7", 8081, "users", true, 255, R"({"zone": "eu-west-1b"})"));

  auto source = makeZookeeperSource(io, sourceConfig());
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080, 8081}); }));
  EXPECT_TRUE(sink.isConnected());
  EXPECT_EQ(sink.last().skipped, 0u);

  const Instance* a = sink.find(8080);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->id, airbnb.substr(airbnb.rfind('/') + 1));
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->weight, 1u);
  // ctime is the registration time (ms since the epoch), from the server's clock.
  EXPECT_GE(a->registered_at_ms, t0 - 60000);
  EXPECT_LE(a->registered_at_ms, t0 + 60000);
  const Instance* g = sink.find(8081);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->id, gonerve.substr(gonerve.rfind('/') + 1));
  EXPECT_EQ(g->weight, 255u);
  EXPECT_EQ(g->zone, "eu-west-1b");
  EXPECT_GE(g->registered_at_ms, a->registered_at_ms);

  std::size_t before = sink.answers.size();
  writer.remove(airbnb);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8081}); }));
  // One change, one answer (the child watch and the data watch both fire; deduplicated).
  settle(300ms);
  EXPECT_EQ(sink.answers.size(), before + 1);

  // A registration after the start is seen too.
  writer.createEphemeralSequential("/services/users/i-0def_",
                                   it::airbnbNerveData("10.0.0.6", 8082, "i-0def", 3));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8081, 8082}); }));
  EXPECT_EQ(sink.find(8082)->weight, 3u);
  EXPECT_TRUE(sink.errors.empty());
  EXPECT_TRUE(sink.rejected.empty());
}

TEST_F(ZookeeperWatcherTest, MissingPathIsAnEmptyAnswerAndItsCreationIsSeen) {
  auto source = makeZookeeperSource(io, sourceConfig());
  RecordingSink sink;
  auto w = start(*source, "/services/later", sink);
  ASSERT_TRUE(until([&] { return !sink.answers.empty(); }));
  EXPECT_TRUE(sink.last().instances.empty());
  EXPECT_EQ(sink.last().skipped, 0u);
  EXPECT_TRUE(sink.isConnected());

  it::ZkClient writer(zk->address());
  writer.mkdirs("/services/later");
  writer.createEphemeralSequential("/services/later/i-1_",
                                   it::airbnbNerveData("10.0.0.5", 9001, "i-1"));
  ASSERT_TRUE(until([&] { return sink.hasPorts({9001}); }));

  // The service node removed altogether: empty again, and its re-creation is seen.
  writer.removeRecursive("/services/later");
  ASSERT_TRUE(until([&] { return sink.hasPorts({}); }));
  writer.createEphemeralSequential("/services/later/i-2_",
                                   it::airbnbNerveData("10.0.0.5", 9002, "i-2"));
  ASSERT_TRUE(until([&] { return sink.hasPorts({9002}); }));
  EXPECT_TRUE(sink.errors.empty());
}

TEST_F(ZookeeperWatcherTest, InPlaceRewritesOfAvailableAndWeightAreSeen) {
  it::ZkClient writer(zk->address());
  std::string node = writer.createEphemeralSequential(
      std::string("/services/users") + kGoNerveChild, it::goNerveData("10.0.0.7", 8081, "users"));
  writer.createEphemeralSequential("/services/users/i-0abc_",
                                   it::airbnbNerveData("10.0.0.5", 8080, "i-0abc"));
  auto source = makeZookeeperSource(io, sourceConfig());
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080, 8081}); }));

  // go-nerve warming up: weight rewritten in place.
  writer.set(node, it::goNerveData("10.0.0.7", 8081, "users", true, 10));
  ASSERT_TRUE(until([&] { return sink.find(8081) && sink.find(8081)->weight == 10u; }));

  // Unavailable: not routable; counted as skipped with the reason.
  writer.set(node, it::goNerveData("10.0.0.7", 8081, "users", false, 0));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080}); }));
  EXPECT_EQ(sink.last().skipped, 1u);
  EXPECT_NE(sink.last().skip_example.find("available is false"), std::string::npos)
      << sink.last().skip_example;

  // Available again (the data watch was re-armed by each read).
  writer.set(node, it::goNerveData("10.0.0.7", 8081, "users", true, 255));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080, 8081}); }));
  EXPECT_EQ(sink.last().skipped, 0u);
  EXPECT_EQ(sink.find(8081)->weight, 255u);
}

TEST_F(ZookeeperWatcherTest, MalformedChildrenAreSkippedAndCountedTheRestApplies) {
  it::ZkClient writer(zk->address());
  writer.createEphemeralSequential("/services/bad/i-good_",
                                   it::airbnbNerveData("10.0.0.5", 8080, "i-good"));
  writer.createEphemeralSequential("/services/bad/i-json_", "{not json");
  writer.createEphemeralSequential("/services/bad/i-noport_", R"({"host": "10.0.0.6"})");
  writer.createEphemeralSequential("/services/bad/i-bigport_",
                                   R"({"host": "10.0.0.6", "port": 70000})");
  writer.createEphemeralSequential("/services/bad/i-name_",
                                   R"({"host": "db.example.com", "port": 5432})");
  writer.createEphemeralSequential("/services/bad/i-empty_", "");

  auto source = makeZookeeperSource(io, sourceConfig());
  RecordingSink sink;
  auto w = start(*source, "/services/bad", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080}) && sink.last().skipped == 5u; }))
      << (sink.answers.empty() ? std::string("no answer")
                               : std::to_string(sink.last().skipped) + " skipped");
  EXPECT_FALSE(sink.last().skip_example.empty());
  EXPECT_TRUE(sink.rejected.empty());
  EXPECT_TRUE(sink.errors.empty());

  // A bad node fixed in place joins the set.
  std::string fixed = writer.createEphemeralSequential("/services/bad/i-later_", "garbage");
  ASSERT_TRUE(until([&] { return sink.last().skipped == 6u; }));
  writer.set(fixed, it::airbnbNerveData("10.0.0.9", 8089, "i-later"));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080, 8089}) && sink.last().skipped == 5u; }));
}

TEST_F(ZookeeperWatcherTest, ConnectionLossKeepsTheSessionAndChangesMadeMeanwhileAreSeen) {
  it::ZkClient writer(zk->address(), 4000ms);
  std::string a = writer.createEphemeralSequential("/services/users/i-a_",
                                                   it::airbnbNerveData("10.0.0.5", 8080, "i-a"));
  auto cfg = sourceConfig();
  cfg.session_timeout = 4000ms;
  auto source = makeZookeeperSource(io, cfg);
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080}); }));
  auto session = zookeeperSessionOf(*source);
  ASSERT_TRUE(session);

  std::size_t answers = sink.answers.size();
  zk->stop();
  ASSERT_TRUE(until([&] { return !sink.isConnected(); }, 8s));
  settle(500ms);
  EXPECT_EQ(sink.errors.size(), 1u);
  EXPECT_NE(sink.errors.front().find("lost the connection"), std::string::npos)
      << sink.errors.front();
  // Nothing was answered while away: the cache keeps serving the last set.
  EXPECT_EQ(sink.answers.size(), answers);

  zk->start();
  // Changes made while the watcher has not reconnected yet.
  writer.createEphemeralSequential("/services/users/i-b_",
                                   it::airbnbNerveData("10.0.0.6", 8081, "i-b"));
  writer.remove(a);
  ASSERT_TRUE(until([&] { return sink.isConnected() && sink.hasPorts({8081}); }));
  auto after = zookeeperSessionOf(*source);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->id, session->id) << "the session must survive a short outage";
  EXPECT_EQ(sink.errors.size(), 1u);
}

TEST_F(ZookeeperWatcherTest, SessionExpiryMakesANewSessionAndResynchronises) {
  it::ZkClient writer(zk->address());
  std::string a = writer.createEphemeralSequential("/services/users/i-a_",
                                                   it::airbnbNerveData("10.0.0.5", 8080, "i-a"));
  // The watcher reaches the server through a relay that can cut it off (a partition).
  it::TcpRelay relay(zk->port());
  auto cfg = sourceConfig(relay.port());
  cfg.session_timeout = 800ms;
  auto source = makeZookeeperSource(io, cfg);
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080}); }));
  auto first = zookeeperSessionOf(*source);
  ASSERT_TRUE(first);

  // Away longer than the session timeout: the server expires the session meanwhile.
  auto partition = [&] {
    relay.pause();
    ASSERT_TRUE(until([&] { return !sink.isConnected(); }));
    settle(2000ms);  // > 2 x the 800 ms session (the server checks every tick)
  };

  // Expired with nothing changed: the full set is reported again once re-read.
  std::size_t answers = sink.answers.size();
  partition();
  EXPECT_EQ(sink.answers.size(), answers);
  relay.resume();
  ASSERT_TRUE(until([&] { return sink.answers.size() > answers && sink.isConnected(); }));
  EXPECT_TRUE(sink.hasPorts({8080}));
  ASSERT_FALSE(sink.errors.empty());
  EXPECT_NE(sink.errors.back().find("expired"), std::string::npos) << sink.errors.back();
  auto second = zookeeperSessionOf(*source);
  ASSERT_TRUE(second);
  EXPECT_NE(second->id, first->id);

  // Expired with changes made while away: the old session's watches died with it, so only the
  // full re-read sees them.
  partition();
  writer.remove(a);
  writer.createEphemeralSequential("/services/users/i-b_",
                                   it::airbnbNerveData("10.0.0.6", 8081, "i-b"));
  relay.resume();
  ASSERT_TRUE(until([&] { return sink.hasPorts({8081}) && sink.isConnected(); }));
  auto third = zookeeperSessionOf(*source);
  ASSERT_TRUE(third);
  EXPECT_NE(third->id, second->id);

  // The new session's watches work.
  writer.createEphemeralSequential("/services/users/i-c_",
                                   it::airbnbNerveData("10.0.0.7", 8082, "i-c"));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8081, 8082}); }));
}

TEST_F(ZookeeperWatcherTest, SessionEndedFromOutsideIsRecovered) {
  // Another client attaching to the session and closing it ends it (how ops tools kill one).
  it::ZkClient writer(zk->address());
  writer.createEphemeralSequential("/services/users/i-a_",
                                   it::airbnbNerveData("10.0.0.5", 8080, "i-a"));
  // The watcher reaches the server through a relay. Holding it off while the session is ended
  // keeps its client from taking the session back before the close lands (an attach race the
  // test would otherwise lose now and then); the hold is far shorter than the session timeout,
  // so it is the close, not expiry, that ends the session.
  it::TcpRelay relay(zk->port());
  auto source = makeZookeeperSource(io, sourceConfig(relay.port()));
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080}); }));
  auto first = zookeeperSessionOf(*source);
  ASSERT_TRUE(first);

  relay.pause();
  auto held = Clock::now();
  ASSERT_TRUE(it::ZkClient::expireSession(zk->address(), first->id, first->password));
  ASSERT_LT(Clock::now() - held, 1500ms) << "the close must land before the session times out";
  relay.resume();

  ASSERT_TRUE(until([&] {
    auto now = zookeeperSessionOf(*source);
    return now && now->id != first->id;
  }));
  ASSERT_FALSE(sink.errors.empty());
  EXPECT_NE(sink.errors.back().find("expired"), std::string::npos) << sink.errors.back();
  writer.createEphemeralSequential("/services/users/i-b_",
                                   it::airbnbNerveData("10.0.0.6", 8081, "i-b"));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080, 8081}) && sink.isConnected(); }));
}

TEST_F(ZookeeperWatcherTest, ChrootPrefixesEveryPath) {
  it::ZkClient writer(zk->address());
  writer.createEphemeralSequential("/smartstack/services/users/i-a_",
                                   it::airbnbNerveData("10.0.0.5", 8080, "i-a"));
  writer.createEphemeralSequential("/services/users/i-outside_",
                                   it::airbnbNerveData("10.0.0.6", 9999, "i-outside"));
  auto cfg = sourceConfig();
  cfg.chroot = "/smartstack";
  auto source = makeZookeeperSource(io, cfg);
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080}); }));
  // Events carry chroot-relative paths: changes below the chroot are seen.
  std::string b = writer.createEphemeralSequential("/smartstack/services/users/i-b_",
                                                   it::airbnbNerveData("10.0.0.7", 8081, "i-b"));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080, 8081}); }));
  writer.set(b, it::airbnbNerveData("10.0.0.7", 8081, "i-b", 7));
  ASSERT_TRUE(until([&] { return sink.find(8081) && sink.find(8081)->weight == 7u; }));
}

TEST_F(ZookeeperWatcherTest, DigestAuthReadsProtectedNodes) {
  it::ZkClient writer(zk->address());
  writer.addDigestAuth("pilotfish:s3cret");
  writer.mkdirs("/secure/services/db", true);
  writer.createEphemeralSequential("/secure/services/db/i-a_",
                                   it::airbnbNerveData("10.0.0.5", 5432, "i-a"), true);

  // Without credentials: not allowed, reported as an error, no answer.
  auto anon = makeZookeeperSource(io, sourceConfig());
  RecordingSink denied;
  auto w1 = start(*anon, "/secure/services/db", denied);
  ASSERT_TRUE(until([&] { return !denied.errors.empty(); }));
  EXPECT_NE(denied.errors.front().find("/secure/services/db"), std::string::npos)
      << denied.errors.front();
  EXPECT_TRUE(denied.answers.empty());

  auto cfg = sourceConfig();
  cfg.auth_scheme = "digest";
  cfg.credentials_file = it::writeTempFile("pilotfish:s3cret\n", ".cred");
  auto authed = makeZookeeperSource(io, cfg);
  RecordingSink sink;
  auto w2 = start(*authed, "/secure/services/db", sink);
  ASSERT_TRUE(until([&] { return sink.hasPorts({5432}); }));
  for (const auto& e : sink.errors) EXPECT_EQ(e.find("s3cret"), std::string::npos) << e;

  // Missing credentials file: an error naming the file, never its contents.
  auto bad = sourceConfig();
  bad.auth_scheme = "digest";
  bad.credentials_file = it::tempDir() + "/no-such.cred";
  auto nofile = makeZookeeperSource(io, bad);
  RecordingSink none;
  auto w3 = start(*nofile, "/secure/services/db", none);
  ASSERT_TRUE(until([&] { return !none.errors.empty(); }));
  EXPECT_NE(none.errors.front().find("no-such.cred"), std::string::npos) << none.errors.front();
  EXPECT_FALSE(none.isConnected());
}

TEST_F(ZookeeperWatcherTest, UnreachableAtStartIsReportedAndTheFirstServerUpIsUsed) {
  uint16_t port = it::freePort();
  auto source = makeZookeeperSource(io, sourceConfig(port));
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return !sink.errors.empty(); }, 6s));
  EXPECT_FALSE(sink.isConnected());
  EXPECT_TRUE(sink.answers.empty());

  it::ZooKeeperServer::Options o;
  o.port = port;
  it::ZooKeeperServer late(o);
  it::ZkClient writer(late.address());
  writer.createEphemeralSequential("/services/users/i-a_",
                                   it::airbnbNerveData("10.0.0.5", 8080, "i-a"));
  ASSERT_TRUE(until([&] { return sink.hasPorts({8080}) && sink.isConnected(); }, 15s));
  EXPECT_EQ(sink.errors.size(), 1u);
}

TEST_F(ZookeeperWatcherTest, StopSilencesTheSinkWithRequestsInFlight) {
  it::ZkClient writer(zk->address());
  for (int i = 0; i < 20; ++i) {
    writer.createEphemeralSequential("/services/many/i-" + std::to_string(i) + "_",
                                     it::airbnbNerveData("10.0.0.5", 8000 + i, "i"));
  }
  auto source = makeZookeeperSource(io, sourceConfig());
  RecordingSink sinks[3];
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (auto& s : sinks) watchers.push_back(start(*source, "/services/many", s));
  ASSERT_TRUE(until([&] { return !sinks[0].answers.empty(); }));
  EXPECT_EQ(sinks[0].last().instances.size(), 20u);

  // Changes in flight, then stop one watcher mid-way, then the whole source.
  writer.createEphemeralSequential("/services/many/i-x_",
                                   it::airbnbNerveData("10.0.0.5", 9000, "i"));
  watchers[1]->stop();
  sinks[1].stopped = true;
  ASSERT_TRUE(until([&] { return sinks[0].last().instances.size() == 21u; }));
  for (int i = 0; i < 5; ++i) {
    writer.set("/services/many", "x");
    writer.createEphemeralSequential("/services/many/i-y_",
                                     it::airbnbNerveData("10.0.0.5", 9100 + i, "i"));
  }
  for (auto& w : watchers) w->stop();
  source->stop();
  for (auto& s : sinks) s.stopped = true;
  settle(500ms);
  watchers.clear();
  source.reset();
  settle(200ms);
  for (auto& s : sinks) EXPECT_EQ(s.calls_after_stop, 0);
}

TEST_F(ZookeeperWatcherTest, SourceDestroyedWhileTheServerIsDownDoesNotHang) {
  auto source = makeZookeeperSource(io, sourceConfig());
  RecordingSink sink;
  auto w = start(*source, "/services/users", sink);
  ASSERT_TRUE(until([&] { return !sink.answers.empty(); }));
  zk->stop();
  auto t = Clock::now();
  w->stop();
  source->stop();
  w.reset();
  source.reset();
  EXPECT_LT(Clock::now() - t, 4s);
}

TEST(ZookeeperConnectString, JoinsServersAndAppendsTheChroot) {
  config::DiscoverySourceConfig c;
  c.servers.push_back({"10.0.0.1", 2181, net::HostPort::Kind::kIpv4});
  c.servers.push_back({"zk2.example", 2182, net::HostPort::Kind::kName});
  EXPECT_EQ(zookeeperConnectString(c), "10.0.0.1:2181,zk2.example:2182");
  c.chroot = "/smartstack";
  EXPECT_EQ(zookeeperConnectString(c), "10.0.0.1:2181,zk2.example:2182/smartstack");
}

}  // namespace
}  // namespace pilotfish::discovery
