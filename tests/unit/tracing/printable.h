#pragma once
// Short, printable names for parameterised test cases (ctest shows GetParam() in test names).

#include <cstdio>
#include <string>
#include <string_view>

namespace pilotfish::tracing::testing {

/// `s` with non-printable bytes as \xNN, cut to `max` chars with "...".
inline std::string printable(std::string_view s, std::size_t max = 48) {
  std::string out;
  for (char c : s.substr(0, max)) {
    if (c >= 0x21 && c <= 0x7e && c != '\\') {
      out += c;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace pilotfish::tracing::testing
