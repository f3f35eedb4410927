// etcd v3 discovery: per watch, KV.Range over `<prefix>/`, then a Watch stream from the Range's
// revision + 1; PUT/DELETE events update the set, compaction re-Ranges, a broken call backs off
// and fails over to the next endpoint. See docs/discovery/etcd.md.
//
// Threading: gRPC's async API on one CompletionQueue per source, drained by the source's own
// thread. That thread never touches watcher state: each completion is posted to the control
// io_context together with the call it belongs to, where the watcher checks that the call is still
// its current one (a canceled or superseded call's completions are dropped). Calls are started
// only on the control thread and only while the source is open, so closing the source (cancel
// every call, shut the queue down, join its thread) cannot race a new call.

#include <grpc/support/log.h>
#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <thread>

#include "discovery/etcd_keyspace.h"
#include "etcd/etcdserverpb/rpc.grpc.pb.h"
#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {

namespace {

namespace asio = boost::asio;
namespace pb = etcdserverpb;

// A Range on a reachable member answers in milliseconds; this bounds one on a member that
// accepted the connection but cannot answer (no quorum: linearizable reads wait for the leader).
constexpr std::chrono::milliseconds kRangeDeadlineExtra{5000};
// gRPC keepalive: a member that vanished without closing the TCP connection (host down, network
// partition) is noticed within time + timeout. etcd's default --grpc-keepalive-min-time is 5 s.
constexpr int kKeepaliveTimeMs = 10000;
constexpr int kKeepaliveTimeoutMs = 5000;
// Our Backoff paces retries; gRPC's own reconnect backoff must not add tens of seconds to it.
constexpr int kMaxReconnectBackoffMs = 2000;
// A Range over a large service (10,000 instances of nerve JSON) exceeds gRPC's 4 MiB default.
constexpr int kMaxReceiveBytes = 64 << 20;

// One completion: runs once on the completion thread, then is deleted.
struct Tag {
  std::function<void(bool ok)> fn;
};

// gRPC core writes its own log lines to stderr, bypassing our format and level. What it says about
// a failed call (handshake errors, resets) reaches the watcher as the call's status and is logged
// there once, so its lines go to our log at debug.
void routeGrpcLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    gpr_set_log_function([](gpr_log_func_args* args) {
      spdlog::debug("grpc: {} ({}:{})", args->message, args->file, args->line);
    });
  });
}

std::string targetOf(const net::HostPort& hp) {
  switch (hp.kind) {
    case net::HostPort::Kind::kIpv4: return "ipv4:" + hp.host + ":" + std::to_string(hp.port);
    case net::HostPort::Kind::kIpv6: return "ipv6:[" + hp.host + "]:" + std::to_string(hp.port);
    case net::HostPort::Kind::kName: break;
  }
  return "dns:///" + hp.host + ":" + std::to_string(hp.port);
}

bool readFile(const std::string& path, std::string& out, std::string& why) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "cannot read " + path;
    return false;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

std::string statusText(const grpc::Status& s) {
  static const char* const kNames[] = {"OK",
                                       "CANCELLED",
                                       "UNKNOWN",
                                       "INVALID_ARGUMENT",
                                       "DEADLINE_EXCEEDED",
                                       "NOT_FOUND",
                                       "ALREADY_EXISTS",
                                       "PERMISSION_DENIED",
                                       "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION",
                                       "ABORTED",
                                       "OUT_OF_RANGE",
                                       "UNIMPLEMENTED",
                                       "INTERNAL",
                                       "UNAVAILABLE",
                                       "DATA_LOSS",
                                       "UNAUTHENTICATED"};
  auto code = static_cast<std::size_t>(s.error_code());
  std::string text = code < std::size(kNames) ? kNames[code] : std::to_string(code);
  if (!s.error_message().empty()) text += ": " + s.error_message();
  return text;
}

// What every call holds: its channel (a call must not outlive it), member and context.
struct CallBase {
  std::shared_ptr<grpc::Channel> channel;
  std::size_t endpoint = 0;
  grpc::ClientContext ctx;
};

struct RangeCall : CallBase {
  pb::RangeResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<pb::RangeResponse>> reader;
};

struct WatchCall : CallBase {
  pb::WatchRequest request;
  pb::WatchResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncReaderWriter<pb::WatchRequest, pb::WatchResponse>> stream;
};

class WatchCore;

// What a source's watchers share: the endpoints and their channels, the completion queue and its
// thread. Owned by the source and by its watchers; closed by the source.
class Shared {
 public:
  Shared(asio::io_context& io, const config::DiscoverySourceConfig& cfg) : io_(io), cfg_(cfg) {
    endpoints_.resize(cfg_.endpoints.size());
    thread_ = std::thread([this] { drain(); });
  }
  ~Shared() { close(); }

  asio::io_context& io() { return io_; }
  const config::DiscoverySourceConfig& config() const { return cfg_; }
  grpc::CompletionQueue* cq() { return &cq_; }
  bool closed() const { return closed_; }
  std::size_t endpointCount() const { return endpoints_.size(); }
  std::string endpointName(std::size_t i) const { return cfg_.endpoints[i].toString(); }

  /// The endpoint new calls go to.
  std::size_t preferred() const { return preferred_; }
  /// A call to `failed` broke: later calls go to the next endpoint (unless another watcher has
  /// already moved on, so two failures of one member do not skip a healthy one).
  void failedOver(std::size_t failed) {
    if (failed == preferred_ && !endpoints_.empty()) preferred_ = (failed + 1) % endpoints_.size();
  }

  /// The channel of endpoint `i`, created on first use. nullptr with `why` when the TLS files
  /// cannot be read (read again on the next try).
  std::shared_ptr<grpc::Channel> channel(std::size_t i, std::string& why);

  /// A tag whose completion runs `method` on the control thread, if `core` is still alive.
  template <class Call>
  void* tag(const std::shared_ptr<WatchCore>& core, const std::shared_ptr<Call>& call,
            void (WatchCore::*method)(const std::shared_ptr<Call>&, bool)) {
    std::weak_ptr<WatchCore> weak = core;
    return new Tag{[io = &io_, weak, call, method](bool ok) {
      asio::post(*io, [weak, call, method, ok] {
        if (auto c = weak.lock()) ((*c).*method)(call, ok);
      });
    }};
  }

  void add(const std::shared_ptr<WatchCore>& core) {
    // Watchers come and go with config reloads: forget the ones that are gone.
    std::erase_if(cores_, [](const auto& w) { return w.expired(); });
    cores_.push_back(core);
  }
  /// Cancels every call, then shuts the queue down and joins its thread (canceled calls complete
  /// at once, so this does not wait for the network).
  void close();

 private:
  void drain() {
    void* t = nullptr;
    bool ok = false;
    while (cq_.Next(&t, &ok)) {
      std::unique_ptr<Tag> tag(static_cast<Tag*>(t));
      tag->fn(ok);
    }
  }

  struct Endpoint {
    std::shared_ptr<grpc::Channel> channel;
  };

  asio::io_context& io_;
  config::DiscoverySourceConfig cfg_;
  std::vector<Endpoint> endpoints_;
  std::size_t preferred_ = 0;
  std::vector<std::weak_ptr<WatchCore>> cores_;
  bool closed_ = false;
  grpc::CompletionQueue cq_;
  std::thread thread_;
};

std::shared_ptr<grpc::Channel> Shared::channel(std::size_t i, std::string& why) {
  auto& ep = endpoints_[i];
  if (ep.channel) return ep.channel;
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (cfg_.tls) {
    grpc::SslCredentialsOptions o;
    if (!cfg_.tls->ca_file.empty() && !readFile(cfg_.tls->ca_file, o.pem_root_certs, why)) {
      return nullptr;
    }
    if (!cfg_.tls->cert_file.empty() && (!readFile(cfg_.tls->cert_file, o.pem_cert_chain, why) ||
                                         !readFile(cfg_.tls->key_file, o.pem_private_key, why))) {
      return nullptr;
    }
    creds = grpc::SslCredentials(o);
  } else {
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveTimeMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // The connect timeout: gRPC's connect deadline is the larger of this and the current backoff.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, static_cast<int>(cfg_.timeout.count()));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  ep.channel = grpc::CreateCustomChannel(targetOf(cfg_.endpoints[i]), creds, args);
  return ep.channel;
}

// One watch: Range, then Watch, then events, on the control thread.
class WatchCore : public std::enable_shared_from_this<WatchCore> {
 public:
  WatchCore(std::shared_ptr<Shared> shared, std::string prefix, WatchSink& sink)
      : shared_(std::move(shared)),
        prefix_(std::move(prefix)),
        range_(etcd::prefixRange(prefix_)),
        set_(range_.key),
        sink_(sink),
        retry_(shared_->io()) {}

  void start() {
    if (started_ || stopped_) return;
    started_ = true;
    beginRange();
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    retry_.cancel();
    cancelCalls();
  }

  void onRange(const std::shared_ptr<RangeCall>& call, bool ok);
  void onWatchStarted(const std::shared_ptr<WatchCall>& call, bool ok);
  void onCreateWritten(const std::shared_ptr<WatchCall>& call, bool ok);
  void onRead(const std::shared_ptr<WatchCall>& call, bool ok);
  void onFinished(const std::shared_ptr<WatchCall>& call, bool ok);

 private:
  std::string where(std::size_t endpoint) const {
    return "etcd " + shared_->endpointName(endpoint) + " " + prefix_;
  }
  bool live() const { return !stopped_ && !shared_->closed(); }

  void cancelCalls() {
    if (range_call_) range_call_->ctx.TryCancel();
    if (watch_call_) watch_call_->ctx.TryCancel();
    range_call_.reset();
    watch_call_.reset();
  }

  void beginRange();
  void beginWatch(std::size_t endpoint, int64_t start_revision);
  /// A new call to `endpoint`, or nullptr after fail() when its channel cannot be made.
  template <class Call>
  std::shared_ptr<Call> newCall(std::size_t endpoint) {
    std::string why;
    auto channel = shared_->channel(endpoint, why);
    if (!channel) {
      fail(endpoint, why);
      return nullptr;
    }
    auto call = std::make_shared<Call>();
    call->channel = std::move(channel);
    call->endpoint = endpoint;
    return call;
  }
  /// The stream broke: collect its status (onFinished reports it).
  void finish(const std::shared_ptr<WatchCall>& call) {
    call->stream->Finish(&call->status,
                         shared_->tag(shared_from_this(), call, &WatchCore::onFinished));
  }
  void handleResponse(const pb::WatchResponse& r);
  void fail(std::size_t endpoint, const std::string& why);

  std::shared_ptr<Shared> shared_;
  std::string prefix_;
  etcd::KeyRange range_;
  etcd::InstanceSet set_;
  WatchSink& sink_;
  asio::steady_timer retry_;
  Backoff backoff_;
  std::shared_ptr<RangeCall> range_call_;  // the current calls; completions of others are stale
  std::shared_ptr<WatchCall> watch_call_;
  bool started_ = false;
  bool stopped_ = false;
  bool connected_ = false;
};

void WatchCore::beginRange() {
  if (!live()) return;
  cancelCalls();
  if (shared_->endpointCount() == 0) {
    sink_.onError("etcd: the source has no endpoints");
    return;
  }
  auto call = newCall<RangeCall>(shared_->preferred());
  if (!call) return;
  call->ctx.set_deadline(std::chrono::system_clock::now() + shared_->config().timeout +
                         kRangeDeadlineExtra);
  pb::RangeRequest req;
  req.set_key(range_.key);
  req.set_range_end(range_.range_end);
  call->reader = pb::KV::NewStub(call->channel)->PrepareAsyncRange(&call->ctx, req, shared_->cq());
  call->reader->StartCall();
  range_call_ = call;
  call->reader->Finish(&call->response, &call->status,
                       shared_->tag(shared_from_this(), call, &WatchCore::onRange));
}

void WatchCore::onRange(const std::shared_ptr<RangeCall>& call, bool ok) {
  if (!live() || call != range_call_) return;
  range_call_.reset();
  if (!ok || !call->status.ok()) {
    return fail(call->endpoint, "Range: " + (ok ? statusText(call->status) : "call failed"));
  }
  set_.clear();
  for (const auto& kv : call->response.kvs()) set_.put(kv.key(), kv.value());
  sink_.onAnswer(set_.answer());
  if (!live()) return;  // the sink may have stopped us
  beginWatch(call->endpoint, call->response.header().revision() + 1);
}

void WatchCore::beginWatch(std::size_t endpoint, int64_t start_revision) {
  auto call = newCall<WatchCall>(endpoint);
  if (!call) return;
  // etcd's "require leader": a member cut off from the leader cancels this stream instead of
  // keeping it open and silent while the rest of the cluster moves on.
  call->ctx.AddMetadata("hasleader", "true");
  auto* create = call->request.mutable_create_request();
  create->set_key(range_.key);
  create->set_range_end(range_.range_end);
  create->set_start_revision(start_revision);
  create->set_progress_notify(true);
  call->stream = pb::Watch::NewStub(call->channel)->PrepareAsyncWatch(&call->ctx, shared_->cq());
  watch_call_ = call;
  call->stream->StartCall(shared_->tag(shared_from_this(), call, &WatchCore::onWatchStarted));
}

void WatchCore::onWatchStarted(const std::shared_ptr<WatchCall>& call, bool ok) {
  if (!live() || call != watch_call_) return;
  if (!ok) return finish(call);
  call->stream->Write(call->request,
                      shared_->tag(shared_from_this(), call, &WatchCore::onCreateWritten));
}

void WatchCore::onCreateWritten(const std::shared_ptr<WatchCall>& call, bool ok) {
  if (!live() || call != watch_call_) return;
  if (!ok) return finish(call);
  call->stream->Read(&call->response, shared_->tag(shared_from_this(), call, &WatchCore::onRead));
}

void WatchCore::onRead(const std::shared_ptr<WatchCall>& call, bool ok) {
  if (!live() || call != watch_call_) return;
  if (!ok) return finish(call);
  handleResponse(call->response);
  if (!live() || call != watch_call_) return;
  call->response.Clear();
  call->stream->Read(&call->response, shared_->tag(shared_from_this(), call, &WatchCore::onRead));
}

void WatchCore::onFinished(const std::shared_ptr<WatchCall>& call, bool ok) {
  if (!live() || call != watch_call_) return;
  watch_call_.reset();
  std::string why = ok ? statusText(call->status) : "call failed";
  if (ok && call->status.ok()) why = "the server ended the stream";
  fail(call->endpoint, "Watch: " + why);
}

void WatchCore::handleResponse(const pb::WatchResponse& r) {
  std::size_t endpoint = watch_call_->endpoint;
  if (r.compact_revision() > 0) {
    // The watch fell behind a compaction: the events in between are gone, so read the whole set
    // again. Not an error: the member is fine and answering.
    spdlog::info(
        "discovery {}: watch from a compacted revision (compacted up to {}), reading again",
        where(endpoint), r.compact_revision());
    return beginRange();
  }
  if (r.canceled()) {
    return fail(endpoint,
                "Watch canceled by the server" +
                    (r.cancel_reason().empty() ? std::string() : ": " + r.cancel_reason()));
  }
  if (r.created()) {
    backoff_.reset();
    if (!connected_) {
      connected_ = true;
      spdlog::info("discovery {}: watching", where(endpoint));
      sink_.onConnected(true);
    }
  }
  bool changed = false;
  for (const auto& ev : r.events()) {
    if (ev.type() == mvccpb::Event::PUT) {
      changed |= set_.put(ev.kv().key(), ev.kv().value());
    } else {
      changed |= set_.erase(ev.kv().key());
    }
  }
  if (changed && !stopped_) sink_.onAnswer(set_.answer());
}

void WatchCore::fail(std::size_t endpoint, const std::string& why) {
  cancelCalls();
  shared_->failedOver(endpoint);
  auto delay = backoff_.next();
  std::string text = where(endpoint) + ": " + why;
  spdlog::warn("discovery {}; retrying in {} ms on {}", text, delay.count(),
               shared_->endpointName(shared_->preferred()));
  if (connected_) {
    connected_ = false;
    sink_.onConnected(false);
  }
  if (stopped_) return;
  sink_.onError(text);
  if (stopped_) return;
  retry_.expires_after(delay);
  retry_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self) self->beginRange();
  });
}

void Shared::close() {
  if (closed_) return;
  for (auto& weak : cores_) {
    if (auto core = weak.lock()) core->stop();
  }
  cores_.clear();
  closed_ = true;
  cq_.Shutdown();
  if (thread_.joinable()) thread_.join();
}

class EtcdWatcher final : public Watcher {
 public:
  explicit EtcdWatcher(std::shared_ptr<WatchCore> core) : core_(std::move(core)) {}
  ~EtcdWatcher() override { core_->stop(); }
  void start() override { core_->start(); }
  void stop() override { core_->stop(); }

 private:
  std::shared_ptr<WatchCore> core_;
};

class EtcdSource final : public Source {
 public:
  EtcdSource(asio::io_context& io, const config::DiscoverySourceConfig& cfg)
      : shared_(std::make_shared<Shared>(io, cfg)) {}
  ~EtcdSource() override { shared_->close(); }

  std::unique_ptr<Watcher> watch(const config::ClusterDiscoveryConfig& what,
                                 WatchSink& sink) override {
    auto core = std::make_shared<WatchCore>(shared_, what.path, sink);
    shared_->add(core);
    return std::make_unique<EtcdWatcher>(std::move(core));
  }
  void stop() override { shared_->close(); }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace

std::unique_ptr<Source> makeEtcdSource(boost::asio::io_context& io,
                                       const config::DiscoverySourceConfig& cfg) {
  routeGrpcLogs();
  return std::make_unique<EtcdSource>(io, cfg);
}

}  // namespace pilotfish::discovery
