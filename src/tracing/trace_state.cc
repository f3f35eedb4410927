#include "pilotfish/tracing/trace_state.h"

#include <array>

namespace pilotfish::tracing {
namespace {

constexpr bool isLcAlpha(char c) {
  return c >= 'a' && c <= 'z';
}
constexpr bool isDigit(char c) {
  return c >= '0' && c <= '9';
}
constexpr bool isKeyChar(char c) {
  return isLcAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}
constexpr bool isOws(char c) {
  return c == ' ' || c == '\t';
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && isOws(s.front())) s.remove_prefix(1);
  while (!s.empty() && isOws(s.back())) s.remove_suffix(1);
  return s;
}

bool allKeyChars(std::string_view s) {
  for (char c : s) {
    if (!isKeyChar(c)) return false;
  }
  return true;
}

std::string_view keyOf(std::string_view member) {
  return member.substr(0, member.find('='));
}

}  // namespace

bool isValidTraceStateKey(std::string_view key) {
  const std::size_t at = key.find('@');
  if (at == std::string_view::npos) {
    return !key.empty() && key.size() <= 256 && isLcAlpha(key[0]) && allKeyChars(key);
  }
  const std::string_view tenant = key.substr(0, at);
  const std::string_view system = key.substr(at + 1);
  return !tenant.empty() && tenant.size() <= 241 && (isLcAlpha(tenant[0]) || isDigit(tenant[0])) &&
         allKeyChars(tenant) && !system.empty() && system.size() <= 14 && isLcAlpha(system[0]) &&
         allKeyChars(system);
}

bool isValidTraceStateValue(std::string_view value) {
  if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
  for (char c : value) {
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

bool normaliseTraceState(std::span<const std::string_view> fields, TraceStateValue& out) {
  out.clear();
  std::array<std::string_view, kMaxTraceStateMembers> members{};
  std::size_t count = 0;
  std::size_t verbatim_len = 0;
  std::size_t non_empty_fields = 0;

  for (std::string_view field : fields) {
    field = trimOws(field);
    if (field.empty()) continue;
    verbatim_len += field.size() + (non_empty_fields++ > 0 ? 1 : 0);
    while (true) {
      const std::size_t comma = field.find(',');
      const std::string_view member = trimOws(field.substr(0, comma));
      if (!member.empty()) {
        const std::size_t eq = member.find('=');
        if (eq == std::string_view::npos || !isValidTraceStateKey(member.substr(0, eq)) ||
            !isValidTraceStateValue(member.substr(eq + 1))) {
          return false;
        }
        if (count == kMaxTraceStateMembers) return false;
        for (std::size_t i = 0; i < count; ++i) {
          if (keyOf(members[i]) == member.substr(0, eq)) return false;  // duplicate key
        }
        members[count++] = member;
      }
      if (comma == std::string_view::npos) break;
      field.remove_prefix(comma + 1);
    }
  }
  if (count == 0) return true;  // valid, but nothing worth sending

  if (verbatim_len <= kMaxTraceStateLen) {
    // Unchanged: the (trimmed) field lines joined as one list.
    bool first = true;
    for (std::string_view field : fields) {
      field = trimOws(field);
      if (field.empty()) continue;
      if (!first) out.push(',');
      out.append(field);
      first = false;
    }
    return true;
  }

  // Too long: W3C truncation. Drop members over kTraceStateLongMember (last first), then
  // members from the end, until the compact join fits.
  std::array<bool, kMaxTraceStateMembers> keep{};
  std::size_t kept = count;
  std::size_t len = count - 1;
  for (std::size_t i = 0; i < count; ++i) {
    keep[i] = true;
    len += members[i].size();
  }
  auto drop = [&](std::size_t i) {
    keep[i] = false;
    --kept;
    len -= members[i].size() + (kept > 0 ? 1 : 0);
  };
  for (std::size_t i = count; i-- > 0 && len > kMaxTraceStateLen;) {
    if (members[i].size() > kTraceStateLongMember) drop(i);
  }
  for (std::size_t i = count; i-- > 0 && len > kMaxTraceStateLen;) {
    if (keep[i]) drop(i);
  }
  bool first = true;
  for (std::size_t i = 0; i < count; ++i) {
    if (!keep[i]) continue;
    if (!first) out.push(',');
    out.append(members[i]);
    first = false;
  }
  return true;
}

}  // namespace pilotfish::tracing
