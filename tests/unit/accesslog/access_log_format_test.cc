#include "pilotfish/accesslog/access_log_format.h"

#include <gtest/gtest.h>

// Boost.JSON, header-only (this is its one translation unit in unit_accesslog): an independent
// strict parser (rejects invalid UTF-8 and raw control characters) to check our output.
#include <boost/json/src.hpp>

#include <random>
#include <string>
#include <vector>

namespace pilotfish::accesslog {
namespace {

namespace json = boost::json;

AccessLogEntry fullEntry() {
  AccessLogEntry e;
  e.setTsUs(1714566896123456);
  e.setListener("ingress");
  e.setMethod("GET");
  e.setAuthority("api.example.com:8080");
  e.setPath("/v1/items?id=7");
  e.setProtocol("HTTP/1.1");
  e.setStatus(200);
  e.setBytesIn(123);
  e.setBytesOut(4567);
  e.setDurationUs(890);
  e.setUpstreamAddress("10.0.0.7:80");
  e.setUpstreamTimeUs(650);
  e.setTraceId("4bf92f3577b34da6a3ce929d0e0e4736");
  e.setSpanId("00f067aa0ba902b7");
  e.setRequestId("f81d4fae-7dec-41d0-a765-00a0c91e6bf6");
  e.setError("upstream_timeout");
  e.setCluster("items");
  return e;
}

std::string format(const AccessLogEntry& e, AccessLogFormat f, FieldSet fields = FieldSet::all()) {
  std::string out;
  AccessLogFormatter(f, fields).append(out, e);
  return out;
}

FieldSet fieldsOf(std::vector<std::string> names) {
  FieldSet s;
  EXPECT_TRUE(resolveFields(names, &s));
  return s;
}

std::string rfc3339(int64_t us) {
  std::string out;
  appendRfc3339(out, us);
  return out;
}

// Parses one output line with Boost.JSON (strict). Fails the test on a parse error.
json::object parseLine(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "more than one line: " << line;
  std::error_code ec;
  json::value v = json::parse(line, ec);
  EXPECT_FALSE(ec) << ec.message() << " in: " << line;
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

// Decodes a text-format line into its tokens (the inverse of appendTextValue).
bool parseTextLine(const std::string& line, std::vector<std::string>* tokens) {
  if (line.empty() || line.back() != '\n') return false;
  std::size_t i = 0, n = line.size() - 1;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  while (true) {
    std::string tok;
    if (i < n && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= n) return false;
        char c = line[i++];
        if (c == '"') break;
        if (c != '\\') {
          tok += c;
          continue;
        }
        if (i >= n) return false;
        char e = line[i++];
        if (e == '"' || e == '\\') {
          tok += e;
        } else if (e == 'n') {
          tok += '\n';
        } else if (e == 'r') {
          tok += '\r';
        } else if (e == 't') {
          tok += '\t';
        } else if (e == 'x' && i + 2 <= n) {
          tok += static_cast<char>(hex(line[i]) * 16 + hex(line[i + 1]));
          i += 2;
        } else if (e == 'u' && i + 4 <= n) {
          uint32_t cp = 0;
          for (int k = 0; k < 4; ++k) cp = cp * 16 + static_cast<uint32_t>(hex(line[i + k]));
          i += 4;
          if (cp < 0x800) {
            tok += static_cast<char>(0xc0 | (cp >> 6));
            tok += static_cast<char>(0x80 | (cp & 0x3f));
          } else {
            tok += static_cast<char>(0xe0 | (cp >> 12));
            tok += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
            tok += static_cast<char>(0x80 | (cp & 0x3f));
          }
        } else {
          return false;
        }
      }
    } else {
      while (i < n && line[i] != ' ') {
        unsigned char c = static_cast<unsigned char>(line[i]);
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') return false;  // must be quoted
        tok += line[i++];
      }
      if (tok.empty()) return false;
    }
    tokens->push_back(tok);
    if (i == n) return true;
    if (line[i] != ' ') return false;
    ++i;
  }
}

// ---- timestamps ----

TEST(AccessLogFormat, Rfc3339) {
  EXPECT_EQ(rfc3339(0), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(rfc3339(1714566896123456), "2024-05-01T12:34:56.123456Z");
  EXPECT_EQ(rfc3339(1709251199999999), "2024-02-29T23:59:59.999999Z");  // leap day
  EXPECT_EQ(rfc3339(951825600000000), "2000-02-29T12:00:00.000000Z");
  EXPECT_EQ(rfc3339(4107542400000000), "2100-03-01T00:00:00.000000Z");  // 2100: no leap day
  EXPECT_EQ(rfc3339(1), "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(rfc3339(-5), "1970-01-01T00:00:00.000000Z");         // clamped
  EXPECT_EQ(rfc3339(INT64_MAX), "9999-12-31T23:59:59.999999Z");  // clamped
}

TEST(AccessLogFormat, Rfc3339MatchesGmtime) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 2000; ++i) {
    int64_t us = static_cast<int64_t>(rng() % 253402300799999999ULL);
    time_t secs = static_cast<time_t>(us / 1000000);
    struct tm tm {};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(us % 1000000));
    ASSERT_EQ(rfc3339(us), buf) << us;
  }
}

// ---- JSON ----

TEST(AccessLogFormat, JsonEveryField) {
  EXPECT_EQ(format(fullEntry(), AccessLogFormat::kJson),
            R"({"ts":"2024-05-01T12:34:56.123456Z","listener":"ingress","method":"GET",)"
            R"("authority":"api.example.com:8080","path":"/v1/items?id=7","protocol":"HTTP/1.1",)"
            R"("status":200,"bytes_in":123,"bytes_out":4567,"duration_us":890,)"
            R"("upstream_address":"10.0.0.7:80","upstream_time_us":650,)"
            R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",)"
            R"("request_id":"f81d4fae-7dec-41d0-a765-00a0c91e6bf6","error":"upstream_timeout",)"
            R"("cluster":"items"})"
            "\n");
}

TEST(AccessLogFormat, JsonAbsentFieldsAreNull) {
  AccessLogEntry e;  // a TCP connection: no method, path, status...
  e.setTsUs(0);
  e.setListener("tcp-in");
  e.setProtocol("tcp");
  e.setBytesIn(10);
  e.setBytesOut(20);
  e.setDurationUs(30);
  e.setUpstreamAddress("127.0.0.1:9000");
  e.setUpstreamTimeUs(5);
  e.setCluster("backend");
  EXPECT_EQ(format(e, AccessLogFormat::kJson),
            R"({"ts":"1970-01-01T00:00:00.000000Z","listener":"tcp-in","method":null,)"
            R"("authority":null,"path":null,"protocol":"tcp","status":null,"bytes_in":10,)"
            R"("bytes_out":20,"duration_us":30,"upstream_address":"127.0.0.1:9000",)"
            R"("upstream_time_us":5,"trace_id":null,"span_id":null,"request_id":null,)"
            R"("error":null,"cluster":"backend"})"
            "\n");
}

TEST(AccessLogFormat, JsonFieldSelectionKeepsTheFixedOrder) {
  // Listed in another order: the output order is still the documented one.
  FieldSet s = fieldsOf({"status", "path", "ts", "cluster"});
  EXPECT_EQ(format(fullEntry(), AccessLogFormat::kJson, s),
            R"({"ts":"2024-05-01T12:34:56.123456Z","path":"/v1/items?id=7","status":200,)"
            R"("cluster":"items"})"
            "\n");
  EXPECT_EQ(format(fullEntry(), AccessLogFormat::kJson, fieldsOf({"error"})),
            "{\"error\":\"upstream_timeout\"}\n");
  EXPECT_EQ(format(fullEntry(), AccessLogFormat::kJson, FieldSet()), "{}\n");
}

TEST(AccessLogFormat, JsonEachFieldAlone) {
  AccessLogEntry e = fullEntry();
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    FieldSet s;
    s.add(Field(i));
    json::object o = parseLine(format(e, AccessLogFormat::kJson, s));
    ASSERT_EQ(o.size(), 1u);
    EXPECT_TRUE(o.contains(kFieldNames[i]));
  }
}

TEST(AccessLogFormat, JsonEscapesQuotesAndBackslashes) {
  AccessLogEntry e;
  e.setPath(R"(/a"b\c)");
  EXPECT_EQ(format(e, AccessLogFormat::kJson, fieldsOf({"path"})), R"({"path":"/a\"b\\c"})"
                                                                   "\n");
}

TEST(AccessLogFormat, JsonHostileValueCannotInjectFields) {
  AccessLogEntry e = fullEntry();
  std::string evil = "x\",\"status\":999,\"injected\":\"1";
  e.setPath(evil);
  e.setAuthority("a\"}\n{\"forged\":true,\"b\":\"");
  std::string line = format(e, AccessLogFormat::kJson);
  json::object o = parseLine(line);
  EXPECT_EQ(o.size(), kFieldCount);
  EXPECT_FALSE(o.contains("injected"));
  EXPECT_FALSE(o.contains("forged"));
  EXPECT_EQ(o["status"].as_int64(), 200);
  EXPECT_EQ(o["path"].as_string(), evil);
  EXPECT_EQ(o["authority"].as_string(), "a\"}\n{\"forged\":true,\"b\":\"");
}

TEST(AccessLogFormat, JsonEscapesEveryControlByte) {
  std::string v;
  for (int c = 0; c < 0x20; ++c) v += static_cast<char>(c);
  v += '\x7f';
  AccessLogEntry e;
  e.setPath(v);
  std::string line = format(e, AccessLogFormat::kJson, fieldsOf({"path"}));
  EXPECT_EQ(line,
            "{\"path\":\"\\u0000\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n"
            "\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013\\u0014\\u0015\\u0016"
            "\\u0017\\u0018\\u0019\\u001a\\u001b\\u001c\\u001d\\u001e\\u001f\\u007f\"}\n");
  json::object o = parseLine(line);
  EXPECT_EQ(o["path"].as_string(), v);  // lossless for valid UTF-8
}

TEST(AccessLogFormat, JsonReplacesInvalidUtf8) {
  struct Case {
    std::string in;
    std::string out;  // JSON body between the quotes
  } cases[] = {
      {"a\xff"
       "b",
       "a\\ufffdb"},
      {"\xc0\xaf", "\\ufffd\\ufffd"},                        // overlong '/'
      {"\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd"},             // overlong 3-byte
      {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"},             // UTF-16 surrogate
      {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"},  // above U+10FFFF
      {"\xf5\x80", "\\ufffd\\ufffd"},
      {"ok\xe2\x82", "ok\\ufffd\\ufffd"},  // truncated at the end
      {"\x80", "\\ufffd"},                 // lone continuation byte
      {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},  // valid
      {"\xc2\x85\xe2\x80\xa8\xe2\x80\xa9", "\\u0085\\u2028\\u2029"},  // NEL, LS, PS escaped
  };
  for (const auto& c : cases) {
    AccessLogEntry e;
    e.setPath(c.in);
    std::string line = format(e, AccessLogFormat::kJson, fieldsOf({"path"}));
    EXPECT_EQ(line, "{\"path\":\"" + c.out + "\"}\n");
    parseLine(line);
  }
}

TEST(AccessLogFormat, JsonRandomBytesAlwaysGiveOneValidLine) {
  std::mt19937 rng(12345);
  AccessLogFormatter fmt(AccessLogFormat::kJson, FieldSet::all());
  for (int iter = 0; iter < 3000; ++iter) {
    AccessLogEntry e = fullEntry();
    for (std::size_t i = 0; i < kFieldCount; ++i) {
      Field f = Field(i);
      if (!isStringField(f)) continue;
      std::string v(rng() % 40, '\0');
      // Mostly hostile bytes: controls, quotes, backslashes, high bytes.
      for (auto& ch : v) {
        uint32_t r = rng() % 8;
        ch = r == 0 ? '"' : r == 1 ? '\\' : r == 2 ? '\n' : static_cast<char>(rng() % 256);
      }
      e.setString(f, v);
    }
    std::string line;
    fmt.append(line, e);
    json::object o = parseLine(line);
    ASSERT_EQ(o.size(), kFieldCount) << line;
    ASSERT_EQ(o["status"].as_int64(), 200);
    ASSERT_EQ(o["ts"].as_string(), "2024-05-01T12:34:56.123456Z");
  }
}

TEST(AccessLogFormat, JsonValidUtf8RoundTrips) {
  std::mt19937 rng(99);
  const std::vector<std::string> pieces = {"a",
                                           " ",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "\t",
                                           "\x01",
                                           "\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x98\x80",
                                           "\xe2\x80\xa8",
                                           "\xc2\x80",
                                           "{",
                                           "}",
                                           ":",
                                           ","};
  for (int iter = 0; iter < 2000; ++iter) {
    std::string v;
    for (int k = rng() % 30; k > 0; --k) v += pieces[rng() % pieces.size()];
    AccessLogEntry e;
    e.setRequestId(v.substr(0, AccessLogEntry::maxLength(Field::kRequestId)));
    std::string in(e.string(Field::kRequestId));
    json::object o = parseLine(format(e, AccessLogFormat::kJson, fieldsOf({"request_id"})));
    ASSERT_EQ(std::string(o["request_id"].as_string()), in);
  }
}

// ---- text ----

TEST(AccessLogFormat, TextEveryField) {
  EXPECT_EQ(format(fullEntry(), AccessLogFormat::kText),
            "2024-05-01T12:34:56.123456Z ingress GET api.example.com:8080 /v1/items?id=7 "
            "HTTP/1.1 200 123 4567 890 10.0.0.7:80 650 4bf92f3577b34da6a3ce929d0e0e4736 "
            "00f067aa0ba902b7 f81d4fae-7dec-41d0-a765-00a0c91e6bf6 upstream_timeout items\n");
}

TEST(AccessLogFormat, TextAbsentIsDashAndSelectionKeepsOrder) {
  AccessLogEntry e;
  e.setProtocol("tcp");
  e.setBytesIn(1);
  e.setCluster("c");
  EXPECT_EQ(format(e, AccessLogFormat::kText), "- - - - - tcp - 1 - - - - - - - - c\n");
  EXPECT_EQ(format(fullEntry(), AccessLogFormat::kText, fieldsOf({"status", "method"})),
            "GET 200\n");
  EXPECT_EQ(format(fullEntry(), AccessLogFormat::kText, FieldSet()), "\n");
}

TEST(AccessLogFormat, TextQuotesAndEscapes) {
  struct Case {
    std::string in;
    std::string out;
  } cases[] = {
      {"/plain/path?q=1&r=%20", "/plain/path?q=1&r=%20"},
      {"caf\xc3\xa9", "caf\xc3\xa9"},  // valid UTF-8 stays bare
      {"", "\"\""},                    // empty is not absent
      {"-", "\"-\""},                  // a literal dash is not absent either
      {"a b", "\"a b\""},
      {"say \"hi\"", "\"say \\\"hi\\\"\""},
      {"back\\slash", "\"back\\\\slash\""},
      {"l1\nl2\r\tx", "\"l1\\nl2\\r\\tx\""},
      {std::string("nul\0bel\x07"
                   "del\x7f",
                   12),
       "\"nul\\x00bel\\x07del\\x7f\""},
      {"bad\xff\xc0\xaf", "\"bad\\xff\\xc0\\xaf\""},
      {"\xc2\x85\xe2\x80\xa8", "\"\\u0085\\u2028\""},
      {"\x1b[31mred", "\"\\x1b[31mred\""},  // terminal escape sequences are defused
  };
  for (const auto& c : cases) {
    std::string out;
    appendTextValue(out, c.in);
    EXPECT_EQ(out, c.out);
  }
}

TEST(AccessLogFormat, TextHostileValuesStayOneLineWithTheRightTokens) {
  AccessLogEntry e = fullEntry();
  e.setPath("/x 200 999 \"\n- injected");
  e.setAuthority("");
  e.setMethod("-");
  std::string line = format(e, AccessLogFormat::kText);
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  std::vector<std::string> tokens;
  ASSERT_TRUE(parseTextLine(line, &tokens)) << line;
  ASSERT_EQ(tokens.size(), kFieldCount);
  EXPECT_EQ(tokens[2], "-");
  EXPECT_EQ(tokens[3], "");
  EXPECT_EQ(tokens[4], "/x 200 999 \"\n- injected");
  EXPECT_EQ(tokens[6], "200");
}

TEST(AccessLogFormat, TextRandomBytesRoundTripLosslessly) {
  std::mt19937 rng(4242);
  AccessLogFormatter fmt(AccessLogFormat::kText, FieldSet::all());
  for (int iter = 0; iter < 3000; ++iter) {
    AccessLogEntry e = fullEntry();
    std::vector<std::string> values(kFieldCount);
    for (std::size_t i = 0; i < kFieldCount; ++i) {
      Field f = Field(i);
      if (!isStringField(f)) continue;
      std::string v(rng() % 20, '\0');
      for (auto& ch : v) {
        uint32_t r = rng() % 6;
        ch = r == 0 ? ' ' : r == 1 ? '"' : r == 2 ? '\\' : static_cast<char>(rng() % 256);
      }
      e.setString(f, v);
      values[i] = std::string(e.string(f));  // as stored (short fields are capped)
    }
    std::string line;
    fmt.append(line, e);
    ASSERT_EQ(line.find('\n'), line.size() - 1);
    std::vector<std::string> tokens;
    ASSERT_TRUE(parseTextLine(line, &tokens)) << line;
    ASSERT_EQ(tokens.size(), kFieldCount);
    for (std::size_t i = 0; i < kFieldCount; ++i) {
      if (isStringField(Field(i))) {
        ASSERT_EQ(tokens[i], values[i]) << i << ": " << line;
      }
    }
  }
}

TEST(AccessLogFormat, WorstCaseFitsTheDocumentedBound) {
  AccessLogEntry e;
  for (std::size_t i = 0; i < kFieldCount; ++i) {
    Field f = Field(i);
    if (isStringField(f))
      e.setString(f, std::string(AccessLogEntry::maxLength(f), '\x01'));
    else if (f == Field::kTs)
      e.setTsUs(INT64_MAX);
    else
      e.setNumber(f, UINT64_MAX);
  }
  EXPECT_LE(format(e, AccessLogFormat::kJson).size(), kMaxFormattedEntrySize);
  EXPECT_LE(format(e, AccessLogFormat::kText).size(), kMaxFormattedEntrySize);
}

}  // namespace
}  // namespace pilotfish::accesslog
