// io_uring build: every ring the process creates — Asio's included, through the same
// io_uring_queue_init — has IORING_SETUP_COOP_TASKRUN (src/event/asio_impl.cc, decision 0008).
// Every socket test of the io_uring build runs on such rings.
#include <gtest/gtest.h>

#ifdef PILOTFISH_IO_URING
#  include <liburing.h>
#endif

namespace {

#ifdef PILOTFISH_IO_URING

// Whether this kernel accepts the flags at all (5.19 and later).
bool kernelHasCoopTaskrun() {
  io_uring ring;
  io_uring_params p{};
  p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG;
  if (io_uring_queue_init_params(8, &ring, &p) != 0) return false;
  io_uring_queue_exit(&ring);
  return true;
}

TEST(UringSetup, RingsAreCreatedWithCooperativeTaskRun) {
  if (!kernelHasCoopTaskrun()) GTEST_SKIP() << "kernel before 5.19: rings keep Asio's flags";
  io_uring ring;
  ASSERT_EQ(io_uring_queue_init(8, &ring, 0), 0);
  EXPECT_NE(ring.flags & IORING_SETUP_COOP_TASKRUN, 0u);
  EXPECT_NE(ring.flags & IORING_SETUP_TASKRUN_FLAG, 0u);
  io_uring_queue_exit(&ring);
}

#else

TEST(UringSetup, RingsAreCreatedWithCooperativeTaskRun) {
  GTEST_SKIP() << "epoll build";
}

#endif

}  // namespace
