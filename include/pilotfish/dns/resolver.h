#pragma once
// One c-ares channel driven by an Asio io_context: c-ares reports the sockets it wants watched
// (sock_state_cb), Asio waits for readiness on them (posix::stream_descriptor::async_wait
// on a duplicate of each descriptor) and a steady_timer fires at ares_timeout(). No extra thread:
// every c-ares callback runs inside ares_process_fd on the io_context's thread.
// Used on the thread that runs `io` only: the control thread (DNS discovery) or one worker
// (dynamic_host clusters: one resolver per worker).

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <ares.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "pilotfish/net/address.h"
#include "pilotfish/net/socket_address.h"

namespace pilotfish::dns {

class Resolver : public std::enable_shared_from_this<Resolver> {
 public:
  /// `status` is a c-ares status (ARES_SUCCESS, ARES_ENOTFOUND, ARES_ESERVFAIL, ...); `answer`
  /// is the raw response when one arrived (also for NXDOMAIN/NODATA), else empty.
  using Callback = std::function<void(int status, std::span<const uint8_t> answer)>;

  /// Addresses of a host name (A and AAAA, or the hosts file), with the port set, and the
  /// smallest TTL among them (0 for hosts-file answers). `status` as above.
  using HostCallback = std::function<void(int status, std::vector<net::SocketAddress> addresses,
                                          std::chrono::seconds ttl)>;

  struct Options {
    std::vector<net::HostPort> servers;       ///< IP literals; empty = /etc/resolv.conf
    std::chrono::milliseconds timeout{2000};  ///< per try
    int tries = 2;                            ///< per server
  };

  /// nullptr with `*error` set when c-ares cannot be initialised or a server is unusable.
  static std::shared_ptr<Resolver> create(boost::asio::io_context& io, const Options& options,
                                          std::string* error);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// Sends a query of class IN. `search`: apply resolv.conf's search list and ndots (as
  /// ares_search does); else the name is absolute. `done` runs exactly once unless close() is
  /// called first, possibly before query() returns (an immediate failure).
  void query(const std::string& name, uint16_t type, bool search, Callback done);
  /// Resolves `name` as getaddrinfo would (resolv.conf search list and ndots), without
  /// blocking: the hosts file first, then A and AAAA queries. Same callback rules as query().
  void resolveHost(const std::string& name, uint16_t port, HostCallback done);
  /// Cancels everything: no callback runs after this. Safe inside a callback.
  void close();

 private:
  struct Socket;
  struct Pending;
  struct PendingHost;
  explicit Resolver(boost::asio::io_context& io);
  static void onSocketState(void* data, ares_socket_t fd, int readable, int writable);
  static void onAnswer(void* arg, int status, int timeouts, unsigned char* abuf, int alen);
  static void onHost(void* arg, int status, int timeouts, ares_addrinfo* info);
  void arm(const std::shared_ptr<Socket>& socket);
  void await(const std::shared_ptr<Socket>& socket, bool write);
  void process(int read_fd, int write_fd);
  void armTimer();
  void destroyChannel();

  boost::asio::io_context& io_;
  ares_channel channel_ = nullptr;
  boost::asio::steady_timer timer_;
  std::map<int, std::shared_ptr<Socket>> sockets_;
  int depth_ = 0;  // > 0 while inside ares_process_fd
  bool closed_ = false;
};

}  // namespace pilotfish::dns
