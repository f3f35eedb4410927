#include "pilotfish/accesslog/spsc_ring.h"

#include <gtest/gtest.h>

#include <limits>
#include <thread>
#include <vector>

namespace pilotfish::accesslog {
namespace {

constexpr std::size_t kAll = std::numeric_limits<std::size_t>::max();

TEST(SpscRing, CapacityIsRoundedToAPowerOfTwo) {
  EXPECT_EQ(SpscRing<int>(0).capacity(), 2u);
  EXPECT_EQ(SpscRing<int>(3).capacity(), 4u);
  EXPECT_EQ(SpscRing<int>(4096).capacity(), 4096u);
  EXPECT_EQ(SpscRing<int>(4097).capacity(), 8192u);
}

TEST(SpscRing, FullRingRefusesWithoutBlocking) {
  SpscRing<int> r(8);
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(r.tryPush(i));
  EXPECT_EQ(r.size(), 8u);
  EXPECT_FALSE(r.tryPush(99));
  EXPECT_FALSE(r.tryPushWith([](int&) { FAIL() << "fill called on a full ring"; }));
  std::vector<int> got;
  EXPECT_EQ(r.consume([&](int v) { got.push_back(v); }, 3), 3u);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(r.tryPush(8));
  EXPECT_EQ(r.consume([&](int v) { got.push_back(v); }, kAll), 6u);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.consume([&](int) {}, kAll), 0u);
}

TEST(SpscRing, WrapsAroundManyTimes) {
  SpscRing<int> r(4);
  int next_in = 0, next_out = 0;
  for (int round = 0; round < 1000; ++round) {
    int k = round % 4 + 1;
    for (int i = 0; i < k; ++i) ASSERT_TRUE(r.tryPush(next_in++));
    r.consume([&](int v) { ASSERT_EQ(v, next_out++); }, kAll);
  }
  EXPECT_EQ(next_in, next_out);
}

TEST(SpscRing, ConcurrentProducerAndConsumerKeepOrder) {
  SpscRing<uint64_t> r(64);
  constexpr uint64_t kN = 200'000;
  std::thread producer([&] {
    for (uint64_t i = 0; i < kN;) {
      if (r.tryPush(i)) ++i;
    }
  });
  uint64_t expected = 0;
  bool in_order = true;
  while (expected < kN) {
    r.consume(
        [&](uint64_t v) {
          if (v != expected) in_order = false;
          ++expected;
        },
        17);
  }
  producer.join();
  EXPECT_TRUE(in_order);
  EXPECT_TRUE(r.empty());
}

}  // namespace
}  // namespace pilotfish::accesslog
