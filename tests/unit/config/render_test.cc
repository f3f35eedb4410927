#include "pilotfish/config/render.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "pilotfish/config/loader.h"

namespace pilotfish::config {
namespace {

ConfigPtr load(std::string_view yaml) {
  auto result = loadFromString(yaml, "render.yaml");
  if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
    std::string text;
    for (const auto& e : *errors) text += e.toString() + "\n";
    ADD_FAILURE() << text;
    return nullptr;
  }
  return std::get<ConfigPtr>(result);
}

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST(ToJson, FillsInEveryDefault) {
  auto config = load(R"(node: {id: n1}
clusters:
  - {name: c, endpoints: [127.0.0.1:6379]}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)");
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_EQ(json,
            "{\"source\":\"render.yaml\","
            "\"node\":{\"id\":\"n1\",\"zone\":\"\"},"
            "\"workers\":0,\"drain_delay\":\"0s\",\"drain_timeout\":\"15s\","
            "\"admin\":{\"address\":\"127.0.0.1:9901\"},"
            "\"log\":{\"level\":\"info\",\"format\":\"text\"},"
            "\"tracing\":{\"propagate\":[\"b3\",\"w3c\"],\"request_id\":true,\"sample_rate\":0.01},"
            "\"discovery\":{},\"cache_dir\":\"\","
            "\"clusters\":[{\"name\":\"c\","
            "\"endpoints\":[{\"address\":\"127.0.0.1:6379\",\"weight\":1,\"zone\":\"\"}],"
            "\"on_endpoint_removed\":\"keep\",\"connect_timeout\":\"1s\",\"lb\":{\"policy\":"
            "\"round_robin\"},"
            "\"pool\":{\"max_idle_per_endpoint\":64,\"idle_timeout\":\"50s\","
            "\"max_requests_per_connection\":0}}],"
            "\"listeners\":[{\"name\":\"l\",\"address\":\"127.0.0.1:7379\",\"protocol\":\"tcp\","
            "\"cluster\":\"c\",\"idle_timeout\":\"1h\",\"max_connections\":0}]}");
}

TEST(ToJson, RendersConfiguredValues) {
  auto config = load(R"(node: {id: "web \"1\"", zone: z}
workers: 3
drain_delay: 1500ms
log: {level: warn, format: json}
admin: {address: "[::1]:9000"}
clusters:
  - name: c
    endpoints: ["[::1]:1", {address: 127.0.0.1:2, weight: 0, zone: b}]
    connect_timeout: 90s
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c, idle_timeout: 2m, max_connections: 5}
)");
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_TRUE(contains(json, R"("id":"web \"1\"")")) << json;
  EXPECT_TRUE(contains(json, R"("workers":3,"drain_delay":"1500ms")")) << json;
  EXPECT_TRUE(contains(json, R"("admin":{"address":"[::1]:9000"})")) << json;
  EXPECT_TRUE(contains(json, R"("log":{"level":"warn","format":"json"})")) << json;
  EXPECT_TRUE(contains(json, R"({"address":"[::1]:1","weight":1,"zone":""})")) << json;
  EXPECT_TRUE(contains(json, R"({"address":"127.0.0.1:2","weight":0,"zone":"b"})")) << json;
  EXPECT_TRUE(contains(json, R"("connect_timeout":"90s")")) << json;
  EXPECT_TRUE(contains(json, R"("idle_timeout":"2m","max_connections":5)")) << json;
}

TEST(ToJson, DefaultConstructedConfig) {
  Config config;
  EXPECT_EQ(toJson(config),
            "{\"source\":\"\",\"node\":{\"id\":\"\",\"zone\":\"\"},\"workers\":0,"
            "\"drain_delay\":\"0s\",\"drain_timeout\":\"15s\","
            "\"admin\":{\"address\":\"127.0.0.1:9901\"},"
            "\"log\":{\"level\":\"info\",\"format\":\"text\"},"
            "\"tracing\":{\"propagate\":[\"b3\",\"w3c\"],\"request_id\":true,\"sample_rate\":0.01},"
            "\"discovery\":{},\"cache_dir\":\"\",\"clusters\":[],\"listeners\":[]}");
}

TEST(ToJson, HttpListenerDefaults) {
  // Only a cluster: every http key shows its default, the catch-all route is listed, and the
  // tracing block is the top-level one.
  auto config = load(R"(tracing: {propagate: [w3c], sample_rate: 0.5}
clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: h, address: 127.0.0.1:4140, protocol: http, cluster: c}
)");
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_TRUE(contains(
      json, R"("tracing":{"propagate":["w3c"],"request_id":true,"sample_rate":0.5},"discovery")"))
      << json;
  EXPECT_TRUE(contains(
      json,
      R"("listeners":[{"name":"h","address":"127.0.0.1:4140","protocol":"http","cluster":"c",)"
      R"("idle_timeout":"1h","max_connections":0,"max_request_headers_kb":60,"max_headers":100,)"
      R"("max_request_line_kb":8,"max_request_body":null,"request_headers_timeout":"10s",)"
      R"("request_body_timeout":"1m","response_send_timeout":"1m","max_hops":10,)"
      R"("headers_with_underscores":"allow","routes":[{"match":{"host":null,"host_suffix":null,"path_prefix":null,)"
      R"("path_exact":null,"method":null,"header":[]},"cluster":"c","timeout":null,)"
      R"("prefix_rewrite":null,"host_rewrite":null,"upstream_host_from_request":false,)"
      R"("retries":{"attempts":0,"on":["connect-failure","reset"],"per_try_timeout":null}}],)"
      R"("tracing":{"propagate":["w3c"],"request_id":true,"sample_rate":0.5}}])"))
      << json;
}

TEST(ToJson, HttpListenerConfiguredValues) {
  auto config = load(R"(clusters:
  - name: api
    endpoints: [127.0.0.1:1]
    pool: {max_idle_per_endpoint: 4, idle_timeout: 1500ms, max_requests_per_connection: 9}
listeners:
  - name: h
    address: 127.0.0.1:4140
    protocol: http
    max_request_headers_kb: 16
    max_headers: 50
    max_request_line_kb: 4
    max_request_body: 1MiB
    request_headers_timeout: 2s
    request_body_timeout: 90s
    max_hops: 3
    tracing: {propagate: [], request_id: false, sample_rate: 1}
    routes:
      - match:
          host: API.example.com
          host_suffix: .example.com
          path_prefix: /api/
          method: GET
          header: [{name: X-A, value: "1"}, {name: x-b, present: true}]
        cluster: api
        timeout: 30s
        prefix_rewrite: /
        host_rewrite: api.internal:8080
        retries: {attempts: 2, on: [504, reset, 502], per_try_timeout: 5s}
      - match: {path_exact: /x}
        cluster: api
)");
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_TRUE(contains(json, R"("pool":{"max_idle_per_endpoint":4,"idle_timeout":"1500ms",)"
                             R"("max_requests_per_connection":9})"))
      << json;
  // No listener cluster: null, and no catch-all route.
  EXPECT_TRUE(contains(json, R"("protocol":"http","cluster":null,)")) << json;
  EXPECT_TRUE(contains(json, R"("max_request_headers_kb":16,"max_headers":50,)"
                             R"("max_request_line_kb":4,"max_request_body":1048576,)"
                             R"("request_headers_timeout":"2s","request_body_timeout":"90s",)"
                             R"("response_send_timeout":"1m","max_hops":3,)"))
      << json;
  EXPECT_TRUE(contains(
      json,
      R"("routes":[{"match":{"host":"api.example.com","host_suffix":".example.com",)"
      R"("path_prefix":"/api/","path_exact":null,"method":"GET",)"
      R"("header":[{"name":"x-a","value":"1"},{"name":"x-b","present":true}]},"cluster":"api",)"
      R"("timeout":"30s","prefix_rewrite":"/","host_rewrite":"api.internal:8080",)"
      R"("upstream_host_from_request":false,)"
      R"("retries":{"attempts":2,"on":["reset","502","504"],"per_try_timeout":"5s"}},)"
      R"({"match":{"host":null,"host_suffix":null,"path_prefix":null,"path_exact":"/x",)"))
      << json;
  EXPECT_EQ(json.find(R"("cluster":"api","timeout":null)"), json.rfind(R"("cluster":"api")"))
      << "two routes, no catch-all: " << json;
  EXPECT_TRUE(contains(json, R"("tracing":{"propagate":[],"request_id":false,"sample_rate":1}}]})"))
      << json;
}

TEST(ToJson, TcpListenerHasNoHttpKeys) {
  auto config = load(R"(clusters:
  - {name: c, endpoints: [127.0.0.1:1]}
listeners:
  - {name: l, address: 127.0.0.1:7379, cluster: c}
)");
  ASSERT_TRUE(config);
  std::string json = toJson(*config);
  EXPECT_FALSE(contains(json, "routes")) << json;
  EXPECT_FALSE(contains(json, "max_hops")) << json;
}

TEST(WriteSecret, NeverWritesTheValue) {
  std::string out;
  core::JsonWriter w(out);
  w.beginObject();
  writeSecret(w, "token", Secret("s3cr3t"));
  writeSecret(w, "password", Secret());
  w.endObject();
  EXPECT_EQ(out, R"({"token":"<redacted>","password":null})");
  EXPECT_FALSE(contains(out, "s3cr3t"));
}

TEST(Secret, RevealIsExplicit) {
  Secret s("abc");
  EXPECT_FALSE(s.empty());
  EXPECT_EQ(s.reveal(), "abc");
  EXPECT_TRUE(Secret().empty());
}

}  // namespace
}  // namespace pilotfish::config
