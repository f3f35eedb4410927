#pragma once
// Strict RFC 8259 JSON reader for what registries send (Consul answers, nerve znode data, etcd
// values) and for the on-disk endpoint cache. Builds a small DOM; bounded depth and size so that a
// hostile answer cannot exhaust the stack. Not for the data path. Never throws.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pilotfish::core {

struct JsonMember;

class JsonValue {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kArray, kObject };

  Type type() const { return type_; }
  bool isNull() const { return type_ == Type::kNull; }
  bool isBool() const { return type_ == Type::kBool; }
  bool isNumber() const { return type_ == Type::kInt || type_ == Type::kDouble; }
  bool isString() const { return type_ == Type::kString; }
  bool isArray() const { return type_ == Type::kArray; }
  bool isObject() const { return type_ == Type::kObject; }

  bool asBool() const { return bool_; }
  /// The number when it is an integer (no fraction, no exponent) that fits int64_t.
  std::optional<int64_t> asInt() const;
  double asDouble() const;
  const std::string& asString() const { return string_; }
  const std::vector<JsonValue>& items() const { return items_; }
  const std::vector<JsonMember>& members() const { return members_; }

  /// Member `key` of an object (the last one when repeated), or nullptr when this is not an
  /// object or has no such member.
  const JsonValue* find(std::string_view key) const;
  /// find(key) when it is a string, else nullptr.
  const std::string* findString(std::string_view key) const;

  /// Short name of the type for messages ("object", "string", ...).
  const char* typeName() const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<JsonValue> items_;
  std::vector<JsonMember> members_;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

struct JsonLimits {
  std::size_t max_depth = 64;
  std::size_t max_bytes = 64u << 20;
};

/// Parses exactly one JSON value (surrounding whitespace allowed). On failure returns nullopt and
/// sets `*error` to "<what> at byte <offset>".
std::optional<JsonValue> parseJson(std::string_view text, std::string* error,
                                   const JsonLimits& limits = {});

}  // namespace pilotfish::core
