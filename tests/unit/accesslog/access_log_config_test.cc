#include "pilotfish/accesslog/access_log_config.h"

#include <gtest/gtest.h>

#include "pilotfish/accesslog/access_log_fields.h"

namespace pilotfish::accesslog {
namespace {

TEST(AccessLogFields, NamesFollowTheEnumOrder) {
  const std::vector<std::string_view> expected = {
      "ts",        "listener",    "method",           "authority",
      "path",      "protocol",    "status",           "bytes_in",
      "bytes_out", "duration_us", "upstream_address", "upstream_time_us",
      "trace_id",  "span_id",     "request_id",       "error",
      "cluster"};
  ASSERT_EQ(kFieldNames.size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(kFieldNames[i], expected[i]);
    EXPECT_EQ(fieldName(static_cast<Field>(i)), expected[i]);
    EXPECT_EQ(fieldFromName(expected[i]), static_cast<Field>(i));
  }
  EXPECT_EQ(fieldName(Field::kCluster), "cluster");
}

TEST(AccessLogFields, IsKnownField) {
  for (auto name : kFieldNames) EXPECT_TRUE(isKnownField(name)) << name;
  for (std::string_view bad : {"", "Status", "ts ", " ts", "duration", "bytes", "host", "st"}) {
    EXPECT_FALSE(isKnownField(bad)) << bad;
  }
  static_assert(isKnownField("status"));  // usable at compile time
}

TEST(AccessLogFields, StringAndNumberKinds) {
  EXPECT_TRUE(isStringField(Field::kPath));
  EXPECT_TRUE(isStringField(Field::kCluster));
  EXPECT_FALSE(isStringField(Field::kTs));
  EXPECT_FALSE(isStringField(Field::kStatus));
  EXPECT_FALSE(isStringField(Field::kUpstreamTimeUs));
}

TEST(AccessLogFields, FieldSet) {
  FieldSet s;
  EXPECT_TRUE(s.empty());
  s.add(Field::kStatus);
  EXPECT_TRUE(s.has(Field::kStatus));
  EXPECT_FALSE(s.has(Field::kTs));
  for (std::size_t i = 0; i < kFieldCount; ++i) EXPECT_TRUE(FieldSet::all().has(Field(i)));
  EXPECT_EQ(FieldSet::all().bits(), (1u << kFieldCount) - 1);
}

TEST(AccessLogConfig, Defaults) {
  AccessLogConfig cfg;
  EXPECT_EQ(cfg.path, "stdout");
  EXPECT_EQ(cfg.format, AccessLogFormat::kJson);
  EXPECT_TRUE(cfg.fields.empty());
  EXPECT_TRUE(validateAccessLogConfig(cfg).empty());
}

TEST(AccessLogConfig, ParseFormat) {
  AccessLogFormat f = AccessLogFormat::kJson;
  EXPECT_TRUE(parseAccessLogFormat("text", &f));
  EXPECT_EQ(f, AccessLogFormat::kText);
  EXPECT_TRUE(parseAccessLogFormat("json", &f));
  EXPECT_EQ(f, AccessLogFormat::kJson);
  EXPECT_FALSE(parseAccessLogFormat("JSON", &f));
  EXPECT_FALSE(parseAccessLogFormat("", &f));
  EXPECT_FALSE(parseAccessLogFormat("logfmt", &f));
  EXPECT_EQ(f, AccessLogFormat::kJson);
  EXPECT_EQ(accessLogFormatName(AccessLogFormat::kText), "text");
  EXPECT_EQ(accessLogFormatName(AccessLogFormat::kJson), "json");
}

TEST(AccessLogConfig, ResolveFieldsEmptyMeansAll) {
  FieldSet s;
  ASSERT_TRUE(resolveFields({}, &s));
  EXPECT_EQ(s, FieldSet::all());
}

TEST(AccessLogConfig, ResolveFieldsSubset) {
  FieldSet s;
  ASSERT_TRUE(resolveFields({"status", "ts", "cluster"}, &s));
  EXPECT_TRUE(s.has(Field::kStatus));
  EXPECT_TRUE(s.has(Field::kTs));
  EXPECT_TRUE(s.has(Field::kCluster));
  EXPECT_FALSE(s.has(Field::kPath));
}

TEST(AccessLogConfig, ResolveFieldsRejectsUnknownAndRepeated) {
  FieldSet s;
  std::string error;
  std::size_t index = 99;
  EXPECT_FALSE(resolveFields({"ts", "stauts"}, &s, &error, &index));
  EXPECT_EQ(index, 1u);
  EXPECT_NE(error.find("unknown access log field \"stauts\""), std::string::npos) << error;
  EXPECT_NE(error.find("ts, listener, method"), std::string::npos) << error;  // lists known
  EXPECT_FALSE(resolveFields({"ts", "path", "ts"}, &s, &error, &index));
  EXPECT_EQ(index, 2u);
  EXPECT_NE(error.find("listed twice"), std::string::npos) << error;
}

TEST(AccessLogConfig, ValidateReportsEveryProblemWithKeyPath) {
  AccessLogConfig cfg;
  cfg.path = "";
  cfg.fields = {"ts", "nope", "ts", "Path"};
  auto errors = validateAccessLogConfig(cfg);
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_EQ(errors[0].rfind("access_log.path: ", 0), 0u) << errors[0];
  EXPECT_EQ(errors[1].rfind("access_log.fields[1]: unknown access log field \"nope\"", 0), 0u)
      << errors[1];
  EXPECT_EQ(errors[2], "access_log.fields[2]: access log field \"ts\" is listed twice");
  EXPECT_EQ(errors[3].rfind("access_log.fields[3]: unknown", 0), 0u) << errors[3];

  cfg = {};
  cfg.path = std::string("a\0b", 3);
  errors = validateAccessLogConfig(cfg);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("NUL"), std::string::npos);
}

TEST(AccessLogConfig, KnownFieldList) {
  EXPECT_EQ(knownFieldList(),
            "ts, listener, method, authority, path, protocol, status, bytes_in, bytes_out, "
            "duration_us, upstream_address, upstream_time_us, trace_id, span_id, request_id, "
            "error, cluster");
}

}  // namespace
}  // namespace pilotfish::accesslog
