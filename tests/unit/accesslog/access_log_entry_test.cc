#include "pilotfish/accesslog/access_log_entry.h"

#include <gtest/gtest.h>

#include <string>

namespace pilotfish::accesslog {
namespace {

TEST(AccessLogEntry, StartsEmpty) {
  AccessLogEntry e;
  for (std::size_t i = 0; i < kFieldCount; ++i) EXPECT_FALSE(e.has(Field(i)));
  EXPECT_EQ(e.string(Field::kPath), "");
  EXPECT_EQ(e.number(Field::kStatus), 0u);
  EXPECT_EQ(e.tsUs(), 0);
  EXPECT_FALSE(e.truncated());
  EXPECT_EQ(e.arenaUsed(), 0u);
}

TEST(AccessLogEntry, HoldsEveryField) {
  AccessLogEntry e;
  e.setTsUs(1714566896123456);
  e.setListener("ingress");
  e.setMethod("GET");
  e.setAuthority("api.example.com:8080");
  e.setPath("/v1/items?id=7");
  e.setProtocol("HTTP/1.1");
  e.setStatus(200);
  e.setBytesIn(123);
  e.setBytesOut(4567);
  e.setDurationUs(890);
  e.setUpstreamAddress("10.0.0.7:80");
  e.setUpstreamTimeUs(650);
  e.setTraceId("4bf92f3577b34da6a3ce929d0e0e4736");
  e.setSpanId("00f067aa0ba902b7");
  e.setRequestId("f81d4fae-7dec-41d0-a765-00a0c91e6bf6");
  e.setError("upstream_timeout");
  e.setCluster("items");
  for (std::size_t i = 0; i < kFieldCount; ++i) EXPECT_TRUE(e.has(Field(i))) << i;
  EXPECT_EQ(e.tsUs(), 1714566896123456);
  EXPECT_EQ(e.string(Field::kListener), "ingress");
  EXPECT_EQ(e.string(Field::kMethod), "GET");
  EXPECT_EQ(e.string(Field::kAuthority), "api.example.com:8080");
  EXPECT_EQ(e.string(Field::kPath), "/v1/items?id=7");
  EXPECT_EQ(e.string(Field::kProtocol), "HTTP/1.1");
  EXPECT_EQ(e.number(Field::kStatus), 200u);
  EXPECT_EQ(e.number(Field::kBytesIn), 123u);
  EXPECT_EQ(e.number(Field::kBytesOut), 4567u);
  EXPECT_EQ(e.number(Field::kDurationUs), 890u);
  EXPECT_EQ(e.string(Field::kUpstreamAddress), "10.0.0.7:80");
  EXPECT_EQ(e.number(Field::kUpstreamTimeUs), 650u);
  EXPECT_EQ(e.string(Field::kTraceId), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(e.string(Field::kSpanId), "00f067aa0ba902b7");
  EXPECT_EQ(e.string(Field::kRequestId), "f81d4fae-7dec-41d0-a765-00a0c91e6bf6");
  EXPECT_EQ(e.string(Field::kError), "upstream_timeout");
  EXPECT_EQ(e.string(Field::kCluster), "items");
  EXPECT_FALSE(e.truncated());
}

TEST(AccessLogEntry, TsFromTimePoint) {
  AccessLogEntry e;
  std::chrono::system_clock::time_point t{std::chrono::microseconds(1714566896123456)};
  e.setTs(t);
  EXPECT_EQ(e.tsUs(), 1714566896123456);
}

TEST(AccessLogEntry, WrongKindSettersAreIgnored) {
  AccessLogEntry e;
  e.setNumber(Field::kPath, 5);
  e.setString(Field::kStatus, "200");
  e.setNumber(Field::kTs, 5);
  EXPECT_FALSE(e.has(Field::kPath));
  EXPECT_FALSE(e.has(Field::kStatus));
  EXPECT_FALSE(e.has(Field::kTs));
  EXPECT_EQ(e.string(Field::kStatus), "");
  EXPECT_EQ(e.number(Field::kPath), 0u);
}

TEST(AccessLogEntry, EmptyStringIsPresent) {
  AccessLogEntry e;
  e.setPath("");
  EXPECT_TRUE(e.has(Field::kPath));
  EXPECT_EQ(e.string(Field::kPath), "");
  e.unset(Field::kPath);
  EXPECT_FALSE(e.has(Field::kPath));
}

TEST(AccessLogEntry, BinaryBytesAreKept) {
  AccessLogEntry e;
  std::string v("a\0b\xff\n", 5);
  e.setPath(v);
  EXPECT_EQ(e.string(Field::kPath), v);
}

TEST(AccessLogEntry, LongValueIsCutAtItsCap) {
  AccessLogEntry e;
  std::size_t cap = AccessLogEntry::maxLength(Field::kPath);
  e.setPath(std::string(cap + 100, 'a'));
  EXPECT_EQ(e.string(Field::kPath), std::string(cap, 'a'));
  EXPECT_TRUE(e.truncated());
}

TEST(AccessLogEntry, CutNeverSplitsAUtf8Character) {
  AccessLogEntry e;
  std::size_t cap = AccessLogEntry::maxLength(Field::kMethod);
  // "é" (2 bytes) straddles the cap, "€" (3 bytes) and "😀" (4 bytes) too.
  for (std::string ch : {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"}) {
    std::string v(cap - 1, 'x');
    v += ch;
    e.setMethod(v);
    EXPECT_EQ(e.string(Field::kMethod), std::string(cap - 1, 'x')) << ch.size();
    EXPECT_TRUE(e.truncated());
  }
  // Exactly at the cap: kept whole.
  AccessLogEntry f;
  std::string v(cap - 2, 'x');
  v += "\xc3\xa9";
  f.setMethod(v);
  EXPECT_EQ(f.string(Field::kMethod), v);
  EXPECT_FALSE(f.truncated());
}

TEST(AccessLogEntry, EveryFieldAtItsCapFits) {
  AccessLogEntry e;
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    Field f = Field(i);
    if (!isStringField(f)) continue;
    e.setString(f, std::string(AccessLogEntry::maxLength(f), static_cast<char>('a' + i)));
  }
  EXPECT_FALSE(e.truncated());
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    Field f = Field(i);
    if (!isStringField(f)) continue;
    EXPECT_EQ(e.string(f), std::string(AccessLogEntry::maxLength(f), static_cast<char>('a' + i)));
  }
  EXPECT_LE(e.arenaUsed(), AccessLogEntry::kArenaSize);
}

TEST(AccessLogEntry, ResettingReusesOrAppendsButNeverOverflows) {
  AccessLogEntry e;
  e.setListener("long-listener-name");
  std::size_t used = e.arenaUsed();
  e.setListener("short");  // fits in the old bytes
  EXPECT_EQ(e.arenaUsed(), used);
  EXPECT_EQ(e.string(Field::kListener), "short");
  e.setCluster("c");
  // Growing values again and again: the arena fills up, values are cut, nothing overflows.
  for (std::size_t n = 1; n <= 1024; ++n) {
    e.setPath(std::string(n, 'p'));
    ASSERT_LE(e.arenaUsed(), AccessLogEntry::kArenaSize);
    std::string_view got = e.string(Field::kPath);
    ASSERT_EQ(got, std::string(got.size(), 'p'));
  }
  EXPECT_TRUE(e.truncated());
  EXPECT_EQ(e.string(Field::kListener), "short");
  EXPECT_EQ(e.string(Field::kCluster), "c");
}

TEST(AccessLogEntry, CopyAndAssign) {
  AccessLogEntry a;
  a.setTsUs(42);
  a.setPath("/a");
  a.setStatus(404);
  a.setError("no_route");
  AccessLogEntry b(a);
  EXPECT_EQ(b.string(Field::kPath), "/a");
  EXPECT_EQ(b.number(Field::kStatus), 404u);
  EXPECT_EQ(b.tsUs(), 42);
  EXPECT_EQ(b.string(Field::kError), "no_route");

  AccessLogEntry c;  // a dirty target: every field set, then overwritten
  c.setListener("x");
  c.setPath(std::string(500, 'z'));
  c.setCluster("k");
  c.setBytesIn(7);
  c = a;
  EXPECT_EQ(c.string(Field::kPath), "/a");
  EXPECT_FALSE(c.has(Field::kListener));
  EXPECT_FALSE(c.has(Field::kCluster));
  EXPECT_FALSE(c.has(Field::kBytesIn));
  EXPECT_EQ(c.arenaUsed(), a.arenaUsed());
  c = c;  // self-assignment
  EXPECT_EQ(c.string(Field::kPath), "/a");
}

TEST(AccessLogEntry, Clear) {
  AccessLogEntry e;
  e.setPath(std::string(2000, 'x'));
  e.setStatus(1);
  e.clear();
  for (std::size_t i = 0; i < kFieldCount; ++i) EXPECT_FALSE(e.has(Field(i)));
  EXPECT_EQ(e.arenaUsed(), 0u);
  EXPECT_FALSE(e.truncated());
}

}  // namespace
}  // namespace pilotfish::accesslog
