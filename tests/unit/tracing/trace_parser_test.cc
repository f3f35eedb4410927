#include "pilotfish/tracing/trace_parser.h"

#include <gtest/gtest.h>

#include <ostream>

#include <string>
#include <utility>
#include <vector>

#include "unit/tracing/printable.h"

namespace pilotfish::tracing {
namespace {

constexpr TraceId kTrace{0x4bf92f3577b34da6ULL, 0xa3ce929d0e0e4736ULL};
constexpr uint64_t kSpan = 0x00f067aa0ba902b7ULL;
constexpr uint64_t kParent = 0x05e3ac9a4f6e3b90ULL;
constexpr std::string_view kTraceHex = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kSpanHex = "00f067aa0ba902b7";
constexpr std::string_view kParentHex = "05e3ac9a4f6e3b90";

std::string cat(std::initializer_list<std::string_view> parts) {
  std::string s;
  for (auto p : parts) s += p;
  return s;
}

// ---- traceparent ----------------------------------------------------------------------------

struct TpValid {
  std::string value;
  bool sampled;
};
void PrintTo(const TpValid& c, std::ostream* os) {
  *os << testing::printable(c.value, 64);
}

class TraceparentValid : public ::testing::TestWithParam<TpValid> {};

TEST_P(TraceparentValid, Parses) {
  const auto& c = GetParam();
  auto ctx = parseTraceparent(c.value);
  ASSERT_TRUE(ctx.has_value()) << c.value;
  EXPECT_EQ(ctx->trace_id, kTrace);
  EXPECT_EQ(ctx->span_id, kSpan);
  EXPECT_EQ(ctx->sampled, c.sampled);
  EXPECT_FALSE(ctx->debug);
  EXPECT_FALSE(ctx->parent_span_id.has_value());
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TraceparentValid,
    ::testing::Values(
        TpValid{cat({"00-", kTraceHex, "-", kSpanHex, "-01"}), true},
        TpValid{cat({"00-", kTraceHex, "-", kSpanHex, "-00"}), false},
        // unknown flag bits are ignored, bit 0 is sampled
        TpValid{cat({"00-", kTraceHex, "-", kSpanHex, "-09"}), true},
        TpValid{cat({"00-", kTraceHex, "-", kSpanHex, "-fe"}), false},
        // optional whitespace around the value
        TpValid{cat({" \t00-", kTraceHex, "-", kSpanHex, "-01 "}), true},
        // future versions: exactly 55 chars, or more after a '-'
        TpValid{cat({"01-", kTraceHex, "-", kSpanHex, "-01"}), true},
        TpValid{cat({"cc-", kTraceHex, "-", kSpanHex, "-01-what-the-future-will-be-like"}), true},
        TpValid{cat({"fe-", kTraceHex, "-", kSpanHex, "-00-"}), false}));

class TraceparentInvalid : public ::testing::TestWithParam<std::string> {};

TEST_P(TraceparentInvalid, Rejected) {
  EXPECT_EQ(parseTraceparent(GetParam()), std::nullopt) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TraceparentInvalid,
    ::testing::Values(std::string(""), std::string("00"),
                      // version ff is forbidden, versions must be lowercase hex
                      cat({"ff-", kTraceHex, "-", kSpanHex, "-01"}),
                      cat({"FE-", kTraceHex, "-", kSpanHex, "-01"}),
                      cat({"0x-", kTraceHex, "-", kSpanHex, "-01"}),
                      // version 00 must be exactly 55 chars
                      cat({"00-", kTraceHex, "-", kSpanHex, "-01-"}),
                      cat({"00-", kTraceHex, "-", kSpanHex, "-01-extra"}),
                      cat({"00-", kTraceHex, "-", kSpanHex, "-010"}),
                      // a future version continues only after '-'
                      cat({"cc-", kTraceHex, "-", kSpanHex, "-01.what"}),
                      cat({"cc-", kTraceHex, "-", kSpanHex, "-0"}),
                      // all-zero IDs
                      cat({"00-00000000000000000000000000000000-", kSpanHex, "-01"}),
                      cat({"00-", kTraceHex, "-0000000000000000-01"}),
                      // uppercase hex anywhere
                      cat({"00-4BF92F3577B34DA6A3CE929D0E0E4736-", kSpanHex, "-01"}),
                      cat({"00-", kTraceHex, "-00F067AA0BA902B7-01"}),
                      cat({"00-", kTraceHex, "-", kSpanHex, "-0A"}),
                      // wrong lengths
                      cat({"00-", kTraceHex.substr(1), "-", kSpanHex, "-01"}),
                      cat({"00-", kTraceHex, "0-", kSpanHex.substr(1), "-01"}),
                      cat({"00-", kTraceHex, "-", kSpanHex, "-1"}),
                      cat({"0-", kTraceHex, "-", kSpanHex, "-010"}),
                      // a 64-bit trace ID is not allowed in W3C
                      cat({"00-a3ce929d0e0e4736-", kSpanHex, "-01"}),
                      // wrong separators, non-hex chars
                      cat({"00_", kTraceHex, "-", kSpanHex, "-01"}),
                      cat({"00-", kTraceHex, "_", kSpanHex, "-01"}),
                      cat({"00-", kTraceHex, "-", kSpanHex, "_01"}),
                      cat({"00-", kTraceHex.substr(0, 31), "g-", kSpanHex, "-01"}),
                      cat({"00-", kTraceHex, "-", kSpanHex.substr(0, 15), "x-01"}),
                      cat({"00-", kTraceHex, "-", kSpanHex, "-0\n"}),
                      cat({"00- ", kTraceHex.substr(1), "-", kSpanHex, "-01"})));

// ---- b3 single ------------------------------------------------------------------------------

struct B3Case {
  std::string value;
  TraceContext expected;
};
void PrintTo(const B3Case& c, std::ostream* os) {
  *os << testing::printable(c.value, 72);
}

class B3SingleValid : public ::testing::TestWithParam<B3Case> {};

TEST_P(B3SingleValid, Parses) {
  auto ctx = parseB3Single(GetParam().value);
  ASSERT_TRUE(ctx.has_value()) << GetParam().value;
  EXPECT_EQ(*ctx, GetParam().expected) << GetParam().value;
}

const TraceId kPadded{0, 0xa3ce929d0e0e4736ULL};

INSTANTIATE_TEST_SUITE_P(
    Cases, B3SingleValid,
    ::testing::Values(
        B3Case{cat({kTraceHex, "-", kSpanHex}), {kTrace, kSpan, std::nullopt, std::nullopt, false}},
        B3Case{cat({kTraceHex, "-", kSpanHex, "-1"}), {kTrace, kSpan, std::nullopt, true, false}},
        B3Case{cat({kTraceHex, "-", kSpanHex, "-0"}), {kTrace, kSpan, std::nullopt, false, false}},
        B3Case{cat({kTraceHex, "-", kSpanHex, "-d"}), {kTrace, kSpan, std::nullopt, true, true}},
        B3Case{cat({kTraceHex, "-", kSpanHex, "-1-", kParentHex}),
               {kTrace, kSpan, kParent, true, false}},
        B3Case{cat({kTraceHex, "-", kSpanHex, "-", kParentHex}),
               {kTrace, kSpan, kParent, std::nullopt, false}},
        // 64-bit trace IDs are left-padded
        B3Case{cat({"a3ce929d0e0e4736-", kSpanHex, "-1"}),
               {kPadded, kSpan, std::nullopt, true, false}},
        B3Case{" 1\t", {TraceId{}, 0, std::nullopt, true, false}},
        B3Case{"0", {TraceId{}, 0, std::nullopt, false, false}},
        B3Case{"d", {TraceId{}, 0, std::nullopt, true, true}}));

class B3SingleInvalid : public ::testing::TestWithParam<std::string> {};

TEST_P(B3SingleInvalid, Rejected) {
  EXPECT_EQ(parseB3Single(GetParam()), std::nullopt) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, B3SingleInvalid,
    ::testing::Values(std::string(""), std::string("2"), std::string("D"), std::string("true"),
                      std::string(kTraceHex),  // no span
                      cat({kTraceHex, "-"}), cat({kTraceHex, "-", kSpanHex, "-"}),
                      cat({kTraceHex, "-", kSpanHex, "-x"}), cat({kTraceHex, "-", kSpanHex, "-11"}),
                      cat({kTraceHex, "-", kSpanHex, "-1-"}),
                      cat({kTraceHex, "-", kSpanHex, "-1-0"}),
                      cat({kTraceHex, "-", kSpanHex, "-1-", kParentHex, "-1"}),
                      cat({kTraceHex, "-", kSpanHex, "-1-0000000000000000"}),
                      cat({kTraceHex, "-", kSpanHex, "-", kParentHex, "-1"}),
                      cat({"00000000000000000000000000000000-", kSpanHex}),
                      cat({"0000000000000000-", kSpanHex}), cat({kTraceHex, "-0000000000000000"}),
                      cat({"4BF92F3577B34DA6A3CE929D0E0E4736-", kSpanHex}),
                      cat({kTraceHex, "-00F067AA0BA902B7"}),
                      cat({kTraceHex.substr(1), "-", kSpanHex}),  // 31 digits
                      cat({kTraceHex.substr(0, 20), "-", kSpanHex}),
                      cat({kTraceHex, "-", kSpanHex.substr(1)}), cat({kTraceHex, "--", kSpanHex}),
                      cat({kTraceHex, "-", kSpanHex, ",", kTraceHex, "-", kSpanHex})));

// ---- b3 multi -------------------------------------------------------------------------------

using Fields = std::vector<std::pair<std::string, std::string>>;

IncomingTraceHeaders headersOf(const Fields& fields) {
  IncomingTraceHeaders in;
  for (const auto& [n, v] : fields) in.offer(n, v);
  return in;
}

struct B3MultiCase {
  Fields fields;
  std::optional<TraceContext> expected;  // nullopt: malformed
};
void PrintTo(const B3MultiCase& c, std::ostream* os) {
  for (const auto& [n, v] : c.fields) *os << n << "=" << testing::printable(v, 34) << ";";
}

class B3Multi : public ::testing::TestWithParam<B3MultiCase> {};

TEST_P(B3Multi, Parses) {
  const Fields& f = GetParam().fields;  // keeps the strings alive for the views
  const IncomingTraceHeaders in = headersOf(f);
  EXPECT_EQ(parseB3Multi(in), GetParam().expected);
}

const std::string kT(kTraceHex), kS(kSpanHex), kP(kParentHex);

INSTANTIATE_TEST_SUITE_P(
    Cases, B3Multi,
    ::testing::Values(
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}},
                    TraceContext{kTrace, kSpan, std::nullopt, std::nullopt, false}},
        B3MultiCase{{{"X-B3-TraceId", kT},
                     {"X-B3-SpanId", kS},
                     {"X-B3-ParentSpanId", kP},
                     {"X-B3-Sampled", "1"}},
                    TraceContext{kTrace, kSpan, kParent, true, false}},
        B3MultiCase{
            {{"X-B3-TraceId", "a3ce929d0e0e4736"}, {"X-B3-SpanId", kS}, {"X-B3-Sampled", "0"}},
            TraceContext{kPadded, kSpan, std::nullopt, false, false}},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-Sampled", "true"}},
                    TraceContext{kTrace, kSpan, std::nullopt, true, false}},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-Sampled", "false"}},
                    TraceContext{kTrace, kSpan, std::nullopt, false, false}},
        // debug implies accept, even against X-B3-Sampled: 0
        B3MultiCase{
            {{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-Flags", "1"}, {"X-B3-Sampled", "0"}},
            TraceContext{kTrace, kSpan, std::nullopt, true, true}},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-Flags", "0"}},
                    TraceContext{kTrace, kSpan, std::nullopt, std::nullopt, false}},
        // sampling only
        B3MultiCase{{{"X-B3-Sampled", "0"}},
                    TraceContext{TraceId{}, 0, std::nullopt, false, false}},
        B3MultiCase{{{"X-B3-Flags", "1"}}, TraceContext{TraceId{}, 0, std::nullopt, true, true}},
        // first value wins (B3 spec)
        B3MultiCase{{{"X-B3-TraceId", kT},
                     {"X-B3-SpanId", kS},
                     {"X-B3-SpanId", "zzz"},
                     {"X-B3-Sampled", "1"},
                     {"X-B3-Sampled", "0"}},
                    TraceContext{kTrace, kSpan, std::nullopt, true, false}},
        // malformed
        B3MultiCase{{{"X-B3-TraceId", kT}}, std::nullopt},
        B3MultiCase{{{"X-B3-SpanId", kS}}, std::nullopt},
        B3MultiCase{{{"X-B3-ParentSpanId", kP}}, std::nullopt},
        B3MultiCase{{{"X-B3-ParentSpanId", kP}, {"X-B3-Sampled", "1"}}, std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-ParentSpanId", "0"}},
                    std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", "0000000000000000"}}, std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", "0000000000000000"}, {"X-B3-SpanId", kS}}, std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", "4BF92F3577B34DA6A3CE929D0E0E4736"}, {"X-B3-SpanId", kS}},
                    std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", kT.substr(2)}, {"X-B3-SpanId", kS}}, std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-Sampled", "yes"}},
                    std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-Sampled", "d"}},
                    std::nullopt},
        B3MultiCase{{{"X-B3-TraceId", kT}, {"X-B3-SpanId", kS}, {"X-B3-Flags", "2"}},
                    std::nullopt}));

// ---- precedence ------------------------------------------------------------------------------

const std::string kTp = cat({"00-", kTraceHex, "-", kSpanHex, "-01"});
const std::string kOtherTrace = "0af7651916cd43dd8448eb211c80319c";
const std::string kOtherSpan = "b7ad6b7169203331";
const TraceId kOther{0x0af7651916cd43ddULL, 0x8448eb211c80319cULL};
const uint64_t kOtherSpanId = 0xb7ad6b7169203331ULL;

struct PrecedenceCase {
  const char* name;
  Fields fields;
  ContextSource source;
  TraceId trace;
  uint64_t span;
  std::optional<bool> sampled;
  uint8_t malformed;
  bool conflict;
};
void PrintTo(const PrecedenceCase& c, std::ostream* os) {
  *os << c.name;
}

class Precedence : public ::testing::TestWithParam<PrecedenceCase> {};

TEST_P(Precedence, PicksTheRightSource) {
  const auto& c = GetParam();
  const IncomingTraceHeaders in = headersOf(c.fields);
  const ParsedTraceContext p = parseTraceContext(in);
  EXPECT_EQ(p.source, c.source);
  EXPECT_EQ(p.context.trace_id, c.trace);
  EXPECT_EQ(p.context.span_id, c.span);
  EXPECT_EQ(p.context.sampled, c.sampled);
  EXPECT_EQ(p.malformed, c.malformed);
  EXPECT_EQ(p.conflict, c.conflict);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Precedence,
    ::testing::Values(
        PrecedenceCase{
            "none", {{"host", "x"}}, ContextSource::kNone, {}, 0, std::nullopt, 0, false},
        PrecedenceCase{"w3c_only",
                       {{"traceparent", kTp}},
                       ContextSource::kTraceparent,
                       kTrace,
                       kSpan,
                       true,
                       0,
                       false},
        PrecedenceCase{"b3_multi_only",
                       {{"x-b3-traceid", kT}, {"x-b3-spanid", kS}, {"x-b3-sampled", "0"}},
                       ContextSource::kB3Multi,
                       kTrace,
                       kSpan,
                       false,
                       0,
                       false},
        PrecedenceCase{"b3_single_only",
                       {{"b3", cat({kTraceHex, "-", kSpanHex, "-1"})}},
                       ContextSource::kB3Single,
                       kTrace,
                       kSpan,
                       true,
                       0,
                       false},
        PrecedenceCase{"agreeing_both",
                       {{"traceparent", kTp},
                        {"x-b3-traceid", kT},
                        {"x-b3-spanid", kS},
                        {"x-b3-sampled", "1"}},
                       ContextSource::kTraceparent,
                       kTrace,
                       kSpan,
                       true,
                       0,
                       false},
        PrecedenceCase{"traceparent_wins_other_trace",
                       {{"traceparent", kTp},
                        {"x-b3-traceid", kOtherTrace},
                        {"x-b3-spanid", kOtherSpan},
                        {"x-b3-sampled", "1"}},
                       ContextSource::kTraceparent,
                       kTrace,
                       kSpan,
                       true,
                       0,
                       true},
        PrecedenceCase{"traceparent_wins_other_span",
                       {{"traceparent", kTp}, {"b3", cat({kTraceHex, "-", kOtherSpan, "-1"})}},
                       ContextSource::kTraceparent,
                       kTrace,
                       kSpan,
                       true,
                       0,
                       true},
        PrecedenceCase{"traceparent_wins_other_decision",
                       {{"traceparent", kTp}, {"b3", "0"}},
                       ContextSource::kTraceparent,
                       kTrace,
                       kSpan,
                       true,
                       0,
                       true},
        PrecedenceCase{"b3_single_beats_multi",
                       {{"b3", cat({kOtherTrace, "-", kOtherSpan, "-0"})},
                        {"x-b3-traceid", kT},
                        {"x-b3-spanid", kS}},
                       ContextSource::kB3Single,
                       kOther,
                       kOtherSpanId,
                       false,
                       0,
                       true},
        PrecedenceCase{"malformed_traceparent_falls_back_to_b3",
                       {{"traceparent", "00-garbage"}, {"x-b3-traceid", kT}, {"x-b3-spanid", kS}},
                       ContextSource::kB3Multi,
                       kTrace,
                       kSpan,
                       std::nullopt,
                       Malformed::kTraceparent,
                       false},
        PrecedenceCase{"malformed_b3_single_falls_back_to_multi",
                       {{"b3", "nonsense"}, {"x-b3-traceid", kT}, {"x-b3-spanid", kS}},
                       ContextSource::kB3Multi,
                       kTrace,
                       kSpan,
                       std::nullopt,
                       Malformed::kB3Single,
                       false},
        PrecedenceCase{"everything_malformed",
                       {{"traceparent", "ff"}, {"b3", "x"}, {"x-b3-traceid", kT}},
                       ContextSource::kNone,
                       {},
                       0,
                       std::nullopt,
                       Malformed::kTraceparent | Malformed::kB3Single | Malformed::kB3Multi,
                       false},
        PrecedenceCase{"repeated_traceparent_is_malformed",
                       {{"traceparent", kTp}, {"traceparent", kTp}},
                       ContextSource::kNone,
                       {},
                       0,
                       std::nullopt,
                       Malformed::kTraceparent,
                       false},
        PrecedenceCase{"repeated_b3_is_malformed",
                       {{"b3", "1"}, {"b3", "1"}},
                       ContextSource::kNone,
                       {},
                       0,
                       std::nullopt,
                       Malformed::kB3Single,
                       false},
        PrecedenceCase{
            "sampling_only_b3", {{"b3", "0"}}, ContextSource::kB3Single, {}, 0, false, 0, false},
        PrecedenceCase{"flags_zero_alone_is_nothing",
                       {{"x-b3-flags", "0"}},
                       ContextSource::kNone,
                       {},
                       0,
                       std::nullopt,
                       0,
                       false},
        PrecedenceCase{"padded_b3_64_agrees_with_traceparent",
                       {{"traceparent", "00-0000000000000000a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                        {"x-b3-traceid", "a3ce929d0e0e4736"},
                        {"x-b3-spanid", kS}},
                       ContextSource::kTraceparent,
                       kPadded,
                       kSpan,
                       true,
                       0,
                       false}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Precedence, AgreeingB3AddsDebugAndParent) {
  const Fields f = {{"traceparent", kTp},
                    {"b3", cat({kTraceHex, "-", kSpanHex, "-d-", kParentHex})}};
  const ParsedTraceContext p = parseTraceContext(headersOf(f));
  EXPECT_EQ(p.source, ContextSource::kTraceparent);
  EXPECT_FALSE(p.conflict);
  EXPECT_TRUE(p.context.debug);
  EXPECT_EQ(p.context.parent_span_id, kParent);
}

TEST(Precedence, DisagreeingB3AddsNothing) {
  const Fields f = {{"traceparent", kTp},
                    {"b3", cat({kTraceHex, "-", kOtherSpan, "-d-", kParentHex})}};
  const ParsedTraceContext p = parseTraceContext(headersOf(f));
  EXPECT_TRUE(p.conflict);
  EXPECT_FALSE(p.context.debug);
  EXPECT_FALSE(p.context.parent_span_id.has_value());
}

TEST(Precedence, SamplingOnlyDebugB3AgreesWithSampledTraceparent) {
  const Fields f = {{"traceparent", kTp}, {"b3", "d"}};
  const ParsedTraceContext p = parseTraceContext(headersOf(f));
  EXPECT_FALSE(p.conflict);
  EXPECT_TRUE(p.context.debug);
}

}  // namespace
}  // namespace pilotfish::tracing
