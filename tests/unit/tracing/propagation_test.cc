#include "pilotfish/tracing/propagation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <memory>
#include <ostream>
#include <regex>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "pilotfish/tracing/tracing_stats.h"
#include "unit/tracing/printable.h"

namespace pilotfish::tracing {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kTraceHex = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kSpanHex = "00f067aa0ba902b7";
constexpr std::string_view kParentHex = "05e3ac9a4f6e3b90";
const std::string kTp = "00-" + std::string(kTraceHex) + "-" + std::string(kSpanHex) + "-01";
const std::string kTpUnsampled =
    "00-" + std::string(kTraceHex) + "-" + std::string(kSpanHex) + "-00";
const std::regex kHex32("^[0-9a-f]{32}$");
const std::regex kHex16("^[0-9a-f]{16}$");
const std::regex kTraceparentRe("^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$");
const std::regex kUuidRe("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

PropagationResult decide(const Fields& fields, const TracingSettings& s = {}, uint64_t seed = 1) {
  IncomingTraceHeaders in;
  for (const auto& [n, v] : fields) in.offer(n, v);
  IdGenerator ids(seed);
  PropagationResult r;
  decidePropagation(s, in, ids, r);
  return r;  // a copy is safe: its views point into itself
}

std::map<std::string, std::string> added(const PropagationResult& r) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i < r.headerCount(); ++i) {
    const HeaderField f = r.header(i);
    EXPECT_TRUE(m.emplace(std::string(f.name), std::string(f.value)).second)
        << "added twice: " << f.name;
  }
  return m;
}

std::vector<std::string> names(const PropagationResult& r) {
  std::vector<std::string> v;
  for (std::size_t i = 0; i < r.headerCount(); ++i) v.emplace_back(r.header(i).name);
  return v;
}

// Invariants every result must hold: values valid, B3 and W3C consistent with each other and
// with the access-log strings.
void expectConsistent(const PropagationResult& r) {
  EXPECT_EQ(r.droppedInvalid(), 0);
  for (std::size_t i = 0; i < r.headerCount(); ++i) {
    const HeaderField f = r.header(i);
    const auto h = classifyTraceHeader(f.name);
    ASSERT_TRUE(h.has_value()) << f.name;
    EXPECT_TRUE(isValidOutgoingValue(*h, f.value)) << f.name << ": " << f.value;
    EXPECT_TRUE(r.removes(f.name)) << "added without removing the incoming one: " << f.name;
  }
  const auto m = added(r);
  if (m.contains("x-b3-traceid")) {
    EXPECT_EQ(m.at("x-b3-traceid"), r.traceId());
    EXPECT_EQ(m.at("x-b3-spanid"), r.spanId());
    EXPECT_TRUE(std::regex_match(m.at("x-b3-traceid"), kHex32));
    EXPECT_TRUE(std::regex_match(m.at("x-b3-spanid"), kHex16));
    EXPECT_NE(m.contains("x-b3-sampled"), m.contains("x-b3-flags"));
    if (m.contains("x-b3-sampled")) {
      EXPECT_EQ(m.at("x-b3-sampled"), r.sampled() ? "1" : "0");
    }
    EXPECT_EQ(m.contains("x-b3-parentspanid"), !r.parentSpanId().empty());
  }
  if (m.contains("traceparent")) {
    const std::string& tp = m.at("traceparent");
    EXPECT_TRUE(std::regex_match(tp, kTraceparentRe)) << tp;
    EXPECT_EQ(tp.substr(3, 32), r.traceId());
    EXPECT_EQ(tp.substr(36, 16), r.spanId());
    EXPECT_EQ(tp.substr(53), r.sampled() ? "01" : "00");
  }
  if (m.contains("x-request-id")) {
    EXPECT_EQ(m.at("x-request-id"), r.requestId());
    EXPECT_EQ(r.responseRequestId(), r.requestId());
  }
}

TEST(Propagation, NoContextStartsATrace) {
  const PropagationResult r = decide({{"host", "x"}});
  expectConsistent(r);
  EXPECT_FALSE(r.continued());
  EXPECT_EQ(r.incoming().source, ContextSource::kNone);
  EXPECT_EQ(r.malformed(), 0);
  EXPECT_EQ(names(r), (std::vector<std::string>{"x-b3-traceid", "x-b3-spanid", "x-b3-sampled",
                                                "traceparent", "x-request-id"}));
  EXPECT_TRUE(r.parentSpanId().empty());
  EXPECT_FALSE(r.context().parent_span_id.has_value());
  EXPECT_TRUE(std::regex_match(std::string(r.requestId()), kUuidRe));
  EXPECT_EQ(r.responseRequestId(), r.requestId());
  for (std::size_t i = 0; i < kTraceHeaderCount; ++i) {
    EXPECT_TRUE(r.removes(static_cast<TraceHeader>(i)));
  }
  EXPECT_TRUE(r.removes("X-B3-TraceId"));
  EXPECT_TRUE(r.removes("TraceParent"));
  EXPECT_TRUE(r.removes("B3"));
  EXPECT_TRUE(r.removes("tracestate"));
  EXPECT_FALSE(r.removes("host"));
  EXPECT_FALSE(r.removes("x-forwarded-for"));
}

TEST(Propagation, NewTraceSamplingFollowsTheRate) {
  TracingSettings always;
  always.sample_rate = 1.0;
  auto r = decide({}, always);
  expectConsistent(r);
  EXPECT_TRUE(r.sampled());
  EXPECT_EQ(r.valueOf(TraceHeader::kB3Sampled), "1");
  TracingSettings never;
  never.sample_rate = 0.0;
  r = decide({}, never);
  expectConsistent(r);
  EXPECT_FALSE(r.sampled());
  EXPECT_EQ(r.valueOf(TraceHeader::kB3Sampled), "0");
}

TEST(Propagation, SampleRateStatistics) {
  TracingSettings s;
  s.sample_rate = 0.01;
  IdGenerator ids(424242);
  IncomingTraceHeaders none;
  PropagationResult r;
  constexpr int kN = 200000;
  int sampled = 0;
  for (int i = 0; i < kN; ++i) {
    decidePropagation(s, none, ids, r);
    sampled += r.sampled() ? 1 : 0;
  }
  const double sd = std::sqrt(kN * 0.01 * 0.99);
  EXPECT_NEAR(sampled, kN * 0.01, 5 * sd);
}

TEST(Propagation, B3MultiContextIsContinued) {
  TracingSettings s;
  s.sample_rate = 1.0;  // must not override the incoming deny
  const PropagationResult r = decide({{"X-B3-TraceId", std::string(kTraceHex)},
                                      {"X-B3-SpanId", std::string(kSpanHex)},
                                      {"X-B3-ParentSpanId", std::string(kParentHex)},
                                      {"X-B3-Sampled", "0"}},
                                     s);
  expectConsistent(r);
  EXPECT_TRUE(r.continued());
  EXPECT_EQ(r.incoming().source, ContextSource::kB3Multi);
  EXPECT_EQ(r.traceId(), kTraceHex);
  EXPECT_EQ(r.parentSpanId(), kSpanHex);  // the caller's span is our parent
  EXPECT_NE(r.spanId(), kSpanHex);
  EXPECT_NE(r.spanId(), kParentHex);
  EXPECT_FALSE(r.sampled());
  const auto m = added(r);
  EXPECT_EQ(m.at("x-b3-parentspanid"), kSpanHex);
  EXPECT_EQ(m.at("x-b3-sampled"), "0");
  EXPECT_EQ(m.at("traceparent").substr(53), "00");
  EXPECT_EQ(names(r), (std::vector<std::string>{"x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
                                                "x-b3-sampled", "traceparent", "x-request-id"}));
}

TEST(Propagation, B3SixtyFourBitTraceIdIsPaddedInBothFormats) {
  const PropagationResult r = decide({{"x-b3-traceid", "a3ce929d0e0e4736"},
                                      {"x-b3-spanid", std::string(kSpanHex)},
                                      {"x-b3-sampled", "1"}});
  expectConsistent(r);
  EXPECT_EQ(r.traceId(), "0000000000000000a3ce929d0e0e4736");
  const auto m = added(r);
  EXPECT_EQ(m.at("x-b3-traceid"), "0000000000000000a3ce929d0e0e4736");
  EXPECT_EQ(m.at("traceparent").substr(0, 36), "00-0000000000000000a3ce929d0e0e4736-");
}

TEST(Propagation, B3SingleContextIsContinued) {
  const PropagationResult r = decide({{"b3", std::string(kTraceHex) + "-" + std::string(kSpanHex) +
                                                 "-1-" + std::string(kParentHex)}});
  expectConsistent(r);
  EXPECT_EQ(r.incoming().source, ContextSource::kB3Single);
  EXPECT_EQ(r.traceId(), kTraceHex);
  EXPECT_EQ(r.parentSpanId(), kSpanHex);
  EXPECT_TRUE(r.sampled());
  EXPECT_TRUE(r.removes("b3"));
}

TEST(Propagation, W3cContextIsContinuedWithTracestate) {
  TracingSettings s;
  s.sample_rate = 0.0;  // must not override the incoming accept
  const PropagationResult r = decide({{"traceparent", kTp},
                                      {"tracestate", "congo=t61rcWkgMzE"},
                                      {"tracestate", "rojo=00f067aa0ba902b7"}},
                                     s);
  expectConsistent(r);
  EXPECT_EQ(r.incoming().source, ContextSource::kTraceparent);
  EXPECT_TRUE(r.continued());
  EXPECT_EQ(r.traceId(), kTraceHex);
  EXPECT_EQ(r.parentSpanId(), kSpanHex);
  EXPECT_TRUE(r.sampled());
  const auto m = added(r);
  EXPECT_EQ(m.at("tracestate"), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  EXPECT_EQ(m.at("x-b3-sampled"), "1");
  EXPECT_EQ(m.at("x-b3-parentspanid"), kSpanHex);
  EXPECT_EQ(names(r), (std::vector<std::string>{"x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
                                                "x-b3-sampled", "traceparent", "tracestate",
                                                "x-request-id"}));
}

TEST(Propagation, BothAgreeing) {
  const PropagationResult r = decide({{"traceparent", kTpUnsampled},
                                      {"x-b3-traceid", std::string(kTraceHex)},
                                      {"x-b3-spanid", std::string(kSpanHex)},
                                      {"x-b3-sampled", "0"}});
  expectConsistent(r);
  EXPECT_FALSE(r.incoming().conflict);
  EXPECT_EQ(r.traceId(), kTraceHex);
  EXPECT_FALSE(r.sampled());
}

TEST(Propagation, BothDisagreeingTraceparentWins) {
  const PropagationResult r = decide({{"x-b3-traceid", "0af7651916cd43dd8448eb211c80319c"},
                                      {"x-b3-spanid", "b7ad6b7169203331"},
                                      {"x-b3-sampled", "0"},
                                      {"traceparent", kTp},
                                      {"tracestate", "a=1"}});
  expectConsistent(r);
  EXPECT_TRUE(r.incoming().conflict);
  EXPECT_EQ(r.incoming().source, ContextSource::kTraceparent);
  EXPECT_EQ(r.traceId(), kTraceHex);
  EXPECT_EQ(r.parentSpanId(), kSpanHex);
  EXPECT_TRUE(r.sampled());
  EXPECT_EQ(r.valueOf(TraceHeader::kTracestate), "a=1");
}

TEST(Propagation, DebugIsCarriedAsFlagsNotSampled) {
  const PropagationResult r =
      decide({{"b3", std::string(kTraceHex) + "-" + std::string(kSpanHex) + "-d"}});
  expectConsistent(r);
  const auto m = added(r);
  EXPECT_EQ(m.at("x-b3-flags"), "1");
  EXPECT_FALSE(m.contains("x-b3-sampled"));
  EXPECT_EQ(m.at("traceparent").substr(53), "01");
  EXPECT_TRUE(r.context().debug);
}

TEST(Propagation, DeferredDecisionIsMadeHere) {
  TracingSettings s;
  s.sample_rate = 1.0;
  const PropagationResult r =
      decide({{"x-b3-traceid", std::string(kTraceHex)}, {"x-b3-spanid", std::string(kSpanHex)}}, s);
  expectConsistent(r);
  EXPECT_TRUE(r.continued());
  EXPECT_TRUE(r.sampled());
  EXPECT_EQ(r.valueOf(TraceHeader::kB3Sampled), "1");
}

TEST(Propagation, SamplingOnlyContextKeepsTheDecisionWithNewIds) {
  TracingSettings s;
  s.sample_rate = 1.0;
  const PropagationResult r = decide({{"b3", "0"}}, s);
  expectConsistent(r);
  EXPECT_FALSE(r.continued());
  EXPECT_FALSE(r.sampled());
  EXPECT_TRUE(r.parentSpanId().empty());
  EXPECT_TRUE(std::regex_match(std::string(r.traceId()), kHex32));
}

TEST(Propagation, NewSpanEveryRequest) {
  const Fields f = {{"traceparent", kTp}};
  IncomingTraceHeaders in;
  for (const auto& [n, v] : f) in.offer(n, v);
  IdGenerator ids(77);
  PropagationResult r;
  std::unordered_set<std::string> spans;
  for (int i = 0; i < 10000; ++i) {
    decidePropagation(TracingSettings{}, in, ids, r);
    EXPECT_EQ(r.traceId(), kTraceHex);
    spans.emplace(r.spanId());
  }
  EXPECT_EQ(spans.size(), 10000u);
}

struct MalformedCase {
  const char* name;
  Fields fields;
  uint8_t malformed;
};
void PrintTo(const MalformedCase& c, std::ostream* os) {
  *os << c.name;
}

class PropagationMalformed : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(PropagationMalformed, IsReplacedNeverForwarded) {
  const auto& c = GetParam();
  const PropagationResult r = decide(c.fields);
  expectConsistent(r);
  EXPECT_FALSE(r.continued());
  EXPECT_EQ(r.malformed(), c.malformed);
  const auto m = added(r);
  for (const auto& [name, value] : c.fields) {
    EXPECT_TRUE(r.removes(name)) << name;
    for (const auto& [out_name, out_value] : m) {
      if (value.size() >= 8) {
        EXPECT_EQ(out_value.find(value), std::string::npos) << out_name;
      }
    }
  }
  EXPECT_FALSE(m.contains("tracestate"));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PropagationMalformed,
    ::testing::Values(
        MalformedCase{"traceparent_version_ff",
                      {{"traceparent", "ff" + kTp.substr(2)}, {"tracestate", "a=1"}},
                      Malformed::kTraceparent},
        MalformedCase{"traceparent_uppercase",
                      {{"traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}},
                      Malformed::kTraceparent},
        MalformedCase{"traceparent_zero_trace",
                      {{"traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"}},
                      Malformed::kTraceparent},
        MalformedCase{
            "traceparent_crlf", {{"traceparent", kTp + "\r\nx-evil: 1"}}, Malformed::kTraceparent},
        MalformedCase{"b3_single_garbage", {{"b3", "not-a-context"}}, Malformed::kB3Single},
        MalformedCase{"b3_multi_missing_span",
                      {{"x-b3-traceid", std::string(kTraceHex)}},
                      Malformed::kB3Multi},
        MalformedCase{"b3_multi_bad_sampled",
                      {{"x-b3-traceid", std::string(kTraceHex)},
                       {"x-b3-spanid", std::string(kSpanHex)},
                       {"x-b3-sampled", "maybe"}},
                      Malformed::kB3Multi},
        MalformedCase{"all_three",
                      {{"traceparent", "00-zz"}, {"b3", "q"}, {"x-b3-spanid", "1"}},
                      Malformed::kTraceparent | Malformed::kB3Single | Malformed::kB3Multi},
        MalformedCase{
            "bad_request_id", {{"x-request-id", "has space and\ttab"}}, Malformed::kRequestId}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Propagation, TracestateWithoutTraceparentIsDropped) {
  const PropagationResult r = decide({{"x-b3-traceid", std::string(kTraceHex)},
                                      {"x-b3-spanid", std::string(kSpanHex)},
                                      {"tracestate", "a=1"}});
  expectConsistent(r);
  EXPECT_TRUE(r.removes("tracestate"));
  EXPECT_TRUE(r.valueOf(TraceHeader::kTracestate).empty());
  EXPECT_EQ(r.malformed(), 0);
}

TEST(Propagation, MalformedTracestateIsDroppedAndCounted) {
  const PropagationResult r = decide({{"traceparent", kTp}, {"tracestate", "a=1,a=2"}});
  expectConsistent(r);
  EXPECT_TRUE(r.continued());  // the traceparent itself is fine
  EXPECT_EQ(r.malformed(), Malformed::kTracestate);
  EXPECT_TRUE(r.valueOf(TraceHeader::kTracestate).empty());

  Fields many = {{"traceparent", kTp}};
  for (std::size_t i = 0; i <= IncomingTraceHeaders::kMaxTraceStateFields; ++i) {
    many.emplace_back("tracestate", "k" + std::to_string(i) + "=v");
  }
  const PropagationResult o = decide(many);
  EXPECT_EQ(o.malformed(), Malformed::kTracestate);
  EXPECT_TRUE(o.valueOf(TraceHeader::kTracestate).empty());
}

TEST(Propagation, EmptyTracestateIsNotSent) {
  const PropagationResult r = decide({{"traceparent", kTp}, {"tracestate", ""}});
  expectConsistent(r);
  EXPECT_EQ(r.malformed(), 0);
  EXPECT_FALSE(added(r).contains("tracestate"));
}

TEST(Propagation, B3OnlyListener) {
  TracingSettings s;
  s.propagate_w3c = false;
  const PropagationResult r = decide({{"traceparent", kTp}, {"tracestate", "a=1"}}, s);
  expectConsistent(r);
  EXPECT_EQ(r.traceId(), kTraceHex);  // still read, only not written
  EXPECT_EQ(names(r), (std::vector<std::string>{"x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
                                                "x-b3-sampled", "x-request-id"}));
  EXPECT_TRUE(r.removes("traceparent"));
  EXPECT_TRUE(r.removes("tracestate"));
}

TEST(Propagation, W3cOnlyListener) {
  TracingSettings s;
  s.propagate_b3 = false;
  const PropagationResult r = decide({{"x-b3-traceid", std::string(kTraceHex)},
                                      {"x-b3-spanid", std::string(kSpanHex)},
                                      {"x-b3-sampled", "1"}},
                                     s);
  expectConsistent(r);
  EXPECT_EQ(r.traceId(), kTraceHex);
  EXPECT_EQ(names(r), (std::vector<std::string>{"traceparent", "x-request-id"}));
  EXPECT_TRUE(r.removes("x-b3-traceid"));
  EXPECT_TRUE(r.removes("b3"));
  EXPECT_TRUE(r.sampled());
}

TEST(Propagation, NoFormatsLeavesTraceHeadersAlone) {
  TracingSettings s;
  s.propagate_b3 = false;
  s.propagate_w3c = false;
  const PropagationResult r = decide({{"traceparent", "garbage"}, {"x-request-id", "abc"}}, s);
  expectConsistent(r);
  EXPECT_FALSE(r.removes("traceparent"));
  EXPECT_FALSE(r.removes("x-b3-traceid"));
  EXPECT_TRUE(r.removes("x-request-id"));
  EXPECT_TRUE(r.traceId().empty());
  EXPECT_EQ(r.malformed(), 0);
  EXPECT_EQ(names(r), (std::vector<std::string>{"x-request-id"}));
  EXPECT_EQ(r.requestId(), "abc");
}

TEST(Propagation, RequestIdKeptWhenValid) {
  const PropagationResult r = decide({{"X-Request-Id", " req-42 "}});
  expectConsistent(r);
  EXPECT_EQ(r.requestId(), "req-42");
  EXPECT_EQ(r.responseRequestId(), "req-42");
  EXPECT_EQ(r.valueOf(TraceHeader::kRequestId), "req-42");
  EXPECT_EQ(r.malformed(), 0);
  const std::string max(kMaxRequestIdLen, 'r');
  EXPECT_EQ(decide({{"x-request-id", max}}).requestId(), max);
}

TEST(Propagation, RequestIdRegeneratedWhenInvalid) {
  for (const Fields& f :
       std::vector<Fields>{{{"x-request-id", ""}},
                           {{"x-request-id", "a b"}},
                           {{"x-request-id", "a\r\nx-evil: 1"}},
                           {{"x-request-id", std::string(kMaxRequestIdLen + 1, 'r')}},
                           {{"x-request-id", "\"quoted\""}},
                           {{"x-request-id", "one"}, {"x-request-id", "two"}}}) {
    const PropagationResult r = decide(f);
    expectConsistent(r);
    EXPECT_TRUE(std::regex_match(std::string(r.requestId()), kUuidRe)) << f[0].second;
    EXPECT_EQ(r.responseRequestId(), r.requestId());
    EXPECT_EQ(r.malformed(), Malformed::kRequestId) << f[0].second;
  }
}

TEST(Propagation, RequestIdOff) {
  TracingSettings s;
  s.request_id = false;
  PropagationResult r = decide({{"x-request-id", "client-id"}}, s);
  expectConsistent(r);
  EXPECT_FALSE(r.removes("x-request-id"));
  EXPECT_FALSE(added(r).contains("x-request-id"));
  EXPECT_EQ(r.requestId(), "client-id");  // still logged
  EXPECT_TRUE(r.responseRequestId().empty());
  r = decide({{"x-request-id", "bad id"}}, s);
  EXPECT_TRUE(r.requestId().empty());
  EXPECT_EQ(r.malformed(), 0);  // passed through untouched, nothing replaced
  r = decide({}, s);
  EXPECT_TRUE(r.requestId().empty());
}

TEST(Propagation, DeterministicWithASeed) {
  const Fields f = {{"traceparent", kTp}};
  const PropagationResult a = decide(f, {}, 5);
  const PropagationResult b = decide(f, {}, 5);
  const PropagationResult c = decide(f, {}, 6);
  EXPECT_EQ(added(a), added(b));
  EXPECT_NE(a.spanId(), c.spanId());
}

TEST(Propagation, ResultIsASelfContainedValue) {
  auto fields = std::make_unique<Fields>(
      Fields{{"traceparent", kTp}, {"tracestate", "a=1"}, {"x-request-id", "rid-1"}});
  std::unique_ptr<PropagationResult> original =
      std::make_unique<PropagationResult>(decide(*fields));
  const auto before = added(*original);
  PropagationResult copy = *original;
  original.reset();
  fields.reset();  // the request's header storage is gone too
  EXPECT_EQ(added(copy), before);
  EXPECT_EQ(copy.valueOf(TraceHeader::kTracestate), "a=1");
  EXPECT_EQ(copy.requestId(), "rid-1");
}

TEST(Propagation, ReusedResultIsReset) {
  IdGenerator ids(3);
  PropagationResult r;
  const Fields with = {{"traceparent", kTp}, {"tracestate", "a=1"}, {"b3", "x"}};
  IncomingTraceHeaders in;
  for (const auto& [n, v] : with) in.offer(n, v);
  decidePropagation(TracingSettings{}, in, ids, r);
  EXPECT_EQ(r.headerCount(), 7u);
  decidePropagation(TracingSettings{}, IncomingTraceHeaders{}, ids, r);
  expectConsistent(r);
  EXPECT_EQ(r.headerCount(), 5u);
  EXPECT_FALSE(r.continued());
  EXPECT_EQ(r.malformed(), 0);
  EXPECT_TRUE(r.valueOf(TraceHeader::kTracestate).empty());
  EXPECT_TRUE(r.parentSpanId().empty());
}

TEST(Propagation, HeaderOutOfRangeIsEmpty) {
  const PropagationResult r = decide({});
  EXPECT_TRUE(r.header(r.headerCount()).name.empty());
  EXPECT_TRUE(r.valueOf(TraceHeader::kB3Single).empty());
}

TEST(TracingStats, RecordsOutcomes) {
  TracingStats stats;
  TracingSettings always;
  always.sample_rate = 1.0;
  recordPropagation(stats, decide({}, always));
  recordPropagation(stats, decide({{"traceparent", kTp}}));
  recordPropagation(stats, decide({{"traceparent", "x"}, {"b3", "y"}, {"x-request-id", "a b"}}));
  recordPropagation(stats, decide({{"traceparent", kTp}, {"b3", "0"}, {"tracestate", "A=1"}}));
  EXPECT_EQ(stats.started.value(), 2u);
  EXPECT_EQ(stats.continued.value(), 2u);
  EXPECT_GE(stats.sampled.value(), 3u);  // the rate-1 one and both continued sampled ones
  EXPECT_EQ(stats.malformed_traceparent.value(), 1u);
  EXPECT_EQ(stats.malformed_b3_single.value(), 1u);
  EXPECT_EQ(stats.malformed_b3_multi.value(), 0u);
  EXPECT_EQ(stats.malformed_tracestate.value(), 1u);
  EXPECT_EQ(stats.invalid_request_id.value(), 1u);
  EXPECT_EQ(stats.conflicts.value(), 1u);
  EXPECT_EQ(stats.dropped_invalid.value(), 0u);
}

}  // namespace
}  // namespace pilotfish::tracing
