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
            "\"clusters\":[{\"name\":\"c\","
            "\"endpoints\":[{\"address\":\"127.0.0.1:6379\",\"weight\":1,\"zone\":\"\"}],"
            "\"connect_timeout\":\"1s\",\"lb\":{\"policy\":\"round_robin\"}}],"
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
            "\"log\":{\"level\":\"info\",\"format\":\"text\"},\"clusters\":[],\"listeners\":[]}");
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
