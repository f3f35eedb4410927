#pragma once
// Rendering of AccessLogEntry as one line of JSON or text. Never throws; never lets a value
// break the line or add a field, whatever bytes a client sent. See docs/access-log.md.
//
// JSON: one object per line, the selected fields in the fixed order of access_log_fields.h.
//   Strings are JSON-escaped and always valid UTF-8: quotes, backslashes and control bytes are
//   escaped, invalid UTF-8 bytes become \ufffd, and U+0080-U+009F, U+2028, U+2029 are written
//   as \u escapes. An absent field is written as null.
// Text: the selected fields' values in the same order, separated by one space, no keys.
//   Absent = "-". A value is written bare when it is non-empty, not "-", and consists only of
//   printable ASCII other than '"' and '\' plus valid non-control UTF-8; otherwise it is written
//   in double quotes with \" \\ \n \r \t, \xHH (other control bytes, DEL, invalid UTF-8) and
//   \uHHHH (U+0080-U+009F, U+2028, U+2029) escapes.
//
// Thread-safety: stateless functions and an immutable formatter; safe from any thread.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pilotfish/accesslog/access_log_config.h"
#include "pilotfish/accesslog/access_log_entry.h"
#include "pilotfish/accesslog/access_log_fields.h"

namespace pilotfish::accesslog {

/// Upper bound of the bytes one formatted entry takes (every arena byte escaped to 6 bytes, plus
/// keys, numbers and punctuation), for sizing buffers.
inline constexpr std::size_t kMaxFormattedEntrySize = 6 * AccessLogEntry::kArenaSize + 1024;

/// Appends `us_since_epoch` as RFC 3339 UTC with microseconds: "2024-05-01T12:34:56.123456Z".
/// Times before 1970 or after 9999-12-31 are clamped to those bounds.
void appendRfc3339(std::string& out, int64_t us_since_epoch);

/// Appends `v` as a JSON string literal (with the quotes), escaped as described above.
void appendJsonString(std::string& out, std::string_view v);

/// Appends `v` as one text-format token (bare or quoted), escaped as described above.
void appendTextValue(std::string& out, std::string_view v);

/// Formats entries with a fixed format and field selection. Immutable value type.
class AccessLogFormatter {
 public:
  AccessLogFormatter(AccessLogFormat format, FieldSet fields) : format_(format), fields_(fields) {}

  /// Appends one line, '\n' included. With no field selected: "{}\n" (JSON) or "\n" (text).
  void append(std::string& out, const AccessLogEntry& e) const;

  AccessLogFormat format() const { return format_; }
  FieldSet fields() const { return fields_; }

 private:
  void appendJson(std::string& out, const AccessLogEntry& e) const;
  void appendText(std::string& out, const AccessLogEntry& e) const;

  AccessLogFormat format_;
  FieldSet fields_;
};

}  // namespace pilotfish::accesslog
