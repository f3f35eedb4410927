#include <algorithm>
#include <random>

#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {

std::chrono::milliseconds Backoff::next() {
  thread_local std::minstd_rand rng{std::random_device{}()};
  auto current = base_;
  for (unsigned i = 0; i < attempt_ && current < cap_; ++i) current *= 2;
  current = std::min(current, cap_);
  if (current < cap_) ++attempt_;
  std::uniform_int_distribution<int64_t> pick(current.count() / 2, current.count());
  return std::chrono::milliseconds(pick(rng));
}

}  // namespace pilotfish::discovery
