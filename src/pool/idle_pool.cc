#include "pilotfish/pool/idle_pool.h"

#include <sys/socket.h>

#include <cerrno>
#include <string_view>

namespace pilotfish::pool {

namespace asio = boost::asio;

std::size_t IdlePool::KeyHash::operator()(const net::SocketAddress& a) const {
  return std::hash<std::string_view>()(
      std::string_view(reinterpret_cast<const char*>(&a.storage), a.length));
}

IdlePool::IdlePool(asio::io_context& io, PoolConfig cfg, PoolStats& stats)
    : cfg_(cfg), stats_(stats), sweep_timer_(io) {}

IdlePool::~IdlePool() {
  clear();
}

bool IdlePool::isAlive(asio::ip::tcp::socket& s) {
  char byte;
  ssize_t n = ::recv(s.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  return false;  // 0 = EOF; > 0 = unsolicited bytes (e.g. a 408 the upstream sent on timeout)
}

std::optional<PooledConnection> IdlePool::acquire(const net::SocketAddress& key, bool check_alive) {
  auto it = idle_by_key_.find(key);
  if (it == idle_by_key_.end()) return std::nullopt;
  auto& list = it->second;
  while (!list.empty()) {
    Entry e = std::move(list.back());  // most recently released first
    list.pop_back();
    --idle_;
    stats_.idle.dec();
    if (!check_alive || isAlive(e.conn.socket)) {
      stats_.reused.inc();
      return std::move(e.conn);
    }
    stats_.stale.inc();
    boost::system::error_code ec;
    e.conn.socket.close(ec);
  }
  return std::nullopt;
}

void IdlePool::release(const net::SocketAddress& key, PooledConnection&& conn) {
  boost::system::error_code ec;
  if (cfg_.max_requests_per_connection != 0 && conn.requests >= cfg_.max_requests_per_connection) {
    conn.socket.close(ec);
    return;
  }
  auto& list = idle_by_key_[key];
  if (list.size() >= cfg_.max_idle_per_endpoint) {
    stats_.overflow.inc();
    conn.socket.close(ec);
    return;
  }
  list.push_back(Entry{std::move(conn), Clock::now()});
  ++idle_;
  stats_.idle.inc();
  armSweep();
}

void IdlePool::drop(const net::SocketAddress& key) {
  auto it = idle_by_key_.find(key);
  if (it == idle_by_key_.end()) return;
  boost::system::error_code ec;
  for (auto& e : it->second) e.conn.socket.close(ec);
  idle_ -= it->second.size();
  stats_.idle.add(-static_cast<int64_t>(it->second.size()));
  idle_by_key_.erase(it);
}

void IdlePool::clear() {
  boost::system::error_code ec;
  for (auto& [key, list] : idle_by_key_) {
    for (auto& e : list) e.conn.socket.close(ec);
    stats_.idle.add(-static_cast<int64_t>(list.size()));
  }
  idle_by_key_.clear();
  idle_ = 0;
  sweep_timer_.cancel();
  sweep_armed_ = false;
}

// One timer per pool, not per connection: it wakes at most every idle_timeout/4 (>= 100 ms)
// while anything is idle.
void IdlePool::armSweep() {
  if (sweep_armed_ || idle_ == 0) return;
  sweep_armed_ = true;
  auto period = std::max(std::chrono::milliseconds(100), cfg_.idle_timeout / 4);
  sweep_timer_.expires_after(period);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the pool may be gone, touch nothing
    sweep_armed_ = false;
    sweep(Clock::now());
    armSweep();
  });
}

void IdlePool::sweep(Clock::time_point now) {
  boost::system::error_code ec;
  for (auto it = idle_by_key_.begin(); it != idle_by_key_.end();) {
    auto& list = it->second;
    // Oldest are at the front.
    while (!list.empty() && now - list.front().since >= cfg_.idle_timeout) {
      list.front().conn.socket.close(ec);
      list.pop_front();
      --idle_;
      stats_.idle.dec();
      stats_.expired.inc();
    }
    it = list.empty() ? idle_by_key_.erase(it) : std::next(it);
  }
}

}  // namespace pilotfish::pool
