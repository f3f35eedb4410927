#include "pilotfish/tracing/trace_headers.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace pilotfish::tracing {
namespace {

TEST(TraceHeaders, NamesAreLowercaseAndClassifyBack) {
  for (std::size_t i = 0; i < kTraceHeaderCount; ++i) {
    const auto h = static_cast<TraceHeader>(i);
    const std::string_view name = traceHeaderName(h);
    for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;
    EXPECT_EQ(classifyTraceHeader(name), h) << name;
  }
}

TEST(TraceHeaders, ClassifyIsCaseInsensitive) {
  EXPECT_EQ(classifyTraceHeader("X-B3-TraceId"), TraceHeader::kB3TraceId);
  EXPECT_EQ(classifyTraceHeader("X-B3-SPANID"), TraceHeader::kB3SpanId);
  EXPECT_EQ(classifyTraceHeader("X-B3-ParentSpanId"), TraceHeader::kB3ParentSpanId);
  EXPECT_EQ(classifyTraceHeader("x-B3-sampled"), TraceHeader::kB3Sampled);
  EXPECT_EQ(classifyTraceHeader("X-B3-Flags"), TraceHeader::kB3Flags);
  EXPECT_EQ(classifyTraceHeader("B3"), TraceHeader::kB3Single);
  EXPECT_EQ(classifyTraceHeader("TraceParent"), TraceHeader::kTraceparent);
  EXPECT_EQ(classifyTraceHeader("TRACESTATE"), TraceHeader::kTracestate);
  EXPECT_EQ(classifyTraceHeader("X-Request-ID"), TraceHeader::kRequestId);
}

TEST(TraceHeaders, OtherNamesAreNotTracing) {
  for (std::string_view name :
       {"", "b", "b4", "host", "x-b3-traceidx", "x-b3-trace-id", "traceparents", "tracepar",
        "x-request-ids", "x-requestid", "content-length", "x-b3-spanix", "b3 ", " b3"}) {
    EXPECT_EQ(classifyTraceHeader(name), std::nullopt) << "'" << name << "'";
  }
}

TEST(IncomingTraceHeaders, OfferRecordsOnlyTracingHeaders) {
  IncomingTraceHeaders in;
  EXPECT_FALSE(in.offer("Host", "example.com"));
  EXPECT_TRUE(in.offer("X-B3-TraceId", "a"));
  EXPECT_TRUE(in.has(TraceHeader::kB3TraceId));
  EXPECT_FALSE(in.has(TraceHeader::kB3SpanId));
  EXPECT_EQ(in.get(TraceHeader::kB3TraceId), "a");
  EXPECT_EQ(in.get(TraceHeader::kB3SpanId), std::nullopt);
  EXPECT_TRUE(in.hasB3Multi());
  IncomingTraceHeaders only_b3;
  only_b3.offer("b3", "0");
  EXPECT_FALSE(only_b3.hasB3Multi());
}

TEST(IncomingTraceHeaders, EmptyValueIsPresent) {
  IncomingTraceHeaders in;
  in.offer("traceparent", "");
  EXPECT_TRUE(in.has(TraceHeader::kTraceparent));
  EXPECT_EQ(in.get(TraceHeader::kTraceparent), "");
}

TEST(IncomingTraceHeaders, RepeatsKeepTheFirstValueAndAreFlagged) {
  IncomingTraceHeaders in;
  in.offer("x-b3-sampled", "1");
  in.offer("X-B3-Sampled", "0");
  EXPECT_EQ(in.get(TraceHeader::kB3Sampled), "1");
  EXPECT_TRUE(in.repeated(TraceHeader::kB3Sampled));
  EXPECT_FALSE(in.repeated(TraceHeader::kB3TraceId));
}

TEST(IncomingTraceHeaders, TracestateLinesAccumulate) {
  IncomingTraceHeaders in;
  in.offer("tracestate", "a=1");
  in.offer("tracestate", "b=2");
  ASSERT_EQ(in.traceState().size(), 2u);
  EXPECT_EQ(in.traceState()[0], "a=1");
  EXPECT_EQ(in.traceState()[1], "b=2");
  EXPECT_FALSE(in.traceStateOverflow());
  for (std::size_t i = 2; i < IncomingTraceHeaders::kMaxTraceStateFields; ++i) {
    in.offer("tracestate", "c=3");
  }
  EXPECT_FALSE(in.traceStateOverflow());
  in.offer("tracestate", "d=4");
  EXPECT_TRUE(in.traceStateOverflow());
  EXPECT_EQ(in.traceState().size(), IncomingTraceHeaders::kMaxTraceStateFields);
}

TEST(IncomingTraceHeaders, FromLookup) {
  const std::map<std::string, std::string, std::less<>> headers = {
      {"traceparent", "tp"}, {"x-request-id", "rid"}, {"host", "h"}};
  int calls = 0;
  auto in = IncomingTraceHeaders::fromLookup(
      [&](std::string_view name) -> std::optional<std::string_view> {
        ++calls;
        auto it = headers.find(name);
        if (it == headers.end()) return std::nullopt;
        return std::string_view(it->second);
      });
  EXPECT_EQ(calls, static_cast<int>(kTraceHeaderCount));
  EXPECT_EQ(in.get(TraceHeader::kTraceparent), "tp");
  EXPECT_EQ(in.get(TraceHeader::kRequestId), "rid");
  EXPECT_FALSE(in.has(TraceHeader::kB3Single));
}

}  // namespace
}  // namespace pilotfish::tracing
