#include "pilotfish/core/json.h"

#include <gtest/gtest.h>

namespace pilotfish::core {
namespace {

TEST(Json, NestedWithCommas) {
  std::string out;
  JsonWriter w(out);
  w.beginObject();
  w.field("a", 1);
  w.key("b");
  w.beginArray();
  w.value("x");
  w.value(true);
  w.null();
  w.beginObject();
  w.endObject();
  w.endArray();
  w.field("c", 0.5);
  w.endObject();
  EXPECT_EQ(out, R"({"a":1,"b":["x",true,null,{}],"c":0.5})");
}

TEST(Json, EscapesControlQuotesAndBadUtf8) {
  std::string out;
  appendJsonEscaped(out, std::string("a\"b\\c\n\x01\x7f") + "\xc3\xa9" + "\xff");
  EXPECT_EQ(out, "a\\\"b\\\\c\\n\\u0001\\u007f\xc3\xa9\\ufffd");
}

}  // namespace
}  // namespace pilotfish::core
