#include "pilotfish/http/router.h"

#include <gtest/gtest.h>

#include <map>

namespace pilotfish::http {
namespace {

std::string norm(std::string_view p) {
  std::string out;
  normalizePath(p, out);
  return out;
}

TEST(NormalizePath, Table) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/", "/"},
      {"", "/"},
      {"/a/b", "/a/b"},
      {"/a//b///c", "/a/b/c"},
      {"/a/./b", "/a/b"},
      {"/a/../b", "/b"},
      {"/a/b/..", "/a/"},
      {"/a/b/.", "/a/b/"},
      {"/../../etc/passwd", "/etc/passwd"},
      {"/a/%2e%2E/b", "/b"},
      {"/a/%2F../b", "/a/%2F../b"},  // "%2F.." is one segment, not a dot segment
      {"/a%2Fb/c", "/a%2Fb/c"},
      {"/%41%7e", "/A~"},
      {"/a/", "/a/"},
      {"//", "/"},
      {"/a/b/../../..", "/"},
      {"/%zz/x", "/%zz/x"},
      {"/a/%", "/a/%"},
  };
  for (const auto& [in, want] : cases) EXPECT_EQ(norm(in), want) << "input: " << in;
}

TEST(NormalizePath, EncodedSlashAndDotDotSegment) {
  // "%2F.." must not be decoded into "/.." and climb.
  EXPECT_EQ(norm("/admin/%2F..%2Fsecret"), "/admin/%2F..%2Fsecret");
}

TEST(StripPort, Forms) {
  EXPECT_EQ(stripPort("users:8080"), "users");
  EXPECT_EQ(stripPort("users"), "users");
  EXPECT_EQ(stripPort("[::1]:80"), "[::1]");
  EXPECT_EQ(stripPort("[::1]"), "[::1]");
}

struct Headers {
  std::map<std::string, std::string> m;
  std::optional<std::string_view> operator()(std::string_view name) const {
    auto it = m.find(std::string(name));
    if (it == m.end()) return std::nullopt;
    return std::string_view(it->second);
  }
};

Router table() {
  std::vector<Route> routes(6);
  routes[0].match.host = "Users";
  routes[0].match.path_prefix = "/v2/";
  routes[0].cluster = "users-v2";
  routes[1].match.host = "users";
  routes[1].cluster = "users";
  routes[2].match.host_suffix = ".pf-https";
  routes[2].cluster = "external";
  routes[3].match.path_exact = "/healthz";
  routes[3].match.method = "GET";
  routes[3].cluster = "health";
  routes[4].match.headers = {{"x-canary", std::string("1")}};
  routes[4].cluster = "canary";
  routes[5].match.headers = {{"x-debug", std::nullopt}};
  routes[5].match.path_prefix = "/";
  routes[5].cluster = "debug";
  return Router(std::move(routes));
}

const char* pick(const Router& r, std::string_view method, std::string_view host,
                 std::string_view path, Headers h = {}) {
  std::string p;
  normalizePath(path, p);
  const Route* route = r.match(method, host, p, h);
  return route ? route->cluster.c_str() : "404";
}

TEST(Router, FirstMatchWinsAndAllKeysMustHold) {
  auto r = table();
  EXPECT_STREQ(pick(r, "GET", "users", "/v2/x"), "users-v2");
  EXPECT_STREQ(pick(r, "GET", "USERS:8080", "/v2/x"), "users-v2");  // case, port ignored
  EXPECT_STREQ(pick(r, "GET", "users", "/v1/x"), "users");
  EXPECT_STREQ(pick(r, "GET", "users", "/v3/../v2/y"), "users-v2");  // normalised first
  EXPECT_STREQ(pick(r, "GET", "api.example.com.PF-HTTPS", "/"), "external");
  EXPECT_STREQ(pick(r, "GET", "other", "/healthz"), "health");
  EXPECT_STREQ(pick(r, "POST", "other", "/healthz"), "404");
  EXPECT_STREQ(pick(r, "GET", "other", "//healthz/"), "404");  // exact: /healthz/ != /healthz
  EXPECT_STREQ(pick(r, "GET", "other", "/x", Headers{{{"x-canary", "1"}}}), "canary");
  EXPECT_STREQ(pick(r, "GET", "other", "/x", Headers{{{"x-canary", "2"}}}), "404");
  EXPECT_STREQ(pick(r, "GET", "other", "/x", Headers{{{"x-debug", ""}}}), "debug");
  EXPECT_STREQ(pick(r, "GET", "other", "/x"), "404");
}

TEST(Router, PrefixDoesNotMatchAcrossEncodedSlash) {
  std::vector<Route> routes(1);
  routes[0].match.path_prefix = "/admin/";
  routes[0].cluster = "admin";
  Router r(std::move(routes));
  EXPECT_STREQ(pick(r, "GET", "h", "/admin/x"), "admin");
  EXPECT_STREQ(pick(r, "GET", "h", "/admin%2Fx"), "404");
  EXPECT_STREQ(pick(r, "GET", "h", "/public/../admin/x"), "admin");
}

}  // namespace
}  // namespace pilotfish::http
