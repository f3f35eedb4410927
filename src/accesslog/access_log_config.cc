#include "pilotfish/accesslog/access_log_config.h"

namespace pilotfish::accesslog {

bool parseAccessLogFormat(std::string_view s, AccessLogFormat* out) {
  if (s == "json") {
    *out = AccessLogFormat::kJson;
    return true;
  }
  if (s == "text") {
    *out = AccessLogFormat::kText;
    return true;
  }
  return false;
}

std::string_view accessLogFormatName(AccessLogFormat f) {
  return f == AccessLogFormat::kText ? "text" : "json";
}

std::string knownFieldList() {
  std::string out;
  for (std::string_view name : kFieldNames) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

bool resolveFields(const std::vector<std::string>& names, FieldSet* out, std::string* error,
                   std::size_t* bad_index) {
  if (names.empty()) {
    *out = FieldSet::all();
    return true;
  }
  FieldSet set;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto f = fieldFromName(names[i]);
    std::string why;
    if (!f) {
      why = "unknown access log field \"" + names[i] + "\"; known fields: " + knownFieldList();
    } else if (set.has(*f)) {
      why = "access log field \"" + names[i] + "\" is listed twice";
    } else {
      set.add(*f);
      continue;
    }
    if (error) *error = std::move(why);
    if (bad_index) *bad_index = i;
    return false;
  }
  *out = set;
  return true;
}

std::vector<std::string> validateAccessLogConfig(const AccessLogConfig& cfg) {
  std::vector<std::string> errors;
  if (cfg.path.empty()) {
    errors.push_back("access_log.path: must not be empty (use \"stdout\" or a file path)");
  } else if (cfg.path.find('\0') != std::string::npos) {
    errors.push_back("access_log.path: must not contain a NUL byte");
  }
  FieldSet seen;
  for (std::size_t i = 0; i < cfg.fields.size(); ++i) {
    std::string prefix = "access_log.fields[" + std::to_string(i) + "]: ";
    auto f = fieldFromName(cfg.fields[i]);
    if (!f) {
      errors.push_back(prefix + "unknown access log field \"" + cfg.fields[i] +
                       "\"; known fields: " + knownFieldList());
    } else if (seen.has(*f)) {
      errors.push_back(prefix + "access log field \"" + cfg.fields[i] + "\" is listed twice");
    } else {
      seen.add(*f);
    }
  }
  return errors;
}

}  // namespace pilotfish::accesslog
