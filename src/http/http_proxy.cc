#include "pilotfish/http/http_proxy.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "http/h1_session.h"
#include "pilotfish/dns/resolver.h"
#include "pilotfish/http/h1_forward.h"

namespace pilotfish::http {

void HttpSessionList::add(H1Session* s) {
  s->prev = nullptr;
  s->next = head;
  if (head != nullptr) head->prev = s;
  head = s;
  ++size;
}

void HttpSessionList::remove(H1Session* s) {
  if (s->prev != nullptr) {
    s->prev->next = s->next;
  } else {
    head = s->next;
  }
  if (s->next != nullptr) s->next->prev = s->prev;
  s->prev = s->next = nullptr;
  --size;
}

void HttpSessionList::drain() {
  for (H1Session* s = head; s != nullptr;) {
    H1Session* next = s->next;  // drain() may close and unlink s
    s->drain();
    s = next;
  }
}

std::size_t HttpSessionList::closeAll() {
  std::size_t n = 0;
  while (head != nullptr) {
    head->close(true);
    ++n;
  }
  return n;
}

namespace {
pool::PoolConfig poolConfig(const config::PoolConfig& c) {
  pool::PoolConfig p;
  p.max_idle_per_endpoint = c.max_idle_per_endpoint;
  p.idle_timeout = c.idle_timeout;
  p.max_requests_per_connection = c.max_requests_per_connection;
  return p;
}
}  // namespace

HttpWorker::HttpWorker(boost::asio::io_context& io_context, const config::Config& cfg,
                       std::vector<lb::ClusterView>& cluster_views,
                       std::vector<pool::PoolStats>& pool_stats,
                       std::vector<std::shared_ptr<const tls::ClientContext>> tls_contexts,
                       accesslog::AccessLogger* logger, std::size_t worker_index)
    : io(io_context),
      clusters(cluster_views),
      tls(std::move(tls_contexts)),
      tls_sessions(cfg.clusters.size()),
      config(cfg),
      dynamic_hosts(cfg.clusters.size()),
      pool_stats(pool_stats),
      access_log(logger),
      index(worker_index) {
  for (std::size_t c = 0; c < cfg.clusters.size(); ++c) {
    pools.push_back(
        std::make_unique<pool::IdlePool>(io, poolConfig(cfg.clusters[c].pool), pool_stats[c]));
  }
  for (const auto& l : cfg.listeners) {
    if (auto a = net::SocketAddress::fromHostPort(l.address)) own_addresses.push_back(*a);
  }
}

HttpWorker::~HttpWorker() {
  if (resolver) resolver->close();
}

void HttpWorker::drain() {
  draining = true;
  sessions.drain();
  for (auto& p : pools) p->clear();
  for (auto& hosts : dynamic_hosts) {
    for (auto& [name, host] : hosts) host->pool->clear();
  }
}

std::shared_ptr<DynamicHost> HttpWorker::dynamicHost(std::size_t cluster, const std::string& name) {
  auto& hosts = dynamic_hosts[cluster];
  if (auto it = hosts.find(name); it != hosts.end()) return it->second;
  if (hosts.size() >= kMaxDynamicHosts) {
    const auto now = std::chrono::steady_clock::now();
    for (auto it = hosts.begin(); it != hosts.end();) {
      it = (it->second->expires <= now && !it->second->resolving) ? hosts.erase(it) : std::next(it);
    }
  }
  auto host = std::make_shared<DynamicHost>();
  host->name = name;
  host->pool = std::make_unique<pool::IdlePool>(io, poolConfig(config.clusters[cluster].pool),
                                                pool_stats[cluster]);
  hosts.emplace(name, host);
  return host;
}

void HttpWorker::resolve(std::size_t cluster, const std::shared_ptr<DynamicHost>& host) {
  if (host->resolving) return;
  if (!resolver && !resolver_failed) {
    std::string error;
    resolver = dns::Resolver::create(io, dns::Resolver::Options{}, &error);
    if (!resolver) {
      resolver_failed = true;
      spdlog::error("worker {}: dynamic_host lookups are not possible: {}", index, error);
    }
  }
  host->resolving = true;
  auto done = [this, cluster, host](int status, std::vector<net::SocketAddress> addresses,
                                    std::chrono::seconds ttl) {
    host->resolving = false;
    const auto& c = config.clusters[cluster];
    const auto now = std::chrono::steady_clock::now();
    if (status == ARES_SUCCESS && !addresses.empty()) {
      auto snap = std::make_shared<cluster::ClusterSnapshot>();
      snap->name = c.name;
      snap->source = "dynamic_host";
      snap->connect_timeout = c.connect_timeout;
      snap->updated_at = now;
      for (const auto& a : addresses) {
        auto ep = std::make_shared<cluster::Endpoint>();
        ep->address = a;
        ep->host_port = a.toHostPort();
        snap->total_weight += ep->weight;
        snap->endpoints.push_back(std::move(ep));
      }
      host->snapshot = std::move(snap);
      host->lb.reset(*host->snapshot);
      const auto used = std::clamp<std::chrono::milliseconds>(
          ttl, kMinDnsTtl, std::max<std::chrono::milliseconds>(c.dns_ttl, kMinDnsTtl));
      host->expires = now + used;
    } else {
      // A stale answer, if any, stays in use; a failure is retried after a short pause.
      host->expires = now + kNegativeTtl;
      SPDLOG_DEBUG("cluster {}: resolving {} failed: {}", c.name, host->name,
                   status == ARES_SUCCESS ? "no address" : ares_strerror(status));
    }
    auto waiters = std::move(host->waiters);
    host->waiters.clear();
    for (auto& w : waiters) {
      if (auto s = w.lock()) s->onHostResolved(host.get());
    }
  };
  if (!resolver) {
    done(ARES_ENOTINITIALIZED, {}, std::chrono::seconds(0));
    return;
  }
  resolver->resolveHost(host->name, config.clusters[cluster].port, std::move(done));
}

namespace {

uint16_t portOf(const net::SocketAddress& a) {
  if (a.storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_port);
}

bool isUnspecified(const net::SocketAddress& a) {
  if (a.storage.ss_family == AF_INET) {
    return reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr == htonl(INADDR_ANY);
  }
  const auto& addr = reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr;
  return IN6_IS_ADDR_UNSPECIFIED(&addr);
}

bool isLoopback(const net::SocketAddress& a) {
  if (a.storage.ss_family == AF_INET) {
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&a.storage)->sin_addr.s_addr) >> 24) == 127;
  }
  const auto& addr = reinterpret_cast<const sockaddr_in6*>(&a.storage)->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&addr);
}

}  // namespace

bool HttpWorker::isOwnListener(const net::SocketAddress& a) const {
  for (const auto& own : own_addresses) {
    if (own == a) return true;
    if (isUnspecified(own) && portOf(own) == portOf(a) && (isLoopback(a) || isUnspecified(a))) {
      return true;
    }
  }
  return false;
}

HttpProxy::HttpProxy(const config::ListenerConfig& cfg, std::shared_ptr<const Router> router,
                     HttpWorker& worker, net::ListenerStats& listener_stats, HttpStats& stats,
                     HttpErrorStats& errors, std::atomic<uint32_t>& shared_connections)
    : cfg_(cfg),
      router_(std::move(router)),
      worker_(worker),
      listener_stats_(listener_stats),
      stats_(stats),
      errors_(errors),
      shared_connections_(shared_connections) {
  limits_.max_head_bytes = cfg.http.max_request_headers_kb * 1024;
  limits_.max_headers = cfg.http.max_headers;
  limits_.max_line_bytes = cfg.http.max_request_line_kb * 1024;
  limits_.reject_underscore_in_names =
      cfg.http.headers_with_underscores == config::HttpListenerConfig::Underscores::kReject;
  const auto& t = cfg.http.tracing;
  tracing_.propagate_b3 = t.propagate_b3;
  tracing_.propagate_w3c = t.propagate_w3c;
  tracing_.request_id = t.request_id;
  tracing_.sample_rate = t.sample_rate;
  writeLocalResponse(overflow_response_, 503, proxyErrorToken(ProxyError::kOverflow), {}, true,
                     false);
}

void HttpProxy::onAccept(boost::asio::ip::tcp::socket&& socket,
                         const boost::asio::ip::tcp::endpoint& peer) {
  if (cfg_.max_connections != 0) {
    uint32_t n = shared_connections_.fetch_add(1, std::memory_order_relaxed);
    if (n >= cfg_.max_connections) {
      shared_connections_.fetch_sub(1, std::memory_order_relaxed);
      listener_stats_.overflow.inc();  // not `accepted`: docs/metrics.md, and the TCP proxy
      errors_.count(ProxyError::kOverflow);
      refuseOverCapacity(socket.native_handle());
      boost::system::error_code ec;
      socket.close(ec);
      return;
    }
  }
  std::make_shared<H1Session>(*this, std::move(socket))->start(peer);
}

// An honest answer at no cost per refused connection beyond three system calls: what the client
// already sent (usually its whole request: http listeners defer accept until data arrives) is
// read and dropped first, so that the close sends a FIN after the 503 rather than an RST that
// could destroy it before the client reads it. No session, no allocation, no access-log entry.
void HttpProxy::refuseOverCapacity(int fd) const {
  char sink[4096];
  for (int i = 0; i < 16; ++i) {
    if (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) <= 0) break;
  }
  (void)::send(fd, overflow_response_.data(), overflow_response_.size(),
               MSG_DONTWAIT | MSG_NOSIGNAL);
}

std::shared_ptr<const Router> buildRouter(const config::ListenerConfig& cfg) {
  std::vector<Route> routes;
  routes.reserve(cfg.http.routes.size());
  for (const auto& rc : cfg.http.routes) {
    Route r;
    r.match.host = rc.host;
    r.match.host_suffix = rc.host_suffix;
    r.match.path_prefix = rc.path_prefix;
    r.match.path_exact = rc.path_exact;
    r.match.method = rc.method;
    for (const auto& h : rc.headers) r.match.headers.push_back(HeaderMatch{h.name, h.value});
    r.cluster = rc.cluster;
    r.cluster_index = rc.cluster_index;
    r.timeout = rc.timeout;
    r.prefix_rewrite = rc.prefix_rewrite;
    r.host_rewrite = rc.host_rewrite;
    r.upstream_host_from_request = rc.upstream_host_from_request;
    routes.push_back(std::move(r));
  }
  return std::make_shared<const Router>(std::move(routes));
}

}  // namespace pilotfish::http
