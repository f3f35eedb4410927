#include "pilotfish/accesslog/access_logger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "unit/accesslog/access_log_test_util.h"

namespace pilotfish::accesslog {
namespace {

using namespace std::chrono_literals;
using testing::lines;
using testing::readFile;
using testing::TempDir;
using testing::waitUntil;

AccessLogEntry entry(const std::string& request_id, uint64_t status = 200) {
  AccessLogEntry e;
  e.setTsUs(1714566896123456);
  e.setListener("in");
  e.setMethod("GET");
  e.setPath("/p");
  e.setProtocol("HTTP/1.1");
  e.setStatus(status);
  e.setRequestId(request_id);
  return e;
}

std::unique_ptr<AccessLogger> make(const AccessLogConfig& cfg, AccessLoggerOptions opts = {}) {
  std::string error;
  auto logger = AccessLogger::create(cfg, opts, &error);
  EXPECT_NE(logger, nullptr) << error;
  return logger;
}

AccessLogConfig fileConfig(const std::string& path, std::vector<std::string> fields = {}) {
  AccessLogConfig cfg;
  cfg.path = path;
  cfg.fields = std::move(fields);
  return cfg;
}

uint64_t written(const AccessLogger& l) {
  return l.total(&AccessLogStats::written);
}
uint64_t dropped(const AccessLogger& l) {
  return l.total(&AccessLogStats::dropped);
}
uint64_t writeErrors(const AccessLogger& l) {
  return l.total(&AccessLogStats::write_errors);
}
uint64_t reopens(const AccessLogger& l) {
  return l.total(&AccessLogStats::reopens);
}

TEST(AccessLogger, WritesJsonLinesToAFile) {
  TempDir dir;
  std::string path = dir.file("access.log");
  auto logger = make(fileConfig(path, {"status", "request_id"}));
  ASSERT_NE(logger, nullptr);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(logger->submit(0, entry("r" + std::to_string(i))));
  logger->stop();
  auto got = lines(readFile(path));
  ASSERT_EQ(got.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(got[i], "{\"status\":200,\"request_id\":\"r" + std::to_string(i) + "\"}");
  }
  EXPECT_EQ(written(*logger), 100u);
  EXPECT_EQ(dropped(*logger), 0u);
  EXPECT_EQ(writeErrors(*logger), 0u);
}

TEST(AccessLogger, WritesTextLines) {
  TempDir dir;
  std::string path = dir.file("access.log");
  AccessLogConfig cfg = fileConfig(path, {"method", "path", "status"});
  cfg.format = AccessLogFormat::kText;
  auto logger = make(cfg);
  ASSERT_NE(logger, nullptr);
  AccessLogEntry e = entry("x", 503);
  e.setPath("/with space");
  logger->submit(0, e);
  logger->stop();
  EXPECT_EQ(readFile(path), "GET \"/with space\" 503\n");
}

TEST(AccessLogger, OneLinePerTcpConnection) {
  TempDir dir;
  std::string path = dir.file("access.log");
  auto logger = make(fileConfig(path));
  ASSERT_NE(logger, nullptr);
  AccessLogEntry e;
  e.setTsUs(0);
  e.setListener("redis");
  e.setProtocol("tcp");
  e.setBytesIn(11);
  e.setBytesOut(22);
  e.setDurationUs(33);
  e.setUpstreamAddress("10.1.2.3:6379");
  e.setUpstreamTimeUs(44);
  e.setCluster("redis-main");
  logger->submit(0, e);
  logger->stop();
  EXPECT_EQ(readFile(path),
            R"({"ts":"1970-01-01T00:00:00.000000Z","listener":"redis","method":null,)"
            R"("authority":null,"path":null,"protocol":"tcp","status":null,"bytes_in":11,)"
            R"("bytes_out":22,"duration_us":33,"upstream_address":"10.1.2.3:6379",)"
            R"("upstream_time_us":44,"trace_id":null,"span_id":null,"request_id":null,)"
            R"("error":null,"cluster":"redis-main"})"
            "\n");
}

TEST(AccessLogger, StampsTsWhenAbsent) {
  TempDir dir;
  std::string path = dir.file("access.log");
  auto logger = make(fileConfig(path, {"ts"}));
  ASSERT_NE(logger, nullptr);
  auto before = std::chrono::system_clock::now();
  logger->submit(0, AccessLogEntry{});
  auto after = std::chrono::system_clock::now();
  logger->stop();
  std::string line = readFile(path);
  // {"ts":"YYYY-MM-DDTHH:MM:SS.ffffffZ"}\n
  ASSERT_EQ(line.size(), 37u) << line;
  std::string lo, hi;
  appendRfc3339(
      lo, std::chrono::duration_cast<std::chrono::microseconds>(before.time_since_epoch()).count());
  appendRfc3339(
      hi, std::chrono::duration_cast<std::chrono::microseconds>(after.time_since_epoch()).count());
  std::string ts = line.substr(7, 27);
  EXPECT_LE(lo, ts);
  EXPECT_LE(ts, hi);
}

TEST(AccessLogger, FileIsCreatedWithMode0640AndAppended) {
  TempDir dir;
  std::string path = dir.file("access.log");
  {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs("existing\n", f);
    std::fclose(f);
  }
  auto logger = make(fileConfig(path, {"status"}));
  ASSERT_NE(logger, nullptr);
  logger->submit(0, entry("a"));
  logger->stop();
  EXPECT_EQ(readFile(path), "existing\n{\"status\":200}\n");

  std::string fresh = dir.file("fresh.log");
  mode_t mask = ::umask(0);
  ::umask(mask);
  auto l2 = make(fileConfig(fresh));
  ASSERT_NE(l2, nullptr);
  struct stat st {};
  ASSERT_EQ(::stat(fresh.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u & ~mask);
}

TEST(AccessLogger, CreateFailsWithAReason) {
  std::string error;
  AccessLoggerOptions opts;
  EXPECT_EQ(AccessLogger::create(fileConfig("/nonexistent-dir/x/access.log"), opts, &error),
            nullptr);
  EXPECT_NE(error.find("/nonexistent-dir/x/access.log"), std::string::npos) << error;
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;

  EXPECT_EQ(AccessLogger::create(fileConfig("/tmp/a.log", {"bogus"}), opts, &error), nullptr);
  EXPECT_NE(error.find("unknown access log field \"bogus\""), std::string::npos) << error;

  opts.workers = 0;
  EXPECT_EQ(AccessLogger::create(fileConfig("stdout"), opts, &error), nullptr);
}

TEST(AccessLogger, StopIsIdempotentAndLaterSubmitsAreCountedDrops) {
  TempDir dir;
  auto logger = make(fileConfig(dir.file("a.log")));
  ASSERT_NE(logger, nullptr);
  logger->submit(0, entry("a"));
  logger->stop();
  logger->stop();
  EXPECT_FALSE(logger->submit(0, entry("b")));
  EXPECT_EQ(written(*logger), 1u);
  EXPECT_EQ(dropped(*logger), 1u);
}

TEST(AccessLogger, IdleWriterWakesPromptly) {
  // After each entry the writer goes idle on its eventfd; the next submit must wake it (well
  // before the 1 s safety timeout).
  TempDir dir;
  auto logger = make(fileConfig(dir.file("a.log")));
  ASSERT_NE(logger, nullptr);
  auto worst = 0ms;
  for (int i = 1; i <= 20; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    logger->submit(0, entry("r"));
    ASSERT_TRUE(waitUntil([&] { return written(*logger) == static_cast<uint64_t>(i); }));
    worst = std::max(worst, std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now() - t0));
  }
  EXPECT_LT(worst, 500ms);
}

TEST(AccessLogger, StdoutPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::fflush(stdout);
  int saved = ::dup(STDOUT_FILENO);
  ASSERT_EQ(::dup2(fds[1], STDOUT_FILENO), STDOUT_FILENO);
  std::string error;
  auto logger = AccessLogger::create(AccessLogConfig{}, AccessLoggerOptions{}, &error);
  ::dup2(saved, STDOUT_FILENO);  // restore before any assertion prints
  ::close(saved);
  ::close(fds[1]);
  ASSERT_NE(logger, nullptr) << error;
  AccessLogConfig cfg;
  EXPECT_EQ(cfg.path, "stdout");
  logger->submit(0, entry("via-stdout"));
  logger->reopen();  // no-op for stdout
  logger->stop();
  EXPECT_EQ(reopens(*logger), 0u);
  logger.reset();  // closes the logger's write end of the pipe
  std::string got;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  EXPECT_NE(got.find("\"request_id\":\"via-stdout\""), std::string::npos) << got;
}

// Several workers, each with its own queue, submitting as fast as they can into small queues:
// every entry is either written or counted as dropped, exactly; each worker's entries stay in
// order; nothing is torn.
TEST(AccessLogger, MultiProducerStressExactAccounting) {
  TempDir dir;
  std::string path = dir.file("access.log");
  AccessLoggerOptions opts;
  opts.workers = 4;
  opts.queue_capacity = 256;
  opts.batch_interval = 1ms;
  auto logger = make(fileConfig(path, {"request_id"}), opts);
  ASSERT_NE(logger, nullptr);
  constexpr int kPerWorker = 50000;
  std::vector<uint64_t> accepted(opts.workers, 0);
  std::vector<std::thread> threads;
  std::atomic<bool> go{false};
  for (std::size_t w = 0; w < opts.workers; ++w) {
    threads.emplace_back([&, w] {
      while (!go.load()) std::this_thread::yield();
      AccessLogEntry e;
      e.setTsUs(1);
      for (int i = 0; i < kPerWorker; ++i) {
        e.setRequestId(std::to_string(w) + "-" + std::to_string(i));
        if (logger->submit(w, e)) ++accepted[w];
      }
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  logger->stop();

  const uint64_t submitted = opts.workers * kPerWorker;

  EXPECT_EQ(written(*logger) + dropped(*logger), submitted);
  auto per_worker = logger->stats();
  ASSERT_EQ(per_worker.size(), opts.workers + 1);
  for (std::size_t w = 0; w < opts.workers; ++w) {
    EXPECT_EQ(per_worker[w]->dropped.value() + accepted[w], static_cast<uint64_t>(kPerWorker));
  }
  EXPECT_EQ(per_worker[opts.workers]->dropped.value(), 0u);  // the file never failed

  auto got = lines(readFile(path));
  EXPECT_EQ(got.size(), written(*logger));
  std::map<std::size_t, int> last;
  std::vector<uint64_t> lines_per_worker(opts.workers, 0);
  for (const auto& l : got) {
    // {"request_id":"W-I"}
    ASSERT_EQ(l.rfind("{\"request_id\":\"", 0), 0u) << l;
    ASSERT_EQ(l.substr(l.size() - 2), "\"}") << l;
    std::string id = l.substr(15, l.size() - 17);
    std::size_t dash = id.find('-');
    ASSERT_NE(dash, std::string::npos) << l;
    std::size_t w = std::stoul(id.substr(0, dash));
    int i = std::stoi(id.substr(dash + 1));
    ASSERT_LT(w, opts.workers);
    auto it = last.find(w);
    if (it != last.end()) {
      ASSERT_GT(i, it->second) << "out of order for worker " << w;
    }
    last[w] = i;
    ++lines_per_worker[w];
  }
  for (std::size_t w = 0; w < opts.workers; ++w) EXPECT_EQ(lines_per_worker[w], accepted[w]);
}

// logrotate: rename the file, signal, and the next entries land in a new file at the path.
TEST(AccessLogger, ReopenAfterRename) {
  TempDir dir;
  std::string path = dir.file("access.log");
  auto logger = make(fileConfig(path, {"request_id"}));
  ASSERT_NE(logger, nullptr);
  for (int i = 0; i < 10; ++i) logger->submit(0, entry("old" + std::to_string(i)));
  ASSERT_TRUE(waitUntil([&] { return written(*logger) == 10; }));
  std::filesystem::rename(path, path + ".1");
  logger->reopen();
  ASSERT_TRUE(waitUntil([&] { return reopens(*logger) == 1; }));
  for (int i = 0; i < 10; ++i) logger->submit(0, entry("new" + std::to_string(i)));
  logger->stop();

  auto rotated = lines(readFile(path + ".1"));
  auto current = lines(readFile(path));
  ASSERT_EQ(rotated.size(), 10u);
  ASSERT_EQ(current.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(rotated[i], "{\"request_id\":\"old" + std::to_string(i) + "\"}");
    EXPECT_EQ(current[i], "{\"request_id\":\"new" + std::to_string(i) + "\"}");
  }
  EXPECT_EQ(writeErrors(*logger), 0u);
}

TEST(AccessLogger, FailedReopenKeepsTheOldFile) {
  TempDir dir;
  std::string sub = dir.file("logs");
  std::filesystem::create_directory(sub);
  std::string path = sub + "/access.log";
  auto logger = make(fileConfig(path, {"request_id"}));
  ASSERT_NE(logger, nullptr);
  logger->submit(0, entry("a"));
  ASSERT_TRUE(waitUntil([&] { return written(*logger) == 1; }));
  std::filesystem::rename(sub, dir.file("moved"));  // the path can no longer be opened
  logger->reopen();
  ASSERT_TRUE(waitUntil([&] { return writeErrors(*logger) == 1; }));
  EXPECT_EQ(reopens(*logger), 0u);
  logger->submit(0, entry("b"));
  logger->stop();
  EXPECT_EQ(readFile(dir.file("moved") + "/access.log"),
            "{\"request_id\":\"a\"}\n{\"request_id\":\"b\"}\n");
  EXPECT_EQ(written(*logger), 2u);
}

// A full device: every write fails with ENOSPC. Counted, entries dropped, no crash, and stop()
// still returns.
TEST(AccessLogger, EnospcIsCountedNotFatal) {
  auto logger = make(fileConfig("/dev/full"));
  ASSERT_NE(logger, nullptr);
  for (int i = 0; i < 100; ++i) logger->submit(0, entry("x"));
  ASSERT_TRUE(waitUntil([&] { return writeErrors(*logger) >= 1; }));
  for (int i = 0; i < 100; ++i) logger->submit(0, entry("y"));
  logger->stop();
  EXPECT_GE(writeErrors(*logger), 1u);
  EXPECT_EQ(written(*logger), 0u);
  EXPECT_EQ(dropped(*logger), 200u);
}

// The output blocks (a FIFO whose reader never reads): the writer waits, the queue fills, and
// from then on every submit returns at once as a counted drop. stop() gives up after
// stop_timeout instead of hanging.
TEST(AccessLogger, BlockedOutputNeverBlocksWorkers) {
  TempDir dir;
  std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);  // never reads
  ASSERT_GE(reader, 0);
  ::fcntl(reader, F_SETPIPE_SZ, 4096);  // fill up sooner (best effort)

  AccessLoggerOptions opts;
  opts.queue_capacity = 64;
  opts.stop_timeout = 200ms;
  auto logger = make(fileConfig(fifo), opts);
  ASSERT_NE(logger, nullptr);

  uint64_t submitted = 0;
  // Phase 1: submit until no submit has succeeded for 200 ms: the pipe is full and the writer
  // is stuck on it (a full queue alone could also be the writer's batching pause).
  auto t0 = std::chrono::steady_clock::now();
  auto last_accepted = t0;
  while (std::chrono::steady_clock::now() - last_accepted < 200ms) {
    ASSERT_LT(std::chrono::steady_clock::now() - t0, 20s) << "never filled";
    if (logger->submit(0, entry(std::string(100, 'f')))) {
      last_accepted = std::chrono::steady_clock::now();
    }
    ++submitted;
  }
  ASSERT_GT(dropped(*logger), 0u);
  // Phase 2: the writer cannot make progress, so each of these is an immediate drop.
  constexpr int kMore = 100000;
  uint64_t dropped_before = dropped(*logger);
  auto t1 = std::chrono::steady_clock::now();
  int accepted = 0;
  for (int i = 0; i < kMore; ++i) accepted += logger->submit(0, entry("blocked")) ? 1 : 0;
  auto elapsed = std::chrono::steady_clock::now() - t1;
  submitted += kMore;
  EXPECT_LT(elapsed, 2s) << "submit() waited on the output";
  EXPECT_GE(dropped(*logger) - dropped_before, static_cast<uint64_t>(kMore - accepted));
  EXPECT_LE(accepted, 64);  // at most a queue's worth slipped in while the writer still moved

  auto t2 = std::chrono::steady_clock::now();
  logger->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t2, 5s);
  EXPECT_EQ(written(*logger) + dropped(*logger), submitted);

  // Whatever reached the pipe: exactly `written` complete lines (a torn tail is possible).
  std::string got;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(reader, buf, sizeof buf)) > 0) got.append(buf, static_cast<std::size_t>(n));
  ::close(reader);
  EXPECT_EQ(static_cast<uint64_t>(std::count(got.begin(), got.end(), '\n')), written(*logger));
}

TEST(AccessLogger, StatsCoverEveryWorkerAndTheWriter) {
  TempDir dir;
  AccessLoggerOptions opts;
  opts.workers = 3;
  auto logger = make(fileConfig(dir.file("a.log")), opts);
  ASSERT_NE(logger, nullptr);
  EXPECT_EQ(logger->workers(), 3u);
  auto s = logger->stats();
  ASSERT_EQ(s.size(), 4u);
  for (auto* p : s) EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 64, 0u);
  std::vector<std::string> names;
  struct V {
    std::vector<std::string>* names;
    void counter(std::string_view name, std::string_view, stats::Counter AccessLogStats::*) {
      names->emplace_back(name);
    }
    void gauge(std::string_view, std::string_view, stats::Gauge AccessLogStats::*) {}
    void histogram(std::string_view, std::string_view, stats::Histogram AccessLogStats::*) {}
  } v{&names};
  AccessLogStats::visit(v);
  EXPECT_EQ(names,
            (std::vector<std::string>{
                "pilotfish_access_log_written_total", "pilotfish_access_log_dropped_total",
                "pilotfish_access_log_write_errors_total", "pilotfish_access_log_reopens_total"}));
}

}  // namespace
}  // namespace pilotfish::accesslog
