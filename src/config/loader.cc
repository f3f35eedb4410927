// YAML -> Config. Reading is in two passes: the first walks the tree and fills the structs,
// recording every local error (type, range, unknown key); the second checks what spans
// sections (listener and route -> cluster references, address clashes). Errors never stop the
// walk.

#include "pilotfish/config/loader.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "pilotfish/accesslog/access_log_config.h"
#include "pilotfish/accesslog/access_log_fields.h"
#include "yaml_reader.h"

namespace pilotfish::config {

using detail::Diagnostics;
using detail::Field;
using detail::MapReader;
using detail::quote;

std::string ConfigError::toString() const {
  std::string out = file;
  if (line > 0) {
    out += ':' + std::to_string(line) + ':' + std::to_string(column);
  }
  out += ": ";
  if (!path.empty()) out += path + ": ";
  out += message;
  return out;
}

namespace {

using Names = std::span<const std::string_view>;

constexpr std::string_view kRootKeys[] = {"node",      "workers",   "drain_delay", "drain_timeout",
                                          "admin",     "log",       "access_log",  "tracing",
                                          "discovery", "cache_dir", "clusters",    "listeners"};
constexpr std::string_view kRootNotSupported[] = {"service"};
constexpr std::string_view kSourceTypes[] = {"zookeeper", "consul", "etcd", "dns"};
// Every key of a discovery source, and the source types each one belongs to.
struct SourceKey {
  std::string_view key;
  std::string_view types;  // space-separated
};
constexpr SourceKey kSourceKeys[] = {
    {"type", "zookeeper consul etcd dns"},
    {"servers", "zookeeper dns"},
    {"chroot", "zookeeper"},
    {"session_timeout", "zookeeper"},
    {"auth", "zookeeper"},
    {"address", "consul"},
    {"datacenter", "consul"},
    {"token_file", "consul"},
    {"endpoints", "etcd"},
    {"tls", "consul etcd"},
    {"min_ttl", "dns"},
    {"max_ttl", "dns"},
    {"timeout", "consul etcd dns"},
};
constexpr std::string_view kZkAuthKeys[] = {"scheme", "credentials_file"};
constexpr std::string_view kZkAuthSchemes[] = {"digest"};
constexpr std::string_view kSourceTlsKeys[] = {"ca_file", "cert_file", "key_file"};
constexpr std::string_view kZkClusterKeys[] = {"source", "path"};
constexpr std::string_view kConsulClusterKeys[] = {"source", "service", "tags", "passing_only",
                                                   "datacenter"};
constexpr std::string_view kEtcdClusterKeys[] = {"source", "prefix"};
constexpr std::string_view kDnsClusterKeys[] = {"source", "name", "type", "port"};
constexpr std::string_view kDnsTypes[] = {"SRV", "A", "AAAA"};
constexpr std::string_view kFileClusterKeys[] = {"path"};
constexpr std::string_view kOnEndpointRemoved[] = {"keep", "close"};
// Cluster keys that only make sense with a discovery block.
constexpr std::string_view kDiscoveryOnlyKeys[] = {"allow_empty", "max_stale",
                                                   "initial_fetch_timeout"};
constexpr std::string_view kAccessLogKeys[] = {"path", "format", "fields"};
constexpr std::string_view kAccessLogFormats[] = {"json", "text"};
constexpr std::string_view kNodeKeys[] = {"id", "zone"};
constexpr std::string_view kAdminKeys[] = {"address"};
constexpr std::string_view kLogKeys[] = {"level", "format"};
constexpr std::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};
constexpr std::string_view kLogFormats[] = {"text", "json"};
constexpr std::string_view kTracingKeys[] = {"propagate", "request_id", "sample_rate"};
// Reporting spans to a backend: pilotfish only propagates trace context (docs/tracing.md).
constexpr std::string_view kTracingNotSupported[] = {"zipkin", "otlp", "jaeger"};
constexpr std::string_view kPropagationFormats[] = {"b3", "w3c"};
constexpr std::string_view kClusterKeys[] = {"name",
                                             "type",
                                             "endpoints",
                                             "connect_timeout",
                                             "lb",
                                             "pool",
                                             "tls",
                                             "port",
                                             "dns_ttl",
                                             "zookeeper",
                                             "consul",
                                             "etcd",
                                             "dns",
                                             "file",
                                             "allow_empty",
                                             "max_stale",
                                             "initial_fetch_timeout",
                                             "on_endpoint_removed"};
constexpr std::string_view kClusterTypes[] = {"static", "dynamic_host"};
constexpr std::string_view kTlsKeys[] = {"verify", "sni",       "ca_file",
                                         "alpn",   "cert_file", "key_file"};
constexpr std::string_view kAlpnSupported[] = {"http/1.1"};
constexpr std::string_view kAlpnNotSupported[] = {"h2"};
constexpr std::string_view kClusterNotSupported[] = {"circuit_breaker", "outlier_detection",
                                                     "health_check"};
// Keys that name an endpoint source other than the static list.
constexpr std::string_view kClusterSources[] = {"zookeeper", "consul", "etcd", "dns", "file"};
constexpr std::string_view kEndpointKeys[] = {"address", "weight", "zone"};
constexpr std::string_view kLbKeys[] = {"policy"};
constexpr std::string_view kLbSupported[] = {"round_robin"};
constexpr std::string_view kLbNotSupported[] = {
    "least_request", "ewma", "ring_hash", "maglev", "ordered", "zone_aware", "random"};
constexpr std::string_view kPoolKeys[] = {"max_idle_per_endpoint", "idle_timeout",
                                          "max_requests_per_connection"};
constexpr std::string_view kListenerKeys[] = {"name",
                                              "address",
                                              "protocol",
                                              "cluster",
                                              "idle_timeout",
                                              "max_connections",
                                              "routes",
                                              "tracing",
                                              "max_request_headers_kb",
                                              "max_headers",
                                              "max_request_line_kb",
                                              "max_request_body",
                                              "request_headers_timeout",
                                              "request_body_timeout",
                                              "response_send_timeout",
                                              "max_hops",
                                              "headers_with_underscores"};
// The keys of kListenerKeys that only an http listener may have.
constexpr std::string_view kListenerHttpKeys[] = {"routes",
                                                  "tracing",
                                                  "max_request_headers_kb",
                                                  "max_headers",
                                                  "max_request_line_kb",
                                                  "max_request_body",
                                                  "request_headers_timeout",
                                                  "request_body_timeout",
                                                  "response_send_timeout",
                                                  "max_hops",
                                                  "headers_with_underscores"};
constexpr std::string_view kUnderscoreActions[] = {"allow", "reject", "drop"};
constexpr std::string_view kListenerNotSupported[] = {"tls"};
constexpr std::string_view kProtocolsSupported[] = {"tcp", "http"};
constexpr std::string_view kProtocolsNotSupported[] = {"http2", "grpc"};
constexpr std::string_view kRouteKeys[] = {
    "match",  "cluster", "timeout", "prefix_rewrite", "host_rewrite", "upstream_host_from_request",
    "retries"};
constexpr std::string_view kMatchKeys[] = {"host",       "host_suffix", "path_prefix",
                                           "path_exact", "method",      "header"};
constexpr std::string_view kHeaderMatchKeys[] = {"name", "value", "present"};
constexpr std::string_view kRetryKeys[] = {"attempts", "on", "per_try_timeout"};
// In the order of the RetryOn bits.
constexpr std::string_view kRetryConditions[] = {"connect-failure", "reset", "502", "503", "504"};

constexpr int64_t kMaxWorkers = 1024;
constexpr int64_t kMaxWeight = 65535;
constexpr int64_t kMaxRequestHeadersKb = 1024;
constexpr int64_t kMaxHeaders = 1000;
constexpr int64_t kMaxRequestLineKb = 64;
constexpr int64_t kMaxHops = 255;
constexpr int64_t kMaxRetryAttempts = 10;
constexpr int64_t kMaxIdlePerEndpoint = 10000;

// A name to query: labels of letters, digits, '-' and '_' (SRV names such as
// _users._tcp.service.consul), 1-63 bytes each, 253 in all.
bool isDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t label = 0;
  for (char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0;
}

bool contains(Names list, std::string_view s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

int lineOf(const YAML::Mark& m) {
  return m.is_null() ? 0 : m.line + 1;
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

// A value from a closed list; `later` are recognised values this version does not implement.
std::optional<std::string> readChoice(Diagnostics& diag, const Field& f, std::string_view what,
                                      Names supported, Names later = {}) {
  auto s = detail::readString(diag, f);
  if (!s) return std::nullopt;
  if (contains(supported, *s)) return s;
  std::string message;
  if (contains(later, *s)) {
    message = std::string(what) + " " + quote(*s) +
              " is not supported yet; supported: " + detail::joinNames(supported);
  } else {
    message = "unknown " + std::string(what) + " " + quote(*s);
    std::string_view guess = detail::closest(*s, supported);
    if (guess.empty()) guess = detail::closest(*s, later);
    if (!guess.empty()) message += "; did you mean " + quote(guess) + "?";
    message += "; supported: " + detail::joinNames(supported);
  }
  diag.add(f.mark, f.path, std::move(message));
  return std::nullopt;
}

// RFC 9110 tchar: what header names and methods are made of.
bool isTchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isTchar);
}

std::string lowercase(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// A character of a host name as pilotfish accepts it: letters, digits, '-', '_' and '.'.
bool isHostChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' ||
         c == '_' || c == '.';
}

// What a host value may be.
enum class HostUse {
  kMatch,    // `match.host`: a name or IP literal, no port
  kSuffix,   // `match.host_suffix`: the end of a name, may start with '.'
  kRewrite,  // `host_rewrite`: a name or IP literal, optionally with ":port"
};

// Why `s` is not a valid host for `use`, or "" when it is.
std::string hostProblem(std::string_view s, HostUse use) {
  if (s.empty()) return "must not be empty";
  std::string_view host = s;
  std::string_view port;
  if (host.front() == '[' && use != HostUse::kSuffix) {
    std::size_t close = host.find(']');
    if (close == std::string_view::npos) return "unterminated IPv6 literal (missing ']')";
    std::string ip(host.substr(1, close - 1));
    unsigned char buf[16];
    if (inet_pton(AF_INET6, ip.c_str(), buf) != 1) return "invalid IPv6 literal";
    std::string_view rest = host.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return "unexpected characters after ']'";
      port = rest.substr(1);
    }
  } else {
    std::size_t colon = host.rfind(':');
    if (colon != std::string_view::npos) {
      port = host.substr(colon + 1);
      host = host.substr(0, colon);
      if (host.find(':') != std::string_view::npos) {
        return "an IPv6 literal must be in brackets, e.g. [::1]";
      }
      if (port.empty()) return "empty port after ':'";
    }
    bool leading_dot_ok = use == HostUse::kSuffix;
    if (host.empty() || !std::all_of(host.begin(), host.end(), isHostChar) ||
        (host.front() == '.' && !leading_dot_ok) || host.back() == '.' ||
        host.find("..") != std::string_view::npos) {
      return "expected a host name or IP address like users, api.example.com or 10.0.0.1";
    }
  }
  if (!port.empty() || (s.back() == ':')) {
    if (use != HostUse::kRewrite) {
      return "a port is not allowed here (the port of the request's Host is ignored)";
    }
    bool digits =
        !port.empty() && port.size() <= 5 &&
        std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits || (port.size() > 1 && port.front() == '0') || std::stoul(std::string(port)) == 0 ||
        std::stoul(std::string(port)) > 65535) {
      return "port must be a number 1-65535";
    }
  }
  return "";
}

// Why `s` is not a usable request path, or "" when it is.
std::string pathProblem(std::string_view s) {
  if (s.empty() || s.front() != '/') return "must start with '/'";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      return "must not contain spaces, control characters or non-ASCII characters "
             "(percent-encode them)";
    }
  }
  return "";
}

// Where a name or address was first seen, for "duplicate ... (first at line N)" messages.
struct Seen {
  std::string name;
  int line = 0;
};

// The 16 address bytes (IPv4 mapped into the first 4) so that "::1" and "0::1" compare equal.
struct IpKey {
  int family = AF_INET;
  std::array<unsigned char, 16> bytes{};
  bool any = false;  // 0.0.0.0 or ::
};

IpKey ipKey(const net::HostPort& hp) {
  IpKey k;
  k.family = hp.kind == net::HostPort::Kind::kIpv6 ? AF_INET6 : AF_INET;
  inet_pton(k.family, hp.host.c_str(), k.bytes.data());
  std::size_t n = k.family == AF_INET6 ? 16 : 4;
  k.any = std::all_of(k.bytes.begin(), k.bytes.begin() + n, [](unsigned char b) { return b == 0; });
  return k;
}

// Would binding both fail, or (with SO_REUSEPORT) silently share the port? Same port and the
// same IP, or a wildcard address of the same family.
bool overlaps(const net::HostPort& a, const net::HostPort& b) {
  if (a.port != b.port) return false;
  IpKey ka = ipKey(a), kb = ipKey(b);
  if (ka.family != kb.family) return false;
  return ka.any || kb.any || ka.bytes == kb.bytes;
}

class Builder {
 public:
  Builder(Diagnostics& diag, Config& config) : diag_(diag), config_(config) {}

  void root(const YAML::Node& node) {
    Field f{node, "", node.Mark()};
    MapReader m(diag_, f, kRootKeys, kRootNotSupported);
    if (!m.ok()) return;
    config_.node.id = hostName();
    if (auto v = m.get("node")) readNode(*v);
    if (auto v = m.get("workers")) {
      if (auto n = detail::readInt(diag_, *v, 0, kMaxWorkers)) {
        config_.workers = static_cast<uint32_t>(*n);
      }
    }
    if (auto v = m.get("drain_delay")) {
      if (auto d = detail::readDuration(diag_, *v, false)) config_.drain_delay = *d;
    }
    if (auto v = m.get("drain_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, false)) config_.drain_timeout = *d;
    }
    if (auto v = m.get("admin")) readAdmin(*v);
    if (auto v = m.get("log")) readLog(*v);
    if (auto v = m.get("access_log")) readAccessLog(*v);
    // Before the listeners: an http listener starts from these values.
    if (auto v = m.get("tracing")) readTracing(*v, config_.tracing);
    // Before the clusters, which name these sources.
    if (auto v = m.get("discovery")) readDiscovery(*v);
    if (auto v = m.get("cache_dir")) readCacheDir(*v);
    if (auto v = m.get("clusters")) readClusters(*v);
    if (auto v = m.get("listeners")) {
      readListeners(*v);
    } else {
      m.missing("listeners", "at least one listener is required");
    }
    crossCheck();
  }

 private:
  // What the cross-section checks need about each listener beyond the struct.
  struct ListenerSite {
    std::optional<Field> cluster;  // set when `cluster` was given and read
    std::optional<Field> address;  // set when the address parsed
    std::size_t index = 0;         // into config_.listeners
    // One per entry of http.routes: the route's `cluster` when given and read; nullopt for the
    // catch-all route appended for the listener's own `cluster` (and for a route whose
    // `cluster` has an error already).
    std::vector<std::optional<Field>> route_clusters;
  };

  // What a listener's `protocol` turned out to be.
  enum class Protocol { kTcp, kHttp, kInvalid };

  void readNode(const Field& f) {
    MapReader m(diag_, f, kNodeKeys);
    if (!m.ok()) return;
    if (auto v = m.get("id")) {
      if (auto s = detail::readString(diag_, *v)) {
        if (s->empty()) {
          diag_.add(v->mark, v->path, "must not be empty (leave it out to use the host name)");
        } else {
          config_.node.id = *s;
        }
      }
    }
    if (auto v = m.get("zone")) {
      if (auto s = detail::readString(diag_, *v)) config_.node.zone = *s;
    }
  }

  void readAdmin(const Field& f) {
    MapReader m(diag_, f, kAdminKeys);
    if (!m.ok()) return;
    if (auto v = m.get("address")) {
      if (auto a = detail::readAddress(diag_, *v, false)) config_.admin.address = *a;
    }
  }

  void readLog(const Field& f) {
    MapReader m(diag_, f, kLogKeys);
    if (!m.ok()) return;
    if (auto v = m.get("level")) {
      if (auto s = readChoice(diag_, *v, "log level", kLogLevels)) config_.log.level = *s;
    }
    if (auto v = m.get("format")) {
      if (auto s = readChoice(diag_, *v, "log format", kLogFormats)) {
        config_.log.format = *s == "json" ? LogFormat::kJson : LogFormat::kText;
      }
    }
  }

  void readAccessLog(const Field& f) {
    MapReader m(diag_, f, kAccessLogKeys);
    if (!m.ok()) return;
    accesslog::AccessLogConfig al;
    if (auto v = m.get("path")) {
      if (auto s = detail::readString(diag_, *v)) {
        if (s->empty()) {
          diag_.add(v->mark, v->path, "must not be empty; use \"stdout\" or a file path");
        } else {
          al.path = *s;
        }
      }
    }
    if (auto v = m.get("format")) {
      if (auto s = readChoice(diag_, *v, "access log format", kAccessLogFormats)) {
        al.format =
            *s == "text" ? accesslog::AccessLogFormat::kText : accesslog::AccessLogFormat::kJson;
      }
    }
    if (auto v = m.get("fields")) {
      if (auto items = detail::readList(diag_, *v)) {
        for (const Field& item : *items) {
          auto name = detail::readString(diag_, item);
          if (!name) continue;
          if (!accesslog::isKnownField(*name)) {
            diag_.add(item.mark, item.path,
                      "unknown access log field " + quote(*name) +
                          "; known: " + accesslog::knownFieldList());
            continue;
          }
          al.fields.push_back(*name);
        }
      }
    }
    config_.access_log = std::move(al);
  }

  void readDiscovery(const Field& f) {
    if (!f.node.IsMap()) {
      diag_.add(f.mark, f.path,
                "expected a map of named sources ({zk: {type: zookeeper, ...}}), got " +
                    detail::describe(f.node));
      return;
    }
    for (auto it = f.node.begin(); it != f.node.end(); ++it) {
      Field key{it->first, f.path, it->first.Mark()};
      auto name = detail::readName(diag_, key);
      Field value = f.child(name.value_or(it->first.IsScalar() ? it->first.Scalar() : "?"),
                            it->second, it->first.Mark());
      if (!name) continue;
      bool duplicate = std::any_of(config_.discovery.begin(), config_.discovery.end(),
                                   [&](const DiscoverySourceConfig& d) { return d.name == *name; });
      if (duplicate) {
        diag_.add(key.mark, value.path, "duplicate discovery source " + quote(*name));
        continue;
      }
      readSource(value, *name);
    }
  }

  void readSource(const Field& f, const std::string& name) {
    std::vector<std::string_view> keys;
    for (const auto& k : kSourceKeys) keys.push_back(k.key);
    MapReader m(diag_, f, keys);
    if (!m.ok()) return;
    DiscoverySourceConfig s;
    s.name = name;
    std::optional<std::string> type;
    if (auto v = m.get("type")) {
      type = readChoice(diag_, *v, "discovery source type", kSourceTypes);
    } else {
      m.missing("type", "one of zookeeper, consul, etcd, dns");
    }
    if (!type) {
      // Its clusters are not also told that the source is unknown.
      broken_sources_.push_back(name);
      return;
    }
    if (*type == "zookeeper") s.type = SourceType::kZookeeper;
    if (*type == "consul") s.type = SourceType::kConsul;
    if (*type == "etcd") s.type = SourceType::kEtcd;
    if (*type == "dns") s.type = SourceType::kDns;
    for (const auto& k : kSourceKeys) {
      auto v = m.get(k.key);
      if (!v) continue;
      std::string types = " " + std::string(k.types) + " ";
      if (types.find(" " + *type + " ") == std::string::npos) {
        diag_.add(m.keyMark(k.key), v->path,
                  "not a key of a " + *type + " source (only for: " + std::string(k.types) + ")");
      }
    }
    auto servers = [&](std::string_view key, std::vector<net::HostPort>& out, bool required) {
      auto v = m.get(key);
      if (!v) {
        if (required) m.missing(key, "a list of host:port");
        return;
      }
      auto items = detail::readList(diag_, *v);
      if (!items) return;
      if (items->empty() && required)
        diag_.add(v->mark, v->path, "at least one server is required");
      // DNS servers are addresses (resolving them would need DNS); store servers may be names.
      const bool names = s.type != SourceType::kDns;
      for (const Field& item : *items) {
        if (auto a = detail::readAddress(diag_, item, names)) out.push_back(*a);
      }
    };
    switch (s.type) {
      case SourceType::kZookeeper:
        servers("servers", s.servers, true);
        if (auto v = m.get("chroot")) {
          if (auto p = readZnodePath(*v)) s.chroot = *p;
        }
        if (auto v = m.get("session_timeout")) {
          if (auto d = detail::readDuration(diag_, *v, true)) s.session_timeout = *d;
        }
        if (auto v = m.get("auth")) {
          MapReader a(diag_, *v, kZkAuthKeys);
          if (a.ok()) {
            if (auto sc = a.get("scheme")) {
              if (auto c = readChoice(diag_, *sc, "auth scheme", kZkAuthSchemes))
                s.auth_scheme = *c;
            } else {
              a.missing("scheme", "digest");
            }
            if (auto cf = a.get("credentials_file")) {
              if (auto p = readReadableFile(*cf)) s.credentials_file = *p;
            } else {
              a.missing("credentials_file", "a file holding user:password");
            }
          }
        }
        break;
      case SourceType::kConsul:
        if (auto v = m.get("address")) {
          if (auto a = detail::readAddress(diag_, *v, true)) s.address = *a;
        }
        if (auto v = m.get("datacenter")) {
          if (auto n = detail::readName(diag_, *v)) s.datacenter = *n;
        }
        if (auto v = m.get("token_file")) {
          if (auto p = readReadableFile(*v)) s.token_file = *p;
        }
        break;
      case SourceType::kEtcd: servers("endpoints", s.endpoints, true); break;
      case SourceType::kDns:
        servers("servers", s.servers, false);
        if (auto v = m.get("min_ttl")) {
          if (auto d = detail::readDuration(diag_, *v, true)) s.min_ttl = *d;
        }
        if (auto v = m.get("max_ttl")) {
          if (auto d = detail::readDuration(diag_, *v, true)) {
            s.max_ttl = *d;
            if (s.max_ttl < s.min_ttl) {
              diag_.add(v->mark, v->path, "must not be below min_ttl");
            }
          }
        }
        break;
    }
    if (auto v = m.get("timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) s.timeout = *d;
    }
    if (auto v = m.get("tls");
        v && s.type != SourceType::kZookeeper && s.type != SourceType::kDns) {
      MapReader t(diag_, *v, kSourceTlsKeys);
      if (t.ok()) {
        SourceTlsConfig tls;
        if (auto c = t.get("ca_file")) {
          if (auto p = readReadableFile(*c)) tls.ca_file = *p;
        }
        if (auto c = t.get("cert_file")) {
          if (auto p = readReadableFile(*c)) tls.cert_file = *p;
        }
        if (auto c = t.get("key_file")) {
          if (auto p = readReadableFile(*c)) tls.key_file = *p;
        }
        // Whether the keys are given, not whether the files were readable (that has its error).
        if (t.get("cert_file").has_value() != t.get("key_file").has_value()) {
          diag_.add(v->mark, v->path, "cert_file and key_file go together (client certificate)");
        }
        s.tls = std::move(tls);
      }
    }
    config_.discovery.push_back(std::move(s));
  }

  void readCacheDir(const Field& f) {
    auto s = detail::readString(diag_, f);
    if (!s) return;
    if (s->empty() || s->front() != '/') {
      diag_.add(f.mark, f.path, "expected an absolute directory path, got " + quote(*s));
      return;
    }
    std::error_code ec;
    if (std::filesystem::exists(*s, ec) && !std::filesystem::is_directory(*s, ec)) {
      diag_.add(f.mark, f.path, quote(*s) + " exists and is not a directory");
      return;
    }
    config_.cache_dir = *s;
  }

  // "/a/b": absolute, no empty segments, no trailing slash, no "." or ".." segments.
  std::optional<std::string> readZnodePath(const Field& f) {
    auto s = detail::readString(diag_, f);
    if (!s) return std::nullopt;
    std::string problem;
    if (s->size() < 2 || s->front() != '/') {
      problem = "must start with '/' and name at least one node";
    } else if (s->back() == '/') {
      problem = "must not end with '/'";
    } else if (s->find("//") != std::string::npos) {
      problem = "must not contain empty segments (\"//\")";
    } else if (s->find("/./") != std::string::npos || s->find("/../") != std::string::npos ||
               s->ends_with("/.") || s->ends_with("/..")) {
      problem = "must not contain \".\" or \"..\" segments";
    } else if (std::any_of(s->begin(), s->end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
      problem = "must not contain control characters";
    }
    if (problem.empty()) return s;
    diag_.add(f.mark, f.path, "invalid path " + quote(*s) + ": " + problem);
    return std::nullopt;
  }

  // The discovery source `name` of type `type` for a cluster block, or an error.
  std::optional<std::size_t> resolveSource(const Field& f, SourceType type) {
    auto name = detail::readString(diag_, f);
    if (!name) return std::nullopt;
    if (std::find(broken_sources_.begin(), broken_sources_.end(), *name) != broken_sources_.end()) {
      return std::nullopt;
    }
    for (std::size_t i = 0; i < config_.discovery.size(); ++i) {
      if (config_.discovery[i].name != *name) continue;
      if (config_.discovery[i].type != type) {
        diag_.add(f.mark, f.path,
                  "discovery source " + quote(*name) + " is of type " +
                      sourceTypeName(config_.discovery[i].type) + ", not " + sourceTypeName(type));
        return std::nullopt;
      }
      return i;
    }
    std::vector<std::string_view> names;
    for (const auto& d : config_.discovery) {
      if (d.type == type) names.push_back(d.name);
    }
    std::string message = "unknown discovery source " + quote(*name);
    if (names.empty()) {
      message += std::string("; define one under discovery: with type: ") + sourceTypeName(type);
    } else {
      message += "; " + std::string(sourceTypeName(type)) + " sources: " + detail::joinNames(names);
    }
    diag_.add(f.mark, f.path, std::move(message));
    return std::nullopt;
  }

  // A cluster's discovery block `kind` (e.g. "zookeeper") read from `f`.
  std::optional<ClusterDiscoveryConfig> readClusterDiscovery(std::string_view kind,
                                                             const Field& f) {
    ClusterDiscoveryConfig d;
    bool ok = true;
    auto source = [&](const MapReader& m, SourceType type, bool required) {
      if (auto v = m.get("source")) {
        auto i = resolveSource(*v, type);
        if (!i) {
          ok = false;
          return;
        }
        d.source = config_.discovery[*i].name;
        d.source_index = *i;
      } else if (required) {
        m.missing("source", std::string("the name of a ") + sourceTypeName(type) +
                                " source under discovery:");
        ok = false;
      }
    };
    if (kind == "zookeeper") {
      d.kind = DiscoveryKind::kZookeeper;
      MapReader m(diag_, f, kZkClusterKeys);
      if (!m.ok()) return std::nullopt;
      source(m, SourceType::kZookeeper, true);
      if (auto v = m.get("path")) {
        auto p = readZnodePath(*v);
        ok = ok && p;
        if (p) d.path = *p;
      } else {
        m.missing("path", "the service path, e.g. /services/users");
        ok = false;
      }
    } else if (kind == "etcd") {
      d.kind = DiscoveryKind::kEtcd;
      MapReader m(diag_, f, kEtcdClusterKeys);
      if (!m.ok()) return std::nullopt;
      source(m, SourceType::kEtcd, true);
      if (auto v = m.get("prefix")) {
        auto p = readZnodePath(*v);
        ok = ok && p;
        if (p) d.path = *p;
      } else {
        m.missing("prefix", "the key prefix, e.g. /services/users");
        ok = false;
      }
    } else if (kind == "consul") {
      d.kind = DiscoveryKind::kConsul;
      MapReader m(diag_, f, kConsulClusterKeys);
      if (!m.ok()) return std::nullopt;
      source(m, SourceType::kConsul, true);
      if (auto v = m.get("service")) {
        auto n = detail::readName(diag_, *v);
        ok = ok && n;
        if (n) d.service = *n;
      } else {
        m.missing("service", "the Consul service name");
        ok = false;
      }
      if (auto v = m.get("tags")) {
        if (auto items = detail::readList(diag_, *v)) {
          for (const Field& item : *items) {
            auto t = detail::readString(diag_, item);
            if (!t) continue;
            if (t->empty() || std::any_of(t->begin(), t->end(), [](char c) {
                  return static_cast<unsigned char>(c) <= 0x20 || c == '&' || c == '#';
                })) {
              diag_.add(item.mark, item.path, "invalid tag " + quote(*t));
              continue;
            }
            d.tags.push_back(*t);
          }
        }
      }
      if (auto v = m.get("passing_only")) {
        if (auto b = detail::readBool(diag_, *v)) d.passing_only = *b;
      }
      if (auto v = m.get("datacenter")) {
        if (auto n = detail::readName(diag_, *v)) d.datacenter = *n;
      }
    } else if (kind == "dns") {
      d.kind = DiscoveryKind::kDns;
      MapReader m(diag_, f, kDnsClusterKeys);
      if (!m.ok()) return std::nullopt;
      source(m, SourceType::kDns, false);
      if (auto v = m.get("name")) {
        auto n = detail::readString(diag_, *v);
        std::string_view name = n ? std::string_view(*n) : std::string_view();
        if (!name.empty() && name.back() == '.') name.remove_suffix(1);
        if (n && isDnsName(name)) {
          d.name = *n;  // a final dot stays: an absolute name skips resolv.conf's search list
        } else {
          if (n) diag_.add(v->mark, v->path, "invalid DNS name " + quote(*n));
          ok = false;
        }
      } else {
        m.missing("name", "e.g. _users._tcp.service.consul or users.default.svc.cluster.local");
        ok = false;
      }
      bool type_ok = true;
      if (auto v = m.get("type")) {
        if (auto t = readChoice(diag_, *v, "record type", kDnsTypes)) {
          d.dns_type = *t == "SRV" ? DnsRecordType::kSrv
                       : *t == "A" ? DnsRecordType::kA
                                   : DnsRecordType::kAaaa;
        } else {
          type_ok = false;  // whether a port belongs is unknown: the type's error is enough
        }
      }
      if (!type_ok) {
        ok = false;
      } else if (auto v = m.get("port")) {
        if (d.dns_type == DnsRecordType::kSrv) {
          diag_.add(m.keyMark("port"), v->path,
                    "only for type A or AAAA (SRV records carry the port)");
        } else if (auto p = detail::readInt(diag_, *v, 1, 65535)) {
          d.port = static_cast<uint16_t>(*p);
        }
      } else if (d.dns_type != DnsRecordType::kSrv) {
        m.missing("port", "type A/AAAA records have no port");
        ok = false;
      }
    } else {
      d.kind = DiscoveryKind::kFile;
      MapReader m(diag_, f, kFileClusterKeys);
      if (!m.ok()) return std::nullopt;
      if (auto v = m.get("path")) {
        auto p = detail::readString(diag_, *v);
        if (p && !p->empty() && p->front() == '/' && p->back() != '/') {
          d.path = *p;
        } else {
          if (p) diag_.add(v->mark, v->path, "expected an absolute file path, got " + quote(*p));
          ok = false;
        }
      } else {
        m.missing("path", "the file listing the endpoints");
        ok = false;
      }
    }
    if (!ok) return std::nullopt;
    return d;
  }

  void readClusters(const Field& f) {
    auto items = detail::readList(diag_, f);
    if (!items) return;
    for (const Field& item : *items) readCluster(item);
  }

  void readCluster(const Field& f) {
    MapReader m(diag_, f, kClusterKeys, kClusterNotSupported);
    if (!m.ok()) return;
    ClusterConfig c;
    if (auto v = m.get("name")) {
      if (auto name = detail::readName(diag_, *v)) {
        c.name = *name;
        auto first = std::find_if(cluster_names_.begin(), cluster_names_.end(),
                                  [&](const Seen& s) { return s.name == *name; });
        if (first != cluster_names_.end()) {
          diag_.add(v->mark, v->path,
                    "duplicate cluster name " + quote(*name) + " (first defined at line " +
                        std::to_string(first->line) + ")");
        } else {
          cluster_names_.push_back({*name, lineOf(v->mark)});
        }
      }
    } else {
      m.missing("name");
    }
    if (auto v = m.get("type")) {
      if (auto t = readChoice(diag_, *v, "cluster type", kClusterTypes)) {
        c.type = *t == "dynamic_host" ? ClusterType::kDynamicHost : ClusterType::kStatic;
      }
    }
    const bool dynamic = c.type == ClusterType::kDynamicHost;
    if (auto v = m.get("port")) {
      if (!dynamic) {
        diag_.add(m.keyMark("port"), v->path, "only for type: dynamic_host");
      } else if (auto n = detail::readInt(diag_, *v, 1, 65535)) {
        c.port = static_cast<uint16_t>(*n);
      }
    }
    if (auto v = m.get("dns_ttl")) {
      if (!dynamic) {
        diag_.add(m.keyMark("dns_ttl"), v->path, "only for type: dynamic_host");
      } else if (auto d = detail::readDuration(diag_, *v, true)) {
        c.dns_ttl = *d;
      }
    }
    // The endpoint source: static `endpoints`, or exactly one discovery block.
    std::vector<std::string_view> blocks;
    for (std::string_view k : kClusterSources) {
      if (m.get(k)) blocks.push_back(k);
    }
    if (dynamic) {
      if (auto v = m.get("endpoints")) {
        diag_.add(m.keyMark("endpoints"), v->path,
                  "a dynamic_host cluster has no endpoints: each request names its host");
      }
      for (std::string_view k : blocks) {
        diag_.add(m.keyMark(k), m.get(k)->path,
                  "a dynamic_host cluster has no endpoint source: each request names its host");
      }
      dynamic_clusters_.push_back(c.name);
    } else if (blocks.size() > 1 || (!blocks.empty() && m.get("endpoints"))) {
      // Every source after the first one written is the mistake.
      std::vector<std::string_view> given = blocks;
      if (m.get("endpoints")) given.push_back("endpoints");
      std::sort(given.begin(), given.end(), [&m](std::string_view a, std::string_view b) {
        YAML::Mark ma = m.keyMark(a), mb = m.keyMark(b);
        return std::pair(ma.line, ma.column) < std::pair(mb.line, mb.column);
      });
      for (std::size_t i = 1; i < given.size(); ++i) {
        diag_.add(m.keyMark(given[i]), m.get(given[i])->path,
                  "a cluster has one endpoint source: endpoints, zookeeper, consul, etcd, dns or "
                  "file");
      }
    } else if (!blocks.empty()) {
      c.discovery = readClusterDiscovery(blocks.front(), *m.get(blocks.front()));
    } else if (auto v = m.get("endpoints")) {
      readEndpoints(*v, c);
    } else {
      m.missing("endpoints", "or a discovery block: zookeeper, consul, etcd, dns or file");
    }
    const bool discovered = !blocks.empty() && !dynamic;
    for (std::string_view k : kDiscoveryOnlyKeys) {
      if (m.get(k) && !discovered) {
        diag_.add(m.keyMark(k), m.get(k)->path,
                  "only for clusters with a discovery block (zookeeper, consul, etcd, dns, file)");
      }
    }
    if (auto v = m.get("allow_empty"); v && discovered) {
      if (auto b = detail::readBool(diag_, *v)) c.allow_empty = *b;
    }
    if (auto v = m.get("max_stale"); v && discovered) {
      if (auto d = detail::readDuration(diag_, *v, true)) c.max_stale = *d;
    }
    if (auto v = m.get("initial_fetch_timeout"); v && discovered) {
      if (auto d = detail::readDuration(diag_, *v, false)) c.initial_fetch_timeout = *d;
    }
    if (auto v = m.get("on_endpoint_removed")) {
      if (auto s = readChoice(diag_, *v, "on_endpoint_removed", kOnEndpointRemoved)) {
        c.on_endpoint_removed =
            *s == "close" ? OnEndpointRemoved::kClose : OnEndpointRemoved::kKeep;
      }
    }
    if (auto v = m.get("connect_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) c.connect_timeout = *d;
    }
    if (auto v = m.get("lb")) readLb(*v, c.lb);
    if (auto v = m.get("pool")) readPool(*v, c.pool);
    if (auto v = m.get("tls")) {
      c.tls.emplace();
      readTls(*v, *c.tls, dynamic);
    }
    config_.clusters.push_back(std::move(c));
  }

  static bool hasKey(const Field& map, Names keys) {
    for (auto it = map.node.begin(); it != map.node.end(); ++it) {
      if (it->first.IsScalar() && contains(keys, it->first.Scalar())) return true;
    }
    return false;
  }

  void readEndpoints(const Field& f, ClusterConfig& c) {
    auto items = detail::readList(diag_, f);
    if (!items) return;
    if (items->empty()) {
      diag_.add(f.mark, f.path, "at least one endpoint is required");
      return;
    }
    std::vector<Seen> seen;
    for (const Field& item : *items) {
      EndpointConfig e;
      std::optional<Field> address_field;
      if (item.node.IsMap()) {
        MapReader m(diag_, item, kEndpointKeys);
        if (auto v = m.get("address")) {
          address_field = *v;
        } else {
          m.missing("address");
        }
        if (auto v = m.get("weight")) {
          if (auto n = detail::readInt(diag_, *v, 0, kMaxWeight)) {
            e.weight = static_cast<uint32_t>(*n);
          }
        }
        if (auto v = m.get("zone")) {
          if (auto s = detail::readString(diag_, *v)) e.zone = *s;
        }
      } else if (item.node.IsScalar()) {
        address_field = item;
      } else {
        diag_.add(item.mark, item.path,
                  "expected an endpoint (\"ip:port\" or a map with address, weight, zone), got " +
                      detail::describe(item.node));
        continue;
      }
      if (!address_field) continue;
      auto address = detail::readAddress(diag_, *address_field, false);
      if (!address) continue;
      e.address = *address;
      auto first = std::find_if(seen.begin(), seen.end(),
                                [&](const Seen& s) { return s.name == address->toString(); });
      if (first != seen.end()) {
        diag_.add(address_field->mark, address_field->path,
                  "duplicate endpoint " + address->toString() + " (first at line " +
                      std::to_string(first->line) + ")");
        continue;
      }
      seen.push_back({address->toString(), lineOf(address_field->mark)});
      c.endpoints.push_back(std::move(e));
    }
  }

  void readLb(const Field& f, LbConfig& lb) {
    MapReader m(diag_, f, kLbKeys);
    if (!m.ok()) return;
    if (auto v = m.get("policy")) {
      if (readChoice(diag_, *v, "lb policy", kLbSupported, kLbNotSupported)) {
        lb.policy = LbPolicy::kRoundRobin;
      }
    }
  }

  // A file pilotfish must be able to read at start (checked now, so a typo is a config error
  // and not a failure on the first request).
  std::optional<std::string> readReadableFile(const Field& f) {
    auto path = detail::readString(diag_, f);
    if (!path) return std::nullopt;
    if (path->empty() || ::access(path->c_str(), R_OK) != 0) {
      diag_.add(f.mark, f.path, "cannot read file " + quote(*path));
      return std::nullopt;
    }
    return path;
  }

  void readTls(const Field& f, TlsConfig& t, bool dynamic) {
    MapReader m(diag_, f, kTlsKeys);
    if (!m.ok()) return;
    if (auto v = m.get("verify")) {
      if (auto b = detail::readBool(diag_, *v)) t.verify = *b;
    }
    if (auto v = m.get("sni")) {
      if (auto s = detail::readString(diag_, *v)) {
        bool ok = !s->empty() && s->size() <= 253;
        for (char ch : *s) {
          ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '.' || ch == '-');
        }
        if (ok) {
          t.sni = *s;
        } else {
          diag_.add(v->mark, v->path, "invalid server name " + quote(*s) + " (a DNS name)");
        }
      }
    }
    if (auto v = m.get("ca_file")) {
      if (auto p = readReadableFile(*v)) t.ca_file = *p;
    }
    if (auto v = m.get("alpn")) {
      if (auto items = detail::readList(diag_, *v)) {
        t.alpn.clear();
        for (const Field& item : *items) {
          if (auto s =
                  readChoice(diag_, item, "alpn protocol", kAlpnSupported, kAlpnNotSupported)) {
            t.alpn.push_back(*s);
          }
        }
      }
    }
    std::optional<Field> cert, key;
    if (auto v = m.get("cert_file")) {
      cert = *v;
      if (auto p = readReadableFile(*v)) t.cert_file = *p;
    }
    if (auto v = m.get("key_file")) {
      key = *v;
      if (auto p = readReadableFile(*v)) t.key_file = *p;
    }
    if (cert && !key) diag_.add(cert->mark, cert->path, "cert_file needs key_file");
    if (key && !cert) diag_.add(key->mark, key->path, "key_file needs cert_file");
    if (dynamic && m.get("sni")) {
      diag_.add(m.keyMark("sni"), m.get("sni")->path,
                "not for a dynamic_host cluster: the name comes from each request");
    }
    if (!dynamic && t.verify && t.sni.empty() && !m.get("sni")) {
      diag_.add(f.mark, f.path,
                "verify: true needs sni: the name the upstream certificate must carry (endpoints "
                "are IP addresses); or set verify: false");
    }
  }

  void readPool(const Field& f, PoolConfig& pool) {
    MapReader m(diag_, f, kPoolKeys);
    if (!m.ok()) return;
    if (auto v = m.get("max_idle_per_endpoint")) {
      if (auto n = detail::readInt(diag_, *v, 0, kMaxIdlePerEndpoint)) {
        pool.max_idle_per_endpoint = static_cast<uint32_t>(*n);
      }
    }
    if (auto v = m.get("idle_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) pool.idle_timeout = *d;
    }
    if (auto v = m.get("max_requests_per_connection")) {
      if (auto n = detail::readInt(diag_, *v, 0, std::numeric_limits<uint32_t>::max())) {
        pool.max_requests_per_connection = static_cast<uint32_t>(*n);
      }
    }
  }

  // `tracing:` at the top level or on an http listener. Keys left out keep the values `t`
  // already has (the defaults, or the top-level block for a listener).
  void readTracing(const Field& f, TracingConfig& t) {
    MapReader m(diag_, f, kTracingKeys, kTracingNotSupported);
    if (!m.ok()) return;
    if (auto v = m.get("propagate")) {
      if (auto items = detail::readList(diag_, *v)) {
        bool b3 = false, w3c = false;
        for (const std::string& s :
             readUniqueChoices(*items, "propagation format", kPropagationFormats)) {
          (s == "b3" ? b3 : w3c) = true;
        }
        t.propagate_b3 = b3;
        t.propagate_w3c = w3c;
      }
    }
    if (auto v = m.get("request_id")) {
      if (auto b = detail::readBool(diag_, *v)) t.request_id = *b;
    }
    if (auto v = m.get("sample_rate")) {
      if (auto x = detail::readNumber(diag_, *v, 0.0, 1.0)) t.sample_rate = *x;
    }
  }

  void readListeners(const Field& f) {
    auto items = detail::readList(diag_, f);
    if (!items) return;
    if (items->empty()) {
      diag_.add(f.mark, f.path, "at least one listener is required");
      return;
    }
    for (const Field& item : *items) readListener(item);
  }

  void readListener(const Field& f) {
    MapReader m(diag_, f, kListenerKeys, kListenerNotSupported);
    if (!m.ok()) return;
    ListenerConfig l;
    ListenerSite site;
    if (auto v = m.get("name")) {
      if (auto name = detail::readName(diag_, *v)) {
        l.name = *name;
        auto first = std::find_if(listener_names_.begin(), listener_names_.end(),
                                  [&](const Seen& s) { return s.name == *name; });
        if (first != listener_names_.end()) {
          diag_.add(v->mark, v->path,
                    "duplicate listener name " + quote(*name) + " (first defined at line " +
                        std::to_string(first->line) + ")");
        } else {
          listener_names_.push_back({*name, lineOf(v->mark)});
        }
      }
    } else {
      m.missing("name");
    }
    if (auto v = m.get("address")) {
      if (auto a = detail::readAddress(diag_, *v, false)) {
        l.address = *a;
        site.address = *v;
      }
    } else {
      m.missing("address");
    }
    Protocol protocol = Protocol::kTcp;
    if (auto v = m.get("protocol")) {
      if (auto s = readChoice(diag_, *v, "protocol", kProtocolsSupported, kProtocolsNotSupported)) {
        protocol = *s == "http" ? Protocol::kHttp : Protocol::kTcp;
      } else {
        protocol = Protocol::kInvalid;
      }
    }
    l.protocol = protocol == Protocol::kHttp ? ListenerProtocol::kHttp : ListenerProtocol::kTcp;
    if (auto v = m.get("cluster")) {
      if (auto name = detail::readString(diag_, *v)) {
        l.cluster = *name;
        site.cluster = *v;
      }
    }
    bool has_cluster = m.get("cluster").has_value();
    bool has_routes = m.get("routes").has_value();
    if (protocol == Protocol::kTcp) {
      // Contents are not checked: the key itself is the mistake.
      for (std::string_view key : kListenerHttpKeys) {
        if (auto v = m.get(key)) {
          diag_.add(m.keyMark(key), v->path,
                    "key " + quote(key) + " is only for protocol: http (this listener is tcp)");
        }
      }
      // With `routes`, the listener was meant to be http; "missing cluster" would be noise.
      if (!has_cluster && !has_routes) m.missing("cluster");
    } else {
      // Also for a protocol that was refused: its http keys are still worth checking, but
      // what it lacks is not (it would route, or be something else entirely).
      readHttpListener(m, l, site);
      if (protocol == Protocol::kHttp && !has_cluster && !has_routes) {
        m.missing("routes", "an http listener needs \"routes\", \"cluster\" or both");
      }
      if (protocol == Protocol::kHttp && site.cluster) {
        // Everything the routes do not match goes to the listener's cluster.
        RouteConfig catch_all;
        catch_all.cluster = l.cluster;
        l.http.routes.push_back(std::move(catch_all));
        site.route_clusters.push_back(std::nullopt);
      }
    }
    if (auto v = m.get("idle_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) l.idle_timeout = *d;
    }
    if (auto v = m.get("max_connections")) {
      if (auto n = detail::readInt(diag_, *v, 0, std::numeric_limits<uint32_t>::max())) {
        l.max_connections = static_cast<uint32_t>(*n);
      }
    }
    site.index = config_.listeners.size();
    config_.listeners.push_back(std::move(l));
    listener_sites_.push_back(std::move(site));
  }

  // The keys of an http listener beyond those every listener has.
  void readHttpListener(const MapReader& m, ListenerConfig& l, ListenerSite& site) {
    HttpListenerConfig& h = l.http;
    if (auto v = m.get("max_request_headers_kb")) {
      if (auto n = detail::readInt(diag_, *v, 1, kMaxRequestHeadersKb)) {
        h.max_request_headers_kb = static_cast<std::size_t>(*n);
      }
    }
    if (auto v = m.get("max_headers")) {
      if (auto n = detail::readInt(diag_, *v, 1, kMaxHeaders)) {
        h.max_headers = static_cast<std::size_t>(*n);
      }
    }
    if (auto v = m.get("max_request_line_kb")) {
      if (auto n = detail::readInt(diag_, *v, 1, kMaxRequestLineKb)) {
        h.max_request_line_kb = static_cast<std::size_t>(*n);
      }
    }
    if (auto v = m.get("max_request_body")) {
      if (auto n = detail::readSize(diag_, *v)) h.max_request_body = *n;
    }
    if (auto v = m.get("request_headers_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) h.request_headers_timeout = *d;
    }
    if (auto v = m.get("request_body_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) h.request_body_timeout = *d;
    }
    if (auto v = m.get("response_send_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) h.response_send_timeout = *d;
    }
    if (auto v = m.get("max_hops")) {
      if (auto n = detail::readInt(diag_, *v, 1, kMaxHops)) h.max_hops = static_cast<uint32_t>(*n);
    }
    if (auto v = m.get("headers_with_underscores")) {
      if (auto s = readChoice(diag_, *v, "headers_with_underscores action", kUnderscoreActions)) {
        using U = HttpListenerConfig::Underscores;
        h.headers_with_underscores = *s == "reject" ? U::kReject
                                     : *s == "drop" ? U::kDrop
                                                    : U::kAllow;
      }
    }
    // The listener's block replaces the top-level one; the keys it leaves out keep the
    // top-level values.
    h.tracing = config_.tracing;
    if (auto v = m.get("tracing")) readTracing(*v, h.tracing);
    if (auto v = m.get("routes")) readRoutes(*v, m.get("cluster").has_value(), l, site);
  }

  void readRoutes(const Field& f, bool has_cluster, ListenerConfig& l, ListenerSite& site) {
    auto items = detail::readList(diag_, f);
    if (!items) return;
    if (items->empty() && !has_cluster) {
      diag_.add(f.mark, f.path,
                "at least one route is required (or give the listener a \"cluster\")");
      return;
    }
    for (const Field& item : *items) {
      MapReader m(diag_, item, kRouteKeys);
      if (!m.ok()) continue;
      RouteConfig r;
      std::optional<Field> cluster;
      readRoute(m, r, cluster);
      l.http.routes.push_back(std::move(r));
      site.route_clusters.push_back(std::move(cluster));
    }
  }

  void readRoute(const MapReader& m, RouteConfig& r, std::optional<Field>& cluster) {
    std::optional<MatchKeys> match;
    if (auto v = m.get("match")) {
      match = readMatch(*v, r);
    } else {
      match = MatchKeys{};  // matches everything
    }
    if (auto v = m.get("cluster")) {
      if (auto name = detail::readString(diag_, *v)) {
        r.cluster = *name;
        cluster = *v;
      }
    } else {
      m.missing("cluster");
    }
    if (auto v = m.get("timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) r.timeout = *d;
    }
    if (auto v = m.get("prefix_rewrite")) {
      if (auto p = readPath(*v)) {
        if (match && !match->path_prefix) {
          // A broken `match` already has its errors; this one would follow from them.
          diag_.add(m.keyMark("prefix_rewrite"), v->path,
                    "needs match.path_prefix (the part of the path that it replaces)");
        } else {
          r.prefix_rewrite = *p;
        }
      }
    }
    if (auto v = m.get("host_rewrite")) {
      if (auto h = readHost(*v, HostUse::kRewrite)) r.host_rewrite = *h;
    }
    if (auto v = m.get("upstream_host_from_request")) {
      if (auto b = detail::readBool(diag_, *v)) {
        r.upstream_host_from_request = *b;
      }
    }
    if (auto v = m.get("retries")) readRetries(*v, r.retries);
  }

  // Which keys a route's `match` had (whatever their values).
  struct MatchKeys {
    bool path_prefix = false;
  };

  // nullopt when `match` is not a map.
  std::optional<MatchKeys> readMatch(const Field& f, RouteConfig& r) {
    MapReader m(diag_, f, kMatchKeys);
    if (!m.ok()) return std::nullopt;
    MatchKeys keys;
    if (auto v = m.get("host")) {
      if (auto h = readHost(*v, HostUse::kMatch)) r.host = lowercase(*h);
    }
    if (auto v = m.get("host_suffix")) {
      if (auto h = readHost(*v, HostUse::kSuffix)) r.host_suffix = lowercase(*h);
    }
    if (auto v = m.get("path_prefix")) {
      keys.path_prefix = true;
      if (auto p = readPath(*v)) r.path_prefix = *p;
    }
    if (auto v = m.get("path_exact")) {
      if (m.get("path_prefix")) {
        diag_.add(m.keyMark("path_exact"), v->path,
                  "give either path_prefix or path_exact, not both");
      } else if (auto p = readPath(*v)) {
        r.path_exact = *p;
      }
    }
    if (auto v = m.get("method")) {
      if (auto s = detail::readString(diag_, *v)) {
        if (isToken(*s)) {
          r.method = *s;
        } else {
          diag_.add(v->mark, v->path,
                    "invalid method " + quote(*s) + "; expected a token like GET or PURGE");
        }
      }
    }
    if (auto v = m.get("header")) {
      if (v->node.IsSequence()) {
        auto items = detail::readList(diag_, *v);
        if (items && items->empty()) {
          diag_.add(v->mark, v->path, "at least one header is required (or leave out the key)");
        }
        if (items) {
          for (const Field& item : *items) readHeaderMatch(item, r);
        }
      } else if (v->node.IsMap()) {
        readHeaderMatch(*v, r);
      } else {
        diag_.add(v->mark, v->path,
                  "expected a map {name, value} or {name, present: true}, or a list of them, got " +
                      detail::describe(v->node));
      }
    }
    return keys;
  }

  void readHeaderMatch(const Field& f, RouteConfig& r) {
    MapReader m(diag_, f, kHeaderMatchKeys);
    if (!m.ok()) return;
    HeaderMatchConfig h;
    bool ok = true;
    if (auto v = m.get("name")) {
      if (auto s = detail::readString(diag_, *v)) {
        if (isToken(*s)) {
          h.name = lowercase(*s);
        } else {
          ok = false;
          diag_.add(v->mark, v->path,
                    "invalid header name " + quote(*s) +
                        "; expected a token (letters, digits and !#$%&'*+-.^_`|~)");
        }
      } else {
        ok = false;
      }
    } else {
      ok = false;
      m.missing("name");
    }
    auto value = m.get("value");
    auto present = m.get("present");
    if (value && present) {
      diag_.add(m.keyMark("present"), present->path, "give either value or present, not both");
      return;
    }
    if (value) {
      auto s = detail::readString(diag_, *value);
      if (!s) return;
      std::string problem;
      for (char c : *s) {
        auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) problem = "must not contain control characters";
      }
      if (problem.empty() && !s->empty() &&
          (s->front() == ' ' || s->front() == '\t' || s->back() == ' ' || s->back() == '\t')) {
        problem =
            "must not begin or end with a space or tab (never matches: field values are trimmed)";
      }
      if (!problem.empty()) {
        diag_.add(value->mark, value->path, std::move(problem));
        return;
      }
      h.value = *s;
    } else if (present) {
      auto b = detail::readBool(diag_, *present);
      if (!b) return;
      if (!*b) {
        diag_.add(present->mark, present->path,
                  "must be true (matching a header that is absent is not supported)");
        return;
      }
    } else {
      m.missing("value", "or present: true");
      return;
    }
    if (ok) r.headers.push_back(std::move(h));
  }

  void readRetries(const Field& f, RetryConfig& retries) {
    MapReader m(diag_, f, kRetryKeys);
    if (!m.ok()) return;
    if (auto v = m.get("attempts")) {
      if (auto n = detail::readInt(diag_, *v, 0, kMaxRetryAttempts)) {
        retries.attempts = static_cast<uint32_t>(*n);
      }
    }
    if (auto v = m.get("on")) {
      if (auto items = detail::readList(diag_, *v)) {
        if (items->empty()) {
          diag_.add(v->mark, v->path,
                    "at least one condition is required (set attempts: 0 for no retries)");
        }
        uint32_t on = 0;
        for (const std::string& s :
             readUniqueChoices(*items, "retry condition", kRetryConditions)) {
          auto bit = std::find(std::begin(kRetryConditions), std::end(kRetryConditions), s) -
                     std::begin(kRetryConditions);
          on |= 1u << bit;
        }
        retries.on = on;
      }
    }
    if (auto v = m.get("per_try_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) retries.per_try_timeout = *d;
    }
  }

  // The valid values of a list of choices, each once; a repeat is an error at the repeat
  // ("duplicate <what> "x" (first at line N)").
  std::vector<std::string> readUniqueChoices(const std::vector<Field>& items, std::string_view what,
                                             Names choices) {
    std::vector<std::string> out;
    std::vector<Seen> seen;
    for (const Field& item : items) {
      auto s = readChoice(diag_, item, what, choices);
      if (!s) continue;
      auto first =
          std::find_if(seen.begin(), seen.end(), [&](const Seen& x) { return x.name == *s; });
      if (first != seen.end()) {
        diag_.add(item.mark, item.path,
                  "duplicate " + std::string(what) + " " + quote(*s) + " (first at line " +
                      std::to_string(first->line) + ")");
        continue;
      }
      seen.push_back({*s, lineOf(item.mark)});
      out.push_back(*s);
    }
    return out;
  }

  std::optional<std::string> readHost(const Field& f, HostUse use) {
    auto s = detail::readString(diag_, f);
    if (!s) return std::nullopt;
    std::string problem = hostProblem(*s, use);
    if (problem.empty()) return s;
    if (s->empty()) {
      diag_.add(f.mark, f.path, std::move(problem));
    } else {
      diag_.add(f.mark, f.path, "invalid host " + quote(*s) + ": " + problem);
    }
    return std::nullopt;
  }

  std::optional<std::string> readPath(const Field& f) {
    auto s = detail::readString(diag_, f);
    if (!s) return std::nullopt;
    std::string problem = pathProblem(*s);
    if (problem.empty()) return s;
    diag_.add(f.mark, f.path, "invalid path " + quote(*s) + ": " + problem);
    return std::nullopt;
  }

  // The index of the cluster named `name` (read from `at`), or nullopt with an error recorded.
  std::optional<std::size_t> resolveCluster(const std::string& name, const Field& at) {
    // cluster_names_ holds every well-formed name, also of clusters with other errors, so
    // that a reference is not blamed for a mistake inside its cluster.
    bool defined = std::any_of(cluster_names_.begin(), cluster_names_.end(),
                               [&](const Seen& s) { return s.name == name; });
    if (defined) return config_.findCluster(name).value_or(0);
    std::vector<std::string_view> names;
    for (const auto& s : cluster_names_) names.push_back(s.name);
    std::string message = "unknown cluster " + quote(name);
    std::string_view guess = detail::closest(name, names);
    if (!guess.empty()) message += "; did you mean " + quote(guess) + "?";
    diag_.add(at.mark, at.path, std::move(message));
    return std::nullopt;
  }

  void crossCheck() {
    for (std::size_t i = 0; i < listener_sites_.size(); ++i) {
      const ListenerSite& site = listener_sites_[i];
      ListenerConfig& l = config_.listeners[site.index];
      if (site.cluster) {
        if (auto index = resolveCluster(l.cluster, *site.cluster)) {
          l.cluster_index = *index;
          if (config_.clusters[*index].type == ClusterType::kDynamicHost) {
            diag_.add(site.cluster->mark, site.cluster->path,
                      "cluster " + quote(l.cluster) +
                          " is dynamic_host: use it from a route with upstream_host_from_request");
          } else if (l.protocol == ListenerProtocol::kTcp && config_.clusters[*index].tls) {
            diag_.add(site.cluster->mark, site.cluster->path,
                      "cluster " + quote(l.cluster) +
                          " has tls, which only http listeners originate (tcp listeners pass "
                          "bytes through: let the app speak TLS)");
          }
        }
      }
      for (std::size_t r = 0; r < site.route_clusters.size(); ++r) {
        RouteConfig& route = l.http.routes[r];
        if (const auto& at = site.route_clusters[r]) {
          if (auto index = resolveCluster(route.cluster, *at)) {
            route.cluster_index = *index;
            const bool dynamic = config_.clusters[*index].type == ClusterType::kDynamicHost;
            if (dynamic && !route.upstream_host_from_request) {
              diag_.add(at->mark, at->path,
                        "cluster " + quote(route.cluster) +
                            " is dynamic_host: the route needs upstream_host_from_request: true");
            } else if (!dynamic && route.upstream_host_from_request) {
              diag_.add(at->mark, at->path,
                        "upstream_host_from_request needs a cluster of type dynamic_host");
            } else if (dynamic && !route.host_suffix) {
              diag_.add(at->mark, at->path,
                        "upstream_host_from_request needs match.host_suffix (the suffix that "
                        "is removed to get the upstream host, e.g. .pf-https)");
            }
          }
        } else {
          route.cluster_index = l.cluster_index;  // the catch-all for the listener's cluster
        }
      }
      if (!site.address) continue;
      if (overlaps(l.address, config_.admin.address)) {
        diag_.add(site.address->mark, site.address->path,
                  "address " + l.address.toString() + " clashes with the admin address " +
                      config_.admin.address.toString());
      }
      for (std::size_t j = 0; j < i; ++j) {
        const ListenerSite& other = listener_sites_[j];
        if (!other.address) continue;
        const ListenerConfig& o = config_.listeners[other.index];
        if (!overlaps(l.address, o.address)) continue;
        std::string message = "address " + l.address.toString();
        message += l.address == o.address
                       ? " is already used by listener "
                       : " overlaps the address " + o.address.toString() + " of listener ";
        message += quote(o.name) + " (line " + std::to_string(lineOf(other.address->mark)) + ")";
        diag_.add(site.address->mark, site.address->path, std::move(message));
        break;
      }
    }
  }

  Diagnostics& diag_;
  Config& config_;
  std::vector<Seen> cluster_names_;
  std::vector<Seen> listener_names_;
  std::vector<ListenerSite> listener_sites_;
  std::vector<std::string> dynamic_clusters_;  // names of dynamic_host clusters
  std::vector<std::string> broken_sources_;    // discovery sources without a valid type
};

}  // namespace

LoadResult loadFromString(std::string_view yaml, const std::string& file) {
  Diagnostics diag(file);
  auto root = detail::parseDocument(diag, std::string(yaml));
  if (!root) return diag.take();
  auto config = std::make_shared<Config>();
  config->source_path = file;
  try {
    Builder(diag, *config).root(*root);
  } catch (const std::exception& e) {
    // yaml-cpp can throw from node access on malformed trees; never let it escape.
    diag.add(YAML::Mark::null_mark(), "",
             std::string("internal error reading config: ") + e.what());
  }
  if (!diag.empty()) return diag.take();
  return ConfigPtr(std::move(config));
}

LoadResult loadFromFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    ConfigError e;
    e.file = path;
    e.message = "cannot read config file: it is a directory";
    return std::vector<ConfigError>{e};
  }
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    ConfigError e;
    e.file = path;
    e.message = "cannot open config file";
    if (err != 0) e.message += std::string(": ") + std::strerror(err);
    return std::vector<ConfigError>{e};
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    ConfigError e;
    e.file = path;
    e.message = "cannot read config file";
    return std::vector<ConfigError>{e};
  }
  return loadFromString(text.str(), path);
}

}  // namespace pilotfish::config
