#pragma once
// A worker: one thread running its own io_context. Connections accepted by a worker live on it
// from accept to close; other threads talk to it only by post().
// Thread-safety: post() and stop() are thread-safe; ioContext() is for the owning thread and for
// set-up before start().

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <future>
#include <optional>
#include <thread>

namespace pilotfish::event {

class Worker {
 public:
  explicit Worker(unsigned index);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  unsigned index() const { return index_; }
  boost::asio::io_context& ioContext() { return io_; }

  /// Starts the thread; the loop runs until stop() (kept alive by a work guard).
  void start();
  /// Releases the work guard and waits up to `grace` for the loop to run out of work (all
  /// sockets closed by then), then stops it if needed; joins the thread.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(1000));
  /// Runs `fn` on the worker thread.
  template <class F>
  void post(F&& fn) {
    boost::asio::post(io_, std::forward<F>(fn));
  }
  /// True when called on this worker's thread.
  bool onThread() const { return std::this_thread::get_id() == thread_.get_id(); }

 private:
  unsigned index_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::future<void> exited_;
};

/// Exits the process with one clear line when this is the io_uring build and io_uring cannot be
/// used here (seccomp, container runtime policy, old kernel). No-op in the epoll build.
void requireIoBackend();

/// "epoll" or "io_uring".
const char* ioBackendName();

}  // namespace pilotfish::event
