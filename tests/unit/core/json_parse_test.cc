#include "pilotfish/core/json_parse.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace pilotfish::core {
namespace {

using Type = JsonValue::Type;

// Parses text that must be valid.
JsonValue ok(std::string_view text, const JsonLimits& limits = {}) {
  std::string error;
  auto v = parseJson(text, &error, limits);
  EXPECT_TRUE(v.has_value()) << "input: " << text << "\nerror: " << error;
  return v ? *v : JsonValue();
}

// Parses text that must be rejected; returns the error message.
std::string bad(std::string_view text, const JsonLimits& limits = {}) {
  std::string error;
  auto v = parseJson(text, &error, limits);
  EXPECT_FALSE(v.has_value()) << "accepted: " << text;
  EXPECT_FALSE(error.empty()) << "no message for: " << text;
  return error;
}

std::string str(std::string_view text) {
  JsonValue v = ok(text);
  EXPECT_TRUE(v.isString()) << text;
  return v.asString();
}

TEST(JsonParse, Scalars) {
  EXPECT_TRUE(ok("null").isNull());
  EXPECT_EQ(ok("null").type(), Type::kNull);

  JsonValue t = ok("true");
  ASSERT_TRUE(t.isBool());
  EXPECT_TRUE(t.asBool());
  JsonValue f = ok("false");
  ASSERT_TRUE(f.isBool());
  EXPECT_FALSE(f.asBool());

  JsonValue i = ok("42");
  EXPECT_EQ(i.type(), Type::kInt);
  EXPECT_TRUE(i.isNumber());
  EXPECT_EQ(i.asInt(), 42);
  EXPECT_EQ(i.asDouble(), 42.0);

  JsonValue d = ok("-12.5e-1");
  EXPECT_EQ(d.type(), Type::kDouble);
  EXPECT_TRUE(d.isNumber());
  EXPECT_DOUBLE_EQ(d.asDouble(), -1.25);

  JsonValue s = ok(R"("hello")");
  EXPECT_TRUE(s.isString());
  EXPECT_EQ(s.asString(), "hello");
  EXPECT_EQ(str(R"("")"), "");
}

TEST(JsonParse, TypeNames) {
  EXPECT_STREQ(ok("null").typeName(), "null");
  EXPECT_STREQ(ok("true").typeName(), "boolean");
  EXPECT_STREQ(ok("1").typeName(), "number");
  EXPECT_STREQ(ok("1.5").typeName(), "number");
  EXPECT_STREQ(ok(R"("x")").typeName(), "string");
  EXPECT_STREQ(ok("[]").typeName(), "array");
  EXPECT_STREQ(ok("{}").typeName(), "object");
}

TEST(JsonParse, SurroundingWhitespaceOnlyTheFourJsonKinds) {
  EXPECT_EQ(ok(" \t\r\n 7 \n\r\t ").asInt(), 7);
  EXPECT_TRUE(ok("[ 1 , 2 ]").isArray());
  EXPECT_TRUE(ok("{ \"a\" : 1 , \"b\" : [ ] }").isObject());
  // Form feed, vertical tab and NBSP are not JSON whitespace.
  bad("\f1");
  bad("1\v");
  bad("\xc2\xa0"
      "1");
}

TEST(JsonParse, EmptyContainers) {
  EXPECT_TRUE(ok("[]").items().empty());
  EXPECT_TRUE(ok("[ \n ]").items().empty());
  EXPECT_TRUE(ok("{}").members().empty());
  EXPECT_TRUE(ok("{ \t }").members().empty());
}

TEST(JsonParse, NestedDocument) {
  JsonValue v = ok(R"({"a": [1, 2.5, "x", true, null, {"b": {"c": []}}], "d": {}})");
  ASSERT_TRUE(v.isObject());
  ASSERT_EQ(v.members().size(), 2u);
  EXPECT_EQ(v.members()[0].key, "a");
  EXPECT_EQ(v.members()[1].key, "d");

  const JsonValue* a = v.find("a");
  ASSERT_NE(a, nullptr);
  ASSERT_TRUE(a->isArray());
  ASSERT_EQ(a->items().size(), 6u);
  EXPECT_EQ(a->items()[0].asInt(), 1);
  EXPECT_DOUBLE_EQ(a->items()[1].asDouble(), 2.5);
  EXPECT_EQ(a->items()[2].asString(), "x");
  EXPECT_TRUE(a->items()[3].asBool());
  EXPECT_TRUE(a->items()[4].isNull());
  const JsonValue* c = a->items()[5].find("b") ? a->items()[5].find("b")->find("c") : nullptr;
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->isArray());
  EXPECT_TRUE(c->items().empty());

  const JsonValue* d = v.find("d");
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->isObject());
  EXPECT_EQ(v.find("missing"), nullptr);
}

TEST(JsonParse, FindAndFindString) {
  JsonValue v = ok(R"({"s": "text", "n": 1, "z": null})");
  ASSERT_NE(v.findString("s"), nullptr);
  EXPECT_EQ(*v.findString("s"), "text");
  EXPECT_EQ(v.findString("n"), nullptr);  // present but not a string
  EXPECT_EQ(v.findString("z"), nullptr);
  EXPECT_EQ(v.findString("missing"), nullptr);
  ASSERT_NE(v.find("z"), nullptr);
  EXPECT_TRUE(v.find("z")->isNull());
  // Not an object: nothing to find.
  EXPECT_EQ(ok(R"(["s"])").find("s"), nullptr);
  EXPECT_EQ(ok(R"("s")").findString("s"), nullptr);
}

TEST(JsonParse, DuplicateKeysKeptAndFindReturnsTheLast) {
  JsonValue v = ok(R"({"a": 1, "b": "x", "a": 2, "b": 3})");
  ASSERT_EQ(v.members().size(), 4u);
  ASSERT_NE(v.find("a"), nullptr);
  EXPECT_EQ(v.find("a")->asInt(), 2);
  // The last "b" is a number, so there is no string "b" even though an earlier one was.
  EXPECT_EQ(v.findString("b"), nullptr);
  EXPECT_EQ(v.find("b")->asInt(), 3);
}

TEST(JsonParse, SimpleEscapes) {
  EXPECT_EQ(str(R"("\"\\\/\b\f\n\r\t")"), "\"\\/\b\f\n\r\t");
  EXPECT_EQ(str(R"("a\u0041b")"), "aAb");
  // An escaped NUL is a legal character of the string.
  std::string nul = str(R"("x\u0000y")");
  ASSERT_EQ(nul.size(), 3u);
  EXPECT_EQ(nul[1], '\0');
  // A raw DEL (0x7f) and raw UTF-8 are not control characters.
  EXPECT_EQ(str("\"\x7f\""), "\x7f");
  EXPECT_EQ(str("\"\xc3\xa9\xe2\x82\xac\""), "\xc3\xa9\xe2\x82\xac");
}

TEST(JsonParse, UnicodeEscapesBecomeUtf8) {
  EXPECT_EQ(str(R"("\u007f")"), "\x7f");                    // last 1-byte
  EXPECT_EQ(str(R"("\u0080")"), "\xc2\x80");                // first 2-byte
  EXPECT_EQ(str(R"("\u00e9\u00E9")"), "\xc3\xa9\xc3\xa9");  // both hex cases
  EXPECT_EQ(str(R"("\u07ff")"), "\xdf\xbf");                // last 2-byte
  EXPECT_EQ(str(R"("\u0800")"), "\xe0\xa0\x80");            // first 3-byte
  EXPECT_EQ(str(R"("\u20ac")"), "\xe2\x82\xac");            // euro sign
  EXPECT_EQ(str(R"("\uffff")"), "\xef\xbf\xbf");            // last 3-byte
}

TEST(JsonParse, SurrogatePairsBecomeOneFourByteCharacter) {
  EXPECT_EQ(str(R"("\ud83d\ude00")"), "\xf0\x9f\x98\x80");  // U+1F600
  EXPECT_EQ(str(R"("\uD834\uDD1E")"), "\xf0\x9d\x84\x9e");  // U+1D11E
  EXPECT_EQ(str(R"("\ud800\udc00")"), "\xf0\x90\x80\x80");  // U+10000, the first
  EXPECT_EQ(str(R"("\udbff\udfff")"), "\xf4\x8f\xbf\xbf");  // U+10FFFF, the last
  EXPECT_EQ(str(R"("a\ud83d\ude00b")"),
            "a\xf0\x9f\x98\x80"
            "b");
}

TEST(JsonParse, UnpairedSurrogatesRejected) {
  for (const char* text : {
           R"("\ud83d")",        // high at the end
           R"("\ud83dx")",       // high followed by a plain character
           R"("\ud83d\n")",      // high followed by another escape
           R"("\ud83d\u0041")",  // high followed by a non-surrogate
           R"("\ud83d\ud83d")",  // high followed by high
           R"("\ude00")",        // lone low
           R"("\ude00\ud83d")",  // reversed pair
       }) {
    EXPECT_NE(bad(text).find("unpaired surrogate"), std::string::npos) << text;
  }
}

TEST(JsonParse, BadEscapesRejected) {
  EXPECT_NE(bad(R"("\x41")").find("invalid escape"), std::string::npos);
  EXPECT_NE(bad(R"("\a")").find("invalid escape"), std::string::npos);
  EXPECT_NE(bad(R"("\')").find("invalid escape"), std::string::npos);
  EXPECT_NE(bad(R"("\u12G4")").find("invalid \\u escape"), std::string::npos);
  EXPECT_NE(bad(R"("\u12")").find("\\u escape"), std::string::npos);
  EXPECT_NE(bad(R"("\u)").find("\\u escape"), std::string::npos);
  EXPECT_NE(bad(R"("abc\)").find("unterminated"), std::string::npos);
  EXPECT_NE(bad(R"("abc)").find("unterminated string"), std::string::npos);
}

TEST(JsonParse, ControlCharactersInStringsRejected) {
  for (char c : {'\0', '\x01', '\t', '\n', '\r', '\x1f'}) {
    std::string text = "\"ab";
    text += c;
    text += "cd\"";
    EXPECT_EQ(bad(text), "control character in string at byte 3") << int(c);
  }
  // Also in member names.
  EXPECT_NE(bad("{\"a\nb\": 1}").find("control character"), std::string::npos);
}

TEST(JsonParse, IntegersAndDoubles) {
  EXPECT_EQ(ok("0").asInt(), 0);
  EXPECT_EQ(ok("-0").type(), Type::kInt);
  EXPECT_EQ(ok("-0").asInt(), 0);
  EXPECT_EQ(ok("-17").asInt(), -17);
  EXPECT_EQ(ok("9223372036854775807").asInt(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(ok("-9223372036854775808").asInt(), std::numeric_limits<int64_t>::min());

  // Beyond int64: a double, no integer.
  JsonValue big = ok("9223372036854775808");
  EXPECT_EQ(big.type(), Type::kDouble);
  EXPECT_FALSE(big.asInt().has_value());
  EXPECT_DOUBLE_EQ(big.asDouble(), 9223372036854775808.0);
  JsonValue small = ok("-9223372036854775809");
  EXPECT_EQ(small.type(), Type::kDouble);
  EXPECT_FALSE(small.asInt().has_value());
  EXPECT_DOUBLE_EQ(small.asDouble(), -9223372036854775808.0);
  JsonValue huge = ok("123456789012345678901234567890");
  EXPECT_EQ(huge.type(), Type::kDouble);
  EXPECT_DOUBLE_EQ(huge.asDouble(), 1.2345678901234568e29);

  // A fraction or an exponent makes a double even when the value is integral.
  for (const char* text : {"1.0", "1e3", "1E3", "1e+3", "10e-1", "-0.0", "0.5"}) {
    JsonValue v = ok(text);
    EXPECT_EQ(v.type(), Type::kDouble) << text;
    EXPECT_TRUE(v.isNumber()) << text;
    EXPECT_FALSE(v.asInt().has_value()) << text;
  }
  EXPECT_DOUBLE_EQ(ok("1e3").asDouble(), 1000.0);
  EXPECT_DOUBLE_EQ(ok("10e-1").asDouble(), 1.0);
  EXPECT_DOUBLE_EQ(ok("3.14159").asDouble(), 3.14159);

  // asInt is only for numbers.
  EXPECT_FALSE(ok(R"("5")").asInt().has_value());
  EXPECT_FALSE(ok("true").asInt().has_value());
  EXPECT_FALSE(ok("null").asInt().has_value());
}

TEST(JsonParse, MalformedNumbersRejected) {
  for (const char* text : {"01", "-01", "00", "[01]", "+1", ".5", "-", "-a", "1.", "1.e3", "1e",
                           "1e+", "0x10", "1_000", "--1", "[1.]"}) {
    bad(text);
  }
  EXPECT_EQ(bad("01"), "unexpected data after the value at byte 1");
  EXPECT_EQ(bad("1."), "digits expected after '.' at byte 2");
  EXPECT_EQ(bad("1e"), "digits expected in exponent at byte 2");
  EXPECT_EQ(bad("+1"), "invalid value at byte 0");
}

TEST(JsonParse, NonJsonExtensionsRejected) {
  for (const char* text : {
           "NaN",       "-NaN",        "nan",          "Infinity",
           "-Infinity", "inf",                                    // non-finite numbers
           "[1, 2,]",   "{\"a\": 1,}", "[,]",          "[1,,2]",  // trailing/empty elements
           "'a'",       "{'a': 1}",    "[\"a\", 'b']",            // single quotes
           "{a: 1}",                                              // unquoted key
           "// c\n1",   "/* c */ 1",   "1 // c",       "[1 /* c */]",
           "#1",  // comments
           "True",      "FALSE",       "Null",         "tru",
           "nul",       "fals",  // literals
           "undefined", "{1: 2}",      "{\"a\" 1}",    "{\"a\": 1 \"b\": 2}",
           "[1 2]",
       }) {
    bad(text);
  }
}

TEST(JsonParse, TrailingGarbageRejected) {
  EXPECT_EQ(bad("1 x"), "unexpected data after the value at byte 2");
  EXPECT_EQ(bad(R"({"a":1} x)"), "unexpected data after the value at byte 8");
  EXPECT_EQ(bad("[] []"), "unexpected data after the value at byte 3");
  EXPECT_EQ(bad("truex"), "unexpected data after the value at byte 4");
  EXPECT_EQ(bad(std::string_view("1\0", 2)), "unexpected data after the value at byte 1");
}

TEST(JsonParse, EmptyAndTruncatedInputRejected) {
  EXPECT_EQ(bad(""), "unexpected end of input at byte 0");
  EXPECT_EQ(bad("   \n"), "unexpected end of input at byte 4");
  EXPECT_EQ(bad("["), "unexpected end of input at byte 1");
  EXPECT_EQ(bad("[1"), "unterminated array at byte 2");
  EXPECT_EQ(bad("[1,"), "unexpected end of input at byte 3");
  EXPECT_EQ(bad("{"), "expected a member name at byte 1");
  EXPECT_EQ(bad(R"({"a")"), "expected ':' at byte 4");
  EXPECT_EQ(bad(R"({"a":)"), "unexpected end of input at byte 5");
  EXPECT_EQ(bad(R"({"a":1)"), "unterminated object at byte 6");
}

TEST(JsonParse, ErrorMessagesCarryTheByteOffset) {
  EXPECT_EQ(bad("[1,]"), "invalid value at byte 3");
  EXPECT_EQ(bad(R"({"a":1,})"), "expected a member name at byte 7");
  EXPECT_EQ(bad(R"({"a" 1})"), "expected ':' at byte 5");
  EXPECT_EQ(bad(R"({"a":1 "b":2})"), "expected ',' or '}' at byte 7");
  EXPECT_EQ(bad("[1 2]"), "expected ',' or ']' at byte 3");
  EXPECT_EQ(bad("[tru]"), "invalid literal at byte 1");
  EXPECT_EQ(bad("  'a'"), "invalid value at byte 2");
  EXPECT_EQ(bad("\n\n[\"\\q\"]"), "invalid escape at byte 6");
}

TEST(JsonParse, ErrorPointerMayBeNull) {
  EXPECT_FALSE(parseJson("[1,", nullptr).has_value());
  EXPECT_FALSE(parseJson("[1]", nullptr, JsonLimits{.max_depth = 0}).has_value());
  EXPECT_TRUE(parseJson("[1]", nullptr).has_value());
}

std::string nested(std::size_t depth, char open = '[', char close = ']') {
  return std::string(depth, open) + std::string(depth, close);
}

TEST(JsonParse, MaxDepthCountsContainers) {
  JsonLimits limits{.max_depth = 3};
  EXPECT_TRUE(ok(nested(3), limits).isArray());
  EXPECT_EQ(bad(nested(4), limits), "nesting deeper than the limit at byte 3");
  EXPECT_TRUE(ok(R"({"a": {"b": [1]}})", limits).isObject());
  EXPECT_NE(bad(R"({"a": {"b": [{}]}})", limits).find("nesting deeper"), std::string::npos);
  // Siblings do not add up: only the depth counts.
  EXPECT_TRUE(ok("[[[1]], [[2]], {\"a\": [3]}]", limits).isArray());
  // Scalars are at depth 0.
  EXPECT_TRUE(ok("5", JsonLimits{.max_depth = 0}).isNumber());
  bad("[]", JsonLimits{.max_depth = 0});
  bad("{}", JsonLimits{.max_depth = 0});
}

TEST(JsonParse, DefaultDepthLimitIs64) {
  EXPECT_TRUE(ok(nested(64)).isArray());
  EXPECT_EQ(bad(nested(65)), "nesting deeper than the limit at byte 64");
  // Objects count like arrays.
  EXPECT_TRUE(ok(std::string(63, '[') + "{}" + std::string(63, ']')).isArray());
  EXPECT_EQ(bad(std::string(64, '[') + "{}" + std::string(64, ']')),
            "nesting deeper than the limit at byte 64");
}

TEST(JsonParse, HugeNestingFailsCleanlyWithoutRecursingThroughIt) {
  // 100000 unclosed arrays: must stop at the depth limit instead of overflowing the stack.
  EXPECT_EQ(bad(std::string(100000, '[')), "nesting deeper than the limit at byte 64");
  EXPECT_EQ(bad(nested(100000)), "nesting deeper than the limit at byte 64");
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += "{\"a\":";
  EXPECT_NE(bad(objects).find("nesting deeper than the limit"), std::string::npos);
  // A raised limit is honoured.
  EXPECT_TRUE(ok(nested(1000), JsonLimits{.max_depth = 1000}).isArray());
}

TEST(JsonParse, MaxBytes) {
  JsonLimits limits{.max_depth = 64, .max_bytes = 10};
  EXPECT_EQ(ok(R"(["abcdef"])", limits).items().size(), 1u);  // exactly 10 bytes
  EXPECT_EQ(bad(R"(["abcdefg"])", limits), "document larger than the limit at byte 0");
  // Whitespace counts too: the limit is on the input, not the value.
  EXPECT_NE(bad(std::string(11, ' '), limits).find("larger than the limit"), std::string::npos);
}

}  // namespace
}  // namespace pilotfish::core
