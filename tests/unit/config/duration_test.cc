#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "pilotfish/config/loader.h"

namespace pilotfish::config {
namespace {

struct Valid {
  const char* text;
  int64_t ms;
};

void PrintTo(const Valid& v, std::ostream* os) {
  *os << v.text;
}

class ParseDurationValid : public ::testing::TestWithParam<Valid> {};

TEST_P(ParseDurationValid, Parses) {
  auto d = parseDuration(GetParam().text);
  ASSERT_TRUE(d) << GetParam().text;
  EXPECT_EQ(d->count(), GetParam().ms) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Table, ParseDurationValid,
                         ::testing::Values(Valid{"0ms", 0}, Valid{"0s", 0}, Valid{"0h", 0},
                                           Valid{"1ms", 1}, Valid{"250ms", 250},
                                           Valid{"1500ms", 1500}, Valid{"5s", 5000},
                                           Valid{"2m", 120000}, Valid{"1h", 3600000},
                                           Valid{"24h", 86400000}, Valid{"007s", 7000},
                                           // the largest value that fits a nanosecond timer
                                           Valid{"2562047h", 2562047LL * 3600000},
                                           Valid{"9223372036854ms", 9223372036854LL}));

class ParseDurationInvalid : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseDurationInvalid, Rejected) {
  EXPECT_FALSE(parseDuration(GetParam())) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Table, ParseDurationInvalid,
                         ::testing::Values("", "5", "s", "ms", "5 s", " 5s", "5s ", "-5s", "+5s",
                                           "1.5s", ".5s", "5sec", "5S", "5MS", "1d", "1us", "1ns",
                                           "5ms5", "5s5ms", "1e3ms", "0x10s", "1_000ms",
                                           // overflow of the timer range and of int64 itself
                                           "2562048h", "9223372036855ms",
                                           "99999999999999999999999ms", "9223372036854775807h"));

TEST(FormatDuration, PicksTheLargestExactUnit) {
  EXPECT_EQ(formatDuration(Duration(0)), "0s");
  EXPECT_EQ(formatDuration(Duration(1)), "1ms");
  EXPECT_EQ(formatDuration(Duration(1500)), "1500ms");
  EXPECT_EQ(formatDuration(Duration(5000)), "5s");
  EXPECT_EQ(formatDuration(Duration(90000)), "90s");
  EXPECT_EQ(formatDuration(Duration(120000)), "2m");
  EXPECT_EQ(formatDuration(Duration(3600000)), "1h");
  EXPECT_EQ(formatDuration(Duration(5400000)), "90m");
  EXPECT_EQ(formatDuration(Duration(-5000)), "-5s");
}

TEST(FormatDuration, RoundTrips) {
  for (const char* s : {"1ms", "999ms", "1s", "59s", "1m", "61s", "1h", "25h", "2562047h"}) {
    auto d = parseDuration(s);
    ASSERT_TRUE(d) << s;
    EXPECT_EQ(parseDuration(formatDuration(*d)), d) << s;
  }
}

}  // namespace
}  // namespace pilotfish::config
