#include "pilotfish/dns/resolver.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/posix/stream_descriptor.hpp>

namespace pilotfish::dns {

namespace asio = boost::asio;

// A socket c-ares opened. c-ares owns `fd` and closes it right after reporting it unwatched;
// Asio waits on a duplicate of it (`descriptor`, same open socket) that we own and close only
// once no wait is in flight. Two reasons: c-ares's number may be reused by its next socket at
// once, and Asio's io_uring backend frees the state of a released or closed descriptor while
// the kernel still holds its cancelled poll, so the next descriptor registered (the new c-ares
// socket) would receive that poll's completion and lose its own wait (queries that hung).
struct Resolver::Socket {
  Socket(asio::io_context& io, int ares_fd, int own_fd) : descriptor(io, own_fd), fd(ares_fd) {}
  asio::posix::stream_descriptor descriptor;
  int fd;  // c-ares's number, what ares_process_fd is told
  bool want_read = false;
  bool want_write = false;
  bool reading = false;
  bool writing = false;
  bool gone = false;  // c-ares closed it (or is about to)

  /// c-ares is done with the socket: stop waiting, and close our duplicate as soon as no wait
  /// is in flight (now, or when the last cancelled wait completes).
  void retire() {
    gone = true;
    boost::system::error_code ec;
    descriptor.cancel(ec);
    closeIfIdle();
  }
  void closeIfIdle() {
    if (!gone || reading || writing || !descriptor.is_open()) return;
    boost::system::error_code ec;
    descriptor.close(ec);
  }
};

// What a query's c-ares callback needs; freed by that callback, which c-ares always calls (with
// ARES_EDESTRUCTION from ares_destroy at the latest).
struct Resolver::Pending {
  Resolver* owner;
  Callback done;
};

struct Resolver::PendingHost {
  Resolver* owner;
  HostCallback done;
};

namespace {
constexpr int kClassIn = 1;

void initLibrary() {
  // Only needed on Windows, but documented as required; done once per process.
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  (void)status;
}
}  // namespace

Resolver::Resolver(asio::io_context& io) : io_(io), timer_(io) {}

Resolver::~Resolver() {
  destroyChannel();
}

std::shared_ptr<Resolver> Resolver::create(asio::io_context& io, const Options& options,
                                           std::string* error) {
  initLibrary();
  std::shared_ptr<Resolver> self(new Resolver(io));
  ares_options opts{};
  opts.timeout = static_cast<int>(std::max<int64_t>(options.timeout.count(), 1));
  opts.tries = std::max(options.tries, 1);
  opts.sock_state_cb = &Resolver::onSocketState;
  opts.sock_state_cb_data = self.get();
  const int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
  if (int rc = ares_init_options(&self->channel_, &opts, mask); rc != ARES_SUCCESS) {
    self->channel_ = nullptr;
    if (error != nullptr) *error = std::string("c-ares init failed: ") + ares_strerror(rc);
    return nullptr;
  }
  if (!options.servers.empty()) {
    std::string csv;
    for (const auto& s : options.servers) {
      if (!s.isIp()) {
        if (error != nullptr) *error = "name server " + s.toString() + " is not an IP address";
        return nullptr;
      }
      if (!csv.empty()) csv += ',';
      csv += s.toString();
    }
    if (int rc = ares_set_servers_ports_csv(self->channel_, csv.c_str()); rc != ARES_SUCCESS) {
      if (error != nullptr) *error = "name servers " + csv + ": " + ares_strerror(rc);
      return nullptr;
    }
  }
  return self;
}

void Resolver::query(const std::string& name, uint16_t type, bool search, Callback done) {
  if (closed_ || channel_ == nullptr) return;
  auto* pending = new Pending{this, std::move(done)};
  if (search) {
    ares_search(channel_, name.c_str(), kClassIn, type, &Resolver::onAnswer, pending);
  } else {
    ares_query(channel_, name.c_str(), kClassIn, type, &Resolver::onAnswer, pending);
  }
  armTimer();
}

void Resolver::onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(arg));
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
  if (pending->owner->closed_) return;
  std::span<const uint8_t> answer;
  if (abuf != nullptr && alen > 0) answer = {abuf, static_cast<std::size_t>(alen)};
  pending->done(status, answer);
}

void Resolver::resolveHost(const std::string& name, uint16_t port, HostCallback done) {
  if (closed_ || channel_ == nullptr) return;
  auto* pending = new PendingHost{this, std::move(done)};
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  // NOSORT: c-ares's RFC 6724 sort connects a UDP socket per address, synchronously.
  hints.ai_flags = ARES_AI_NUMERICSERV | ARES_AI_NOSORT;
  const std::string service = std::to_string(port);
  ares_getaddrinfo(channel_, name.c_str(), service.c_str(), &hints, &Resolver::onHost, pending);
  armTimer();
}

void Resolver::onHost(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
  std::unique_ptr<PendingHost> pending(static_cast<PendingHost*>(arg));
  std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> owned(info, &ares_freeaddrinfo);
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
  if (pending->owner->closed_) return;
  std::vector<net::SocketAddress> addresses;
  int ttl = -1;
  if (status == ARES_SUCCESS && info != nullptr) {
    for (const ares_addrinfo_node* n = info->nodes; n != nullptr; n = n->ai_next) {
      if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) || n->ai_addr == nullptr ||
          n->ai_addrlen > sizeof(sockaddr_storage)) {
        continue;
      }
      net::SocketAddress a;
      std::memcpy(&a.storage, n->ai_addr, n->ai_addrlen);
      a.length = n->ai_addrlen;
      if (std::find(addresses.begin(), addresses.end(), a) != addresses.end()) continue;
      addresses.push_back(a);
      ttl = ttl < 0 ? n->ai_ttl : std::min(ttl, n->ai_ttl);
    }
    if (addresses.empty()) status = ARES_ENODATA;
  }
  pending->done(status, std::move(addresses), std::chrono::seconds(std::max(ttl, 0)));
}

void Resolver::onSocketState(void* data, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<Resolver*>(data);
  auto it = self->sockets_.find(fd);
  if (!readable && !writable) {
    // c-ares closes its descriptor right after this returns (the number may be reused at once
    // by the next socket); our duplicate goes when its waits have completed.
    if (it == self->sockets_.end()) return;
    auto socket = it->second;
    self->sockets_.erase(it);
    socket->retire();
    return;
  }
  if (it == self->sockets_.end()) {
    const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) {
      // Out of descriptors: the socket is not watched, and c-ares's own timeout (the timer)
      // fails or retries the query.
      return;
    }
    it = self->sockets_.emplace(fd, std::make_shared<Socket>(self->io_, fd, own)).first;
  }
  it->second->want_read = readable != 0;
  it->second->want_write = writable != 0;
  self->arm(it->second);
}

void Resolver::arm(const std::shared_ptr<Socket>& socket) {
  if (socket->want_read && !socket->reading) await(socket, false);
  if (socket->want_write && !socket->writing) await(socket, true);
}

void Resolver::await(const std::shared_ptr<Socket>& socket, bool write) {
  (write ? socket->writing : socket->reading) = true;
  const auto what = write ? asio::posix::stream_descriptor::wait_write
                          : asio::posix::stream_descriptor::wait_read;
  // The handler holds the resolver and the socket: both outlive every wait in flight.
  socket->descriptor.async_wait(
      what, [self = shared_from_this(), socket, write](boost::system::error_code ec) {
        (write ? socket->writing : socket->reading) = false;
        if (ec || socket->gone || self->closed_) {
          socket->closeIfIdle();
          return;
        }
        self->process(write ? ARES_SOCKET_BAD : socket->fd, write ? socket->fd : ARES_SOCKET_BAD);
        if (!socket->gone && !self->closed_) self->arm(socket);
      });
}

void Resolver::process(int read_fd, int write_fd) {
  ++depth_;
  ares_process_fd(channel_, read_fd, write_fd);
  --depth_;
  // close() inside a callback only marked us closed: c-ares cannot be destroyed from within
  // ares_process_fd.
  if (closed_) {
    if (depth_ == 0) destroyChannel();
    return;
  }
  armTimer();
}

void Resolver::armTimer() {
  if (closed_ || channel_ == nullptr) return;
  timeval tv{};
  if (ares_timeout(channel_, nullptr, &tv) == nullptr) {
    timer_.cancel();
    return;
  }
  // Rounded up: firing early would only make ares_process_fd find nothing due and re-arm.
  const auto delay =
      std::chrono::milliseconds(int64_t{tv.tv_sec} * 1000 + (tv.tv_usec + 999) / 1000);
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return;
    self->process(ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  });
}

void Resolver::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  if (depth_ == 0) destroyChannel();
}

void Resolver::destroyChannel() {
  if (channel_ != nullptr) {
    // Runs every pending query's callback with ARES_EDESTRUCTION and reports every socket
    // closed (onSocketState releases them).
    closed_ = true;
    ares_destroy(channel_);
    channel_ = nullptr;
  }
  for (auto& [fd, socket] : sockets_) socket->retire();
  sockets_.clear();
}

}  // namespace pilotfish::dns
