#pragma once
// Shared by the net unit tests: an io_context with a loopback acceptor, and running it until a
// condition holds (with a deadline, never a fixed sleep).

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>

namespace pilotfish::net::testing {

class LoopbackTest : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_{
      io_, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)};

  /// Runs the io_context in 10 ms slices until `pred` holds or `deadline` passes; returns pred().
  template <class Pred>
  bool runUntil(Pred pred, std::chrono::milliseconds deadline = std::chrono::milliseconds(2000)) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!pred() && std::chrono::steady_clock::now() < end) {
      io_.restart();
      io_.run_for(std::chrono::milliseconds(10));
    }
    return pred();
  }
};

}  // namespace pilotfish::net::testing
