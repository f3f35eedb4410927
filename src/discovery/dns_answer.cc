#include "discovery/dns_answer.h"

#include <algorithm>

namespace pilotfish::discovery::dns {

namespace {

constexpr uint32_t kMaxWeight = 65535;

std::string instanceId(const std::string& ip, uint16_t port) {
  const bool v6 = ip.find(':') != std::string::npos;
  return (v6 ? "[" + ip + "]" : ip) + ":" + std::to_string(port);
}

// Adds `inst`, or adds its weight to an instance with the same address already present (two
// SRV records, or two targets, naming one socket address).
void addInstance(std::vector<Instance>& out, Instance inst) {
  for (auto& existing : out) {
    if (existing.id == inst.id) {
      existing.weight = std::min(kMaxWeight, existing.weight + inst.weight);
      return;
    }
  }
  out.push_back(std::move(inst));
}

void sortById(Answer& answer) {
  std::sort(answer.instances.begin(), answer.instances.end(),
            [](const Instance& a, const Instance& b) { return a.id < b.id; });
}

}  // namespace

std::vector<const Record*> recordsFor(const std::vector<Record>& records, const std::string& name,
                                      uint16_t type, uint32_t& ttl) {
  std::vector<const Record*> out;
  std::string owner = name;
  for (int hops = 0; hops <= kMaxCnameChain; ++hops) {
    const Record* cname = nullptr;
    for (const auto& r : records) {
      if (r.name != owner) continue;
      if (r.type == type) {
        out.push_back(&r);
        ttl = std::min(ttl, r.ttl);
      } else if (r.type == kTypeCname && cname == nullptr) {
        cname = &r;
      }
    }
    if (!out.empty() || cname == nullptr) break;
    ttl = std::min(ttl, cname->ttl);
    owner = cname->target;
  }
  return out;
}

std::optional<uint32_t> negativeTtl(const Message& message) {
  for (const auto& r : message.authority) {
    if (r.type == kTypeSoa) return std::min(r.ttl, r.soa_minimum);
  }
  return std::nullopt;
}

Answer addressAnswer(const std::vector<std::string>& addresses, uint16_t port) {
  Answer answer;
  for (const auto& ip : addresses) {
    Instance inst;
    inst.id = instanceId(ip, port);
    inst.host = ip;
    inst.port = port;
    addInstance(answer.instances, std::move(inst));
  }
  sortById(answer);
  return answer;
}

Answer srvAnswer(const std::vector<Record>& srv,
                 const std::map<std::string, std::vector<std::string>>& addresses) {
  auto addressesOf = [&](const Record& r) -> const std::vector<std::string>* {
    auto it = addresses.find(r.target);
    return it == addresses.end() || it->second.empty() ? nullptr : &it->second;
  };
  auto usable = [&](const Record& r) { return r.port != 0 && addressesOf(r) != nullptr; };

  std::vector<uint16_t> priorities;
  for (const auto& r : srv) {
    if (!r.target.empty()) priorities.push_back(r.priority);
  }
  std::sort(priorities.begin(), priorities.end());
  priorities.erase(std::unique(priorities.begin(), priorities.end()), priorities.end());
  // RFC 2782: clients must try the lowest priority first. Without an ordered failover policy
  // yet, the lowest priority that has any usable record is the whole set; if none has, the
  // answer is empty and the lowest priority's records are the ones counted as skipped.
  std::optional<uint16_t> active;
  for (uint16_t p : priorities) {
    if (std::any_of(srv.begin(), srv.end(), [&](const Record& r) {
          return r.priority == p && !r.target.empty() && usable(r);
        })) {
      active = p;
      break;
    }
  }
  if (!active && !priorities.empty()) active = priorities.front();

  Answer answer;
  if (!active) return answer;
  std::vector<const Record*> group;
  for (const auto& r : srv) {
    if (r.priority != *active || r.target.empty()) continue;
    if (r.port == 0) {
      ++answer.skipped;
      answer.skip_example = "SRV record for " + r.target + " has port 0";
    } else if (addressesOf(r) == nullptr) {
      ++answer.skipped;
      answer.skip_example = "SRV target " + r.target + " has no A/AAAA record";
    } else {
      group.push_back(&r);
    }
  }
  // RFC 2782 weights: all zero = uniform; otherwise a weight-0 record has "a very small
  // chance" of selection. Our weight 0 means no traffic, so in a group that mixes zero and
  // non-zero weights the non-zero ones are scaled up (x100 while that fits 65535) and zero
  // becomes 1.
  uint32_t max_weight = 0;
  bool any_zero = false;
  for (const Record* r : group) {
    max_weight = std::max<uint32_t>(max_weight, r->weight);
    any_zero = any_zero || r->weight == 0;
  }
  uint32_t scale = 1;
  if (any_zero && max_weight > 0) scale = std::clamp<uint32_t>(kMaxWeight / max_weight, 1, 100);
  for (const Record* r : group) {
    uint32_t weight = r->weight == 0 ? 1 : std::min(kMaxWeight, r->weight * scale);
    for (const auto& ip : *addressesOf(*r)) {
      Instance inst;
      inst.id = instanceId(ip, r->port);
      inst.host = ip;
      inst.port = r->port;
      inst.weight = weight;
      inst.labels = {{"srv_priority", std::to_string(r->priority)},
                     {"srv_target", r->target},
                     {"srv_weight", std::to_string(r->weight)}};
      addInstance(answer.instances, std::move(inst));
    }
  }
  sortById(answer);
  return answer;
}

}  // namespace pilotfish::discovery::dns
