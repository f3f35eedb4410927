// The access log end to end for `protocol: tcp`: one JSON line per connection with bytes,
// upstream and error token; reopened on SIGUSR1 after a logrotate-style rename. A full device
// loses (and counts) entries, never requests.

#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>

#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;

std::vector<boost::json::object> readLines(const std::string& path) {
  std::vector<boost::json::object> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(parseJson(line).as_object());
  }
  return out;
}

TEST(AccessLog, OneLinePerConnectionAndReopenOnSigusr1) {
  Redis redis;
  uint16_t port = freePort();
  uint16_t dead_port = freePort();  // nobody listens: connect refused
  uint16_t dead_listener = freePort();
  std::string dir = tempDir();
  std::string path = dir + "/access.log";
  Pilotfish pf(render(R"(workers: 2
access_log: {path: ${PATH}, format: json}
clusters:
  - name: redis
    endpoints: [127.0.0.1:${REDIS}]
  - name: dead
    endpoints: [127.0.0.1:${DEAD}]
listeners:
  - {name: front, address: 127.0.0.1:${PORT}, protocol: tcp, cluster: redis}
  - {name: nowhere, address: 127.0.0.1:${DL}, protocol: tcp, cluster: dead}
)",
                      {{"PATH", path},
                       {"REDIS", std::to_string(redis.port())},
                       {"DEAD", std::to_string(dead_port)},
                       {"PORT", std::to_string(port)},
                       {"DL", std::to_string(dead_listener)}}));

  {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.sendAll("PING\r\n"));
    std::string got;
    ASSERT_EQ(c.recvAtLeast(got, 7, 3000ms), ReadEnd::kData);
    EXPECT_EQ(got, "+PONG\r\n");
  }
  {
    TcpClient c;
    ASSERT_EQ(c.connect(dead_listener), 0);
    c.waitClosed(3000ms);
  }
  ASSERT_TRUE(waitFor([&] { return readLines(path).size() >= 2; }, 5000ms)) << pf.output();
  auto lines = readLines(path);
  ASSERT_EQ(lines.size(), 2u);
  const boost::json::object* ok = nullptr;
  const boost::json::object* failed = nullptr;
  for (const auto& l : lines) (l.at("listener").as_string() == "front" ? ok : failed) = &l;
  ASSERT_TRUE(ok && failed);
  EXPECT_EQ(ok->at("protocol").as_string(), "tcp");
  EXPECT_EQ(ok->at("cluster").as_string(), "redis");
  EXPECT_EQ(ok->at("bytes_in").as_int64(), 6);
  EXPECT_EQ(ok->at("bytes_out").as_int64(), 7);
  EXPECT_EQ(ok->at("upstream_address").as_string(), "127.0.0.1:" + std::to_string(redis.port()));
  EXPECT_TRUE(ok->at("error").is_null());
  EXPECT_EQ(failed->at("error").as_string(), "connect_failure");
  EXPECT_TRUE(failed->at("upstream_address").is_null());

  // logrotate: rename, then SIGUSR1; new entries go to a new file at the configured path.
  ASSERT_EQ(std::rename(path.c_str(), (path + ".1").c_str()), 0);
  pf.process().signal(SIGUSR1);
  pf.waitMetric("pilotfish_access_log_reopens_total", [](double v) { return v >= 1; });
  {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.sendAll("PING\r\n"));
    std::string got;
    ASSERT_EQ(c.recvAtLeast(got, 7, 3000ms), ReadEnd::kData);
  }
  ASSERT_TRUE(waitFor([&] { return readLines(path).size() == 1; }, 5000ms));
  EXPECT_EQ(readLines(path + ".1").size(), 2u);
  EXPECT_EQ(pf.metric("pilotfish_access_log_written_total"), 3);
  EXPECT_EQ(pf.metric("pilotfish_access_log_dropped_total"), 0);
}

TEST(AccessLog, UnknownFieldIsAConfigError) {
  std::string file = writeTempFile(
      "access_log: {fields: [ts, bogus]}\nclusters:\n  - name: c\n    endpoints: [127.0.0.1:1]\n"
      "listeners:\n  - {name: l, address: 127.0.0.1:7379, cluster: c}\n",
      ".yaml");
  auto r = runCommand({PILOTFISH_BINARY, "validate", "-c", file});
  ASSERT_TRUE(r.status.has_value());
  EXPECT_EQ(r.status->code, 2);
  EXPECT_NE(r.err.find(":1:27: access_log.fields[1]: unknown access log field \"bogus\""),
            std::string::npos)
      << r.err;
}

TEST(AccessLog, FullDeviceLosesEntriesNotRequests) {
  // The log's device is full (ENOSPC on every write): requests are still proxied, the failed
  // writes and the entries they carried are counted, and the error is logged, not the entries.
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(render(R"(workers: 2
access_log: {path: /dev/full, format: json}
clusters:
  - {name: be, endpoints: [127.0.0.1:${BE}]}
listeners:
  - {name: web, address: 127.0.0.1:${PORT}, protocol: http, cluster: be}
)",
                      {{"BE", std::to_string(be.port())}, {"PORT", std::to_string(port)}}));
  for (int i = 0; i < 20; ++i) {
    auto r = httpRaw(
        port, "GET /n" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(r.status, 200) << "request " << i << ": " << r.raw;
  }
  EXPECT_GE(
      pf.waitMetric("pilotfish_access_log_write_errors_total", [](double v) { return v >= 1; }), 1);
  // Every entry is either dropped or (never, here) written: none is lost without a count.
  EXPECT_EQ(pf.waitMetric("pilotfish_access_log_dropped_total", [](double v) { return v >= 20; }),
            20);
  EXPECT_EQ(pf.metric("pilotfish_access_log_written_total"), 0);
  const std::string out = pf.output();
  EXPECT_NE(out.find("No space left on device"), std::string::npos) << out;
  // Reported at most once per interval, not once per failed write.
  std::size_t reports = 0;
  for (auto at = out.find("No space left"); at != std::string::npos;
       at = out.find("No space left", at + 1)) {
    ++reports;
  }
  EXPECT_LE(reports, 2u) << out;
  EXPECT_EQ(pf.output().find("/n7"), std::string::npos) << "an entry went to the error log";
  EXPECT_TRUE(pf.process().running());
}

}  // namespace
}  // namespace pilotfish::it
