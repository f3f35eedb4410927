// parseDuration / formatDuration: the one duration syntax of the config, "<integer><unit>".

#include <cstdint>
#include <limits>

#include "pilotfish/config/loader.h"

namespace pilotfish::config {

namespace {

// Durations end up in std::chrono::nanoseconds-based timers (Asio's steady_timer), so the
// largest accepted value is the one that still fits there: INT64_MAX ns, about 292 years.
constexpr int64_t kMaxMillis = std::numeric_limits<int64_t>::max() / 1'000'000;

}  // namespace

std::optional<Duration> parseDuration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  std::string_view unit = text.substr(digits);
  int64_t factor = 0;
  if (unit == "ms") {
    factor = 1;
  } else if (unit == "s") {
    factor = 1000;
  } else if (unit == "m") {
    factor = 60 * 1000;
  } else if (unit == "h") {
    factor = 3600 * 1000;
  } else {
    return std::nullopt;
  }
  int64_t value = 0;
  for (std::size_t i = 0; i < digits; ++i) {
    int64_t d = text[i] - '0';
    if (value > (kMaxMillis - d) / 10) return std::nullopt;
    value = value * 10 + d;
  }
  if (value > kMaxMillis / factor) return std::nullopt;
  return Duration(value * factor);
}

std::string formatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string sign;
  uint64_t abs = static_cast<uint64_t>(ms);
  if (ms < 0) {
    sign = "-";
    abs = 0 - abs;  // well-defined for INT64_MIN as well
  }
  if (abs % 3'600'000 == 0) return sign + std::to_string(abs / 3'600'000) + "h";
  if (abs % 60'000 == 0) return sign + std::to_string(abs / 60'000) + "m";
  if (abs % 1000 == 0) return sign + std::to_string(abs / 1000) + "s";
  return sign + std::to_string(abs) + "ms";
}

}  // namespace pilotfish::config
