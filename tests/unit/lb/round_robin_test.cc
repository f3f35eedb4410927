#include "pilotfish/lb/round_robin.h"

#include <gtest/gtest.h>

#include <map>

namespace pilotfish::lb {
namespace {

cluster::ClusterSnapshot make(std::vector<uint32_t> weights) {
  cluster::ClusterSnapshot s;
  s.name = "c";
  for (std::size_t i = 0; i < weights.size(); ++i) {
    auto e = std::make_shared<cluster::Endpoint>();
    e->host_port = {"127.0.0.1", static_cast<uint16_t>(1000 + i), net::HostPort::Kind::kIpv4};
    e->weight = weights[i];
    s.endpoints.push_back(e);
  }
  return s;
}

TEST(RoundRobin, EqualWeightsRotate) {
  auto s = make({1, 1, 1});
  RoundRobin rr;
  rr.reset(s, 0);
  std::vector<std::size_t> got;
  for (int i = 0; i < 6; ++i) got.push_back(*rr.pick(s));
  EXPECT_EQ(got, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(RoundRobin, ARandomStartStillRotatesOverEveryEndpoint) {
  auto s = make({1, 1, 1, 1});
  std::map<std::size_t, int> firsts;
  for (int run = 0; run < 200; ++run) {
    RoundRobin rr;
    rr.reset(s);
    std::size_t first = *rr.pick(s);
    ++firsts[first];
    for (std::size_t k = 1; k < 8; ++k) EXPECT_EQ(*rr.pick(s), (first + k) % 4);
  }
  EXPECT_EQ(firsts.size(), 4u) << "after a reset the workers must not all start at endpoint 0";
}

TEST(RoundRobin, LargeUniformClusterSkipsIneligibleEndpoints) {
  std::vector<uint32_t> w(10000, 1);
  for (std::size_t i = 0; i < w.size(); i += 2) w[i] = 0;
  auto s = make(w);
  RoundRobin rr;
  rr.reset(s, 0);
  for (int i = 0; i < 20000; ++i) EXPECT_EQ(*rr.pick(s) % 2, 1u);
}

TEST(RoundRobin, WeightsAreProportionalAndSmooth) {
  auto s = make({5, 1, 1});
  RoundRobin rr;
  rr.reset(s, 0);
  std::vector<std::size_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(*rr.pick(s));
  EXPECT_EQ(got, (std::vector<std::size_t>{0, 0, 1, 0, 2, 0, 0}));
}

TEST(RoundRobin, ZeroWeightNeverPicked) {
  auto s = make({0, 2, 0, 1});
  RoundRobin rr;
  rr.reset(s);
  std::map<std::size_t, int> n;
  for (int i = 0; i < 300; ++i) ++n[*rr.pick(s)];
  EXPECT_EQ(n[0], 0);
  EXPECT_EQ(n[2], 0);
  EXPECT_EQ(n[1], 200);
  EXPECT_EQ(n[3], 100);
}

TEST(RoundRobin, UnhealthyNeverPicked) {
  auto s = make({1, 1});
  std::const_pointer_cast<cluster::Endpoint>(s.endpoints[0])->health = cluster::Health::kUnhealthy;
  RoundRobin rr;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(*rr.pick(s), 1u);
}

TEST(RoundRobin, NothingEligible) {
  auto s = make({0, 0});
  RoundRobin rr;
  EXPECT_FALSE(rr.pick(s).has_value());
  auto empty = make({});
  EXPECT_FALSE(rr.pick(empty).has_value());
}

TEST(RoundRobin, NextSkipsTriedAndIneligible) {
  auto s = make({1, 0, 1, 1});
  std::vector<bool> tried(4, false);
  tried[2] = true;
  EXPECT_EQ(*RoundRobin::next(s, 2, tried), 3u);
  tried[3] = true;
  EXPECT_EQ(*RoundRobin::next(s, 3, tried), 0u);
  tried[0] = true;
  EXPECT_FALSE(RoundRobin::next(s, 0, tried).has_value());
}

}  // namespace
}  // namespace pilotfish::lb
