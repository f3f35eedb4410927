#include "http/h1_session.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "pilotfish/http/h1_forward.h"
#include "pilotfish/net/close.h"

namespace pilotfish::http {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kNever = Clock::time_point::max();
constexpr std::chrono::seconds kLingerTime{2};
// Upstream response heads may be larger than what we accept from clients (cookies, CSP).
constexpr H1Limits kResponseLimits{16 * 1024, 96 * 1024, 200, false};

uint64_t micros(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}

bool wouldBlock(const boost::system::error_code& ec) {
  return ec == asio::error::would_block || ec == asio::error::try_again;
}

}  // namespace

namespace {

// Buffers of the first size every connection takes (a full read's worth) are recycled per
// thread: a worker's connections come and go on its own thread, so a closed connection's
// buffers serve the next one without malloc, free or the zeroing a std::string would do. Larger
// buffers (long heads) are rare and go back to the allocator. The cache is bounded so that a
// burst does not keep its memory for ever.
constexpr std::size_t kBlock = 16 * 1024;
constexpr std::size_t kMaxCachedBlocks = 256;  // 4 MiB per thread at most

// Trivially destructible, so still readable while and after the cache is destroyed at thread
// exit: a buffer released later on this thread (a session destroyed with its io_context) goes
// straight back to the allocator.
thread_local bool t_block_cache_alive = false;

struct BlockCache {
  std::vector<char*> free;
  BlockCache() {
    free.reserve(kMaxCachedBlocks);
    t_block_cache_alive = true;
  }
  ~BlockCache() {
    t_block_cache_alive = false;
    for (char* p : free) delete[] p;
  }
};

BlockCache* blockCache() {
  thread_local BlockCache cache;
  return t_block_cache_alive ? &cache : nullptr;
}

char* allocateBlock(std::size_t n) {
  BlockCache* cache = n == kBlock ? blockCache() : nullptr;
  if (cache != nullptr && !cache->free.empty()) {
    char* p = cache->free.back();
    cache->free.pop_back();
    return p;
  }
  return new char[n];  // not zeroed: only bytes written by reads are ever read
}

void releaseBlock(char* p, std::size_t n) {
  BlockCache* cache = n == kBlock ? blockCache() : nullptr;
  if (cache != nullptr && cache->free.size() < kMaxCachedBlocks) {
    cache->free.push_back(p);
    return;
  }
  delete[] p;
}

}  // namespace

void IoBuffer::release() {
  if (data_ != nullptr) releaseBlock(data_, cap_);
  data_ = nullptr;
  cap_ = begin_ = end_ = 0;
}

std::size_t IoBuffer::prepare(std::size_t want, std::size_t max_capacity) {
  if (room() >= want || pinned_) return room();
  if (begin_ != 0) {
    std::memmove(data_, data_ + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
    if (room() >= want) return room();
  }
  // Start at a full read's worth (16 KiB): a 10 KiB response then takes one read, not three.
  std::size_t cap = std::max({cap_ * 2, end_ + want, kBlock});
  cap = std::min(cap, max_capacity);
  if (cap > cap_) {
    char* grown = allocateBlock(cap);
    if (end_ != 0) std::memcpy(grown, data_, end_);
    if (data_ != nullptr) releaseBlock(data_, cap_);
    data_ = grown;
    cap_ = cap;
  }
  return room();
}

H1Session::H1Session(HttpProxy& proxy, tcp::socket&& client)
    : proxy_(proxy),
      down_(std::move(client)),
      up_(down_.get_executor()),
      down_timer_(down_.get_executor()),
      up_timer_(down_.get_executor()),
      parser_(proxy.limits_),
      req_(proxy.limits_.max_headers),
      rparser_(kResponseLimits),
      resp_(kResponseLimits.max_headers) {}

H1Session::~H1Session() = default;

void H1Session::start(const tcp::endpoint& peer) {
  proxy_.worker_.sessions.add(this);
  auto& ls = proxy_.listener_stats_;
  ls.accepted.inc();
  ls.active.inc();
  conn_start_ = Clock::now();
  boost::system::error_code ec;
  char ip[64];  // address text without allocating (an IPv6 text form is at most 45 bytes)
  if (peer.address().is_v4()) {
    auto b = peer.address().to_v4().to_bytes();
    client_ip_.assign(ip, static_cast<std::size_t>(
                              std::snprintf(ip, sizeof ip, "%u.%u.%u.%u", b[0], b[1], b[2], b[3])));
  } else {
    client_ip_ = peer.address().to_string();
  }
  // The listener hands over a non-blocking socket with TCP_NODELAY set.
  if (proxy_.worker_.draining) closing_ = true;
  armClientTimer(conn_start_ + proxy_.cfg_.idle_timeout);
  // A client that connects to send a request has usually sent it by the time it is accepted:
  // read it now. Through the reactor that first read would complete only after another whole
  // turn of the event loop (a posted completion: one more epoll_wait per connection).
  if (din_.prepare(4096, clientReadCap()) != 0) {
    bool more = false;
    const std::size_t n = net::recvSome(down_, din_.writePtr(), din_.room(), ec, more);
    if (ec != asio::error::would_block) clientReceived(ec, n);
  }
  drive();
}

// --------------------------------------------------------------------------------------------
// The driving loop.

void H1Session::drive() {
  if (closed_ || driving_) return;
  driving_ = true;
  for (int round = 0; round < 32; ++round) {
    bool progress = processClient();
    if (!closed_) progress |= writeUpstream();
    if (!closed_) progress |= tlsReadUpstream();
    if (!closed_) progress |= processUpstream();
    if (!closed_) progress |= writeClient();
    if (!closed_) progress |= checkDone();
    if (closed_) {
      driving_ = false;
      return;
    }
    if (!progress) {
      driving_ = false;
      armWaits();
      return;
    }
  }
  // Bounded work per turn so one busy connection cannot starve the others on this worker.
  driving_ = false;
  asio::post(down_.get_executor(), [self = shared_from_this()] { self->drive(); });
}

std::size_t H1Session::upstreamPending() const {
  return (up_head_.size() - up_head_sent_) + (up_body_.size() - up_body_sent_);
}

bool H1Session::wantClientRead() const {
  switch (phase_) {
    case Phase::kHead:
    case Phase::kLinger: return true;
    case Phase::kExchange:
      return !req_done_ && din_.empty() && upstreamPending() < HttpProxy::kHighWater;
    case Phase::kTunnel:
      return din_.empty() && up_state_ == Up::kOpen && upstreamPending() < HttpProxy::kHighWater;
    case Phase::kLocal: return false;
  }
  return false;
}

bool H1Session::wantUpstreamRead() const {
  if (up_state_ != Up::kOpen || up_eof_) return false;
  if (phase_ == Phase::kTunnel) {
    return uin_.empty() && clientPending() < HttpProxy::kHighWater;
  }
  if (phase_ != Phase::kExchange || resp_done_) return false;
  if (!resp_head_done_) return true;
  return uin_.empty() && clientPending() < HttpProxy::kHighWater;
}

void H1Session::armWaits() {
  if (wantClientRead() && !down_eof_ && !down_reading_) startClientRead();
  if (up_tls_ == nullptr) {
    if (wantUpstreamRead() && !up_reading_) startUpstreamRead();
  } else if (up_state_ == Up::kOpen && !up_read_wait_ && !tls_readable_ &&
             (wantUpstreamRead() || tls_write_needs_read_)) {
    up_read_wait_ = true;
    up_.async_wait(tcp::socket::wait_read,
                   [this, self = shared_from_this(), gen = up_gen_](boost::system::error_code ec) {
                     if (closed_ || gen != up_gen_) return;
                     up_read_wait_ = false;
                     tls_readable_ = true;
                     if (tls_write_needs_read_) {
                       tls_write_needs_read_ = false;
                       up_writable_ = true;
                     }
                     if (ec) {
                       up_eof_ = true;
                       up_error_ = true;
                     }
                     drive();
                   });
  }
  if (clientPending() != 0 && !down_writable_ && !down_write_wait_) {
    if (send_deadline_ == kNever) {
      send_deadline_ = Clock::now() + proxy_.cfg_.http.response_send_timeout;
      scheduleClientTimer();
    }
    down_write_wait_ = true;
    down_.async_wait(tcp::socket::wait_write,
                     [this, self = shared_from_this()](boost::system::error_code ec) {
                       down_write_wait_ = false;
                       if (closed_) return;
                       down_writable_ = true;
                       if (ec) return clientGone();
                       drive();
                     });
  }
  if (up_state_ == Up::kOpen && (upstreamPending() != 0 || tls_read_needs_write_) &&
      !up_writable_ && !up_write_wait_ && !tls_write_needs_read_) {
    up_write_wait_ = true;
    up_.async_wait(tcp::socket::wait_write,
                   [this, self = shared_from_this(), gen = up_gen_](boost::system::error_code ec) {
                     if (closed_ || gen != up_gen_) return;
                     up_write_wait_ = false;
                     up_writable_ = true;
                     if (ec) {
                       up_eof_ = true;
                       up_error_ = true;
                     }
                     drive();
                   });
  }
}

// --------------------------------------------------------------------------------------------
// Client side.

std::size_t H1Session::clientReadCap() const {
  return phase_ == Phase::kHead ? proxy_.limits_.max_head_bytes + HttpProxy::kReadSize
                                : HttpProxy::kReadSize;
}

void H1Session::startClientRead() {
  if (phase_ == Phase::kLinger) din_.clear();
  if (din_.prepare(4096, clientReadCap()) == 0) return;
  if (!down_inq_) {
    // Only a connection that reads more than once gains from TCP_INQ (net/recv.h); one request
    // per connection saves the system call.
    net::enableInq(down_);
    down_inq_ = true;
  }
  down_reading_ = true;
  din_.pin(true);
  down_recv_.start(down_, din_.writePtr(), din_.room(), shared_from_this(),
                   &H1Session::onClientRecv, this);
}

void H1Session::onClientRecv(void* ctx, const boost::system::error_code& ec, std::size_t n,
                             bool /*more*/) {
  auto& self = *static_cast<H1Session*>(ctx);
  self.down_reading_ = false;
  self.din_.pin(false);
  if (self.closed_) return;
  self.clientReceived(ec, n);
  self.drive();
}

void H1Session::clientReceived(const boost::system::error_code& ec, std::size_t n) {
  if (ec) {
    down_eof_ = true;
    if (ec != asio::error::eof) down_reset_ = true;
  } else {
    din_.commit(n);
    proxy_.listener_stats_.rx_bytes.inc(n);
  }
}

bool H1Session::processClient() {
  switch (phase_) {
    case Phase::kHead: {
      if (din_.empty()) {
        if (down_eof_) {
          close(false);
          return true;
        }
        return false;
      }
      if (!head_started_) {
        head_started_ = true;
        req_start_ = Clock::now();
        if (proxy_.worker_.access_log != nullptr)
          req_start_wall_ = std::chrono::system_clock::now();
        armClientTimer(req_start_ + proxy_.cfg_.http.request_headers_timeout);
      }
      H1Result r = parser_.parse(din_.view(), req_);
      if (r.failed()) {
        rejectRequest(r);
        return true;
      }
      if (r.needMore()) {
        if (down_eof_) {
          close(false);  // the client gave up mid-head; nobody to answer
          return true;
        }
        return false;
      }
      onRequestHead(r.consumed);
      return true;
    }
    case Phase::kExchange: {
      bool progress = false;
      if (!req_done_ && !din_.empty()) progress = feedRequestBody();
      if (!closed_ && phase_ == Phase::kExchange && !req_done_ && down_eof_ && din_.empty()) {
        // The client went away before sending its whole request.
        error_ = ProxyError::kDownstreamReset;
        releaseUpstream(false);
        close(false);
        return true;
      }
      if (!closed_ && phase_ == Phase::kExchange) {
        if (req_done_) {
          down_deadline_ = kNever;
        } else if (progress || down_deadline_ == kNever) {
          // Slow body: the deadline runs from the last body byte taken (moving it later
          // costs nothing; the timer re-arms itself when it fires early).
          armClientTimer(Clock::now() + proxy_.cfg_.http.request_body_timeout);
        }
      }
      return progress;
    }
    case Phase::kTunnel: {
      bool progress = false;
      if (!din_.empty()) {
        up_body_.append(din_.view());
        body_in_ += din_.size();
        din_.clear();
        progress = true;
      }
      if (down_eof_ && !tunnel_up_shut_ && upstreamPending() == 0 && up_state_ == Up::kOpen) {
        boost::system::error_code ec;
        up_.shutdown(tcp::socket::shutdown_send, ec);
        tunnel_up_shut_ = true;
        progress = true;
      }
      return progress;
    }
    case Phase::kLinger:
      din_.clear();
      if (down_eof_) {
        close(false);
        return true;
      }
      return false;
    case Phase::kLocal: return false;
  }
  return false;
}

bool H1Session::writeClient() {
  if (!down_writable_ || clientPending() == 0) return false;
  bool progress = false;
  while (dout_sent_ < dout_.size()) {
    boost::system::error_code ec;
    std::size_t n =
        down_.write_some(asio::buffer(dout_.data() + dout_sent_, dout_.size() - dout_sent_), ec);
    if (wouldBlock(ec)) {
      down_writable_ = false;
      break;
    }
    if (ec) {
      clientGone();
      return true;
    }
    dout_sent_ += n;
    proxy_.listener_stats_.tx_bytes.inc(n);
    progress = true;
  }
  if (progress) send_deadline_ = kNever;  // the client reads: the deadline runs from a block
  if (dout_sent_ == dout_.size()) {
    dout_.clear();
    dout_sent_ = 0;
  }
  return progress;
}

void H1Session::clientGone() {
  if (closed_) return;
  if (error_ == ProxyError::kNone) error_ = ProxyError::kDownstreamReset;
  releaseUpstream(false);
  close(false);
}

// --------------------------------------------------------------------------------------------
// A request head arrived.

void H1Session::onRequestHead(std::size_t head_len) {
  const auto& cfg = proxy_.cfg_;
  auto& stats = proxy_.stats_;
  stats.requests.inc();
  stats.active.inc();
  in_request_ = true;
  log_pending_ = true;
  if (!head_started_) req_start_ = Clock::now();
  down_deadline_ = kNever;  // no client timer while the request is in flight

  method_.assign(req_.method);
  authority_.assign(req_.authority);
  path_.assign(req_.target_form == H1TargetForm::kOrigin ? req_.target : req_.path);
  method_id_ = req_.method_id;
  version_ = req_.version;
  keep_alive_ = req_.keep_alive && !closing_;
  head_request_ = method_id_ == H1Method::kHead;
  expect_continue_ = req_.expect_continue;
  req_body_kind_ = req_.body_kind;
  req_done_ = req_body_kind_ == H1BodyKind::kNone ||
              (req_body_kind_ == H1BodyKind::kContentLength && req_.content_length == 0);
  if (!req_done_) {
    // A body follows, and no answer will carry the ACK until it is in: acknowledge the head now
    // and quickly after it, or a client with Nagle's algorithm on would hold the body back until
    // our delayed ACK (40 ms). The listener turned quick ACKs off for the bodiless common case;
    // the kernel may turn them off again later, so this is per request with a body.
    int one = 1;
    (void)::setsockopt(down_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
  }
  websocket_ = false;
  for (std::string_view p : req_.upgrade_protocols) {
    if (h1EqualsIgnoreCase(p, "websocket")) websocket_ = true;
  }

  ProxyError early = ProxyError::kNone;
  const uint32_t hops = incomingHops(req_.headers);
  if (method_id_ == H1Method::kConnect) {
    early = ProxyError::kMethodNotAllowed;
  } else if (hops >= cfg.http.max_hops) {
    early = ProxyError::kLoopDetected;
  } else if (cfg.http.max_request_body && req_body_kind_ == H1BodyKind::kContentLength &&
             req_.content_length > *cfg.http.max_request_body) {
    early = ProxyError::kBodyTooLarge;
  }

  if (early == ProxyError::kNone) {
    // Route on the normalised path; send the normalised path (what was routed is what the
    // upstream sees: no "/public/../admin" confusion).
    std::string_view raw = req_.path;
    std::string_view query;
    if (auto q = raw.find('?'); q != std::string_view::npos) {
      query = raw.substr(q);
      raw = raw.substr(0, q);
    }
    if (req_.target_form == H1TargetForm::kAsterisk) {
      norm_path_.assign("*");
    } else {
      normalizePath(raw.empty() ? std::string_view("/") : raw, norm_path_);
    }
    const auto& headers = req_.headers;
    route_ = proxy_.router_->match(req_.method, req_.authority, norm_path_,
                                   [&headers](std::string_view name) { return headers.get(name); });
    if (route_ == nullptr) {
      early = ProxyError::kNoRoute;
    } else {
      route_cfg_ =
          &cfg.http.routes[static_cast<std::size_t>(route_ - proxy_.router_->routes().data())];
      target_.clear();
      if (route_->prefix_rewrite && route_->match.path_prefix &&
          norm_path_.size() >= route_->match.path_prefix->size()) {
        target_.append(*route_->prefix_rewrite);
        target_.append(norm_path_, route_->match.path_prefix->size());
        if (target_.empty() || target_[0] != '/') target_.insert(target_.begin(), '/');
      } else {
        target_.append(norm_path_);
      }
      target_.append(query);
      cluster_ = route_->cluster_index;
      upstream_name_.clear();
      if (route_->upstream_host_from_request) {
        // chocon style: "api.example.com.pf-https" -> upstream host "api.example.com".
        std::string_view h = stripPort(req_.authority);
        const std::size_t suffix =
            route_->match.host_suffix ? route_->match.host_suffix->size() : 0;
        std::string_view base = h.substr(0, h.size() >= suffix ? h.size() - suffix : 0);
        bool ok = !base.empty() && base.size() <= 253 && base.front() != '.' &&
                  base.front() != '-' && base.back() != '.' && base.back() != '-';
        for (char ch : base) {
          ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-');
        }
        if (!ok) {
          early = ProxyError::kBadUpstreamHost;
        } else {
          for (char ch : base) {
            upstream_name_.push_back((ch >= 'A' && ch <= 'Z') ? static_cast<char>(ch + 32) : ch);
          }
          const uint16_t port = proxy_.worker_.config.clusters[cluster_].port;
          if (port != 443) {
            upstream_name_host_ = upstream_name_ + ":" + std::to_string(port);
          } else {
            upstream_name_host_ = upstream_name_;
          }
        }
      }
    }
  }

  const auto& ts = proxy_.tracing_;
  traced_ = false;
  if (early == ProxyError::kNone && (ts.propagates() || ts.request_id)) {
    tracing::IncomingTraceHeaders in;
    for (const H1Field& f : req_.headers) in.offer(f.name, f.value);
    tracing::decidePropagation(ts, in, proxy_.worker_.ids, prop_);
    traced_ = true;
  }

  if (early == ProxyError::kNone) {
    std::string_view host = route_->host_rewrite     ? std::string_view(*route_->host_rewrite)
                            : upstream_name_.empty() ? std::string_view(authority_)
                                                     : std::string_view(upstream_name_host_);
    if (host.empty()) host = route_->cluster;  // HTTP/1.0 without Host
    up_head_.clear();
    UpstreamRequest ur;
    ur.head = &req_;
    ur.target = target_;
    ur.host = host;
    ur.client_address = client_ip_;
    ur.hops = hops + 1;
    ur.websocket = websocket_;
    ur.drop_underscore_names =
        proxy_.cfg_.http.headers_with_underscores == config::HttpListenerConfig::Underscores::kDrop;
    ur.tracing = traced_ ? &prop_ : nullptr;
    if (const std::size_t dropped = writeUpstreamRequestHead(ur, up_head_)) {
      proxy_.stats_.underscore_fields_dropped.inc(dropped);
    }
  }

  // The head's views are not used past this point.
  din_.consume(head_len);
  phase_ = Phase::kExchange;
  req_cl_.reset(req_.content_length);
  req_chunked_.reset();
  up_body_.clear();
  up_body_sent_ = 0;
  replayable_ = true;

  if (early != ProxyError::kNone) {
    localError(early);
    return;
  }
  retries_left_ = route_cfg_->retries.attempts;
  request_deadline_ = route_cfg_->timeout ? req_start_ + *route_cfg_->timeout : kNever;
  if (!upstream_name_.empty()) {
    startDynamic();
    return;
  }
  dyn_.reset();
  lb_ = &proxy_.worker_.clusters[cluster_].lb;
  pool_ = proxy_.worker_.pools[cluster_].get();
  tls_cache_ = &proxy_.worker_.tls_sessions[cluster_];
  useSnapshot(proxy_.worker_.clusters[cluster_].snapshot);
}

void H1Session::useSnapshot(cluster::ClusterSnapshotPtr snapshot) {
  snapshot_ = std::move(snapshot);
  tried_.assign(snapshot_->endpoints.size(), false);
  attempted_ = false;
  last_failure_ = ProxyError::kNoHealthyUpstream;
  startUpstream(std::nullopt);
}

void H1Session::startDynamic() {
  auto& w = proxy_.worker_;
  dyn_ = w.dynamicHost(cluster_, upstream_name_);
  lb_ = &dyn_->lb;
  pool_ = dyn_->pool.get();
  tls_cache_ = &dyn_->sessions;
  const auto now = Clock::now();
  if (dyn_->snapshot && !dyn_->snapshot->endpoints.empty()) {
    if (now >= dyn_->expires) w.resolve(cluster_, dyn_);  // refresh; the stale answer serves now
    useSnapshot(dyn_->snapshot);
    return;
  }
  if (now >= dyn_->expires) {
    w.resolve(cluster_, dyn_);
    // A hosts-file answer (or an immediate failure) arrives inside resolve().
    if (dyn_->snapshot && !dyn_->snapshot->endpoints.empty()) {
      useSnapshot(dyn_->snapshot);
      return;
    }
  }
  if (!dyn_->resolving) {  // failed a moment ago: do not hammer the resolver
    localError(ProxyError::kDnsFailure);
    return;
  }
  resolving_ = true;
  dyn_->waiters.push_back(weak_from_this());
  connect_deadline_ = now + w.config.clusters[cluster_].connect_timeout;  // bounds the lookup
  armUpstreamTimer();
}

void H1Session::onHostResolved(DynamicHost* host) {
  if (closed_ || !resolving_ || dyn_.get() != host) return;
  resolving_ = false;
  connect_deadline_ = kNever;
  if (host->snapshot && !host->snapshot->endpoints.empty()) {
    useSnapshot(host->snapshot);
  } else {
    localError(ProxyError::kDnsFailure);
  }
  drive();
}

bool H1Session::feedRequestBody() {
  bool progress = false;
  const auto& limit = proxy_.cfg_.http.max_request_body;
  while (!req_done_ && !din_.empty() && upstreamPending() < HttpProxy::kHighWater) {
    if (req_body_kind_ == H1BodyKind::kContentLength) {
      std::string_view piece = req_cl_.take(din_.view());
      up_body_.append(piece);
      body_in_ += piece.size();
      din_.consume(piece.size());
      if (req_cl_.done()) req_done_ = true;
    } else {
      H1DecodeResult r = req_chunked_.decode(din_.view());
      if (r.failed()) {
        proxy_.errors_.count(r.error);
        error_token_ = h1ErrorToken(r.error);
        releaseUpstream(false);
        localResponse(h1ErrorStatus(r.error), error_token_, true);
        return true;
      }
      din_.consume(r.consumed);
      appendChunk(up_body_, r.data);
      body_in_ += r.data.size();
      if (r.done) {
        appendLastChunk(up_body_);
        req_done_ = true;
      }
      if (limit && body_in_ > *limit) {
        releaseUpstream(false);
        localError(ProxyError::kBodyTooLarge);
        return true;
      }
    }
    progress = true;
    if (up_body_.size() >= HttpProxy::kReplayLimit) replayable_ = false;
  }
  return progress;
}

// --------------------------------------------------------------------------------------------
// Upstream connection.

bool H1Session::idempotent() const {
  switch (method_id_) {
    case H1Method::kGet:
    case H1Method::kHead:
    case H1Method::kOptions:
    case H1Method::kTrace:
    case H1Method::kPut:
    case H1Method::kDelete: return true;
    default: return false;
  }
}

void H1Session::startUpstream(std::optional<std::size_t> forced) {
  auto& view = proxy_.worker_.clusters[cluster_];
  std::optional<std::size_t> idx = forced;
  if (!idx) {
    const bool lb_current = dyn_ ? dyn_->snapshot == snapshot_ : view.snapshot == snapshot_;
    if (!attempted_ && lb_current) {
      idx = lb_->pick(*snapshot_);
    } else if (!snapshot_->endpoints.empty()) {
      idx = lb::RoundRobin::next(*snapshot_,
                                 attempted_ ? endpoint_ : snapshot_->endpoints.size() - 1, tried_);
    }
  }
  if (!idx) {
    if (!attempted_) view.stats->no_endpoint.inc();
    localError(last_failure_);
    return;
  }
  attempted_ = true;
  endpoint_ = *idx;
  tried_[endpoint_] = true;
  const auto& ep = *snapshot_->endpoints[endpoint_];
  if (proxy_.worker_.isOwnListener(ep.address)) {
    localError(ProxyError::kLoopDetected);
    return;
  }
  const auto& per_try = route_cfg_->retries.per_try_timeout;
  try_deadline_ = per_try ? Clock::now() + *per_try : kNever;
  if (!no_pool_) {
    // A pooled connection the upstream has closed is found by a peek only where a failure after
    // sending could not be retried (non-idempotent requests); idempotent ones save the syscall
    // and are replayed on a fresh connection if the pooled one turns out dead.
    if (auto pooled = pool_->acquire(ep.address, !idempotent())) {
      up_ = std::move(pooled->socket);
      up_tls_ = std::move(pooled->tls);
      up_requests_ = pooled->requests;
      up_reused_ = true;
      onUpstreamOpen();
      return;
    }
  }
  up_reused_ = false;
  up_requests_ = 0;
  connectTo(endpoint_);
}

void H1Session::connectTo(std::size_t index) {
  const auto& ep = *snapshot_->endpoints[index];
  tcp::endpoint target;
  std::memcpy(target.data(), ep.address.data(), ep.address.length);
  boost::system::error_code ec;
  net::close(up_);
  up_.open(target.protocol(), ec);
  if (ec) {
    onConnectFailed(index, false);
    return;
  }
  up_state_ = Up::kConnecting;
  connect_timed_out_ = false;
  connect_started_ = Clock::now();
  connect_deadline_ = connect_started_ + snapshot_->connect_timeout;
  armUpstreamTimer();
  const uint32_t gen = up_gen_;
  up_.async_connect(
      target, [this, self = shared_from_this(), index, gen](boost::system::error_code cec) {
        if (closed_ || gen != up_gen_) return;
        if (cec || connect_timed_out_) {
          connect_deadline_ = kNever;
          onConnectFailed(index, connect_timed_out_);
        } else {
          auto& cs = *proxy_.worker_.clusters[cluster_].stats;
          cs.cx_total.inc();
          cs.connect_time.record(micros(Clock::now() - connect_started_));
          boost::system::error_code ignored;
          up_.set_option(tcp::no_delay(true), ignored);
          up_.non_blocking(true, ignored);
          net::enableInq(up_);
          if (const auto& ctx = proxy_.worker_.tls[cluster_]) {
            // The handshake runs under the same connect_timeout.
            up_tls_ = std::make_unique<tls::TlsConnection>(*ctx, up_.native_handle(), tls_cache_,
                                                           snapshot_->endpoints[index]->address,
                                                           upstream_name_);
            tlsHandshake();
          } else {
            connect_deadline_ = kNever;
            onUpstreamOpen();
          }
        }
        drive();
      });
}

void H1Session::tlsHandshake() {
  auto& cs = *proxy_.worker_.clusters[cluster_].stats;
  const auto r = up_tls_->handshake();
  if (r == tls::TlsConnection::Io::kOk) {
    connect_deadline_ = kNever;
    cs.tls_handshakes.inc();
    if (up_tls_->resumed()) cs.tls_resumed.inc();
    onUpstreamOpen();
    return;
  }
  if (r == tls::TlsConnection::Io::kWantRead || r == tls::TlsConnection::Io::kWantWrite) {
    const auto what =
        r == tls::TlsConnection::Io::kWantRead ? tcp::socket::wait_read : tcp::socket::wait_write;
    up_.async_wait(what, [this, self = shared_from_this(), gen = up_gen_,
                          index = endpoint_](boost::system::error_code ec) {
      if (closed_ || gen != up_gen_) return;
      if (ec || connect_timed_out_) {
        connect_deadline_ = kNever;
        onConnectFailed(index, connect_timed_out_);
      } else {
        tlsHandshake();
      }
      drive();
    });
    return;
  }
  cs.tls_failures.inc();
  auto& w = proxy_.worker_;
  const auto now = Clock::now();
  if (w.tls_warned_at == Clock::time_point{} || now - w.tls_warned_at >= w.kTlsWarnInterval) {
    SPDLOG_WARN(
        "listener {}: TLS handshake with {} in cluster {} failed: {} ({} other failed "
        "handshakes on this worker since the last report)",
        proxy_.cfg_.name, snapshot_->endpoints[endpoint_]->host_port.toString(), snapshot_->name,
        up_tls_->lastError(), w.tls_failures_unreported);
    w.tls_warned_at = now;
    w.tls_failures_unreported = 0;
  } else {
    ++w.tls_failures_unreported;
    SPDLOG_DEBUG("listener {}: TLS handshake with {} in cluster {} failed: {}", proxy_.cfg_.name,
                 snapshot_->endpoints[endpoint_]->host_port.toString(), snapshot_->name,
                 up_tls_->lastError());
  }
  connect_deadline_ = kNever;
  onConnectFailed(endpoint_, false);
}

bool H1Session::tlsReadUpstream() {
  if (up_tls_ == nullptr || up_state_ != Up::kOpen || !tls_readable_ || !wantUpstreamRead()) {
    return false;
  }
  const std::size_t max_cap = upstreamBufferLimit();
  if (uin_.prepare(4096, max_cap) == 0) return false;
  std::size_t n = 0;
  switch (up_tls_->read(uin_.writePtr(), uin_.room(), n)) {
    case tls::TlsConnection::Io::kOk:
      uin_.commit(n);
      resp_bytes_ += n;
      proxy_.worker_.clusters[cluster_].stats->rx_bytes.inc(n);
      return true;
    case tls::TlsConnection::Io::kWantRead: tls_readable_ = false; return false;
    case tls::TlsConnection::Io::kWantWrite:
      tls_readable_ = false;
      tls_read_needs_write_ = true;
      up_writable_ = false;
      return false;
    case tls::TlsConnection::Io::kClosed: up_eof_ = true; return true;
    case tls::TlsConnection::Io::kError:
      SPDLOG_DEBUG("listener {}: TLS read from {}: {}", proxy_.cfg_.name,
                   snapshot_->endpoints[endpoint_]->host_port.toString(), up_tls_->lastError());
      up_eof_ = true;
      up_error_ = true;
      return true;
  }
  return false;
}

void H1Session::onConnectFailed(std::size_t index, bool timed_out) {
  auto& cs = *proxy_.worker_.clusters[cluster_].stats;
  if (timed_out) {
    cs.connect_timeouts.inc();
  } else {
    cs.connect_failures.inc();
  }
  SPDLOG_DEBUG("listener {}: connect to {} in cluster {} {}", proxy_.cfg_.name,
               snapshot_->endpoints[index]->host_port.toString(), snapshot_->name,
               timed_out ? "timed out" : "failed");
  last_failure_ = timed_out ? ProxyError::kConnectTimeout : ProxyError::kConnectFailure;
  resetUpstream(false);
  // Nothing was sent: trying the next endpoint is always safe (and is not a retry).
  startUpstream(std::nullopt);
}

void H1Session::onUpstreamOpen() {
  up_state_ = Up::kOpen;
  proxy_.worker_.clusters[cluster_].stats->cx_active.inc();
  up_writable_ = true;
  tls_readable_ = true;
  tls_write_needs_read_ = tls_read_needs_write_ = false;
  up_eof_ = up_error_ = false;
  up_reading_ = up_write_wait_ = up_read_wait_ = false;
  uin_.pin(false);
  uin_.clear();
  rparser_.reset();
  resp_head_done_ = false;
  resp_bytes_ = 0;
  up_head_sent_ = 0;
  up_body_sent_ = 0;
  req_sent_ = false;
  up_bytes_written_ = 0;
  up_sent_at_ = Clock::now();
  armUpstreamTimer();
}

void H1Session::resetUpstream(bool abortive) {
  if (up_state_ == Up::kOpen) proxy_.worker_.clusters[cluster_].stats->cx_active.dec();
  up_tls_.reset();  // never closes the fd; the socket is closed below
  net::close(up_, abortive);
  ++up_gen_;  // handlers of the old connection ignore what they see
  up_state_ = Up::kNone;
  up_reading_ = up_write_wait_ = up_read_wait_ = false;
  uin_.pin(false);  // the read was cancelled with the socket
  connect_deadline_ = kNever;
}

void H1Session::releaseUpstream(bool reusable) {
  if (up_state_ == Up::kNone) return;
  try_deadline_ = kNever;
  if (reusable && up_state_ == Up::kOpen && !up_reading_ && !up_write_wait_ && !up_read_wait_ &&
      !proxy_.worker_.draining) {
    proxy_.worker_.clusters[cluster_].stats->cx_active.dec();
    const auto& ep = *snapshot_->endpoints[endpoint_];
    pool_->release(ep.address,
                   pool::PooledConnection{std::move(up_), up_requests_ + 1, std::move(up_tls_)});
    ++up_gen_;
    up_state_ = Up::kNone;
    return;
  }
  resetUpstream(!resp_done_ && up_state_ == Up::kOpen);
}

bool H1Session::writeUpstream() {
  if (up_state_ != Up::kOpen || !up_writable_ || upstreamPending() == 0) return false;
  // A request whose body fits the replay buffer is held until the body is complete and valid:
  // a malformed or oversized body is then refused before the upstream sees any of it (nginx's
  // request buffering, bounded), and a failed try can be replayed. A larger body streams from
  // the moment it outgrows the buffer. With Expect: 100-continue the client waits for the
  // upstream's 100, so the head goes at once.
  if (phase_ == Phase::kExchange && !req_done_ && replayable_ && !expect_continue_ &&
      upstreamPending() < HttpProxy::kHighWater) {
    return false;
  }
  if (phase_ == Phase::kTunnel && tunnel_up_shut_) return false;
  bool progress = false;
  while (upstreamPending() != 0) {
    const std::size_t head_left = up_head_.size() - up_head_sent_;
    const std::size_t body_left = up_body_.size() - up_body_sent_;
    boost::system::error_code ec;
    std::size_t n = 0;
    if (up_tls_ != nullptr) {
      const char* p =
          head_left != 0 ? up_head_.data() + up_head_sent_ : up_body_.data() + up_body_sent_;
      const auto r = up_tls_->write(p, head_left != 0 ? head_left : body_left, n);
      if (r == tls::TlsConnection::Io::kWantWrite) {
        up_writable_ = false;
        break;
      }
      if (r == tls::TlsConnection::Io::kWantRead) {
        up_writable_ = false;
        tls_write_needs_read_ = true;
        tls_readable_ = false;
        break;
      }
      if (r != tls::TlsConnection::Io::kOk) ec = asio::error::connection_reset;
    } else if (head_left == 0 || body_left == 0) {  // one buffer: send(2), cheaper than sendmsg(2)
      n = head_left != 0
              ? up_.write_some(asio::buffer(up_head_.data() + up_head_sent_, head_left), ec)
              : up_.write_some(asio::buffer(up_body_.data() + up_body_sent_, body_left), ec);
    } else {
      std::array<asio::const_buffer, 2> bufs{
          asio::const_buffer(up_head_.data() + up_head_sent_, head_left),
          asio::const_buffer(up_body_.data() + up_body_sent_, body_left)};
      n = up_.write_some(bufs, ec);
    }
    if (wouldBlock(ec)) {
      up_writable_ = false;
      break;
    }
    if (ec) {
      up_eof_ = true;
      up_error_ = true;
      return true;
    }
    const std::size_t from_head = std::min(n, up_head_.size() - up_head_sent_);
    up_head_sent_ += from_head;
    up_body_sent_ += n - from_head;
    up_bytes_written_ += n;
    proxy_.worker_.clusters[cluster_].stats->tx_bytes.inc(n);
    progress = true;
  }
  if (!replayable_ && up_body_sent_ == up_body_.size()) {
    up_body_.clear();
    up_body_sent_ = 0;
  }
  if (!req_sent_ && req_done_ && upstreamPending() == 0) req_sent_ = true;
  return progress;
}

// The upstream buffer grows up to a response head's limit only while a head is being read.
std::size_t H1Session::upstreamBufferLimit() const {
  return resp_head_done_ ? HttpProxy::kReadSize
                         : kResponseLimits.max_head_bytes + HttpProxy::kReadSize;
}

void H1Session::startUpstreamRead() {
  const std::size_t max_cap = upstreamBufferLimit();
  if (uin_.prepare(4096, max_cap) == 0) return;
  up_reading_ = true;
  uin_.pin(true);
  up_read_gen_ = up_gen_;
  up_recv_.start(up_, uin_.writePtr(), uin_.room(), shared_from_this(), &H1Session::onUpstreamRecv,
                 this);
}

void H1Session::onUpstreamRecv(void* ctx, const boost::system::error_code& ec, std::size_t n,
                               bool /*more*/) {
  auto& self = *static_cast<H1Session*>(ctx);
  if (self.closed_ || self.up_read_gen_ != self.up_gen_) return;  // that connection is gone
  self.up_reading_ = false;
  self.uin_.pin(false);
  if (ec) {
    self.up_eof_ = true;
    if (ec != asio::error::eof) self.up_error_ = true;
  } else {
    self.uin_.commit(n);
    self.resp_bytes_ += n;
    self.proxy_.worker_.clusters[self.cluster_].stats->rx_bytes.inc(n);
  }
  self.drive();
}

bool H1Session::processUpstream() {
  if (up_state_ != Up::kOpen) return false;
  if (phase_ == Phase::kTunnel) {
    bool progress = false;
    if (!uin_.empty()) {
      dout_.append(uin_.view());
      body_out_ += uin_.size();
      uin_.clear();
      progress = true;
    }
    if (up_eof_ && uin_.empty() && !tunnel_down_shut_ && clientPending() == 0) {
      boost::system::error_code ec;
      down_.shutdown(tcp::socket::shutdown_send, ec);
      tunnel_down_shut_ = true;
      progress = true;
    }
    return progress;
  }
  if (phase_ != Phase::kExchange) return false;
  if (!resp_head_done_) {
    if (!uin_.empty()) {
      H1Result r = rparser_.parse(uin_.view(), method_id_, resp_);
      if (r.failed()) {
        SPDLOG_DEBUG("listener {}: malformed response from {}: {}", proxy_.cfg_.name,
                     snapshot_->endpoints[endpoint_]->host_port.toString(), h1ErrorToken(r.error));
        releaseUpstream(false);
        localError(ProxyError::kUpstreamProtocolError);
        return true;
      }
      if (r.complete()) {
        if (resp_.interim) {
          if (resp_.status == 100 && expect_continue_ && !continue_sent_) {
            dout_.append("HTTP/1.1 100 Continue\r\n\r\n");
            continue_sent_ = true;
          }
          uin_.consume(r.consumed);
          rparser_.reset();
          return true;
        }
        onResponseHead(r.consumed);
        // Move what body bytes already arrived too, so head and body leave in one write.
        if (!closed_ && phase_ == Phase::kExchange && resp_head_sent_) moveResponseBody();
        return true;
      }
    }
    if (up_eof_) {
      if (resp_bytes_ == 0) {
        upstreamFailed(ProxyError::kUpstreamReset, true);
      } else {
        releaseUpstream(false);
        localError(up_error_ ? ProxyError::kUpstreamReset : ProxyError::kUpstreamProtocolError);
      }
      return true;
    }
    return false;
  }
  return moveResponseBody();
}

void H1Session::upstreamFailed(ProxyError e, bool may_retry) {
  const bool nothing_received = resp_bytes_ == 0;
  const bool was_reused = up_reused_;
  const uint64_t written = up_bytes_written_;
  releaseUpstream(false);
  if (may_retry && nothing_received && replayable_) {
    // A pooled connection the upstream closed while it sat idle (the race every keepalive
    // pool has): once, on a fresh connection to the same endpoint.
    if (was_reused && !no_pool_ && (idempotent() || written == 0)) {
      no_pool_ = true;
      startUpstream(endpoint_);
      return;
    }
    const auto& rc = route_cfg_->retries;
    if (retries_left_ > 0 && (rc.on & config::kRetryReset) && idempotent()) {
      retry();
      return;
    }
  }
  localError(e);
}

void H1Session::retry() {
  --retries_left_;
  proxy_.stats_.retries.inc();
  // Prefer an endpoint not tried yet; with none left, any endpoint again.
  if (lb::RoundRobin::next(*snapshot_, endpoint_, tried_) == std::nullopt) {
    std::fill(tried_.begin(), tried_.end(), false);
  }
  startUpstream(std::nullopt);
}

void H1Session::onResponseHead(std::size_t consumed) {
  auto& stats = proxy_.stats_;
  resp_head_done_ = true;
  upstream_time_us_ = micros(Clock::now() - up_sent_at_);
  stats.upstream_time.record(upstream_time_us_);
  const uint16_t status = resp_.status;

  const auto& rc = route_cfg_->retries;
  uint32_t bit = 0;
  if (status == 502) bit = config::kRetry502;
  if (status == 503) bit = config::kRetry503;
  if (status == 504) bit = config::kRetry504;
  if (bit != 0 && (rc.on & bit) && retries_left_ > 0 && req_done_ && replayable_ && idempotent()) {
    releaseUpstream(false);
    retry();
    return;
  }

  bool tunnel = false;
  if (resp_.tunnel) {
    // A 101 must name the protocol it switches to (RFC 9110 7.8), and only one the client asked
    // for: websocket, the only upgrade passed on. Anything else would open a byte pipe to an
    // upstream speaking a protocol the client never offered.
    bool names_websocket = false;
    for (std::string_view p : resp_.upgrade_protocols) {
      if (h1EqualsIgnoreCase(p, "websocket")) names_websocket = true;
    }
    if (!(websocket_ && status == 101 && names_websocket)) {
      releaseUpstream(false);
      localError(ProxyError::kUpstreamProtocolError);
      return;
    }
    tunnel = true;
  }
  resp_in_kind_ = resp_.body_kind;
  if (tunnel) {
    resp_out_kind_ = H1BodyKind::kNone;
  } else if (resp_in_kind_ == H1BodyKind::kChunked) {
    resp_out_kind_ =
        version_ == H1Version::kHttp10 ? H1BodyKind::kUntilClose : H1BodyKind::kChunked;
  } else {
    resp_out_kind_ = resp_in_kind_;
  }
  if (resp_out_kind_ == H1BodyKind::kUntilClose || closing_ || proxy_.worker_.draining) {
    keep_alive_ = false;
  }
  DownstreamResponse dr;
  dr.head = &resp_;
  dr.body = resp_out_kind_;
  dr.close = !keep_alive_;
  dr.keep_alive_10 = keep_alive_ && version_ == H1Version::kHttp10;
  dr.tunnel = tunnel;
  dr.request_id = traced_ ? prop_.responseRequestId() : std::string_view{};
  writeDownstreamResponseHead(dr, dout_);
  resp_head_sent_ = true;
  status_ = status;
  up_keep_alive_ = resp_.keep_alive && !tunnel;
  uin_.consume(consumed);  // resp_'s views are not used past this point
  resp_cl_.reset(resp_.content_length);
  resp_chunked_.reset();
  body_out_ = 0;
  resp_done_ = !tunnel && resp_in_kind_ == H1BodyKind::kNone;
  if (tunnel) {
    phase_ = Phase::kTunnel;
    replayable_ = false;
    up_body_.clear();
    up_body_sent_ = 0;
    request_deadline_ = try_deadline_ = kNever;
  }
}

bool H1Session::moveResponseBody() {
  bool progress = false;
  while (!resp_done_ && !uin_.empty() && clientPending() < HttpProxy::kHighWater) {
    switch (resp_in_kind_) {
      case H1BodyKind::kContentLength: {
        std::string_view piece = resp_cl_.take(uin_.view());
        dout_.append(piece);
        body_out_ += piece.size();
        uin_.consume(piece.size());
        if (resp_cl_.done()) resp_done_ = true;
        break;
      }
      case H1BodyKind::kChunked: {
        H1DecodeResult r = resp_chunked_.decode(uin_.view());
        if (r.failed()) {
          abortClient(ProxyError::kUpstreamProtocolError);
          return true;
        }
        uin_.consume(r.consumed);
        if (resp_out_kind_ == H1BodyKind::kChunked) {
          appendChunk(dout_, r.data);
        } else {
          dout_.append(r.data);
        }
        body_out_ += r.data.size();
        if (r.done) {
          if (resp_out_kind_ == H1BodyKind::kChunked) appendLastChunk(dout_);
          resp_done_ = true;
        }
        break;
      }
      default:
        dout_.append(uin_.view());
        body_out_ += uin_.size();
        uin_.clear();
        break;
    }
    progress = true;
  }
  if (!resp_done_ && up_eof_ && uin_.empty()) {
    if (resp_in_kind_ == H1BodyKind::kUntilClose && !up_error_) {
      resp_done_ = true;
      up_keep_alive_ = false;
    } else {
      // Cut off mid-body: the client must not mistake what it got for the whole response.
      abortClient(ProxyError::kUpstreamReset);
    }
    return true;
  }
  if (resp_done_ && !uin_.empty()) up_keep_alive_ = false;  // bytes after the response
  return progress;
}

// --------------------------------------------------------------------------------------------
// Completion.

bool H1Session::checkDone() {
  switch (phase_) {
    case Phase::kExchange:
      if (resp_done_ && clientPending() == 0) {
        finishExchange();
        return true;
      }
      return false;
    case Phase::kLocal:
      if (clientPending() == 0) {
        finishLog();
        if (local_close_ && req_done_ && din_.empty() && !down_reading_) {
          close(false);
        } else if (local_close_) {
          lingerClose();
        } else {
          nextRequest();
        }
        return true;
      }
      return false;
    case Phase::kTunnel:
      if (tunnel_up_shut_ && tunnel_down_shut_) {
        finishLog();
        releaseUpstream(false);
        close(false);
        return true;
      }
      return false;
    default: return false;
  }
}

void H1Session::finishExchange() {
  const bool reusable = up_keep_alive_ && req_sent_ && resp_done_ && uin_.empty();
  releaseUpstream(reusable);
  finishLog();
  if (keep_alive_ && !closing_ && req_done_) {
    nextRequest();
  } else if (req_done_ && din_.empty() && !down_reading_) {
    close(false);  // nothing unread: a plain close cannot turn into an RST (nginx does the same)
  } else {
    lingerClose();
  }
}

void H1Session::finishLog() {
  if (!log_pending_) return;
  log_pending_ = false;
  auto& stats = proxy_.stats_;
  if (status_ != 0) countStatus(status_);
  if (in_request_) {
    in_request_ = false;
    stats.active.dec();
    stats.duration.record(micros(Clock::now() - req_start_));
  }
  if (proxy_.worker_.access_log != nullptr) writeAccessLog();
}

void H1Session::countStatus(uint16_t status) {
  auto& s = proxy_.stats_;
  switch (status / 100) {
    case 1: s.responses_1xx.inc(); break;
    case 2: s.responses_2xx.inc(); break;
    case 3: s.responses_3xx.inc(); break;
    case 4: s.responses_4xx.inc(); break;
    default: s.responses_5xx.inc(); break;
  }
}

void H1Session::nextRequest() {
  phase_ = Phase::kHead;
  parser_.reset();
  head_started_ = false;
  route_ = nullptr;
  route_cfg_ = nullptr;
  error_ = ProxyError::kNone;
  error_token_ = {};
  status_ = 0;
  traced_ = false;
  req_done_ = req_sent_ = false;
  resp_head_done_ = resp_head_sent_ = resp_done_ = false;
  continue_sent_ = false;
  body_in_ = body_out_ = 0;
  upstream_time_us_ = 0;
  no_pool_ = false;
  attempted_ = false;
  up_body_.clear();
  up_body_sent_ = 0;
  up_head_sent_ = 0;
  up_head_.clear();
  snapshot_.reset();
  dyn_.reset();
  resolving_ = false;
  request_deadline_ = try_deadline_ = kNever;
  if (closing_ && din_.empty()) {
    close(false);
    return;
  }
  // Buffers keep their storage between requests: freeing 16 KiB per request made glibc trim
  // (madvise) on every response.
  if (din_.empty()) armClientTimer(Clock::now() + proxy_.cfg_.idle_timeout);
}

void H1Session::localResponse(uint16_t status, std::string_view token, bool close_after) {
  if (resp_head_sent_) {
    abortClient(error_);
    return;
  }
  local_close_ = close_after || closing_ || !keep_alive_ || !req_done_ || proxy_.worker_.draining;
  dout_.clear();
  dout_sent_ = 0;
  std::string_view request_id = traced_ ? prop_.responseRequestId() : std::string_view{};
  writeLocalResponse(dout_, status, token, request_id, local_close_, head_request_);
  resp_head_sent_ = true;
  status_ = status;
  log_pending_ = true;
  if (error_token_.empty()) error_token_ = token;
  proxy_.stats_.local_responses.inc();
  request_deadline_ = try_deadline_ = kNever;
  down_deadline_ = kNever;
  phase_ = Phase::kLocal;
}

void H1Session::localError(ProxyError e) {
  proxy_.errors_.count(e);
  error_ = e;
  error_token_ = proxyErrorToken(e);
  releaseUpstream(false);
  localResponse(proxyErrorStatus(e), error_token_, false);
}

void H1Session::rejectRequest(const H1Result& r) {
  proxy_.errors_.count(r.error);
  error_token_ = r.token;
  if (!head_started_) req_start_ = Clock::now();
  method_.clear();
  authority_.clear();
  path_.clear();
  keep_alive_ = false;
  head_request_ = false;
  localResponse(r.status, r.token, true);
}

void H1Session::abortClient(ProxyError e) {
  if (error_ == ProxyError::kNone || error_ == e) {
    error_ = e;
    error_token_ = proxyErrorToken(e);
  }
  proxy_.errors_.count(e);
  proxy_.stats_.aborted.inc();
  releaseUpstream(false);
  finishLog();
  net::close(down_, /*abort=*/true);
  close(false);
}

void H1Session::lingerClose() {
  // Shut our side down, then read and discard until the client closes (or kLingerTime), so
  // that a close with unread input does not turn into an RST that destroys the response the
  // client has not read yet.
  releaseUpstream(false);
  phase_ = Phase::kLinger;
  boost::system::error_code ec;
  down_.shutdown(tcp::socket::shutdown_send, ec);
  din_.clear();
  armClientTimer(Clock::now() + kLingerTime);
}

void H1Session::drain() {
  closing_ = true;
  if (phase_ != Phase::kHead || head_started_ || !din_.empty()) return;
  // Idle between requests, as far as this session has read. A next request already waiting in
  // the socket (a keepalive client sent it, or the connection was accepted just before the
  // listener closed) would turn the close into an RST and be lost unanswered: let it be read and
  // answered with `connection: close` instead.
  int waiting = 0;
  if (::ioctl(down_.native_handle(), FIONREAD, &waiting) == 0 && waiting > 0) return;
  close(false);
}

void H1Session::close(bool forced) {
  if (closed_) return;
  if (log_pending_) {
    if (error_ == ProxyError::kNone && error_token_.empty()) {
      error_token_ = forced ? std::string_view("drain_timeout")
                            : proxyErrorToken(ProxyError::kDownstreamReset);
    }
    finishLog();
  }
  closed_ = true;
  down_timer_.cancel();
  up_timer_.cancel();
  if (up_state_ != Up::kNone) resetUpstream(forced || !resp_done_);
  net::close(down_, forced);
  auto& ls = proxy_.listener_stats_;
  ls.active.dec();
  ls.closed.inc();
  if (forced) ls.drain_closed.inc();
  ls.duration.record(micros(Clock::now() - conn_start_));
  if (proxy_.cfg_.max_connections != 0) {
    proxy_.shared_connections_.fetch_sub(1, std::memory_order_relaxed);
  }
  proxy_.worker_.sessions.remove(this);
}

// --------------------------------------------------------------------------------------------
// Timers. Each side has one timer and a deadline; moving a deadline later costs nothing (the
// pending wait wakes up and sleeps for the rest), only an earlier one re-arms.

void H1Session::armClientTimer(Clock::time_point deadline) {
  down_deadline_ = deadline;
  scheduleClientTimer();
}

void H1Session::scheduleClientTimer() {
  const Clock::time_point deadline = std::min(down_deadline_, send_deadline_);
  if (deadline == kNever || closed_) return;
  if (down_timer_waits_ > 0 && down_timer_expiry_ <= deadline) return;
  down_timer_.expires_at(deadline);
  down_timer_expiry_ = deadline;
  ++down_timer_waits_;
  down_timer_.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
    --down_timer_waits_;
    if (closed_ || ec == asio::error::operation_aborted) return;
    const auto now = Clock::now();
    if (now >= send_deadline_) {
      onSendTimeout();
      if (!closed_) drive();
    } else if (now >= down_deadline_) {
      onClientTimer();
      drive();
    } else if (down_timer_waits_ == 0) {
      scheduleClientTimer();
    }
  });
}

void H1Session::onSendTimeout() {
  send_deadline_ = kNever;
  // The client has taken nothing for response_send_timeout: free the upstream and the buffers.
  if (phase_ == Phase::kLinger) {
    close(false);
    return;
  }
  abortClient(ProxyError::kResponseSendTimeout);
}

void H1Session::onClientTimer() {
  down_deadline_ = kNever;
  switch (phase_) {
    case Phase::kHead:
      if (head_started_) {
        proxy_.errors_.count(ProxyError::kRequestHeadersTimeout);
        error_ = ProxyError::kRequestHeadersTimeout;
        error_token_ = proxyErrorToken(error_);
        keep_alive_ = false;
        localResponse(408, error_token_, true);
      } else {
        proxy_.listener_stats_.idle_timeouts.inc();
        close(false);
      }
      break;
    case Phase::kExchange:
      if (req_done_) break;
      if (!down_reading_ || !din_.empty() || (expect_continue_ && !continue_sent_)) {
        // Not the client's fault: pilotfish is not reading it (the upstream is slow to take
        // the body) or the client waits for 100 Continue. Look again later.
        armClientTimer(Clock::now() + proxy_.cfg_.http.request_body_timeout);
        break;
      }
      keep_alive_ = false;
      if (resp_head_sent_) {
        abortClient(ProxyError::kRequestBodyTimeout);
      } else {
        localError(ProxyError::kRequestBodyTimeout);
      }
      break;
    case Phase::kLinger: close(false); break;
    default: break;
  }
}

void H1Session::armUpstreamTimer() {
  const Clock::time_point deadline =
      std::min({connect_deadline_, try_deadline_, request_deadline_});
  if (deadline == kNever || closed_) return;
  if (up_timer_waits_ > 0 && up_timer_expiry_ <= deadline) return;
  up_timer_.expires_at(deadline);
  up_timer_expiry_ = deadline;
  ++up_timer_waits_;
  up_timer_.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
    --up_timer_waits_;
    if (closed_ || ec == asio::error::operation_aborted) return;
    onUpstreamTimer();
    if (!closed_) {
      armUpstreamTimer();
      drive();
    }
  });
}

void H1Session::onUpstreamTimer() {
  const auto now = Clock::now();
  if (resolving_ && now >= connect_deadline_) {
    resolving_ = false;
    connect_deadline_ = kNever;
    localError(ProxyError::kDnsFailure);
    return;
  }
  if (up_state_ == Up::kConnecting && now >= connect_deadline_) {
    connect_timed_out_ = true;
    connect_deadline_ = kNever;
    net::close(up_);  // completes the connect with an error -> onConnectFailed
    return;
  }
  if (phase_ != Phase::kExchange) return;
  if (now >= request_deadline_) {
    request_deadline_ = kNever;
    if (resp_head_sent_) {
      abortClient(ProxyError::kUpstreamTimeout);
    } else {
      releaseUpstream(false);
      localError(ProxyError::kUpstreamTimeout);
    }
    return;
  }
  if (now >= try_deadline_ && !resp_head_done_) {
    try_deadline_ = kNever;
    const auto& rc = route_cfg_->retries;
    releaseUpstream(false);
    if (retries_left_ > 0 && (rc.on & config::kRetry504) && req_done_ && replayable_ &&
        idempotent()) {
      retry();
    } else {
      localError(ProxyError::kUpstreamTimeout);
    }
  }
}

// --------------------------------------------------------------------------------------------

void H1Session::writeAccessLog() {
  accesslog::AccessLogEntry e;
  e.setTs(head_started_ ? req_start_wall_ : std::chrono::system_clock::now());
  e.setListener(proxy_.cfg_.name);
  e.setProtocol(version_ == H1Version::kHttp10 ? "HTTP/1.0" : "HTTP/1.1");
  if (!method_.empty()) e.setMethod(method_);
  if (!authority_.empty()) e.setAuthority(authority_);
  if (!path_.empty()) e.setPath(path_);
  if (status_ != 0) e.setStatus(status_);
  e.setBytesIn(body_in_);
  e.setBytesOut(body_out_);
  e.setDurationUs(micros(Clock::now() - req_start_));
  if (route_ != nullptr) e.setCluster(route_->cluster);
  if (attempted_ && snapshot_) {
    e.setUpstreamAddress(snapshot_->endpoints[endpoint_]->host_port.toString());
  }
  if (resp_head_done_) e.setUpstreamTimeUs(upstream_time_us_);
  if (traced_) {
    if (!prop_.traceId().empty()) e.setTraceId(prop_.traceId());
    if (!prop_.spanId().empty()) e.setSpanId(prop_.spanId());
    if (!prop_.requestId().empty()) e.setRequestId(prop_.requestId());
  }
  if (!error_token_.empty()) e.setError(error_token_);
  proxy_.worker_.access_log->submit(proxy_.worker_.index, e);
}

}  // namespace pilotfish::http
