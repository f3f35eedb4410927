// The etcd source driven directly (no cache, no binary) against a real etcd 3.4 member started by
// the test; etcdctl plays the registrar. Plus the server-free key range / instance set logic.

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "discovery/etcd_keyspace.h"
#include "integration/harness/etcd_server.h"
#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {
namespace {

using namespace std::chrono_literals;

std::string nerve(uint16_t port, const std::string& extra = "") {
  return R"({"host":"127.0.0.1","port":)" + std::to_string(port) + extra + "}";
}

// ---------------------------------------------------------------------------------------------
// Without a server

TEST(EtcdKeyspace, PrefixRangeIsADirectory) {
  auto r = etcd::prefixRange("/services/users");
  EXPECT_EQ(r.key, "/services/users/");
  EXPECT_EQ(r.range_end, "/services/users0");  // '/' + 1: "/services/users-v2/x" is outside
  EXPECT_LT(std::string("/services/users/zzz"), r.range_end);
  EXPECT_GT(std::string("/services/users-v2/a"), std::string("/services/users"));
  EXPECT_LT(std::string("/services/users-v2/a"), r.key);  // '-' sorts before '/'
  EXPECT_EQ(etcd::prefixRange("/services/users/").key, "/services/users/");
}

TEST(EtcdKeyspace, RangeEndCarriesOverFF) {
  EXPECT_EQ(etcd::rangeEndOf("ab"), "ac");
  EXPECT_EQ(etcd::rangeEndOf(std::string("a\xff", 2)), "b");
  EXPECT_EQ(etcd::rangeEndOf(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdKeyspace, InstanceSetReportsChangesAndSkips) {
  etcd::InstanceSet set("/s/users/");
  EXPECT_TRUE(set.put("/s/users/i-1", nerve(8081)));
  EXPECT_FALSE(set.put("/s/users/i-1", nerve(8081)));     // same value: nothing changed
  EXPECT_FALSE(set.put("/s/users-v2/i-9", nerve(9999)));  // outside the prefix
  EXPECT_TRUE(set.put("/s/users/i-2", "{not json"));
  EXPECT_TRUE(set.put("/s/users/i-3", R"({"host":"db.example","port":1})"));
  Answer a = set.answer();
  ASSERT_EQ(a.instances.size(), 1u);
  EXPECT_EQ(a.instances[0].id, "i-1");
  EXPECT_EQ(a.instances[0].host, "127.0.0.1");
  EXPECT_EQ(a.instances[0].port, 8081);
  EXPECT_EQ(a.instances[0].registered_at_ms, 0);
  EXPECT_EQ(a.skipped, 2u);
  EXPECT_NE(a.skip_example.find("i-2: not JSON"), std::string::npos) << a.skip_example;
  EXPECT_TRUE(set.erase("/s/users/i-2"));
  EXPECT_FALSE(set.erase("/s/users/i-2"));
  a = set.answer();
  EXPECT_EQ(a.skipped, 1u);
  EXPECT_NE(a.skip_example.find("not an IP address"), std::string::npos) << a.skip_example;
}

// ---------------------------------------------------------------------------------------------
// Against etcd

// Records what the watcher reports, in order.
class Recorder : public WatchSink {
 public:
  struct Event {
    enum Kind { kAnswer, kRejected, kError, kConnected, kDisconnected } kind;
    std::string text;
  };
  std::vector<Answer> answers;
  std::vector<Event> events;
  bool stopped = false;
  int after_stop = 0;

  void onAnswer(Answer a) override {
    record(Event::kAnswer, "");
    answers.push_back(std::move(a));
  }
  void onRejected(std::string_view why) override { record(Event::kRejected, why); }
  void onError(std::string_view why) override { record(Event::kError, why); }
  void onConnected(bool c) override { record(c ? Event::kConnected : Event::kDisconnected, ""); }

  int count(Event::Kind k) const {
    int n = 0;
    for (const auto& e : events) n += e.kind == k;
    return n;
  }
  bool connected() const {
    for (auto it = events.rbegin(); it != events.rend(); ++it) {
      if (it->kind == Event::kConnected) return true;
      if (it->kind == Event::kDisconnected) return false;
    }
    return false;
  }
  std::string errors() const {
    std::string all;
    for (const auto& e : events) {
      if (e.kind == Event::kError) all += e.text + "\n";
    }
    return all;
  }
  /// The ids in the last answer, in order ("" when there was none).
  std::string ids() const {
    if (answers.empty()) return "<none>";
    std::string s;
    for (const auto& i : answers.back().instances) s += (s.empty() ? "" : ",") + i.id;
    return s;
  }
  const Instance* instance(const std::string& id) const {
    if (answers.empty()) return nullptr;
    for (const auto& i : answers.back().instances) {
      if (i.id == id) return &i;
    }
    return nullptr;
  }

 private:
  void record(Event::Kind k, std::string_view text) {
    if (stopped) ++after_stop;
    events.push_back({k, std::string(text)});
  }
};

class EtcdWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { etcd = std::make_unique<it::EtcdServer>(); }

  config::DiscoverySourceConfig source(std::vector<uint16_t> ports = {}) {
    config::DiscoverySourceConfig c;
    c.name = "etcd";
    c.type = config::SourceType::kEtcd;
    if (ports.empty()) ports.push_back(etcd->port());
    for (auto p : ports) c.endpoints.push_back({"127.0.0.1", p, net::HostPort::Kind::kIpv4});
    c.timeout = 1000ms;
    return c;
  }

  std::unique_ptr<Watcher> watch(Source& src, const std::string& prefix, Recorder& sink) {
    config::ClusterDiscoveryConfig w;
    w.kind = config::DiscoveryKind::kEtcd;
    w.source = "etcd";
    w.path = prefix;
    auto watcher = src.watch(w, sink);
    watcher->start();
    return watcher;
  }

  /// Runs the control loop until `pred` holds or `deadline` passes.
  bool until(const std::function<bool()>& pred, std::chrono::milliseconds deadline = 15s) {
    auto end = std::chrono::steady_clock::now() + deadline;
    while (!pred() && std::chrono::steady_clock::now() < end) io.run_for(10ms);
    return pred();
  }

  // First member: destroyed after every source and watcher a test made.
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work =
      boost::asio::make_work_guard(io);
  std::unique_ptr<it::EtcdServer> etcd;
};

TEST_F(EtcdWatcherTest, PutDeleteAndInPlaceChanges) {
  etcd->put("/services/users/i-1", nerve(8081));
  auto src = makeEtcdSource(io, source());
  Recorder sink;
  auto w = watch(*src, "/services/users", sink);
  ASSERT_TRUE(until([&] { return sink.ids() == "i-1" && sink.connected(); })) << sink.ids();

  etcd->put("/services/users/i-2", nerve(8082, R"(,"weight":3,"labels":{"zone":"z1"})"));
  ASSERT_TRUE(until([&] { return sink.ids() == "i-1,i-2"; })) << sink.ids();
  EXPECT_EQ(sink.instance("i-2")->weight, 3u);
  EXPECT_EQ(sink.instance("i-2")->zone, "z1");

  // go-nerve rewrites the value in place: weight, then available false.
  etcd->put("/services/users/i-2", nerve(8082, R"(,"weight":7)"));
  ASSERT_TRUE(until([&] { return sink.instance("i-2") && sink.instance("i-2")->weight == 7; }));
  etcd->put("/services/users/i-2", nerve(8082, R"(,"available":false)"));
  ASSERT_TRUE(until([&] { return sink.ids() == "i-1"; })) << sink.ids();
  EXPECT_EQ(sink.answers.back().skipped, 1u);
  EXPECT_NE(sink.answers.back().skip_example.find("i-2: available is false"), std::string::npos)
      << sink.answers.back().skip_example;

  etcd->del("/services/users/i-1");
  ASSERT_TRUE(until([&] { return sink.ids().empty(); })) << sink.ids();
  EXPECT_EQ(sink.count(Recorder::Event::kError), 0) << sink.errors();
  EXPECT_EQ(sink.count(Recorder::Event::kRejected), 0);

  // A write that does not change the set is not reported.
  std::size_t before = sink.answers.size();
  etcd->put("/services/users/i-2", nerve(8082, R"(,"available":false)"));
  etcd->put("/services/users/i-3", nerve(8083));
  ASSERT_TRUE(until([&] { return sink.ids() == "i-3"; })) << sink.ids();
  EXPECT_EQ(sink.answers.size(), before + 1);
}

TEST_F(EtcdWatcherTest, MalformedValuesAreSkippedAndCounted) {
  etcd->put("/services/api/good", nerve(9001));
  etcd->put("/services/api/bad-json", "{\"host\":");
  etcd->put("/services/api/no-port", R"({"host":"127.0.0.1"})");
  etcd->put("/services/api/name", R"({"host":"api.example.com","port":80})");
  auto src = makeEtcdSource(io, source());
  Recorder sink;
  auto w = watch(*src, "/services/api", sink);
  ASSERT_TRUE(until([&] { return !sink.answers.empty(); }));
  EXPECT_EQ(sink.ids(), "good");
  EXPECT_EQ(sink.answers.back().skipped, 3u);
  EXPECT_FALSE(sink.answers.back().skip_example.empty());

  etcd->put("/services/api/port-zero", R"({"host":"127.0.0.1","port":0})");
  ASSERT_TRUE(until([&] { return sink.answers.back().skipped == 4u; }));
  EXPECT_EQ(sink.ids(), "good");
  EXPECT_EQ(sink.count(Recorder::Event::kRejected), 0);
}

TEST_F(EtcdWatcherTest, PrefixDoesNotMatchASiblingService) {
  etcd->put("/services/users/a", nerve(8001));
  etcd->put("/services/users-v2/b", nerve(8002));
  etcd->put("/services/users", nerve(8003));  // the prefix itself is not an instance
  auto src = makeEtcdSource(io, source());
  Recorder users, v2;
  auto w1 = watch(*src, "/services/users", users);
  auto w2 = watch(*src, "/services/users-v2", v2);
  ASSERT_TRUE(until([&] { return users.connected() && v2.connected(); }));
  EXPECT_EQ(users.ids(), "a");
  EXPECT_EQ(v2.ids(), "b");
  etcd->put("/services/users-v2/c", nerve(8004));
  etcd->put("/services/usersX/d", nerve(8005));
  ASSERT_TRUE(until([&] { return v2.ids() == "b,c"; })) << v2.ids();
  etcd->put("/services/users/e", nerve(8006));
  ASSERT_TRUE(until([&] { return users.ids() == "a,e"; })) << users.ids();
  EXPECT_EQ(users.answers.size(), 2u);  // the sibling's writes never reached this watch
}

TEST_F(EtcdWatcherTest, CompactedStartRevisionReadsTheSetAgain) {
  etcd->put("/services/db/i-1", nerve(7001));
  auto src = makeEtcdSource(io, source());
  Recorder sink;
  auto w = watch(*src, "/services/db", sink);
  // Run the control loop one handler at a time until the Range answer is in: the watch is not
  // created yet (its start is the next handler), so it will ask for revision R+1.
  auto end = std::chrono::steady_clock::now() + 15s;
  while (sink.answers.empty() && std::chrono::steady_clock::now() < end) io.run_one_for(100ms);
  ASSERT_EQ(sink.ids(), "i-1");
  // Meanwhile the service changes and the history is compacted past R+1.
  etcd->put("/services/db/i-2", nerve(7002));
  etcd->del("/services/db/i-1");
  etcd->compact(etcd->put("/services/db/i-3", nerve(7003)));
  // The watch from R+1 is refused as compacted; the events in between are gone, so only a new
  // Range can show i-2 and i-3 without i-1.
  ASSERT_TRUE(until([&] { return sink.ids() == "i-2,i-3"; })) << sink.ids();
  EXPECT_EQ(sink.count(Recorder::Event::kError), 0) << sink.errors();
  // And the new watch works.
  etcd->put("/services/db/i-4", nerve(7004));
  ASSERT_TRUE(until([&] { return sink.ids() == "i-2,i-3,i-4"; })) << sink.ids();
}

TEST_F(EtcdWatcherTest, KilledKeepsTheSetAndResyncsWhenBack) {
  etcd->put("/services/web/i-1", nerve(6001));
  etcd->put("/services/web/i-2", nerve(6002));
  auto src = makeEtcdSource(io, source());
  Recorder sink;
  auto w = watch(*src, "/services/web", sink);
  ASSERT_TRUE(until([&] { return sink.connected() && sink.ids() == "i-1,i-2"; }));
  std::size_t answers = sink.answers.size();

  etcd->stop();
  ASSERT_TRUE(until([&] { return !sink.connected(); }));
  ASSERT_TRUE(until([&] { return sink.count(Recorder::Event::kError) >= 2; }));  // retrying
  EXPECT_EQ(sink.answers.size(), answers);  // nothing said about the set while away

  etcd->start();
  // Changed before the watcher is back (it is in backoff): the Range after reconnecting sees it.
  etcd->del("/services/web/i-1");
  etcd->put("/services/web/i-3", nerve(6003));
  ASSERT_TRUE(until([&] { return sink.connected() && sink.ids() == "i-2,i-3"; })) << sink.ids();
  etcd->put("/services/web/i-4", nerve(6004));
  ASSERT_TRUE(until([&] { return sink.ids() == "i-2,i-3,i-4"; })) << sink.ids();
}

TEST_F(EtcdWatcherTest, FailsOverToTheNextEndpoint) {
  etcd->put("/services/pay/i-1", nerve(5001));
  uint16_t dead = it::freePort();  // nothing listens there
  auto src = makeEtcdSource(io, source({dead, etcd->port()}));
  Recorder sink;
  auto w = watch(*src, "/services/pay", sink);
  ASSERT_TRUE(until([&] { return sink.connected() && sink.ids() == "i-1"; })) << sink.errors();
  ASSERT_GE(sink.count(Recorder::Event::kError), 1);
  EXPECT_NE(sink.errors().find("127.0.0.1:" + std::to_string(dead)), std::string::npos)
      << sink.errors();
  etcd->put("/services/pay/i-2", nerve(5002));
  ASSERT_TRUE(until([&] { return sink.ids() == "i-1,i-2"; })) << sink.ids();
}

TEST_F(EtcdWatcherTest, StopIsFinalEvenWithCallsInFlight) {
  auto src = makeEtcdSource(io, source());
  Recorder a, b;
  auto wa = watch(*src, "/services/x", a);
  auto wb = watch(*src, "/services/y", b);
  ASSERT_TRUE(until([&] { return a.connected() && b.connected(); }));
  // a stops with its stream open; b stops right after start, its Range in flight.
  wa->stop();
  a.stopped = true;
  auto wc = watch(*src, "/services/z", b);
  wc->stop();
  wb->stop();
  b.stopped = true;
  etcd->put("/services/x/i-1", nerve(4001));
  etcd->put("/services/z/i-1", nerve(4002));
  src->stop();
  io.run_for(300ms);
  EXPECT_EQ(a.after_stop, 0);
  EXPECT_EQ(b.after_stop, 0);
  wa.reset();
  wb.reset();
  wc.reset();
  src.reset();
  io.run_for(50ms);
}

TEST_F(EtcdWatcherTest, SourceStoppedWhileStoreIsDown) {
  uint16_t dead = it::freePort();
  auto src = makeEtcdSource(io, source({dead}));
  Recorder sink;
  auto w = watch(*src, "/services/q", sink);
  ASSERT_TRUE(until([&] { return sink.count(Recorder::Event::kError) >= 1; }));
  EXPECT_TRUE(sink.answers.empty());
  EXPECT_FALSE(sink.connected());
  w->stop();
  sink.stopped = true;
  src->stop();
  io.run_for(100ms);
  EXPECT_EQ(sink.after_stop, 0);
}

TEST_F(EtcdWatcherTest, MutualTlsWithTheSourcesCertificates) {
  it::TestCa ca;
  auto client = ca.issue("client", "pilotfish", {}, true);
  it::EtcdServer::Options o;
  o.tls_cert = ca.server_cert;
  o.tls_key = ca.server_key;
  o.ca_cert = ca.ca_cert;
  o.client_cert_auth = true;
  o.ctl_cert = client.cert;
  o.ctl_key = client.key;
  etcd = std::make_unique<it::EtcdServer>(o);
  etcd->put("/services/tls/i-1", nerve(3001));

  auto cfg = source();
  cfg.tls = config::SourceTlsConfig{ca.ca_cert, client.cert, client.key};
  auto src = makeEtcdSource(io, cfg);
  Recorder sink;
  auto w = watch(*src, "/services/tls", sink);
  ASSERT_TRUE(until([&] { return sink.connected() && sink.ids() == "i-1"; })) << sink.errors();
  etcd->put("/services/tls/i-2", nerve(3002));
  ASSERT_TRUE(until([&] { return sink.ids() == "i-1,i-2"; })) << sink.ids();

  // Without a client certificate, with a CA that did not sign the server's, and with a file that
  // cannot be read: errors, never an answer.
  it::TestCa other("other.pf.internal");
  std::vector<config::SourceTlsConfig> bad{{ca.ca_cert, "", ""},
                                           {other.ca_cert, client.cert, client.key},
                                           {ca.ca_cert, client.cert, "/nonexistent/key.pem"}};
  for (const auto& tls : bad) {
    cfg.tls = tls;
    auto bad_src = makeEtcdSource(io, cfg);
    Recorder bad_sink;
    auto bw = watch(*bad_src, "/services/tls", bad_sink);
    ASSERT_TRUE(until([&] { return bad_sink.count(Recorder::Event::kError) >= 1; }))
        << tls.ca_file << " " << tls.cert_file;
    EXPECT_TRUE(bad_sink.answers.empty()) << bad_sink.ids();
    EXPECT_FALSE(bad_sink.connected());
  }
  EXPECT_NE(sink.ids().find("i-2"), std::string::npos);
}

}  // namespace
}  // namespace pilotfish::discovery
