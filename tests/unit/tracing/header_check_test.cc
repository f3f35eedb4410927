#include "pilotfish/tracing/header_check.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

#include "pilotfish/tracing/id_generator.h"
#include "pilotfish/tracing/trace_state.h"
#include "unit/tracing/printable.h"

namespace pilotfish::tracing {
namespace {

TEST(HeaderCheck, LowerHex) {
  EXPECT_TRUE(isLowerHex("0123456789abcdef"));
  EXPECT_FALSE(isLowerHex(""));
  EXPECT_FALSE(isLowerHex("ABC"));
  EXPECT_FALSE(isLowerHex("abg"));
  EXPECT_FALSE(isLowerHex("ab-"));
}

TEST(HeaderCheck, RequestIdAccepts) {
  for (std::string_view v : {"0f8fad5b-d9cb-469f-a165-70867728950e", "abc", "A", "req_123.4~5",
                             "Root=1-5759e988-bd862e3fe1be46a994272793", "dGVzdA==",
                             "urn:uuid:1234", "user@host", "a/b+c", "!#$%&'*+-.^_`|~"}) {
    EXPECT_TRUE(isValidRequestId(v)) << v;
  }
  EXPECT_TRUE(isValidRequestId(std::string(kMaxRequestIdLen, 'a')));
}

TEST(HeaderCheck, RequestIdRejects) {
  for (std::string_view v :
       {"", " ", "a b", "a\tb", "a\r\nX-Evil: 1", "a,b", "a;b", "\"a\"", "a\\b", "a(b)", "<a>",
        "a?b", "[a]", "{a}", "caf\xc3\xa9", "a\x7f", "a\x01"}) {
    EXPECT_FALSE(isValidRequestId(v)) << v;
  }
  EXPECT_FALSE(isValidRequestId(std::string(kMaxRequestIdLen + 1, 'a')));
  EXPECT_FALSE(isValidRequestId(std::string_view("a\0b", 3)));
}

struct OutCase {
  TraceHeader header;
  std::string value;
  bool valid;
};
void PrintTo(const OutCase& c, std::ostream* os) {
  *os << traceHeaderName(c.header) << "=" << testing::printable(c.value) << (c.valid ? "" : "!");
}

class OutgoingValue : public ::testing::TestWithParam<OutCase> {};

TEST_P(OutgoingValue, Checked) {
  const auto& c = GetParam();
  EXPECT_EQ(isValidOutgoingValue(c.header, c.value), c.valid)
      << traceHeaderName(c.header) << ": '" << c.value << "'";
}

const std::string kT = "4bf92f3577b34da6a3ce929d0e0e4736";
const std::string kS = "00f067aa0ba902b7";
const std::string kTp = "00-" + kT + "-" + kS + "-01";

INSTANTIATE_TEST_SUITE_P(
    Cases, OutgoingValue,
    ::testing::Values(
        OutCase{TraceHeader::kB3TraceId, kT, true}, OutCase{TraceHeader::kB3TraceId, kS, true},
        OutCase{TraceHeader::kB3TraceId, std::string(32, '0'), false},
        OutCase{TraceHeader::kB3TraceId, kT.substr(1), false},
        OutCase{TraceHeader::kB3TraceId, "4BF92F3577B34DA6A3CE929D0E0E4736", false},
        OutCase{TraceHeader::kB3TraceId, kT + "\r\n", false},
        OutCase{TraceHeader::kB3TraceId, "", false}, OutCase{TraceHeader::kB3SpanId, kS, true},
        OutCase{TraceHeader::kB3SpanId, std::string(16, '0'), false},
        OutCase{TraceHeader::kB3SpanId, kT, false},
        OutCase{TraceHeader::kB3SpanId, kS.substr(0, 15) + "-", false},
        OutCase{TraceHeader::kB3ParentSpanId, kS, true},
        OutCase{TraceHeader::kB3ParentSpanId, "", false},
        OutCase{TraceHeader::kB3Sampled, "1", true}, OutCase{TraceHeader::kB3Sampled, "0", true},
        OutCase{TraceHeader::kB3Sampled, "true", false},
        OutCase{TraceHeader::kB3Sampled, "d", false}, OutCase{TraceHeader::kB3Flags, "1", true},
        OutCase{TraceHeader::kB3Flags, "0", false},
        OutCase{TraceHeader::kB3Single, kT + "-" + kS + "-1", true},
        OutCase{TraceHeader::kB3Single, "0", true}, OutCase{TraceHeader::kB3Single, "d", true},
        OutCase{TraceHeader::kB3Single, " 0", false},
        OutCase{TraceHeader::kB3Single, kT + "-" + kS + "-x", false},
        OutCase{TraceHeader::kB3Single, "", false}, OutCase{TraceHeader::kTraceparent, kTp, true},
        OutCase{TraceHeader::kTraceparent, "01-" + kT + "-" + kS + "-01", false},
        OutCase{TraceHeader::kTraceparent, kTp + " ", false},
        OutCase{TraceHeader::kTraceparent, " " + kTp.substr(1), false},
        OutCase{TraceHeader::kTraceparent, "00-" + std::string(32, '0') + "-" + kS + "-01", false},
        OutCase{TraceHeader::kTracestate, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", true},
        OutCase{TraceHeader::kTracestate, "a=1 , b=2", true},
        OutCase{TraceHeader::kTracestate, "", false},
        OutCase{TraceHeader::kTracestate, " a=1", false},
        OutCase{TraceHeader::kTracestate, "a=1\r\nx: y", false},
        OutCase{TraceHeader::kTracestate, "a=1\x7f", false},
        OutCase{TraceHeader::kTracestate, "a=caf\xc3\xa9", false},
        OutCase{TraceHeader::kTracestate, "a=1\t", false},
        OutCase{TraceHeader::kTracestate, std::string(kMaxTraceStateLen + 1, 'a'), false},
        OutCase{TraceHeader::kTraceparent, "00-" + kT + "-" + std::string(16, '0') + "-01", false},
        OutCase{TraceHeader::kTraceparent, "00-" + kT + "-" + kS + "-0g", false},
        OutCase{TraceHeader::kTraceparent, "00-" + kT + "-" + kS + "--1", false},
        OutCase{TraceHeader::kTraceparent, "00-" + kT.substr(0, 31) + "--" + kS.substr(1) + "-01",
                false},
        OutCase{TraceHeader::kRequestId, "0f8fad5b-d9cb-469f-a165-70867728950e", true},
        OutCase{TraceHeader::kRequestId, "a b", false},
        OutCase{TraceHeader::kRequestId, "", false}));

// Every byte value at every position of a trace ID, span ID and traceparent.
TEST(HeaderCheck, EveryByteAtEveryPosition) {
  struct Target {
    TraceHeader h;
    std::string base;
  };
  for (const Target& t : {Target{TraceHeader::kB3TraceId, kT}, Target{TraceHeader::kB3SpanId, kS},
                          Target{TraceHeader::kTraceparent, kTp}}) {
    ASSERT_TRUE(isValidOutgoingValue(t.h, t.base));
    for (std::size_t pos = 0; pos < t.base.size(); ++pos) {
      const bool dash = t.base[pos] == '-';
      for (int b = 0; b < 256; ++b) {
        std::string s = t.base;
        s[pos] = static_cast<char>(b);
        bool want = dash ? b == '-' : (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f');
        if (t.h == TraceHeader::kTraceparent && pos < 2) want = b == '0';  // version 00 only
        ASSERT_EQ(isValidOutgoingValue(t.h, s), want)
            << traceHeaderName(t.h) << " pos " << pos << " byte " << b;
      }
    }
  }
}

TEST(HeaderCheck, EverythingTheGeneratorMakesPasses) {
  IdGenerator g(11);
  for (int i = 0; i < 10000; ++i) {
    TraceContext c{g.traceId(), g.spanId(), g.spanId(), g.sample(0.5), false};
    ASSERT_TRUE(isValidOutgoingValue(TraceHeader::kB3TraceId, formatTraceId(c.trace_id).view()));
    ASSERT_TRUE(isValidOutgoingValue(TraceHeader::kB3SpanId, formatSpanId(c.span_id).view()));
    ASSERT_TRUE(isValidOutgoingValue(TraceHeader::kB3Single, formatB3Single(c).view()));
    ASSERT_TRUE(isValidOutgoingValue(TraceHeader::kTraceparent, formatTraceparent(c).view()));
    ASSERT_TRUE(isValidOutgoingValue(TraceHeader::kRequestId, g.uuidV4().view()));
  }
}

}  // namespace
}  // namespace pilotfish::tracing
