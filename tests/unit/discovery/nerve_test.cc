#include "pilotfish/discovery/nerve.h"

#include <gtest/gtest.h>

#include <string>

namespace pilotfish::discovery {
namespace {

using Labels = cluster::Labels;

Instance parsed(std::string_view data) {
  Instance in;
  std::string why;
  EXPECT_TRUE(parseNerveInstance(data, in, &why)) << data << "\nwhy: " << why;
  return in;
}

// The reason an instance is skipped.
std::string skipped(std::string_view data) {
  Instance in;
  std::string why;
  EXPECT_FALSE(parseNerveInstance(data, in, &why)) << "accepted: " << data;
  EXPECT_FALSE(why.empty()) << data;
  return why;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// The examples below are verbatim from /work/shared/contracts/zookeeper-nerve.md.

TEST(NerveInstance, AirbnbNerveData) {
  Instance in = parsed(R"({"host": "10.0.0.5", "port": 8080, "name": "i-0abc"})");
  EXPECT_EQ(in.host, "10.0.0.5");
  EXPECT_EQ(in.port, 8080);
  EXPECT_EQ(in.weight, 1u);  // no weight: the default
  EXPECT_EQ(in.zone, "");
  EXPECT_TRUE(in.labels.empty());
  EXPECT_EQ(in.health, cluster::Health::kHealthy);
}

TEST(NerveInstance, AirbnbNerveWithWeightOptionsAndLabels) {
  Instance in =
      parsed(R"({"host": "10.0.0.5", "port": 8080, "name": "i-0abc", "weight": 20,)"
             R"( "haproxy_server_options": "check inter 2s", "labels": {"az": "us-east-1a"}})");
  EXPECT_EQ(in.host, "10.0.0.5");
  EXPECT_EQ(in.port, 8080);
  EXPECT_EQ(in.weight, 20u);
  EXPECT_EQ(in.zone, "us-east-1a");
  EXPECT_EQ(in.labels, (Labels{{"az", "us-east-1a"}}));
}

TEST(NerveInstance, GoNerveData) {
  Instance in = parsed(
      R"({"available": true, "host": "10.0.0.7", "port": 3306, "name": "mysql-main", "weight": 255})");
  EXPECT_EQ(in.host, "10.0.0.7");
  EXPECT_EQ(in.port, 3306);
  EXPECT_EQ(in.weight, 255u);
  EXPECT_EQ(in.health, cluster::Health::kHealthy);
}

TEST(NerveInstance, GoNerveWarmingUpWithWeightZeroAndLabels) {
  Instance in = parsed(
      R"({"available": true, "host": "10.0.0.7", "port": 3306, "name": "mysql-main", "weight": 0,)"
      R"( "haproxy_server_options": "backup", "labels": {"zone": "eu-west-1b", "role": "replica"}})");
  EXPECT_EQ(in.weight, 0u);
  EXPECT_EQ(in.zone, "eu-west-1b");
  EXPECT_EQ(in.labels, (Labels{{"role", "replica"}, {"zone", "eu-west-1b"}}));
}

TEST(NerveInstance, GoNerveUnavailableIsSkippedWithItsReason) {
  std::string why = skipped(
      R"({"available": false, "host": "10.0.0.7", "port": 3306, "name": "mysql-main", "weight": 0,)"
      R"( "unavailable_reason": "check failed: connection refused"})");
  EXPECT_TRUE(contains(why, "available is false")) << why;
  EXPECT_TRUE(contains(why, "check failed: connection refused")) << why;
  // Without a reason.
  EXPECT_EQ(skipped(R"({"available": false, "host": "10.0.0.7", "port": 3306})"),
            "available is false");
}

TEST(NerveInstance, AvailableMustBeABoolean) {
  for (const char* v : {R"("true")", "1", "null", "{}"}) {
    std::string data =
        std::string(R"({"available": )") + v + R"(, "host": "10.0.0.7", "port": 3306})";
    EXPECT_TRUE(contains(skipped(data), "available is not a boolean")) << data;
  }
}

TEST(NerveInstance, NotJson) {
  std::string why = skipped("host=10.0.0.5 port=8080");
  EXPECT_TRUE(contains(why, "not JSON")) << why;
  EXPECT_TRUE(contains(why, "at byte 0")) << why;
  // Parent znodes created with mkdir_p hold empty data.
  EXPECT_TRUE(contains(skipped(""), "not JSON")) << skipped("");
  // Truncated data.
  EXPECT_TRUE(contains(skipped(R"({"host": "10.0.0.5", "port": 80)"), "not JSON"));
}

TEST(NerveInstance, NotAnObject) {
  EXPECT_EQ(skipped(R"(["10.0.0.5", 8080])"), "expected a JSON object, got array");
  EXPECT_EQ(skipped(R"("10.0.0.5:8080")"), "expected a JSON object, got string");
  EXPECT_EQ(skipped("null"), "expected a JSON object, got null");
  EXPECT_EQ(skipped("8080"), "expected a JSON object, got number");
}

TEST(NerveInstance, HostMissingEmptyOrNotAString) {
  EXPECT_EQ(skipped(R"({"port": 8080, "name": "i-0abc"})"), "no host");
  EXPECT_EQ(skipped(R"({"host": "", "port": 8080})"), "no host");
  EXPECT_EQ(skipped(R"({"host": null, "port": 8080})"), "no host");
  EXPECT_EQ(skipped(R"({"host": 167772165, "port": 8080})"), "no host");
}

TEST(NerveInstance, HostNameIsNotAnIpAddress) {
  for (const char* host : {"db1.example.com", "localhost", "10.0.0", "10.0.0.256", "10.0.0.5:8080",
                           "10.0.0.5 ", "[10.0.0.5]", "2001:db8::zz", "::1]:80"}) {
    std::string data = std::string(R"({"host": ")") + host + R"(", "port": 8080})";
    std::string why = skipped(data);
    EXPECT_TRUE(contains(why, "is not an IP address")) << data << ": " << why;
    EXPECT_TRUE(contains(why, host)) << why;
  }
}

TEST(NerveInstance, Ipv6HostAccepted) {
  Instance in = parsed(R"({"host": "2001:db8::7", "port": 3306})");
  EXPECT_EQ(in.host, "2001:db8::7");
  EXPECT_EQ(in.port, 3306);
  EXPECT_EQ(parsed(R"({"host": "::1", "port": 1})").host, "::1");
  EXPECT_EQ(parsed(R"({"host": "::ffff:10.0.0.5", "port": 1})").host, "::ffff:10.0.0.5");
  // Instance.host never carries brackets, even when the registrar wrote them.
  EXPECT_EQ(parsed(R"({"host": "[2001:db8::7]", "port": 3306})").host, "2001:db8::7");
}

TEST(NerveInstance, Port) {
  EXPECT_EQ(skipped(R"({"host": "10.0.0.5", "name": "i-0abc"})"), "no port");
  EXPECT_EQ(skipped(R"({"host": "10.0.0.5", "port": 0})"), "port 0 out of range 1-65535");
  EXPECT_EQ(skipped(R"({"host": "10.0.0.5", "port": 65536})"), "port 65536 out of range 1-65535");
  EXPECT_EQ(skipped(R"({"host": "10.0.0.5", "port": -80})"), "port -80 out of range 1-65535");
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 1})").port, 1);
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 65535})").port, 65535);
  // Some registrars write the port as a string of digits.
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": "8080"})").port, 8080);
  EXPECT_EQ(skipped(R"({"host": "10.0.0.5", "port": "0"})"), "port 0 out of range 1-65535");
  EXPECT_EQ(skipped(R"({"host": "10.0.0.5", "port": "99999"})"), "port 99999 out of range 1-65535");
  for (const char* port : {R"("80x")", R"("")", R"(" 80")", R"("+80")", R"("-80")", R"("8e3")",
                           R"("123456")", R"("\u00e9")", "80.0", "8e1", "null", "true", "[80]"}) {
    std::string data = std::string(R"({"host": "10.0.0.5", "port": )") + port + "}";
    EXPECT_EQ(skipped(data), "port is not an integer") << data;
  }
}

TEST(NerveInstance, Weight) {
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "weight": 0})").weight, 0u);
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "weight": 255})").weight, 255u);
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "weight": 65535})").weight, 65535u);
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "weight": null})").weight, 1u);
  for (const char* w : {"-1", "65536", "4294967297", "1.5", "1e2", R"("10")", "true"}) {
    std::string data = std::string(R"({"host": "10.0.0.5", "port": 80, "weight": )") + w + "}";
    EXPECT_EQ(skipped(data), "weight is not an integer 0-65535") << data;
  }
}

TEST(NerveInstance, ZoneFromLabelsZoneElseAz) {
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "labels": {"az": "us-east-1a"}})").zone,
            "us-east-1a");
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "labels": {"zone": "z1"}})").zone, "z1");
  // zone wins over az whatever the order.
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "labels": {"az": "a", "zone": "z"}})").zone,
            "z");
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "labels": {"zone": "z", "az": "a"}})").zone,
            "z");
  // A non-string zone is ignored: az is used.
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "labels": {"zone": 3, "az": "a"}})").zone,
            "a");
  // A top-level "zone" is not a label.
  EXPECT_EQ(parsed(R"({"host": "10.0.0.5", "port": 80, "zone": "top"})").zone, "");
}

TEST(NerveInstance, LabelsSortedAndNonStringValuesIgnored) {
  Instance in =
      parsed(R"({"host": "10.0.0.5", "port": 80, "labels": {"version": "1.2", "az": "us-east-1a",)"
             R"( "canary": true, "shard": 3, "owner": null, "extra": {"a": "b"}, "list": ["x"],)"
             R"( "env": "prod", "empty": ""}})");
  EXPECT_EQ(in.labels,
            (Labels{{"az", "us-east-1a"}, {"empty", ""}, {"env", "prod"}, {"version", "1.2"}}));
}

TEST(NerveInstance, RepeatedLabelKeyTheLastOneWinsLikeEverywhereElse) {
  Instance in = parsed(
      R"({"host": "10.0.0.5", "port": 80, "labels": {"zone": "a", "env": "prod", "zone": "b"}})");
  // find() returns the last of repeated keys; the labels must agree with the zone.
  EXPECT_EQ(in.zone, "b");
  EXPECT_EQ(in.labels, (Labels{{"env", "prod"}, {"zone", "b"}}));
  // The last "zone" is not a string: there is no zone label, and az is the zone.
  in = parsed(R"({"host": "10.0.0.5", "port": 80, "labels": {"zone": "b", "az": "x", "zone": 5}})");
  EXPECT_EQ(in.zone, "x");
  EXPECT_EQ(in.labels, (Labels{{"az", "x"}}));
}

TEST(NerveInstance, LabelsNotAnObjectAreIgnored) {
  Instance in = parsed(R"({"host": "10.0.0.5", "port": 80, "labels": ["az", "us-east-1a"]})");
  EXPECT_TRUE(in.labels.empty());
  EXPECT_EQ(in.zone, "");
}

TEST(NerveInstance, ReusedInstanceIsResetButIdAndRegistrationKept) {
  Instance in;
  in.id = "i-0abc_0000000042";
  in.registered_at_ms = 1700000000000;
  in.zone = "old";
  in.labels = {{"stale", "1"}};
  in.weight = 9;
  in.health = cluster::Health::kUnhealthy;
  std::string why;
  ASSERT_TRUE(
      parseNerveInstance(R"({"host": "10.0.0.5", "port": 8080, "name": "i-0abc"})", in, &why))
      << why;
  EXPECT_EQ(in.id, "i-0abc_0000000042");
  EXPECT_EQ(in.registered_at_ms, 1700000000000);
  EXPECT_EQ(in.zone, "");
  EXPECT_TRUE(in.labels.empty());
  EXPECT_EQ(in.weight, 1u);
  EXPECT_EQ(in.health, cluster::Health::kHealthy);
}

TEST(NerveInstance, WhyMayBeNull) {
  Instance in;
  EXPECT_FALSE(parseNerveInstance("nope", in, nullptr));
  EXPECT_FALSE(parseNerveInstance(R"({"host": "db1", "port": 80})", in, nullptr));
  EXPECT_TRUE(parseNerveInstance(R"({"host": "10.0.0.5", "port": 80})", in, nullptr));
}

TEST(NerveInstance, OversizedOrDeeplyNestedDataRejectedAsNotJson) {
  std::string deep = R"({"host": "10.0.0.5", "port": 80, "x": )" + std::string(100, '[') +
                     std::string(100, ']') + "}";
  EXPECT_TRUE(contains(skipped(deep), "not JSON")) << skipped(deep);
  std::string big =
      R"({"host": "10.0.0.5", "port": 80, "x": ")" + std::string(2u << 20, 'a') + "\"}";
  EXPECT_TRUE(contains(skipped(big), "not JSON"));
}

}  // namespace
}  // namespace pilotfish::discovery
