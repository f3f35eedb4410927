// The DNS message reader (src/discovery/dns_message.cc) and the SRV/A mapping
// (src/discovery/dns_answer.cc) on hand-made wire bytes.

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "discovery/dns_answer.h"
#include "discovery/dns_message.h"

namespace pilotfish::discovery::dns {
namespace {

// Builds a message byte by byte; names uncompressed unless written with ptr().
struct Wire {
  std::vector<uint8_t> b;
  Wire& u8(uint8_t v) {
    b.push_back(v);
    return *this;
  }
  Wire& u16(uint16_t v) { return u8(static_cast<uint8_t>(v >> 8)).u8(static_cast<uint8_t>(v)); }
  Wire& u32(uint32_t v) {
    return u16(static_cast<uint16_t>(v >> 16)).u16(static_cast<uint16_t>(v));
  }
  Wire& bytes(std::initializer_list<uint8_t> v) {
    b.insert(b.end(), v);
    return *this;
  }
  Wire& name(const std::string& n) {
    std::size_t start = 0;
    while (start < n.size()) {
      auto dot = n.find('.', start);
      if (dot == std::string::npos) dot = n.size();
      u8(static_cast<uint8_t>(dot - start));
      for (std::size_t i = start; i < dot; ++i) u8(static_cast<uint8_t>(n[i]));
      start = dot + 1;
    }
    return u8(0);
  }
  Wire& ptr(uint16_t offset) { return u16(static_cast<uint16_t>(0xC000 | offset)); }
  Wire& header(uint16_t qd, uint16_t an, uint16_t ns, uint16_t ar, uint16_t flags = 0x8180) {
    return u16(0x1234).u16(flags).u16(qd).u16(an).u16(ns).u16(ar);
  }
  // Record header after its name: type, class IN, ttl, rdlength.
  Wire& rr(uint16_t type, uint32_t ttl, uint16_t rdlength) {
    return u16(type).u16(kClassIn).u32(ttl).u16(rdlength);
  }
  std::span<const uint8_t> span() const { return b; }
};

constexpr uint16_t kQname = 12;  // offset of the question name right after the header

// SRV question for _web._tcp.example.com, then answers that point back into it.
Wire srvMessage() {
  Wire w;
  w.header(1, 2, 1, 2).name("_web._tcp.Example.COM").u16(kTypeSrv).u16(kClassIn);
  // answer 1: name = pointer to the question; target a.example.com (compressed suffix)
  w.ptr(kQname).rr(kTypeSrv, 30, 6 + 2 + 2);
  w.u16(10).u16(5).u16(8080).u8(1).u8('a').ptr(kQname + 10);  // "a" + "example.com"
  // answer 2: target b.example.com written out
  w.ptr(kQname).rr(kTypeSrv, 20, 6 + 15);
  w.u16(20).u16(0).u16(9090).name("b.example.com");
  // authority: SOA
  w.name("example.com").rr(kTypeSoa, 60, 2 + 20);
  w.u8(0).u8(0).u32(1).u32(2).u32(3).u32(4).u32(7);
  // additional: A for a.example.com, AAAA for b.example.com
  w.name("a.example.com").rr(kTypeA, 15, 4).bytes({10, 0, 0, 1});
  w.name("b.example.com").rr(kTypeAaaa, 25, 16);
  w.bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1});
  return w;
}

TEST(DnsMessage, ParsesSrvAnswerWithCompressionAuthorityAndAdditional) {
  Message m;
  std::string why;
  Wire w = srvMessage();
  ASSERT_TRUE(parseMessage(w.span(), m, &why)) << why;
  EXPECT_EQ(m.id, 0x1234);
  EXPECT_TRUE(m.response);
  EXPECT_FALSE(m.truncated);
  EXPECT_EQ(m.rcode, kRcodeNoError);
  EXPECT_EQ(m.question_name, "_web._tcp.example.com");
  EXPECT_EQ(m.question_type, kTypeSrv);
  ASSERT_EQ(m.answers.size(), 2u);
  EXPECT_EQ(m.answers[0].name, "_web._tcp.example.com");
  EXPECT_EQ(m.answers[0].ttl, 30u);
  EXPECT_EQ(m.answers[0].priority, 10);
  EXPECT_EQ(m.answers[0].weight, 5);
  EXPECT_EQ(m.answers[0].port, 8080);
  EXPECT_EQ(m.answers[0].target, "a.example.com");
  EXPECT_EQ(m.answers[1].target, "b.example.com");
  ASSERT_EQ(m.authority.size(), 1u);
  EXPECT_EQ(m.authority[0].soa_minimum, 7u);
  ASSERT_EQ(m.additional.size(), 2u);
  EXPECT_EQ(m.additional[0].address, "10.0.0.1");
  EXPECT_EQ(m.additional[1].address, "2001:db8::1");
  ASSERT_TRUE(negativeTtl(m));
  EXPECT_EQ(*negativeTtl(m), 7u);  // min(SOA TTL 60, MINIMUM 7)
}

TEST(DnsMessage, EveryTruncationIsRefusedNeverReadPast) {
  Wire w = srvMessage();
  for (std::size_t n = 0; n < w.b.size(); ++n) {
    std::vector<uint8_t> cut(w.b.begin(), w.b.begin() + static_cast<std::ptrdiff_t>(n));
    Message m;
    std::string why;
    EXPECT_FALSE(parseMessage(cut, m, &why)) << "prefix of " << n << " bytes";
    EXPECT_FALSE(why.empty());
  }
}

TEST(DnsMessage, TrailingBytesAreRefused) {
  Wire w = srvMessage();
  w.u8(0);
  Message m;
  std::string why;
  EXPECT_FALSE(parseMessage(w.span(), m, &why));
  EXPECT_NE(why.find("after the last record"), std::string::npos) << why;
}

TEST(DnsMessage, CompressionLoopsAndForwardPointersAreRefused) {
  std::string why;
  Message m;
  {  // the question name points at itself
    Wire w;
    w.header(1, 0, 0, 0).ptr(kQname).u16(kTypeA).u16(kClassIn);
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
    EXPECT_NE(why.find("compression"), std::string::npos) << why;
  }
  {  // two names pointing at each other: label "x" then a pointer to the second name, which
     // points back to the first
    Wire w;
    w.header(1, 1, 0, 0).u8(1).u8('x').ptr(kQname + 8).u16(kTypeA).u16(kClassIn);
    w.ptr(kQname).rr(kTypeA, 1, 4).bytes({1, 2, 3, 4});
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
  }
  {  // a pointer back into the labels of the same name (loop without a forward jump)
    Wire w;
    w.header(1, 0, 0, 0).u8(1).u8('a').u8(1).u8('b').ptr(kQname).u16(kTypeA).u16(kClassIn);
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
  }
  {  // a pointer to after itself
    Wire w;
    w.header(1, 0, 0, 0).ptr(kQname + 6).u16(kTypeA).u16(kClassIn).u8(0);
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
  }
}

TEST(DnsMessage, NamesLongerThan255OctetsAreRefused) {
  Wire w;
  w.header(1, 0, 0, 0);
  for (int i = 0; i < 5; ++i) {
    w.u8(63);
    for (int j = 0; j < 63; ++j) w.u8('a');
  }
  w.u8(0).u16(kTypeA).u16(kClassIn);
  Message m;
  std::string why;
  EXPECT_FALSE(parseMessage(w.span(), m, &why));
  EXPECT_NE(why.find("255"), std::string::npos) << why;
}

TEST(DnsMessage, WrongRdlengthsAreRefused) {
  Message m;
  std::string why;
  {
    Wire w;
    w.header(0, 1, 0, 0).name("a.test").rr(kTypeA, 1, 5).bytes({1, 2, 3, 4, 5});
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
    EXPECT_NE(why.find("A record with rdlength 5"), std::string::npos) << why;
  }
  {
    Wire w;
    w.header(0, 1, 0, 0).name("a.test").rr(kTypeAaaa, 1, 4).bytes({1, 2, 3, 4});
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
  }
  {  // SRV whose target runs beyond its rdlength (into the next record)
    Wire w;
    w.header(0, 2, 0, 0).name("s.test").rr(kTypeSrv, 1, 8).u16(1).u16(1).u16(80).name("t.test");
    w.name("a.test").rr(kTypeA, 1, 4).bytes({1, 2, 3, 4});
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
  }
  {  // SRV whose target ends before its rdlength
    Wire w;
    w.header(0, 1, 0, 0).name("s.test").rr(kTypeSrv, 1, 6 + 8 + 2).u16(1).u16(1).u16(80);
    w.name("t.test").u16(0);
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
  }
  {  // rdlength past the end of the message
    Wire w;
    w.header(0, 1, 0, 0).name("a.test").rr(kTypeA, 1, 400).bytes({1, 2, 3, 4});
    EXPECT_FALSE(parseMessage(w.span(), m, &why));
  }
}

TEST(DnsMessage, HugeRecordCountsAreRefusedBeforeReading) {
  Message m;
  std::string why;
  Wire w;
  w.header(0, 60000, 0, 0);
  EXPECT_FALSE(parseMessage(w.span(), m, &why));
  EXPECT_NE(why.find("too many records"), std::string::npos) << why;
  Wire small;
  small.header(0, 100, 0, 0).name("a.test").rr(kTypeA, 1, 4).bytes({1, 2, 3, 4});
  EXPECT_FALSE(parseMessage(small.span(), m, &why));
  EXPECT_NE(why.find("exceed the message size"), std::string::npos) << why;
}

TEST(DnsMessage, ManyRecordsUpToTheLimitAreRead) {
  Wire w;
  w.header(1, 2000, 0, 0).name("big.test").u16(kTypeA).u16(kClassIn);
  for (int i = 0; i < 2000; ++i) {
    w.ptr(kQname)
        .rr(kTypeA, 5, 4)
        .bytes({10, 1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)});
  }
  Message m;
  std::string why;
  ASSERT_TRUE(parseMessage(w.span(), m, &why)) << why;
  EXPECT_EQ(m.answers.size(), 2000u);
  EXPECT_EQ(m.answers.back().address, "10.1.7.207");
}

TEST(DnsMessage, OddBytesInNamesAreEscapedAndTtlTopBitIsZero) {
  Wire w;
  w.header(0, 1, 0, 0).u8(3).u8('a').u8('.').u8('b').name("Test").rr(kTypeA, 0x80000001u, 4);
  w.bytes({1, 2, 3, 4});
  Message m;
  std::string why;
  ASSERT_TRUE(parseMessage(w.span(), m, &why)) << why;
  EXPECT_EQ(m.answers[0].name, "a\\046b.test");
  EXPECT_EQ(m.answers[0].ttl, 0u);
}

TEST(DnsMessage, OtherClassesAndUnknownTypesAreSkipped) {
  Wire w;
  w.header(0, 2, 0, 0).name("a.test").u16(kTypeA).u16(3).u32(1).u16(3).bytes({1, 2, 3});
  w.name("a.test").rr(99, 1, 2).bytes({0, 0});
  Message m;
  std::string why;
  ASSERT_TRUE(parseMessage(w.span(), m, &why)) << why;
  EXPECT_EQ(m.answers.size(), 2u);
  EXPECT_TRUE(m.answers[0].address.empty());
}

TEST(DnsMessage, RandomCorruptionNeverCrashes) {
  std::mt19937 rng(42);
  const Wire base = srvMessage();
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    auto bytes = base.b;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
    Message m;
    parsed += parseMessage(bytes, m, nullptr) ? 1 : 0;
  }
  EXPECT_GT(parsed, 0);  // some corruptions (TTLs, addresses) stay well-formed
}

// ---- dns_answer.h

Record srv(uint16_t priority, uint16_t weight, uint16_t port, std::string target) {
  Record r;
  r.name = "_svc._tcp.test";
  r.type = kTypeSrv;
  r.priority = priority;
  r.weight = weight;
  r.port = port;
  r.target = std::move(target);
  return r;
}

TEST(DnsAnswer, OnlyTheLowestUsablePriorityIsUsed) {
  std::map<std::string, std::vector<std::string>> ips{
      {"a", {"10.0.0.1"}}, {"b", {"10.0.0.2"}}, {"c", {"10.0.0.3"}}};
  auto answer = srvAnswer({srv(20, 1, 80, "c"), srv(10, 1, 80, "a"), srv(10, 1, 81, "b")}, ips);
  ASSERT_EQ(answer.instances.size(), 2u);
  EXPECT_EQ(answer.instances[0].id, "10.0.0.1:80");
  EXPECT_EQ(answer.instances[1].id, "10.0.0.2:81");
  EXPECT_EQ(answer.skipped, 0u);
  cluster::Labels expected{{"srv_priority", "10"}, {"srv_target", "a"}, {"srv_weight", "1"}};
  EXPECT_EQ(answer.instances[0].labels, expected);

  // Priority 10 has no address at all: priority 20 takes over.
  ips.erase("a");
  ips.erase("b");
  answer = srvAnswer({srv(20, 1, 80, "c"), srv(10, 1, 80, "a"), srv(10, 1, 81, "b")}, ips);
  ASSERT_EQ(answer.instances.size(), 1u);
  EXPECT_EQ(answer.instances[0].id, "10.0.0.3:80");
}

TEST(DnsAnswer, SrvWeightsFollowRfc2782) {
  std::map<std::string, std::vector<std::string>> ips{{"a", {"10.0.0.1"}}, {"b", {"10.0.0.2"}}};
  // All zero: uniform.
  auto answer = srvAnswer({srv(0, 0, 80, "a"), srv(0, 0, 80, "b")}, ips);
  EXPECT_EQ(answer.instances[0].weight, 1u);
  EXPECT_EQ(answer.instances[1].weight, 1u);
  // Non-zero weights as they are.
  answer = srvAnswer({srv(0, 3, 80, "a"), srv(0, 7, 80, "b")}, ips);
  EXPECT_EQ(answer.instances[0].weight, 3u);
  EXPECT_EQ(answer.instances[1].weight, 7u);
  // Mixed: zero gets "a very small chance", the others are scaled up.
  answer = srvAnswer({srv(0, 0, 80, "a"), srv(0, 5, 80, "b")}, ips);
  EXPECT_EQ(answer.instances[0].weight, 1u);
  EXPECT_EQ(answer.instances[1].weight, 500u);
  answer = srvAnswer({srv(0, 0, 80, "a"), srv(0, 60000, 80, "b")}, ips);
  EXPECT_EQ(answer.instances[0].weight, 1u);
  EXPECT_EQ(answer.instances[1].weight, 60000u);
}

TEST(DnsAnswer, UnusableRecordsAreSkippedAndDotTargetLeftOut) {
  std::map<std::string, std::vector<std::string>> ips{{"a", {"10.0.0.1", "fd00::1"}},
                                                      {"z", {"10.0.0.9"}}};
  auto answer = srvAnswer(
      {srv(0, 1, 80, "a"), srv(0, 1, 0, "z"), srv(0, 1, 80, "missing"), srv(0, 1, 80, "")}, ips);
  ASSERT_EQ(answer.instances.size(), 2u);
  EXPECT_EQ(answer.instances[0].id, "10.0.0.1:80");
  EXPECT_EQ(answer.instances[1].id, "[fd00::1]:80");
  EXPECT_EQ(answer.instances[1].host, "fd00::1");
  EXPECT_EQ(answer.skipped, 2u);
  EXPECT_FALSE(answer.skip_example.empty());
  // Only "." (the service is decidedly not available here): empty, nothing skipped.
  answer = srvAnswer({srv(0, 1, 80, "")}, ips);
  EXPECT_TRUE(answer.instances.empty());
  EXPECT_EQ(answer.skipped, 0u);
}

TEST(DnsAnswer, OneSocketAddressNamedTwiceAddsUpWeights) {
  std::map<std::string, std::vector<std::string>> ips{{"a", {"10.0.0.1"}}, {"b", {"10.0.0.1"}}};
  auto answer = srvAnswer({srv(0, 2, 80, "a"), srv(0, 3, 80, "b")}, ips);
  ASSERT_EQ(answer.instances.size(), 1u);
  EXPECT_EQ(answer.instances[0].weight, 5u);
  auto a = addressAnswer({"10.0.0.2", "10.0.0.1", "10.0.0.2"}, 6379);
  ASSERT_EQ(a.instances.size(), 2u);
  EXPECT_EQ(a.instances[0].id, "10.0.0.1:6379");
  EXPECT_EQ(a.instances[0].weight, 1u);
  EXPECT_EQ(a.instances[1].weight, 2u);
}

TEST(DnsAnswer, CnameChainsAreFollowedAndLoopsEnd) {
  std::vector<Record> records(4);
  records[0] = {.name = "www.test", .type = kTypeCname, .ttl = 5, .target = "web.test"};
  records[1] = {.name = "web.test", .type = kTypeA, .ttl = 9, .address = "10.0.0.1"};
  records[2] = {.name = "x.test", .type = kTypeCname, .ttl = 1, .target = "y.test"};
  records[3] = {.name = "y.test", .type = kTypeCname, .ttl = 1, .target = "x.test"};
  uint32_t ttl = UINT32_MAX;
  auto found = recordsFor(records, "www.test", kTypeA, ttl);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]->address, "10.0.0.1");
  EXPECT_EQ(ttl, 5u);
  ttl = UINT32_MAX;
  EXPECT_TRUE(recordsFor(records, "x.test", kTypeA, ttl).empty());
}

}  // namespace
}  // namespace pilotfish::discovery::dns
