// net::Listener: what BindOptions do to the listening socket and to when a connection is handed
// over. Real sockets on loopback.
#include "pilotfish/net/listener.h"

#include "unit/net/loopback_fixture.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace pilotfish::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace std::chrono_literals;

// The port the listener bound to (bound to port 0), as the kernel says.
uint16_t boundPort(int listen_fd) {
  sockaddr_in sa{};
  socklen_t len = sizeof sa;
  EXPECT_EQ(::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&sa), &len), 0);
  return ntohs(sa.sin_port);
}

int deferAccept(int fd) {
  int v = -1;
  socklen_t len = sizeof v;
  EXPECT_EQ(::getsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &v, &len), 0);
  return v;
}

class ListenerTest : public testing::LoopbackTest {
 protected:
  ListenerStats stats_;
  int accepted_ = 0;
  std::optional<tcp::socket> last_;
  std::string first_bytes_;  // what was already readable when the connection was handed over

  Listener make() {
    return Listener(io_, "test", stats_, [this](tcp::socket&& s, const tcp::endpoint&) {
      ++accepted_;
      char buf[64];
      const ssize_t n = ::recv(s.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) first_bytes_.assign(buf, static_cast<size_t>(n));
      last_.emplace(std::move(s));
    });
  }

  static SocketAddress loopback() {
    return *SocketAddress::fromHostPort(*parseHostPort("127.0.0.1:0", false, nullptr, true));
  }

  tcp::socket connectTo(Listener& l) {
    port_ = boundPort(l.nativeHandle());
    tcp::socket client(io_);
    client.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    return client;
  }
  uint16_t port_ = 0;  // the last listener connectTo() used
};

TEST_F(ListenerTest, DeferAcceptHandsAConnectionOverWithItsFirstBytes) {
  Listener l = make();
  std::string why;
  ASSERT_FALSE(l.bind(loopback(), {.defer_accept = true}, &why)) << why;
  EXPECT_GT(deferAccept(l.nativeHandle()), 0);
  l.start();
  tcp::socket client = connectTo(l);
  // Connected, but nothing sent: the kernel keeps the connection until bytes come.
  io_.restart();
  io_.run_for(200ms);
  EXPECT_EQ(accepted_, 0);
  asio::write(client, asio::buffer(std::string_view("GET / HTTP/1.1\r\n")));
  ASSERT_TRUE(runUntil([&] { return accepted_ == 1; }, 2000ms));
  EXPECT_EQ(first_bytes_, "GET / HTTP/1.1\r\n");
}

TEST_F(ListenerTest, DeferAcceptStillHandsOverASilentClient) {
  // A client that never speaks is accepted after the deferral, so the listener's timeouts see it
  // instead of the kernel holding it for ever.
  Listener l = make();
  std::string why;
  ASSERT_FALSE(l.bind(loopback(), {.defer_accept = true}, &why)) << why;
  l.start();
  tcp::socket client = connectTo(l);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runUntil([&] { return accepted_ == 1; },
                       std::chrono::seconds(Listener::kDeferAcceptSeconds * 4 + 4)));
  EXPECT_TRUE(first_bytes_.empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 500ms);
}

TEST_F(ListenerTest, WithoutDeferAcceptASilentClientIsAcceptedAtOnce) {
  // Server-speaks-first protocols (tcp listeners: MySQL, SMTP) need the connection at once.
  Listener l = make();
  std::string why;
  ASSERT_FALSE(l.bind(loopback(), {}, &why)) << why;
  EXPECT_EQ(deferAccept(l.nativeHandle()), 0);
  l.start();
  tcp::socket client = connectTo(l);
  // Well under the deferral (kDeferAcceptSeconds), which a deferred socket could not beat.
  ASSERT_TRUE(runUntil([&] { return accepted_ == 1; }, 700ms));
  EXPECT_TRUE(first_bytes_.empty());
}

TEST_F(ListenerTest, StopTakesOverWhatIsQueuedInsteadOfResettingIt) {
  // Connections the kernel completed but the loop has not accepted yet would be reset by closing
  // the listening socket; stop() hands them over first (drain then answers them).
  Listener l = make();
  std::string why;
  ASSERT_FALSE(l.bind(loopback(), {}, &why)) << why;
  l.start();
  io_.restart();
  io_.poll();  // the accept loop now waits on the socket
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(connectTo(l));
    asio::write(clients.back(), asio::buffer(std::string_view("x")));
  }
  EXPECT_EQ(accepted_, 0) << "accepted without the loop running";
  l.stop();
  EXPECT_EQ(accepted_, 3);
  // The listening socket is closed: a new client is refused.
  tcp::socket late(io_);
  boost::system::error_code ec;
  late.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  EXPECT_EQ(ec, asio::error::connection_refused) << ec.message();
}

TEST_F(ListenerTest, StopBeforeStartAcceptsNothing) {
  // A listener waiting for its clusters (never started) must not serve anyone at stop().
  Listener l = make();
  std::string why;
  ASSERT_FALSE(l.bind(loopback(), {}, &why)) << why;
  tcp::socket client = connectTo(l);
  l.stop();
  EXPECT_EQ(accepted_, 0);
}

}  // namespace
}  // namespace pilotfish::net
