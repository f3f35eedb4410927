// `file:` discovery and the discovery cache end to end: the built binary routes TCP connections
// to the endpoints listed in a file it watches, and the cache's rules (last known good, empty
// answers, cache_dir across restarts, max_stale, initial_fetch_timeout, on_endpoint_removed)
// hold. The file watcher is the simplest store to drive, so the cache's behaviour is tested here
// and the store suites (zookeeper, consul, etcd, dns) test their watchers.

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "integration/harness/discovery.h"
#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

std::string cm(const std::string& name) {
  return name + "{cluster=\"backend\",store=\"file\"}";
}

// Writes `text` to `path` the way config management does: a temp file in the same directory,
// renamed over the target (readers see the old or the new content, never a mix).
void replaceFile(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0) << path;
}

struct Fixture {
  std::string dir = makeTempDir("filedisc");
  std::string list = dir + "/endpoints.yaml";
  uint16_t port = freePort();

  std::string yaml(const std::string& cluster_extra = "", const std::string& root_extra = "",
                   const std::string& path = "") const {
    return render(R"(workers: 2
${ROOT}
clusters:
  - name: backend
    file: {path: ${PATH}}
    connect_timeout: 1s
    ${EXTRA}
listeners:
  - {name: front, address: 127.0.0.1:${PORT}, protocol: tcp, cluster: backend}
)",
                  {{"ROOT", root_extra},
                   {"PATH", path.empty() ? list : path},
                   {"EXTRA", cluster_extra},
                   {"PORT", std::to_string(port)}});
  }

  // One connection through the proxy that echoes `text` back.
  bool roundTrip(const std::string& text = "ping") const {
    TcpClient c;
    if (c.connect(port) != 0) return false;
    return c.echoRoundTrip(text);
  }
};

TEST(FileDiscovery, RoutesToTheListedEndpointsAndFollowsAnAtomicReplace) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml());
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(pf.get("/clusters").body.find("\"source\":\"file\"") != std::string::npos, true);

  replaceFile(f.list, "- {address: " + loopback(b.port()) + ", weight: 3, zone: z1}\n");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(a.accepted(), 1);
  EXPECT_EQ(b.accepted(), 4);
  auto ep = clusterState(pf, "backend").at("endpoints").as_array().at(0).as_object();
  EXPECT_EQ(ep.at("weight").as_int64(), 3);
  EXPECT_EQ(ep.at("zone").as_string(), "z1");
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_updates_total")), 2);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_connected")), 1);
}

TEST(FileDiscovery, FollowsAKubernetesConfigMapSymlinkSwap) {
  // A ConfigMap volume: <dir>/endpoints.yaml -> ..data/endpoints.yaml, ..data -> ..<version>;
  // an update writes a new version directory and renames a new ..data link over the old one.
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  fs::create_directory(f.dir + "/..v1");
  std::ofstream(f.dir + "/..v1/endpoints.yaml") << "- " << loopback(a.port()) << "\n";
  fs::create_directory_symlink("..v1", f.dir + "/..data");
  fs::create_symlink("..data/endpoints.yaml", f.list);
  Pilotfish pf(f.yaml());
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));

  fs::create_directory(f.dir + "/..v2");
  std::ofstream(f.dir + "/..v2/endpoints.yaml") << "- " << loopback(b.port()) << "\n";
  fs::create_directory_symlink("..v2", f.dir + "/..data_tmp");
  fs::rename(f.dir + "/..data_tmp", f.dir + "/..data");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}, 2000ms))
      << "the swap must be seen through inotify, not the 10 s safety re-read";
  ASSERT_TRUE(f.roundTrip());
  EXPECT_EQ(b.accepted(), 1);
}

TEST(FileDiscovery, AnUnusableEntryIsSkippedAndCountedTheRestApplies) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n- not-an-address\n- 127.0.0.1:99999\n");
  Pilotfish pf(f.yaml());
  EXPECT_EQ(clusterEndpoints(pf, "backend"), std::set<std::string>{loopback(a.port())});
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_instances_skipped_total")), 2);
  EXPECT_NE(pf.output().find("skipped 2 unusable instance(s)"), std::string::npos) << pf.output();
  ASSERT_TRUE(f.roundTrip());
}

TEST(FileDiscovery, AnUnparsableFileIsRejectedAndTheLastGoodSetKept) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml());
  replaceFile(f.list, "[127.0.0.1:1, {\n");  // truncated flow sequence
  pf.waitMetric(cm("pilotfish_discovery_rejected_total"), [](double v) { return v == 1; });
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_rejected_total")), 1);
  replaceFile(f.list, "{address: 127.0.0.1:1}\n");  // valid YAML, not a list
  pf.waitMetric(cm("pilotfish_discovery_rejected_total"), [](double v) { return v == 2; });
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_rejected_total")), 2);
  EXPECT_EQ(clusterEndpoints(pf, "backend"), std::set<std::string>{loopback(a.port())});
  ASSERT_TRUE(f.roundTrip());
  auto d = clusterState(pf, "backend").at("discovery").as_object();
  EXPECT_NE(std::string(d.at("last_error").as_string()).find("rejected"), std::string::npos);
  EXPECT_NE(pf.output().find("endpoints.yaml:"), std::string::npos)
      << "the rejection names file:line:column\n"
      << pf.output();
}

TEST(FileDiscovery, AnEmptyAnswerKeepsTheLastSetByDefault) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml());
  replaceFile(f.list, "[]\n");
  pf.waitMetric(cm("pilotfish_discovery_empty_ignored_total"), [](double v) { return v == 1; });
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_empty_ignored_total")), 1);
  EXPECT_TRUE(discoveryFlag(pf, "backend", "empty_ignored"));
  EXPECT_EQ(clusterEndpoints(pf, "backend"), std::set<std::string>{loopback(a.port())});
  ASSERT_TRUE(f.roundTrip());
}

TEST(FileDiscovery, AllowEmptyAppliesAnEmptyAnswerAndFailsFast) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml("allow_empty: true"));
  replaceFile(f.list, "[]\n");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {}));
  TcpClient c;
  ASSERT_EQ(c.connect(f.port), 0);
  auto start = Clock::now();
  EXPECT_EQ(c.waitClosed(3000ms), ReadEnd::kEof);
  EXPECT_LT(msSince(start), 1000) << "no endpoint: closed at once, not after a connect timeout";
  EXPECT_EQ(a.accepted(), 0);
}

TEST(FileDiscovery, AVanishedFileKeepsTheLastSetAndSaysItIsStale) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml());
  ASSERT_EQ(::unlink(f.list.c_str()), 0);
  pf.waitMetric(cm("pilotfish_discovery_connected"), [](double v) { return v == 0; });
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_stale")), 1);
  EXPECT_GE(pf.metric(cm("pilotfish_discovery_errors_total")), 1);
  ASSERT_TRUE(f.roundTrip()) << "the last good set still routes";
  EXPECT_TRUE(
      waitFor([&] { return pf.metric(cm("pilotfish_discovery_set_age_seconds")) > 0.2; }, 3000ms));
  replaceFile(f.list, "- " + loopback(b.port()) + "\n");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}));
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_connected")), 1);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_stale")), 0);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_set_age_seconds")), 0);
}

TEST(FileDiscovery, CacheDirServesTheLastGoodSetAfterARestartWhileTheStoreIsDown) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  std::string cache = f.dir + "/cache";
  std::string root = "cache_dir: " + cache;
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  {
    Pilotfish pf(f.yaml("initial_fetch_timeout: 300ms", root));
    ASSERT_TRUE(waitFor(
        [&] { return pf.metric(cm("pilotfish_discovery_cache_writes_total")) == 1; }, 3000ms));
  }
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(cache)) files.push_back(e.path().filename());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].rfind("backend-", 0), 0u) << files[0];
  EXPECT_EQ(files[0].substr(files[0].size() - 5), ".json");

  ASSERT_EQ(::unlink(f.list.c_str()), 0);  // the store is down
  {
    Pilotfish pf(f.yaml("initial_fetch_timeout: 300ms", root));
    EXPECT_EQ(clusterEndpoints(pf, "backend"), std::set<std::string>{loopback(a.port())});
    EXPECT_TRUE(discoveryFlag(pf, "backend", "from_cache"));
    EXPECT_EQ(pf.metric(cm("pilotfish_discovery_stale")), 1);
    ASSERT_TRUE(f.roundTrip());
  }
  // A changed discovery definition (another path) never loads this set.
  {
    Pilotfish pf(f.yaml("initial_fetch_timeout: 300ms", root, f.dir + "/other.yaml"));
    EXPECT_EQ(clusterEndpoints(pf, "backend"), std::set<std::string>{});
    EXPECT_FALSE(discoveryFlag(pf, "backend", "from_cache"));
  }
}

TEST(FileDiscovery, MaxStaleDropsASetTheStoreStoppedConfirming) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml("max_stale: 1s"));
  ASSERT_EQ(::unlink(f.list.c_str()), 0);
  auto gone = Clock::now();
  ASSERT_TRUE(waitEndpoints(pf, "backend", {}, 4000ms));
  EXPECT_GE(msSince(gone), 900);
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_expired")), 1);
  TcpClient c;
  ASSERT_EQ(c.connect(f.port), 0);
  EXPECT_EQ(c.waitClosed(3000ms), ReadEnd::kEof);
  EXPECT_EQ(a.accepted(), 0);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(a.port())}));
  EXPECT_EQ(pf.metric(cm("pilotfish_discovery_expired")), 0);
}

TEST(FileDiscovery, AConnectionMadeBeforeTheFirstSetWaitsForIt) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho);
  Pilotfish::Options o;
  o.wait_ready = false;
  Pilotfish pf(f.yaml("initial_fetch_timeout: 10s"), o);
  // The listener is bound (connections queue in the kernel) but not accepting yet.
  TcpClient c;
  ASSERT_TRUE(waitFor([&] { return c.connect(f.port, 200ms) == 0; }, 5000ms));
  ASSERT_TRUE(c.sendAll("early"));
  // The admin listener may come up a moment after the proxy listener is bound (status 0: not
  // listening yet); once it answers, it says not ready.
  int ready_status = 0;
  EXPECT_TRUE(waitFor([&] { return (ready_status = pf.get("/ready").status) != 0; }, 5000ms));
  EXPECT_EQ(ready_status, 503);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  std::string got;
  EXPECT_EQ(c.recvAtLeast(got, 5, 5000ms), ReadEnd::kData);
  EXPECT_EQ(got, "early");
  EXPECT_TRUE(waitFor([&] { return pf.ready(); }, 3000ms));
}

TEST(FileDiscovery, InitialFetchTimeoutStartsTheListenerWithoutASet) {
  Fixture f;
  Pilotfish::Options o;
  o.wait_ready = false;
  auto start = Clock::now();
  Pilotfish pf(f.yaml("initial_fetch_timeout: 500ms"), o);
  ASSERT_TRUE(waitFor([&] { return pf.ready(); }, 5000ms));
  EXPECT_GE(msSince(start), 450);
  EXPECT_NE(pf.output().find("initial_fetch_timeout"), std::string::npos) << pf.output();
  TcpClient c;
  ASSERT_EQ(c.connect(f.port), 0);
  EXPECT_EQ(c.waitClosed(3000ms), ReadEnd::kEof);
}

TEST(FileDiscovery, OnEndpointRemovedCloseEndsConnectionsToAnEndpointThatLeft) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml("on_endpoint_removed: close"));
  TcpClient c;
  ASSERT_EQ(c.connect(f.port), 0);
  ASSERT_TRUE(c.echoRoundTrip("one"));
  replaceFile(f.list, "- " + loopback(b.port()) + "\n");
  auto end = c.waitClosed(3000ms);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  // Each worker swaps its snapshot on its own; within moments every new connection goes to b.
  ASSERT_TRUE(waitFor([&] { return f.roundTrip() && b.accepted() >= 1; }, 2000ms));
}

TEST(FileDiscovery, ByDefaultOpenConnectionsOutliveTheirEndpointsRemoval) {
  Fixture f;
  TestServer a(TestServer::Mode::kEcho), b(TestServer::Mode::kEcho);
  replaceFile(f.list, "- " + loopback(a.port()) + "\n");
  Pilotfish pf(f.yaml());
  TcpClient c;
  ASSERT_EQ(c.connect(f.port), 0);
  ASSERT_TRUE(c.echoRoundTrip("one"));
  replaceFile(f.list, "- " + loopback(b.port()) + "\n");
  ASSERT_TRUE(waitEndpoints(pf, "backend", {loopback(b.port())}));
  EXPECT_TRUE(c.echoRoundTrip("two")) << "on_endpoint_removed: keep";
  EXPECT_EQ(a.accepted(), 1);
}

}  // namespace
}  // namespace pilotfish::it
