// net::RecvOp and net::recvSome against the real backend of this build (epoll, or io_uring with
// -DPILOTFISH_IO_URING=ON). In the epoll build RecvOp tells the reactor that a socket is drained
// when the kernel's TCP_INQ answer says nothing is left; these tests pin what must hold for that
// not to lose a read: a FIN queued behind the data is still read, a drained socket completes on
// its next edge, only the newest start() is delivered, and `keep` lives until the callback ran.
//
// Several tests first let the reactor take in every readiness edge already queued (settle()), so
// that no edge is left to rescue a read that was wrongly marked drained.

#include "pilotfish/net/recv.h"

#include "pilotfish/net/close.h"

#include <gtest/gtest.h>

#include "unit/net/loopback_fixture.h"

#include <poll.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace pilotfish::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
constexpr bool kEpoll = true;
#else
constexpr bool kEpoll = false;
#endif

// A loopback connection: `ours` is read through RecvOp (non-blocking, as sessions set it),
// `peer` is the other end, used with plain blocking calls.
struct Pair {
  Pair(asio::io_context& io, tcp::acceptor& acceptor, bool inq = true) : ours(io), peer(io) {
    ours.connect(acceptor.local_endpoint());
    acceptor.accept(peer);
    ours.non_blocking(true);
    if (inq) enableInq(ours);
  }
  void send(const std::string& s) { asio::write(peer, asio::buffer(s)); }
  tcp::socket ours;
  tcp::socket peer;
};

// What a RecvOp callback was called with.
struct Calls {
  int count = 0;
  boost::system::error_code ec;
  std::size_t n = 0;
  bool more = false;

  static void record(void* ctx, const boost::system::error_code& ec, std::size_t n, bool more) {
    auto& c = *static_cast<Calls*>(ctx);
    ++c.count;
    c.ec = ec;
    c.n = n;
    c.more = more;
  }
};

// True once the kernel has queued the peer's FIN on `s` (the bytes before it are queued too).
bool finQueued(tcp::socket& s) {
  pollfd p{s.native_handle(), POLLRDHUP, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLRDHUP) != 0;
}

char pattern(std::size_t i) {
  return static_cast<char>(i % 251);  // 251 is prime: no 4 KiB chunk repeats another
}

class RecvTest : public testing::LoopbackTest {
 protected:
  void runFor(milliseconds d) {
    const auto end = Clock::now() + d;
    while (Clock::now() < end) {
      io_.restart();
      io_.run_until(end);
    }
  }

  // True once the io_context runs out of work (every operation started has been completed or
  // dropped exactly once), within `deadline` (the io_uring build's close() keeps a timer).
  bool runsOutOfWork(milliseconds deadline = milliseconds(2000)) {
    io_.restart();
    io_.run_for(deadline);
    return io_.stopped();
  }

  // Waits, without running the io_context (so that the reactor takes in no edge), until `pred`:
  // a condition on the kernel's state only.
  template <class Pred>
  static bool waitKernel(Pred pred, milliseconds deadline = milliseconds(2000)) {
    const auto end = Clock::now() + deadline;
    while (!pred()) {
      if (Clock::now() >= end) return false;
      std::this_thread::sleep_for(milliseconds(1));
    }
    return true;
  }

  // Lets the reactor take in every readiness edge the kernel has already raised, with nothing
  // queued on the sockets: afterwards no edge is left that could complete a queued read.
  void settle() {
    auto work = asio::make_work_guard(io_);
    for (int i = 0; i < 3; ++i) {
      io_.restart();
      io_.poll();
    }
  }
};

TEST_F(RecvTest, DataThenFinQueuedTogether) {
  Pair p(io_, acceptor_);
  p.send("abc");
  p.peer.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(waitKernel([&] { return finQueued(p.ours); }));
  settle();  // the edges of the data and the FIN are used up: none will come for the FIN

  RecvOp op;
  Calls calls;
  char buf[16];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  EXPECT_EQ(calls.count, 0) << "the callback ran inside start()";
  EXPECT_TRUE(op.pending());
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  EXPECT_FALSE(calls.ec) << calls.ec.message();
  ASSERT_EQ(calls.n, 3u);
  EXPECT_EQ(std::string(buf, 3), "abc");
#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
  EXPECT_TRUE(calls.more) << "the kernel counts the queued FIN as a byte left";
#endif
  EXPECT_FALSE(op.pending());

  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 2; }))
      << "the FIN queued behind the data was never read (the socket was taken as drained)";
  EXPECT_EQ(calls.ec, asio::error::eof) << calls.ec.message();
  EXPECT_EQ(calls.n, 0u);
  EXPECT_FALSE(calls.more);
  EXPECT_FALSE(op.pending());
}

TEST_F(RecvTest, DrainedSocketWaitsForTheNextEdge) {
  Pair p(io_, acceptor_);
  p.send("x");
  ASSERT_TRUE(waitKernel([&] { return p.ours.available() == 1; }));
  settle();

  RecvOp op;
  Calls calls;
  char buf[16];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  EXPECT_FALSE(calls.ec) << calls.ec.message();
  ASSERT_EQ(calls.n, 1u);
  EXPECT_EQ(buf[0], 'x');
  EXPECT_FALSE(calls.more) << "nothing was left after the byte";

  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  runFor(milliseconds(100));  // the peer is silent
  EXPECT_EQ(calls.count, 1) << "completed with nothing to read: " << calls.ec.message();
  EXPECT_TRUE(op.pending());

  p.send("yz");
  ASSERT_TRUE(runUntil([&] { return calls.count == 2; })) << "the next edge was lost";
  EXPECT_FALSE(calls.ec) << calls.ec.message();
  ASSERT_EQ(calls.n, 2u);
  EXPECT_EQ(std::string(buf, 2), "yz");
  EXPECT_FALSE(calls.more);
  EXPECT_FALSE(op.pending());
}

#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
// The point of RecvOp (decision 0007): after a read that the kernel said drained the socket, the
// next receive is queued without a read being tried, even though bytes are queued by then; the
// edge those bytes raised completes it. A receive that was tried would have filled the buffer
// inside start().
TEST_F(RecvTest, DrainedSocketIsNotTriedAtStart) {
  Pair p(io_, acceptor_);
  p.send("x");
  ASSERT_TRUE(waitKernel([&] { return p.ours.available() == 1; }));
  settle();

  RecvOp op;
  Calls calls;
  char buf[16];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  ASSERT_EQ(calls.n, 1u);
  ASSERT_FALSE(calls.more);

  p.send("yz");
  ASSERT_TRUE(waitKernel([&] { return p.ours.available() == 2; }));
  std::memset(buf, 0, sizeof buf);
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  EXPECT_EQ(buf[0], '\0') << "the receive was tried at once on a socket the kernel said drained";
  EXPECT_EQ(p.ours.available(), 2u);
  ASSERT_TRUE(runUntil([&] { return calls.count == 2; })) << "the edge did not complete it";
  ASSERT_EQ(calls.n, 2u);
  EXPECT_EQ(std::string(buf, 2), "yz");
}
#endif

TEST_F(RecvTest, MoreWhenBytesRemain) {
  constexpr std::size_t kTotal = 64 * 1024;
  Pair p(io_, acceptor_);
  std::vector<char> sent(kTotal);
  for (std::size_t i = 0; i < kTotal; ++i) sent[i] = pattern(i);
  // Asynchronous, so that a receive window smaller than 64 KiB cannot block the test.
  p.peer.non_blocking(true);
  bool written = false;
  asio::async_write(p.peer, asio::buffer(sent), [&](boost::system::error_code ec, std::size_t) {
    EXPECT_FALSE(ec) << ec.message();
    written = true;
  });
  ASSERT_TRUE(runUntil([&] { return written && p.ours.available() > 4096; }));

  RecvOp op;
  Calls calls;
  std::vector<char> buf(4096);
  op.start(p.ours, buf.data(), buf.size(), nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  EXPECT_FALSE(calls.ec) << calls.ec.message();
  ASSERT_EQ(calls.n, 4096u);
  EXPECT_TRUE(calls.more) << "bytes were left after the read";
  ASSERT_EQ(std::memcmp(buf.data(), sent.data(), 4096), 0);

  // The rest, read directly. Until every byte has arrived a would_block only means "not yet".
  std::size_t got = 4096;
  bool last_more = true;
  std::vector<char> chunk(5000);  // not a divisor of 64 KiB: the last read is a short one
  const auto end = Clock::now() + milliseconds(2000);
  while (got < kTotal) {
    boost::system::error_code ec;
    bool more = true;
    const std::size_t n = recvSome(p.ours, chunk.data(), chunk.size(), ec, more);
    if (ec == asio::error::would_block) {
      EXPECT_EQ(n, 0u);
      EXPECT_FALSE(more);
      ASSERT_LT(Clock::now(), end) << "only " << got << " bytes arrived";
      io_.restart();
      io_.run_for(milliseconds(5));
      continue;
    }
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_GT(n, 0u);
    ASSERT_LE(got + n, kTotal);
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(chunk[i], sent[got + i]) << "byte " << got + i;
    }
    got += n;
    last_more = more;
  }
  if (kEpoll) {
    EXPECT_FALSE(last_more) << "the kernel said bytes were left after the last one";
  }

  boost::system::error_code ec;
  bool more = true;
  EXPECT_EQ(recvSome(p.ours, chunk.data(), chunk.size(), ec, more), 0u);
  EXPECT_EQ(ec, asio::error::would_block) << ec.message();
  EXPECT_FALSE(more);
}

// Documented for both: "or could not say and the read filled the buffer".
TEST_F(RecvTest, WithoutInqMoreMeansTheBufferFilled) {
  Pair p(io_, acceptor_, /*inq=*/false);
  p.send("0123456789ab");
  ASSERT_TRUE(waitKernel([&] { return p.ours.available() == 12; }));

  RecvOp op;
  Calls calls;
  char buf[8];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  EXPECT_FALSE(calls.ec) << calls.ec.message();
  ASSERT_EQ(calls.n, 8u);
  EXPECT_EQ(std::string(buf, 8), "01234567");
  EXPECT_TRUE(calls.more);

  boost::system::error_code ec;
  bool more = true;
  ASSERT_EQ(recvSome(p.ours, buf, sizeof buf, ec, more), 4u);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(std::string(buf, 4), "89ab");
  EXPECT_FALSE(more);
}

// recv.h: without TCP_INQ (or its answer) RecvOp never reports the socket drained, so it reads
// a FIN queued behind the data, as async_read_some does.
TEST_F(RecvTest, WithoutInqDataThenFinQueuedTogether) {
  Pair p(io_, acceptor_, /*inq=*/false);
  p.send("abc");
  p.peer.shutdown(tcp::socket::shutdown_send);
  ASSERT_TRUE(waitKernel([&] { return finQueued(p.ours); }));
  settle();

  RecvOp op;
  Calls calls;
  char buf[16];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  ASSERT_EQ(calls.n, 3u);
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 2; }))
      << "the FIN queued behind the data was never read (the socket was taken as drained)";
  EXPECT_EQ(calls.ec, asio::error::eof) << calls.ec.message();
}

TEST_F(RecvTest, NewerStartDropsTheOlderCompletion) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    RecvOp op;
    Calls calls;
    char abuf[16];
    char bbuf[16];
    Pair a(io_, acceptor_);
    auto a_keep = std::make_shared<int>(0);
    std::weak_ptr<int> a_alive = a_keep;
    op.start(a.ours, abuf, sizeof abuf, std::move(a_keep), &Calls::record, &calls);
    io_.restart();
    io_.poll();  // the receive is queued in the backend now
    ASSERT_EQ(calls.count, 0);
    close(a.ours);  // its cancellation is queued, not yet delivered

    Pair b(io_, acceptor_);  // may get A's descriptor number
    b.send("b");
    op.start(b.ours, bbuf, sizeof bbuf, nullptr, &Calls::record, &calls);
    EXPECT_TRUE(op.pending());
    // A's keep is released when its dropped completion has been handled.
    ASSERT_TRUE(runUntil([&] { return calls.count >= 1 && a_alive.expired(); }))
        << "calls=" << calls.count << " a's keep released=" << a_alive.expired();
    io_.restart();
    io_.poll();
    EXPECT_EQ(calls.count, 1) << "the older receive's completion was delivered too";
    EXPECT_FALSE(calls.ec) << "delivered: " << calls.ec.message();
    ASSERT_EQ(calls.n, 1u);
    EXPECT_EQ(bbuf[0], 'b');
    EXPECT_FALSE(op.pending());
    EXPECT_TRUE(runsOutOfWork()) << "a receive is still counted as outstanding work";
  }
}

// The owner of a RecvOp (a session) is kept alive by `keep` alone.
struct Owner {
  RecvOp recv;
  char buf[16];
};

struct OwnerCalls {
  Calls calls;
  std::weak_ptr<Owner> owner;
  bool owner_alive_in_callback = false;
  std::string data;

  static void record(void* ctx, const boost::system::error_code& ec, std::size_t n, bool more) {
    auto& c = *static_cast<OwnerCalls*>(ctx);
    Calls::record(&c.calls, ec, n, more);
    auto owner = c.owner.lock();
    c.owner_alive_in_callback = owner != nullptr;
    if (owner) c.data.assign(owner->buf, n);
  }
};

TEST_F(RecvTest, KeepHoldsTheOwner) {
  {
    SCOPED_TRACE("completed with data");
    Pair p(io_, acceptor_);
    OwnerCalls seen;
    auto owner = std::make_shared<Owner>();
    seen.owner = owner;
    owner->recv.start(p.ours, owner->buf, sizeof owner->buf, owner, &OwnerCalls::record, &seen);
    owner.reset();  // keep holds the only reference
    runFor(milliseconds(50));
    EXPECT_EQ(seen.calls.count, 0);
    EXPECT_FALSE(seen.owner.expired()) << "keep was released before the callback ran";

    p.send("k");
    ASSERT_TRUE(runUntil([&] { return seen.calls.count == 1; }));
    EXPECT_TRUE(seen.owner_alive_in_callback);
    EXPECT_FALSE(seen.calls.ec) << seen.calls.ec.message();
    EXPECT_EQ(seen.data, "k");
    // Released right after the callback: it destroyed the owner and its RecvOp.
    EXPECT_TRUE(seen.owner.expired()) << "keep is still held after the callback ran";
  }
  {
    SCOPED_TRACE("closed with the read pending");
    Pair p(io_, acceptor_);
    OwnerCalls seen;
    auto owner = std::make_shared<Owner>();
    seen.owner = owner;
    owner->recv.start(p.ours, owner->buf, sizeof owner->buf, owner, &OwnerCalls::record, &seen);
    owner.reset();
    io_.restart();
    io_.poll();  // the receive is queued in the backend now
    ASSERT_EQ(seen.calls.count, 0);
    close(p.ours);
    ASSERT_TRUE(runUntil([&] { return seen.calls.count == 1 && seen.owner.expired(); }))
        << "calls=" << seen.calls.count << " keep released=" << seen.owner.expired();
    EXPECT_TRUE(seen.owner_alive_in_callback);
    EXPECT_EQ(seen.calls.ec, asio::error::operation_aborted) << seen.calls.ec.message();
    EXPECT_EQ(seen.calls.n, 0u);
  }
}

TEST_F(RecvTest, ErrorsPeerResetWhileReadPending) {
  Pair p(io_, acceptor_);
  RecvOp op;
  Calls calls;
  char buf[16];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  io_.restart();
  io_.poll();
  ASSERT_EQ(calls.count, 0);
  p.peer.set_option(asio::socket_base::linger(true, 0));
  p.peer.close();  // an RST
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; })) << "the reset never completed the read";
  EXPECT_TRUE(calls.ec == asio::error::connection_reset || calls.ec == asio::error::eof)
      << calls.ec.message();
  EXPECT_EQ(calls.n, 0u);
  EXPECT_FALSE(calls.more);
  EXPECT_FALSE(op.pending());
}

bool errorQueued(tcp::socket& s) {
  pollfd p{s.native_handle(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)) != 0;
}

// An RST that arrives with the data is not counted by TCP_INQ (only a FIN is): RecvOp must not
// take the short read as having drained the socket, or the reset would never be read — no edge
// comes after it. Here epoll reports data and reset together while no receive is queued.
TEST_F(RecvTest, DataThenResetSeenByEpollBeforeTheRead) {
  Pair p(io_, acceptor_);
  p.send("abc");
  p.peer.set_option(asio::socket_base::linger(true, 0));
  p.peer.close();  // an RST behind the data
  ASSERT_TRUE(waitKernel([&] { return errorQueued(p.ours); }));
  settle();  // epoll's edge (data + reset) is used up with nothing queued

  RecvOp op;
  Calls calls;
  char buf[16];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  ASSERT_EQ(calls.n, 3u) << calls.ec.message();
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 2; }))
      << "the reset queued behind the data was never read (the socket was taken as drained)";
  EXPECT_EQ(calls.ec, asio::error::connection_reset) << calls.ec.message();
}

// The same with the receive already queued when epoll reports data and reset in one event.
TEST_F(RecvTest, DataThenResetInOneEventForAQueuedRead) {
  Pair p(io_, acceptor_);
  RecvOp op;
  Calls calls;
  char buf[16];
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  io_.restart();
  io_.poll();  // queued in the reactor
  ASSERT_EQ(calls.count, 0);
  p.send("abc");
  p.peer.set_option(asio::socket_base::linger(true, 0));
  p.peer.close();
  ASSERT_TRUE(waitKernel([&] { return errorQueued(p.ours); }));
  ASSERT_TRUE(runUntil([&] { return calls.count == 1; }));
  ASSERT_EQ(calls.n, 3u) << calls.ec.message();
  op.start(p.ours, buf, sizeof buf, nullptr, &Calls::record, &calls);
  ASSERT_TRUE(runUntil([&] { return calls.count == 2; }))
      << "the reset that came with the data was never read";
  EXPECT_EQ(calls.ec, asio::error::connection_reset) << calls.ec.message();
}

}  // namespace
}  // namespace pilotfish::net
