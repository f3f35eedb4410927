#include "pilotfish/discovery/nerve.h"

#include <algorithm>
#include <vector>

#include "pilotfish/core/json_parse.h"
#include "pilotfish/net/address.h"

namespace pilotfish::discovery {

namespace {
bool fail(std::string* why, std::string text) {
  if (why) *why = std::move(text);
  return false;
}
}  // namespace

bool parseNerveInstance(std::string_view data, Instance& out, std::string* why) {
  std::string error;
  auto doc =
      core::parseJson(data, &error, core::JsonLimits{.max_depth = 16, .max_bytes = 1u << 20});
  if (!doc) return fail(why, "not JSON: " + error);
  if (!doc->isObject())
    return fail(why, std::string("expected a JSON object, got ") + doc->typeName());
  if (const auto* available = doc->find("available")) {
    if (!available->isBool()) return fail(why, "available is not a boolean");
    if (!available->asBool()) {
      const auto* reason = doc->findString("unavailable_reason");
      return fail(why, "available is false" + (reason ? " (" + *reason + ")" : std::string()));
    }
  }
  const std::string* host = doc->findString("host");
  if (!host || host->empty()) return fail(why, "no host");
  auto ip = net::parseHostPort(*host + ":1", false, nullptr);
  if (!ip) {
    // An IPv6 literal is written without brackets in nerve data.
    ip = net::parseHostPort("[" + *host + "]:1", false, nullptr);
  }
  if (!ip) return fail(why, "host \"" + *host + "\" is not an IP address");
  const auto* port = doc->find("port");
  if (!port) return fail(why, "no port");
  auto p = port->asInt();
  if (!p && port->isString()) {
    // Some registrars write the port as a string; accept plain digits only.
    const std::string& s = port->asString();
    if (!s.empty() && s.size() <= 5 &&
        std::all_of(s.begin(), s.end(), [](unsigned char c) { return c >= '0' && c <= '9'; }))
      p = std::stoi(s);
  }
  if (!p) return fail(why, "port is not an integer");
  if (*p < 1 || *p > 65535)
    return fail(why, "port " + std::to_string(*p) + " out of range 1-65535");
  uint32_t weight = 1;
  if (const auto* w = doc->find("weight"); w && !w->isNull()) {
    auto n = w->asInt();
    if (!n || *n < 0 || *n > 65535) return fail(why, "weight is not an integer 0-65535");
    weight = static_cast<uint32_t>(*n);
  }
  out.host = ip->host;
  out.port = static_cast<uint16_t>(*p);
  out.weight = weight;
  out.labels.clear();
  out.zone.clear();
  if (const auto* labels = doc->find("labels"); labels && labels->isObject()) {
    std::vector<const core::JsonMember*> members;
    for (const auto& m : labels->members()) members.push_back(&m);
    std::stable_sort(members.begin(), members.end(),
                     [](const auto* a, const auto* b) { return a->key < b->key; });
    for (std::size_t i = 0; i < members.size(); ++i) {
      // Of a repeated key the last one counts, as with find() (so the zone below agrees).
      if (i + 1 < members.size() && members[i + 1]->key == members[i]->key) continue;
      if (!members[i]->value.isString()) continue;
      out.labels.emplace_back(members[i]->key, members[i]->value.asString());
    }
    for (const char* key : {"zone", "az"}) {
      if (const auto* z = labels->findString(key)) {
        out.zone = *z;
        break;
      }
    }
  }
  out.health = cluster::Health::kHealthy;
  return true;
}

}  // namespace pilotfish::discovery
