#include "pilotfish/event/worker.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>

#ifdef PILOTFISH_IO_URING
#include <liburing.h>
#endif

namespace pilotfish::event {

// One thread runs this io_context, and only that thread touches its sockets (other threads only
// post() to it), so the reactor's per-descriptor locks are not needed: UNSAFE_IO drops them
// (the scheduler's queue stays thread-safe for post()).
Worker::Worker(unsigned index) : index_(index), io_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO) {}

Worker::~Worker() {
  stop();
}

void Worker::start() {
  guard_.emplace(io_.get_executor());
  std::promise<void> exited;
  exited_ = exited.get_future();
  thread_ = std::thread([this, exited = std::move(exited)]() mutable {
    std::string name = "pf-worker-" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    io_.run();
    exited.set_value();
  });
}

void Worker::stop(std::chrono::milliseconds grace) {
  if (!thread_.joinable()) return;
  // Let the loop run out of work so that cancelled operations complete normally; force it only
  // if something is still pending after `grace` (a leak we would rather log than hang on).
  guard_.reset();
  if (exited_.wait_for(grace) != std::future_status::ready) {
    SPDLOG_WARN("worker {}: operations still pending at stop; stopping the loop", index_);
    io_.stop();
  }
  thread_.join();
}

void requireIoBackend() {
#ifdef PILOTFISH_IO_URING
  struct io_uring ring;
  int rc = io_uring_queue_init(8, &ring, 0);
  if (rc < 0) {
    std::fprintf(stderr,
                 "pilotfish: io_uring is not available here (%s); use the epoll build "
                 "(configured without -DPILOTFISH_IO_URING=ON)\n",
                 std::strerror(-rc));
    std::exit(1);
  }
  io_uring_queue_exit(&ring);
#endif
}

const char* ioBackendName() {
#ifdef PILOTFISH_IO_URING
  return "io_uring";
#else
  return "epoll";
#endif
}

}  // namespace pilotfish::event
