#include "tcp/tcp_session.h"
#include "pilotfish/net/close.h"

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <cstring>

namespace pilotfish::tcp {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
uint64_t micros(Clock::duration d) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(d).count());
}
}  // namespace

TcpSession::TcpSession(TcpProxy& proxy, tcp::socket&& downstream)
    : proxy_(proxy),
      down_(std::move(downstream)),
      up_(down_.get_executor()),
      timer_(down_.get_executor()),
      started_(Clock::now()) {
  d2u_.from = &down_;
  d2u_.to = &up_;
  d2u_.upstream_to_downstream = false;
  u2d_.from = &up_;
  u2d_.to = &down_;
  u2d_.upstream_to_downstream = true;
  d2u_.owner = u2d_.owner = this;
  last_activity_ = started_;
}

TcpSession::~TcpSession() = default;

void TcpSession::start() {
  if (proxy_.access_log_) started_wall_ = std::chrono::system_clock::now();
  proxy_.sessions_.add(this);
  proxy_.stats_.accepted.inc();
  proxy_.stats_.active.inc();
  snapshot_ = proxy_.cluster_.snapshot;
  auto first = proxy_.cluster_.lb.pick(*snapshot_);
  if (!first) {
    proxy_.cluster_.stats->no_endpoint.inc();
    error_ = "no_healthy_upstream";
    SPDLOG_DEBUG("listener {}: cluster {} has no endpoint that may take traffic", proxy_.cfg_.name,
                 snapshot_->name);
    close(false);
    return;
  }
  tried_.assign(snapshot_->endpoints.size(), false);
  first_endpoint_ = *first;
  connectTo(*first);
}

void TcpSession::connectTo(std::size_t index) {
  tried_[index] = true;
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
  connecting_ = true;
  connect_timed_out_ = false;
  connect_started_ = Clock::now();
  timer_.expires_after(snapshot_->connect_timeout);
  auto self = shared_from_this();
  timer_.async_wait([this, self](boost::system::error_code tec) {
    if (tec || closed_ || !connecting_) return;
    connect_timed_out_ = true;
    net::close(up_);  // completes the connect with an error
  });
  up_.async_connect(target, [this, self, index](boost::system::error_code cec) {
    connecting_ = false;
    if (closed_) return;
    timer_.cancel();
    if (cec || connect_timed_out_) {
      onConnectFailed(index, connect_timed_out_);
      return;
    }
    auto& cs = *proxy_.cluster_.stats;
    cs.cx_total.inc();
    cs.cx_active.inc();
    cs.connect_time.record(micros(Clock::now() - connect_started_));
    upstream_open_ = true;
    endpoint_ = index;
    boost::system::error_code ignored;
    up_.set_option(tcp::no_delay(true), ignored);
    net::enableInq(up_);
    startPumps();
  });
}

void TcpSession::onConnectFailed(std::size_t index, bool timed_out) {
  auto& cs = *proxy_.cluster_.stats;
  const auto& ep = *snapshot_->endpoints[index];
  if (timed_out) {
    cs.connect_timeouts.inc();
  } else {
    cs.connect_failures.inc();
  }
  SPDLOG_DEBUG("listener {}: connect to {} in cluster {} {}", proxy_.cfg_.name,
               ep.host_port.toString(), snapshot_->name, timed_out ? "timed out" : "failed");
  auto next = lb::RoundRobin::next(*snapshot_, index, tried_);
  if (!next) {
    cs.no_endpoint.inc();
    error_ = timed_out ? "connect_timeout" : "connect_failure";
    close(false);
    return;
  }
  connectTo(*next);
}

void TcpSession::startPumps() {
  touch();
  boost::system::error_code ec;
  up_.non_blocking(true, ec);  // the listener handed over down_ non-blocking already
  net::enableInq(down_);
  if (ec) {
    close(false);
    return;
  }
  armIdleTimer(proxy_.cfg_.idle_timeout);
  pump(d2u_);
  if (!closed_) pump(u2d_);
}

void TcpSession::armIdleTimer(Clock::duration in) {
  timer_.expires_after(in);
  timer_.async_wait([this, self = shared_from_this()](boost::system::error_code ec) {
    if (ec || closed_) return;
    auto idle = Clock::now() - last_activity_;
    if (idle >= proxy_.cfg_.idle_timeout) {
      proxy_.stats_.idle_timeouts.inc();
      error_ = "idle_timeout";
      close(false);
      return;
    }
    // Activity since the timer was armed: sleep for the remainder instead of re-arming the
    // timer on every read.
    armIdleTimer(proxy_.cfg_.idle_timeout - idle);
  });
}

// The copy loop. Writes are direct non-blocking calls that wait for writability only after
// EAGAIN (as HAProxy does). Reads follow what the kernel says is queued (decision 0007):
//  - while more bytes are queued (bulk), the next read is a direct net::recvSome — no trip
//    through the reactor per buffer — for up to 16 buffers per turn;
//  - once the socket is drained, the next read is a net::RecvOp. After a RecvOp drained it
//    (request/response traffic) the reactor queues the next one untried until the socket's next
//    edge: no EAGAIN read; after a direct read drained it, the reactor tries once.
// At most one buffer per direction is in flight: nothing is read while the buffer still holds
// unsent bytes, so a slow reader stops the other side being read (backpressure).
void TcpSession::pump(Pump& p) {
  namespace error = asio::error;
  boost::system::error_code ec;
  // Bounded work per call so that one busy connection cannot starve the rest of the worker.
  for (int rounds = 0; rounds < 16; ++rounds) {
    while (p.begin < p.end) {
      std::size_t n = p.to->write_some(asio::buffer(p.buf.data() + p.begin, p.end - p.begin), ec);
      if (ec == error::would_block || ec == error::try_again) {
        p.to->async_wait(tcp::socket::wait_write,
                         [this, &p, self = shared_from_this()](boost::system::error_code wec) {
                           if (closed_) return;
                           if (wec) return onError(p, false, wec);
                           pump(p);
                         });
        return;
      }
      if (ec) return onError(p, false, ec);
      p.begin += n;
      touch();  // a slow reader that keeps taking bytes is not idle
      if (p.upstream_to_downstream) {
        proxy_.stats_.tx_bytes.inc(n);
        bytes_out_ += n;
      } else {
        proxy_.cluster_.stats->tx_bytes.inc(n);
      }
    }
    p.begin = p.end = 0;
    if (!p.more) {  // drained: the reactor tries this read only after the next edge
      p.recv.start(*p.from, p.buf.data(), p.buf.size(), shared_from_this(), &TcpSession::onRecv,
                   &p);
      return;
    }
    std::size_t n = net::recvSome(*p.from, p.buf.data(), p.buf.size(), ec, p.more);
    if (ec == error::would_block) continue;  // p.more is false now: the RecvOp above
    if (ec == error::eof) return onEof(p);
    if (ec) return onError(p, true, ec);
    received(p, n);
  }
  // Yield to other connections; the buffer may still hold unsent bytes, pump() sends them first.
  asio::post(down_.get_executor(), [this, &p, self = shared_from_this()] {
    if (!closed_) pump(p);
  });
}

void TcpSession::onRecv(void* pump, const boost::system::error_code& ec, std::size_t n,
                        bool more) {
  Pump& p = *static_cast<Pump*>(pump);
  TcpSession& self = *p.owner;
  if (self.closed_) return;
  if (ec == asio::error::eof) return self.onEof(p);
  if (ec) return self.onError(p, true, ec);
  self.received(p, n);
  p.more = more;
  self.pump(p);
}

void TcpSession::received(Pump& p, std::size_t n) {
  touch();
  p.end = n;
  if (p.upstream_to_downstream) {
    proxy_.cluster_.stats->rx_bytes.inc(n);
  } else {
    proxy_.stats_.rx_bytes.inc(n);
    bytes_in_ += n;
  }
}

void TcpSession::onError(Pump& p, bool reading, const boost::system::error_code& ec) {
  // Reset or other failure on one side: abort the other so that it cannot mistake a truncated
  // stream for a complete one.
  SPDLOG_DEBUG("listener {}: {} {} error: {}", proxy_.cfg_.name,
               (reading == p.upstream_to_downstream) ? "upstream" : "downstream",
               reading ? "read" : "write", ec.message());
  net::close(reading ? *p.to : *p.from, /*abort=*/true);  // an RST, not a FIN
  bool upstream_failed = reading == p.upstream_to_downstream;
  error_ = upstream_failed ? "upstream_reset" : "downstream_reset";
  close(false);
}

void TcpSession::onEof(Pump& p) {
  p.done = true;
  boost::system::error_code ec;
  p.to->shutdown(tcp::socket::shutdown_send, ec);  // propagate this half-close only
  if (d2u_.done && u2d_.done) close(false);
}

void TcpSession::close(bool forced) {
  if (closed_) return;
  closed_ = true;
  timer_.cancel();
  net::close(down_, forced);
  net::close(up_, forced);
  if (upstream_open_) proxy_.cluster_.stats->cx_active.dec();
  auto& ls = proxy_.stats_;
  ls.active.dec();
  ls.closed.inc();
  if (forced) {
    ls.drain_closed.inc();
    error_ = "drain_timeout";
  }
  if (proxy_.access_log_) writeAccessLog();
  ls.duration.record(micros(Clock::now() - started_));
  if (proxy_.cfg_.max_connections != 0) {
    proxy_.shared_connections_.fetch_sub(1, std::memory_order_relaxed);
  }
  proxy_.sessions_.remove(this);
}

}  // namespace pilotfish::tcp

namespace pilotfish::tcp {

void TcpSession::writeAccessLog() {
  accesslog::AccessLogEntry e;
  e.setTs(started_wall_);
  e.setListener(proxy_.cfg_.name);
  e.setProtocol("tcp");
  e.setCluster(proxy_.cfg_.cluster);
  e.setBytesIn(bytes_in_);
  e.setBytesOut(bytes_out_);
  e.setDurationUs(micros(Clock::now() - started_));
  if (upstream_open_) {
    e.setUpstreamAddress(snapshot_->endpoints[endpoint_]->host_port.toString());
  }
  if (*error_) e.setError(error_);
  proxy_.access_log_->submit(proxy_.worker_, e);  // never blocks; a full queue is counted
}

}  // namespace pilotfish::tcp
