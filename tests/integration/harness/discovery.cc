#include "integration/harness/discovery.h"

#include <boost/json.hpp>

#include <stdexcept>

namespace pilotfish::it {

boost::json::object clusterState(Pilotfish& pf, const std::string& cluster) {
  auto r = pf.get("/clusters");
  if (r.status != 200) throw std::runtime_error("/clusters answered " + std::to_string(r.status));
  auto v = parseJson(r.body);
  for (const auto& c : v.at("clusters").as_array()) {
    if (c.at("name").as_string() == cluster) return c.as_object();
  }
  throw std::runtime_error("cluster " + cluster + " not in /clusters: " + r.body);
}

std::set<std::string> clusterEndpoints(Pilotfish& pf, const std::string& cluster) {
  std::set<std::string> out;
  const auto state = clusterState(pf, cluster);  // kept alive for the loop
  for (const auto& e : state.at("endpoints").as_array()) {
    out.insert(std::string(e.at("address").as_string()));
  }
  return out;
}

bool waitEndpoints(Pilotfish& pf, const std::string& cluster, const std::set<std::string>& want,
                   milliseconds deadline) {
  return waitFor([&] { return clusterEndpoints(pf, cluster) == want; }, deadline);
}

bool discoveryFlag(Pilotfish& pf, const std::string& cluster, const std::string& field) {
  auto c = clusterState(pf, cluster);
  auto it = c.find("discovery");
  if (it == c.end()) return false;
  const auto& d = it->value().as_object();
  auto f = d.find(field);
  return f != d.end() && f->value().is_bool() && f->value().as_bool();
}

std::string loopback(uint16_t port) {
  return "127.0.0.1:" + std::to_string(port);
}

}  // namespace pilotfish::it
