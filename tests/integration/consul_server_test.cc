// The Consul test server against Consul's documented behaviour (../shared/contracts/consul.md):
// the fixture must be right before the watcher is tested against it.

#include <gtest/gtest.h>

#include <future>
#include <string>

#include <boost/json.hpp>

#include "integration/harness/consul_server.h"

namespace pilotfish::it {
namespace {

uint64_t indexOf(const HttpResponse& r) {
  return std::stoull(r.header("x-consul-index"));
}

std::vector<std::string> ids(const boost::json::array& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) {
    out.emplace_back(e.at("Service").at("ID").as_string());
  }
  return out;
}

std::string checkStatus(const boost::json::array& entries, const std::string& check_id) {
  for (const auto& e : entries) {
    for (const auto& c : e.at("Checks").as_array()) {
      if (c.at("CheckID").as_string() == check_id) return std::string(c.at("Status").as_string());
    }
  }
  return "";
}

TEST(ConsulServer, AnswersWithTheDocumentedShapeAndHeaders) {
  ConsulServer consul;
  consul.registerService(
      R"({"ID":"users-1","Name":"users","Tags":["primary","v2"],"Address":"10.1.10.12",)"
      R"("Port":8000,"Meta":{"version":"2.4"},"Weights":{"Passing":10,"Warning":1}})");
  auto r = consul.request("GET", "/v1/health/service/users");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.header("x-consul-knownleader"), "true");
  EXPECT_EQ(r.header("x-consul-lastcontact"), "0");
  EXPECT_GT(indexOf(r), 0u);
  auto a = parseJson(r.body).as_array();
  ASSERT_EQ(a.size(), 1u);
  const auto& svc = a[0].at("Service");
  EXPECT_EQ(svc.at("Address").as_string(), "10.1.10.12");
  EXPECT_EQ(svc.at("Port").as_int64(), 8000);
  EXPECT_EQ(svc.at("Weights").at("Passing").as_int64(), 10);
  EXPECT_EQ(svc.at("Meta").at("version").as_string(), "2.4");
  EXPECT_EQ(a[0].at("Node").at("Address").as_string(), "127.0.0.1");
  EXPECT_EQ(checkStatus(a, "serfHealth"), "passing");
  // No instances is a real answer: [] with 200.
  auto none = consul.request("GET", "/v1/health/service/nobody");
  EXPECT_EQ(none.status, 200);
  EXPECT_EQ(none.body, "[]");
  auto leader = consul.request("GET", "/v1/status/leader");
  EXPECT_EQ(leader.body, "\"127.0.0.1:8300\"");
  auto services = parseJson(consul.request("GET", "/v1/catalog/services").body);
  EXPECT_EQ(services.at("users").as_array().size(), 2u);
}

TEST(ConsulServer, LargeAnswersAreChunkedAsGoSendsThem) {
  ConsulServer consul;
  for (int i = 0; i < 5; ++i) consul.registerSimple("u-" + std::to_string(i), "users", 8000 + i);
  auto r = consul.request("GET", "/v1/health/service/users");
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(parseJson(r.body).as_array().size(), 5u);
  auto small = consul.request("GET", "/v1/health/service/nobody");
  EXPECT_FALSE(small.chunked);
  EXPECT_EQ(small.header("content-length"), "2");
}

TEST(ConsulServer, EveryWriteRaisesTheIndexAndOnlyItsServicesIndex) {
  ConsulServer consul;
  consul.registerSimple("a-1", "a", 1000);
  uint64_t a1 = indexOf(consul.request("GET", "/v1/health/service/a"));
  consul.registerSimple("b-1", "b", 1001);
  uint64_t b1 = indexOf(consul.request("GET", "/v1/health/service/b"));
  EXPECT_GT(b1, a1);
  // Another service's write does not wake a's watchers.
  EXPECT_EQ(indexOf(consul.request("GET", "/v1/health/service/a")), a1);
  consul.deregister("a-1");
  uint64_t a2 = indexOf(consul.request("GET", "/v1/health/service/a"));
  EXPECT_GT(a2, b1);
  EXPECT_TRUE(consul.health("a").empty());
}

TEST(ConsulServer, BlockingQueryReturnsOnChange) {
  ConsulServer consul;
  consul.registerSimple("users-1", "users", 8000);
  uint64_t idx = indexOf(consul.request("GET", "/v1/health/service/users"));
  auto start = Clock::now();
  auto pending = std::async(std::launch::async, [&] {
    return consul.request("GET",
                          "/v1/health/service/users?index=" + std::to_string(idx) + "&wait=30s");
  });
  // Held: nothing changed yet.
  ASSERT_TRUE(
      waitFor([&] { return consul.control("state").find("\"blocked\": 1") != std::string::npos; },
              milliseconds(5000)));
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  consul.registerSimple("users-2", "users", 8001);
  auto r = pending.get();
  EXPECT_LT(msSince(start), 10000);
  ASSERT_EQ(r.status, 200);
  EXPECT_GT(indexOf(r), idx);
  EXPECT_EQ(ids(parseJson(r.body).as_array()), (std::vector<std::string>{"users-1", "users-2"}));
}

TEST(ConsulServer, BlockingQueryHoldsUntilWaitPlusJitter) {
  ConsulServer consul;
  consul.registerSimple("users-1", "users", 8000);
  uint64_t idx = indexOf(consul.request("GET", "/v1/health/service/users"));
  auto start = Clock::now();
  auto r = consul.request("GET",
                          "/v1/health/service/users?index=" + std::to_string(idx) + "&wait=1600ms");
  double ms = msSince(start);
  EXPECT_GE(ms, 1600);
  EXPECT_LE(ms, 1600 + 100 + 1000);  // jitter at most wait/16, plus scheduling
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(indexOf(r), idx);  // unchanged data, same index: the client compares
  EXPECT_EQ(ids(parseJson(r.body).as_array()), std::vector<std::string>{"users-1"});
  // index=0 never blocks.
  start = Clock::now();
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users?index=0&wait=5s").status, 200);
  EXPECT_LT(msSince(start), 1000);
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users?index=1&wait=bogus").status, 400);
}

TEST(ConsulServer, PassingAndTagFilters) {
  ConsulServer consul;
  consul.registerSimple("u-1", "users", 8001, {"primary", "v2"});
  consul.registerSimple("u-2", "users", 8002, {"v2"});
  consul.registerSimple("u-3", "users", 8003, {"primary"});
  EXPECT_EQ(ids(consul.health("users", "tag=v2")), (std::vector<std::string>{"u-1", "u-2"}));
  EXPECT_EQ(ids(consul.health("users", "tag=v2&tag=primary")), std::vector<std::string>{"u-1"});
  consul.check("warn", "service:u-2");
  consul.check("fail", "service:u-3");
  EXPECT_EQ(ids(consul.health("users", "passing")), std::vector<std::string>{"u-1"});
  EXPECT_EQ(ids(consul.health("users", "passing=true")), std::vector<std::string>{"u-1"});
  EXPECT_EQ(ids(consul.health("users")).size(), 3u);
  EXPECT_EQ(checkStatus(consul.health("users", "tag=v2"), "service:u-2"), "warning");
  // Maintenance is a critical check of its own.
  consul.maintenance("u-1", true, "upgrade");
  EXPECT_TRUE(consul.health("users", "passing").empty());
  EXPECT_EQ(checkStatus(consul.health("users"), "_service_maintenance:u-1"), "critical");
  consul.maintenance("u-1", false);
  EXPECT_EQ(ids(consul.health("users", "passing")), std::vector<std::string>{"u-1"});
}

TEST(ConsulServer, UnknownDatacenterIs404) {
  ConsulServer::Options o;
  o.extra_dcs = {"dc2"};
  ConsulServer consul(o);
  consul.registerSimple("u-1", "users", 8001);
  auto r = consul.request("GET", "/v1/health/service/users?dc=nowhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.body, "No path to datacenter");
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users?dc=dc2").body, "[]");
  consul.control("register?dc=dc2", R"({"ID":"far-1","Name":"users","Port":9000})");
  EXPECT_EQ(ids(consul.health("users", "dc=dc2")), std::vector<std::string>{"far-1"});
  EXPECT_EQ(ids(consul.health("users", "dc=dc1")), std::vector<std::string>{"u-1"});
}

TEST(ConsulServer, TokenEnforced) {
  ConsulServer::Options o;
  o.token = "root-secret";
  o.read_token = "reader-secret";
  ConsulServer consul(o);
  consul.registerSimple("u-1", "users", 8001);
  EXPECT_EQ(ids(consul.health("users")), std::vector<std::string>{"u-1"});
  auto anon = consul.request("GET", "/v1/health/service/users", "", "-");
  EXPECT_EQ(anon.status, 200);
  EXPECT_EQ(anon.body, "[]");
  EXPECT_EQ(anon.header("x-consul-results-filtered-by-acls"), "true");
  auto bad = consul.request("GET", "/v1/health/service/users", "", "wrong");
  EXPECT_EQ(bad.status, 403);
  EXPECT_EQ(bad.body, "ACL not found");
  EXPECT_EQ(
      ids(parseJson(consul.request("GET", "/v1/health/service/users", "", "reader-secret").body)
              .as_array()),
      std::vector<std::string>{"u-1"});
  auto denied = consul.request("PUT", "/v1/agent/service/deregister/u-1", "", "reader-secret");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body, "Permission denied");
  // Authorization: Bearer works like X-Consul-Token.
  auto bearer = httpRaw(consul.port(),
                        "GET /v1/health/service/users HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "Authorization: Bearer root-secret\r\n\r\n");
  EXPECT_EQ(ids(parseJson(bearer.body).as_array()), std::vector<std::string>{"u-1"});
}

TEST(ConsulServer, TtlChecksDriveHealth) {
  ConsulServer consul;
  consul.registerService(
      R"({"ID":"u-1","Name":"users","Port":8001,"Check":{"CheckID":"ttl-u1","TTL":"1s"}})");
  // A TTL check starts critical.
  EXPECT_EQ(checkStatus(consul.health("users"), "ttl-u1"), "critical");
  consul.check("pass", "ttl-u1");
  EXPECT_EQ(ids(consul.health("users", "passing")), std::vector<std::string>{"u-1"});
  // Not refreshed: the TTL passes and the check turns critical.
  EXPECT_TRUE(
      waitFor([&] { return consul.health("users", "passing").empty(); }, milliseconds(5000)));
  EXPECT_EQ(checkStatus(consul.health("users"), "ttl-u1"), "critical");
  auto r = consul.request("PUT", "/v1/agent/check/update/ttl-u1",
                          R"({"Status":"warning","Output":"slow"})");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(checkStatus(consul.health("users"), "ttl-u1"), "warning");
  EXPECT_EQ(consul.request("PUT", "/v1/agent/check/pass/nope").status, 404);
  EXPECT_EQ(consul.request("PUT", "/v1/agent/service/register", R"({"Port":1})").status, 400);
}

TEST(ConsulServer, TestControls) {
  ConsulServer consul;
  consul.registerSimple("u-1", "users", 8001);
  uint64_t idx = indexOf(consul.request("GET", "/v1/health/service/users"));
  // Restore-like: the index goes backwards.
  consul.control("index?set=3");
  EXPECT_EQ(indexOf(consul.request("GET", "/v1/health/service/users")), 3u);
  EXPECT_LT(3u, idx);
  consul.control("zero-index?enable=1");
  EXPECT_EQ(indexOf(consul.request("GET", "/v1/health/service/users")), 0u);
  consul.control("zero-index?enable=0");
  consul.control("fail?count=2&status=429");
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users").status, 429);
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users").status, 429);
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users").status, 200);
  consul.control("garbage?count=1", "{oops");
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users").body, "{oops");
  consul.control("inject?service=users&id=raw", R"({"Node":{},"Service":{"ID":"no-port"}})");
  EXPECT_EQ(consul.health("users").size(), 2u);
  consul.control("node?address=127.0.0.9");
  EXPECT_EQ(consul.health("users")[0].at("Node").at("Address").as_string(), "127.0.0.9");
  consul.control("leader?known=false");
  EXPECT_EQ(consul.request("GET", "/v1/health/service/users").status, 500);
  auto stale = consul.request("GET", "/v1/health/service/users?stale");
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.header("x-consul-knownleader"), "false");
}

}  // namespace
}  // namespace pilotfish::it
