#include "pilotfish/event/worker.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#ifdef PILOTFISH_IO_URING
#include <liburing.h>
#endif

namespace pilotfish::event {

Worker::Worker(unsigned index) : index_(index), io_(1) {}

Worker::~Worker() { stop(); }

void Worker::start() {
  guard_.emplace(io_.get_executor());
  thread_ = std::thread([this] {
    std::string name = "pf-worker-" + std::to_string(index_);
    pthread_setname_np(pthread_self(), name.c_str());
    io_.run();
  });
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  guard_.reset();
  io_.stop();
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
