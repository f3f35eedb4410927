#include "pilotfish/tcp/tcp_proxy.h"

#include "tcp/tcp_session.h"

namespace pilotfish::tcp {

void SessionList::add(TcpSession* s) {
  s->prev = nullptr;
  s->next = head;
  if (head) head->prev = s;
  head = s;
  ++size;
}

void SessionList::remove(TcpSession* s) {
  if (s->prev) {
    s->prev->next = s->next;
  } else if (head == s) {
    head = s->next;
  } else {
    return;  // not linked
  }
  if (s->next) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  --size;
}

std::size_t SessionList::closeUpstreams(const ClusterView& cluster,
                                        const std::function<bool(const cluster::Endpoint&)>& gone) {
  std::size_t n = 0;
  for (TcpSession* s = head; s;) {
    TcpSession* next = s->next;  // close() unlinks s
    const cluster::Endpoint* ep = s->upstreamEndpoint();
    if (ep && s->clusterView() == &cluster && gone(*ep)) {
      s->close(true);
      ++n;
    }
    s = next;
  }
  return n;
}

std::size_t SessionList::closeAll() {
  std::size_t n = 0;
  while (head) {
    head->close(true);  // unlinks itself
    ++n;
  }
  return n;
}

TcpProxy::TcpProxy(const config::ListenerConfig& cfg, net::ListenerStats& stats,
                   ClusterView& cluster, SessionList& sessions,
                   std::atomic<uint32_t>& shared_connections, accesslog::AccessLogger* access_log,
                   std::size_t worker)
    : cfg_(cfg),
      stats_(stats),
      cluster_(cluster),
      sessions_(sessions),
      shared_connections_(shared_connections),
      access_log_(access_log),
      worker_(worker) {}

void TcpProxy::onAccept(boost::asio::ip::tcp::socket&& socket) {
  if (cfg_.max_connections != 0) {
    auto before = shared_connections_.fetch_add(1, std::memory_order_relaxed);
    if (before >= cfg_.max_connections) {
      shared_connections_.fetch_sub(1, std::memory_order_relaxed);
      stats_.overflow.inc();
      boost::system::error_code ec;
      socket.close(ec);
      return;
    }
  }
  std::make_shared<TcpSession>(*this, std::move(socket))->start();
}

}  // namespace pilotfish::tcp
