#include "pilotfish/tracing/id_generator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <regex>
#include <string>
#include <unordered_set>
#include <vector>

namespace pilotfish::tracing {
namespace {

// Reference outputs of xoshiro256** from state {1, 2, 3, 4} (the authors' C code).
TEST(IdGenerator, KnownAnswerXoshiro256StarStar) {
  auto g = IdGenerator::fromState({1, 2, 3, 4});
  const uint64_t expected[] = {
      11520u, 0u, 1509978240u, 1215971899390074240u, 1216172134540287360u, 607988272756665600u};
  for (uint64_t e : expected) EXPECT_EQ(g.next64(), e);
}

// splitmix64(0) expands to e220a8397b1dcdaf 6e789e6aa1b965f4 ...; xoshiro256** from there.
TEST(IdGenerator, KnownAnswerSplitmixSeeding) {
  IdGenerator g(0);
  EXPECT_EQ(g.next64(), 0x99ec5f36cb75f2b4ULL);
  EXPECT_EQ(g.next64(), 0xbf6e1f784956452aULL);
  EXPECT_EQ(g.next64(), 0x1a5f849d4933e6e0ULL);
}

TEST(IdGenerator, AllZeroStateIsNeverUsed) {
  auto g = IdGenerator::fromState({0, 0, 0, 0});
  uint64_t orAll = 0;
  for (int i = 0; i < 8; ++i) orAll |= g.next64();
  EXPECT_NE(orAll, 0u);
}

TEST(IdGenerator, EqualSeedsGiveEqualSequences) {
  IdGenerator a(12345), b(12345), c(12346);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.next64();
    EXPECT_EQ(x, b.next64());
    differs |= x != c.next64();
  }
  EXPECT_TRUE(differs);
  IdGenerator d(7), e(7);
  EXPECT_EQ(d.traceId(), e.traceId());
  EXPECT_EQ(d.spanId(), e.spanId());
  EXPECT_EQ(d.uuidV4(), e.uuidV4());
}

TEST(IdGenerator, OsSeededGeneratorsDiffer) {
  IdGenerator a, b;
  EXPECT_TRUE(a.seededFromOs());
  EXPECT_TRUE(b.seededFromOs());
  EXPECT_NE(a.next64(), b.next64());
  EXPECT_FALSE(IdGenerator(1).seededFromOs());
}

TEST(IdGenerator, MoveHandsOverTheSequenceAndJumpsTheSource) {
  IdGenerator ref(99);
  IdGenerator src(99);
  IdGenerator dst(std::move(src));
  std::unordered_set<uint64_t> seen;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = dst.next64();
    EXPECT_EQ(x, ref.next64());
    seen.insert(x);
  }
  // The moved-from one is still usable, on a different stretch of the sequence.
  IdGenerator jumped(99);
  jumped.jump();
  for (int i = 0; i < 1000; ++i) {
    const uint64_t y = src.next64();  // NOLINT(bugprone-use-after-move): documented behaviour
    EXPECT_EQ(y, jumped.next64());
    EXPECT_FALSE(seen.contains(y));
  }
  IdGenerator assigned(1);
  assigned = std::move(dst);
  EXPECT_EQ(assigned.next64(), ref.next64());
}

TEST(IdGenerator, NextDoubleInUnitInterval) {
  IdGenerator g(3);
  double lo = 1, hi = 0, sum = 0;
  for (int i = 0; i < 100000; ++i) {
    const double d = g.nextDouble();
    ASSERT_GE(d, 0.0);
    ASSERT_LT(d, 1.0);
    lo = std::min(lo, d);
    hi = std::max(hi, d);
    sum += d;
  }
  EXPECT_LT(lo, 0.001);
  EXPECT_GT(hi, 0.999);
  EXPECT_NEAR(sum / 100000, 0.5, 0.005);
}

TEST(IdGenerator, EveryBitIsFair) {
  IdGenerator g(4);
  constexpr int kDraws = 100000;
  int ones[64] = {};
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t x = g.next64();
    for (int b = 0; b < 64; ++b) ones[b] += static_cast<int>((x >> b) & 1);
  }
  // sd = sqrt(n/4) ~ 158; 6 sd.
  for (int b = 0; b < 64; ++b) EXPECT_NEAR(ones[b], kDraws / 2, 950) << "bit " << b;
}

TEST(IdGenerator, TraceIdsAre128BitLowerHexAndNeverZero) {
  IdGenerator g(5);
  const std::regex re("^[0-9a-f]{32}$");
  bool high_used = false;
  for (int i = 0; i < 1000; ++i) {
    const TraceId id = g.traceId();
    EXPECT_FALSE(id.isZero());
    high_used |= id.high != 0;
    const std::string s(formatTraceId(id).view());
    EXPECT_TRUE(std::regex_match(s, re)) << s;
  }
  EXPECT_TRUE(high_used);
}

TEST(IdGenerator, SpanIdsAre64BitLowerHexAndNeverZero) {
  IdGenerator g(6);
  const std::regex re("^[0-9a-f]{16}$");
  for (int i = 0; i < 1000; ++i) {
    const uint64_t id = g.spanId();
    EXPECT_NE(id, 0u);
    const std::string s(formatSpanId(id).view());
    EXPECT_TRUE(std::regex_match(s, re)) << s;
  }
}

TEST(IdGenerator, UuidV4HasRfc9562VersionAndVariant) {
  IdGenerator g(7);
  const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  int variant_counts[4] = {};
  for (int i = 0; i < 10000; ++i) {
    const UuidString u = g.uuidV4();
    ASSERT_EQ(u.size(), kUuidLen);
    const std::string s(u.view());
    ASSERT_TRUE(std::regex_match(s, re)) << s;
    ++variant_counts[std::string_view("89ab").find(s[19])];
  }
  // The two free bits of the variant octet stay random.
  for (int c : variant_counts) EXPECT_NEAR(c, 2500, 300);
}

TEST(IdGenerator, UniqueOver100kIds) {
  IdGenerator g;  // OS-seeded, as in production
  constexpr int kN = 100000;
  std::unordered_set<std::string> traces, spans, uuids;
  traces.reserve(kN);
  spans.reserve(kN);
  uuids.reserve(kN);
  for (int i = 0; i < kN; ++i) {
    traces.emplace(formatTraceId(g.traceId()).view());
    spans.emplace(formatSpanId(g.spanId()).view());
    uuids.emplace(g.uuidV4().view());
  }
  EXPECT_EQ(traces.size(), static_cast<std::size_t>(kN));
  EXPECT_EQ(spans.size(), static_cast<std::size_t>(kN));
  EXPECT_EQ(uuids.size(), static_cast<std::size_t>(kN));
}

TEST(IdGenerator, SampleEdgesConsumeNoDraw) {
  IdGenerator a(8), b(8);
  EXPECT_FALSE(a.sample(0.0));
  EXPECT_FALSE(a.sample(-0.5));
  EXPECT_FALSE(a.sample(std::nan("")));
  EXPECT_TRUE(a.sample(1.0));
  EXPECT_TRUE(a.sample(2.0));
  EXPECT_EQ(a.next64(), b.next64());
}

struct RateCase {
  double rate;
  int draws;
};
void PrintTo(const RateCase& c, std::ostream* os) {
  *os << "rate=" << c.rate << ",n=" << c.draws;
}

class SampleRate : public ::testing::TestWithParam<RateCase> {};

TEST_P(SampleRate, MatchesTheRateWithinFiveSigma) {
  const RateCase c = GetParam();
  IdGenerator g(20240601);
  int hits = 0;
  for (int i = 0; i < c.draws; ++i) hits += g.sample(c.rate) ? 1 : 0;
  const double mean = c.rate * c.draws;
  const double sd = std::sqrt(c.draws * c.rate * (1 - c.rate));
  EXPECT_NEAR(hits, mean, 5 * sd) << "rate " << c.rate;
}

INSTANTIATE_TEST_SUITE_P(Rates, SampleRate,
                         ::testing::Values(RateCase{0.01, 1000000}, RateCase{0.001, 1000000},
                                           RateCase{0.5, 1000000}, RateCase{0.99, 100000}));

}  // namespace
}  // namespace pilotfish::tracing
