// The HTTP/1.1 proxy (`protocol: http`) end to end: the built binary between real clients (curl,
// raw sockets) and real upstreams (the Python backend in tests/integration/backends/, nginx).
// Routing, keepalive pooling, body framing both ways, 100-continue and websocket tunnels, the
// strict parser (every refusal closes the connection and reaches no upstream), timeouts,
// failover and retries, trace and forwarding headers, loop protection, HEAD/204/304 framing,
// the access log on a blocked FIFO and graceful drain.

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/json.hpp>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <regex>
#include <thread>

#include "integration/harness/harness.h"

namespace pilotfish::it {
namespace {

using namespace std::chrono_literals;
namespace json = boost::json;

constexpr const char* kHelloSha =
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
constexpr int kWorkers = 2;
constexpr int kMaxIdle = 4;

// ---------------------------------------------------------------------------------------------
// Config

// One cluster item of `clusters:` (every endpoint on 127.0.0.1).
std::string clusterYaml(const std::string& name, const std::vector<uint16_t>& ports,
                        const std::string& extra = "") {
  std::string eps;
  for (uint16_t p : ports) {
    if (!eps.empty()) eps += ", ";
    eps += "{address: 127.0.0.1:" + std::to_string(p) + "}";
  }
  return "  - name: " + name + "\n    endpoints: [" + eps +
         "]\n    connect_timeout: 500ms\n    pool: {max_idle_per_endpoint: " +
         std::to_string(kMaxIdle) + ", idle_timeout: 30s}\n" + extra;
}

struct Cfg {
  uint16_t port = 0;     ///< the http listener "web"
  std::string clusters;  ///< clusterYaml() items
  std::string listener;  ///< more lines of the listener (4-space indent): routes, limits
  std::string top;       ///< more top-level lines
  int workers = kWorkers;
};

std::string yaml(const Cfg& c) {
  return render(R"(workers: ${WORKERS}
log: {level: info}
drain_timeout: 10s
tracing: {propagate: [b3, w3c], request_id: true, sample_rate: 1.0}
${TOP}
clusters:
${CLUSTERS}listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
${LISTENER})",
                {{"WORKERS", std::to_string(c.workers)},
                 {"TOP", c.top},
                 {"CLUSTERS", c.clusters},
                 {"PORT", std::to_string(c.port)},
                 {"LISTENER", c.listener}});
}

// The common case: cluster "be" in front of `be`, every request routed to it.
std::string simpleYaml(uint16_t port, uint16_t be_port, const std::string& listener_extra = "",
                       const std::string& top = "") {
  return yaml({.port = port,
               .clusters = clusterYaml("be", {be_port}),
               .listener = listener_extra + "    cluster: be\n",
               .top = top});
}

std::string lm(const std::string& name) {
  return name + "{listener=\"web\"}";
}
std::string errorMetric(const std::string& token) {
  return "pilotfish_http_errors_total{listener=\"web\",token=\"" + token + "\"}";
}

// ---------------------------------------------------------------------------------------------
// Clients

CommandResult curl(std::vector<std::string> args, milliseconds timeout = 30s) {
  std::vector<std::string> argv{"curl", "-sS", "--max-time", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv, timeout);
}

std::string describe(const CommandResult& r) {
  return (r.status ? r.status->describe() : std::string("timed out")) +
         "\nstdout: " + r.out.substr(0, 2000) + "\nstderr: " + r.err.substr(0, 2000);
}

int exitCode(const CommandResult& r) {
  return r.status && r.status->exited ? r.status->code : -1;
}

std::string url(uint16_t port, const std::string& target) {
  return "http://127.0.0.1:" + std::to_string(port) + target;
}

// A request with a Host line, `extra` header lines (each ending in CRLF) and, with a body, its
// Content-Length. `close`: ask for the connection to be closed after the response.
std::string request(const std::string& method, const std::string& target,
                    const std::string& extra = "", const std::string& body = "", bool close = true,
                    const std::string& host = "svc.local") {
  std::string r = method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra;
  if (!body.empty() || method == "POST" || method == "PUT") {
    r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  if (close) r += "Connection: close\r\n";
  return r + "\r\n" + body;
}

std::string shown(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 600)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += "\\x" + std::to_string(static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

// The final response to `req`, sent on a fresh connection; throws when none came.
HttpResponse once(uint16_t port, const std::string& req, milliseconds timeout = 10s) {
  auto x = rawHttp(port, req, timeout);
  if (x.connect_error != 0) {
    throw std::runtime_error("connect to " + std::to_string(port) + " failed: errno " +
                             std::to_string(x.connect_error));
  }
  for (auto& r : parseResponses(x.data)) {
    if (r.status >= 200) return r;
  }
  throw std::runtime_error("no response to:\n" + shown(req) + "\ngot (" + toString(x.end) + "):\n" +
                           shown(x.data));
}

// One request on an open connection; the next final response.
HttpResponse roundTrip(TcpClient& c, std::string& buf, const std::string& req,
                       bool head_request = false) {
  if (!c.sendAll(req)) throw std::runtime_error("send failed");
  auto r = readResponse(c, buf, 10s, head_request);
  if (!r) throw std::runtime_error("no response to: " + shown(req));
  return *r;
}

std::string randomBytes(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string sha256File(const std::string& path) {
  auto r = runCommand({"sha256sum", path});
  if (!r.ok()) throw std::runtime_error("sha256sum: " + describe(r));
  return r.out.substr(0, 64);
}

// ---------------------------------------------------------------------------------------------
// What the backend saw (its JSON echo)

std::string str(const json::value& v) {
  return std::string(v.as_string().c_str());
}

std::string lowered(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Echo {
  json::object j;
  std::string target() const { return str(j.at("target")); }
  std::string method() const { return str(j.at("method")); }
  long bodyLen() const { return j.at("body_len").to_number<long>(); }
  std::string bodySha() const { return str(j.at("body_sha256")); }
  /// Every header line the backend received, in order.
  std::vector<std::pair<std::string, std::string>> headers() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& h : j.at("headers").as_array()) {
      out.emplace_back(str(h.as_array().at(0)), str(h.as_array().at(1)));
    }
    return out;
  }
  /// The first value of `name` (case-insensitive), "" when absent.
  std::string header(const std::string& name) const {
    for (const auto& [n, v] : headers()) {
      if (lowered(n) == lowered(name)) return v;
    }
    return "";
  }
  int count(const std::string& name) const {
    int n = 0;
    for (const auto& h : headers()) n += lowered(h.first) == lowered(name);
    return n;
  }
  std::string dump() const { return json::serialize(j); }
};

Echo echoOf(const HttpResponse& r) {
  if (r.header("content-type") != "application/json") {
    throw std::runtime_error("not a backend echo (status " + std::to_string(r.status) + "):\n" +
                             shown(r.raw));
  }
  return Echo{parseJson(r.body).as_object()};
}

std::vector<json::object> readJsonLines(const std::string& path) {
  std::vector<json::object> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(parseJson(line).as_object());
  }
  return out;
}

std::string field(const json::object& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_string()) return "";
  return str(it->value());
}

const std::regex kHex32("^[0-9a-f]{32}$");
const std::regex kHex16("^[0-9a-f]{16}$");
const std::regex kUuid4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");

// ---------------------------------------------------------------------------------------------
// 1. Routing

TEST(HttpProxy, RoutingTableFirstMatchWins) {
  HttpBackend be;
  uint16_t port = freePort();
  // Every route but the last names itself in Host (host_rewrite), so the backend tells which
  // route matched.
  Pilotfish pf(
      yaml({.port = port, .clusters = clusterYaml("be", {be.port()}), .listener = R"(    routes:
      - match: {path_exact: /exact}
        cluster: be
        host_rewrite: r-exact
      - match: {path_prefix: /api, header: {name: x-env, value: canary}}
        cluster: be
        host_rewrite: r-canary
      - match: {path_prefix: /api, method: POST}
        cluster: be
        host_rewrite: r-post
      - match: {path_prefix: /api}
        cluster: be
        prefix_rewrite: /v1
        host_rewrite: inner
      - match: {host: a.example}
        cluster: be
        host_rewrite: r-host
      - match: {host_suffix: .svc}
        cluster: be
        host_rewrite: r-suffix
      - match: {header: {name: x-flag, present: true}}
        cluster: be
        host_rewrite: r-present
      - match: {path_prefix: /first}
        cluster: be
        host_rewrite: r-first
      - match: {path_prefix: /first/second}
        cluster: be
        host_rewrite: r-second
      - match: {path_prefix: /pass}
        cluster: be
)"}));

  struct Case {
    std::string req;
    std::string host;    // Host the backend must see ("" = 404 no_route expected)
    std::string target;  // target the backend must see
  };
  const std::vector<Case> cases = {
      {request("GET", "/exact"), "r-exact", "/exact"},
      {request("GET", "/exact/more"), "", ""},
      {request("GET", "/exactly"), "", ""},
      {request("GET", "/api/x", "x-env: canary\r\n"), "r-canary", "/api/x"},
      {request("GET", "/api/x", "x-env: prod\r\n"), "inner", "/v1/x"},
      {request("POST", "/api/x"), "r-post", "/api/x"},
      {request("GET", "/api/x?q=1&r=2"), "inner", "/v1/x?q=1&r=2"},
      {request("GET", "/other", "", "", true, "a.example"), "r-host", "/other"},
      {request("GET", "/other", "", "", true, "A.Example:8080"), "r-host", "/other"},
      {request("GET", "/other", "", "", true, "b.example"), "", ""},
      {request("GET", "/other", "", "", true, "db.svc"), "r-suffix", "/other"},
      {request("GET", "/other", "", "", true, "DB.SVC:9999"), "r-suffix", "/other"},
      {request("GET", "/other", "", "", true, "svc"), "", ""},
      {request("GET", "/other", "X-Flag: 1\r\n"), "r-present", "/other"},
      {request("GET", "/first/second/x"), "r-first", "/first/second/x"},
      {request("GET", "/nothing"), "", ""},
      // Normalisation: routed, and sent, as the normalised path.
      {request("GET", "/a/../api/x"), "inner", "/v1/x"},
      {request("GET", "/x/../pass/./y//z"), "svc.local", "/pass/y/z"},
      {request("GET", "/pass/%7Euser/%41"), "svc.local", "/pass/~user/A"},
      {request("GET", "/pass/a%2Fb"), "svc.local", "/pass/a%2Fb"},
      // %2F is not a separator: ".." removes the whole "a%2Fb" segment.
      {request("GET", "/pass/a%2Fb/../c"), "svc.local", "/pass/c"},
      {request("GET", "/pass/../../../etc"), "", ""},
      // Absolute form: its authority routes (and replaces Host).
      {"GET http://a.example/other HTTP/1.1\r\nHost: ignored.example\r\nConnection: close\r\n\r\n",
       "r-host", "/other"},
      {"GET http://A.EXAMPLE:81/pass/z HTTP/1.1\r\nHost: db.svc\r\nConnection: close\r\n\r\n",
       "r-host", "/pass/z"},
  };
  long proxied = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(shown(c.req));
    auto r = once(port, c.req);
    if (c.host.empty()) {
      EXPECT_EQ(r.status, 404) << shown(r.raw);
      EXPECT_EQ(r.header("x-pilotfish-error"), "no_route");
      continue;
    }
    ASSERT_EQ(r.status, 200) << shown(r.raw);
    ++proxied;
    auto e = echoOf(r);
    EXPECT_EQ(e.header("host"), c.host) << e.dump();
    EXPECT_EQ(e.count("host"), 1) << e.dump();
    EXPECT_EQ(e.target(), c.target) << e.dump();
  }
  EXPECT_EQ(be.stats().requests, proxied);
  EXPECT_EQ(pf.metric(errorMetric("no_route")), static_cast<double>(cases.size() - proxied));
}

// ---------------------------------------------------------------------------------------------
// 2. Keepalive reuse, seen from the backend

TEST(HttpProxy, UpstreamKeepaliveReuseSeenByBackend) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  constexpr int kConnections = 5;
  constexpr int kPerConnection = 10;
  int n = 0;
  for (int c = 0; c < kConnections; ++c) {
    TcpClient client;
    ASSERT_EQ(client.connect(port), 0);
    std::string buf;
    for (int i = 0; i < kPerConnection; ++i, ++n) {
      auto r = roundTrip(client, buf,
                         request("GET", "/ka/" + std::to_string(n), "", "", /*close=*/false));
      ASSERT_EQ(r.status, 200) << shown(r.raw);
      EXPECT_EQ(echoOf(r).target(), "/ka/" + std::to_string(n));
      EXPECT_EQ(r.headerCount("connection"), 0) << shown(r.raw);
    }
  }
  ASSERT_EQ(n, 50);
  // Pipelined in one write: answered in order on the same connection.
  TcpClient p;
  ASSERT_EQ(p.connect(port), 0);
  std::string burst;
  for (int i = 0; i < 5; ++i) burst += request("GET", "/pipe/" + std::to_string(i), "", "", false);
  ASSERT_TRUE(p.sendAll(burst));
  std::string pbuf;
  for (int i = 0; i < 5; ++i) {
    auto r = readResponse(p, pbuf, 10s);
    ASSERT_TRUE(r) << "pipelined response " << i << " missing";
    EXPECT_EQ(echoOf(*r).target(), "/pipe/" + std::to_string(i));
  }
  EXPECT_TRUE(pbuf.empty()) << shown(pbuf);
  auto s = be.stats();
  EXPECT_EQ(s.requests, 55);
  EXPECT_GE(s.connections, 1);
  EXPECT_LE(s.connections, kWorkers * kMaxIdle)
      << "upstream connections were not reused across requests";
  EXPECT_GT(pf.metric("pilotfish_pool_connections_reused_total{cluster=\"be\"}"), 0);
  EXPECT_EQ(pf.metric(lm("pilotfish_http_requests_total")), 55);
  // Some upstream connection carried many requests.
  long most = 0;
  for (const auto& c : be.conns()) most = std::max(most, c.at("requests").to_number<long>());
  EXPECT_GE(most, 10);
}

TEST(HttpProxy, ConnectionsTheUpstreamClosedAreNotReused) {
  // The backend closes a keepalive connection idle for 300ms; pilotfish pools for 30s.
  HttpBackend be(HttpBackend::Options{.idle_timeout = 300ms});
  uint16_t port = freePort();
  Pilotfish pf(yaml({.port = port,
                     .clusters = clusterYaml("be", {be.port()}),
                     .listener = "    cluster: be\n",
                     .workers = 1}));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string buf;
  // The pooled connection is closed by the backend before the next request: a GET is sent on
  // it and replayed on a fresh one, a POST finds it dead by peeking first.
  for (const char* method : {"GET", "POST"}) {
    SCOPED_TRACE(method);
    ASSERT_EQ(roundTrip(c, buf, request("GET", "/idle", "", "", false)).status, 200);
    // The backend has closed its side once it counts the connection closed.
    ASSERT_TRUE(waitFor(
        [&] {
          auto s = be.stats();
          return s.open == 0;
        },
        5s));
    auto r = roundTrip(c, buf, request(method, "/again", "", "", false));
    EXPECT_EQ(r.status, 200) << shown(r.raw);
  }
  // `connection: close` from the upstream (not pooled), and a close without saying so (pooled,
  // found dead by the next GET, which is replayed).
  for (const char* target : {"/close-after", "/no-keepalive", "/close-after", "/no-keepalive"}) {
    SCOPED_TRACE(target);
    auto g = roundTrip(c, buf, request("GET", target, "", "", false));
    EXPECT_EQ(g.status, 200) << shown(g.raw);
    EXPECT_EQ(g.headerCount("connection"), 0) << "the upstream's close leaked to the client";
    auto h = roundTrip(c, buf, request("GET", "/after", "", "", false));
    EXPECT_EQ(h.status, 200) << shown(h.raw);
  }
  auto p = roundTrip(c, buf, request("POST", "/close-after", "", "x", false));
  EXPECT_EQ(p.status, 200) << shown(p.raw);
  auto q = roundTrip(c, buf, request("POST", "/after", "", "x", false));
  EXPECT_EQ(q.status, 200) << shown(q.raw);
  EXPECT_EQ(pf.metric(errorMetric("upstream_reset")), 0);
  EXPECT_EQ(be.stats().requests, 14);
}

// A client that half-closes after a complete request still gets the whole response, then EOF:
// a FIN ends what the client sends, not what it reads. Once with the answer at once, once with
// the FIN in pilotfish well before the answer comes.
TEST(HttpProxy, HalfClosedClientGetsTheWholeResponse) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  const std::string active = lm("pilotfish_http_requests_active");
  {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.sendAll(request("GET", "/bytes/300000", "", "", false)));
    c.shutdownWrite();
    std::string got;
    EXPECT_EQ(c.waitClosed(5s, &got), ReadEnd::kEof);
    auto rs = parseResponses(got);
    ASSERT_EQ(rs.size(), 1u) << shown(got);
    EXPECT_EQ(rs[0].status, 200);
    EXPECT_EQ(rs[0].body.size(), 300000u);
    EXPECT_EQ(rs[0].raw.size(), got.size()) << "bytes after the response";
  }
  {
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    ASSERT_TRUE(c.sendAll(request("GET", "/slow/1000", "", "", false)));
    c.shutdownWrite();
    ASSERT_EQ(be.waitStats([](const BackendStats& s) { return s.requests >= 2; }).requests, 2);
    EXPECT_EQ(pf.waitMetric(active, [](double v) { return v == 1; }), 1)
        << "the request was dropped on the client's FIN";
    std::string got;
    EXPECT_EQ(c.waitClosed(5s, &got), ReadEnd::kEof);
    auto rs = parseResponses(got);
    ASSERT_EQ(rs.size(), 1u) << shown(got);
    EXPECT_EQ(rs[0].status, 200);
    EXPECT_EQ(echoOf(rs[0]).target(), "/slow/1000");
  }
  EXPECT_EQ(pf.waitMetric(active, [](double v) { return v == 0; }), 0);
  EXPECT_EQ(pf.metric(lm("pilotfish_http_responses_aborted_total")), 0);
}

// ---------------------------------------------------------------------------------------------
// 3. Bodies

TEST(HttpProxy, ChunkedRequestBodyArrivesIntact) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  auto file = writeTempFile(randomBytes(200000, 11), ".bin");
  auto r =
      curl({"-H", "Transfer-Encoding: chunked", "--data-binary", "@" + file, url(port, "/upload")});
  ASSERT_TRUE(r.ok()) << describe(r);
  auto j = parseJson(r.out).as_object();
  Echo e{j};
  EXPECT_TRUE(j.at("chunked").as_bool()) << e.dump();
  EXPECT_EQ(e.bodyLen(), 200000);
  EXPECT_EQ(e.bodySha(), sha256File(file));
  EXPECT_EQ(e.count("transfer-encoding"), 1);
  EXPECT_EQ(e.count("content-length"), 0);

  // Raw: extensions and trailers are dropped, the data re-chunked intact. Neither trailer
  // reaches the upstream, as a trailer nor as a header: not `x-t`, and not a trailer named
  // Transfer-Encoding (merged into the head it would change the framing the upstream sees).
  auto x = once(port,
                "POST /raw HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                "Connection: close\r\n\r\n2;ext=1\r\nhe\r\n3\r\nllo\r\n0\r\nX-T: 1\r\n"
                "Transfer-Encoding: gzip\r\n\r\n");
  ASSERT_EQ(x.status, 200) << shown(x.raw);
  auto k = echoOf(x);
  EXPECT_TRUE(k.j.at("chunked").as_bool()) << k.dump();
  EXPECT_EQ(k.bodyLen(), 5);
  EXPECT_EQ(k.bodySha(), kHelloSha);
  EXPECT_TRUE(k.j.at("trailers").as_array().empty()) << k.dump();
  EXPECT_EQ(k.count("x-t"), 0) << k.dump();
  EXPECT_EQ(k.count("transfer-encoding"), 1) << k.dump();
  EXPECT_EQ(lowered(k.header("transfer-encoding")), "chunked") << k.dump();
  EXPECT_EQ(k.count("content-length"), 0) << k.dump();
}

// The listener turns TCP quick ACKs off (the response carries the ACK of a request). A request
// body must not wait for that: a client with Nagle's algorithm on sends the body only once its
// head is acknowledged, which a delayed ACK holds back 40 ms. 20 requests on one connection,
// head and body in separate writes: with the stall they take at least 800 ms.
TEST(HttpProxy, BodyFromANagleClientIsNotHeldByDelayedAcks) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // Nagle left on, as many clients have it
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string head = "POST /nagle HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
  constexpr int kRequests = 20;
  std::string in;
  int answered = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_EQ(::send(fd, head.data(), head.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(head.size()));
    ASSERT_EQ(::send(fd, "hello", 5, MSG_NOSIGNAL), 5);
    for (;;) {
      std::size_t consumed = 0;
      if (auto r = parseResponse(in, consumed, false)) {
        EXPECT_EQ(r->status, 200) << shown(in);
        in.erase(0, consumed);
        ++answered;
        break;
      }
      char buf[16384];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "connection ended after " << answered << " answers";
      in.append(buf, static_cast<std::size_t>(n));
    }
  }
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  EXPECT_EQ(answered, kRequests);
  EXPECT_LT(took, std::chrono::milliseconds(400))
      << "request bodies waited for delayed ACKs: "
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
}

TEST(HttpProxy, ChunkedResponseArrivesIntact) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  std::string want;
  for (int i = 0; i < 2000; ++i) want += "chunk " + std::to_string(i) + "\n";
  auto r = curl({url(port, "/chunked/2000")});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_EQ(r.out.size(), want.size());
  EXPECT_TRUE(r.out == want) << "body differs";

  // On the wire: still chunked, keepalive, and a second request works on the same connection.
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string buf;
  auto a = roundTrip(c, buf, request("GET", "/chunked/3", "", "", false));
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.chunked) << shown(a.raw);
  EXPECT_EQ(a.body, "chunk 0\nchunk 1\nchunk 2\n");
  auto b = roundTrip(c, buf, request("GET", "/after", "", "", false));
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(echoOf(b).target(), "/after");
  EXPECT_TRUE(buf.empty()) << shown(buf);

  // An HTTP/1.0 client cannot read chunked: the body runs until the close.
  auto old = rawHttp(port, "GET /chunked/3 HTTP/1.0\r\nHost: a\r\n\r\n", 10s);
  EXPECT_EQ(old.end, ReadEnd::kEof) << toString(old.end);
  auto rs = parseResponses(old.data);
  ASSERT_EQ(rs.size(), 1u) << shown(old.data);
  EXPECT_FALSE(rs[0].chunked) << shown(old.data);
  EXPECT_EQ(rs[0].headerCount("transfer-encoding"), 0) << shown(old.data);
  EXPECT_EQ(rs[0].body, "chunk 0\nchunk 1\nchunk 2\n");
}

TEST(HttpProxy, LargeBodiesAreStreamedBothWays) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  constexpr long kMiB = 1 << 20;
  auto file = writeTempFile(randomBytes(kMiB, 5), ".bin");
  auto r = curl({"-H", "Expect:", "--data-binary", "@" + file, url(port, "/big")});
  ASSERT_TRUE(r.ok()) << describe(r);
  Echo e{parseJson(r.out).as_object()};
  EXPECT_EQ(e.bodyLen(), kMiB);
  EXPECT_EQ(e.bodySha(), sha256File(file));
  EXPECT_EQ(e.header("content-length"), std::to_string(kMiB));

  // 4 MiB down.
  auto out = tempDir() + "/down.bin";
  auto d = curl({"-o", out, "-w", "%{http_code} %{size_download}", url(port, "/bytes/4194304")});
  ASSERT_TRUE(d.ok()) << describe(d);
  EXPECT_EQ(d.out, "200 4194304");
  std::string pattern = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string expect;
  while (expect.size() < 4194304) expect += pattern;
  expect.resize(4194304);
  std::ifstream in(out, std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(got == expect) << "downloaded body differs";
}

// ---------------------------------------------------------------------------------------------
// 4. 100-continue, websocket

TEST(HttpProxy, ExpectContinueWithCurlAndRaw) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  auto file = writeTempFile(randomBytes(5000, 3), ".bin");
  auto r =
      curl({"-v", "-H", "Expect: 100-continue", "--data-binary", "@" + file, url(port, "/expect")});
  ASSERT_TRUE(r.ok()) << describe(r);
  EXPECT_NE(r.err.find("HTTP/1.1 100 Continue"), std::string::npos) << r.err;
  Echo e{parseJson(r.out).as_object()};
  EXPECT_EQ(e.bodyLen(), 5000);
  EXPECT_EQ(e.bodySha(), sha256File(file));
  EXPECT_EQ(e.header("expect"), "100-continue");

  // Raw: the body is sent only after the 100 arrived.
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.sendAll(
      "POST /expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  std::string buf;
  auto cont = readResponse(c, buf, 5s);
  ASSERT_TRUE(cont) << "no 100 Continue before the body was sent: " << shown(buf);
  EXPECT_EQ(cont->status, 100);
  ASSERT_TRUE(c.sendAll("hello"));
  auto fin = readResponse(c, buf, 5s);
  ASSERT_TRUE(fin);
  EXPECT_EQ(fin->status, 200);
  EXPECT_EQ(echoOf(*fin).bodySha(), kHelloSha);
  EXPECT_TRUE(buf.empty()) << shown(buf);

  // The upstream refuses the body (417, no 100): the client gets the 417 without sending it.
  TcpClient d;
  ASSERT_EQ(d.connect(port), 0);
  ASSERT_TRUE(
      d.sendAll("POST /expect-reject HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                "Content-Length: 5\r\n\r\n"));
  std::string dbuf;
  auto rej = readResponse(d, dbuf, 5s);
  ASSERT_TRUE(rej) << shown(dbuf);
  EXPECT_EQ(rej->status, 417) << shown(rej->raw);
}

TEST(HttpProxy, WebsocketUpgradeTunnelsBytesBothWays) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.sendAll(
      "GET /upgrade HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
  std::string buf;
  auto r = readResponse(c, buf, 5s);
  ASSERT_TRUE(r) << shown(buf);
  ASSERT_EQ(r->status, 101) << shown(r->raw);
  EXPECT_EQ(r->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(lowered(r->header("upgrade")), "websocket");
  EXPECT_EQ(lowered(r->header("connection")), "upgrade");
  EXPECT_TRUE(buf.empty()) << shown(buf);
  // Small frames one by one, then a big binary blob while reading, then half-close.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(c.echoRoundTrip("\x81\x05hello" + std::to_string(i))) << "round " << i;
  }
  std::string blob = randomBytes(300000, 9);
  auto [got, end] = c.exchange(blob, /*half_close=*/true, 15s);
  EXPECT_EQ(end, ReadEnd::kEof) << toString(end);
  EXPECT_EQ(got.size(), blob.size());
  EXPECT_TRUE(got == blob) << "tunnelled bytes differ";
  EXPECT_EQ(pf.waitMetric(lm("pilotfish_http_requests_active"), [](double v) { return v == 0; }),
            0);
}

// An Upgrade the upstream declines (a plain 200) leaves the connection HTTP: what the client sent
// after the request, in the same write, is the next request. Bytes that are not HTTP get a 400
// and a close; they never reach the upstream, which saw the one request.
TEST(HttpProxy, DeclinedUpgradeKeepsHttpAndRefusesTheBytesAfterIt) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  const std::string frame = "\x81\x05hello";
  auto x = rawHttp(port,
                   "GET /ws HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\nx-backend-mode: status/200\r\n\r\n" +
                       frame,
                   10s);
  EXPECT_TRUE(x.peerClosed()) << "connection left open (" << toString(x.end) << ")";
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 2u) << shown(x.data);
  ASSERT_EQ(rs[0].status, 200) << shown(rs[0].raw);
  auto e = echoOf(rs[0]);
  EXPECT_EQ(e.target(), "/ws");
  EXPECT_EQ(lowered(e.header("upgrade")), "websocket")
      << "the offer was not passed on: " << e.dump();
  EXPECT_EQ(rs[0].headerCount("upgrade"), 0) << shown(rs[0].raw);
  EXPECT_EQ(rs[0].headerCount("connection"), 0) << shown(rs[0].raw);
  EXPECT_EQ(rs[1].status, 400) << shown(rs[1].raw);
  EXPECT_EQ(rs[1].header("x-pilotfish-error"), "bad_method") << shown(rs[1].raw);
  EXPECT_EQ(lowered(rs[1].header("connection")), "close") << shown(rs[1].raw);
  EXPECT_EQ(x.data.find("hello"), std::string::npos) << "the frame was echoed: " << shown(x.data);
  EXPECT_EQ(pf.waitMetric(errorMetric("bad_method"), [](double v) { return v >= 1; }), 1);
  EXPECT_EQ(be.stats().requests, 1) << json::serialize(be.conns());
}

// A client that sends its first frame in the same write as the upgrade request: the frame waits
// until the 101 has come, then goes through the tunnel; the client reads the 101 first, then the
// echo.
TEST(HttpProxy, WebsocketFrameInTheUpgradeWriteArrivesAfterThe101) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  const std::string frame = "\x81\x05hello";
  ASSERT_TRUE(c.sendAll(
      "GET /upgrade HTTP/1.1\r\nHost: ws.local\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n" +
      frame));
  std::string buf;
  auto r = readResponse(c, buf, 5s);
  ASSERT_TRUE(r) << shown(buf);
  ASSERT_EQ(r->status, 101) << shown(r->raw);
  EXPECT_EQ(r->header("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(r->raw.find("hello"), std::string::npos) << shown(r->raw);
  EXPECT_EQ(c.recvAtLeast(buf, frame.size(), 5s), ReadEnd::kData) << shown(buf);
  EXPECT_TRUE(buf == frame) << "after the 101: " << shown(buf);
  // The tunnel goes on working, and ends with the client's half-close.
  buf.clear();
  auto [got, end] = c.exchange("\x81\x05world", /*half_close=*/true, 5s);
  EXPECT_EQ(end, ReadEnd::kEof) << toString(end);
  EXPECT_TRUE(got == "\x81\x05world") << shown(got);
  EXPECT_EQ(pf.waitMetric(lm("pilotfish_http_requests_active"), [](double v) { return v == 0; }),
            0);
  EXPECT_EQ(be.stats().requests, 1);
}

// A 101 to a request that asked for no upgrade pilotfish passed on (none at all, or h2c, which it
// strips) is not tunnelled: 502, and the client connection stays HTTP.
TEST(HttpProxy, UnaskedSwitchingProtocolsGives502) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string buf;
  auto r = roundTrip(c, buf, request("GET", "/upgrade-unasked", "", "", false));
  EXPECT_EQ(r.status, 502) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "upstream_protocol_error");
  EXPECT_EQ(r.headerCount("upgrade"), 0) << shown(r.raw);
  auto h = roundTrip(c, buf,
                     request("GET", "/upgrade-unasked",
                             "Upgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                             "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n",
                             "", false));
  EXPECT_EQ(h.status, 502) << shown(h.raw);
  EXPECT_EQ(h.header("x-pilotfish-error"), "upstream_protocol_error");
  // Still HTTP after both.
  auto ok = roundTrip(c, buf, request("GET", "/after", "", "", false));
  ASSERT_EQ(ok.status, 200) << shown(ok.raw);
  EXPECT_EQ(echoOf(ok).target(), "/after");
  EXPECT_TRUE(buf.empty()) << shown(buf);
  EXPECT_EQ(pf.metric(errorMetric("upstream_protocol_error")), 2);
  EXPECT_EQ(be.stats().requests, 3);
}

// A websocket request answered 101 for another protocol, or for none named, is not tunnelled
// either (RFC 9110 7.8: a 101 names the protocol; it must be one the client asked for).
TEST(HttpProxy, SwitchingToAProtocolNotAskedForGives502) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  const std::string ws =
      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  for (const char* proto : {"h2c", "none", "WebSocket"}) {
    SCOPED_TRACE(proto);
    TcpClient c;
    ASSERT_EQ(c.connect(port), 0);
    std::string buf;
    auto r =
        roundTrip(c, buf, request("GET", std::string("/upgrade-unasked/") + proto, ws, "", false));
    if (std::string(proto) == "WebSocket") {
      // Protocol names compare case-insensitively: this one is the tunnel asked for.
      ASSERT_EQ(r.status, 101) << shown(r.raw);
      auto [got, end] = c.exchange("\x81\x02hi", /*half_close=*/true, 5s);
      EXPECT_TRUE(got == "\x81\x02hi") << shown(got);
      continue;
    }
    EXPECT_EQ(r.status, 502) << shown(r.raw);
    EXPECT_EQ(r.header("x-pilotfish-error"), "upstream_protocol_error");
    EXPECT_EQ(r.headerCount("upgrade"), 0) << shown(r.raw);
  }
  EXPECT_EQ(pf.metric(errorMetric("upstream_protocol_error")), 2);
}

// ---------------------------------------------------------------------------------------------
// 5. The parser: every refusal gets its status, closes the connection, reaches no upstream

struct BadRequest {
  const char* name;
  std::string bytes;
  int status;
  const char* token;
};

std::string manyHeaders(int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += "X-H" + std::to_string(i) + ": v\r\n";
  return s;
}

std::vector<BadRequest> badRequests() {
  const std::string post = "POST /p HTTP/1.1\r\nHost: a\r\n";
  return {
      {"cl_and_te",
       post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400,
       "content_length_and_transfer_encoding"},
      {"te_and_cl",
       post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 400,
       "content_length_and_transfer_encoding"},
      {"two_different_cl", post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
       "bad_content_length"},
      {"cl_not_digits", post + "Content-Length: +5\r\n\r\nhello", 400, "bad_content_length"},
      {"cl_hex", post + "Content-Length: 0x5\r\n\r\nhello", 400, "bad_content_length"},
      {"te_not_ending_chunked", post + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400,
       "bad_transfer_encoding"},
      {"te_without_chunked", post + "Transfer-Encoding: gzip\r\n\r\nhello", 400,
       "bad_transfer_encoding"},
      {"chunked_twice",
       post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
       "bad_transfer_encoding"},
      {"te_in_http10",
       "POST /p HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       400, "transfer_encoding_in_http10"},
      {"bad_chunk_size", post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400,
       "bad_chunk_size"},
      {"bare_lf_in_head", "GET /p HTTP/1.1\r\nHost: a\nX-A: b\r\n\r\n", 400, "bare_lf"},
      {"obs_fold", "GET /p HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  c\r\n\r\n", 400, "obs_fold"},
      {"space_before_colon", "GET /p HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400,
       "space_before_colon"},
      {"control_char_in_value",
       std::string("GET /p HTTP/1.1\r\nHost: a\r\nX-A: b\x01") + "c\r\n\r\n", 400,
       "bad_header_value"},
      {"missing_host", "GET /p HTTP/1.1\r\nX-A: b\r\n\r\n", 400, "missing_host"},
      {"two_hosts", "GET /p HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "duplicate_host"},
      {"bad_method", "G(ET /p HTTP/1.1\r\nHost: a\r\n\r\n", 400, "bad_method"},
      {"bad_version", "GET /p HTPT/1.1\r\nHost: a\r\n\r\n", 400, "bad_version"},
      {"unknown_te", post + "Transfer-Encoding: foo, chunked\r\n\r\n0\r\n\r\n", 501,
       "unknown_transfer_encoding"},
      {"head_too_big",
       "GET /p HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(70 * 1024, 'b') + "\r\n\r\n", 431,
       "headers_too_large"},
      {"too_many_headers", "GET /p HTTP/1.1\r\nHost: a\r\n" + manyHeaders(101) + "\r\n", 431,
       "too_many_headers"},
      {"request_line_too_long",
       "GET /" + std::string(9 * 1024, 'l') + " HTTP/1.1\r\nHost: a\r\n\r\n", 414,
       "request_line_too_long"},
      {"body_over_max_content_length",
       post + "Content-Length: 2000\r\n\r\n" + std::string(2000, 'x'), 413, "body_too_large"},
      {"body_over_max_chunked",
       post + "Transfer-Encoding: chunked\r\n\r\n5dc\r\n" + std::string(1500, 'x') +
           "\r\n0\r\n\r\n",
       413, "body_too_large"},
      // A request pipelined behind a refused one in the same write is not forwarded.
      {"pipelined_after_refusal",
       post + "Content-Length: nope\r\n\r\nGET /second HTTP/1.1\r\nHost: a\r\n\r\n", 400,
       "bad_content_length"},
      {"pipelined_after_bad_chunk",
       post + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n"
              "GET /second HTTP/1.1\r\nHost: a\r\n\r\n",
       400, "bad_chunk_framing"},
  };
}

// Sends `c` on a fresh connection to a one-worker pilotfish whose pool already holds an idle
// connection to the backend (so nothing stands between a forwarded head and the backend), then
// a good request: the only other one the backend may see.
void expectRefused(const BadRequest& c) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(yaml({.port = port,
                     .clusters = clusterYaml("be", {be.port()}),
                     .listener = "    max_request_body: 1000\n    request_headers_timeout: 5s\n"
                                 "    cluster: be\n",
                     .workers = 1}));
  auto warm = once(port, request("GET", "/warm"));
  ASSERT_EQ(warm.status, 200) << shown(warm.raw);
  pf.waitMetric("pilotfish_pool_connections_idle{cluster=\"be\"}", [](double v) { return v == 1; });

  auto x = rawHttp(port, c.bytes, 10s);
  ASSERT_EQ(x.connect_error, 0);
  EXPECT_TRUE(x.peerClosed()) << "connection left open (" << toString(x.end) << ")";
  auto rs = parseResponses(x.data);
  ASSERT_EQ(rs.size(), 1u) << "responses: " << rs.size() << "\n" << shown(x.data);
  EXPECT_EQ(rs[0].status, c.status) << shown(rs[0].raw);
  EXPECT_EQ(rs[0].header("x-pilotfish-error"), c.token) << shown(rs[0].raw);
  EXPECT_EQ(lowered(rs[0].header("connection")), "close") << shown(rs[0].raw);
  EXPECT_EQ(pf.waitMetric(errorMetric(c.token), [](double v) { return v >= 1; }), 1);

  auto ok = once(port, request("GET", "/sentinel"));
  ASSERT_EQ(ok.status, 200) << shown(ok.raw);
  EXPECT_EQ(echoOf(ok).target(), "/sentinel");
  EXPECT_EQ(be.stats().requests, 2)
      << "the refused request (or what followed it) reached the backend:\n"
      << json::serialize(be.conns());
}

#define PARSE_CASE(NAME)                                         \
  TEST(HttpProxyParse, NAME) {                                   \
    for (const auto& c : badRequests()) {                        \
      if (std::string(c.name) == #NAME) return expectRefused(c); \
    }                                                            \
    FAIL() << "no case " #NAME;                                  \
  }

PARSE_CASE(cl_and_te)
PARSE_CASE(te_and_cl)
PARSE_CASE(two_different_cl)
PARSE_CASE(cl_not_digits)
PARSE_CASE(cl_hex)
PARSE_CASE(te_not_ending_chunked)
PARSE_CASE(te_without_chunked)
PARSE_CASE(chunked_twice)
PARSE_CASE(te_in_http10)
PARSE_CASE(bad_chunk_size)
PARSE_CASE(bare_lf_in_head)
PARSE_CASE(obs_fold)
PARSE_CASE(space_before_colon)
PARSE_CASE(control_char_in_value)
PARSE_CASE(missing_host)
PARSE_CASE(two_hosts)
PARSE_CASE(bad_method)
PARSE_CASE(bad_version)
PARSE_CASE(unknown_te)
PARSE_CASE(head_too_big)
PARSE_CASE(too_many_headers)
PARSE_CASE(request_line_too_long)
PARSE_CASE(body_over_max_content_length)
PARSE_CASE(body_over_max_chunked)
PARSE_CASE(pipelined_after_refusal)
PARSE_CASE(pipelined_after_bad_chunk)

TEST(HttpProxyParse, EveryCaseHasATest) {
  // A case added to badRequests() without a PARSE_CASE line would never run.
  EXPECT_EQ(badRequests().size(), 26u);
}

// Sends `partial` (a request that stops), then expects one 408 with `token` and a close, no
// sooner than `min_ms` and within 4 s.
void expect408AfterStall(uint16_t port, const std::string& partial, double min_ms,
                         const std::string& token) {
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  auto t0 = Clock::now();
  ASSERT_TRUE(c.sendAll(partial));
  std::string got;
  auto end = c.waitClosed(8s, &got);
  double ms = msSince(t0);
  EXPECT_EQ(end, ReadEnd::kEof) << toString(end);
  EXPECT_GE(ms, min_ms);
  EXPECT_LT(ms, 4000);
  auto rs = parseResponses(got);
  ASSERT_EQ(rs.size(), 1u) << shown(got);
  EXPECT_EQ(rs[0].status, 408);
  EXPECT_EQ(rs[0].header("x-pilotfish-error"), token);
  EXPECT_EQ(lowered(rs[0].header("connection")), "close");
}

TEST(HttpProxy, SlowlorisGets408AfterRequestHeadersTimeout) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port(), "    request_headers_timeout: 1s\n"));
  expect408AfterStall(port, "GET /slow HTTP/1.1\r\nHost: a\r\nX-Partial: ", 900,
                      "request_headers_timeout");
  EXPECT_EQ(pf.metric(errorMetric("request_headers_timeout")), 1);
  EXPECT_EQ(be.stats().requests, 0);

  // Trickling bytes does not extend the deadline: it runs from the first byte of the head.
  TcpClient d;
  ASSERT_EQ(d.connect(port), 0);
  auto t1 = Clock::now();
  std::string drip = "GET /drip HTTP/1.1\r\nHost: a\r\n";
  std::string got2;
  ReadEnd end2 = ReadEnd::kTimeout;
  for (std::size_t i = 0; i < drip.size() && msSince(t1) < 6000; ++i) {
    if (!d.sendAll(drip.substr(i, 1))) break;
    end2 = d.recvSome(got2, 200ms);
    if (end2 != ReadEnd::kTimeout) break;
  }
  if (end2 == ReadEnd::kData) end2 = d.waitClosed(5s, &got2);
  EXPECT_LT(msSince(t1), 4000) << "trickled head kept the connection open";
  auto rs2 = parseResponses(got2);
  ASSERT_EQ(rs2.size(), 1u) << shown(got2);
  EXPECT_EQ(rs2[0].status, 408);
}

// must-survive row 16 (slow body, R-U-Dead-Yet): a body that stops gets 408 and a close; one
// that keeps coming, however slowly, is not cut, however long it takes in all.
TEST(HttpProxy, StalledRequestBodyGets408AfterRequestBodyTimeout) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port(), "    request_body_timeout: 600ms\n"));
  expect408AfterStall(port, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n123",
                      500, "request_body_timeout");
  EXPECT_EQ(pf.metric(errorMetric("request_body_timeout")), 1);
  // The body was held (it fits the replay buffer): the backend saw nothing of it.
  EXPECT_EQ(be.stats().requests, 0);

  // 10 bytes, one every 200 ms: 2 s in all, never a 600 ms pause.
  TcpClient d;
  ASSERT_EQ(d.connect(port), 0);
  ASSERT_TRUE(
      d.sendAll("POST /drip HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n"
                "Connection: close\r\n\r\n"));
  std::string got2;
  for (int i = 0; i < 10; ++i) {
    ASSERT_EQ(d.recvSome(got2, 200ms), ReadEnd::kTimeout) << "answered mid-body: " << shown(got2);
    ASSERT_TRUE(d.sendAll("x"));
  }
  d.waitClosed(5s, &got2);
  auto rs2 = parseResponses(got2);
  ASSERT_EQ(rs2.size(), 1u) << shown(got2);
  EXPECT_EQ(rs2[0].status, 200);
  EXPECT_EQ(pf.metric(errorMetric("request_body_timeout")), 1);
}

// must-survive row 17 (slow read, zero window): a client that stops reading a big response is
// reset after response_send_timeout, and the upstream connection is let go; a slow reader that
// keeps taking bytes is never cut.
TEST(HttpProxy, ClientThatStopsReadingIsResetAfterResponseSendTimeout) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port(), "    response_send_timeout: 1s\n"));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  // 64 MiB: far more than the socket buffers and pilotfish's 64 KiB can hold.
  ASSERT_TRUE(c.sendAll(request("GET", "/bytes/67108864", "", "", false)));
  auto t0 = Clock::now();
  ASSERT_EQ(pf.waitMetric(
                errorMetric("response_send_timeout"), [](double v) { return v >= 1; }, 8s),
            1)
      << "a client that reads nothing was not cut";
  EXPECT_GE(msSince(t0), 900);
  EXPECT_EQ(pf.metric("pilotfish_http_responses_aborted_total{listener=\"web\"}"), 1);
  // What was queued before the reset may be read; then the connection ends abnormally.
  std::string got;
  EXPECT_EQ(c.waitClosed(5s, &got), ReadEnd::kReset);
  EXPECT_LT(got.size(), 67108864u);

  // A slow reader: 256 KiB every 100 ms, a 16 MiB body, never a 1 s pause.
  TcpClient d;
  ASSERT_EQ(d.connect(port), 0);
  ASSERT_TRUE(d.sendAll(request("GET", "/bytes/16777216", "", "", true)));
  std::string body;
  ReadEnd end = ReadEnd::kTimeout;
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);  // the pacing of a slow reader, not a synchronisation
    end = d.recvAtLeast(body, body.size() + 256 * 1024, 2s);
    if (end != ReadEnd::kData && end != ReadEnd::kTimeout) break;
  }
  EXPECT_EQ(end, ReadEnd::kEof);
  auto rs = parseResponses(body);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].status, 200);
  EXPECT_EQ(rs[0].body.size(), 16777216u);
  EXPECT_EQ(pf.metric(errorMetric("response_send_timeout")), 1);
}

// Polls `value` until it has not changed for `quiet` (a transfer that stalled); returns that
// value, or nullopt when it was still changing at `deadline`. NaN (a failed scrape) counts as a
// change.
std::optional<double> waitStalled(const std::function<double()>& value, milliseconds quiet,
                                  milliseconds deadline) {
  const auto end = Clock::now() + deadline;
  double last = value();
  auto since = Clock::now();
  while (Clock::now() < end) {
    std::this_thread::sleep_for(50ms);  // polling interval: the quiet period is what is measured
    const double v = value();
    if (v != last || std::isnan(v)) {
      last = v;
      since = Clock::now();
    } else if (Clock::now() - since >= quiet) {
      return last;
    }
  }
  return std::nullopt;
}

constexpr long kOneMiB = 1L << 20;
const std::string kUpRx = "pilotfish_cluster_upstream_received_bytes_total{cluster=\"be\"}";

// Memory bound, download direction: a client asks for 256 MiB and reads none of it. pilotfish
// reads from the upstream only while its 64 KiB buffer toward the client has room, so what it
// takes from the upstream is bounded by that buffer plus the kernel's socket buffers, and its
// RSS does not grow with the body.
TEST(HttpProxy, ClientThatStopsReadingBoundsMemoryAndUpstreamReads) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port(), "    response_send_timeout: 30s\n"));
  // Warm-up: one whole download through the same path (buffers, allocator arenas, block cache).
  {
    TcpClient w;
    ASSERT_EQ(w.connect(port), 0);
    std::string buf;
    auto r = roundTrip(w, buf, request("GET", "/bytes/4194304", "", "", false));
    ASSERT_EQ(r.status, 200);
    ASSERT_EQ(r.body.size(), 4194304u);
  }
  const double rx0 = pf.metric(kUpRx);
  ASSERT_FALSE(std::isnan(rx0));

  constexpr long kBody = 256 * kOneMiB;
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.sendAll(request("GET", "/bytes/" + std::to_string(kBody), "", "", false)));
  // Request started: the backend has it and pilotfish has begun receiving the body.
  ASSERT_EQ(be.waitStats([](const BackendStats& s) { return s.requests >= 2; }).requests, 2);
  ASSERT_TRUE(waitFor([&] { return pf.metric(kUpRx) - rx0 > 0; }, 5s));
  const long rss0 = rssKiB(pf.pid());
  ASSERT_GT(rss0, 0);

  // The transfer stalls: the bytes pilotfish reads from the upstream stop growing.
  auto stalled = waitStalled([&] { return pf.metric(kUpRx); }, 700ms, 6s);
  ASSERT_TRUE(stalled) << "upstream bytes kept growing: pilotfish reads a body nobody takes; "
                       << (pf.metric(kUpRx) - rx0) << " bytes so far";
  const long rss1 = rssKiB(pf.pid());
  const double taken = *stalled - rx0;
  EXPECT_GT(taken, 64 * 1024) << "the transfer never started";
  EXPECT_LT(taken, 16.0 * kOneMiB) << "pilotfish read " << taken << " bytes of a body the client "
                                   << "does not read (its buffer is 64 KiB)";
  EXPECT_LT(rss1 - rss0, 8 * 1024) << "RSS grew from " << rss0 << " KiB to " << rss1 << " KiB";
  EXPECT_EQ(pf.metric(errorMetric("response_send_timeout")), 0);
  std::cout << "upstream bytes read while stalled: " << taken << ", RSS " << rss0 << " -> " << rss1
            << " KiB\n";

  // It was backpressure, not a failure: once the client reads, the body flows again.
  std::string got;
  ASSERT_EQ(c.recvAtLeast(got, static_cast<std::size_t>(taken) + 8 * kOneMiB, 10s), ReadEnd::kData);
  EXPECT_GT(pf.metric(kUpRx) - rx0, taken);
  EXPECT_EQ(got.compare(0, 15, "HTTP/1.1 200 OK"), 0) << shown(got);
}

// Memory bound, upload direction: a client streams a 256 MiB body as fast as its socket takes it
// to an upstream that accepted the connection but never reads. pilotfish stops reading the client
// once 64 KiB wait for the upstream, so the client's send blocks, and RSS does not grow.
TEST(HttpProxy, UploadToAnUpstreamThatNeverReadsIsBackpressured) {
  HttpBackend be;
  TestServer stuck(TestServer::Mode::kHold);
  uint16_t port = freePort();
  Pilotfish pf(
      yaml({.port = port,
            .clusters = clusterYaml("be", {be.port()}) + clusterYaml("stuck", {stuck.port()}),
            .listener = "    request_body_timeout: 30s\n    routes:\n"
                        "      - match: {path_prefix: /warm}\n        cluster: be\n"
                        "    cluster: stuck\n"}));
  // Warm-up: a 4 MiB upload through the same path to a backend that reads it.
  {
    auto body = randomBytes(4 * kOneMiB, 9);
    TcpClient w;
    ASSERT_EQ(w.connect(port), 0);
    std::string buf;
    auto r = roundTrip(w, buf, request("POST", "/warm", "", body, false));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(echoOf(r).bodyLen(), 4 * kOneMiB);
  }
  const std::string up_tx = "pilotfish_cluster_upstream_sent_bytes_total{cluster=\"stuck\"}";
  const std::string rx = lm("pilotfish_listener_received_bytes_total");
  const double tx0 = pf.metric(up_tx);
  const double rx0 = pf.metric(rx);
  ASSERT_FALSE(std::isnan(tx0) || std::isnan(rx0));

  constexpr long kBody = 256 * kOneMiB;
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.sendAll("POST /upload HTTP/1.1\r\nHost: svc.local\r\nContent-Length: " +
                        std::to_string(kBody) + "\r\n\r\n"));
  ASSERT_TRUE(waitFor([&] { return stuck.accepted() >= 1; }, 5s)) << "no upstream connection";
  const long rss0 = rssKiB(pf.pid());
  ASSERT_GT(rss0, 0);

  // Send as fast as the socket allows until it has taken nothing for 700 ms.
  const std::string chunk(kOneMiB, 'u');
  long sent = 0;
  auto last_progress = Clock::now();
  const auto deadline = Clock::now() + 6s;
  while (sent < kBody && Clock::now() - last_progress < 700ms && Clock::now() < deadline) {
    long n = c.sendSome(chunk.data(), std::min<long>(kOneMiB, kBody - sent));
    ASSERT_GE(n, 0) << "send failed: " << std::strerror(static_cast<int>(-n));
    if (n > 0) {
      sent += n;
      last_progress = Clock::now();
    } else {
      pollfd p{c.fd(), POLLOUT, 0};
      ::poll(&p, 1, 50);
    }
  }
  const long rss1 = rssKiB(pf.pid());
  ASSERT_LT(sent, kBody) << "the client sent the whole body into an upstream that reads nothing";
  EXPECT_GE(msSince(last_progress), 700) << "the send never blocked within 6 s; sent " << sent;
  EXPECT_LT(sent, 64 * kOneMiB) << "the client's send blocked only after " << sent << " bytes";
  EXPECT_GT(sent, 64 * 1024);
  const double took = pf.metric(rx) - rx0;
  const double forwarded = pf.metric(up_tx) - tx0;
  EXPECT_LT(took, 16.0 * kOneMiB) << "pilotfish read " << took << " bytes from the client";
  EXPECT_LT(forwarded, 16.0 * kOneMiB);
  EXPECT_GT(forwarded, 0) << "the body past the replay buffer was not streamed";
  EXPECT_LE(took - forwarded, 256.0 * 1024) << "read " << took << " forwarded " << forwarded;
  EXPECT_EQ(stuck.bytesIn(), 0u);
  EXPECT_LT(rss1 - rss0, 8 * 1024) << "RSS grew from " << rss0 << " KiB to " << rss1 << " KiB";
  EXPECT_EQ(pf.metric(errorMetric("request_body_timeout")), 0);
  std::cout << "client sent " << sent << ", pilotfish read " << took << " and forwarded "
            << forwarded << " bytes, RSS " << rss0 << " -> " << rss1 << " KiB\n";

  // The stuck upstream dies: the exchange ends (the client cannot close it: its unsent bytes
  // queue behind a zero window, so pilotfish would never see its FIN).
  stuck.abortAll();
  std::string buf;
  ReadEnd end = ReadEnd::kError;
  auto r = readResponse(c, buf, 5s, false, &end);
  if (r) {
    EXPECT_GE(r->status, 500) << shown(r->raw);
    EXPECT_EQ(lowered(r->header("connection")), "close") << shown(r->raw);
    std::cout << "after the upstream reset: " << r->status << " " << r->header("x-pilotfish-error")
              << "\n";
  } else {
    EXPECT_EQ(end, ReadEnd::kReset) << "the client connection outlived its upstream";
  }
}

TEST(HttpProxy, IdleKeepaliveConnectionClosesWithoutAnswer) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(
      simpleYaml(port, be.port(), "    request_headers_timeout: 1s\n    idle_timeout: 2s\n"));
  // A connection that never sends a byte: closed after idle_timeout, no 408. (HTTP listeners
  // defer accepting, so it reaches pilotfish about 1 s after connecting: not held for ever.)
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  auto t0 = Clock::now();
  std::string got;
  auto end = c.waitClosed(8s, &got);
  EXPECT_EQ(end, ReadEnd::kEof) << toString(end);
  EXPECT_TRUE(got.empty()) << "answered an idle connection: " << shown(got);
  EXPECT_GE(msSince(t0), 1500) << "closed before idle_timeout (request_headers_timeout used?)";

  // After a complete request: the same.
  TcpClient d;
  ASSERT_EQ(d.connect(port), 0);
  std::string buf;
  auto r = roundTrip(d, buf, request("GET", "/one", "", "", false));
  EXPECT_EQ(r.status, 200);
  auto t1 = Clock::now();
  std::string more;
  auto end2 = d.waitClosed(8s, &more);
  EXPECT_EQ(end2, ReadEnd::kEof) << toString(end2);
  EXPECT_TRUE(buf.empty() && more.empty()) << "bytes after the response: " << shown(buf + more);
  EXPECT_GE(msSince(t1), 1500);
  EXPECT_EQ(pf.metric(errorMetric("request_headers_timeout")), 0);
}

// ---------------------------------------------------------------------------------------------
// 6. Upstream failures: timeouts, dead endpoints, retries, resets, bad framing

TEST(HttpProxy, RouteTimeoutGives504) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(
      yaml({.port = port, .clusters = clusterYaml("be", {be.port()}), .listener = R"(    routes:
      - match: {path_prefix: /}
        cluster: be
        timeout: 1s
)"}));
  auto t0 = Clock::now();
  auto r = once(port, request("GET", "/slow/2500"));
  double ms = msSince(t0);
  EXPECT_EQ(r.status, 504) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "upstream_timeout");
  EXPECT_GE(ms, 900);
  EXPECT_LT(ms, 2400);
  EXPECT_EQ(pf.metric(errorMetric("upstream_timeout")), 1);
  // A fast request on the same route is fine.
  EXPECT_EQ(once(port, request("GET", "/fast")).status, 200);
}

TEST(HttpProxy, DeadEndpointGives503ConnectFailure) {
  uint16_t dead = freePort();  // nobody listens
  uint16_t port = freePort();
  Pilotfish pf(
      yaml({.port = port, .clusters = clusterYaml("be", {dead}), .listener = "    cluster: be\n"}));
  auto r = once(port, request("GET", "/x"));
  EXPECT_EQ(r.status, 503) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "connect_failure");
  EXPECT_EQ(pf.metric(errorMetric("connect_failure")), 1);
  // The connection stays usable for the next request (keepalive after a local answer).
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string buf;
  EXPECT_EQ(roundTrip(c, buf, request("GET", "/a", "", "", false)).status, 503);
  EXPECT_EQ(roundTrip(c, buf, request("GET", "/b", "", "", false)).status, 503);
}

TEST(HttpProxy, DeadEndpointIsSkipped) {
  HttpBackend be;
  uint16_t dead = freePort();
  uint16_t port = freePort();
  Pilotfish pf(yaml({.port = port,
                     .clusters = clusterYaml("be", {dead, be.port()}),
                     .listener = "    cluster: be\n"}));
  for (int i = 0; i < 12; ++i) {
    auto r = once(port, request("GET", "/n/" + std::to_string(i)));
    EXPECT_EQ(r.status, 200) << "request " << i << ": " << shown(r.raw);
  }
  EXPECT_EQ(be.stats().requests, 12);
  EXPECT_EQ(pf.metric(errorMetric("connect_failure")), 0);
  EXPECT_GT(pf.metric("pilotfish_cluster_upstream_connect_failures_total{cluster=\"be\"}"), 0);
}

TEST(HttpProxy, RetriesOn503) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(
      yaml({.port = port, .clusters = clusterYaml("be", {be.port()}), .listener = R"(    routes:
      - match: {path_prefix: /retry}
        cluster: be
        retries: {attempts: 2, on: [connect-failure, reset, 503], per_try_timeout: 2s}
      - match: {path_prefix: /}
        cluster: be
)"}));
  auto r = once(port, request("GET", "/retry/x", "x-backend-mode: status/503\r\n"));
  EXPECT_EQ(r.status, 503) << shown(r.raw);
  EXPECT_EQ(r.headerCount("x-pilotfish-error"), 0) << "the upstream's own 503 is returned";
  EXPECT_EQ(pf.metric(lm("pilotfish_http_retries_total")), 2);
  EXPECT_EQ(be.stats().requests, 3);
  // No retries on a route without them; none for a non-idempotent POST.
  EXPECT_EQ(once(port, request("GET", "/plain", "x-backend-mode: status/503\r\n")).status, 503);
  EXPECT_EQ(once(port, request("POST", "/retry/p", "x-backend-mode: status/503\r\n", "b")).status,
            503);
  EXPECT_EQ(pf.metric(lm("pilotfish_http_retries_total")), 2);
  EXPECT_EQ(be.stats().requests, 5);
}

TEST(HttpProxy, ResetBeforeHeadGives503UpstreamReset) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(
      yaml({.port = port, .clusters = clusterYaml("be", {be.port()}), .listener = R"(    routes:
      - match: {path_prefix: /retry}
        cluster: be
        retries: {attempts: 2, on: [reset]}
      - match: {path_prefix: /}
        cluster: be
)"}));
  auto r = once(port, request("GET", "/reset-before-head"));
  EXPECT_EQ(r.status, 503) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "upstream_reset");
  EXPECT_EQ(pf.metric(errorMetric("upstream_reset")), 1);
  EXPECT_EQ(be.stats().requests, 1);
  EXPECT_EQ(pf.metric(lm("pilotfish_http_retries_total")), 0);
  // With `retries: {on: [reset]}`: tried three times, then the same answer.
  auto t = once(port, request("GET", "/retry/x", "x-backend-mode: reset-before-head\r\n"));
  EXPECT_EQ(t.status, 503) << shown(t.raw);
  EXPECT_EQ(t.header("x-pilotfish-error"), "upstream_reset");
  EXPECT_EQ(pf.metric(lm("pilotfish_http_retries_total")), 2);
  EXPECT_EQ(be.stats().requests, 4);
}

TEST(HttpProxy, ResetMidBodyTruncatesAndClosesClient) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  auto x = rawHttp(port, request("GET", "/reset-mid-body", "", "", false), 10s);
  EXPECT_TRUE(x.peerClosed()) << "client connection left open: " << toString(x.end);
  std::size_t consumed = 0;
  EXPECT_FALSE(parseResponse(x.data, consumed, true)) << "looks complete: " << shown(x.data);
  auto head_end = x.data.find("\r\n\r\n");
  if (head_end != std::string::npos) {
    EXPECT_EQ(x.data.rfind("HTTP/1.1 200", 0), 0u) << shown(x.data);
    EXPECT_NE(lowered(x.data).find("content-length: 1000\r\n"), std::string::npos);
    EXPECT_LT(x.data.size() - head_end - 4, 1000u);
  }
  auto c = curl({"-o", "/dev/null", url(port, "/reset-mid-body")});
  EXPECT_TRUE(exitCode(c) == 18 || exitCode(c) == 56) << describe(c);
  EXPECT_EQ(
      pf.waitMetric(lm("pilotfish_http_responses_aborted_total"), [](double v) { return v >= 2; }),
      2);
}

TEST(HttpProxy, BadFramingGives502) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  auto r = once(port, request("GET", "/bad-framing"));
  EXPECT_EQ(r.status, 502) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "upstream_protocol_error");
  auto s = once(port, request("GET", "/bad-status"));
  EXPECT_EQ(s.status, 502) << shown(s.raw);
  EXPECT_EQ(s.header("x-pilotfish-error"), "upstream_protocol_error");
  EXPECT_EQ(pf.metric(errorMetric("upstream_protocol_error")), 2);
}

// A chunked response whose upstream resets after two chunks: the client gets no last chunk (a
// truncated body must not look complete), its connection is cut, and the abort is counted.
TEST(HttpProxy, ChunkedResponseResetMidBodyIsNeverTerminated) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  auto x = rawHttp(port, request("GET", "/chunked-reset", "", "", false), 10s);
  EXPECT_TRUE(x.peerClosed()) << "client connection left open: " << toString(x.end);
  std::size_t consumed = 0;
  EXPECT_FALSE(parseResponse(x.data, consumed, true)) << "looks complete: " << shown(x.data);
  if (auto head_end = x.data.find("\r\n\r\n"); head_end != std::string::npos) {
    EXPECT_EQ(x.data.rfind("HTTP/1.1 200", 0), 0u) << shown(x.data);
    EXPECT_NE(lowered(x.data).find("transfer-encoding: chunked\r\n"), std::string::npos)
        << shown(x.data);
    // The body: at most the two chunks (what was read before the reset), never a last chunk.
    const std::string body = x.data.substr(head_end + 4);
    EXPECT_EQ(std::string("8\r\nchunk 0\n\r\n8\r\nchunk 1\n\r\n").rfind(body, 0), 0u)
        << "body: " << shown(body);
    EXPECT_TRUE(body.rfind("0\r\n", 0) != 0 && body.find("\n0\r\n") == std::string::npos)
        << "last chunk sent: " << shown(body);
  }
  EXPECT_EQ(
      pf.waitMetric(lm("pilotfish_http_responses_aborted_total"), [](double v) { return v >= 1; }),
      1);
  EXPECT_EQ(pf.metric(errorMetric("upstream_reset")), 1);
  // curl sees a transfer that did not end properly.
  auto c = curl({"-o", "/dev/null", url(port, "/chunked-reset")});
  EXPECT_TRUE(exitCode(c) == 18 || exitCode(c) == 56) << describe(c);
  EXPECT_EQ(
      pf.waitMetric(lm("pilotfish_http_responses_aborted_total"), [](double v) { return v >= 2; }),
      2);
  EXPECT_EQ(be.stats().requests, 2);
}

// `retries: {on: [reset]}` never replays a non-idempotent request: a POST whose upstream resets
// before answering is sent once and answered 503. (A GET on the same route is tried three times:
// ResetBeforeHeadGives503UpstreamReset.)
TEST(HttpProxy, PostIsNotRetriedOnReset) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(
      yaml({.port = port, .clusters = clusterYaml("be", {be.port()}), .listener = R"(    routes:
      - match: {path_prefix: /retry}
        cluster: be
        retries: {attempts: 2, on: [reset]}
)"}));
  auto r = once(port, request("POST", "/retry/p", "x-backend-mode: reset-before-head\r\n", "b"));
  EXPECT_EQ(r.status, 503) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "upstream_reset");
  EXPECT_EQ(be.stats().requests, 1) << json::serialize(be.conns());
  EXPECT_EQ(pf.metric(lm("pilotfish_http_retries_total")), 0);
  EXPECT_EQ(pf.metric(errorMetric("upstream_reset")), 1);
}

// An upstream that closes (FIN) in the middle of its response head: 502 upstream_protocol_error,
// and the client connection stays usable.
TEST(HttpProxy, PartialResponseHeadGives502) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string buf;
  auto r = roundTrip(c, buf, request("GET", "/partial-head", "", "", false));
  EXPECT_EQ(r.status, 502) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "upstream_protocol_error");
  EXPECT_EQ(r.headerCount("x"), 0) << shown(r.raw);
  auto ok = roundTrip(c, buf, request("GET", "/after", "", "", false));
  ASSERT_EQ(ok.status, 200) << shown(ok.raw);
  EXPECT_EQ(echoOf(ok).target(), "/after");
  EXPECT_EQ(pf.metric(errorMetric("upstream_protocol_error")), 1);
  EXPECT_EQ(pf.metric(errorMetric("upstream_reset")), 0);
  EXPECT_EQ(be.stats().requests, 2);
}

// ---------------------------------------------------------------------------------------------
// 7. Trace headers at the backend and in the access log

struct Traced {
  HttpBackend be;
  uint16_t port = freePort();
  std::string log = tempDir() + "/access-" + std::to_string(port) + ".log";
  Pilotfish pf{simpleYaml(port, be.port(), "", "access_log: {path: " + log + ", format: json}")};

  // The access-log line of the request with this request id.
  json::object logLine(const std::string& request_id) {
    json::object found;
    waitFor(
        [&] {
          for (auto& l : readJsonLines(log)) {
            if (field(l, "request_id") == request_id) {
              found = l;
              return true;
            }
          }
          return false;
        },
        5s);
    return found;
  }
};

TEST(HttpProxy, TraceStartedWhenNoIncomingContext) {
  Traced t;
  auto r = once(t.port, request("GET", "/trace"));
  ASSERT_EQ(r.status, 200) << shown(r.raw);
  auto e = echoOf(r);
  std::string trace = e.header("x-b3-traceid");
  std::string span = e.header("x-b3-spanid");
  EXPECT_TRUE(std::regex_match(trace, kHex32)) << e.dump();
  EXPECT_TRUE(std::regex_match(span, kHex16)) << e.dump();
  EXPECT_EQ(e.header("x-b3-sampled"), "1");
  EXPECT_EQ(e.count("x-b3-parentspanid"), 0);
  EXPECT_EQ(e.header("traceparent"), "00-" + trace + "-" + span + "-01");
  std::string rid = e.header("x-request-id");
  EXPECT_TRUE(std::regex_match(rid, kUuid4)) << rid;
  EXPECT_EQ(r.header("x-request-id"), rid) << "request id not returned to the client";
  auto l = t.logLine(rid);
  ASSERT_FALSE(l.empty()) << "no access-log line with request_id " << rid;
  EXPECT_EQ(field(l, "trace_id"), trace);
  EXPECT_EQ(field(l, "span_id"), span);
  EXPECT_EQ(field(l, "listener"), "web");
  EXPECT_EQ(field(l, "method"), "GET");
  EXPECT_EQ(field(l, "path"), "/trace");
  EXPECT_EQ(field(l, "authority"), "svc.local");
  EXPECT_EQ(field(l, "protocol"), "HTTP/1.1");
  EXPECT_EQ(field(l, "cluster"), "be");
  EXPECT_EQ(field(l, "upstream_address"), "127.0.0.1:" + std::to_string(t.be.port()));
  EXPECT_EQ(l.at("status").to_number<int>(), 200);
  EXPECT_TRUE(l.at("error").is_null());
  // Two requests never share ids.
  auto e2 = echoOf(once(t.port, request("GET", "/trace")));
  EXPECT_NE(e2.header("x-b3-traceid"), trace);
  EXPECT_NE(e2.header("x-request-id"), rid);
}

TEST(HttpProxy, TraceContinuesB3With64BitTraceId) {
  Traced t;
  auto r =
      once(t.port, request("GET", "/b3",
                           "X-B3-TraceId: a3ce929d0e0e4736\r\nX-B3-SpanId: 00f067aa0ba902b7\r\n"
                           "X-B3-Sampled: 0\r\nx-request-id: req-b3-1\r\n"));
  ASSERT_EQ(r.status, 200);
  auto e = echoOf(r);
  const std::string trace = "0000000000000000a3ce929d0e0e4736";
  EXPECT_EQ(e.header("x-b3-traceid"), trace) << e.dump();
  EXPECT_EQ(e.header("x-b3-parentspanid"), "00f067aa0ba902b7");
  std::string span = e.header("x-b3-spanid");
  EXPECT_TRUE(std::regex_match(span, kHex16));
  EXPECT_NE(span, "00f067aa0ba902b7");
  EXPECT_EQ(e.header("x-b3-sampled"), "0") << "sampling decision not kept";
  EXPECT_EQ(e.header("traceparent"), "00-" + trace + "-" + span + "-00");
  EXPECT_EQ(e.count("x-b3-traceid"), 1);
  EXPECT_EQ(e.header("x-request-id"), "req-b3-1");
  EXPECT_EQ(r.header("x-request-id"), "req-b3-1");
  auto l = t.logLine("req-b3-1");
  ASSERT_FALSE(l.empty());
  EXPECT_EQ(field(l, "trace_id"), trace);
  EXPECT_EQ(field(l, "span_id"), span);
}

TEST(HttpProxy, TraceContinuesW3cOnly) {
  Traced t;
  auto r = once(t.port,
                request("GET", "/w3c",
                        "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"
                        "tracestate: vendor=abc\r\n"));
  ASSERT_EQ(r.status, 200);
  auto e = echoOf(r);
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  std::string span = e.header("x-b3-spanid");
  EXPECT_EQ(e.header("x-b3-traceid"), trace) << e.dump();
  EXPECT_EQ(e.header("x-b3-parentspanid"), "00f067aa0ba902b7");
  EXPECT_EQ(e.header("x-b3-sampled"), "1");
  EXPECT_NE(span, "00f067aa0ba902b7");
  EXPECT_EQ(e.header("traceparent"), "00-" + trace + "-" + span + "-01");
  EXPECT_EQ(e.count("traceparent"), 1);
  EXPECT_EQ(e.header("tracestate"), "vendor=abc");
  std::string rid = e.header("x-request-id");
  EXPECT_TRUE(std::regex_match(rid, kUuid4)) << rid;
  auto l = t.logLine(rid);
  ASSERT_FALSE(l.empty());
  EXPECT_EQ(field(l, "trace_id"), trace);
}

TEST(HttpProxy, TraceparentWinsOverDisagreeingB3) {
  Traced t;
  auto r = once(
      t.port, request("GET", "/both",
                      "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\n"
                      "X-B3-SpanId: e457b5a2e4d86bd1\r\nX-B3-Sampled: 0\r\n"
                      "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\n"));
  ASSERT_EQ(r.status, 200);
  auto e = echoOf(r);
  const std::string trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  std::string span = e.header("x-b3-spanid");
  EXPECT_EQ(e.header("x-b3-traceid"), trace) << e.dump();
  EXPECT_EQ(e.count("x-b3-traceid"), 1) << e.dump();
  EXPECT_EQ(e.header("x-b3-parentspanid"), "00f067aa0ba902b7");
  EXPECT_EQ(e.header("x-b3-sampled"), "1");
  EXPECT_EQ(e.header("traceparent"), "00-" + trace + "-" + span + "-01");
  for (const auto& [n, v] : e.headers()) {
    EXPECT_EQ(v.find("80f198ee56343ba864fe8b2a57d3eff7"), std::string::npos) << n << ": " << v;
  }
}

TEST(HttpProxy, MalformedTraceparentIsReplaced) {
  Traced t;
  const std::string bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";  // uppercase
  auto r = once(t.port, request("GET", "/bad-tp", "traceparent: " + bad + "\r\n"));
  ASSERT_EQ(r.status, 200);
  auto e = echoOf(r);
  std::string trace = e.header("x-b3-traceid");
  std::string span = e.header("x-b3-spanid");
  EXPECT_TRUE(std::regex_match(trace, kHex32)) << e.dump();
  EXPECT_NE(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(e.count("x-b3-parentspanid"), 0);
  EXPECT_EQ(e.count("traceparent"), 1) << e.dump();
  EXPECT_EQ(e.header("traceparent"), "00-" + trace + "-" + span + "-01");
  auto r2 = once(t.port, request("GET", "/bad-tp", "traceparent: garbage\r\n"));
  auto e2 = echoOf(r2);
  EXPECT_TRUE(
      std::regex_match(e2.header("traceparent"), std::regex("^00-[0-9a-f]{32}-[0-9a-f]{16}-01$")))
      << e2.dump();
}

// ---------------------------------------------------------------------------------------------
// 8. Forwarding headers, loop protection

TEST(HttpProxy, HopByHopRemovedForwardedHeadersAdded) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  auto r = once(port,
                "GET /fwd HTTP/1.1\r\nHost: fwd.local\r\n"
                "Connection: close, X-Foo, keep-alive, TE, Upgrade\r\n"
                "X-Foo: secret\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nUpgrade: h2c\r\n"
                "Proxy-Connection: keep-alive\r\n"
                "X-Keep: yes\r\nX-Forwarded-For: 203.0.113.7\r\nX-Forwarded-Proto: https\r\n"
                "x-pilotfish-hops: 3\r\n\r\n");
  ASSERT_EQ(r.status, 200) << shown(r.raw);
  auto e = echoOf(r);
  for (const char* gone :
       {"x-foo", "keep-alive", "te", "upgrade", "connection", "proxy-connection"}) {
    EXPECT_EQ(e.count(gone), 0) << gone << " forwarded: " << e.dump();
  }
  EXPECT_EQ(e.header("x-keep"), "yes");
  EXPECT_EQ(e.header("host"), "fwd.local");
  EXPECT_EQ(e.header("x-forwarded-for"), "203.0.113.7, 127.0.0.1");
  EXPECT_EQ(e.count("x-forwarded-for"), 1);
  EXPECT_EQ(e.header("x-forwarded-proto"), "http");
  EXPECT_EQ(e.count("x-forwarded-proto"), 1);
  EXPECT_EQ(e.header("x-pilotfish-hops"), "4");
  EXPECT_EQ(e.count("x-pilotfish-hops"), 1);
  // Without any: the client's address alone, one hop.
  auto e2 = echoOf(once(port, request("GET", "/fwd2")));
  EXPECT_EQ(e2.header("x-forwarded-for"), "127.0.0.1");
  EXPECT_EQ(e2.header("x-forwarded-proto"), "http");
  EXPECT_EQ(e2.header("x-pilotfish-hops"), "1");
}

TEST(HttpProxy, LoopDetectedByHopsHeader) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port(), "    max_hops: 10\n"));
  auto r = once(port, request("GET", "/loop", "x-pilotfish-hops: 10\r\n"));
  EXPECT_EQ(r.status, 508) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "loop_detected");
  auto ok = once(port, request("GET", "/loop", "x-pilotfish-hops: 9\r\n"));
  ASSERT_EQ(ok.status, 200) << shown(ok.raw);
  EXPECT_EQ(echoOf(ok).header("x-pilotfish-hops"), "10");
  // A malformed or repeated counter cannot be trusted: 508 as well.
  EXPECT_EQ(once(port, request("GET", "/loop", "x-pilotfish-hops: abc\r\n")).status, 508);
  EXPECT_EQ(
      once(port, request("GET", "/loop", "x-pilotfish-hops: 1\r\nx-pilotfish-hops: 1\r\n")).status,
      508);
  EXPECT_EQ(be.stats().requests, 1);
  EXPECT_EQ(pf.metric(errorMetric("loop_detected")), 3);
}

TEST(HttpProxy, LoopToOwnListenerDetected) {
  uint16_t port = freePort();
  Pilotfish pf(yaml(
      {.port = port, .clusters = clusterYaml("self", {port}), .listener = "    cluster: self\n"}));
  auto r = once(port, request("GET", "/me"));
  EXPECT_EQ(r.status, 508) << shown(r.raw);
  EXPECT_EQ(r.header("x-pilotfish-error"), "loop_detected");
  EXPECT_EQ(pf.metric(lm("pilotfish_http_requests_total")), 1)
      << "the request went round through the listener";
}

// ---------------------------------------------------------------------------------------------
// 9. HEAD, 204, 304 framing

TEST(HttpProxy, HeadNoContentNotModifiedFramingAndReuse) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  auto h = curl({"-I", "-w", "%{http_code}", url(port, "/head")});
  ASSERT_TRUE(h.ok()) << describe(h);
  EXPECT_NE(lowered(h.out).find("content-length: "), std::string::npos) << h.out;
  EXPECT_TRUE(h.out.size() >= 3 && h.out.substr(h.out.size() - 3) == "200") << h.out;

  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string buf;
  auto a = roundTrip(c, buf, request("HEAD", "/h1", "", "", false), /*head_request=*/true);
  EXPECT_EQ(a.status, 200);
  EXPECT_TRUE(a.body.empty());
  EXPECT_GT(std::stol(a.header("content-length")), 0) << shown(a.raw);
  auto b = roundTrip(c, buf, request("GET", "/status/204", "", "", false));
  EXPECT_EQ(b.status, 204);
  EXPECT_TRUE(b.body.empty());
  EXPECT_EQ(b.headerCount("content-length"), 0) << shown(b.raw);
  EXPECT_EQ(b.headerCount("transfer-encoding"), 0) << shown(b.raw);
  auto d = roundTrip(c, buf, request("GET", "/status/304", "", "", false));
  EXPECT_EQ(d.status, 304);
  EXPECT_TRUE(d.body.empty());
  EXPECT_EQ(d.headerCount("transfer-encoding"), 0) << shown(d.raw);
  auto h2 = roundTrip(c, buf, request("HEAD", "/chunked/5", "", "", false), true);
  EXPECT_EQ(h2.status, 200);
  EXPECT_TRUE(h2.body.empty());
  auto f = roundTrip(c, buf, request("GET", "/after", "", "", false));
  ASSERT_EQ(f.status, 200);
  EXPECT_EQ(echoOf(f).target(), "/after");
  EXPECT_TRUE(buf.empty()) << "stray bytes: " << shown(buf);
  std::string stray;
  EXPECT_EQ(c.recvSome(stray, 300ms), ReadEnd::kTimeout) << shown(stray);
  // The upstream connection was reused across all of them (the framing was understood).
  auto conns = be.conns();
  long on_one = 0;
  for (const auto& x : conns) on_one = std::max(on_one, x.at("requests").to_number<long>());
  EXPECT_GE(on_one, 5) << json::serialize(conns);
}

// ---------------------------------------------------------------------------------------------
// 10. nginx behind pilotfish

TEST(HttpProxy, NginxBackendKeepsUpstreamConnectionsAlive) {
  Nginx ng;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, ng.port()));
  auto r = curl({"-w", "%{http_code}\n", url(port, "/n/[1-200]")}, 60s);
  ASSERT_TRUE(r.ok()) << describe(r);
  std::size_t ok = 0;
  for (std::size_t pos = 0; (pos = r.out.find("hello from nginx\n200\n", pos)) != std::string::npos;
       ++pos) {
    ++ok;
  }
  EXPECT_EQ(ok, 200u) << r.out.substr(0, 500);
  EXPECT_EQ(pf.metric(lm("pilotfish_listener_connections_accepted_total")), 1)
      << "curl did not keep its connection alive";
  auto log = ng.waitAccessLog(200, 10s);
  ASSERT_EQ(log.size(), 200u);
  long most = 0;
  for (const auto& l : log) {
    EXPECT_EQ(l.status, 200);
    most = std::max(most, l.connection_requests);
  }
  EXPECT_GT(most, 1) << "every request on a new upstream connection";
  EXPECT_LE(ng.connectionsLogged(), static_cast<std::size_t>(kWorkers * kMaxIdle));
  EXPECT_EQ(log.back().uri, "/n/200");
  EXPECT_EQ(log.back().host, "127.0.0.1");  // $host: the Host pilotfish passed on, sans port
  EXPECT_TRUE(std::regex_match(log.back().x_request_id, kUuid4)) << log.back().raw;
  EXPECT_FALSE(log.back().traceparent.empty()) << log.back().raw;
}

// ---------------------------------------------------------------------------------------------
// 11. The access log never blocks a worker

TEST(HttpProxy, AccessLogOnUnreadFifoDropsButNeverBlocks) {
  HttpBackend be;
  uint16_t port = freePort();
  std::string fifo = tempDir() + "/access-" + std::to_string(port) + ".fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
  // Ours is the only reader end, and it never reads (until the end): the pipe fills up.
  int rd = ::open(fifo.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ASSERT_GE(rd, 0) << std::strerror(errno);
  struct CloseFd {
    int fd;
    ~CloseFd() { ::close(fd); }
  } close_rd{rd};
  Pilotfish pf(yaml({.port = port,
                     .clusters = clusterYaml("be", {be.port()}),
                     .listener = R"(    routes:
      - match: {path_prefix: /be}
        cluster: be
)",
                     .top = "access_log: {path: " + fifo + ", format: json}",
                     .workers = 1}));
  // Requests answered at once (404 no_route, no upstream): enough pipelined to fill the pipe
  // and the worker's queue (4096 entries) several times over.
  constexpr int kBurst = 3000;
  for (int round = 0; round < 3; ++round) {
    std::string burst;
    for (int i = 0; i < kBurst; ++i) {
      burst += "GET /none/" + std::to_string(i) + " HTTP/1.1\r\nHost: a\r\n" +
               (i + 1 == kBurst ? "Connection: close\r\n" : "") + "\r\n";
    }
    auto t0 = Clock::now();
    auto x = rawHttp(port, burst, 30s);
    EXPECT_TRUE(x.peerClosed()) << toString(x.end);
    EXPECT_EQ(parseResponses(x.data).size(), static_cast<std::size_t>(kBurst)) << "round " << round;
    EXPECT_LT(msSince(t0), 15000) << "round " << round;
  }
  double dropped = pf.waitMetric(
      "pilotfish_access_log_dropped_total", [](double v) { return v > 0; }, 10s);
  EXPECT_GT(dropped, 0);
  // Proxied requests still go through quickly.
  for (int i = 0; i < 10; ++i) {
    auto t0 = Clock::now();
    auto r = once(port, request("GET", "/be/" + std::to_string(i)));
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(msSince(t0), 1000) << "request " << i << " was slow";
  }
  EXPECT_EQ(be.stats().requests, 10);

  // Drain the FIFO so the final flush does not hold the exit, then stop: exit 0.
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    char buf[65536];
    while (!stop) {
      pollfd p{rd, POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        [[maybe_unused]] auto n = ::read(rd, buf, sizeof buf);
      }
    }
  });
  pf.process().signal(SIGTERM);
  auto st = pf.process().wait(10s);
  stop = true;
  reader.join();
  ASSERT_TRUE(st) << "did not exit";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
}

// ---------------------------------------------------------------------------------------------
// 12. Graceful drain

TEST(HttpProxy, DrainClosesIdleKeepaliveConnectionAndExitsZero) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));  // drain_timeout: 10s
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  std::string buf;
  ASSERT_EQ(roundTrip(c, buf, request("GET", "/x", "", "", false)).status, 200);
  auto t0 = Clock::now();
  pf.process().signal(SIGTERM);
  std::string got;
  auto end = c.waitClosed(8s, &got);
  EXPECT_TRUE(end == ReadEnd::kEof || end == ReadEnd::kReset) << toString(end);
  EXPECT_TRUE(got.empty()) << shown(got);
  EXPECT_LT(msSince(t0), 3000) << "idle connection held until drain_timeout";
  auto st = pf.process().wait(8s);
  ASSERT_TRUE(st) << "did not exit";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_LT(msSince(t0), 4000) << "exit waited for drain_timeout";
}

TEST(HttpProxy, DrainLetsInFlightRequestFinishWithConnectionClose) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(simpleYaml(port, be.port()));
  TcpClient c;
  ASSERT_EQ(c.connect(port), 0);
  ASSERT_TRUE(c.sendAll(request("GET", "/slow/800", "", "", false)));
  ASSERT_EQ(be.waitStats([](const BackendStats& s) { return s.requests >= 1; }).requests, 1);
  auto t0 = Clock::now();
  pf.process().signal(SIGTERM);
  std::string buf;
  auto r = readResponse(c, buf, 8s);
  ASSERT_TRUE(r) << "in-flight request not answered";
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(echoOf(*r).target(), "/slow/800");
  EXPECT_EQ(lowered(r->header("connection")), "close") << shown(r->raw);
  auto end = c.waitClosed(5s);
  EXPECT_EQ(end, ReadEnd::kEof) << toString(end);
  auto st = pf.process().wait(8s);
  ASSERT_TRUE(st) << "did not exit";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_LT(msSince(t0), 4000) << "exit waited for drain_timeout";
}

// A connect attempt: 0 when accepted, else the errno (ECONNREFUSED once the listeners closed).
int tryConnectHttp(uint16_t port) {
  TcpClient c;
  return c.connect(port, 1s);
}

// The drain tests' config: one http listener "web" in front of cluster "be".
std::string drainYaml(uint16_t port, uint16_t be_port, const std::string& drain) {
  return render(R"(workers: ${WORKERS}
log: {level: info}
${DRAIN}
clusters:
${CLUSTERS}listeners:
  - name: web
    address: 127.0.0.1:${PORT}
    protocol: http
    cluster: be
)",
                {{"WORKERS", std::to_string(kWorkers)},
                 {"DRAIN", drain},
                 {"CLUSTERS", clusterYaml("be", {be_port})},
                 {"PORT", std::to_string(port)}});
}

// SIGTERM in the middle of keepalive load: requests keep being served during drain_delay; once
// the listeners close, each busy connection gets its current answer with `connection: close` and
// a clean FIN, idle ones are closed, new connects are refused, and the process exits 0 as soon as
// the last connection is gone (not at drain_timeout). No answer is ever a 5xx or cut short.
TEST(HttpProxy, DrainUnderKeepaliveLoadAnswersEveryRequestItTook) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(drainYaml(port, be.port(), "drain_delay: 1s\ndrain_timeout: 5s"));

  struct Result {
    int status = 0;               // 0: no answer
    bool close = false;           // connection: close
    bool partial = false;         // the connection ended inside a response
    std::string what;             // how an unanswered request ended, a parse error
    Clock::time_point sent;       // when the request was written
    bool fin_after_close = true;  // after a `connection: close` answer: a clean EOF, nothing more
    int nth = 0;                  // requests on its connection before it
  };
  constexpr int kClients = 4;
  std::mutex mu;
  std::vector<Result> results;
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::atomic<int> refused_clients{0};
  std::atomic<int64_t> first_refused_ns{0};  // steady clock, 0 = not yet
  auto now_ns = [] { return Clock::now().time_since_epoch().count(); };

  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      int seq = 0;
      while (!stop) {
        TcpClient c;
        int err = c.connect(port, 2s);
        if (err == ECONNREFUSED) {
          int64_t zero = 0;
          first_refused_ns.compare_exchange_strong(zero, now_ns());
          ++refused_clients;
          return;
        }
        if (err != 0) {
          std::lock_guard<std::mutex> g(mu);
          results.push_back(
              {.what = std::string("connect: ") + std::strerror(err), .sent = Clock::now()});
          continue;
        }
        std::string buf;
        int nth = 0;
        while (!stop) {
          Result r;
          r.nth = nth++;
          r.sent = Clock::now();
          const std::string target = "/load/" + std::to_string(t) + "/" + std::to_string(seq++);
          if (!c.sendAll(request("GET", target, "", "", false), 2s)) {
            r.what = "send failed";
            std::lock_guard<std::mutex> g(mu);
            results.push_back(r);
            break;
          }
          ReadEnd end = ReadEnd::kError;
          std::optional<HttpResponse> resp;
          try {
            resp = readResponse(c, buf, 5s, false, &end);
          } catch (const std::exception& e) {
            r.what = std::string("unparsable: ") + e.what();
          }
          if (resp) {
            r.status = resp->status;
            r.close = lowered(resp->header("connection")) == "close";
            ++answered;
            if (r.close) {
              std::string more;
              auto e2 = c.waitClosed(3s, &more);
              r.fin_after_close = e2 == ReadEnd::kEof && more.empty() && buf.empty();
              if (!r.fin_after_close) r.what = std::string("after close: ") + toString(e2);
            }
          } else {
            r.partial = !buf.empty();
            if (r.what.empty()) r.what = toString(end);
          }
          const bool again = resp && !r.close;
          {
            std::lock_guard<std::mutex> g(mu);
            results.push_back(r);
          }
          if (!again) break;
        }
      }
    });
  }
  auto join = [&] {
    stop = true;
    for (auto& th : clients) th.join();
    clients.clear();
  };

  // Load runs; then SIGTERM.
  bool loaded = waitFor([&] { return answered >= 200; }, 5s);
  if (!loaded) join();
  ASSERT_TRUE(loaded) << "load never got going: " << answered << " answers";
  const int before_signal = answered;
  const auto t_sig = Clock::now();
  pf.process().signal(SIGTERM);

  // Every client ends at a refused connect once the listeners are closed.
  bool all_refused = waitFor([&] { return refused_clients == kClients; }, 6s);
  const double refused_at =
      first_refused_ns ? std::chrono::duration<double, std::milli>(
                             Clock::time_point(Clock::duration(first_refused_ns.load())) - t_sig)
                             .count()
                       : -1;
  join();
  EXPECT_TRUE(all_refused) << "clients still connecting 6 s after SIGTERM";
  const auto t_refused = Clock::time_point(Clock::duration(first_refused_ns.load()));
  EXPECT_GE(refused_at, 900) << "listeners closed before drain_delay";
  EXPECT_LT(refused_at, 3000);
  EXPECT_EQ(tryConnectHttp(port), ECONNREFUSED);

  auto st = pf.process().wait(5s);
  ASSERT_TRUE(st) << "did not exit";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_LT(msSince(t_sig), 3500) << "exit waited for drain_timeout with no connection left";

  int ok = 0, closes = 0, unanswered_after = 0, during_delay = 0;
  for (const auto& r : results) {
    const bool after_sig = r.sent >= t_sig;
    if (r.status != 0) {
      EXPECT_EQ(r.status, 200) << "request sent " << msSince(r.sent) << " ms ago";
      ok += r.status == 200;
      if (r.close) {
        ++closes;
        EXPECT_TRUE(after_sig) << "connection: close before the drain";
        EXPECT_TRUE(r.fin_after_close) << r.what;
      } else if (first_refused_ns && r.sent > t_refused) {
        ADD_FAILURE() << "a request sent after the listeners closed was answered without "
                         "connection: close";
      }
      if (after_sig && r.sent < t_sig + 800ms) ++during_delay;
    } else {
      EXPECT_FALSE(r.partial) << "connection ended inside a response: " << r.what;
      EXPECT_TRUE(after_sig) << "unanswered before the drain: " << r.what;
      ++unanswered_after;
      // A request that reached pilotfish is answered: one waiting unread when the drain looked
      // at its idle connection, or queued for accept when the listener closed, is taken and
      // answered with `connection: close`, never reset. Left: the keepalive race of any HTTP
      // server, a request still in flight as the idle connection's FIN leaves (the client sees
      // EOF and may retry).
      EXPECT_NE(r.what, toString(ReadEnd::kReset))
          << "a request that had reached pilotfish was reset unanswered (request " << r.nth + 1
          << " on its connection)";
      std::cout << "unanswered: " << r.what << " (request " << r.nth + 1 << " on its connection, "
                << "sent " << std::chrono::duration<double, std::milli>(r.sent - t_sig).count()
                << " ms after SIGTERM)\n";
    }
  }
  EXPECT_GT(during_delay, 0) << "nothing was served during drain_delay";
  EXPECT_GE(closes, 1) << "no busy connection got connection: close";
  EXPECT_GE(ok, before_signal);
  std::cout << "answered " << ok << " (" << during_delay << " inside drain_delay), " << closes
            << " with connection: close, " << unanswered_after
            << " unanswered after SIGTERM (closed idle or not yet accepted)\n";
}

// drain_timeout fires with requests still in flight (the backend answers after 10 s): both are
// cut, the one still waiting for its head and the one waiting mid-body, without ever looking
// complete; the process still exits 0 at once.
TEST(HttpProxy, DrainTimeoutCutsRequestsStillInFlightAndExitsZero) {
  HttpBackend be;
  uint16_t port = freePort();
  Pilotfish pf(drainYaml(port, be.port(), "drain_delay: 1s\ndrain_timeout: 2s"));
  TcpClient waiting, midbody;
  ASSERT_EQ(waiting.connect(port), 0);
  ASSERT_EQ(midbody.connect(port), 0);
  ASSERT_TRUE(waiting.sendAll(request("GET", "/slow/10000", "", "", false)));
  ASSERT_TRUE(midbody.sendAll(request("GET", "/slow-body/10000", "", "", false)));
  std::string got_a, got_b;
  ASSERT_TRUE(waitFor(
      [&] {
        midbody.recvSome(got_b, 10ms);
        return got_b.find("\r\n\r\n") != std::string::npos;
      },
      5s))
      << "no response head: " << shown(got_b);
  ASSERT_EQ(be.waitStats([](const BackendStats& s) { return s.requests >= 2; }).requests, 2);

  const auto t0 = Clock::now();
  pf.process().signal(SIGTERM);
  const auto end_a = waiting.waitClosed(6s, &got_a);
  const double cut_a = msSince(t0);
  const auto end_b = midbody.waitClosed(6s, &got_b);
  const double cut_b = msSince(t0);
  EXPECT_TRUE(end_a == ReadEnd::kEof || end_a == ReadEnd::kReset) << toString(end_a);
  EXPECT_TRUE(end_b == ReadEnd::kEof || end_b == ReadEnd::kReset) << toString(end_b);
  // Cut at drain_delay + drain_timeout, not before (they were busy, not idle).
  EXPECT_GE(cut_a, 2800);
  EXPECT_LT(cut_a, 5000);
  EXPECT_GE(cut_b, 2800);
  EXPECT_LT(cut_b, 5000);
  EXPECT_TRUE(parseResponses(got_a).empty()) << shown(got_a);
  EXPECT_TRUE(got_a.empty()) << shown(got_a);
  EXPECT_TRUE(parseResponses(got_b).empty()) << "a cut response looks complete: " << shown(got_b);
  EXPECT_EQ(got_b.compare(0, 15, "HTTP/1.1 200 OK"), 0) << shown(got_b);
  // "Any left are closed (with RST)" (docs/architecture.md).
  EXPECT_EQ(end_a, ReadEnd::kReset);
  EXPECT_EQ(end_b, ReadEnd::kReset);

  auto st = pf.process().wait(3s);
  ASSERT_TRUE(st) << "still running 3 s after drain_timeout cut the last connections";
  EXPECT_TRUE(st->exited && st->code == 0) << st->describe();
  EXPECT_LT(msSince(t0), 4500);
  EXPECT_NE(pf.output().find("drain_timeout expired"), std::string::npos) << pf.output();
}

}  // namespace
}  // namespace pilotfish::it
