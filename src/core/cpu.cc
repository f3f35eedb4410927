#include "pilotfish/core/cpu.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace pilotfish::core {
namespace {

std::optional<long long> toInt(std::string_view s) {
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<unsigned> fromQuota(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return std::nullopt;
  return static_cast<unsigned>(std::max(1LL, (quota + period - 1) / period));
}

std::string readFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

// The cgroup of this process (v2: the "0::/path" line of /proc/self/cgroup).
std::string ownCgroupV2Dir() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return "/sys/fs/cgroup" + line.substr(3);
  }
  return "/sys/fs/cgroup";
}

}  // namespace

std::optional<unsigned> cpusFromCgroupMax(std::string_view text) {
  text = trim(text);
  auto sp = text.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  auto quota = text.substr(0, sp);
  auto period = toInt(trim(text.substr(sp + 1)));
  if (quota == "max" || !period) return std::nullopt;
  auto q = toInt(quota);
  if (!q) return std::nullopt;
  return fromQuota(*q, *period);
}

unsigned usableCpus() {
  unsigned n = 0;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = static_cast<unsigned>(CPU_COUNT(&set));
  if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());

  std::optional<unsigned> quota;
  // Walk from our own cgroup up to the root: any ancestor's limit applies.
  for (std::string dir = ownCgroupV2Dir();
       !quota && dir.size() >= std::string("/sys/fs/cgroup").size();) {
    quota = cpusFromCgroupMax(readFile((dir + "/cpu.max").c_str()));
    auto slash = dir.rfind('/');
    if (slash == std::string::npos || dir == "/sys/fs/cgroup") break;
    dir.resize(slash);
  }
  if (!quota) {  // cgroup v1
    auto q = toInt(trim(readFile("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")));
    auto p = toInt(trim(readFile("/sys/fs/cgroup/cpu/cpu.cfs_period_us")));
    if (q && p) quota = fromQuota(*q, *p);
  }
  if (quota) n = std::min(n, *quota);
  return std::max(1u, n);
}

}  // namespace pilotfish::core
