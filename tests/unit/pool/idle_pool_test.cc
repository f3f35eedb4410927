#include "pilotfish/pool/idle_pool.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/write.hpp>

#include <cstring>

namespace pilotfish::pool {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// A loopback listener; connect() returns our end and keeps the server end for the test.
struct Upstream {
  asio::io_context& io;
  tcp::acceptor acceptor{io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)};
  std::vector<tcp::socket> server_ends;

  net::SocketAddress address() const {
    net::SocketAddress a;
    auto ep = acceptor.local_endpoint();
    std::memcpy(&a.storage, ep.data(), ep.size());
    a.length = static_cast<socklen_t>(ep.size());
    return a;
  }
  PooledConnection connect() {
    tcp::socket c(io);
    c.connect(acceptor.local_endpoint());
    server_ends.push_back(acceptor.accept());
    return PooledConnection{std::move(c), 1};
  }
};

TEST(IdlePool, ReusesMostRecentAndCounts) {
  asio::io_context io;
  PoolStats stats;
  IdlePool pool(io, PoolConfig{}, stats);
  Upstream up{io};
  auto key = up.address();
  EXPECT_FALSE(pool.acquire(key).has_value());
  auto a = up.connect();
  auto b = up.connect();
  auto b_port = b.socket.local_endpoint().port();
  pool.release(key, std::move(a));
  pool.release(key, std::move(b));
  EXPECT_EQ(stats.idle.value(), 2);
  auto got = pool.acquire(key);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->socket.local_endpoint().port(), b_port);
  EXPECT_EQ(stats.reused.value(), 1u);
  EXPECT_EQ(stats.idle.value(), 1);
}

TEST(IdlePool, ClosedByUpstreamIsNotReused) {
  asio::io_context io;
  PoolStats stats;
  IdlePool pool(io, PoolConfig{}, stats);
  Upstream up{io};
  auto key = up.address();
  pool.release(key, up.connect());
  up.server_ends[0].close();  // upstream closes while idle
  // The FIN arrives asynchronously on loopback, but before close() returns in practice; poll.
  std::optional<PooledConnection> got;
  for (int i = 0; i < 100; ++i) {
    pool.release(key, up.connect());
    up.server_ends.back().close();
    got = pool.acquire(key);
    if (!got) break;
  }
  EXPECT_FALSE(got.has_value());
  EXPECT_GE(stats.stale.value(), 1u);
  EXPECT_EQ(stats.idle.value(), 0);
}

TEST(IdlePool, UnsolicitedBytesMakeItUnusable) {
  asio::io_context io;
  PoolStats stats;
  IdlePool pool(io, PoolConfig{}, stats);
  Upstream up{io};
  auto key = up.address();
  pool.release(key, up.connect());
  asio::write(up.server_ends[0], asio::buffer("HTTP/1.1 408 Request Timeout\r\n\r\n", 33));
  std::optional<PooledConnection> got;
  for (int i = 0; i < 200 && stats.stale.value() == 0; ++i) {
    got = pool.acquire(key);
    if (got) pool.release(key, std::move(*got));
  }
  EXPECT_EQ(stats.stale.value(), 1u);
}

TEST(IdlePool, LimitsAndMaxRequests) {
  asio::io_context io;
  PoolStats stats;
  IdlePool pool(io, PoolConfig{2, std::chrono::milliseconds(60000), 3}, stats);
  Upstream up{io};
  auto key = up.address();
  pool.release(key, up.connect());
  pool.release(key, up.connect());
  pool.release(key, up.connect());
  EXPECT_EQ(pool.idleCount(), 2u);
  EXPECT_EQ(stats.overflow.value(), 1u);
  auto c = pool.acquire(key);
  c->requests = 3;  // reached max_requests_per_connection
  pool.release(key, std::move(*c));
  EXPECT_EQ(pool.idleCount(), 1u);
}

TEST(IdlePool, IdleTimeoutSweeps) {
  asio::io_context io;
  PoolStats stats;
  IdlePool pool(io, PoolConfig{8, std::chrono::milliseconds(100), 0}, stats);
  Upstream up{io};
  pool.release(up.address(), up.connect());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pool.idleCount() > 0 && std::chrono::steady_clock::now() < deadline) {
    io.run_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(pool.idleCount(), 0u);
  EXPECT_EQ(stats.expired.value(), 1u);
}

TEST(IdlePool, DropAndClear) {
  asio::io_context io;
  PoolStats stats;
  IdlePool pool(io, PoolConfig{}, stats);
  Upstream up1{io}, up2{io};
  pool.release(up1.address(), up1.connect());
  pool.release(up2.address(), up2.connect());
  pool.drop(up1.address());
  EXPECT_FALSE(pool.acquire(up1.address()).has_value());
  EXPECT_EQ(pool.idleCount(), 1u);
  pool.clear();
  EXPECT_EQ(pool.idleCount(), 0u);
  EXPECT_EQ(stats.idle.value(), 0);
}

}  // namespace
}  // namespace pilotfish::pool
