#include "pilotfish/core/json_parse.h"

#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace pilotfish::core {

std::optional<int64_t> JsonValue::asInt() const {
  if (type_ == Type::kInt) return int_;
  return std::nullopt;
}

double JsonValue::asDouble() const {
  return type_ == Type::kInt ? static_cast<double>(int_) : double_;
}

const JsonValue* JsonValue::find(std::string_view key) const {
  if (type_ != Type::kObject) return nullptr;
  for (auto it = members_.rbegin(); it != members_.rend(); ++it) {
    if (it->key == key) return &it->value;
  }
  return nullptr;
}

const std::string* JsonValue::findString(std::string_view key) const {
  const JsonValue* v = find(key);
  return v && v->isString() ? &v->string_ : nullptr;
}

const char* JsonValue::typeName() const {
  switch (type_) {
    case Type::kNull: return "null";
    case Type::kBool: return "boolean";
    case Type::kInt:
    case Type::kDouble: return "number";
    case Type::kString: return "string";
    case Type::kArray: return "array";
    case Type::kObject: break;
  }
  return "object";
}

class JsonParser {
 public:
  JsonParser(std::string_view text, const JsonLimits& limits) : s_(text), limits_(limits) {}

  std::optional<JsonValue> run(std::string* error) {
    if (s_.size() > limits_.max_bytes) return fail(error, "document larger than the limit", 0);
    JsonValue v;
    skipWs();
    if (!value(v, 0)) return fail(error, error_, pos_);
    skipWs();
    if (pos_ != s_.size()) return fail(error, "unexpected data after the value", pos_);
    return v;
  }

 private:
  static std::optional<JsonValue> fail(std::string* error, std::string_view what, std::size_t at) {
    if (error) *error = std::string(what) + " at byte " + std::to_string(at);
    return std::nullopt;
  }

  bool err(const char* what) {
    error_ = what;
    return false;
  }

  void skipWs() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool literal(std::string_view word) {
    if (s_.substr(pos_, word.size()) != word) return err("invalid literal");
    pos_ += word.size();
    return true;
  }

  bool value(JsonValue& v, std::size_t depth) {
    if (pos_ >= s_.size()) return err("unexpected end of input");
    switch (s_[pos_]) {
      case '{': return object(v, depth + 1);
      case '[': return array(v, depth + 1);
      case '"': v.type_ = JsonValue::Type::kString; return string(v.string_);
      case 't':
        v.type_ = JsonValue::Type::kBool;
        v.bool_ = true;
        return literal("true");
      case 'f':
        v.type_ = JsonValue::Type::kBool;
        v.bool_ = false;
        return literal("false");
      case 'n': v.type_ = JsonValue::Type::kNull; return literal("null");
      default: return number(v);
    }
  }

  bool object(JsonValue& v, std::size_t depth) {
    if (depth > limits_.max_depth) return err("nesting deeper than the limit");
    v.type_ = JsonValue::Type::kObject;
    ++pos_;
    skipWs();
    if (pos_ < s_.size() && s_[pos_] == '}') {
      ++pos_;
      return true;
    }
    for (;;) {
      skipWs();
      if (pos_ >= s_.size() || s_[pos_] != '"') return err("expected a member name");
      JsonMember m;
      if (!string(m.key)) return false;
      skipWs();
      if (pos_ >= s_.size() || s_[pos_] != ':') return err("expected ':'");
      ++pos_;
      skipWs();
      if (!value(m.value, depth)) return false;
      v.members_.push_back(std::move(m));
      skipWs();
      if (pos_ >= s_.size()) return err("unterminated object");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return true;
      }
      return err("expected ',' or '}'");
    }
  }

  bool array(JsonValue& v, std::size_t depth) {
    if (depth > limits_.max_depth) return err("nesting deeper than the limit");
    v.type_ = JsonValue::Type::kArray;
    ++pos_;
    skipWs();
    if (pos_ < s_.size() && s_[pos_] == ']') {
      ++pos_;
      return true;
    }
    for (;;) {
      skipWs();
      JsonValue item;
      if (!value(item, depth)) return false;
      v.items_.push_back(std::move(item));
      skipWs();
      if (pos_ >= s_.size()) return err("unterminated array");
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == ']') {
        ++pos_;
        return true;
      }
      return err("expected ',' or ']'");
    }
  }

  static int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }

  bool hex4(uint32_t& out) {
    if (pos_ + 4 > s_.size()) return err("truncated \\u escape");
    out = 0;
    for (int i = 0; i < 4; ++i) {
      int d = hexDigit(s_[pos_ + i]);
      if (d < 0) return err("invalid \\u escape");
      out = out * 16 + static_cast<uint32_t>(d);
    }
    pos_ += 4;
    return true;
  }

  static void appendUtf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool string(std::string& out) {
    ++pos_;  // opening quote
    for (;;) {
      if (pos_ >= s_.size()) return err("unterminated string");
      char c = s_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) return err("control character in string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      if (++pos_ >= s_.size()) return err("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = 0;
          if (!hex4(cp)) return false;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (s_.substr(pos_, 2) != "\\u") return err("unpaired surrogate");
            pos_ += 2;
            if (!hex4(lo)) return false;
            if (lo < 0xDC00 || lo > 0xDFFF) return err("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            return err("unpaired surrogate");
          }
          appendUtf8(out, cp);
          break;
        }
        default: return err("invalid escape");
      }
    }
  }

  bool number(JsonValue& v) {
    std::size_t start = pos_;
    bool integral = true;
    if (pos_ < s_.size() && s_[pos_] == '-') ++pos_;
    if (pos_ >= s_.size()) return err("invalid value");
    if (s_[pos_] == '0') {
      ++pos_;
    } else if (s_[pos_] >= '1' && s_[pos_] <= '9') {
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    } else {
      pos_ = start;
      return err("invalid value");
    }
    if (pos_ < s_.size() && s_[pos_] == '.') {
      integral = false;
      ++pos_;
      std::size_t digits = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == digits) return err("digits expected after '.'");
    }
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      std::size_t digits = pos_;
      while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      if (pos_ == digits) return err("digits expected in exponent");
    }
    std::string_view text = s_.substr(start, pos_ - start);
    if (integral) {
      int64_t n = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
      if (ec == std::errc() && p == text.data() + text.size()) {
        v.type_ = JsonValue::Type::kInt;
        v.int_ = n;
        return true;
      }
    }
    // Out of int64 range or not integral: a double (strtod needs a terminated copy).
    std::string copy(text);
    errno = 0;
    v.type_ = JsonValue::Type::kDouble;
    v.double_ = std::strtod(copy.c_str(), nullptr);
    return true;
  }

  std::string_view s_;
  JsonLimits limits_;
  std::size_t pos_ = 0;
  const char* error_ = "invalid JSON";
};

std::optional<JsonValue> parseJson(std::string_view text, std::string* error,
                                   const JsonLimits& limits) {
  return JsonParser(text, limits).run(error);
}

}  // namespace pilotfish::core
