#pragma once
// HTTP route table: routes are tried in order and the first whose every match key holds wins.
// Immutable once built (shared read-only by all workers); match() allocates nothing.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pilotfish::http {

struct HeaderMatch {
  std::string name;                  ///< lowercase
  std::optional<std::string> value;  ///< exact value; nullopt = header must be present
};

struct RouteMatch {
  std::optional<std::string> host;         ///< exact, case-insensitive, port ignored
  std::optional<std::string> host_suffix;  ///< e.g. ".pf-https", case-insensitive, port ignored
  std::optional<std::string> path_prefix;  ///< against the normalised path
  std::optional<std::string> path_exact;   ///< against the normalised path
  std::optional<std::string> method;       ///< exact, case-sensitive (methods are)
  std::vector<HeaderMatch> headers;
};

struct Route {
  RouteMatch match;
  std::size_t cluster_index = 0;
  std::string cluster;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<std::string> prefix_rewrite;
  std::optional<std::string> host_rewrite;
  bool upstream_host_from_request = false;
};

/// Removes the port from an authority ("Host:8080" -> "Host", "[::1]:80" -> "[::1]").
std::string_view stripPort(std::string_view authority);

/// RFC 3986 path normalisation for matching: percent-encoded unreserved characters are decoded
/// (so %2E is '.'), "." and ".." segments are removed (never above the root), runs of slashes
/// are merged; "%2F" and every other reserved escape are left encoded. The query (from '?') is
/// not part of the input. `out` is cleared and reused (no allocation once it has capacity).
void normalizePath(std::string_view path, std::string& out);

/// Case-insensitive ASCII comparison.
bool equalsIgnoreCase(std::string_view a, std::string_view b);

class Router {
 public:
  explicit Router(std::vector<Route> routes) : routes_(std::move(routes)) {}

  /// The first route whose keys all hold, or nullptr (the caller answers 404).
  /// `host` may carry a port; `path` must already be normalised (normalizePath);
  /// `header(name)` returns the value of the first field with that lowercase name, if any.
  template <class HeaderFn>
  const Route* match(std::string_view method, std::string_view host, std::string_view path,
                     HeaderFn&& header) const {
    std::string_view bare_host = stripPort(host);
    for (const auto& r : routes_) {
      if (matchesBasics(r.match, method, bare_host, path) && matchesHeaders(r.match, header)) {
        return &r;
      }
    }
    return nullptr;
  }

  const std::vector<Route>& routes() const { return routes_; }

 private:
  static bool matchesBasics(const RouteMatch& m, std::string_view method, std::string_view host,
                            std::string_view path);
  template <class HeaderFn>
  static bool matchesHeaders(const RouteMatch& m, HeaderFn& header) {
    for (const auto& h : m.headers) {
      std::optional<std::string_view> v = header(std::string_view(h.name));
      if (!v || (h.value && *v != *h.value)) return false;
    }
    return true;
  }

  std::vector<Route> routes_;
};

}  // namespace pilotfish::http
