#include "pilotfish/accesslog/access_logger.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>

#include "accesslog/log_output.h"

namespace pilotfish::accesslog {

namespace {

// A batch is written when it reaches this size (or this many entries), or when the queues are
// empty. 64 KiB: one pipe buffer; large enough to amortise the system call.
constexpr std::size_t kFlushBytes = 64 * 1024;
constexpr std::size_t kMaxBatchEntries = 1024;
// Entries taken from one queue before moving to the next, so one busy worker cannot starve the
// others' queues (which would then drop).
constexpr std::size_t kMaxPerRound = 256;
// Slice of a wait for POLLOUT, to notice the stop deadline.
constexpr int kWritableSliceMs = 50;
// Safety net: the idle writer wakes this often even without a signal.
constexpr std::chrono::milliseconds kIdleWait{1000};
constexpr std::chrono::seconds kErrorReportInterval{1};

int64_t steadyNowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::unique_ptr<AccessLogger> AccessLogger::create(const AccessLogConfig& cfg,
                                                   const AccessLoggerOptions& options,
                                                   std::string* error) {
  auto fail = [error](std::string why) -> std::unique_ptr<AccessLogger> {
    if (error) *error = std::move(why);
    return nullptr;
  };
  std::vector<std::string> problems = validateAccessLogConfig(cfg);
  if (!problems.empty()) {
    std::string all;
    for (const auto& p : problems) {
      if (!all.empty()) all += "; ";
      all += p;
    }
    return fail(std::move(all));
  }
  if (options.workers == 0) return fail("access log: workers must be at least 1");
  FieldSet fields;
  std::string why;
  if (!resolveFields(cfg.fields, &fields, &why)) return fail(why);

  auto output = LogOutput::open(cfg.path, &why);
  if (!output) return fail(why);
  int efd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (efd < 0) return fail(std::string("access log: eventfd: ") + std::strerror(errno));

  std::unique_ptr<AccessLogger> logger;
  try {
    logger.reset(new AccessLogger(cfg, options, fields, std::move(output), efd));
    logger->writer_ = std::thread(&AccessLogger::run, logger.get());
  } catch (const std::exception& e) {  // bad_alloc, system_error: startup only
    if (!logger) ::close(efd);
    logger.reset();  // writer_ not joinable: the destructor only closes the eventfd
    return fail(std::string("access log: cannot start: ") + e.what());
  }
  return logger;
}

AccessLogger::AccessLogger(const AccessLogConfig& cfg, const AccessLoggerOptions& options,
                           FieldSet fields, std::unique_ptr<LogOutput> output, int event_fd)
    : options_(options),
      path_(cfg.path),
      formatter_(cfg.format, fields),
      event_fd_(event_fd),
      output_(std::move(output)) {
  queues_.reserve(options.workers);
  for (std::size_t i = 0; i < options.workers; ++i) {
    queues_.push_back(std::make_unique<WorkerQueue>(options.queue_capacity));
  }
  buf_.reserve(kFlushBytes + kMaxFormattedEntrySize);
  ends_.reserve(kMaxBatchEntries);
}

AccessLogger::~AccessLogger() {
  stop();
  ::close(event_fd_);
}

bool AccessLogger::submit(std::size_t worker, const AccessLogEntry& e) {
  assert(worker < queues_.size());
  if (worker >= queues_.size()) return false;  // a wiring bug; never index out of bounds
  WorkerQueue& q = *queues_[worker];
#ifndef NDEBUG
  {
    std::thread::id expected{};
    std::thread::id me = std::this_thread::get_id();
    bool mine =
        q.owner.compare_exchange_strong(expected, me, std::memory_order_relaxed) || expected == me;
    assert(mine && "AccessLogger::submit: one worker index used from two threads");
    (void)mine;
  }
#endif
  if (!accepting_.load(std::memory_order_relaxed)) {
    q.stats.dropped.inc();
    return false;
  }
  bool pushed = q.ring.tryPushWith([&e](AccessLogEntry& slot) {
    slot = e;
    if (!slot.has(Field::kTs)) slot.setTs(std::chrono::system_clock::now());
  });
  if (!pushed) {
    q.stats.dropped.inc();
    return false;
  }
  // Pairs with the fence in run(): either we see the writer's idle flag, or the writer's
  // re-check of the queues sees our entry. See the header.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (writer_idle_.load(std::memory_order_relaxed) &&
      writer_idle_.exchange(false, std::memory_order_relaxed)) {
    signalWriter();
  }
  return true;
}

void AccessLogger::signalWriter() {
  uint64_t one = 1;
  // Non-blocking eventfd: fails only if the counter would overflow, which already means "wake".
  ssize_t r = ::write(event_fd_, &one, sizeof one);
  (void)r;
}

void AccessLogger::reopen() {
  reopen_requested_.store(true, std::memory_order_release);
  signalWriter();
}

void AccessLogger::stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (!writer_.joinable()) return;
  accepting_.store(false, std::memory_order_relaxed);
  stop_deadline_ns_.store(
      steadyNowNs() +
          std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stop_timeout).count(),
      std::memory_order_relaxed);
  stopping_.store(true, std::memory_order_release);
  signalWriter();
  writer_.join();
  // The writer is gone; this thread is now the queues' only consumer. Anything a worker pushed
  // after the writer's last drain (racing stop()) will never be written: count it.
  for (auto& q : queues_) {
    std::size_t n =
        q->ring.consume([](const AccessLogEntry&) {}, std::numeric_limits<std::size_t>::max());
    writer_stats_.dropped.inc(n);
  }
}

std::vector<const AccessLogStats*> AccessLogger::stats() const {
  std::vector<const AccessLogStats*> out;
  out.reserve(queues_.size() + 1);
  for (const auto& q : queues_) out.push_back(&q->stats);
  out.push_back(&writer_stats_);
  return out;
}

uint64_t AccessLogger::total(stats::Counter AccessLogStats::*counter) const {
  uint64_t sum = (writer_stats_.*counter).value();
  for (const auto& q : queues_) sum += (q->stats.*counter).value();
  return sum;
}

// ---- writer thread ----

void AccessLogger::run() {
  // A write to a pipe whose reader is gone must fail with EPIPE, not kill the process, even if
  // the embedding program did not ignore SIGPIPE: block it in this thread (a SIGPIPE raised by
  // our write is directed at this thread and stays pending here, harmlessly).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  pthread_setname_np(pthread_self(), "pf-accesslog");

  for (;;) {
    if (reopen_requested_.exchange(false, std::memory_order_acq_rel)) doReopen();
    bool stopping = stopping_.load(std::memory_order_acquire);
    if (stopping && !giving_up_ &&
        steadyNowNs() >= stop_deadline_ns_.load(std::memory_order_relaxed)) {
      giving_up_ = true;
    }
    std::size_t n = drainAll();
    if (stopping) {
      if (n == 0) break;  // drainAll() ran until every queue was empty
      continue;
    }
    if (n > 0) {
      // Busy: pause to let a batch build up. writer_idle_ stays false, so workers do not
      // signal; stop() and reopen() do and end the pause early.
      waitSignal(options_.batch_interval);
      continue;
    }
    // Idle: publish the flag, then re-check (pairs with the fence in submit()).
    writer_idle_.store(true, std::memory_order_seq_cst);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (anyQueued() || reopen_requested_.load(std::memory_order_acquire) ||
        stopping_.load(std::memory_order_acquire)) {
      writer_idle_.store(false, std::memory_order_relaxed);
      continue;
    }
    waitSignal(kIdleWait);
    writer_idle_.store(false, std::memory_order_relaxed);
  }
  flush();
}

bool AccessLogger::anyQueued() const {
  for (const auto& q : queues_) {
    if (!q->ring.empty()) return true;
  }
  return false;
}

std::size_t AccessLogger::drainAll() {
  std::size_t total = 0;
  for (;;) {
    std::size_t round = 0;
    for (auto& q : queues_) {
      round += q->ring.consume([this](const AccessLogEntry& e) { append(e); }, kMaxPerRound);
    }
    total += round;
    if (round == 0) break;
  }
  flush();
  return total;
}

void AccessLogger::append(const AccessLogEntry& e) {
  if (buf_.empty() && broken_line_) {
    buf_ += '\n';  // end the partial line a failed write left behind
    broken_line_ = false;
  }
  formatter_.append(buf_, e);
  ends_.push_back(buf_.size());
  if (buf_.size() >= kFlushBytes || ends_.size() >= kMaxBatchEntries) flush();
}

void AccessLogger::flush() {
  if (buf_.empty()) return;
  std::size_t off = 0;
  while (off < buf_.size() && !giving_up_) {
    ssize_t r = output_->write(buf_.data() + off, buf_.size() - off);
    if (r > 0) {
      off += static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!waitWritable()) break;
      continue;
    }
    noteWriteError(r == 0 ? EIO : errno, "write to");
    break;
  }
  uint64_t written = 0;
  for (std::size_t end : ends_) {
    if (end <= off) ++written;
  }
  writer_stats_.written.inc(written);
  writer_stats_.dropped.inc(ends_.size() - written);
  if (off > 0 && off < buf_.size() && buf_[off - 1] != '\n') broken_line_ = true;
  buf_.clear();
  ends_.clear();
}

bool AccessLogger::waitWritable() {
  for (;;) {
    if (stopping_.load(std::memory_order_acquire) &&
        steadyNowNs() >= stop_deadline_ns_.load(std::memory_order_relaxed)) {
      giving_up_ = true;
      return false;
    }
    pollfd p{output_->fd(), POLLOUT, 0};
    int r = ::poll(&p, 1, kWritableSliceMs);
    // Ready, or an error/hang-up that the next write will report.
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;
  }
}

void AccessLogger::waitSignal(std::chrono::milliseconds timeout) {
  pollfd p{event_fd_, POLLIN, 0};
  int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
  if (r > 0) {
    uint64_t v;
    ssize_t n = ::read(event_fd_, &v, sizeof v);  // reset the counter
    (void)n;
  }
}

void AccessLogger::doReopen() {
  if (output_->isStdout()) return;
  int err = 0;
  if (output_->reopen(&err)) {
    writer_stats_.reopens.inc();
    spdlog::info("access log: reopened {}", path_);
  } else {
    noteWriteError(err, "reopen of");
  }
}

void AccessLogger::noteWriteError(int err, const char* what) {
  writer_stats_.write_errors.inc();
  ++errors_since_report_;
  auto now = std::chrono::steady_clock::now();
  if (reported_once_ && now - last_error_report_ < kErrorReportInterval) return;
  spdlog::warn("access log: {} {} failed: {} ({} failure(s) since the last report)", what, path_,
               std::strerror(err), errors_since_report_);
  reported_once_ = true;
  last_error_report_ = now;
  errors_since_report_ = 0;
}

}  // namespace pilotfish::accesslog
