#pragma once
// One client connection of an http listener and the upstream connection serving its current
// request. Private to src/http. Worker-local.
//
// Driving: sockets are non-blocking; every event (readiness, connect, timer) sets a flag and
// calls drive(), which makes progress in every direction (read client, parse, move body, write
// upstream, read upstream, parse, move body, write client) until nothing can move without
// waiting, then waits only for what it needs. One request at a time per connection: pipelined
// requests wait in the input buffer until the previous response is complete.
// Lifetime: owned by shared_ptrs held by pending operations; the worker's HttpSessionList keeps
// a raw pointer that is removed in close().

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pilotfish/http/h1_body.h"
#include "pilotfish/http/h1_request_parser.h"
#include "pilotfish/http/h1_response_parser.h"
#include "pilotfish/http/http_proxy.h"
#include "pilotfish/net/recv.h"

namespace pilotfish::http {

/// A byte buffer with a read and a write position over reusable storage.
class IoBuffer {
 public:
  IoBuffer() = default;
  IoBuffer(const IoBuffer&) = delete;
  IoBuffer& operator=(const IoBuffer&) = delete;
  ~IoBuffer() { release(); }

  std::string_view view() const { return {data_ + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  char* writePtr() { return data_ + end_; }
  std::size_t room() const { return cap_ - end_; }
  void commit(std::size_t n) { end_ += n; }
  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_ && !pinned_) begin_ = end_ = 0;
  }
  void clear() { consume(size()); }
  /// While a read into writePtr() is in flight the bytes must not move: pin() stops consume(),
  /// clear() and prepare() from moving or freeing them.
  void pin(bool on) { pinned_ = on; }
  std::size_t capacity() const { return cap_; }
  /// Makes room for at least `want` more bytes: moves the content to the front, then grows the
  /// storage up to `max_capacity`. Returns room(). Storage is not zeroed, and 16 KiB blocks come
  /// from a per-thread cache, so a new connection costs no malloc or memset for its buffers.
  std::size_t prepare(std::size_t want, std::size_t max_capacity);
  /// Releases the storage when empty (idle connections keep no buffers).
  void shrink() {
    if (empty() && !pinned_) release();
  }

 private:
  void release();

  char* data_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  bool pinned_ = false;
};

class H1Session : public std::enable_shared_from_this<H1Session> {
 public:
  H1Session(HttpProxy& proxy, boost::asio::ip::tcp::socket&& client);
  ~H1Session();

  void start(const boost::asio::ip::tcp::endpoint& peer);
  /// drain_timeout expired or fatal error: closes both sides now (RST when `forced`).
  void close(bool forced);
  /// Graceful drain: closes now when idle, else after the current response.
  void drain();
  /// A dynamic host this session waits for has been resolved (or failed to).
  void onHostResolved(DynamicHost* host);

  H1Session* prev = nullptr;  ///< HttpSessionList links
  H1Session* next = nullptr;

 private:
  using Clock = std::chrono::steady_clock;
  enum class Phase : uint8_t {
    kHead,      ///< reading a request head (or idle between requests)
    kExchange,  ///< a request is being proxied
    kLocal,     ///< writing a proxy-made response
    kTunnel,    ///< after a 101: bytes both ways
    kLinger,    ///< response sent, our side shut down; discarding input until EOF
  };
  enum class Up : uint8_t { kNone, kConnecting, kOpen };

  void drive();
  void startClientRead();
  std::size_t clientReadCap() const;  ///< how far the client buffer may grow in this phase
  void clientReceived(const boost::system::error_code& ec, std::size_t n);  ///< a read's result
  static void onClientRecv(void* self, const boost::system::error_code& ec, std::size_t n,
                           bool more);
  bool processClient();
  bool writeUpstream();
  void startUpstreamRead();
  static void onUpstreamRecv(void* self, const boost::system::error_code& ec, std::size_t n,
                             bool more);
  std::size_t upstreamBufferLimit() const;
  bool tlsReadUpstream();
  void tlsHandshake();
  bool processUpstream();
  bool writeClient();
  bool checkDone();
  void armWaits();
  bool wantClientRead() const;
  bool wantUpstreamRead() const;
  std::size_t clientPending() const { return dout_.size() - dout_sent_; }
  std::size_t upstreamPending() const;
  void clientGone();

  void onRequestHead(std::size_t head_len);
  bool feedRequestBody();
  void startUpstream(std::optional<std::size_t> forced);
  void startDynamic();
  void useSnapshot(cluster::ClusterSnapshotPtr snapshot);
  void connectTo(std::size_t index);
  void onConnectFailed(std::size_t index, bool timed_out);
  void onUpstreamOpen();
  void onResponseHead(std::size_t consumed);
  bool moveResponseBody();
  /// The upstream failed before a response head: retry when allowed, else answer `e`.
  void upstreamFailed(ProxyError e, bool may_retry);
  void retry();
  /// Done with the upstream connection: back to the pool when `reusable`, else closed.
  void releaseUpstream(bool reusable);
  void resetUpstream(bool abortive);
  void finishExchange();
  void finishLog();
  void nextRequest();
  void localResponse(uint16_t status, std::string_view token, bool close_after);
  void localError(ProxyError e);
  void rejectRequest(const H1Result& r);
  void abortClient(ProxyError e);
  void lingerClose();
  void countStatus(uint16_t status);
  void writeAccessLog();
  bool idempotent() const;

  void armClientTimer(Clock::time_point deadline);
  /// Arms the client timer for the earlier of down_deadline_ and send_deadline_.
  void scheduleClientTimer();
  void onSendTimeout();
  void onClientTimer();
  void armUpstreamTimer();
  void onUpstreamTimer();

  HttpProxy& proxy_;
  boost::asio::ip::tcp::socket down_;
  boost::asio::ip::tcp::socket up_;
  boost::asio::steady_timer down_timer_;
  boost::asio::steady_timer up_timer_;
  Clock::time_point down_deadline_{Clock::time_point::max()};
  /// Set while response bytes wait for a client that takes none (response_send_timeout).
  Clock::time_point send_deadline_{Clock::time_point::max()};
  Clock::time_point down_timer_expiry_{Clock::time_point::max()};
  int down_timer_waits_ = 0;
  int up_timer_waits_ = 0;
  Clock::time_point connect_deadline_{Clock::time_point::max()};
  Clock::time_point try_deadline_{Clock::time_point::max()};
  Clock::time_point request_deadline_{Clock::time_point::max()};
  Clock::time_point up_timer_expiry_{Clock::time_point::max()};

  Phase phase_ = Phase::kHead;
  Up up_state_ = Up::kNone;
  bool closed_ = false;
  bool closing_ = false;  ///< no further request on this connection (drain, close, error)
  // Readiness (true until a call returned EAGAIN) and outstanding waits.
  // Reads go through Asio's async_read_some, whose reactor remembers whether the socket was
  // drained (no EAGAIN read is wasted); writes are direct non-blocking calls, and only wait
  // (async_wait) after EAGAIN.
  bool down_writable_ = true, up_writable_ = true;
  bool down_reading_ = false, down_write_wait_ = false;
  bool up_reading_ = false, up_write_wait_ = false;
  // TLS upstreams: SSL_read is retried while tls_readable_; after WANT_READ, async_wait.
  std::unique_ptr<tls::TlsConnection> up_tls_;
  bool tls_readable_ = true;
  bool up_read_wait_ = false;
  bool tls_write_needs_read_ = false;
  bool tls_read_needs_write_ = false;
  bool down_eof_ = false, up_eof_ = false;
  bool down_reset_ = false, up_error_ = false;
  bool driving_ = false;
  bool in_request_ = false;   ///< counted in requests_active
  bool log_pending_ = false;  ///< an access-log entry is owed for the current request
  bool local_close_ = false;  ///< close after the proxy-made response
  uint32_t up_gen_ = 0;       ///< bumped whenever up_ is closed or pooled (stale handlers)
  uint32_t up_read_gen_ = 0;  ///< up_gen_ when the pending upstream read started
  net::RecvOp down_recv_;     ///< reads (no EAGAIN read per message: net/recv.h)
  bool down_inq_ = false;     ///< TCP_INQ enabled on down_
  net::RecvOp up_recv_;
  Clock::time_point conn_start_;

  // Client side.
  IoBuffer din_;      ///< bytes from the client: request head, body, pipelined requests
  std::string dout_;  ///< bytes to the client; dout_[dout_sent_, size) still to write
  std::size_t dout_sent_ = 0;
  H1RequestParser parser_;
  H1RequestHead req_;
  std::string client_ip_;
  bool head_started_ = false;  ///< a byte of the current request arrived

  // The current request.
  Clock::time_point req_start_;
  std::chrono::system_clock::time_point req_start_wall_;  ///< for the access log only
  const Route* route_ = nullptr;
  const config::RouteConfig* route_cfg_ = nullptr;
  std::string method_, authority_, path_, norm_path_, target_;
  H1Method method_id_ = H1Method::kOther;
  H1Version version_ = H1Version::kHttp11;
  bool keep_alive_ = true;
  bool websocket_ = false;
  bool head_request_ = false;
  bool expect_continue_ = false;
  bool continue_sent_ = false;
  H1BodyKind req_body_kind_ = H1BodyKind::kNone;
  H1ContentLengthBody req_cl_;
  H1ChunkedDecoder req_chunked_;
  bool req_done_ = false;  ///< whole request body read from the client
  uint64_t body_in_ = 0;   ///< request body bytes from the client
  uint64_t body_out_ = 0;  ///< response body bytes to the client
  tracing::PropagationResult prop_;
  bool traced_ = false;
  ProxyError error_ = ProxyError::kNone;
  std::string_view error_token_;  ///< access-log error (static storage)
  uint16_t status_ = 0;           ///< status sent to the client (0 = none yet)

  // Upstream side of the current request.
  std::size_t cluster_ = 0;
  cluster::ClusterSnapshotPtr snapshot_;
  // Where this request's endpoints, LB state, pool and TLS sessions live: the cluster's
  // (static) or the dynamic host's (dyn_).
  std::shared_ptr<DynamicHost> dyn_;
  lb::RoundRobin* lb_ = nullptr;
  pool::IdlePool* pool_ = nullptr;
  tls::SessionCache* tls_cache_ = nullptr;
  std::string upstream_name_;       ///< dynamic_host: the name from the request ("" otherwise)
  std::string upstream_name_host_;  ///< its Host value (":port" unless 443)
  bool resolving_ = false;          ///< waiting for dyn_ to resolve
  std::vector<bool> tried_;
  std::size_t endpoint_ = 0;
  bool attempted_ = false;  ///< an endpoint was picked for this request
  ProxyError last_failure_ = ProxyError::kNoHealthyUpstream;
  bool connect_timed_out_ = false;
  Clock::time_point connect_started_;
  uint32_t up_requests_ = 0;  ///< requests the upstream connection carried before this one
  bool up_reused_ = false;
  bool no_pool_ = false;  ///< a stale pooled connection failed: use a fresh one
  uint32_t retries_left_ = 0;
  std::string up_head_;  ///< serialized request head
  std::size_t up_head_sent_ = 0;
  std::string up_body_;  ///< request body bytes to send (kept whole while replayable)
  std::size_t up_body_sent_ = 0;
  bool replayable_ = true;         ///< up_body_ still holds every body byte sent
  bool req_sent_ = false;          ///< head and whole body written upstream
  uint64_t up_bytes_written_ = 0;  ///< this try
  Clock::time_point up_sent_at_;
  uint64_t upstream_time_us_ = 0;
  IoBuffer uin_;  ///< bytes from the upstream
  H1ResponseParser rparser_;
  H1ResponseHead resp_;
  bool resp_head_done_ = false;
  bool resp_head_sent_ = false;
  bool resp_done_ = false;
  uint64_t resp_bytes_ = 0;                       ///< bytes received from the upstream this try
  H1BodyKind resp_in_kind_ = H1BodyKind::kNone;   ///< framing from the upstream
  H1BodyKind resp_out_kind_ = H1BodyKind::kNone;  ///< framing to the client
  H1ContentLengthBody resp_cl_;
  H1ChunkedDecoder resp_chunked_;
  bool up_keep_alive_ = false;
  bool tunnel_up_shut_ = false, tunnel_down_shut_ = false;
};

}  // namespace pilotfish::http
