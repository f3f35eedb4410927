#pragma once
// Minimal streaming JSON writer used by the admin API, JSON logs and access logs.
// Not thread-safe; one writer per output. Never throws.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pilotfish::core {

/// Appends RFC 8259 JSON to a string. Commas and nesting are tracked for the caller:
///   JsonWriter w(out); w.beginObject(); w.key("a"); w.value(1); w.endObject();
class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  void beginObject();
  void endObject();
  void beginArray();
  void endArray();
  void key(std::string_view k);
  void value(std::string_view v);
  void value(const char* v) { value(std::string_view(v)); }
  void value(const std::string& v) { value(std::string_view(v)); }
  void value(bool v);
  void value(int64_t v);
  void value(uint64_t v);
  void value(int v) { value(static_cast<int64_t>(v)); }
  void value(unsigned v) { value(static_cast<uint64_t>(v)); }
  void value(double v);
  void null();

  /// key + value in one call.
  template <class T>
  void field(std::string_view k, const T& v) {
    key(k);
    value(v);
  }

 private:
  void separator();
  std::string& out_;
  std::vector<bool> first_;  // one entry per open container: no element written yet
  bool after_key_ = false;
};

/// Appends `s` JSON-escaped (without quotes) to `out`. Invalid UTF-8 bytes are written as \ufffd.
void appendJsonEscaped(std::string& out, std::string_view s);

}  // namespace pilotfish::core
