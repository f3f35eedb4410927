// net::close against the real backend of this build (epoll, or io_uring with
// -DPILOTFISH_IO_URING=ON): a socket closed with a read in flight must not take the bytes of a
// socket opened right after it (Asio 1.81's io_uring backend delivers them to the closed
// socket's handler after a plain close; see pilotfish/net/close.h).

#include "pilotfish/net/close.h"

#include <gtest/gtest.h>

#include "unit/net/loopback_fixture.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <string>

namespace pilotfish::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;

struct Pair {
  explicit Pair(asio::io_context& io, tcp::acceptor& acceptor) : ours(io), peer(io) {
    ours.connect(acceptor.local_endpoint());
    acceptor.accept(peer);
  }
  tcp::socket ours;
  tcp::socket peer;
};

using CloseTest = testing::LoopbackTest;

TEST_F(CloseTest, ASocketOpenedAfterACloseWithAReadInFlightGetsItsOwnBytes) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Pair a(io_, acceptor_);
    char abuf[64];
    char bbuf[64];
    int a_calls = 0;
    boost::system::error_code a_ec;
    a.ours.async_read_some(asio::buffer(abuf), [&](boost::system::error_code ec, std::size_t) {
      ++a_calls;
      a_ec = ec;
    });
    io_.restart();
    io_.poll();  // the read is in the backend now
    close(a.ours);
    Pair b(io_, acceptor_);  // registered before the cancelled read's completion is reaped
    std::size_t b_got = 0;
    int b_calls = 0;
    b.ours.async_read_some(asio::buffer(bbuf), [&](boost::system::error_code ec, std::size_t n) {
      ++b_calls;
      if (!ec) b_got = n;
    });
    asio::write(b.peer, asio::buffer("hello", 5));
    ASSERT_TRUE(runUntil([&] { return a_calls == 1 && b_calls == 1; }))
        << "a_calls=" << a_calls << " b_calls=" << b_calls;
    EXPECT_TRUE(a_ec) << "the closed socket's read succeeded (it read the new socket's bytes)";
    EXPECT_EQ(b_got, 5u);
    EXPECT_EQ(std::string(bbuf, b_got), "hello");
  }
}

TEST_F(CloseTest, GracefulCloseIsAFinAndAbortIsAnRst) {
  Pair g(io_, acceptor_);
  close(g.ours);
  char buf[8];
  boost::system::error_code ec;
  g.peer.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);

  Pair r(io_, acceptor_);
  close(r.ours, /*abort=*/true);
  r.peer.read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::connection_reset);
}

TEST_F(CloseTest, QuarantinedNumbersAreFreedAfterTheQuarantine) {
  Pair p(io_, acceptor_);
  const int number = p.ours.native_handle();
  close(p.ours);
  EXPECT_FALSE(p.ours.is_open());
  if (!closeQuarantines()) {
    EXPECT_EQ(quarantined(io_), 0u);
    return;
  }
  EXPECT_EQ(quarantined(io_), 1u);
  // The number is held by a placeholder, not free for the next socket.
  tcp::socket next(io_, tcp::v4());
  EXPECT_NE(next.native_handle(), number);
  EXPECT_TRUE(runUntil([&] { return quarantined(io_) == 0; }, kQuarantine * 10));
}

TEST_F(CloseTest, ClosingAClosedObjectDoesNothing) {
  tcp::socket s(io_);
  close(s);
  close(acceptor_);
  EXPECT_FALSE(acceptor_.is_open());
  close(acceptor_);
}

}  // namespace
}  // namespace pilotfish::net
