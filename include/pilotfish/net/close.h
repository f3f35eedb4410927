#pragma once
// Closing Asio I/O objects (sockets, acceptors, descriptors) that may have operations in flight.
//
// With the epoll backend this is a plain close: pending operations complete with
// operation_aborted. Boost 1.81's Asio io_uring backend cannot do that safely: closing (or releasing)
// an object frees its per-object state at once, while its first pending operation is still in
// the kernel and still queued in that state. The next I/O object registered on the io_context
// reuses the state; the cancelled operation's completion then lands in the new object's queue,
// and Asio re-submits the old operation on the old descriptor number — which the new socket
// usually got. The new socket's bytes then go to the closed socket's handler and its own read
// never completes (tests/unit/net/close_test.cc shows it).
//
// So in the io_uring build, close() here takes the descriptor from Asio (release(), which
// cancels what is pending) and replaces it, with dup3, by a descriptor of /dev/null: the socket
// itself is closed by that (FIN, or RST with `abort`, once the kernel has dropped the cancelled
// operations), while its number stays taken, so a re-submitted old operation fails at once on
// /dev/null instead of reading someone else's socket. The placeholders are closed after
// kQuarantine, when every completion of the old operations has been reaped.
//
// Thread: the thread that runs the object's io_context.

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstddef>

namespace pilotfish::net {

/// How long a closed descriptor's number stays taken by a placeholder (io_uring build).
inline constexpr std::chrono::milliseconds kQuarantine{200};

/// True in the io_uring build, where close() quarantines descriptor numbers.
bool closeQuarantines() noexcept;

/// Closes the descriptor `fd` that was just released from an I/O object of `context` (the
/// io_uring path of close(); also for descriptors released by the caller). Never fails.
void retireReleased(boost::asio::execution_context& context, int fd);

/// Descriptors currently held as placeholders in `context` (tests and metrics).
std::size_t quarantined(boost::asio::execution_context& context);

/// Closes `object` (a socket, acceptor or posix descriptor) whatever is pending on it; pending
/// operations complete with an error (operation_aborted, or an I/O error in the io_uring
/// build). `abort`: sockets only, close with an RST (SO_LINGER 0) instead of a FIN.
template <class IoObject>
void close(IoObject& object, bool abort = false) {
  if (!object.is_open()) return;
  boost::system::error_code ec;
  if (abort) {
    if constexpr (requires { object.set_option(boost::asio::socket_base::linger(true, 0), ec); }) {
      object.set_option(boost::asio::socket_base::linger(true, 0), ec);
    }
  }
  if (!closeQuarantines()) {
    object.close(ec);
    return;
  }
  auto& context = boost::asio::query(object.get_executor(), boost::asio::execution::context);
  int fd;
  if constexpr (requires { object.release(ec); }) {
    fd = object.release(ec);
  } else {
    fd = object.release();
  }
  if (ec) {
    object.close(ec);
    return;
  }
  retireReleased(context, fd);
}

}  // namespace pilotfish::net
