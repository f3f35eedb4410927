#include "pilotfish/server/server.h"

#include <sys/resource.h>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <future>
#include <tuple>

#include "pilotfish/admin/admin_server.h"
#include "pilotfish/cluster/cluster.h"
#include "pilotfish/core/cpu.h"
#include "pilotfish/core/json.h"
#include "pilotfish/core/log.h"
#include "pilotfish/discovery/cache.h"
#include "pilotfish/event/worker.h"
#include "pilotfish/stats/prometheus.h"
#include "server/admin_handlers.h"
#include "server/worker_state.h"

namespace pilotfish::server {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

unsigned long raiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return static_cast<unsigned long>(rl.rlim_cur);
}

class Server::Impl {
 public:
  explicit Impl(config::ConfigPtr cfg) : cfg_(std::move(cfg)), signals_(io_), drain_timer_(io_) {}

  ~Impl() {
    for (auto& w : workers_) w->stop();
  }

  int run() {
    event::requireIoBackend();
    auto nofile = raiseFileLimit();
    std::signal(SIGPIPE, SIG_IGN);
    const auto& cfg = *cfg_;
    unsigned n = cfg.workers ? cfg.workers : core::usableCpus();
    started_at_ = Clock::now();
    clusters_ = cluster::buildAll(cfg, started_at_);
    shared_connections_ = std::make_unique<std::atomic<uint32_t>[]>(cfg.listeners.size());
    for (const auto& c : cfg.clusters) {
      std::shared_ptr<const tls::ClientContext> ctx;
      if (c.tls) {
        std::string why;
        ctx = tls::ClientContext::create(*c.tls, &why);
        if (!ctx) {
          std::fprintf(stderr, "pilotfish: cluster %s: tls: %s\n", c.name.c_str(), why.c_str());
          return 1;
        }
      }
      tls_contexts_.push_back(std::move(ctx));
    }
    for (const auto& l : cfg.listeners) {
      routers_.push_back(l.protocol == config::ListenerProtocol::kHttp ? http::buildRouter(l)
                                                                       : nullptr);
    }
    if (cfg.access_log) {
      accesslog::AccessLoggerOptions opts;
      opts.workers = n;
      std::string why;
      access_log_ = accesslog::AccessLogger::create(*cfg.access_log, opts, &why);
      if (!access_log_) {
        std::fprintf(stderr, "pilotfish: access_log: %s\n", why.c_str());
        return 1;
      }
    }

    // Build every worker's state and bind every listener before any worker runs, so a bind
    // failure is reported at once and nothing has been served yet.
    for (unsigned i = 0; i < n; ++i) {
      workers_.push_back(std::make_unique<event::Worker>(i));
      states_.push_back(std::make_unique<WorkerState>(cfg.listeners.size(), cfg.clusters.size()));
    }
    for (unsigned i = 0; i < n; ++i) {
      if (!setUpWorker(i)) return 1;
    }
    cache_ = std::make_unique<discovery::DiscoveryCache>(
        io_, cfg_, clusters_,
        discovery::DiscoveryCache::Hooks{
            .publish = [this](std::size_t c,
                              cluster::ClusterSnapshotPtr snap) { publish(c, std::move(snap)); },
            .initialized = [this](std::size_t) { startReadyListeners(); },
        });
    if (!startAdmin()) return 1;

    signals_.add(SIGINT);
    signals_.add(SIGTERM);
    waitForSignal();
    reopen_signal_.add(SIGUSR1);
    reopen_signal_.add(SIGHUP);
    waitForReopen();

    for (auto& w : workers_) w->start();
    SPDLOG_INFO(
        "pilotfish {} starting: {} workers ({}), {} listeners, {} clusters, admin on {}, "
        "RLIMIT_NOFILE {}",
        PILOTFISH_VERSION, n, event::ioBackendName(), cfg.listeners.size(), cfg.clusters.size(),
        cfg.admin.address.toString(), nofile);
    // Loads cache_dir and starts the watchers; listeners whose clusters all have a set start
    // accepting at once, the others when their clusters get one or initial_fetch_timeout passes
    // (connections meanwhile wait in the kernel's accept queue).
    listener_started_.assign(cfg.listeners.size(), false);
    cache_->start();
    startReadyListeners();
    io_.run();
    cache_->stop();
    for (auto& w : workers_) w->stop();
    if (access_log_) access_log_->stop();  // flushes what the workers queued
    SPDLOG_INFO("pilotfish stopped");
    spdlog::default_logger()->flush();
    return 0;
  }

 private:
  bool setUpWorker(unsigned i) {
    const auto& cfg = *cfg_;
    auto& st = *states_[i];
    auto& io = workers_[i]->ioContext();
    for (std::size_t c = 0; c < cfg.clusters.size(); ++c) {
      st.clusters[c].stats = &st.cluster_stats[c];
      st.clusters[c].update(clusters_->clusters[c]);
    }
    st.http = std::make_unique<http::HttpWorker>(io, cfg, st.clusters, st.pool_stats, tls_contexts_,
                                                 access_log_.get(), i);
    for (std::size_t l = 0; l < cfg.listeners.size(); ++l) {
      const auto& lc = cfg.listeners[l];
      net::Listener::AcceptFn on_accept;
      if (lc.protocol == config::ListenerProtocol::kHttp) {
        auto proxy = std::make_unique<http::HttpProxy>(lc, routers_[l], *st.http,
                                                       st.listener_stats[l], st.http_stats[l],
                                                       st.http_errors[l], shared_connections_[l]);
        on_accept = [p = proxy.get()](asio::ip::tcp::socket&& s,
                                      const asio::ip::tcp::endpoint& peer) {
          p->onAccept(std::move(s), peer);
        };
        st.http_proxies.push_back(std::move(proxy));
      } else {
        auto proxy = std::make_unique<tcp::TcpProxy>(lc, st.listener_stats[l],
                                                     st.clusters[lc.cluster_index], st.sessions,
                                                     shared_connections_[l], access_log_.get(), i);
        on_accept = [p = proxy.get()](asio::ip::tcp::socket&& s, const asio::ip::tcp::endpoint&) {
          p->onAccept(std::move(s));
        };
        st.proxies.push_back(std::move(proxy));
      }
      auto listener =
          std::make_unique<net::Listener>(io, lc.name, st.listener_stats[l], std::move(on_accept));
      std::string why;
      auto addr = net::SocketAddress::fromHostPort(lc.address);
      // Every protocol an http listener speaks has the client speak first.
      const bool http = lc.protocol == config::ListenerProtocol::kHttp;
      const net::Listener::BindOptions options{.delay_acks = http, .defer_accept = http};
      if (!addr || listener->bind(*addr, options, &why)) {
        std::fprintf(stderr, "pilotfish: listener %s: %s\n", lc.name.c_str(),
                     addr ? why.c_str() : "invalid address");
        return false;
      }
      st.listeners.push_back(std::move(listener));
    }
    return true;
  }

  // The clusters a listener sends to: a tcp listener's cluster, every route's of an http one.
  std::vector<std::size_t> listenerClusters(const config::ListenerConfig& l) const {
    if (l.protocol == config::ListenerProtocol::kTcp) return {l.cluster_index};
    std::vector<std::size_t> out;
    for (const auto& r : l.http.routes) out.push_back(r.cluster_index);
    return out;
  }

  void startReadyListeners() {
    if (!cache_ || listener_started_.empty() || draining_) return;
    const auto& cfg = *cfg_;
    bool all = true;
    for (std::size_t l = 0; l < cfg.listeners.size(); ++l) {
      if (listener_started_[l]) continue;
      auto needs = listenerClusters(cfg.listeners[l]);
      bool ok = std::all_of(needs.begin(), needs.end(),
                            [this](std::size_t c) { return cache_->initialized(c); });
      if (!ok) {
        all = false;
        continue;
      }
      listener_started_[l] = true;
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        workers_[i]->post([st = states_[i].get(), l] { st->listeners[l]->start(); });
      }
      const auto& lc = cfg.listeners[l];
      SPDLOG_INFO("listener {} on {} -> cluster {}", lc.name, lc.address.toString(),
                  lc.cluster.empty() ? std::string("(routes)") : lc.cluster);
    }
    if (all && !ready_) {
      ready_ = true;
      SPDLOG_INFO("pilotfish ready: every listener is accepting");
    }
  }

  // A new endpoint set for cluster c from the discovery cache: every worker swaps it in between
  // connections/requests; idle pooled connections to endpoints that left are closed; with
  // on_endpoint_removed: close, so are TCP connections to endpoints that left or are unhealthy.
  void publish(std::size_t c, cluster::ClusterSnapshotPtr snap) {
    // What left (or turned unhealthy) is worked out once, here, not on every worker: a worker
    // only drops pools and closes sessions for the addresses in `gone` (sorted: binary search).
    auto key = [](const cluster::Endpoint& e) {
      return std::tie(e.host_port.host, e.host_port.port);
    };
    auto less = [&key](const cluster::Endpoint* a, const cluster::Endpoint* b) {
      return key(*a) < key(*b);
    };
    std::vector<const cluster::Endpoint*> staying;
    for (const auto& e : snap->endpoints) {
      if (e->health != cluster::Health::kUnhealthy) staying.push_back(e.get());
    }
    std::sort(staying.begin(), staying.end(), less);
    auto gone = std::make_shared<std::vector<cluster::EndpointPtr>>();
    for (const auto& e : clusters_->clusters[c]->endpoints) {
      if (!std::binary_search(staying.begin(), staying.end(), e.get(), less)) gone->push_back(e);
    }
    std::sort(gone->begin(), gone->end(),
              [&less](const cluster::EndpointPtr& a, const cluster::EndpointPtr& b) {
                return less(a.get(), b.get());
              });
    clusters_ = cache_->clusters();
    const bool close = cfg_->clusters[c].on_endpoint_removed == config::OnEndpointRemoved::kClose;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      workers_[i]->post([st = states_[i].get(), c, snap, gone, close, less] {
        auto& view = st->clusters[c];
        view.update(snap);
        for (const auto& e : *gone) st->http->pools[c]->drop(e->address);
        if (!close || gone->empty()) return;
        auto n = st->sessions.closeUpstreams(view, [&](const cluster::Endpoint& e) {
          return std::binary_search(
              gone->begin(), gone->end(), &e,
              [&less](const auto& a, const auto& b) { return less(ptr(a), ptr(b)); });
        });
        if (n)
          SPDLOG_INFO("cluster {}: closed {} connections to endpoints that left", snap->name, n);
      });
    }
  }

  static const cluster::Endpoint* ptr(const cluster::Endpoint* e) { return e; }
  static const cluster::Endpoint* ptr(const cluster::EndpointPtr& e) { return e.get(); }

  bool startAdmin() {
    admin_ = std::make_unique<admin::AdminServer>(io_);
    AdminContext ctx{
        .config = cfg_,
        .clusters = [this] { return clusters_; },
        .ready = [this] { return ready_ && !draining_; },
        .draining = [this] { return draining_; },
        .started_at = started_at_,
        .workers = static_cast<unsigned>(workers_.size()),
        .listener_series = [this] { return listenerSeries(); },
        .cluster_series = [this] { return clusterSeries(); },
        .access_log_series =
            [this] {
              std::vector<stats::Series<accesslog::AccessLogStats>> out;
              if (access_log_) out.push_back({{}, access_log_->stats()});
              return out;
            },
        .http_series = [this] { return httpSeries(); },
        .http_error_series = [this] { return httpErrorSeries(); },
        .pool_series = [this] { return poolSeries(); },
        .discovery_status = [this](std::size_t i) { return cache_->status(i); },
        .discovery_metrics = [this](std::string& out) { cache_->renderMetrics(out); },
    };
    registerAdminHandlers(*admin_, std::move(ctx));
    auto addr = net::SocketAddress::fromHostPort(cfg_->admin.address);
    std::string why;
    if (!addr || admin_->listen(*addr, &why)) {
      std::fprintf(stderr, "pilotfish: %s\n", addr ? why.c_str() : "admin: invalid address");
      return false;
    }
    return true;
  }

  std::vector<stats::Series<net::ListenerStats>> listenerSeries() const {
    std::vector<stats::Series<net::ListenerStats>> out;
    for (std::size_t l = 0; l < cfg_->listeners.size(); ++l) {
      stats::Series<net::ListenerStats> s;
      s.labels = {{"listener", cfg_->listeners[l].name}};
      for (const auto& st : states_) s.per_worker.push_back(&st->listener_stats[l]);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<stats::Series<cluster::ClusterStats>> clusterSeries() const {
    std::vector<stats::Series<cluster::ClusterStats>> out;
    for (std::size_t c = 0; c < cfg_->clusters.size(); ++c) {
      stats::Series<cluster::ClusterStats> s;
      s.labels = {{"cluster", cfg_->clusters[c].name}};
      for (const auto& st : states_) s.per_worker.push_back(&st->cluster_stats[c]);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<stats::Series<http::HttpStats>> httpSeries() const {
    std::vector<stats::Series<http::HttpStats>> out;
    for (std::size_t l = 0; l < cfg_->listeners.size(); ++l) {
      if (cfg_->listeners[l].protocol != config::ListenerProtocol::kHttp) continue;
      stats::Series<http::HttpStats> s;
      s.labels = {{"listener", cfg_->listeners[l].name}};
      for (const auto& st : states_) s.per_worker.push_back(&st->http_stats[l]);
      out.push_back(std::move(s));
    }
    return out;
  }

  std::vector<stats::Series<http::HttpErrorCounter>> httpErrorSeries() const {
    std::vector<stats::Series<http::HttpErrorCounter>> out;
    for (std::size_t l = 0; l < cfg_->listeners.size(); ++l) {
      if (cfg_->listeners[l].protocol != config::ListenerProtocol::kHttp) continue;
      for (std::size_t t = 0; t < http::HttpErrorStats::kSlots; ++t) {
        std::string_view token = http::HttpErrorStats::token(t);
        if (token.empty()) continue;
        stats::Series<http::HttpErrorCounter> s;
        s.labels = {{"listener", cfg_->listeners[l].name}, {"token", std::string(token)}};
        for (const auto& st : states_) s.per_worker.push_back(&st->http_errors[l].slots[t]);
        out.push_back(std::move(s));
      }
    }
    return out;
  }

  std::vector<stats::Series<pool::PoolStats>> poolSeries() const {
    std::vector<stats::Series<pool::PoolStats>> out;
    if (!hasHttpListener()) return out;
    for (std::size_t c = 0; c < cfg_->clusters.size(); ++c) {
      stats::Series<pool::PoolStats> s;
      s.labels = {{"cluster", cfg_->clusters[c].name}};
      for (const auto& st : states_) s.per_worker.push_back(&st->pool_stats[c]);
      out.push_back(std::move(s));
    }
    return out;
  }

  bool hasHttpListener() const {
    for (const auto& l : cfg_->listeners) {
      if (l.protocol == config::ListenerProtocol::kHttp) return true;
    }
    return false;
  }

  int64_t activeConnections() const {
    int64_t n = 0;
    for (const auto& st : states_) {
      for (const auto& ls : st->listener_stats) n += ls.active.value();
    }
    return n;
  }

  void waitForSignal() {
    signals_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (draining_) {
        std::fprintf(stderr, "pilotfish: second signal (%d) during drain: exiting now\n", sig);
        std::fflush(stderr);
        std::_Exit(1);
      }
      beginDrain(sig);
      waitForSignal();
    });
  }

  // SIGUSR1: reopen the access log file (logrotate's postrotate). SIGHUP, which many daemons take
  // as "reload", must not kill a sidecar with no drain (its default action): until the
  // configuration can be reloaded, it is refused with a warning and changes nothing.
  void waitForReopen() {
    reopen_signal_.async_wait([this](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        SPDLOG_WARN(
            "SIGHUP: configuration reload is not supported yet; the running configuration is "
            "unchanged (restart pilotfish to apply a new one)");
      } else if (access_log_) {
        access_log_->reopen();
        SPDLOG_INFO("SIGUSR1: access log reopened");
      }
      waitForReopen();
    });
  }

  // Drain: /ready fails at once; listeners keep accepting for drain_delay (so load balancers and
  // registries notice first); then accepting stops and open connections get drain_timeout.
  void beginDrain(int sig) {
    draining_ = true;
    SPDLOG_INFO(
        "signal {}: draining; /ready now 503; accepting for {}ms more, then up to {}ms "
        "for {} open connections",
        sig, cfg_->drain_delay.count(), cfg_->drain_timeout.count(), activeConnections());
    drain_timer_.expires_after(cfg_->drain_delay);
    drain_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      stopAccepting();
      drain_deadline_ = Clock::now() + cfg_->drain_timeout;
      pollDrain();
    });
  }

  void stopAccepting() {
    std::vector<std::future<void>> done;
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      auto p = std::make_shared<std::promise<void>>();
      done.push_back(p->get_future());
      workers_[i]->post([st = states_[i].get(), p] {
        for (auto& l : st->listeners) l->stop();
        st->http->drain();  // idle keepalive connections close now, busy ones after a response
        p->set_value();
      });
    }
    for (auto& f : done) f.wait();  // bounded: workers never block
    SPDLOG_INFO("drain: listeners closed; {} connections open", activeConnections());
  }

  void pollDrain() {
    auto active = activeConnections();
    if (active == 0) {
      SPDLOG_INFO("drain: all connections closed");
      finish();
      return;
    }
    if (Clock::now() >= drain_deadline_) {
      SPDLOG_WARN("drain: drain_timeout expired; closing {} connections", active);
      std::vector<std::future<void>> done;
      for (std::size_t i = 0; i < workers_.size(); ++i) {
        auto p = std::make_shared<std::promise<void>>();
        done.push_back(p->get_future());
        workers_[i]->post([st = states_[i].get(), p] {
          st->sessions.closeAll();
          st->http->sessions.closeAll();
          st->http->drain();
          p->set_value();
        });
      }
      for (auto& f : done) f.wait();
      finish();
      return;
    }
    drain_timer_.expires_after(std::chrono::milliseconds(20));
    drain_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) pollDrain();
    });
  }

  // Closes everything the control loop waits on, so that io_.run() returns once the cancelled
  // operations have completed (destroying an io_context with operations still queued is
  // unsafe with the io_uring backend).
  void finish() {
    admin_->stop();
    if (cache_) cache_->stop();
    signals_.cancel();
    signals_.clear();
    reopen_signal_.cancel();
    reopen_signal_.clear();
    drain_timer_.cancel();
  }

  config::ConfigPtr cfg_;
  asio::io_context io_{1};
  asio::signal_set signals_;
  asio::signal_set reopen_signal_{io_};
  asio::steady_timer drain_timer_;
  std::vector<std::unique_ptr<event::Worker>> workers_;
  std::vector<std::unique_ptr<WorkerState>> states_;  // destroyed before workers_ (io_contexts)
  std::unique_ptr<std::atomic<uint32_t>[]> shared_connections_;
  std::vector<std::shared_ptr<const http::Router>> routers_;  // per listener; null for tcp
  std::vector<std::shared_ptr<const tls::ClientContext>>
      tls_contexts_;  // per cluster; null = plain
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<accesslog::AccessLogger> access_log_;  // outlives the workers that submit
  cluster::ClusterSetPtr clusters_;                      // the cache's current set (control thread)
  std::unique_ptr<discovery::DiscoveryCache> cache_;
  std::vector<bool> listener_started_;
  Clock::time_point started_at_;
  Clock::time_point drain_deadline_;
  bool ready_ = false;
  bool draining_ = false;
};

Server::Server(config::ConfigPtr config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Server::~Server() = default;
int Server::run() {
  return impl_->run();
}

}  // namespace pilotfish::server
