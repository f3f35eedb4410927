#pragma once
// YAML -> validated Config. Reports every error found, not just the first.
// Exceptions: none escape; all failures come back as ConfigError values.

#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "pilotfish/config/config.h"

namespace pilotfish::config {

/// One validation or syntax error. Rendered as
/// "<file>:<line>:<column>: <path>: <message>" (line/column are 1-based).
struct ConfigError {
  std::string file;
  int line = 0;      ///< 1-based; 0 when unknown
  int column = 0;    ///< 1-based; 0 when unknown
  std::string path;  ///< key path, e.g. "listeners[1].cluster"; empty for the document root
  std::string message;

  std::string toString() const;
};

using LoadResult = std::variant<ConfigPtr, std::vector<ConfigError>>;

/// Parses and validates YAML text. `file` is used in error messages only.
LoadResult loadFromString(std::string_view yaml, const std::string& file);

/// Reads and validates a file. A missing/unreadable file is a single ConfigError.
LoadResult loadFromFile(const std::string& path);

/// Parses "<integer>ms|s|m|h" (e.g. "250ms", "5s", "1h"). Returns nullopt on anything else.
std::optional<Duration> parseDuration(std::string_view text);

/// Renders a duration the way it is accepted back ("1500ms", "5s", "2m", "1h").
std::string formatDuration(Duration d);

}  // namespace pilotfish::config
