// Boost.Asio is built once here (BOOST_ASIO_SEPARATE_COMPILATION) instead of in every
// translation unit that includes it: a large part of the project's compile time otherwise.
#include <boost/asio/impl/src.hpp>

// io_uring build: the flags every ring of this process is set up with (decision 0008).
//
// Boost 1.81's Asio creates its rings with io_uring_queue_init(entries, ring, 0) and offers no
// way to pass setup flags. With flags 0 the kernel runs a completed poll's retry (the recv that
// io_uring issues once a socket became readable) as task work signalled to the worker at once:
// an IPI that interrupts whatever the worker is doing, typically while the waker (the softirq
// delivering the segment, on another CPU) still holds that socket's lock. perf showed the worker
// spending 45 % of its time spinning on the socket lock in that retry. IORING_SETUP_COOP_TASKRUN
// lets the task work wait for the worker's next entry into the kernel instead, and
// IORING_SETUP_TASKRUN_FLAG makes liburing enter the kernel when task work is pending even when
// it only peeks for completions, so nothing waits longer than the next turn of the loop.
//
// So this file, which holds Asio's compiled code and with it Asio's call, also defines
// io_uring_queue_init: calls to it (Asio's, the start-up probe's) bind to this definition in the
// executable before liburing's, and it creates the ring through io_uring_queue_init_params.
// Kernels before 5.19 reject the flags with EINVAL; the ring is then created as Asio would have.
#ifdef PILOTFISH_IO_URING

#include <liburing.h>

#include <cerrno>

extern "C" int io_uring_queue_init(unsigned entries, struct io_uring* ring, unsigned flags) {
  io_uring_params p{};
  p.flags = flags | IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  int rc = io_uring_queue_init_params(entries, ring, &p);
  if (rc == -EINVAL) {
    p = io_uring_params{};
    p.flags = flags;
    rc = io_uring_queue_init_params(entries, ring, &p);
  }
  return rc;
}

#endif
