// DNS discovery (`dns: {source, name, type, port}`): resolves the name with c-ares on the control
// thread's io_context, again at the answer's TTL bounded by the source's min_ttl/max_ttl.
// See docs/discovery/dns.md.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>

#include <boost/asio/steady_timer.hpp>

#include "discovery/dns_answer.h"
#include "discovery/dns_message.h"
#include "pilotfish/discovery/watcher.h"
#include "pilotfish/dns/resolver.h"

namespace pilotfish::discovery {

namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

uint16_t queryType(config::DnsRecordType t) {
  switch (t) {
    case config::DnsRecordType::kA: return dns::kTypeA;
    case config::DnsRecordType::kAaaa: return dns::kTypeAaaa;
    case config::DnsRecordType::kSrv: break;
  }
  return dns::kTypeSrv;
}

const char* typeName(uint16_t type) {
  switch (type) {
    case dns::kTypeA: return "A";
    case dns::kTypeAaaa: return "AAAA";
    default: return "SRV";
  }
}

// The DNS names of the failures an operator looks for, else c-ares's own text.
std::string statusText(int status) {
  switch (status) {
    case ARES_ESERVFAIL: return "SERVFAIL";
    case ARES_EREFUSED: return "REFUSED";
    case ARES_EFORMERR: return "FORMERR";
    case ARES_ENOTIMP: return "NOTIMP";
    case ARES_ETIMEOUT: return "timeout";
    // c-ares 1.18 moves on to the next server after SERVFAIL/REFUSED and, when none is left,
    // reports ECONNREFUSED without the answer: the three cannot be told apart.
    case ARES_ECONNREFUSED: return "connection refused, SERVFAIL or REFUSED from every server";
    default: return ares_strerror(status);
  }
}

bool isNegative(int status) {
  return status == ARES_ENOTFOUND || status == ARES_ENODATA;
}

std::string lowerName(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  for (auto& c : name) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return name;
}

class DnsWatcher final : public Watcher {
 public:
  DnsWatcher(asio::io_context& io, const config::DiscoverySourceConfig& source,
             const config::ClusterDiscoveryConfig& what, WatchSink& sink)
      : io_(io),
        source_(source),
        name_(what.name),
        type_(queryType(what.dns_type)),
        port_(what.port),
        sink_(sink),
        timer_(io) {}
  ~DnsWatcher() override { stop(); }

  void start() override {
    if (*alive_) return;
    *alive_ = true;
    beginRound();
  }

  void stop() override {
    if (!*alive_) return;
    *alive_ = false;
    // A fresh token: callbacks already queued hold the old one, which now says dead.
    alive_ = std::make_shared<bool>(false);
    timer_.cancel();
    if (resolver_) resolver_->close();
    resolver_.reset();
  }

 private:
  struct Round {
    uint64_t id = 0;
    int pending = 0;
    uint32_t ttl = UINT32_MAX;
    std::vector<dns::Record> srv;
    std::map<std::string, std::vector<std::string>> addresses;  // SRV target -> IPs
    std::optional<std::string> error;                           // a target lookup failed
    bool rejected = false;
  };

  // Wraps a resolver callback so that it is dropped after stop() or once its round is over.
  template <typename F>
  ::pilotfish::dns::Resolver::Callback guarded(F f) {
    return [alive = alive_, round = round_.id, this, f = std::move(f)](
               int status, std::span<const uint8_t> answer) {
      if (!*alive || round != round_.id) return;
      f(status, answer);
    };
  }

  void beginRound() {
    if (!resolver_) {
      std::string error;
      resolver_ = ::pilotfish::dns::Resolver::create(
          io_, {.servers = source_.servers, .timeout = source_.timeout, .tries = 2}, &error);
      if (!resolver_) return fail(false, error);
    }
    const uint64_t id = round_.id + 1;
    round_ = Round{};
    round_.id = id;
    if (name_.empty()) return fail(true, "no name to resolve");
    // With the system configuration, resolv.conf's search list and ndots apply as for any
    // resolver on the host (Kubernetes short service names). Name servers given in the source
    // (Consul's DNS interface, ...) are asked for the name exactly as written: the host's search
    // domains mean nothing to them. A final dot always makes the name absolute.
    const bool search = source_.servers.empty() && name_.back() != '.';
    resolver_->query(name_, type_, search,
                     guarded([this](int status, std::span<const uint8_t> answer) {
                       onPrimary(status, answer);
                     }));
  }

  void onPrimary(int status, std::span<const uint8_t> bytes) {
    if (status != ARES_SUCCESS && !isNegative(status)) {
      return fail(false, std::string(typeName(type_)) + " " + name_ + ": " + statusText(status));
    }
    dns::Message msg;
    std::string why;
    if (bytes.empty() || !dns::parseMessage(bytes, msg, &why)) {
      if (isNegative(status)) {
        // c-ares says NXDOMAIN/NODATA but handed no readable answer: still authoritative.
        return succeed(Answer{}, ttlOrFloor(std::nullopt));
      }
      return fail(true, "unreadable answer for " + name_ + ": " + (bytes.empty() ? "empty" : why));
    }
    if (msg.truncated) return fail(true, "truncated answer for " + name_ + " (TC set)");
    if (isNegative(status)) return succeed(Answer{}, ttlOrFloor(dns::negativeTtl(msg)));
    // The question names the name that answered (after the search list, if used).
    const std::string qname = msg.question_name.empty() ? lowerName(name_) : msg.question_name;
    uint32_t ttl = UINT32_MAX;
    auto records = dns::recordsFor(msg.answers, qname, type_, ttl);
    if (type_ != dns::kTypeSrv) {
      std::vector<std::string> ips;
      for (const auto* r : records) ips.push_back(r->address);
      Answer answer = dns::addressAnswer(ips, port_);
      if (port_ == 0 && !answer.instances.empty()) {
        answer.skipped = answer.instances.size();
        answer.skip_example = "no port configured for " + std::string(typeName(type_)) + " records";
        answer.instances.clear();
      }
      return succeed(std::move(answer), ttl);
    }
    round_.ttl = ttl;
    // Targets' addresses from the additional section when the server sent them (Consul does),
    // else from A and AAAA queries of our own.
    round_.pending = 1;  // held until every lookup is sent, in case one fails at once
    for (const auto* r : records) {
      round_.srv.push_back(*r);
      if (r->target.empty() || round_.addresses.count(r->target) != 0) continue;
      auto& ips = round_.addresses[r->target];
      uint32_t additional_ttl = UINT32_MAX;
      for (uint16_t t : {dns::kTypeA, dns::kTypeAaaa}) {
        for (const auto* a : dns::recordsFor(msg.additional, r->target, t, additional_ttl)) {
          ips.push_back(a->address);
        }
      }
      if (!ips.empty()) {
        round_.ttl = std::min(round_.ttl, additional_ttl);
        continue;
      }
      if (round_.addresses.size() > kMaxTargetLookups) continue;  // counted as skipped below
      for (uint16_t t : {dns::kTypeA, dns::kTypeAaaa}) {
        ++round_.pending;
        resolver_->query(r->target, t, false,
                         guarded([this, target = r->target, t](int st, std::span<const uint8_t> b) {
                           onTarget(target, t, st, b);
                         }));
        if (!*alive_) return;
      }
    }
    targetDone();
  }

  void onTarget(const std::string& target, uint16_t type, int status,
                std::span<const uint8_t> bytes) {
    if (status == ARES_SUCCESS) {
      dns::Message msg;
      std::string why;
      if (!dns::parseMessage(bytes, msg, &why)) {
        round_.rejected = true;
        round_.error =
            "unreadable answer for " + std::string(typeName(type)) + " " + target + ": " + why;
      } else {
        auto& ips = round_.addresses[target];
        for (const auto* r : dns::recordsFor(msg.answers, msg.question_name, type, round_.ttl)) {
          ips.push_back(r->address);
        }
      }
    } else if (!isNegative(status)) {
      round_.error =
          std::string(typeName(type)) + " " + target + " (SRV target): " + statusText(status);
    }
    targetDone();
  }

  void targetDone() {
    if (--round_.pending > 0) return;
    if (round_.error) return fail(round_.rejected, *round_.error);
    Answer answer = dns::srvAnswer(round_.srv, round_.addresses);
    succeed(std::move(answer), round_.ttl);
  }

  milliseconds ttlOrFloor(std::optional<uint32_t> ttl) {
    return ttl ? milliseconds(int64_t{*ttl} * 1000) : source_.min_ttl;
  }

  // UINT32_MAX: no record was used (nothing to take a TTL from).
  void succeed(Answer answer, uint32_t ttl) {
    succeed(std::move(answer), ttlOrFloor(ttl == UINT32_MAX ? std::nullopt : std::optional(ttl)));
  }

  void succeed(Answer answer, milliseconds ttl) {
    round_.srv.clear();
    backoff_.reset();
    auto alive = alive_;
    setConnected(true);
    if (!*alive) return;
    const bool same = last_ && !after_failure_ && last_->instances == answer.instances &&
                      last_->skipped == answer.skipped;
    after_failure_ = false;
    if (!same) {
      last_ = answer;
      sink_.onAnswer(std::move(answer));
      if (!*alive) return;
    }
    schedule(std::clamp(ttl, source_.min_ttl, std::max(source_.min_ttl, source_.max_ttl)));
  }

  void fail(bool rejected, const std::string& why) {
    round_.srv.clear();
    after_failure_ = true;
    spdlog::debug("dns discovery {}: {}", name_, why);
    auto alive = alive_;
    if (rejected) {
      sink_.onRejected(why);
    } else {
      setConnected(false);
      if (*alive) sink_.onError(why);
    }
    if (!*alive) return;
    schedule(std::max(backoff_.next(), source_.min_ttl));
  }

  void setConnected(bool connected) {
    if (connected_ == connected) return;
    connected_ = connected;
    sink_.onConnected(connected);
  }

  void schedule(milliseconds delay) {
    if (!*alive_) return;
    timer_.expires_after(delay);
    timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (ec || !*alive) return;
      beginRound();
    });
  }

  static constexpr std::size_t kMaxTargetLookups = 256;

  asio::io_context& io_;
  config::DiscoverySourceConfig source_;
  std::string name_;
  uint16_t type_;
  uint16_t port_;
  WatchSink& sink_;
  asio::steady_timer timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(false);
  std::shared_ptr<::pilotfish::dns::Resolver> resolver_;
  Round round_;
  std::optional<Answer> last_;
  bool after_failure_ = false;
  bool connected_ = false;
  Backoff backoff_;
};

class DnsSource final : public Source {
 public:
  DnsSource(asio::io_context& io, const config::DiscoverySourceConfig& cfg) : io_(io), cfg_(cfg) {}

  std::unique_ptr<Watcher> watch(const config::ClusterDiscoveryConfig& what,
                                 WatchSink& sink) override {
    // One c-ares channel per watch: each can be cancelled on its own (c-ares only cancels a
    // whole channel), and a DNS "connection" has no state worth sharing.
    return std::make_unique<DnsWatcher>(io_, cfg_, what, sink);
  }
  void stop() override {}

 private:
  asio::io_context& io_;
  config::DiscoverySourceConfig cfg_;
};

}  // namespace

std::unique_ptr<Source> makeDnsSource(asio::io_context& io,
                                      const config::DiscoverySourceConfig& cfg) {
  return std::make_unique<DnsSource>(io, cfg);
}

}  // namespace pilotfish::discovery
