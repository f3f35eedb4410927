#pragma once
// An asynchronous receive on a non-blocking TCP socket that costs no wasted system call.
//
// Asio's async_read_some on the epoll reactor tries the read at once whenever the reactor has
// seen the socket readable since its last EOF ("speculative"), and the reactor forgets that only
// on EOF — so every read started right after one that drained the socket is an EAGAIN recv
// before the operation is queued: one wasted system call per message (strace: 2 recvfrom per
// sendto). Asio's own send operation tells the reactor when a write came back short; its
// receive does not. RecvOp is that receive, with that tell: it reads with recvmsg, and on a
// socket with TCP_INQ enabled (enableInq) the kernel says how many bytes are still queued after
// the read — and counts a pending FIN as one, so that it is read too. When nothing is left the
// reactor is told the socket is drained, and the next receive is queued without trying; the
// reactor's next edge (which it remembers even when no operation is queued) completes it.
// Readiness stays tracked by Asio's reactor itself, so no edge can be lost (decision 0007). A
// short read alone is not proof: a FIN or an RST can already be queued behind the data, with no
// edge to come. TCP_INQ counts the FIN; the events epoll reported show the RST. Without TCP_INQ
// (or its answer) RecvOp never reports the socket drained, and behaves as async_read_some.
//
// The io_uring build has no such reactor; there RecvOp is a plain async_read_some.
//
// One RecvOp belongs to one owner (a session) and direction; at most one completion is delivered
// per start(), and only for the newest start(): starting again while an earlier receive is still
// queued (its socket was closed, its cancellation not yet delivered) silently drops the earlier
// one's completion (only after closing that socket: on an open one the older receive would
// still take bytes). `keep` must own the RecvOp, directly or not (the session that holds it):
// it keeps both alive until the callback has run.
//
// Thread: the thread that runs the socket's io_context.

#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <memory>

namespace pilotfish::net {

/// Asks the kernel to report, with every recvmsg on `s`, the bytes left to read (TCP_INQ), for
/// RecvOp. Call once per socket, after accept or connect. A no-op in the io_uring build.
void enableInq(boost::asio::ip::tcp::socket& s) noexcept;

/// A direct non-blocking receive (recvmsg) of at most `size` bytes: n > 0, or 0 with `ec` set
/// (would_block, eof, or an error). `more` as for RecvOp's callback. For reading on while a
/// socket has more queued (bulk transfers), without a trip through the reactor per buffer.
std::size_t recvSome(boost::asio::ip::tcp::socket& s, void* data, std::size_t size,
                     boost::system::error_code& ec, bool& more) noexcept;

class RecvOp {
 public:
  /// `more`: the kernel said bytes (or a FIN) were still queued after this read, or could not
  /// say and the read filled the buffer — worth reading again at once with recvSome().
  using Callback = void (*)(void* ctx, const boost::system::error_code& ec, std::size_t n,
                            bool more);

  RecvOp() = default;
  RecvOp(const RecvOp&) = delete;
  RecvOp& operator=(const RecvOp&) = delete;
  ~RecvOp();

  /// Receives at most `size` (> 0) bytes into `data` from `s` (open, non-blocking). `cb(ctx, ec,
  /// n, more)` runs on the socket's io_context, never inside start(): n > 0 bytes, or ec = eof, an error,
  /// or operation_aborted when the socket was closed.
  void start(boost::asio::ip::tcp::socket& s, void* data, std::size_t size,
             std::shared_ptr<void> keep, Callback cb, void* ctx);

  /// True from start() until its callback has run (or been dropped by a newer start()).
  bool pending() const noexcept;

  struct Impl;

 private:
  Impl* cur_ = nullptr;  ///< the newest receive's state; older queued ones free themselves
  void* context_ = nullptr;  ///< the io_context whose reactor reactor_ is (epoll build)
  void* reactor_ = nullptr;
};

}  // namespace pilotfish::net
