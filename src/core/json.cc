#include "pilotfish/core/json.h"

#include <cmath>
#include <cstdio>

namespace pilotfish::core {

void appendJsonEscaped(std::string& out, std::string_view s) {
  static const char* kHex = "0123456789abcdef";
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
      continue;
    }
    if (c < 0x80) {
      out += static_cast<char>(c);
      continue;
    }
    // Validate one UTF-8 sequence; copy it whole or replace the lead byte.
    int len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len != 0 && i + len <= s.size();
    for (int k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (ok) {
      out.append(s.substr(i, len));
      i += len - 1;
    } else {
      out += "\\ufffd";
    }
  }
}

void JsonWriter::separator() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (!first_.empty()) {
    if (!first_.back()) out_ += ',';
    first_.back() = false;
  }
}

void JsonWriter::beginObject() {
  separator();
  out_ += '{';
  first_.push_back(true);
}
void JsonWriter::endObject() {
  out_ += '}';
  first_.pop_back();
}
void JsonWriter::beginArray() {
  separator();
  out_ += '[';
  first_.push_back(true);
}
void JsonWriter::endArray() {
  out_ += ']';
  first_.pop_back();
}
void JsonWriter::key(std::string_view k) {
  separator();
  out_ += '"';
  appendJsonEscaped(out_, k);
  out_ += "\":";
  after_key_ = true;
}
void JsonWriter::value(std::string_view v) {
  separator();
  out_ += '"';
  appendJsonEscaped(out_, v);
  out_ += '"';
}
void JsonWriter::value(bool v) {
  separator();
  out_ += v ? "true" : "false";
}
void JsonWriter::value(int64_t v) {
  separator();
  out_ += std::to_string(v);
}
void JsonWriter::value(uint64_t v) {
  separator();
  out_ += std::to_string(v);
}
void JsonWriter::value(double v) {
  separator();
  if (!std::isfinite(v)) {
    out_ += "null";
    return;
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.6g", v);
  out_.append(buf, n);
}
void JsonWriter::null() {
  separator();
  out_ += "null";
}

}  // namespace pilotfish::core
