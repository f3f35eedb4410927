#include "pilotfish/lb/round_robin.h"

#include <random>

namespace pilotfish::lb {
namespace {
bool eligible(const cluster::Endpoint& e) {
  return e.weight > 0 && e.health != cluster::Health::kUnhealthy;
}
}  // namespace

void RoundRobin::reset(const cluster::ClusterSnapshot& snapshot, std::optional<std::size_t> start) {
  const auto& eps = snapshot.endpoints;
  current_.assign(eps.size(), 0);
  eligible_.clear();
  uniform_ = true;
  for (std::size_t i = 0; i < eps.size(); ++i) {
    if (!eligible(*eps[i])) continue;
    if (!eligible_.empty() && eps[i]->weight != eps[eligible_.front()]->weight) uniform_ = false;
    eligible_.push_back(static_cast<uint32_t>(i));
  }
  if (start) {
    next_ = *start;
  } else {
    thread_local std::minstd_rand rng{std::random_device{}()};
    next_ = eligible_.empty() ? 0 : rng() % eligible_.size();
  }
  if (!uniform_) {
    // Smooth WRR has no position; advancing it `next_` picks lands it at a random phase.
    for (std::size_t k = 0; k < next_ % 64; ++k) pick(snapshot);
  }
}

std::optional<std::size_t> RoundRobin::pick(const cluster::ClusterSnapshot& snapshot) {
  const auto& eps = snapshot.endpoints;
  if (current_.size() != eps.size()) reset(snapshot, 0);
  if (uniform_) {
    if (eligible_.empty()) return std::nullopt;
    if (next_ >= eligible_.size()) next_ = 0;
    return eligible_[next_++];
  }
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
