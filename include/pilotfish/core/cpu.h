#pragma once
// How many CPUs this process may use: its affinity mask, bounded by the cgroup CPU quota
// (v2 `cpu.max`, v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`). Never the host's count.

#include <optional>
#include <string_view>

namespace pilotfish::core {

/// Parses the content of a cgroup v2 `cpu.max` file ("max 100000" or "150000 100000") into a
/// CPU count rounded up; nullopt for "max" (no limit) or malformed text.
std::optional<unsigned> cpusFromCgroupMax(std::string_view text);

/// min(affinity CPUs, ceil(cgroup quota)), at least 1.
unsigned usableCpus();

}  // namespace pilotfish::core
