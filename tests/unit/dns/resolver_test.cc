// dns::Resolver (c-ares on an Asio io_context) against the real test DNS server
// (tests/integration/backends/dns_server.py): host lookups with TTLs, failures, and socket
// churn (every finished lookup closes c-ares's sockets; the next one opens new ones, often on
// the same descriptor number).

#include "pilotfish/dns/resolver.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "integration/harness/dns_records.h"
#include "unit/discovery/dns_test_server.h"

namespace pilotfish::dns {
namespace {

using ::pilotfish::testing::dns::withFailure;
using std::chrono::milliseconds;

const char* kRecords = R"({"records": [
  {"name": "web.test", "type": "A", "ttl": 30, "address": "127.0.0.2"},
  {"name": "web.test", "type": "A", "ttl": 20, "address": "127.0.0.3"},
  {"name": "web.test", "type": "AAAA", "ttl": 10, "address": "::1"},
  {"name": "v4only.test", "type": "A", "ttl": 7, "address": "127.0.0.9"},
  {"name": "slow.test", "type": "A", "ttl": 7, "address": "127.0.0.10"},
  {"name": "big.test", "type": "A", "ttl": 7, "address": "127.0.0.11"},
  {"name": "bad.test", "type": "A", "ttl": 7, "address": "127.0.0.12"}
]})";

struct Result {
  int status = -1;
  std::vector<std::string> addresses;
  std::chrono::seconds ttl{-1};
};

class ResolverTest : public ::testing::Test {
 protected:
  ResolverTest() : server_(kRecords) {}

  std::shared_ptr<Resolver> make(milliseconds timeout = milliseconds(300), int tries = 1) {
    Resolver::Options o;
    o.servers = {{"127.0.0.1", server_.port(), net::HostPort::Kind::kIpv4}};
    o.timeout = timeout;
    o.tries = tries;
    std::string error;
    auto r = Resolver::create(io_, o, &error);
    EXPECT_TRUE(r) << error;
    if (r) made_.push_back(r);
    return r;
  }

  // Close every resolver, then let the cancelled waits complete before the io_context is
  // destroyed: their handlers own the sockets' descriptors, which must not outlive the
  // io_context's services (the io_uring backend destroys queued handlers after them).
  void TearDown() override {
    for (auto& r : made_) r->close();
    made_.clear();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    io_.restart();
    while (!io_.stopped() && std::chrono::steady_clock::now() < deadline) {
      io_.run_for(milliseconds(20));
    }
    EXPECT_TRUE(io_.stopped()) << "a closed resolver left work in the io_context";
  }

  /// Runs the io_context until the lookup answers or 5 s pass.
  std::optional<Result> lookup(Resolver& r, const std::string& name, uint16_t port = 443) {
    std::optional<Result> out;
    r.resolveHost(name, port,
                  [&](int status, std::vector<net::SocketAddress> addrs, std::chrono::seconds t) {
                    Result res{status, {}, t};
                    for (const auto& a : addrs) res.addresses.push_back(a.toString());
                    std::sort(res.addresses.begin(), res.addresses.end());
                    out = std::move(res);
                  });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    io_.restart();
    while (!out && std::chrono::steady_clock::now() < deadline) io_.run_for(milliseconds(20));
    return out;
  }

  boost::asio::io_context io_;
  discovery::testing::DnsTestServer server_;
  std::vector<std::shared_ptr<Resolver>> made_;
};

TEST_F(ResolverTest, ResolvesBothFamiliesWithThePortAndTheSmallestTtl) {
  auto r = make();
  auto res = lookup(*r, "web.test", 8443);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, ARES_SUCCESS);
  EXPECT_EQ(res->addresses,
            (std::vector<std::string>{"127.0.0.2:8443", "127.0.0.3:8443", "[::1]:8443"}));
  EXPECT_EQ(res->ttl, std::chrono::seconds(10));
  EXPECT_GE(server_.queries("web.test", "A"), 1);
  EXPECT_GE(server_.queries("web.test", "AAAA"), 1);
}

TEST_F(ResolverTest, OneFamilyIsEnough) {
  auto r = make();
  auto res = lookup(*r, "v4only.test");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, ARES_SUCCESS);
  EXPECT_EQ(res->addresses, (std::vector<std::string>{"127.0.0.9:443"}));
  EXPECT_EQ(res->ttl, std::chrono::seconds(7));
}

TEST_F(ResolverTest, UnknownNameIsNotFound) {
  auto r = make();
  auto res = lookup(*r, "nothing.test");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, ARES_ENOTFOUND);
  EXPECT_TRUE(res->addresses.empty());
}

TEST_F(ResolverTest, ServerFailureIsAnErrorNotAnAnswer) {
  server_.setRecords(withFailure(kRecords, "web.test", "servfail"));
  auto r = make();
  auto res = lookup(*r, "web.test");
  ASSERT_TRUE(res);
  EXPECT_NE(res->status, ARES_SUCCESS);
  EXPECT_NE(res->status, ARES_ENOTFOUND);
  EXPECT_TRUE(res->addresses.empty());
}

TEST_F(ResolverTest, HostsFileAnswersWithoutAQuery) {
  auto r = make();
  auto res = lookup(*r, "localhost", 80);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, ARES_SUCCESS);
  EXPECT_NE(std::find(res->addresses.begin(), res->addresses.end(), "127.0.0.1:80"),
            res->addresses.end());
  EXPECT_EQ(server_.queries("localhost", "A"), 0);
}

// Each lookup below ends with c-ares closing its sockets while a wait may still be in flight
// (a timed-out query's read, the UDP socket of a truncated answer) and the next lookup opening
// new ones: with Asio's io_uring backend, releasing a descriptor with a wait in flight made a
// later socket lose its own wait, and lookups hung. Every lookup here must answer.
TEST_F(ResolverTest, SocketChurnNeverLosesALookup) {
  std::string records = kRecords;
  records.insert(1, R"("fail": {"slow.test": "timeout", "big.test": "truncate"}, )");
  server_.setRecords(records);
  auto r = make(milliseconds(100), 1);
  for (int i = 0; i < 15; ++i) {
    SCOPED_TRACE("round " + std::to_string(i));
    auto slow = lookup(*r, "slow.test");
    ASSERT_TRUE(slow) << "a timed-out lookup never finished";
    EXPECT_EQ(slow->status, ARES_ETIMEOUT);
    auto big = lookup(*r, "big.test");
    ASSERT_TRUE(big) << "a lookup over TCP never finished";
    EXPECT_EQ(big->status, ARES_SUCCESS);
    EXPECT_EQ(big->addresses, (std::vector<std::string>{"127.0.0.11:443"}));
    auto fast = lookup(*r, "v4only.test");
    ASSERT_TRUE(fast) << "a lookup after the churn never finished";
    EXPECT_EQ(fast->status, ARES_SUCCESS);
  }
  EXPECT_GE(server_.queries("big.test", "A", "tcp"), 15);
}

TEST_F(ResolverTest, CloseCancelsLookupsInFlight) {
  server_.setRecords(withFailure(kRecords, "slow.test", "timeout"));
  auto r = make(milliseconds(2000), 2);
  bool called = false;
  r->resolveHost("slow.test", 443, [&](int, std::vector<net::SocketAddress>, std::chrono::seconds) {
    called = true;
  });
  io_.run_for(milliseconds(50));
  r->close();
  io_.restart();
  io_.run_for(milliseconds(100));
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace pilotfish::dns
