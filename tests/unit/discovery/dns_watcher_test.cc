// The DNS watcher (makeDnsSource) against the real test DNS server
// (tests/integration/backends/dns_server.py) over UDP and TCP on loopback.

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "integration/harness/dns_records.h"
#include "pilotfish/discovery/watcher.h"
#include "unit/discovery/dns_test_server.h"

namespace pilotfish::discovery {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using ::pilotfish::testing::dns::withFailure;

struct RecordingSink : WatchSink {
  std::vector<Answer> answers;
  std::vector<std::string> rejected;
  std::vector<std::string> errors;
  std::vector<bool> connected;
  std::vector<Clock::time_point> answer_times;
  int calls = 0;

  void onAnswer(Answer a) override {
    ++calls;
    answers.push_back(std::move(a));
    answer_times.push_back(Clock::now());
  }
  void onRejected(std::string_view why) override {
    ++calls;
    rejected.emplace_back(why);
  }
  void onError(std::string_view why) override {
    ++calls;
    errors.emplace_back(why);
  }
  void onConnected(bool c) override {
    ++calls;
    connected.push_back(c);
  }
  std::vector<std::string> lastIds() const {
    std::vector<std::string> ids;
    if (!answers.empty()) {
      for (const auto& i : answers.back().instances) ids.push_back(i.id);
    }
    return ids;
  }
};

std::string srvRecords(int ttl, bool additional, const std::string& second_ip = "127.0.0.3") {
  return R"({"additional": )" + std::string(additional ? "true" : "false") + R"(, "records": [
    {"name": "web.service.consul", "type": "SRV", "ttl": )" +
         std::to_string(ttl) + R"(,
     "priority": 1, "weight": 5, "port": 8080, "target": "a.node.consul"},
    {"name": "web.service.consul", "type": "SRV", "ttl": )" +
         std::to_string(ttl) + R"(,
     "priority": 1, "weight": 10, "port": 8081, "target": "b.node.consul"},
    {"name": "web.service.consul", "type": "SRV", "ttl": )" +
         std::to_string(ttl) + R"(,
     "priority": 2, "weight": 1, "port": 9999, "target": "backup.node.consul"},
    {"name": "a.node.consul", "type": "A", "ttl": )" +
         std::to_string(ttl) + R"(, "address": "127.0.0.2"},
    {"name": "b.node.consul", "type": "AAAA", "ttl": )" +
         std::to_string(ttl) + R"(, "address": "::1"},
    {"name": "backup.node.consul", "type": "A", "ttl": 60, "address": ")" +
         second_ip + R"("}
  ]})";
}

class DnsWatcherTest : public ::testing::Test {
 protected:
  explicit DnsWatcherTest(const std::string& records = srvRecords(30, true)) : server_(records) {}

  config::DiscoverySourceConfig source() {
    config::DiscoverySourceConfig s;
    s.name = "dns";
    s.type = config::SourceType::kDns;
    s.servers = {{"127.0.0.1", server_.port(), net::HostPort::Kind::kIpv4}};
    s.min_ttl = milliseconds(200);
    s.max_ttl = milliseconds(60000);
    s.timeout = milliseconds(300);
    return s;
  }
  config::ClusterDiscoveryConfig what(const std::string& name,
                                      config::DnsRecordType type = config::DnsRecordType::kSrv,
                                      uint16_t port = 0) {
    config::ClusterDiscoveryConfig w;
    w.kind = config::DiscoveryKind::kDns;
    w.source = "dns";
    w.name = name;
    w.dns_type = type;
    w.port = port;
    return w;
  }
  void startWatch(const config::ClusterDiscoveryConfig& w) {
    source_ = makeDnsSource(io_, source_cfg_ = source());
    watcher_ = source_->watch(w, sink_);
    watcher_->start();
  }
  /// Runs the io_context until `pred` holds or `deadline` passes.
  bool runUntil(const std::function<bool()>& pred, milliseconds deadline = milliseconds(5000)) {
    const auto end = Clock::now() + deadline;
    while (!pred() && Clock::now() < end) {
      io_.restart();
      io_.run_for(milliseconds(10));
    }
    return pred();
  }
  void runFor(milliseconds d) {
    runUntil([] { return false; }, d);
  }
  // Stop, then let the cancelled waits complete before the io_context is destroyed: their
  // handlers own c-ares sockets' descriptors, which must not outlive the io_context's services
  // (the io_uring backend destroys queued handlers after the descriptor service).
  void TearDown() override {
    if (watcher_) watcher_->stop();
    watcher_.reset();
    source_.reset();
    io_.restart();
    EXPECT_TRUE(runUntil([&] { return io_.stopped(); }, milliseconds(2000)))
        << "a stopped watcher left work in the io_context";
  }

  testing::DnsTestServer server_;
  boost::asio::io_context io_;
  RecordingSink sink_;
  config::DiscoverySourceConfig source_cfg_;
  std::unique_ptr<Source> source_;
  std::unique_ptr<Watcher> watcher_;
};

TEST_F(DnsWatcherTest, SrvWithAdditionalRecordsNeedsOneQuery) {
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  // Priority 1 only (the priority-2 backup is left out); both families; weights as in SRV.
  const auto& a = sink_.answers[0];
  ASSERT_EQ(a.instances.size(), 2u);
  EXPECT_EQ(a.instances[0].id, "127.0.0.2:8080");
  EXPECT_EQ(a.instances[0].host, "127.0.0.2");
  EXPECT_EQ(a.instances[0].port, 8080);
  EXPECT_EQ(a.instances[0].weight, 5u);
  EXPECT_EQ(a.instances[1].id, "[::1]:8081");
  EXPECT_EQ(a.instances[1].host, "::1");
  EXPECT_EQ(a.instances[1].weight, 10u);
  EXPECT_EQ(a.skipped, 0u);
  EXPECT_EQ(sink_.connected, std::vector<bool>{true});
  EXPECT_EQ(server_.queries("web.service.consul", "SRV"), 1);
  EXPECT_EQ(server_.queries("a.node.consul", "A"), 0);
  EXPECT_EQ(server_.queries("b.node.consul", "AAAA"), 0);
}

class DnsWatcherNoAdditionalTest : public DnsWatcherTest {
 protected:
  DnsWatcherNoAdditionalTest() : DnsWatcherTest(srvRecords(30, false)) {}
};

TEST_F(DnsWatcherNoAdditionalTest, SrvTargetsAreLookedUp) {
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  EXPECT_EQ(sink_.lastIds(), (std::vector<std::string>{"127.0.0.2:8080", "[::1]:8081"}));
  EXPECT_EQ(server_.queries("a.node.consul", "A"), 1);
  EXPECT_EQ(server_.queries("a.node.consul", "AAAA"), 1);
  EXPECT_EQ(server_.queries("b.node.consul", "AAAA"), 1);
  EXPECT_EQ(server_.queries("backup.node.consul", "A"), 1);
}

TEST_F(DnsWatcherTest, AAndAaaaUseTheClusterPort) {
  server_.setRecords(R"({"records": [
    {"name": "redis.test", "type": "A", "ttl": 30, "address": "127.0.0.5"},
    {"name": "redis.test", "type": "A", "ttl": 30, "address": "127.0.0.4"},
    {"name": "redis.test", "type": "AAAA", "ttl": 30, "address": "fd00::5"},
    {"name": "alias.test", "type": "CNAME", "ttl": 30, "target": "redis.test"}]})");
  startWatch(what("redis.test", config::DnsRecordType::kA, 6379));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  EXPECT_EQ(sink_.lastIds(), (std::vector<std::string>{"127.0.0.4:6379", "127.0.0.5:6379"}));

  RecordingSink six;
  auto w6 = source_->watch(what("alias.test", config::DnsRecordType::kAaaa, 6380), six);
  w6->start();
  ASSERT_TRUE(runUntil([&] { return !six.answers.empty(); }));
  EXPECT_EQ(six.lastIds(), std::vector<std::string>{"[fd00::5]:6380"});
  w6->stop();
}

TEST_F(DnsWatcherTest, ChangesAreSeenAtTheTtlAndNotBefore) {
  server_.setRecords(srvRecords(1, true));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  const auto first = sink_.answer_times[0];
  // Move a.node.consul: the next query (at the 1 s TTL) must see it.
  std::string changed = srvRecords(1, true);
  changed.replace(changed.find("127.0.0.2"), 9, "127.0.0.9");
  server_.setRecords(changed);
  runFor(milliseconds(600));
  EXPECT_EQ(server_.queries("web.service.consul", "SRV"), 1) << "re-queried before the TTL";
  ASSERT_TRUE(runUntil([&] { return sink_.answers.size() >= 2; }, milliseconds(3000)));
  const auto after = std::chrono::duration_cast<milliseconds>(sink_.answer_times[1] - first);
  EXPECT_GE(after.count(), 900);
  EXPECT_LE(after.count(), 3000);
  EXPECT_EQ(sink_.lastIds(), (std::vector<std::string>{"127.0.0.9:8080", "[::1]:8081"}));
  // An unchanged answer is not reported again.
  const int queries = server_.queries("web.service.consul", "SRV");
  ASSERT_TRUE(runUntil([&] { return server_.queries("web.service.consul", "SRV") > queries; }));
  runFor(milliseconds(50));
  EXPECT_EQ(sink_.answers.size(), 2u);
}

TEST_F(DnsWatcherTest, TtlZeroIsFlooredNoBusyLoop) {
  server_.setRecords(srvRecords(0, true));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  const int before = server_.queries("web.service.consul", "SRV");
  runFor(milliseconds(1000));
  const int during = server_.queries("web.service.consul", "SRV") - before;
  // min_ttl is 200 ms: about 5 queries in a second, never a busy loop.
  EXPECT_GE(during, 3);
  EXPECT_LE(during, 6);
  EXPECT_EQ(sink_.answers.size(), 1u);
}

TEST_F(DnsWatcherTest, NxdomainAndNodataAreEmptyAnswers) {
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  watcher_->stop();
  // NXDOMAIN: no record of any type for the name.
  server_.setRecords(R"({"negative_ttl": 0, "records": []})");
  RecordingSink nx;
  auto w = source_->watch(what("web.service.consul"), nx);
  w->start();
  ASSERT_TRUE(runUntil([&] { return !nx.answers.empty(); }));
  EXPECT_TRUE(nx.answers[0].instances.empty());
  EXPECT_TRUE(nx.errors.empty());
  EXPECT_EQ(nx.connected, std::vector<bool>{true});
  // NODATA: the name exists but has no SRV.
  server_.setRecords(
      R"({"records": [{"name": "web.service.consul", "type": "A", "address": "10.0.0.1"}]})");
  RecordingSink nodata;
  auto w2 = source_->watch(what("web.service.consul"), nodata);
  w2->start();
  ASSERT_TRUE(runUntil([&] { return !nodata.answers.empty(); }));
  EXPECT_TRUE(nodata.answers[0].instances.empty());
  w->stop();
  w2->stop();
}

TEST_F(DnsWatcherTest, ServfailKeepsTheSetAndRecovers) {
  server_.setRecords(srvRecords(0, true));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  server_.setRecords(withFailure(srvRecords(0, true), "web.service.consul", "servfail"));
  ASSERT_TRUE(runUntil([&] { return !sink_.errors.empty(); }));
  EXPECT_NE(sink_.errors[0].find("SERVFAIL"), std::string::npos) << sink_.errors[0];
  EXPECT_EQ(sink_.connected, (std::vector<bool>{true, false}));
  EXPECT_EQ(sink_.answers.size(), 1u);  // nothing reported: the cache keeps the last set
  // Retries back off, never faster than min_ttl.
  const int q = server_.queries("web.service.consul", "SRV");
  runFor(milliseconds(400));
  EXPECT_LE(server_.queries("web.service.consul", "SRV") - q, 2);
  server_.setRecords(srvRecords(0, true));
  ASSERT_TRUE(runUntil([&] { return sink_.answers.size() >= 2; }));
  EXPECT_EQ(sink_.lastIds(), (std::vector<std::string>{"127.0.0.2:8080", "[::1]:8081"}));
  EXPECT_EQ(sink_.connected, (std::vector<bool>{true, false, true}));
}

TEST_F(DnsWatcherTest, TimeoutIsAnError) {
  server_.setRecords(withFailure(srvRecords(0, true), "*", "timeout"));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.errors.empty(); }));
  EXPECT_NE(sink_.errors[0].find("timeout"), std::string::npos) << sink_.errors[0];
  EXPECT_TRUE(sink_.answers.empty());
}

TEST_F(DnsWatcherTest, GarbageIsRejected) {
  server_.setRecords(withFailure(srvRecords(0, true), "*", "garbage"));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.rejected.empty(); }));
  EXPECT_NE(sink_.rejected[0].find("compression"), std::string::npos) << sink_.rejected[0];
  EXPECT_TRUE(sink_.answers.empty());
}

TEST_F(DnsWatcherTest, TruncatedUdpAnswerIsRetriedOverTcp) {
  server_.setRecords(withFailure(srvRecords(30, true), "*", "truncate"));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  EXPECT_EQ(sink_.answers[0].instances.size(), 2u);
  EXPECT_EQ(server_.queries("web.service.consul", "SRV", "tcp"), 1);
}

TEST_F(DnsWatcherTest, ServerDownKeepsTheSetThenResyncs) {
  server_.setRecords(srvRecords(0, true));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return !sink_.answers.empty(); }));
  server_.stop();
  ASSERT_TRUE(runUntil([&] { return !sink_.errors.empty(); }));
  EXPECT_EQ(sink_.answers.size(), 1u);
  // Changed while it was away.
  std::string changed = srvRecords(0, true);
  changed.replace(changed.find("127.0.0.2"), 9, "127.0.0.8");
  server_.setRecords(changed);
  server_.restart();
  ASSERT_TRUE(runUntil([&] { return sink_.answers.size() >= 2; }, milliseconds(8000)));
  EXPECT_EQ(sink_.lastIds(), (std::vector<std::string>{"127.0.0.8:8080", "[::1]:8081"}));
  EXPECT_EQ(sink_.connected.back(), true);
}

TEST_F(DnsWatcherTest, StopWithAQueryInFlightIsSilent) {
  server_.setRecords(withFailure(srvRecords(0, true), "*", "timeout"));
  startWatch(what("web.service.consul"));
  ASSERT_TRUE(runUntil([&] { return server_.queries("web.service.consul", "SRV") > 0; }));
  watcher_->stop();
  watcher_.reset();
  source_->stop();
  const int calls = sink_.calls;
  runFor(milliseconds(700));  // past the query timeout
  EXPECT_EQ(sink_.calls, calls);
}

TEST_F(DnsWatcherTest, StopInsideACallbackIsSafe) {
  struct StoppingSink : RecordingSink {
    Watcher* watcher = nullptr;
    void onAnswer(Answer a) override {
      RecordingSink::onAnswer(std::move(a));
      watcher->stop();
    }
  } sink;
  source_ = makeDnsSource(io_, source());
  auto w = source_->watch(what("web.service.consul"), sink);
  sink.watcher = w.get();
  w->start();
  ASSERT_TRUE(runUntil([&] { return !sink.answers.empty(); }));
  runFor(milliseconds(500));
  EXPECT_EQ(sink.answers.size(), 1u);
  w.reset();
  runFor(milliseconds(50));
}

}  // namespace
}  // namespace pilotfish::discovery
