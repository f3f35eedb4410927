#include "discovery/dns_resolver.h"

#include <algorithm>

#include <boost/asio/posix/stream_descriptor.hpp>

namespace pilotfish::discovery {

namespace asio = boost::asio;

// A socket c-ares opened. The descriptor belongs to c-ares: it is released, never closed, by us.
struct DnsResolver::Socket {
  explicit Socket(asio::io_context& io, int fd) : descriptor(io, fd) {}
  asio::posix::stream_descriptor descriptor;
  int fd = -1;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;
  bool writing = false;
  bool gone = false;  // c-ares closed it (or is about to)
};

// What a query's c-ares callback needs; freed by that callback, which c-ares always calls (with
// ARES_EDESTRUCTION from ares_destroy at the latest).
struct DnsResolver::Pending {
  DnsResolver* owner;
  Callback done;
};

namespace {
constexpr int kClassIn = 1;

void initLibrary() {
  // Only needed on Windows, but documented as required; done once per process.
  static const int status = ares_library_init(ARES_LIB_INIT_ALL);
  (void)status;
}
}  // namespace

DnsResolver::DnsResolver(asio::io_context& io) : io_(io), timer_(io) {}

DnsResolver::~DnsResolver() {
  destroyChannel();
}

std::shared_ptr<DnsResolver> DnsResolver::create(asio::io_context& io, const Options& options,
                                                 std::string* error) {
  initLibrary();
  std::shared_ptr<DnsResolver> self(new DnsResolver(io));
  ares_options opts{};
  opts.timeout = static_cast<int>(std::max<int64_t>(options.timeout.count(), 1));
  opts.tries = std::max(options.tries, 1);
  opts.sock_state_cb = &DnsResolver::onSocketState;
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

void DnsResolver::query(const std::string& name, uint16_t type, bool search, Callback done) {
  if (closed_ || channel_ == nullptr) return;
  auto* pending = new Pending{this, std::move(done)};
  if (search) {
    ares_search(channel_, name.c_str(), kClassIn, type, &DnsResolver::onAnswer, pending);
  } else {
    ares_query(channel_, name.c_str(), kClassIn, type, &DnsResolver::onAnswer, pending);
  }
  armTimer();
}

void DnsResolver::onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<Pending> pending(static_cast<Pending*>(arg));
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
  if (pending->owner->closed_) return;
  std::span<const uint8_t> answer;
  if (abuf != nullptr && alen > 0) answer = {abuf, static_cast<std::size_t>(alen)};
  pending->done(status, answer);
}

void DnsResolver::onSocketState(void* data, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<DnsResolver*>(data);
  auto it = self->sockets_.find(fd);
  if (!readable && !writable) {
    // c-ares closes the descriptor right after this returns: stop waiting on it and let go of
    // it without closing it (the number may be reused at once by the next socket).
    if (it == self->sockets_.end()) return;
    auto socket = it->second;
    self->sockets_.erase(it);
    socket->gone = true;
    boost::system::error_code ec;
    socket->descriptor.cancel(ec);
    socket->descriptor.release();
    return;
  }
  if (it == self->sockets_.end()) {
    auto socket = std::make_shared<Socket>(self->io_, fd);
    socket->fd = fd;
    it = self->sockets_.emplace(fd, std::move(socket)).first;
  }
  it->second->want_read = readable != 0;
  it->second->want_write = writable != 0;
  self->arm(it->second);
}

void DnsResolver::arm(const std::shared_ptr<Socket>& socket) {
  if (socket->want_read && !socket->reading) await(socket, false);
  if (socket->want_write && !socket->writing) await(socket, true);
}

void DnsResolver::await(const std::shared_ptr<Socket>& socket, bool write) {
  (write ? socket->writing : socket->reading) = true;
  const auto what = write ? asio::posix::stream_descriptor::wait_write
                          : asio::posix::stream_descriptor::wait_read;
  // The handler holds the resolver and the socket: both outlive every wait in flight.
  socket->descriptor.async_wait(
      what, [self = shared_from_this(), socket, write](boost::system::error_code ec) {
        (write ? socket->writing : socket->reading) = false;
        if (ec || socket->gone || self->closed_) return;
        self->process(write ? ARES_SOCKET_BAD : socket->fd, write ? socket->fd : ARES_SOCKET_BAD);
        if (!socket->gone && !self->closed_) self->arm(socket);
      });
}

void DnsResolver::process(int read_fd, int write_fd) {
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

void DnsResolver::armTimer() {
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

void DnsResolver::close() {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  if (depth_ == 0) destroyChannel();
}

void DnsResolver::destroyChannel() {
  if (channel_ != nullptr) {
    // Runs every pending query's callback with ARES_EDESTRUCTION and reports every socket
    // closed (onSocketState releases them).
    closed_ = true;
    ares_destroy(channel_);
    channel_ = nullptr;
  }
  for (auto& [fd, socket] : sockets_) {
    socket->gone = true;
    boost::system::error_code ec;
    socket->descriptor.cancel(ec);
    socket->descriptor.release();
  }
  sockets_.clear();
}

}  // namespace pilotfish::discovery
