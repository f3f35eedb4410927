#pragma once
// Private to src/config: typed, error-collecting reads of a yaml-cpp tree. Every read that fails
// records a ConfigError (file:line:column, key path, what was expected) and returns nullopt, so
// the loader keeps going and reports every error of a file at once.
// Not thread-safe; one Diagnostics per load.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pilotfish/config/loader.h"
#include "pilotfish/net/address.h"

namespace pilotfish::config::detail {

class Diagnostics;

/// Parses `text`, which must hold exactly one YAML document. Syntax errors, an empty document and
/// extra documents are recorded; returns the root node when there is one to validate.
/// (yaml-cpp 0.7's LoadAll never returns on some malformed input, see the .cc; don't use it.)
std::optional<YAML::Node> parseDocument(Diagnostics& diag, const std::string& text);

/// Collects the errors of one load.
class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  /// Records an error at `mark` (a yaml-cpp 0-based mark; a null mark gives line/column 0).
  void add(const YAML::Mark& mark, std::string path, std::string message);
  bool empty() const { return errors_.empty(); }
  /// The errors in document order (line, then column; stable for equal positions).
  std::vector<ConfigError> take();

 private:
  std::string file_;
  std::vector<ConfigError> errors_;
};

/// A node together with its key path and the position to report it at.
struct Field {
  YAML::Node node;
  std::string path;  ///< "listeners[1].cluster"; empty for the root
  YAML::Mark mark;   ///< the node's own mark, or its key's when the value is empty (`key:`)

  Field child(std::string_view key, const YAML::Node& value, const YAML::Mark& key_mark) const;
  Field element(std::size_t index, const YAML::Node& value) const;
};

/// "a map", "a list", "an empty value", or the scalar quoted: "\"5 s\"".
std::string describe(const YAML::Node& node);

/// Quotes `s` for a message: "\"s\"" (control characters escaped, long values cut).
std::string quote(std::string_view s);

/// The candidate closest to `word` when it is a likely typo (small edit distance), else "".
std::string_view closest(std::string_view word, std::span<const std::string_view> candidates);

/// "a, b, c".
std::string joinNames(std::span<const std::string_view> names);

/// Reads a YAML map strictly: records an error when the node is not a map, for every unknown or
/// duplicate key, and for every recognised key this version does not implement yet.
class MapReader {
 public:
  MapReader(Diagnostics& diag, const Field& map, std::span<const std::string_view> supported,
            std::span<const std::string_view> not_supported = {});

  /// False when the node was not a map (an error has been recorded).
  bool ok() const { return ok_; }
  /// The value of a supported key, if present.
  std::optional<Field> get(std::string_view key) const;
  /// Where a supported key that is present was written (for errors about the key itself).
  YAML::Mark keyMark(std::string_view key) const;
  /// Records `missing required key "<key>"` at the map.
  void missing(std::string_view key, std::string_view hint = {}) const;
  const Field& field() const { return map_; }

 private:
  struct Entry {
    std::string key;
    Field value;
    YAML::Mark key_mark;
  };
  Diagnostics& diag_;
  Field map_;
  std::vector<Entry> entries_;
  bool ok_ = false;
};

/// Any scalar, as written.
std::optional<std::string> readString(Diagnostics& diag, const Field& f);
/// A name: non-empty, [A-Za-z0-9_.-]+.
std::optional<std::string> readName(Diagnostics& diag, const Field& f);
/// A plain (unquoted) decimal integer in [min, max]; no sign but '-', no leading zeros.
std::optional<int64_t> readInt(Diagnostics& diag, const Field& f, int64_t min, int64_t max);
/// "<integer>ms|s|m|h"; with `positive`, 0 is rejected too.
std::optional<Duration> readDuration(Diagnostics& diag, const Field& f, bool positive);
/// "ip:port" / "[ipv6]:port" (and "name:port" with `allow_name`), port 1-65535.
std::optional<net::HostPort> readAddress(Diagnostics& diag, const Field& f, bool allow_name);
/// The elements of a list; nullopt (error recorded) when the node is not a list.
std::optional<std::vector<Field>> readList(Diagnostics& diag, const Field& f);
/// A plain (unquoted) `true` or `false` (also `True`, `TRUE`, `False`, `FALSE`).
std::optional<bool> readBool(Diagnostics& diag, const Field& f);
/// A plain (unquoted) decimal number (`0`, `0.25`, `.5`, `1e-3`) in [min, max].
std::optional<double> readNumber(Diagnostics& diag, const Field& f, double min, double max);
/// A byte count: "<integer>" or "<integer>KiB|MiB|GiB", greater than 0, below 2^63.
std::optional<uint64_t> readSize(Diagnostics& diag, const Field& f);

}  // namespace pilotfish::config::detail
