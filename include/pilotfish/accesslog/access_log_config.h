#pragma once
// Configuration of the access log (top-level `access_log:` key) and its validation helpers.
// Plain data filled by the config loader; immutable after load, shared read-only across threads.
// See docs/access-log.md.
//
//   access_log:
//     path: /var/log/pilotfish/access.log   # or "stdout" (default)
//     format: json                          # json (default) | text
//     fields: [ts, method, path, status]    # optional; default: every field

#include <string>
#include <string_view>
#include <vector>

#include "pilotfish/accesslog/access_log_fields.h"

namespace pilotfish::accesslog {

enum class AccessLogFormat { kJson, kText };

/// The path value that selects the process's standard output.
inline constexpr std::string_view kStdoutPath = "stdout";

struct AccessLogConfig {
  std::string path{kStdoutPath};  ///< "stdout" or a file path (opened O_APPEND, created 0640)
  AccessLogFormat format = AccessLogFormat::kJson;
  std::vector<std::string> fields;  ///< names from kFieldNames; empty = all fields
};

/// Parses "json" | "text". Returns false (and leaves *out alone) for anything else.
bool parseAccessLogFormat(std::string_view s, AccessLogFormat* out);

/// "json" | "text".
std::string_view accessLogFormatName(AccessLogFormat f);

/// Comma-separated list of every field name in output order, for error messages.
std::string knownFieldList();

/// Resolves `names` to a FieldSet: empty list = every field. On an unknown or repeated name
/// returns false, sets *error (if non-null) to a message naming it and, for unknown names,
/// listing the known ones, and sets *bad_index (if non-null) to its position in `names`.
bool resolveFields(const std::vector<std::string>& names, FieldSet* out,
                   std::string* error = nullptr, std::size_t* bad_index = nullptr);

/// Every problem in `cfg`, one message each, prefixed by the key path ("access_log.path: ...",
/// "access_log.fields[2]: ..."); empty when valid. Checks: path non-empty and without NUL bytes,
/// every field known and listed once. Whether the file can be opened is checked when the logger
/// is created (AccessLogger::create).
std::vector<std::string> validateAccessLogConfig(const AccessLogConfig& cfg);

}  // namespace pilotfish::accesslog
