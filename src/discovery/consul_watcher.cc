// Consul: blocking queries on /v1/health/service/<name>, as Consul documents them (see
// ../shared/contracts/consul.md and docs/discovery/consul.md). One HTTP watch per distinct
// (service, tags, passing_only, datacenter) in a source, shared by every cluster asking for it.

#include "discovery/consul_watcher.h"

#include <spdlog/spdlog.h>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <map>
#include <sstream>

#include "discovery/http_client.h"
#include "pilotfish/core/json_parse.h"

namespace pilotfish::discovery {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

/// Longest body kept in an error message (Consul's error bodies are one line of text).
constexpr std::size_t kErrorBodyChars = 200;

uint32_t weightOf(const core::JsonValue* weights, std::string_view key) {
  const core::JsonValue* w = weights != nullptr ? weights->find(key) : nullptr;
  std::optional<int64_t> n = w != nullptr ? w->asInt() : std::nullopt;
  if (!n) return 1;  // Consul's default for both
  return static_cast<uint32_t>(std::clamp<int64_t>(*n, 0, 65535));
}

const std::string* nonEmptyString(const core::JsonValue* obj, std::string_view key) {
  const std::string* s = obj != nullptr ? obj->findString(key) : nullptr;
  return s != nullptr && !s->empty() ? s : nullptr;
}

/// The worst check status: 0 passing, 1 warning, 2 critical (anything unknown counts as
/// critical, as maintenance does).
int worstCheck(const core::JsonValue* checks) {
  int worst = 0;
  if (checks == nullptr || !checks->isArray()) return worst;
  for (const auto& c : checks->items()) {
    const std::string* status = c.findString("Status");
    int level = 2;
    if (status != nullptr && *status == "passing") level = 0;
    if (status != nullptr && *status == "warning") level = 1;
    worst = std::max(worst, level);
  }
  return worst;
}

/// Fills `out` from one health entry, or says why it cannot be used.
bool parseEntry(const core::JsonValue& entry, Instance& out, std::string* why) {
  const core::JsonValue* svc = entry.isObject() ? entry.find("Service") : nullptr;
  if (svc == nullptr || !svc->isObject()) {
    *why = "an entry without a Service object";
    return false;
  }
  const core::JsonValue* node = entry.find("Node");
  if (node != nullptr && !node->isObject()) node = nullptr;
  const std::string* id = nonEmptyString(svc, "ID");
  if (id == nullptr) {
    *why = "an entry without Service.ID";
    return false;
  }
  // Service IDs are unique per node only: the node name makes the id unique in the answer.
  const std::string* node_name = nonEmptyString(node, "Node");
  out.id = node_name != nullptr ? *id + "@" + *node_name : *id;
  const core::JsonValue* port = svc->find("Port");
  std::optional<int64_t> p = port != nullptr ? port->asInt() : std::nullopt;
  if (!p || *p < 1 || *p > 65535) {
    *why = "instance " + out.id + ": " +
           (p ? "Port " + std::to_string(*p) + " out of range 1-65535" : "no integer Port");
    return false;
  }
  const std::string* addr = nonEmptyString(svc, "Address");
  if (addr == nullptr) addr = nonEmptyString(node, "Address");
  if (addr == nullptr) {
    *why = "instance " + out.id + ": neither Service.Address nor Node.Address";
    return false;
  }
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(*addr, ec);
  if (ec) {
    *why = "instance " + out.id + ": address \"" + *addr + "\" is not an IP literal";
    return false;
  }
  out.host = ip.to_string();
  out.port = static_cast<uint16_t>(*p);
  const core::JsonValue* weights = svc->find("Weights");
  if (weights != nullptr && !weights->isObject()) weights = nullptr;
  switch (worstCheck(entry.find("Checks"))) {
    case 0:
      out.health = cluster::Health::kHealthy;
      out.weight = weightOf(weights, "Passing");
      break;
    case 1:
      out.health = cluster::Health::kHealthy;
      out.weight = weightOf(weights, "Warning");
      break;
    default:
      out.health = cluster::Health::kUnhealthy;
      out.weight = weightOf(weights, "Passing");
      break;
  }
  out.labels.clear();
  if (const auto* tags = svc->find("Tags"); tags != nullptr && tags->isArray()) {
    for (const auto& t : tags->items()) {
      if (t.isString()) out.labels.emplace_back(t.asString(), std::string());
    }
  }
  const core::JsonValue* meta = svc->find("Meta");
  if (meta != nullptr && meta->isObject()) {
    for (const auto& m : meta->members()) {
      if (m.value.isString()) out.labels.emplace_back(m.key, m.value.asString());
    }
  }
  std::sort(out.labels.begin(), out.labels.end());
  out.labels.erase(std::unique(out.labels.begin(), out.labels.end()), out.labels.end());
  out.zone.clear();
  const std::string* zone = nonEmptyString(meta, "zone");
  if (zone == nullptr && node != nullptr) zone = nonEmptyString(node->find("Meta"), "zone");
  if (zone != nullptr) out.zone = *zone;
  out.registered_at_ms = 0;  // Consul keeps no registration time (CreateIndex is not a clock)
  return true;
}

std::string percentEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

std::optional<uint64_t> parseIndex(const std::string* text) {
  if (text == nullptr) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
  if (ec != std::errc() || end != text->data() + text->size() || text->empty()) {
    return std::nullopt;
  }
  return v;
}

std::string trimmed(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  s.erase(s.find_last_not_of(ws) + 1);
  return s;
}

/// What one shared watch asks Consul for.
struct Query {
  std::string service;
  std::vector<std::string> tags;  // sorted, unique: the same set in another order is one watch
  bool passing_only = true;
  std::string datacenter;

  std::string key() const {
    std::string k = service + '\n' + (passing_only ? "1" : "0") + '\n' + datacenter;
    for (const auto& t : tags) k += '\n' + t;
    return k;
  }
};

class SourceState;

/// One blocking-query loop, fanned out to every sink that watches the same query.
class SharedWatch : public std::enable_shared_from_this<SharedWatch> {
 public:
  SharedWatch(asio::io_context& io, std::shared_ptr<SourceState> source, Query query)
      : io_(io), source_(std::move(source)), query_(std::move(query)), timer_(io) {}

  void start();
  void stop();
  void attach(WatchSink* sink);
  /// Removes `sink`; true when no sink is left.
  bool detach(WatchSink* sink);

 private:
  void poll();
  void onReply(const std::string& error, HttpReply reply);
  void failed(const std::string& why, bool rejected);
  void schedule(milliseconds delay);
  template <typename F>
  void fanOut(F call);
  std::string target() const;

  asio::io_context& io_;
  std::shared_ptr<SourceState> source_;
  Query query_;
  asio::steady_timer timer_;
  std::shared_ptr<HttpClient> client_;
  std::vector<WatchSink*> sinks_;
  Backoff backoff_;
  uint64_t index_ = 0;
  bool stopped_ = false;
  bool connected_ = false;
  std::optional<Answer> last_;
  std::string last_problem_;  // the last error logged, so that a repeated one is not
  std::chrono::steady_clock::time_point last_request_{};
};

class SourceState : public std::enable_shared_from_this<SourceState> {
 public:
  SourceState(asio::io_context& io, const config::DiscoverySourceConfig& cfg,
              const ConsulOptions& options)
      : io_(io), cfg_(cfg), options_(options) {
    if (cfg_.tls) {
      config::TlsConfig t;
      t.verify = true;
      t.sni = cfg_.address.host;
      t.ca_file = cfg_.tls->ca_file;
      t.cert_file = cfg_.tls->cert_file;
      t.key_file = cfg_.tls->key_file;
      t.alpn = {"http/1.1"};
      tls_ = tls::ClientContext::create(t, &setup_error_);
      if (!tls_) setup_error_ = "consul source " + cfg_.name + ": tls: " + setup_error_;
    }
  }

  asio::io_context& io() { return io_; }
  const config::DiscoverySourceConfig& cfg() const { return cfg_; }
  const ConsulOptions& options() const { return options_; }
  const std::shared_ptr<const tls::ClientContext>& tls() const { return tls_; }
  /// Why this source cannot make requests at all (TLS files); empty when it can.
  const std::string& setupError() const { return setup_error_; }

  /// The ACL token, read from token_file when first needed and again after a failed read (the
  /// file may be mounted late). nullopt with `*why` when it cannot be read.
  std::optional<std::string> token(std::string* why) {
    if (cfg_.token_file.empty()) return std::string();
    if (token_) return token_;
    std::ifstream in(cfg_.token_file);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) {
      *why = "cannot read token_file " + cfg_.token_file;
      return std::nullopt;
    }
    token_ = trimmed(ss.str());
    return token_;
  }

  void attach(const Query& q, WatchSink* sink) {
    auto& w = watches_[q.key()];
    if (w) return w->attach(sink);
    w = std::make_shared<SharedWatch>(io_, shared_from_this(), q);
    w->attach(sink);
    w->start();
  }

  void detach(const Query& q, WatchSink* sink) {
    auto it = watches_.find(q.key());
    if (it == watches_.end()) return;
    if (it->second->detach(sink)) {
      it->second->stop();
      watches_.erase(it);
    }
  }

  void stopAll() {
    for (auto& [k, w] : watches_) w->stop();
    watches_.clear();
  }

 private:
  asio::io_context& io_;
  config::DiscoverySourceConfig cfg_;
  ConsulOptions options_;
  std::shared_ptr<const tls::ClientContext> tls_;
  std::string setup_error_;
  std::optional<std::string> token_;
  std::map<std::string, std::shared_ptr<SharedWatch>> watches_;
};

void SharedWatch::start() {
  backoff_ = Backoff(source_->options().backoff_base, source_->options().backoff_cap);
  HttpClient::Options o;
  o.server = source_->cfg().address;
  o.tls = source_->tls();
  o.connect_timeout = milliseconds(source_->cfg().timeout.count());
  client_ = HttpClient::create(io_, std::move(o));
  // Not from inside start(): even a first failure (unreadable token_file) reaches the sink
  // after Watcher::start() has returned.
  schedule(milliseconds(0));
}

void SharedWatch::stop() {
  stopped_ = true;
  timer_.cancel();
  if (client_) client_->cancel();
  sinks_.clear();
}

void SharedWatch::attach(WatchSink* sink) {
  sinks_.push_back(sink);
  if (!last_ && !connected_) return;
  // A cluster joining a running watch gets its current state, after start() has returned.
  asio::post(io_, [self = shared_from_this(), sink] {
    if (self->stopped_ ||
        std::find(self->sinks_.begin(), self->sinks_.end(), sink) == self->sinks_.end()) {
      return;
    }
    if (self->connected_) sink->onConnected(true);
    if (self->last_) sink->onAnswer(*self->last_);
  });
}

bool SharedWatch::detach(WatchSink* sink) {
  sinks_.erase(std::remove(sinks_.begin(), sinks_.end(), sink), sinks_.end());
  return sinks_.empty();
}

template <typename F>
void SharedWatch::fanOut(F call) {
  // A sink may stop its watcher (and so detach) from inside the call: walk a copy and skip the
  // sinks that left meanwhile.
  auto sinks = sinks_;
  for (WatchSink* s : sinks) {
    if (stopped_) return;
    if (std::find(sinks_.begin(), sinks_.end(), s) != sinks_.end()) call(*s);
  }
}

std::string SharedWatch::target() const {
  const auto& o = source_->options();
  std::string t = "/v1/health/service/" + percentEncode(query_.service);
  char sep = '?';
  auto add = [&](const std::string& kv) {
    t += sep + kv;
    sep = '&';
  };
  if (index_ > 0) {
    add("index=" + std::to_string(index_));
    add("wait=" + std::to_string(o.wait.count()) + "ms");
  }
  if (query_.passing_only) add("passing=true");
  for (const auto& tag : query_.tags) add("tag=" + percentEncode(tag));
  if (!query_.datacenter.empty()) add("dc=" + percentEncode(query_.datacenter));
  return t;
}

void SharedWatch::poll() {
  if (stopped_) return;
  if (!source_->setupError().empty()) return failed(source_->setupError(), false);
  std::string why;
  auto token = source_->token(&why);
  if (!token) return failed(why, false);
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token->empty()) headers.emplace_back("X-Consul-Token", *token);
  const auto& o = source_->options();
  // Consul holds a blocking query up to wait + wait/16; the margin covers the network.
  milliseconds timeout = o.request_margin + (index_ > 0 ? o.wait + o.wait / 16 : milliseconds(0));
  last_request_ = std::chrono::steady_clock::now();
  client_->get(target(), std::move(headers), timeout,
               [self = shared_from_this()](std::string error, HttpReply reply) {
                 if (!self->stopped_) self->onReply(error, std::move(reply));
               });
}

void SharedWatch::onReply(const std::string& error, HttpReply reply) {
  if (!error.empty()) return failed(error, false);
  if (reply.status != 200) {
    std::string body = trimmed(reply.body.substr(0, kErrorBodyChars));
    return failed("HTTP " + std::to_string(reply.status) + (body.empty() ? "" : ": " + body),
                  false);
  }
  std::string why;
  auto answer = parseConsulHealth(reply.body, &why);
  if (!answer) return failed(why, true);
  // Consul's rules: an index of 0 is blocked on as 1, or every query would return at once; an
  // index that went backwards (a restore, another server) means start over from 0.
  uint64_t index = std::max<uint64_t>(parseIndex(reply.header("x-consul-index")).value_or(0), 1);
  if (index < index_) {
    spdlog::info("discovery: consul {} service {}: index went backwards ({} -> {}); starting over",
                 source_->cfg().name, query_.service, index_, index);
    index_ = 0;
  } else {
    index_ = index;
  }
  backoff_.reset();
  if (!last_problem_.empty()) {
    spdlog::info("discovery: consul {} service {}: answering again", source_->cfg().name,
                 query_.service);
    last_problem_.clear();
  }
  if (!connected_) {
    connected_ = true;
    fanOut([](WatchSink& s) { s.onConnected(true); });
  }
  if (!last_ || last_->instances != answer->instances || last_->skipped != answer->skipped) {
    last_ = std::move(*answer);
    fanOut([this](WatchSink& s) { s.onAnswer(*last_); });
  }
  if (stopped_) return;
  auto since = std::chrono::steady_clock::now() - last_request_;
  auto min = source_->options().min_interval;
  schedule(since >= min ? milliseconds(0) : std::chrono::ceil<milliseconds>(min - since));
}

void SharedWatch::failed(const std::string& why, bool rejected) {
  // Start over from index 0 afterwards: the first answer is then the full current set at once,
  // even when the server came back with a lower index (restarted, restored).
  index_ = 0;
  std::string what = "consul " + source_->cfg().name + " service " + query_.service + ": " + why;
  if (what != last_problem_) {
    spdlog::warn("discovery: {}", what);
    last_problem_ = what;
  }
  if (rejected) {
    fanOut([&](WatchSink& s) { s.onRejected(why); });
  } else {
    if (connected_) {
      connected_ = false;
      fanOut([](WatchSink& s) { s.onConnected(false); });
    }
    fanOut([&](WatchSink& s) { s.onError(why); });
  }
  if (!stopped_) schedule(backoff_.next());
}

void SharedWatch::schedule(milliseconds delay) {
  if (delay.count() == 0) {
    asio::post(io_, [self = shared_from_this()] { self->poll(); });
    return;
  }
  timer_.expires_after(delay);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->poll();
  });
}

class ConsulWatcher final : public Watcher {
 public:
  ConsulWatcher(std::shared_ptr<SourceState> source, Query query, WatchSink& sink)
      : source_(std::move(source)), query_(std::move(query)), sink_(sink) {}
  ~ConsulWatcher() override { stop(); }

  void start() override {
    if (started_) return;
    started_ = true;
    source_->attach(query_, &sink_);
  }
  void stop() override {
    if (!started_) return;
    started_ = false;
    source_->detach(query_, &sink_);
  }

 private:
  std::shared_ptr<SourceState> source_;
  Query query_;
  WatchSink& sink_;
  bool started_ = false;
};

class ConsulSource final : public Source {
 public:
  ConsulSource(asio::io_context& io, const config::DiscoverySourceConfig& cfg,
               const ConsulOptions& options)
      : state_(std::make_shared<SourceState>(io, cfg, options)) {}
  ~ConsulSource() override { stop(); }

  std::unique_ptr<Watcher> watch(const config::ClusterDiscoveryConfig& what,
                                 WatchSink& sink) override {
    Query q;
    q.service = what.service;
    q.tags = what.tags;
    std::sort(q.tags.begin(), q.tags.end());
    q.tags.erase(std::unique(q.tags.begin(), q.tags.end()), q.tags.end());
    q.passing_only = what.passing_only;
    q.datacenter = what.datacenter.empty() ? state_->cfg().datacenter : what.datacenter;
    return std::make_unique<ConsulWatcher>(state_, std::move(q), sink);
  }

  void stop() override { state_->stopAll(); }

 private:
  std::shared_ptr<SourceState> state_;
};

}  // namespace

std::optional<Answer> parseConsulHealth(std::string_view body, std::string* why) {
  std::string error;
  auto doc = core::parseJson(body, &error);
  if (!doc) {
    *why = "answer is not JSON: " + error;
    return std::nullopt;
  }
  if (!doc->isArray()) {
    *why = std::string("answer is not a JSON array but ") + doc->typeName();
    return std::nullopt;
  }
  Answer answer;
  for (const auto& entry : doc->items()) {
    Instance inst;
    std::string skip;
    if (parseEntry(entry, inst, &skip)) {
      answer.instances.push_back(std::move(inst));
    } else {
      if (answer.skipped++ == 0) answer.skip_example = std::move(skip);
    }
  }
  std::sort(answer.instances.begin(), answer.instances.end(),
            [](const Instance& a, const Instance& b) { return a.id < b.id; });
  return answer;
}

std::unique_ptr<Source> makeConsulSource(asio::io_context& io,
                                         const config::DiscoverySourceConfig& cfg,
                                         const ConsulOptions& options) {
  return std::make_unique<ConsulSource>(io, cfg, options);
}

std::unique_ptr<Source> makeConsulSource(asio::io_context& io,
                                         const config::DiscoverySourceConfig& cfg) {
  return makeConsulSource(io, cfg, ConsulOptions{});
}

}  // namespace pilotfish::discovery
