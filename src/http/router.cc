#include "pilotfish/http/router.h"

namespace pilotfish::http {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

bool endsWithIgnoreCase(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && equalsIgnoreCase(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view stripPort(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    return close == std::string_view::npos ? authority : authority.substr(0, close + 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

void normalizePath(std::string_view path, std::string& out) {
  out.clear();
  // Segment-wise: decode unreserved escapes within a segment, then apply dot rules. `out` always
  // starts with '/' and never ends with a slash unless the input's last segment was empty.
  std::size_t i = 0;
  const std::size_t n = path.size();
  if (n == 0 || path[0] != '/') out.push_back('/');
  std::string seg;  // small; reused within this call only
  while (i <= n) {
    // Skip any run of slashes.
    while (i < n && path[i] == '/') ++i;
    std::size_t start = i;
    while (i < n && path[i] != '/') ++i;
    bool last = i >= n;
    seg.clear();
    for (std::size_t k = start; k < i; ++k) {
      char c = path[k];
      if (c == '%' && k + 2 < i) {
        int hi = hexValue(path[k + 1]);
        int lo = hexValue(path[k + 2]);
        if (hi >= 0 && lo >= 0 && unreserved(static_cast<char>(hi * 16 + lo))) {
          seg.push_back(static_cast<char>(hi * 16 + lo));
          k += 2;
          continue;
        }
      }
      seg.push_back(c);
    }
    if (seg == ".") {
      if (last && (out.empty() || out.back() != '/')) out.push_back('/');
    } else if (seg == "..") {
      // Drop the previous segment (never above the root).
      if (!out.empty() && out.back() == '/' && out.size() > 1) out.pop_back();
      while (out.size() > 1 && out.back() != '/') out.pop_back();
      if (out.empty() || out.back() != '/') out.push_back('/');
    } else if (!seg.empty()) {
      if (out.empty() || out.back() != '/') out.push_back('/');
      out += seg;
    } else if (last && start > 0 && path[start - 1] == '/' && (out.empty() || out.back() != '/')) {
      out.push_back('/');  // trailing slash is kept: /a/ stays /a/
    }
    if (last) break;
  }
  if (out.empty()) out.push_back('/');
}

bool Router::matchesBasics(const RouteMatch& m, std::string_view method, std::string_view host,
                           std::string_view path) {
  if (m.method && method != *m.method) return false;
  if (m.host && !equalsIgnoreCase(host, *m.host)) return false;
  if (m.host_suffix && !endsWithIgnoreCase(host, *m.host_suffix)) return false;
  if (m.path_exact && path != *m.path_exact) return false;
  if (m.path_prefix && path.substr(0, m.path_prefix->size()) != *m.path_prefix) return false;
  return true;
}

}  // namespace pilotfish::http
