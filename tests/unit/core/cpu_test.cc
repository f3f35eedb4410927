#include "pilotfish/core/cpu.h"

#include <gtest/gtest.h>
#include <sched.h>

namespace pilotfish::core {
namespace {

TEST(Cpu, CgroupMaxParsing) {
  EXPECT_FALSE(cpusFromCgroupMax("max 100000\n").has_value());
  EXPECT_EQ(cpusFromCgroupMax("200000 100000\n"), 2u);
  EXPECT_EQ(cpusFromCgroupMax("150000 100000"), 2u);  // 1.5 CPUs -> 2 workers
  EXPECT_EQ(cpusFromCgroupMax("50000 100000"), 1u);
  EXPECT_FALSE(cpusFromCgroupMax("").has_value());
  EXPECT_FALSE(cpusFromCgroupMax("abc 100000").has_value());
  EXPECT_FALSE(cpusFromCgroupMax("100000 0").has_value());
}

TEST(Cpu, UsableCpusRespectsAffinity) {
  cpu_set_t set;
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  unsigned n = usableCpus();
  EXPECT_GE(n, 1u);
  EXPECT_LE(n, static_cast<unsigned>(CPU_COUNT(&set)));
}

}  // namespace
}  // namespace pilotfish::core
