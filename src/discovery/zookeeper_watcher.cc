// ZooKeeper discovery (SmartStack nerve znodes) on the ZooKeeper C client. See
// docs/discovery/zookeeper.md and ../shared/contracts/zookeeper-nerve.md.
//
// The C client runs its own I/O and completion threads. Watch and completion callbacks only copy
// what they got and post it to the control io_context through a Gate (which the session clears
// when it goes away); everything else happens on the control thread. Contexts given to the client
// outlive the handle: a handle's context is freed after zookeeper_close returned (which first
// runs every pending completion with ZCLOSING), and each request's context is freed by its
// completion, which the client calls exactly once.

#include "discovery/zookeeper_watcher.h"

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "pilotfish/discovery/nerve.h"

namespace pilotfish::discovery {

namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

// How long a new handle may take to connect before the watches hear that the ensemble is
// unreachable (the client keeps trying regardless).
constexpr milliseconds kConnectGrace{2000};
// How long destroying a source waits for its handles to finish closing (zookeeper_close sends a
// close request and may wait for the server).
constexpr milliseconds kCloseWait{3500};

void quietClientLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    zoo_set_debug_level(ZOO_LOG_LEVEL_WARN);
    // Only for messages logged before a handle has its callback; kept open for the process.
    if (FILE* devnull = std::fopen("/dev/null", "w")) zoo_set_log_stream(devnull);
  });
}

// The client logs every failed connect attempt as a warning: debug level here, since the
// watches report the state that matters.
void clientLog(const char* message) {
  std::string_view m(message ? message : "");
  while (!m.empty() && (m.back() == '\n' || m.back() == '\r')) m.remove_suffix(1);
  spdlog::debug("zookeeper client: {}", m);
}

struct Gate {
  std::mutex mu;
  asio::io_context* io = nullptr;

  template <class F>
  void post(F&& f) {
    std::lock_guard lock(mu);
    if (io) asio::post(*io, std::forward<F>(f));
  }
};

// Handles being closed on their own threads, so that a session can wait (bounded) for them.
struct Closers {
  std::mutex mu;
  std::condition_variable cv;
  int running = 0;
};

class ZkSession;

struct HandleCtx {
  std::shared_ptr<Gate> gate;
  std::weak_ptr<ZkSession> session;
  uint64_t gen = 0;
};

struct Request {
  std::shared_ptr<Gate> gate;
  std::weak_ptr<ZkSession> session;
  uint64_t gen = 0;
  uint64_t watch = 0;
  uint64_t seq = 0;
  std::string child;
};

bool isConnectionError(int rc) {
  return rc == ZCONNECTIONLOSS || rc == ZSESSIONEXPIRED || rc == ZCLOSING || rc == ZINVALIDSTATE ||
         rc == ZOPERATIONTIMEOUT || rc == ZSESSIONMOVED;
}

std::string childPath(const std::string& parent, const std::string& child) {
  return parent == "/" ? "/" + child : parent + "/" + child;
}

struct Child {
  uint64_t seq = 0;  // of the last read issued; older completions are ignored
  bool pending = false;
  bool usable = false;
  Instance instance;
  std::string why;
};

struct WatchState {
  WatchState(asio::io_context& io, uint64_t id_, std::string path_, WatchSink& sink_)
      : id(id_), path(std::move(path_)), sink(&sink_), retry(io) {}

  uint64_t id;
  std::string path;
  WatchSink* sink;
  bool stopped = false;

  uint64_t list_seq = 0;  // of the listing (or exists check) in flight
  uint64_t read_seq = 0;  // source of Child::seq
  bool list_pending = false;
  bool armed = false;   // a complete set was read and every watch is set
  bool broken = false;  // a request failed; waiting for a resync
  bool full = true;     // the next listing re-reads every child
  bool force_report = true;
  std::optional<bool> told_connected;
  bool error_told = false;  // onError said once for the current trouble
  std::map<std::string, Child> children;
  std::optional<Answer> last;
  asio::steady_timer retry;
  Backoff backoff;
};

class ZkSession : public std::enable_shared_from_this<ZkSession> {
 public:
  ZkSession(asio::io_context& io, const config::DiscoverySourceConfig& cfg)
      : io_(io),
        cfg_(cfg),
        connect_(zookeeperConnectString(cfg)),
        gate_(std::make_shared<Gate>()),
        closers_(std::make_shared<Closers>()),
        connect_timer_(io),
        reopen_timer_(io) {
    gate_->io = &io;
    quietClientLogs();
  }

  ~ZkSession() {
    stop();
    {
      std::lock_guard lock(gate_->mu);
      gate_->io = nullptr;
    }
    std::unique_lock lock(closers_->mu);
    if (!closers_->cv.wait_for(lock, kCloseWait, [&] { return closers_->running == 0; })) {
      spdlog::warn("zookeeper source {}: a session is still closing; not waiting for it",
                   cfg_.name);
    }
  }

  uint64_t add(const std::string& path, WatchSink& sink) {
    uint64_t id = ++next_watch_;
    auto w = std::make_shared<WatchState>(io_, id, path, sink);
    watches_.emplace(id, w);
    if (stopped_) return id;
    if (!zh_ && !reopen_pending_) {
      open();
    } else if (connected_) {
      sync(*w);
    } else if (unreachable_told_) {
      tell(*w, unreachable_why_, true);
    }
    return id;
  }

  void remove(uint64_t id) {
    auto it = watches_.find(id);
    if (it == watches_.end()) return;
    it->second->stopped = true;
    it->second->retry.cancel();
    watches_.erase(it);
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto& [id, w] : watches_) {
      w->stopped = true;
      w->retry.cancel();
    }
    watches_.clear();
    connect_timer_.cancel();
    reopen_timer_.cancel();
    closeHandle();
  }

  std::optional<ZookeeperSessionId> sessionId() const {
    if (!zh_ || !connected_) return std::nullopt;
    const clientid_t* id = zoo_client_id(zh_);
    if (!id) return std::nullopt;
    return ZookeeperSessionId{id->client_id, std::string(id->passwd, sizeof(id->passwd))};
  }

  // ---- from the client's threads (through the gate) ----

  void onSessionEvent(uint64_t gen, int state) {
    if (gen != gen_ || stopped_) return;
    if (state == ZOO_CONNECTED_STATE || state == ZOO_READONLY_STATE) {
      bool was = connected_;
      connected_ = true;
      unreachable_told_ = false;
      connect_timer_.cancel();
      backoff_.reset();
      if (!was) {
        spdlog::info("zookeeper source {}: connected to {} (session 0x{:x}, timeout {} ms)",
                     cfg_.name, connect_, zoo_client_id(zh_)->client_id, zoo_recv_timeout(zh_));
      }
      for (auto& w : snapshot()) {
        if (w->stopped) continue;
        if (!w->armed) {
          if (!w->list_pending) sync(*w);
        } else if (w->told_connected != true) {
          // The session survived: the server still holds our watches and fires those whose
          // node changed while we were away.
          w->told_connected = true;
          w->error_told = false;
          w->sink->onConnected(true);
        }
      }
    } else if (state == ZOO_CONNECTING_STATE || state == ZOO_ASSOCIATING_STATE) {
      if (!connected_) return;
      connected_ = false;
      std::string why = "lost the connection to ZooKeeper " + connect_ +
                        "; the session is kept while the client reconnects";
      spdlog::warn("zookeeper source {}: {}", cfg_.name, why);
      tellAll(why, false);
      armConnectTimer();
    } else if (state == ZOO_EXPIRED_SESSION_STATE) {
      std::string why = "ZooKeeper session expired; opening a new one and reading everything again";
      spdlog::warn("zookeeper source {}: {}", cfg_.name, why);
      for (auto& [id, w] : watches_) {
        w->armed = false;
        w->full = true;
        w->force_report = true;
        w->list_pending = false;
        ++w->list_seq;
      }
      tellAll(why, true);
      closeHandle();
      open();
    } else if (state == ZOO_AUTH_FAILED_STATE) {
      std::string why = "ZooKeeper authentication failed (auth_scheme " + cfg_.auth_scheme + ")";
      spdlog::warn("zookeeper source {}: {}", cfg_.name, why);
      for (auto& [id, w] : watches_) {
        w->armed = false;
        w->full = true;
        w->list_pending = false;
        ++w->list_seq;
      }
      tellAll(why, true);
      closeHandle();
      scheduleReopen();
    }
  }

  void onNodeEvent(uint64_t gen, int type, const std::string& path) {
    if (gen != gen_ || stopped_) return;
    auto slash = path.rfind('/');
    std::string parent = slash == 0 ? "/" : path.substr(0, slash);
    std::string name = path.substr(slash + 1);
    for (auto& w : snapshot()) {
      if (w->stopped) continue;
      if (path == w->path) {
        if (type == ZOO_NOTWATCHING_EVENT) w->full = true;
        // Children changed, or the service node itself was created or deleted.
        sync(*w);
      } else if (parent == w->path) {
        auto it = w->children.find(name);
        if (it == w->children.end()) continue;
        if (type == ZOO_DELETED_EVENT) {
          w->children.erase(it);
          maybeReport(*w);
        } else {
          // Rewritten in place (go-nerve's available/weight); reading again re-arms the watch.
          read(*w, name);
        }
      }
    }
  }

  void onListed(uint64_t gen, uint64_t id, uint64_t seq, int rc, std::vector<std::string> names) {
    auto w = find(gen, id);
    if (!w || seq != w->list_seq || !w->list_pending) return;
    if (rc == ZOK) {
      std::set<std::string> now(std::make_move_iterator(names.begin()),
                                std::make_move_iterator(names.end()));
      std::erase_if(w->children, [&](const auto& c) { return !now.count(c.first); });
      bool full = std::exchange(w->full, false);
      w->list_pending = false;
      for (const auto& name : now) {
        bool fresh = !w->children.count(name);
        if (fresh || full) read(*w, name);
        if (w->broken) return;
      }
      maybeReport(*w);
    } else if (rc == ZNONODE) {
      // An absent service is a valid empty answer; watch for its creation, and answer once that
      // watch is set (the node may appear in between).
      auto* r = request(*w, seq, {});
      int arc = zoo_awexists(zh_, w->path.c_str(), nodeWatcher, hctx_, existsDone, r);
      if (arc != ZOK) {
        delete r;
        failed(*w, arc, "watching for the creation of");
      }
    } else {
      failed(*w, rc, "listing the children of");
    }
  }

  void onExists(uint64_t gen, uint64_t id, uint64_t seq, int rc) {
    auto w = find(gen, id);
    if (!w || seq != w->list_seq || !w->list_pending) return;
    if (rc == ZNONODE) {
      w->children.clear();
      w->full = false;
      w->list_pending = false;
      maybeReport(*w);
    } else if (rc == ZOK) {
      sync(*w);
    } else {
      failed(*w, rc, "watching for the creation of");
    }
  }

  void onRead(uint64_t gen, uint64_t id, const std::string& name, uint64_t seq, int rc,
              const std::string& data, int64_t ctime) {
    auto w = find(gen, id);
    if (!w) return;
    auto it = w->children.find(name);
    if (it == w->children.end() || it->second.seq != seq || !it->second.pending) return;
    Child& c = it->second;
    if (rc == ZOK) {
      c.pending = false;
      std::string why;
      Instance inst;
      c.usable = parseNerveInstance(data, inst, &why);
      if (c.usable) {
        inst.id = name;
        inst.registered_at_ms = ctime;
        c.instance = std::move(inst);
        c.why.clear();
      } else {
        c.why = std::move(why);
      }
      maybeReport(*w);
    } else if (rc == ZNONODE) {
      // Gone between the listing and the read: simply not part of the set.
      w->children.erase(it);
      maybeReport(*w);
    } else {
      failed(*w, rc, "reading " + name + " under");
    }
  }

 private:
  // ---- C callbacks (client threads): copy, post, nothing else ----

  static void sessionWatcher(zhandle_t*, int type, int state, const char*, void* ctx) {
    if (type != ZOO_SESSION_EVENT) return;
    auto* h = static_cast<HandleCtx*>(ctx);
    h->gate->post([s = h->session, gen = h->gen, state] {
      if (auto self = s.lock()) self->onSessionEvent(gen, state);
    });
  }

  static void nodeWatcher(zhandle_t*, int type, int, const char* path, void* ctx) {
    // Every watch also hears session events; the session watcher handles those.
    if (type == ZOO_SESSION_EVENT || !path) return;
    auto* h = static_cast<HandleCtx*>(ctx);
    h->gate->post([s = h->session, gen = h->gen, type, p = std::string(path)] {
      if (auto self = s.lock()) self->onNodeEvent(gen, type, p);
    });
  }

  static void listDone(int rc, const String_vector* strings, const Stat*, const void* data) {
    std::unique_ptr<Request> r(static_cast<Request*>(const_cast<void*>(data)));
    std::vector<std::string> names;
    if (rc == ZOK && strings) {
      names.reserve(static_cast<std::size_t>(strings->count));
      for (int i = 0; i < strings->count; ++i) names.emplace_back(strings->data[i]);
    }
    r->gate->post([s = r->session, gen = r->gen, id = r->watch, seq = r->seq, rc,
                   names = std::move(names)]() mutable {
      if (auto self = s.lock()) self->onListed(gen, id, seq, rc, std::move(names));
    });
  }

  static void existsDone(int rc, const Stat*, const void* data) {
    std::unique_ptr<Request> r(static_cast<Request*>(const_cast<void*>(data)));
    r->gate->post([s = r->session, gen = r->gen, id = r->watch, seq = r->seq, rc] {
      if (auto self = s.lock()) self->onExists(gen, id, seq, rc);
    });
  }

  static void dataDone(int rc, const char* value, int len, const Stat* stat, const void* data) {
    std::unique_ptr<Request> r(static_cast<Request*>(const_cast<void*>(data)));
    std::string bytes;
    if (rc == ZOK && value && len > 0) bytes.assign(value, static_cast<std::size_t>(len));
    int64_t ctime = rc == ZOK && stat ? stat->ctime : 0;
    r->gate->post([s = r->session, gen = r->gen, id = r->watch, seq = r->seq, rc,
                   child = std::move(r->child), bytes = std::move(bytes), ctime] {
      if (auto self = s.lock()) self->onRead(gen, id, child, seq, rc, bytes, ctime);
    });
  }

  static void authDone(int, const void*) {}  // a refusal arrives as ZOO_AUTH_FAILED_STATE

  // ---- control thread ----

  void open() {
    reopen_pending_ = false;
    if (stopped_) return;
    auto ctx = std::make_unique<HandleCtx>(HandleCtx{gate_, weak_from_this(), ++gen_});
    std::string credentials;
    if (!cfg_.auth_scheme.empty()) {
      std::string why;
      if (!readCredentials(credentials, why)) {
        unreachable(why);
        scheduleReopen();
        return;
      }
    }
    zhandle_t* zh = zookeeper_init2(connect_.c_str(), sessionWatcher,
                                    static_cast<int>(cfg_.session_timeout.count()), nullptr,
                                    ctx.get(), 0, clientLog);
    if (!zh) {
      unreachable("cannot start a ZooKeeper client for " + connect_ + ": " + std::strerror(errno));
      scheduleReopen();
      return;
    }
    if (!cfg_.auth_scheme.empty()) {
      // Queued now, sent on every (re)connect of this handle by the client.
      int rc = zoo_add_auth(zh, cfg_.auth_scheme.c_str(), credentials.data(),
                            static_cast<int>(credentials.size()), authDone, nullptr);
      std::fill(credentials.begin(), credentials.end(), '\0');
      if (rc != ZOK) spdlog::warn("zookeeper source {}: zoo_add_auth: {}", cfg_.name, zerror(rc));
    }
    zh_ = zh;
    hctx_ = ctx.release();
    connected_ = false;
    armConnectTimer();
  }

  bool readCredentials(std::string& out, std::string& why) const {
    std::ifstream in(cfg_.credentials_file, std::ios::binary);
    if (!in) {
      why = "cannot read ZooKeeper credentials_file " + cfg_.credentials_file + ": " +
            std::strerror(errno);
      return false;
    }
    std::getline(in, out);
    while (!out.empty() && (out.back() == '\r' || out.back() == ' ')) out.pop_back();
    if (out.find(':') == std::string::npos) {
      std::fill(out.begin(), out.end(), '\0');
      why = "ZooKeeper credentials_file " + cfg_.credentials_file +
            " does not hold user:password on its first line";
      return false;
    }
    return true;
  }

  void closeHandle() {
    connected_ = false;
    connect_timer_.cancel();
    if (!zh_) return;
    zhandle_t* zh = std::exchange(zh_, nullptr);
    HandleCtx* ctx = std::exchange(hctx_, nullptr);
    {
      std::lock_guard lock(closers_->mu);
      ++closers_->running;
    }
    // zookeeper_close joins the client's threads and may wait for the server: not here.
    std::thread([zh, ctx, closers = closers_] {
      zookeeper_close(zh);
      delete ctx;
      std::lock_guard lock(closers->mu);
      --closers->running;
      closers->cv.notify_all();
    }).detach();
  }

  void scheduleReopen() {
    reopen_pending_ = true;
    reopen_timer_.expires_after(backoff_.next());
    reopen_timer_.async_wait([s = weak_from_this()](const boost::system::error_code& ec) {
      auto self = s.lock();
      if (ec || !self || self->stopped_) return;
      self->open();
    });
  }

  void armConnectTimer() {
    connect_timer_.expires_after(kConnectGrace);
    connect_timer_.async_wait([s = weak_from_this(),
                               gen = gen_](const boost::system::error_code& ec) {
      auto self = s.lock();
      if (ec || !self || self->stopped_ || self->connected_ || gen != self->gen_) return;
      self->unreachable("cannot reach ZooKeeper " + self->connect_ + " (the client keeps trying)");
    });
  }

  void unreachable(const std::string& why) {
    if (!unreachable_told_) spdlog::warn("zookeeper source {}: {}", cfg_.name, why);
    unreachable_told_ = true;
    unreachable_why_ = why;
    tellAll(why, false);
  }

  // Says "not connected" and `why` to every watch (`why` once per trouble unless `always`).
  void tellAll(const std::string& why, bool always) {
    for (auto& w : snapshot()) tell(*w, why, always);
  }

  void tell(WatchState& w, const std::string& why, bool always) {
    if (w.stopped) return;
    if (w.told_connected != false) {
      w.told_connected = false;
      w.sink->onConnected(false);
    }
    if (w.stopped || (w.error_told && !always)) return;
    w.error_told = true;
    w.sink->onError(why);
  }

  void sync(WatchState& w) {
    w.retry.cancel();
    if (!zh_ || !connected_) {
      // Resynchronised when the session is (re)connected.
      w.armed = false;
      w.list_pending = false;
      ++w.list_seq;
      return;
    }
    w.broken = false;
    w.list_pending = true;
    uint64_t seq = ++w.list_seq;
    auto* r = request(w, seq, {});
    int rc = zoo_awget_children2(zh_, w.path.c_str(), nodeWatcher, hctx_, listDone, r);
    if (rc != ZOK) {
      delete r;
      failed(w, rc, "listing the children of");
    }
  }

  void read(WatchState& w, const std::string& name) {
    Child& c = w.children[name];
    c.seq = ++w.read_seq;
    c.pending = true;
    auto* r = request(w, c.seq, name);
    int rc = zoo_awget(zh_, childPath(w.path, name).c_str(), nodeWatcher, hctx_, dataDone, r);
    if (rc != ZOK) {
      delete r;
      failed(w, rc, "reading " + name + " under");
    }
  }

  Request* request(const WatchState& w, uint64_t seq, std::string child) {
    return new Request{gate_, weak_from_this(), gen_, w.id, seq, std::move(child)};
  }

  void failed(WatchState& w, int rc, const std::string& what) {
    if (w.broken) return;
    w.broken = true;
    w.armed = false;
    w.full = true;
    w.list_pending = false;
    ++w.list_seq;
    if (isConnectionError(rc)) {
      // The session events report this and resynchronise on reconnect; only when the session
      // already says connected again is a retry needed here.
      if (connected_) retryLater(w);
      return;
    }
    std::string why = what + " " + w.path + ": " + zerror(rc);
    spdlog::warn("zookeeper source {}: {}", cfg_.name, why);
    tell(w, why, false);
    retryLater(w);
  }

  void retryLater(WatchState& w) {
    w.retry.expires_after(w.backoff.next());
    w.retry.async_wait([s = weak_from_this(), id = w.id](const boost::system::error_code& ec) {
      auto self = s.lock();
      if (ec || !self) return;
      if (auto ws = self->find(self->gen_, id); ws && !ws->armed && !ws->list_pending) {
        self->sync(*ws);
      }
    });
  }

  void maybeReport(WatchState& w) {
    if (w.stopped || w.broken || w.list_pending) return;
    for (const auto& [name, c] : w.children) {
      if (c.pending) return;
    }
    w.armed = true;
    w.error_told = false;
    w.backoff.reset();
    Answer a;
    for (const auto& [name, c] : w.children) {
      if (c.usable) {
        a.instances.push_back(c.instance);
      } else if (a.skipped++ == 0) {
        a.skip_example = name + ": " + c.why;
      }
    }
    if (w.told_connected != true) {
      w.told_connected = true;
      w.sink->onConnected(true);
      if (w.stopped) return;
    }
    bool same = w.last && w.last->instances == a.instances && w.last->skipped == a.skipped &&
                w.last->skip_example == a.skip_example;
    if (same && !w.force_report) return;
    w.force_report = false;
    w.last = a;
    w.sink->onAnswer(std::move(a));
  }

  // A strong reference: a sink may stop (and so forget) the watch while being told something.
  std::shared_ptr<WatchState> find(uint64_t gen, uint64_t id) {
    if (gen != gen_ || stopped_) return nullptr;
    auto it = watches_.find(id);
    return it == watches_.end() ? nullptr : it->second;
  }

  // A sink may stop watchers while being told something: iterate over a copy.
  std::vector<std::shared_ptr<WatchState>> snapshot() const {
    std::vector<std::shared_ptr<WatchState>> v;
    v.reserve(watches_.size());
    for (const auto& [id, w] : watches_) v.push_back(w);
    return v;
  }

  asio::io_context& io_;
  config::DiscoverySourceConfig cfg_;
  std::string connect_;
  std::shared_ptr<Gate> gate_;
  std::shared_ptr<Closers> closers_;
  asio::steady_timer connect_timer_;
  asio::steady_timer reopen_timer_;
  Backoff backoff_;
  zhandle_t* zh_ = nullptr;
  HandleCtx* hctx_ = nullptr;
  uint64_t gen_ = 0;
  uint64_t next_watch_ = 0;
  bool connected_ = false;
  bool stopped_ = false;
  bool reopen_pending_ = false;
  bool unreachable_told_ = false;
  std::string unreachable_why_;
  std::map<uint64_t, std::shared_ptr<WatchState>> watches_;
};

class ZkWatcher final : public Watcher {
 public:
  ZkWatcher(std::shared_ptr<ZkSession> session, std::string path, WatchSink& sink)
      : session_(std::move(session)), path_(std::move(path)), sink_(sink) {
    // Events name paths without a trailing slash.
    while (path_.size() > 1 && path_.back() == '/') path_.pop_back();
  }
  ~ZkWatcher() override { stop(); }

  void start() override {
    if (started_) return;
    started_ = true;
    id_ = session_->add(path_, sink_);
  }

  void stop() override {
    if (id_ != 0) session_->remove(std::exchange(id_, 0));
  }

 private:
  std::shared_ptr<ZkSession> session_;
  std::string path_;
  WatchSink& sink_;
  bool started_ = false;
  uint64_t id_ = 0;
};

class ZkSource final : public Source {
 public:
  ZkSource(asio::io_context& io, const config::DiscoverySourceConfig& cfg)
      : session_(std::make_shared<ZkSession>(io, cfg)) {}
  ~ZkSource() override { session_->stop(); }

  std::unique_ptr<Watcher> watch(const config::ClusterDiscoveryConfig& what,
                                 WatchSink& sink) override {
    return std::make_unique<ZkWatcher>(session_, what.path, sink);
  }

  void stop() override { session_->stop(); }

  ZkSession& session() { return *session_; }

 private:
  std::shared_ptr<ZkSession> session_;
};

}  // namespace

std::string zookeeperConnectString(const config::DiscoverySourceConfig& cfg) {
  std::string s;
  for (const auto& hp : cfg.servers) {
    if (!s.empty()) s += ',';
    s += hp.toString();
  }
  if (!cfg.chroot.empty() && cfg.chroot != "/") s += cfg.chroot;
  return s;
}

std::optional<ZookeeperSessionId> zookeeperSessionOf(Source& source) {
  auto* zk = dynamic_cast<ZkSource*>(&source);
  if (!zk) return std::nullopt;
  return zk->session().sessionId();
}

std::unique_ptr<Source> makeZookeeperSource(boost::asio::io_context& io,
                                            const config::DiscoverySourceConfig& cfg) {
  return std::make_unique<ZkSource>(io, cfg);
}

}  // namespace pilotfish::discovery
