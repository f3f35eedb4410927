#include "pilotfish/net/recv.h"

#include "net/asio_access.h"

#include <boost/asio/detail/config.hpp>

#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#  include <boost/asio/detail/epoll_reactor.hpp>
#  include <boost/asio/detail/reactor.hpp>
#  include <boost/asio/detail/reactor_op.hpp>
#  include <boost/asio/detail/socket_ops.hpp>
#  include <boost/asio/error.hpp>
#  include <netinet/in.h>
#  include <sys/epoll.h>
#  include <netinet/tcp.h>
#  include <sys/socket.h>
#  include <sys/uio.h>

#  include <cerrno>
#  include <cstring>
#else
#  include <boost/asio/buffer.hpp>

#  include <cstdint>
#endif

namespace pilotfish::net {

namespace asio = boost::asio;

#if !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)

namespace {

// The events epoll last reported for a descriptor: Asio keeps them in the descriptor state's
// operation result while it performs that descriptor's operations (and ORs in newer ones while
// they wait to run). The C-style cast converts to the (private) base class as static_cast would.
struct OperationAccess : asio::detail::scheduler_operation {
  static unsigned int result(asio::detail::epoll_reactor::per_descriptor_data ds) {
    auto* op = (asio::detail::scheduler_operation*)ds;  // NOLINT: inaccessible base
    return op->*(&OperationAccess::task_result_);
  }
};

// The TCP_CM_INQ answer: bytes still queued after this read (1 at least while a FIN is
// unread); -1 when the kernel did not say.
int bytesLeft(msghdr& msg) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level == SOL_TCP && c->cmsg_type == TCP_CM_INQ &&
        c->cmsg_len >= CMSG_LEN(sizeof(int))) {
      int inq;
      std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
      return inq;
    }
  }
  return -1;
}

// One recvmsg: n > 0, or 0 with ec = would_block, eof or the error. `left` is the kernel's
// TCP_INQ answer (-1: none).
std::size_t receive(int fd, void* data, std::size_t size, boost::system::error_code& ec,
                    bool& more, int& left) {
  iovec iov{data, size};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  more = false;
  left = -1;
  for (;;) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(fd, &msg, 0);
    if (n > 0) {
      left = bytesLeft(msg);
      more = left < 0 ? static_cast<std::size_t>(n) == size : left > 0;
      ec = boost::system::error_code();
      return static_cast<std::size_t>(n);
    }
    if (n == 0) {
      ec = asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ec = asio::error::would_block;
    } else {
      ec.assign(errno, asio::error::get_system_category());
    }
    return 0;
  }
}

}  // namespace

std::size_t recvSome(asio::ip::tcp::socket& s, void* data, std::size_t size,
                     boost::system::error_code& ec, bool& more) noexcept {
  int left;
  return receive(s.native_handle(), data, size, ec, more, left);
}

struct RecvOp::Impl : asio::detail::reactor_op {
  Impl() : reactor_op(boost::system::error_code(), &Impl::perform, &Impl::complete) {}

  int fd = -1;
  asio::detail::epoll_reactor::per_descriptor_data descriptor = nullptr;
  void* data = nullptr;
  std::size_t size = 0;
  std::shared_ptr<void> keep;
  Callback cb = nullptr;
  void* ctx = nullptr;
  bool more = false;  ///< of the last read
  bool pending = false;
  bool orphan = false;  ///< a newer start() took over; free this one when the reactor lets go

  // Called by the reactor: speculatively from start_op while it believes the socket readable,
  // and on each readiness edge. It reports the socket exhausted — so that the reactor stops
  // trying the next receive until its next edge — only when nothing can be waiting without an
  // edge to come: the kernel said no byte and no FIN is left (TCP_INQ), and the events epoll
  // reported carry no error or hang-up (an RST that arrived with the data is not counted by
  // TCP_INQ; it shows there, and stays shown once it happened). Anything that arrives after
  // epoll reported the socket raises a new edge.
  static status perform(reactor_op* base) {
    auto* o = static_cast<Impl*>(base);
    boost::system::error_code ec;
    int left;
    const std::size_t n = receive(o->fd, o->data, o->size, ec, o->more, left);
    if (ec == asio::error::would_block) return not_done;
    o->ec_ = ec;
    o->bytes_transferred_ = n;
    if (ec == asio::error::eof) return done_and_exhausted;
    if (ec || left != 0) return done;
    const unsigned int events = o->descriptor ? OperationAccess::result(o->descriptor) : ~0u;
    return (events & (EPOLLERR | EPOLLHUP)) != 0 ? done : done_and_exhausted;
  }

  // owner == nullptr: the io_context is being destroyed with this receive queued.
  static void complete(void* owner, asio::detail::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* o = static_cast<Impl*>(base);
    o->pending = false;
    // Released last: it may hold the only reference to the RecvOp's owner.
    std::shared_ptr<void> keep = std::move(o->keep);
    if (o->orphan) {
      delete o;
      return;
    }
    if (owner == nullptr) return;
    // Copies: the callback may start the next receive, which reuses this state.
    const boost::system::error_code ec = o->ec_;
    o->cb(o->ctx, ec, o->bytes_transferred_, o->more);
  }
};

void enableInq(asio::ip::tcp::socket& s) noexcept {
  int one = 1;
  // Kernels before 4.18 refuse it; RecvOp then never sees an answer and always tries.
  (void)::setsockopt(s.native_handle(), SOL_TCP, TCP_INQ, &one, sizeof one);
}

RecvOp::~RecvOp() {
  if (cur_ == nullptr) return;
  if (cur_->pending) {
    cur_->orphan = true;  // the reactor still holds it
  } else {
    delete cur_;
  }
}

void RecvOp::start(asio::ip::tcp::socket& s, void* data, std::size_t size,
                   std::shared_ptr<void> keep, Callback cb, void* ctx) {
  if (cur_ != nullptr && cur_->pending) {
    cur_->orphan = true;
    cur_ = nullptr;
  }
  if (cur_ == nullptr) cur_ = new Impl;
  Impl& o = *cur_;
  o.ec_ = boost::system::error_code();
  o.bytes_transferred_ = 0;
  o.data = data;
  o.size = size;
  o.keep = std::move(keep);
  o.cb = cb;
  o.ctx = ctx;
  o.pending = true;
  auto& impl = detail::SocketAccess::impl(s);
  o.fd = impl.socket_;
  o.descriptor = impl.reactor_data_;
  // A RecvOp serves one session, whose sockets all belong to one io_context: look the reactor
  // up once (use_service takes the registry's mutex), not once per read.
  auto& io = asio::query(s.get_executor(), asio::execution::context);
  if (&io != context_) {
    reactor_ = &asio::use_service<asio::detail::reactor>(io);
    context_ = &io;
  }
  auto& reactor = *static_cast<asio::detail::reactor*>(reactor_);
  // As Asio's own socket service starts a receive: the descriptor must be non-blocking.
  if ((impl.state_ & asio::detail::socket_ops::non_blocking) != 0 ||
      asio::detail::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, o.ec_)) {
    reactor.start_op(asio::detail::reactor::read_op, impl.socket_, impl.reactor_data_, &o,
                     /*is_continuation=*/false, /*allow_speculative=*/true);
  } else {
    reactor.post_immediate_completion(&o, false);
  }
}

bool RecvOp::pending() const noexcept {
  return cur_ != nullptr && cur_->pending;
}

#else  // io_uring: a plain async_read_some; only the newest start() is delivered.

void enableInq(asio::ip::tcp::socket&) noexcept {}

std::size_t recvSome(asio::ip::tcp::socket& s, void* data, std::size_t size,
                     boost::system::error_code& ec, bool& more) noexcept {
  const std::size_t n = s.read_some(asio::buffer(data, size), ec);
  if (ec == asio::error::try_again) ec = asio::error::would_block;
  more = !ec && n == size;
  return n;
}

struct RecvOp::Impl {
  std::uint64_t started = 0;
  std::uint64_t finished = 0;
};

RecvOp::~RecvOp() {
  delete cur_;  // a queued handler holds `keep`, so none is left when this runs
}

void RecvOp::start(asio::ip::tcp::socket& s, void* data, std::size_t size,
                   std::shared_ptr<void> keep, Callback cb, void* ctx) {
  if (cur_ == nullptr) cur_ = new Impl;
  const std::uint64_t gen = ++cur_->started;
  s.async_read_some(asio::buffer(data, size),
                    [o = cur_, gen, size, keep = std::move(keep), cb, ctx](
                        const boost::system::error_code& ec, std::size_t n) {
                      if (gen != o->started) return;  // a newer start() took over
                      o->finished = gen;
                      cb(ctx, ec, n, !ec && n == size);
                    });
}

bool RecvOp::pending() const noexcept {
  return cur_ != nullptr && cur_->finished != cur_->started;
}

#endif

}  // namespace pilotfish::net
