#include "pilotfish/tracing/trace_state.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace pilotfish::tracing {
namespace {

TEST(TraceStateKey, Grammar) {
  for (std::string_view k :
       {"a", "congo", "rojo", "a0_-*/", "tenant@sys", "0tenant@s", "t@s1_-*/"}) {
    EXPECT_TRUE(isValidTraceStateKey(k)) << k;
  }
  EXPECT_TRUE(isValidTraceStateKey(std::string(256, 'a')));
  EXPECT_FALSE(isValidTraceStateKey(std::string(257, 'a')));
  EXPECT_TRUE(isValidTraceStateKey(std::string(241, 't') + "@s"));
  EXPECT_FALSE(isValidTraceStateKey(std::string(242, 't') + "@s"));
  EXPECT_TRUE(isValidTraceStateKey("t@" + std::string(14, 's')));
  EXPECT_FALSE(isValidTraceStateKey("t@" + std::string(15, 's')));
  for (std::string_view k : {"", "A", "Congo", "0abc", "_a", "a b", "a=b", "a@", "@s", "a@0s",
                             "a@@b", "a@b@c", "a.b", "a@B"}) {
    EXPECT_FALSE(isValidTraceStateKey(k)) << k;
  }
}

TEST(TraceStateValue, Grammar) {
  for (std::string_view v : {"t61rcWkgMzE", "00f067aa0ba902b7", "a b", "!", "~", " x"}) {
    EXPECT_TRUE(isValidTraceStateValue(v)) << v;
  }
  EXPECT_TRUE(isValidTraceStateValue(std::string(256, 'v')));
  EXPECT_FALSE(isValidTraceStateValue(std::string(257, 'v')));
  for (std::string_view v : {"", "x ", "a,b", "a=b", "tab\there", "\x7f", "caf\xc3\xa9"}) {
    EXPECT_FALSE(isValidTraceStateValue(v)) << v;
  }
}

std::string normalise(std::vector<std::string_view> fields, bool* ok = nullptr) {
  TraceStateValue out;
  const bool valid = normaliseTraceState(fields, out);
  if (ok) *ok = valid;
  return valid ? std::string(out.view()) : std::string("<invalid>");
}

TEST(NormaliseTraceState, ValidListsPassUnchanged) {
  EXPECT_EQ(normalise({"congo=t61rcWkgMzE"}), "congo=t61rcWkgMzE");
  EXPECT_EQ(normalise({"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"}),
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
  // optional whitespace and empty members are kept as they came
  EXPECT_EQ(normalise({"a=1 ,\tb=2,,c=3"}), "a=1 ,\tb=2,,c=3");
  // field lines join with ','
  EXPECT_EQ(normalise({"a=1", " b=2 "}), "a=1,b=2");
  EXPECT_EQ(normalise({"a=1", "", "b=2"}), "a=1,b=2");
}

TEST(NormaliseTraceState, EmptyListIsValidButNotSent) {
  bool ok = false;
  EXPECT_EQ(normalise({""}, &ok), "");
  EXPECT_TRUE(ok);
  EXPECT_EQ(normalise({" , ,"}, &ok), "");
  EXPECT_TRUE(ok);
  EXPECT_EQ(normalise({}, &ok), "");
  EXPECT_TRUE(ok);
}

TEST(NormaliseTraceState, InvalidListsAreDiscardedWhole) {
  for (std::vector<std::string_view> f :
       std::vector<std::vector<std::string_view>>{{"a"},
                                                  {"a="},
                                                  {"=1"},
                                                  {"A=1"},
                                                  {"a=1,b"},
                                                  {"a=1,a=2"},
                                                  {"a=1", "a=2"},
                                                  {"a=1\r\nX-Evil: 1"},
                                                  {"a=1;b=2"},
                                                  {"a=b=c"},
                                                  {"a=\x01"}}) {
    bool ok = true;
    normalise(f, &ok);
    EXPECT_FALSE(ok) << (f.empty() ? "" : f[0]);
  }
}

std::string members(int n, int value_len, char first = 'k') {
  std::string s;
  for (int i = 0; i < n; ++i) {
    if (i) s += ',';
    s += first;
    s += std::to_string(i);
    s += '=';
    s += std::string(static_cast<std::size_t>(value_len), 'v');
  }
  return s;
}

TEST(NormaliseTraceState, AtMost32Members) {
  bool ok = false;
  const std::string m32 = members(32, 1);
  EXPECT_EQ(normalise({m32}, &ok), m32);
  EXPECT_TRUE(ok);
  const std::string m33 = members(33, 1);
  normalise({m33}, &ok);
  EXPECT_FALSE(ok);
}

TEST(NormaliseTraceState, LongListsDropLongMembersFirstThenFromTheEnd) {
  // 5 members of ~100 chars (total > 512) plus one of 200 chars in the middle.
  const std::string small = members(5, 96);  // "k0=" + 96 = 99 chars each
  const std::string big = "big=" + std::string(200, 'b');
  const std::string in = "k0=" + std::string(96, 'v') + "," + big + "," + small.substr(100);
  ASSERT_GT(in.size(), kMaxTraceStateLen);
  const std::string out = normalise({in});
  EXPECT_EQ(out, small);  // the big one went first; the rest fits (5*99+4 = 499)
  EXPECT_LE(out.size(), kMaxTraceStateLen);

  // No long member: drop from the end until it fits.
  const std::string many = members(8, 96);  // 8*99+7 = 799
  const std::string cut = normalise({many});
  EXPECT_EQ(cut, members(5, 96));
}

TEST(NormaliseTraceState, ExactlyTheLimitPassesUnchanged) {
  // a value is at most 256 chars, so the limit is reached with several members
  const std::string m = members(5, 96) + ",z=" + std::string(kMaxTraceStateLen - 499 - 3, 'z');
  ASSERT_EQ(m.size(), kMaxTraceStateLen);
  EXPECT_EQ(normalise({m}), m);
}

}  // namespace
}  // namespace pilotfish::tracing
