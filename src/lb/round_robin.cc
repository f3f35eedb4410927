#include "pilotfish/lb/round_robin.h"

namespace pilotfish::lb {
namespace {
bool eligible(const cluster::Endpoint& e) {
  return e.weight > 0 && e.health != cluster::Health::kUnhealthy;
}
}  // namespace

void RoundRobin::reset(const cluster::ClusterSnapshot& snapshot) {
  current_.assign(snapshot.endpoints.size(), 0);
}

std::optional<std::size_t> RoundRobin::pick(const cluster::ClusterSnapshot& snapshot) {
  const auto& eps = snapshot.endpoints;
  if (current_.size() != eps.size()) current_.assign(eps.size(), 0);
  int64_t total = 0;
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < eps.size(); ++i) {
    if (!eligible(*eps[i])) continue;
    current_[i] += eps[i]->weight;
    total += eps[i]->weight;
    if (!best || current_[i] > current_[*best]) best = i;
  }
  if (best) current_[*best] -= total;
  return best;
}

std::optional<std::size_t> RoundRobin::next(const cluster::ClusterSnapshot& snapshot,
                                            std::size_t after, const std::vector<bool>& tried) {
  const auto& eps = snapshot.endpoints;
  for (std::size_t k = 1; k <= eps.size(); ++k) {
    std::size_t i = (after + k) % eps.size();
    if (!tried[i] && eligible(*eps[i])) return i;
  }
  return std::nullopt;
}

}  // namespace pilotfish::lb
