#include "pilotfish/net/address.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>

namespace pilotfish::net {
namespace {

TEST(ParseHostPort, Ipv4) {
  auto hp = parseHostPort("127.0.0.1:80", false);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 80);
  EXPECT_EQ(hp->kind, HostPort::Kind::kIpv4);
  EXPECT_TRUE(hp->isIp());
  EXPECT_EQ(hp->toString(), "127.0.0.1:80");
}

TEST(ParseHostPort, Ipv4Extremes) {
  EXPECT_TRUE(parseHostPort("0.0.0.0:1", false));
  EXPECT_TRUE(parseHostPort("255.255.255.255:65535", false));
  EXPECT_EQ(parseHostPort("10.1.2.3:08080", false)->port, 8080);  // leading zeros in a port
}

TEST(ParseHostPort, Ipv6InBrackets) {
  auto hp = parseHostPort("[::1]:80", false);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 80);
  EXPECT_EQ(hp->kind, HostPort::Kind::kIpv6);
  EXPECT_EQ(hp->toString(), "[::1]:80");

  auto full = parseHostPort("[2001:db8::8a2e:370:7334]:443", false);
  ASSERT_TRUE(full);
  EXPECT_EQ(full->host, "2001:db8::8a2e:370:7334");
  EXPECT_TRUE(parseHostPort("[::ffff:127.0.0.1]:80", false));
  EXPECT_TRUE(parseHostPort("[::]:9901", false));
}

TEST(ParseHostPort, HostNameOnlyWhenAllowed) {
  auto hp = parseHostPort("zk1.example.com:2181", true);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->host, "zk1.example.com");
  EXPECT_EQ(hp->port, 2181);
  EXPECT_EQ(hp->kind, HostPort::Kind::kName);
  EXPECT_FALSE(hp->isIp());
  EXPECT_EQ(hp->toString(), "zk1.example.com:2181");

  std::string why;
  EXPECT_FALSE(parseHostPort("zk1.example.com:2181", false, &why));
  EXPECT_NE(why.find("host names are not allowed"), std::string::npos) << why;

  // An IP literal is always fine, with or without allow_name.
  auto ip = parseHostPort("127.0.0.1:2181", true);
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->kind, HostPort::Kind::kIpv4);
  EXPECT_EQ(parseHostPort("localhost:53", true)->host, "localhost");
}

struct BadCase {
  const char* text;
  bool allow_name;
  const char* why;  // substring of the reason
};

void PrintTo(const BadCase& c, std::ostream* os) {
  *os << '"' << c.text << '"';
}

class ParseHostPortBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParseHostPortBad, RejectedWithReason) {
  const BadCase& c = GetParam();
  std::string why;
  EXPECT_FALSE(parseHostPort(c.text, c.allow_name, &why)) << c.text;
  EXPECT_NE(why.find(c.why), std::string::npos) << c.text << " -> " << why;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseHostPortBad,
    ::testing::Values(
        BadCase{"", false, "empty address"}, BadCase{"127.0.0.1", false, "missing port"},
        BadCase{"127.0.0.1:", false, "missing port"}, BadCase{":80", false, "missing host"},
        BadCase{"127.0.0.1:0", false, "port out of range 1-65535"},
        BadCase{"127.0.0.1:65536", false, "port out of range"},
        BadCase{"127.0.0.1:99999999999999999999", false, "port out of range"},
        BadCase{"127.0.0.1:+80", false, "decimal number"},
        BadCase{"127.0.0.1:-1", false, "decimal number"},
        BadCase{"127.0.0.1:8o", false, "decimal number"},
        BadCase{"127.0.0.1:0x50", false, "decimal number"},
        BadCase{"127.0.0.1: 80", false, "decimal number"},
        BadCase{"256.0.0.1:80", true, "invalid IPv4"}, BadCase{"1.2.3:80", true, "invalid IPv4"},
        BadCase{"01.2.3.4:80", true, "invalid IPv4"},
        BadCase{"::1:80", false, "must be in brackets"},
        BadCase{"2001:db8::1:80", true, "must be in brackets"},
        BadCase{"[::1]", false, "missing port"}, BadCase{"[::1]:", false, "missing port"},
        BadCase{"[::1]80", false, "expected ':'"}, BadCase{"[::1:80", false, "missing ']'"},
        BadCase{"[]:80", false, "missing host"}, BadCase{"[127.0.0.1]:80", false, "invalid IPv6"},
        BadCase{"[fe80::1%eth0]:80", false, "invalid IPv6"},
        BadCase{"[zk1]:80", true, "invalid IPv6"},
        BadCase{"localhost:80", false, "host names are not allowed"},
        BadCase{"bad_name:80", true, "invalid host name"},
        BadCase{"-bad.example:80", true, "invalid host name"},
        BadCase{"a..b:80", true, "invalid host name"}));

TEST(ParseHostPort, PortZeroOnlyWhenAllowed) {
  EXPECT_FALSE(parseHostPort("127.0.0.1:0", false));
  auto hp = parseHostPort("127.0.0.1:0", false, nullptr, true);
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->port, 0);
  EXPECT_FALSE(parseHostPort("127.0.0.1:65536", false, nullptr, true));
}

TEST(ParseHostPort, WhyIsOptional) {
  EXPECT_FALSE(parseHostPort("nope", false));
  EXPECT_FALSE(parseHostPort("nope", false, nullptr));
}

TEST(IsValidHostName, Accepts) {
  EXPECT_TRUE(isValidHostName("localhost"));
  EXPECT_TRUE(isValidHostName("zk-1.prod.example.com"));
  EXPECT_TRUE(isValidHostName("example.com."));  // fully qualified
  EXPECT_TRUE(isValidHostName("3com.net"));      // labels may start with a digit (RFC 1123)
  EXPECT_TRUE(isValidHostName(std::string(63, 'a')));
  std::string long_name = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                          std::string(63, 'c') + "." + std::string(61, 'd');  // 253 chars
  EXPECT_TRUE(isValidHostName(long_name));
}

TEST(IsValidHostName, Rejects) {
  EXPECT_FALSE(isValidHostName(""));
  EXPECT_FALSE(isValidHostName("."));
  EXPECT_FALSE(isValidHostName("a..b"));
  EXPECT_FALSE(isValidHostName(".a"));
  EXPECT_FALSE(isValidHostName("-a"));
  EXPECT_FALSE(isValidHostName("a-"));
  EXPECT_FALSE(isValidHostName("a_b"));
  EXPECT_FALSE(isValidHostName("a b"));
  EXPECT_FALSE(isValidHostName("1.2.3.4"));  // all-numeric last label: a broken IP, not a name
  EXPECT_FALSE(isValidHostName(std::string(64, 'a')));
  std::string too_long = std::string(63, 'a') + "." + std::string(63, 'b') + "." +
                         std::string(63, 'c') + "." + std::string(62, 'd');  // 254 chars
  EXPECT_FALSE(isValidHostName(too_long));
}

}  // namespace
}  // namespace pilotfish::net
