#include "pilotfish/discovery/cache.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <tuple>

#include "discovery/cache_file.h"
#include "pilotfish/discovery/watcher.h"
#include "pilotfish/net/socket_address.h"
#include "pilotfish/stats/prometheus.h"

namespace pilotfish::discovery {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTick = std::chrono::milliseconds(250);
constexpr std::size_t kMaxCacheFileBytes = 64u << 20;

int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sha256Hex(std::string_view data, std::size_t hex_chars) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len && out.size() < hex_chars; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

bool sameEndpoint(const cluster::Endpoint& a, const cluster::Endpoint& b) {
  return a.host_port == b.host_port && a.weight == b.weight && a.zone == b.zone &&
         a.health == b.health && a.id == b.id && a.labels == b.labels &&
         a.registered_at_ms == b.registered_at_ms;
}

// The order of endpoints in a snapshot: by address (any consistent order; no allocation).
bool addressLess(const cluster::EndpointPtr& x, const cluster::EndpointPtr& y) {
  return std::tie(x->host_port.host, x->host_port.port) <
         std::tie(y->host_port.host, y->host_port.port);
}

// Sorts by address and keeps one endpoint per address (a second registration of the same
// host:port is skipped and counted).
void normalize(std::vector<cluster::EndpointPtr>& eps, uint64_t& skipped, std::string& example) {
  std::stable_sort(eps.begin(), eps.end(), addressLess);
  auto dup = [](const cluster::EndpointPtr& a, const cluster::EndpointPtr& b) {
    return a->host_port == b->host_port;
  };
  auto first = std::adjacent_find(eps.begin(), eps.end(), dup);
  if (first == eps.end()) return;
  if (example.empty()) example = "duplicate address " + (*first)->host_port.toString();
  auto end = std::unique(eps.begin(), eps.end(), dup);
  skipped += static_cast<uint64_t>(eps.end() - end);
  eps.erase(end, eps.end());
}

Instance toInstance(const cluster::Endpoint& e) {
  Instance in;
  in.id = e.id;
  in.host = e.host_port.host;
  in.port = e.host_port.port;
  in.weight = e.weight;
  in.zone = e.zone;
  in.labels = e.labels;
  in.health = e.health;
  in.registered_at_ms = e.registered_at_ms;
  return in;
}

}  // namespace

std::string DiscoveryCache::cacheFileName(const std::string& cluster,
                                          const std::string& watch_key) {
  return cluster + "-" + sha256Hex(watch_key, 16) + ".json";
}

class DiscoveryCache::Impl {
 public:
  Impl(asio::io_context& io, config::ConfigPtr cfg, cluster::ClusterSetPtr initial, Hooks hooks)
      : io_(io),
        cfg_(std::move(cfg)),
        set_(std::move(initial)),
        hooks_(std::move(hooks)),
        tick_(io),
        clusters_(cfg_->clusters.size()) {}

  ~Impl() { stop(); }

  // One live watch, shared by every cluster with the same discovery definition.
  class Watch : public WatchSink {
   public:
    Watch(Impl& cache, std::string key) : cache_(cache), key_(std::move(key)) {}
    void onAnswer(Answer answer) override {
      for (auto c : clusters) cache_.onAnswer(c, answer);
    }
    void onRejected(std::string_view why) override {
      for (auto c : clusters) cache_.onRejected(c, why);
    }
    void onError(std::string_view why) override {
      for (auto c : clusters) cache_.onError(c, why);
    }
    void onConnected(bool connected) override {
      for (auto c : clusters) cache_.onConnected(c, connected);
    }
    const std::string& key() const { return key_; }

    std::vector<std::size_t> clusters;
    std::unique_ptr<Watcher> watcher;

   private:
    Impl& cache_;
    std::string key_;
  };

  struct State {
    const config::ClusterConfig* cfg = nullptr;
    std::string watch_key;
    std::string cache_file;  // name inside cache_dir; empty without cache_dir
    ClusterStatus st;
    Clock::time_point last_confirmed{};
    std::unique_ptr<asio::steady_timer> initial_timer;
    std::string last_logged_error;
    uint64_t last_logged_skipped = 0;
  };

  void start() {
    const auto& cfg = *cfg_;
    cache_enabled_ = !cfg.cache_dir.empty();
    if (cache_enabled_) {
      std::error_code ec;
      std::filesystem::create_directories(cfg.cache_dir, ec);
      if (ec) {
        SPDLOG_ERROR("cache_dir {}: {}; last known good sets will not survive a restart",
                     cfg.cache_dir, ec.message());
      }
    }
    std::map<std::string, Watch*> by_key;
    for (std::size_t i = 0; i < cfg.clusters.size(); ++i) {
      const auto& cc = cfg.clusters[i];
      auto& s = clusters_[i];
      s.cfg = &cc;
      if (!cc.discovery) {
        s.st.initialized = true;
        continue;
      }
      const auto& d = *cc.discovery;
      const config::DiscoverySourceConfig* src =
          d.kind == config::DiscoveryKind::kFile || d.source.empty()
              ? nullptr
              : &cfg.discovery[d.source_index];
      s.st.discovered = true;
      s.st.store = config::discoveryKindName(d.kind);
      s.watch_key = d.watchKey(src);
      if (cache_enabled_) {
        s.cache_file = cacheFileName(cc.name, s.watch_key);
        loadCacheFile(i);
      }
      auto it = by_key.find(s.watch_key);
      if (it == by_key.end()) {
        auto w = std::make_unique<Watch>(*this, s.watch_key);
        w->clusters.push_back(i);
        w->watcher = makeWatcher(d, *w);
        it = by_key.emplace(s.watch_key, w.get()).first;
        watches_.push_back(std::move(w));
      } else {
        it->second->clusters.push_back(i);
      }
      if (!s.st.initialized) {
        s.initial_timer = std::make_unique<asio::steady_timer>(io_);
        s.initial_timer->expires_after(cc.initial_fetch_timeout);
        s.initial_timer->async_wait([this, i](boost::system::error_code ec) {
          if (ec || stopped_) return;
          auto& state = clusters_[i];
          if (state.st.initialized) return;
          SPDLOG_WARN(
              "cluster {}: no endpoints from {} within initial_fetch_timeout ({}ms); serving "
              "with none until the store answers",
              state.cfg->name, state.st.store, state.cfg->initial_fetch_timeout.count());
          markInitialized(i);
        });
      }
    }
    for (auto& w : watches_) {
      if (w->watcher) w->watcher->start();
    }
    tick();
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    tick_.cancel();
    for (auto& s : clusters_) {
      if (s.initial_timer) s.initial_timer->cancel();
    }
    for (auto& w : watches_) {
      if (w->watcher) w->watcher->stop();
    }
    for (auto& src : sources_) {
      if (src) src->stop();
    }
    if (default_dns_) default_dns_->stop();
  }

  cluster::ClusterSetPtr clusters() const { return set_; }
  bool initialized(std::size_t i) const { return clusters_[i].st.initialized; }

  ClusterStatus status(std::size_t i) const {
    const auto& s = clusters_[i];
    ClusterStatus out = s.st;
    if (out.discovered) out.age_seconds = ageSeconds(s);
    return out;
  }

  void renderMetrics(std::string& out) const {
    using stats::detail::writeHeader;
    struct Row {
      const char* name;
      const char* help;
      stats::MetricType type;
      double (*get)(const ClusterStatus&);
    };
    static const Row kRows[] = {
        {"pilotfish_discovery_answers_total", "Valid answers received from the store",
         stats::MetricType::kCounter, [](const ClusterStatus& s) { return double(s.answers); }},
        {"pilotfish_discovery_updates_total", "Answers that changed the endpoint set",
         stats::MetricType::kCounter, [](const ClusterStatus& s) { return double(s.updates); }},
        {"pilotfish_discovery_instances_skipped_total",
         "Unusable instances skipped (bad data, no host/port, unavailable, duplicate)",
         stats::MetricType::kCounter, [](const ClusterStatus& s) { return double(s.skipped); }},
        {"pilotfish_discovery_rejected_total",
         "Answers rejected whole (unparsable); the last good set was kept",
         stats::MetricType::kCounter, [](const ClusterStatus& s) { return double(s.rejected); }},
        {"pilotfish_discovery_empty_ignored_total",
         "Empty answers not applied (allow_empty is false); the last good set was kept",
         stats::MetricType::kCounter, [](const ClusterStatus& s) { return double(s.empty); }},
        {"pilotfish_discovery_errors_total", "Store unreachable or watch errors",
         stats::MetricType::kCounter, [](const ClusterStatus& s) { return double(s.errors); }},
        {"pilotfish_discovery_connected", "1 while the store is answering",
         stats::MetricType::kGauge, [](const ClusterStatus& s) { return s.connected ? 1.0 : 0.0; }},
        {"pilotfish_discovery_stale",
         "1 while the set is served without the store confirming it (disconnected or from the "
         "disk cache)",
         stats::MetricType::kGauge,
         [](const ClusterStatus& s) { return !s.connected || s.from_cache ? 1.0 : 0.0; }},
        {"pilotfish_discovery_expired",
         "1 when the set was dropped after max_stale without confirmation",
         stats::MetricType::kGauge, [](const ClusterStatus& s) { return s.expired ? 1.0 : 0.0; }},
        {"pilotfish_discovery_set_age_seconds",
         "Seconds since the store last confirmed the set (0 while connected)",
         stats::MetricType::kGauge, [](const ClusterStatus& s) { return s.age_seconds; }},
        {"pilotfish_discovery_cache_writes_total", "Last known good sets written to cache_dir",
         stats::MetricType::kCounter,
         [](const ClusterStatus& s) { return double(s.cache_writes); }},
        {"pilotfish_discovery_cache_write_failures_total",
         "Failed writes of last known good sets to cache_dir", stats::MetricType::kCounter,
         [](const ClusterStatus& s) { return double(s.cache_write_failures); }},
    };
    std::vector<std::pair<const State*, ClusterStatus>> rows;
    for (std::size_t i = 0; i < clusters_.size(); ++i) {
      if (clusters_[i].st.discovered) rows.emplace_back(&clusters_[i], status(i));
    }
    if (rows.empty()) return;
    for (const auto& r : kRows) {
      writeHeader(out, r.name, r.help, r.type);
      for (const auto& [s, st] : rows) {
        out += r.name;
        out += "{cluster=\"";
        stats::appendLabelValue(out, s->cfg->name);
        out += "\",store=\"";
        out += st.store;
        out += "\"} ";
        out += stats::formatSample(r.get(st));
        out += '\n';
      }
    }
  }

  // ---- sink entry points (control thread) ----

  void onAnswer(std::size_t i, const Answer& a) {
    if (stopped_) return;
    auto& s = clusters_[i];
    const auto& name = s.cfg->name;
    s.st.answers++;
    std::vector<cluster::EndpointPtr> eps;
    uint64_t skipped = a.skipped;
    std::string example = a.skip_example;
    eps.reserve(a.instances.size());
    for (const auto& in : a.instances) {
      std::string why;
      auto ep = makeEndpoint(in, &why);
      if (!ep) {
        ++skipped;
        if (example.empty()) example = why;
        continue;
      }
      eps.push_back(std::move(ep));
    }
    normalize(eps, skipped, example);
    s.st.skipped += skipped;
    if (skipped != s.last_logged_skipped) {
      if (skipped > 0) {
        SPDLOG_WARN("cluster {}: {} skipped {} unusable instance(s), e.g. {}", name, s.st.store,
                    skipped, example);
      }
      s.last_logged_skipped = skipped;
    }
    const auto& current = set_->clusters[i];
    if (eps.empty() && !s.cfg->allow_empty && !current->endpoints.empty()) {
      s.st.empty++;
      if (!s.st.empty_ignored) {
        SPDLOG_WARN(
            "cluster {}: {} answered with no usable endpoint; keeping the last {} (set "
            "allow_empty: true to apply empty answers)",
            name, s.st.store, current->endpoints.size());
      }
      s.st.empty_ignored = true;
      markInitialized(i);
      return;
    }
    if (s.st.empty_ignored) {
      SPDLOG_INFO("cluster {}: {} has endpoints again", name, s.st.store);
    }
    s.st.empty_ignored = false;
    s.st.from_cache = false;
    s.st.expired = false;
    if (!s.st.last_error.empty()) {
      SPDLOG_INFO("cluster {}: {} answering again", name, s.st.store);
    }
    s.st.last_error.clear();
    s.last_logged_error.clear();
    s.last_confirmed = Clock::now();
    bool same = eps.size() == current->endpoints.size();
    for (std::size_t k = 0; same && k < eps.size(); ++k) {
      same = sameEndpoint(*eps[k], *current->endpoints[k]);
    }
    if (!same) {
      // Endpoints whose value did not change are shared with the previous snapshot. Both lists
      // are sorted by address: one merge pass.
      std::size_t k = 0;
      const auto& olds = current->endpoints;
      for (auto& ep : eps) {
        while (k < olds.size() && addressLess(olds[k], ep)) ++k;
        if (k < olds.size() && sameEndpoint(*ep, *olds[k])) ep = olds[k];
      }
      SPDLOG_INFO("cluster {}: {} endpoints from {} (was {})", name, eps.size(), s.st.store,
                  current->endpoints.size());
      s.st.updates++;
      publish(i, std::move(eps));
      writeCacheFile(i);
    }
    markInitialized(i);
  }

  void onRejected(std::size_t i, std::string_view why) {
    if (stopped_) return;
    auto& s = clusters_[i];
    s.st.rejected++;
    s.st.last_error = "rejected: " + std::string(why);
    logError(s, "rejected an answer from " + s.st.store +
                    " (keeping the last good set): " + std::string(why));
  }

  void onError(std::size_t i, std::string_view why) {
    if (stopped_) return;
    auto& s = clusters_[i];
    s.st.errors++;
    s.st.last_error = std::string(why);
    logError(s, s.st.store + " error (keeping the last good set, retrying): " + std::string(why));
  }

  void onConnected(std::size_t i, bool connected) {
    if (stopped_) return;
    auto& s = clusters_[i];
    if (s.st.connected && !connected) s.last_confirmed = Clock::now();
    s.st.connected = connected;
  }

 private:
  void logError(State& s, const std::string& text) {
    // Once per distinct error: a store that stays down does not flood the log.
    if (text == s.last_logged_error) {
      SPDLOG_DEBUG("cluster {}: {}", s.cfg->name, text);
      return;
    }
    s.last_logged_error = text;
    SPDLOG_WARN("cluster {}: {}", s.cfg->name, text);
  }

  double ageSeconds(const State& s) const {
    if (!s.st.initialized || s.st.expired) return 0;
    if (s.st.connected && !s.st.from_cache) return 0;
    if (s.last_confirmed == Clock::time_point{}) return 0;
    return std::chrono::duration<double>(Clock::now() - s.last_confirmed).count();
  }

  static cluster::EndpointPtr makeEndpoint(const Instance& in, std::string* why) {
    net::HostPort hp{in.host, in.port,
                     in.host.find(':') != std::string::npos ? net::HostPort::Kind::kIpv6
                                                            : net::HostPort::Kind::kIpv4};
    auto addr = in.port ? net::SocketAddress::fromHostPort(hp) : std::nullopt;
    if (!addr) {
      *why = "\"" + in.host + "\" port " + std::to_string(in.port) + " is not an IP address";
      return nullptr;
    }
    auto ep = std::make_shared<cluster::Endpoint>();
    ep->host_port = hp;
    ep->address = *addr;
    ep->weight = in.weight;
    ep->zone = in.zone;
    ep->health = in.health;
    ep->id = in.id;
    ep->labels = in.labels;
    ep->registered_at_ms = in.registered_at_ms;
    return ep;
  }

  void publish(std::size_t i, std::vector<cluster::EndpointPtr> eps) {
    const auto& old = *set_->clusters[i];
    auto snap = std::make_shared<cluster::ClusterSnapshot>();
    snap->name = old.name;
    snap->source = old.source;
    snap->connect_timeout = old.connect_timeout;
    snap->updated_at = Clock::now();
    snap->endpoints = std::move(eps);
    for (const auto& e : snap->endpoints) {
      snap->total_weight += e->health == cluster::Health::kUnhealthy ? 0 : e->weight;
    }
    auto set = std::make_shared<cluster::ClusterSet>(*set_);
    set->clusters[i] = snap;
    set_ = std::move(set);
    if (hooks_.publish) hooks_.publish(i, std::move(snap));
  }

  void markInitialized(std::size_t i) {
    auto& s = clusters_[i];
    if (s.st.initialized) return;
    s.st.initialized = true;
    if (s.initial_timer) s.initial_timer->cancel();
    if (hooks_.initialized) hooks_.initialized(i);
  }

  void loadCacheFile(std::size_t i) {
    auto& s = clusters_[i];
    const std::string path = cfg_->cache_dir + "/" + s.cache_file;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return;
    std::string why;
    auto text = readSmallFile(path, kMaxCacheFileBytes, &why);
    std::optional<CacheFile> file;
    if (text) file = parseCacheFile(*text, &why);
    if (file && file->watch_key != s.watch_key) {
      file.reset();
      why = "written for another discovery definition";
    }
    if (!file) {
      SPDLOG_WARN("cluster {}: ignoring cache file {}: {}", s.cfg->name, path, why);
      return;
    }
    auto age = std::chrono::milliseconds(std::max<int64_t>(0, wallMs() - file->written_at_ms));
    if (s.cfg->max_stale && age > *s.cfg->max_stale) {
      SPDLOG_WARN("cluster {}: cache file {} is {}s old, beyond max_stale; not used", s.cfg->name,
                  path, age.count() / 1000);
      return;
    }
    std::vector<cluster::EndpointPtr> eps;
    for (const auto& in : file->instances) {
      if (auto ep = makeEndpoint(in, &why)) eps.push_back(std::move(ep));
    }
    uint64_t ignored = 0;
    normalize(eps, ignored, why);
    if (eps.empty()) return;
    SPDLOG_INFO("cluster {}: {} endpoints from the cache file ({}s old) until {} answers",
                s.cfg->name, eps.size(), age.count() / 1000, s.st.store);
    s.st.from_cache = true;
    s.last_confirmed = Clock::now() - age;
    publish(i, std::move(eps));
    markInitialized(i);
  }

  void writeCacheFile(std::size_t i) {
    auto& s = clusters_[i];
    if (!cache_enabled_) return;
    CacheFile f;
    f.cluster = s.cfg->name;
    f.watch_key = s.watch_key;
    f.written_at_ms = wallMs();
    for (const auto& e : set_->clusters[i]->endpoints) f.instances.push_back(toInstance(*e));
    std::string why;
    if (writeFileAtomically(cfg_->cache_dir, s.cache_file, serializeCacheFile(f), &why)) {
      s.st.cache_writes++;
    } else {
      s.st.cache_write_failures++;
      logError(s, "cannot write the cache file: " + why);
    }
  }

  std::unique_ptr<Watcher> makeWatcher(const config::ClusterDiscoveryConfig& d, Watch& sink) {
    if (d.kind == config::DiscoveryKind::kFile) return makeFileWatcher(io_, d, sink);
    Source* src = nullptr;
    if (d.source.empty()) {
      // dns without a source: the system resolver configuration, default TTL bounds.
      if (!default_dns_) {
        config::DiscoverySourceConfig dns;
        dns.name = "";
        dns.type = config::SourceType::kDns;
        default_dns_ = makeSource(dns);
      }
      src = default_dns_.get();
    } else {
      if (sources_.empty()) sources_.resize(cfg_->discovery.size());
      auto& slot = sources_[d.source_index];
      if (!slot) slot = makeSource(cfg_->discovery[d.source_index]);
      src = slot.get();
    }
    if (!src) return nullptr;
    return src->watch(d, sink);
  }

  std::unique_ptr<Source> makeSource(const config::DiscoverySourceConfig& c) {
    switch (c.type) {
      case config::SourceType::kZookeeper: return makeZookeeperSource(io_, c);
      case config::SourceType::kConsul: return makeConsulSource(io_, c);
      case config::SourceType::kDns: return makeDnsSource(io_, c);
      case config::SourceType::kEtcd: break;
    }
    return makeEtcdSource(io_, c);
  }

  void tick() {
    tick_.expires_after(kTick);
    tick_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped_) return;
      checkStale();
      tick();
    });
  }

  // max_stale: a set the store has not confirmed for that long is dropped (requests then fail
  // fast rather than go to endpoints that may be long gone).
  void checkStale() {
    auto now = Clock::now();
    for (std::size_t i = 0; i < clusters_.size(); ++i) {
      auto& s = clusters_[i];
      if (!s.st.discovered || !s.cfg->max_stale || s.st.expired) continue;
      if (s.st.connected && !s.st.from_cache) continue;
      if (set_->clusters[i]->endpoints.empty() || s.last_confirmed == Clock::time_point{}) continue;
      if (now - s.last_confirmed <= *s.cfg->max_stale) continue;
      SPDLOG_WARN(
          "cluster {}: {} has not confirmed the endpoint set for {}ms (max_stale); "
          "dropping it",
          s.cfg->name, s.st.store, s.cfg->max_stale->count());
      s.st.expired = true;
      publish(i, {});
    }
  }

  asio::io_context& io_;
  config::ConfigPtr cfg_;
  cluster::ClusterSetPtr set_;
  Hooks hooks_;
  asio::steady_timer tick_;
  std::vector<State> clusters_;
  std::vector<std::unique_ptr<Source>> sources_;  // indexed like Config::discovery
  std::unique_ptr<Source> default_dns_;
  std::vector<std::unique_ptr<Watch>> watches_;
  bool cache_enabled_ = false;
  bool stopped_ = false;
};

DiscoveryCache::DiscoveryCache(asio::io_context& io, config::ConfigPtr cfg,
                               cluster::ClusterSetPtr initial, Hooks hooks)
    : impl_(std::make_unique<Impl>(io, std::move(cfg), std::move(initial), std::move(hooks))) {}
DiscoveryCache::~DiscoveryCache() = default;
void DiscoveryCache::start() {
  impl_->start();
}
void DiscoveryCache::stop() {
  impl_->stop();
}
cluster::ClusterSetPtr DiscoveryCache::clusters() const {
  return impl_->clusters();
}
bool DiscoveryCache::initialized(std::size_t i) const {
  return impl_->initialized(i);
}
ClusterStatus DiscoveryCache::status(std::size_t i) const {
  return impl_->status(i);
}
void DiscoveryCache::renderMetrics(std::string& out) const {
  impl_->renderMetrics(out);
}

}  // namespace pilotfish::discovery
