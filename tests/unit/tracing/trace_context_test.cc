#include "pilotfish/tracing/trace_context.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "pilotfish/tracing/fixed_string.h"
#include "pilotfish/tracing/id_generator.h"
#include "pilotfish/tracing/trace_parser.h"

namespace pilotfish::tracing {
namespace {

constexpr TraceId kTrace{0x4bf92f3577b34da6ULL, 0xa3ce929d0e0e4736ULL};
constexpr uint64_t kSpan = 0x00f067aa0ba902b7ULL;
constexpr uint64_t kParent = 0x05e3ac9a4f6e3b90ULL;

TEST(FixedString, AppendWithinCapacityOnly) {
  FixedString<4> s;
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.append("ab"));
  EXPECT_FALSE(s.append("xyz"));
  EXPECT_EQ(s.view(), "ab");
  EXPECT_TRUE(s.push('c'));
  EXPECT_TRUE(s.push('d'));
  EXPECT_FALSE(s.push('e'));
  EXPECT_EQ(s, "abcd");
  EXPECT_EQ(s.extend(1), nullptr);
  EXPECT_FALSE(s.assign("12345"));
  EXPECT_TRUE(s.empty());
  EXPECT_TRUE(s.assign("1234"));
  FixedString<4> copy = s;  // views point into each copy
  s.assign("zz");
  EXPECT_EQ(copy.view(), "1234");
}

TEST(Hex, WriteAndParse64) {
  char buf[16];
  writeHex64(0, buf);
  EXPECT_EQ(std::string_view(buf, 16), "0000000000000000");
  writeHex64(0xdeadbeef0123abcdULL, buf);
  EXPECT_EQ(std::string_view(buf, 16), "deadbeef0123abcd");
  EXPECT_EQ(parseLowerHex64("deadbeef0123abcd"), 0xdeadbeef0123abcdULL);
  EXPECT_EQ(parseLowerHex64("ffffffffffffffff"), ~0ULL);
  EXPECT_EQ(parseLowerHex64("a"), 10u);
  EXPECT_EQ(parseLowerHex64("DEADBEEF"), std::nullopt);
  EXPECT_EQ(parseLowerHex64(""), std::nullopt);
  EXPECT_EQ(parseLowerHex64("00000000000000000"), std::nullopt);  // 17 digits
  EXPECT_EQ(parseLowerHex64("+1"), std::nullopt);
  EXPECT_EQ(parseLowerHex64(" 1"), std::nullopt);
  EXPECT_EQ(parseLowerHex64("0g"), std::nullopt);
}

TEST(Hex, MatchesPrintfForRandomValues) {
  IdGenerator g(9);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = i < 2 ? (i == 0 ? 0 : ~0ULL) : g.next64();
    char want[17];
    std::snprintf(want, sizeof want, "%016llx", static_cast<unsigned long long>(v));
    char got[16];
    writeHex64(v, got);
    ASSERT_EQ(std::string_view(got, 16), std::string_view(want, 16));
    ASSERT_EQ(parseLowerHex64(std::string_view(want, 16)), v);
    ASSERT_EQ(parseLowerHex64(std::string_view(want + 8, 8)), v & 0xffffffffULL);
  }
}

// Every byte value at every position of a 16-digit ID: accepted exactly when it is [0-9a-f].
TEST(Hex, EveryByteAtEveryPosition) {
  const std::string base = "0123456789abcdef";
  for (std::size_t pos = 0; pos < base.size(); ++pos) {
    for (int b = 0; b < 256; ++b) {
      std::string s = base;
      s[pos] = static_cast<char>(b);
      const bool hex = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f');
      const auto v = parseLowerHex64(s);
      ASSERT_EQ(v.has_value(), hex) << "pos " << pos << " byte " << b;
      if (hex) {
        uint64_t want = 0;
        for (char c : s)
          want = want * 16 + static_cast<uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
        ASSERT_EQ(*v, want);
      }
    }
  }
}

TEST(Hex, TraceIdParsingAndPadding) {
  EXPECT_EQ(parseTraceIdHex("4bf92f3577b34da6a3ce929d0e0e4736", false), kTrace);
  EXPECT_EQ(parseTraceIdHex("a3ce929d0e0e4736", true), (TraceId{0, 0xa3ce929d0e0e4736ULL}));
  EXPECT_EQ(parseTraceIdHex("a3ce929d0e0e4736", false), std::nullopt);
  EXPECT_EQ(parseTraceIdHex("00000000000000000000000000000000", false), std::nullopt);
  EXPECT_EQ(parseTraceIdHex("0000000000000000", true), std::nullopt);
  EXPECT_EQ(parseTraceIdHex("4BF92F3577B34DA6A3CE929D0E0E4736", false), std::nullopt);
  EXPECT_EQ(parseTraceIdHex("4bf92f3577b34da6a3ce929d0e0e473", false), std::nullopt);
  EXPECT_EQ(parseTraceIdHex("4bf92f3577b34da6a3ce929d0e0e47360", false), std::nullopt);
  // high half set, low half zero is a valid ID
  EXPECT_EQ(parseTraceIdHex("00000000000000010000000000000000", false), (TraceId{1, 0}));
  EXPECT_EQ(parseSpanIdHex("00f067aa0ba902b7"), kSpan);
  EXPECT_EQ(parseSpanIdHex("0000000000000000"), std::nullopt);
  EXPECT_EQ(parseSpanIdHex("00f067aa0ba902b"), std::nullopt);
  EXPECT_EQ(parseSpanIdHex("00F067AA0BA902B7"), std::nullopt);
}

TEST(Format, TraceAndSpanIds) {
  EXPECT_EQ(formatTraceId(kTrace).view(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(formatTraceId(TraceId{0, 0xa3ce929d0e0e4736ULL}).view(),
            "0000000000000000a3ce929d0e0e4736");
  EXPECT_EQ(formatSpanId(kSpan).view(), "00f067aa0ba902b7");
  EXPECT_EQ(formatB3Sampled(true), "1");
  EXPECT_EQ(formatB3Sampled(false), "0");
}

TEST(Format, Traceparent) {
  TraceContext c{kTrace, kSpan, std::nullopt, true, false};
  EXPECT_EQ(formatTraceparent(c).view(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  c.sampled = false;
  EXPECT_EQ(formatTraceparent(c).view(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  c.sampled.reset();  // deferred: W3C has no such state, and "not sampled" is 00
  EXPECT_EQ(formatTraceparent(c).view().substr(53), "00");
  c.debug = true;
  EXPECT_EQ(formatTraceparent(c).view().substr(53), "01");
  c.parent_span_id = kParent;  // the parent is not part of traceparent
  EXPECT_EQ(formatTraceparent(c).size(), kTraceparentLen);
  EXPECT_TRUE(formatTraceparent(TraceContext{}).empty());
  TraceContext only64{TraceId{0, 0x1234}, 1, std::nullopt, true, false};
  EXPECT_EQ(formatTraceparent(only64).view(),
            "00-00000000000000000000000000001234-0000000000000001-01");
}

TEST(Format, B3Single) {
  TraceContext c{kTrace, kSpan, std::nullopt, std::nullopt, false};
  EXPECT_EQ(formatB3Single(c).view(), "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7");
  c.sampled = true;
  EXPECT_EQ(formatB3Single(c).view(), "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1");
  c.sampled = false;
  c.parent_span_id = kParent;
  EXPECT_EQ(formatB3Single(c).view(),
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0-05e3ac9a4f6e3b90");
  c.debug = true;
  c.sampled = true;
  EXPECT_EQ(formatB3Single(c).view(),
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-d-05e3ac9a4f6e3b90");
  EXPECT_EQ(formatB3Single(c).size(), kB3SingleMaxLen);
  c.debug = false;
  c.sampled.reset();
  EXPECT_EQ(formatB3Single(c).view(),
            "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-05e3ac9a4f6e3b90");

  TraceContext sampling_only;
  EXPECT_TRUE(formatB3Single(sampling_only).empty());
  sampling_only.sampled = false;
  EXPECT_EQ(formatB3Single(sampling_only).view(), "0");
  sampling_only.sampled = true;
  EXPECT_EQ(formatB3Single(sampling_only).view(), "1");
  sampling_only.debug = true;
  EXPECT_EQ(formatB3Single(sampling_only).view(), "d");
}

TEST(Format, RoundTripsThroughTheParsers) {
  const TraceContext variants[] = {
      {kTrace, kSpan, std::nullopt, true, false},
      {kTrace, kSpan, kParent, false, false},
      {kTrace, kSpan, kParent, true, true},
      {kTrace, kSpan, std::nullopt, std::nullopt, false},
      {TraceId{0, 42}, kSpan, kParent, true, false},
  };
  for (const TraceContext& c : variants) {
    EXPECT_EQ(parseB3Single(formatB3Single(c).view()), c);
    auto tp = parseTraceparent(formatTraceparent(c).view());
    ASSERT_TRUE(tp.has_value());
    EXPECT_EQ(tp->trace_id, c.trace_id);
    EXPECT_EQ(tp->span_id, c.span_id);
    EXPECT_EQ(tp->isSampled(), c.isSampled());
  }
}

TEST(TraceContext, Predicates) {
  TraceContext c;
  EXPECT_FALSE(c.hasIds());
  EXPECT_FALSE(c.hasSamplingDecision());
  EXPECT_FALSE(c.isSampled());
  c.trace_id = kTrace;
  EXPECT_FALSE(c.hasIds());
  c.span_id = kSpan;
  EXPECT_TRUE(c.hasIds());
  c.sampled = false;
  EXPECT_TRUE(c.hasSamplingDecision());
  EXPECT_FALSE(c.isSampled());
  c.debug = true;
  EXPECT_TRUE(c.isSampled());
}

}  // namespace
}  // namespace pilotfish::tracing
