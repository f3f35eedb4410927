#pragma once
// The access logger: workers hand finished entries to it; one dedicated writer thread formats
// them and owns the output (stdout or a file). See docs/access-log.md.
//
// Threads:
//  - Worker i calls submit(i, entry). Each worker has its own bounded lock-free SPSC queue, so a
//    submit never blocks, never takes a lock and never allocates: it copies the entry into the
//    queue or, when the queue is full, drops it and bumps that worker's `dropped` counter.
//  - The writer thread (started by create(), named "pf-accesslog") drains every queue, formats
//    into one reused buffer and writes in batches of up to 64 KiB. Only it ever waits on the
//    output: a slow, blocked or full device fills the queues (entries then count as dropped),
//    it never stalls a worker. Failed writes bump `write_errors` and are logged at most once a
//    second.
//  - Any thread may call reopen() (async-signal-safe) and stats(); the control thread calls
//    stop() (also run by the destructor).
//
// Waking the writer: when the writer finds every queue empty it publishes an "idle" flag and
// sleeps on an eventfd; the first submit that sees the flag clears it and writes the eventfd
// (non-blocking, never blocks). While entries keep coming the writer does not go idle: it
// drains, pauses `batch_interval` and drains again, so under load workers make no system call
// at all and the writer wakes at most 1/batch_interval times a second. The cost on a submit is
// one seq_cst fence (to pair with the writer's re-check of the queues, so no wake-up is lost)
// and a read of the shared, rarely written flag.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pilotfish/accesslog/access_log_config.h"
#include "pilotfish/accesslog/access_log_entry.h"
#include "pilotfish/accesslog/access_log_format.h"
#include "pilotfish/accesslog/access_log_stats.h"
#include "pilotfish/accesslog/spsc_ring.h"

namespace pilotfish::accesslog {

class LogOutput;

/// Run-time parameters of the logger that are not part of the user's config.
struct AccessLoggerOptions {
  /// Number of producer threads; submit() takes an index in [0, workers).
  std::size_t workers = 1;
  /// Entries per worker queue (rounded up to a power of two). Memory per worker is about
  /// queue_capacity * sizeof(AccessLogEntry) (~2.1 KiB), allocated up front: ~9 MiB for 4096.
  std::size_t queue_capacity = 4096;
  /// Pause between two drains while entries keep arriving (batching; bounds the wake-up rate).
  std::chrono::milliseconds batch_interval{2};
  /// How long stop() lets a blocked output (EAGAIN: a pipe or FIFO nobody reads) delay the
  /// final flush before the rest is dropped.
  std::chrono::milliseconds stop_timeout{5000};
};

class AccessLogger {
 public:
  /// Validates `cfg`, opens the output and starts the writer thread. On failure returns nullptr
  /// and sets *error (if non-null) to a message naming the path and the reason. Startup only;
  /// never throws.
  static std::unique_ptr<AccessLogger> create(const AccessLogConfig& cfg,
                                              const AccessLoggerOptions& options,
                                              std::string* error);

  /// Calls stop().
  ~AccessLogger();

  AccessLogger(const AccessLogger&) = delete;
  AccessLogger& operator=(const AccessLogger&) = delete;

  /// Worker-local: only the thread that owns index `worker` may call it (checked in debug
  /// builds). Copies `e` (only the bytes in use) into that worker's queue, stamping ts with the
  /// current wall-clock time if absent. Returns false when the entry was dropped (queue full,
  /// or the logger is stopping) — already counted, nothing for the caller to do. Wait-free.
  bool submit(std::size_t worker, const AccessLogEntry& e);

  /// Thread-safe and async-signal-safe: asks the writer to close and reopen the file (for
  /// logrotate: rename, then SIGUSR1). Entries already queued may go to either file. If the
  /// reopen fails the old file is kept and the failure counted in write_errors. No-op for
  /// stdout. `reopens` counts completed reopens.
  void reopen();

  /// Control thread; idempotent. Stops accepting entries, writes everything already queued
  /// (waiting at most options.stop_timeout on an output that reports EAGAIN; a write that blocks
  /// in the kernel, e.g. on a hung NFS mount, is waited for) and joins the writer. Call it after
  /// the workers stopped submitting: entries submitted concurrently with stop() are written or
  /// counted as dropped.
  void stop();

  /// Thread-safe. One stats instance per worker, then the writer's; for stats::Series.
  std::vector<const AccessLogStats*> stats() const;
  /// Thread-safe. Sum of one counter over all instances, e.g. total(&AccessLogStats::dropped).
  uint64_t total(stats::Counter AccessLogStats::*counter) const;

  std::size_t workers() const { return queues_.size(); }
  const AccessLogFormatter& formatter() const { return formatter_; }

 private:
  /// One worker's queue and counters, on their own cache lines.
  struct alignas(64) WorkerQueue {
    explicit WorkerQueue(std::size_t capacity) : ring(capacity) {}
    SpscRing<AccessLogEntry> ring;
    AccessLogStats stats;
    std::atomic<std::thread::id> owner{};  // debug check of the single-producer rule
  };

  AccessLogger(const AccessLogConfig& cfg, const AccessLoggerOptions& options, FieldSet fields,
               std::unique_ptr<LogOutput> output, int event_fd);

  void signalWriter();  // async-signal-safe
  void run();           // writer thread main loop
  std::size_t drainAll();
  bool anyQueued() const;
  void append(const AccessLogEntry& e);
  void flush();
  bool waitWritable();
  void waitSignal(std::chrono::milliseconds timeout);
  void doReopen();
  void noteWriteError(int err, const char* what);

  const AccessLoggerOptions options_;
  const std::string path_;
  const AccessLogFormatter formatter_;
  std::vector<std::unique_ptr<WorkerQueue>> queues_;
  AccessLogStats writer_stats_;  // written by the writer thread only

  const int event_fd_;
  alignas(64) std::atomic<bool> writer_idle_{false};
  alignas(64) std::atomic<bool> accepting_{true};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> reopen_requested_{false};
  std::atomic<int64_t> stop_deadline_ns_{0};  // steady_clock, valid once stopping_

  // Writer-thread state.
  std::unique_ptr<LogOutput> output_;
  std::string buf_;                // formatted lines of the current batch
  std::vector<std::size_t> ends_;  // end offset of each entry in buf_
  bool broken_line_ = false;       // a failed write left a partial line in the output
  bool giving_up_ = false;         // stopping and past the deadline: drop instead of wait
  uint64_t errors_since_report_ = 0;
  std::chrono::steady_clock::time_point last_error_report_{};
  bool reported_once_ = false;

  std::mutex stop_mu_;  // serialises stop() callers (control thread, destructor)
  std::thread writer_;
};

}  // namespace pilotfish::accesslog
