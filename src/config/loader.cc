// YAML -> Config. Reading is in two passes: the first walks the tree and fills the structs,
// recording every local error (type, range, unknown key); the second checks what spans
// sections (listener -> cluster references, address clashes). Errors never stop the walk.

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

constexpr std::string_view kRootKeys[] = {"node",  "workers",    "drain_delay", "drain_timeout",
                                          "admin", "log",        "access_log",  "clusters",
                                          "listeners"};
constexpr std::string_view kRootNotSupported[] = {"discovery", "cache_dir", "service", "tracing"};
constexpr std::string_view kAccessLogKeys[] = {"path", "format", "fields"};
constexpr std::string_view kAccessLogFormats[] = {"json", "text"};
constexpr std::string_view kNodeKeys[] = {"id", "zone"};
constexpr std::string_view kAdminKeys[] = {"address"};
constexpr std::string_view kLogKeys[] = {"level", "format"};
constexpr std::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                           "error", "critical", "off"};
constexpr std::string_view kLogFormats[] = {"text", "json"};
constexpr std::string_view kClusterKeys[] = {"name", "endpoints", "connect_timeout", "lb"};
constexpr std::string_view kClusterNotSupported[] = {"zookeeper",
                                                     "consul",
                                                     "etcd",
                                                     "dns",
                                                     "file",
                                                     "tls",
                                                     "type",
                                                     "pool",
                                                     "circuit_breaker",
                                                     "outlier_detection",
                                                     "health_check",
                                                     "on_endpoint_removed",
                                                     "allow_empty",
                                                     "max_stale",
                                                     "initial_fetch_timeout"};
// Keys that name an endpoint source other than the static list.
constexpr std::string_view kClusterSources[] = {"zookeeper", "consul", "etcd", "dns", "file"};
constexpr std::string_view kEndpointKeys[] = {"address", "weight", "zone"};
constexpr std::string_view kLbKeys[] = {"policy"};
constexpr std::string_view kLbSupported[] = {"round_robin"};
constexpr std::string_view kLbNotSupported[] = {
    "least_request", "ewma", "ring_hash", "maglev", "ordered", "zone_aware", "random"};
constexpr std::string_view kListenerKeys[] = {"name",    "address",      "protocol",
                                              "cluster", "idle_timeout", "max_connections"};
constexpr std::string_view kListenerNotSupported[] = {"routes", "tracing", "tls"};
constexpr std::string_view kListenerRoutes[] = {"routes"};
constexpr std::string_view kProtocolsSupported[] = {"tcp"};
constexpr std::string_view kProtocolsNotSupported[] = {"http", "http2", "grpc"};

constexpr int64_t kMaxWorkers = 1024;
constexpr int64_t kMaxWeight = 65535;

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
  };

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
        al.format = *s == "text" ? accesslog::AccessLogFormat::kText
                                 : accesslog::AccessLogFormat::kJson;
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
    if (auto v = m.get("endpoints")) {
      readEndpoints(*v, c);
    } else if (!hasKey(f, kClusterSources)) {
      // A cluster that names another source already has its "not supported yet" error.
      m.missing("endpoints", "static endpoints are the only endpoint source in this version");
    }
    if (auto v = m.get("connect_timeout")) {
      if (auto d = detail::readDuration(diag_, *v, true)) c.connect_timeout = *d;
    }
    if (auto v = m.get("lb")) readLb(*v, c.lb);
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
    // An http listener routes to clusters instead of naming one; once its protocol or its
    // routes are refused as not supported, a missing `cluster` would only be noise.
    bool routed = hasKey(f, kListenerRoutes);
    if (auto v = m.get("protocol")) {
      if (!readChoice(diag_, *v, "protocol", kProtocolsSupported, kProtocolsNotSupported)) {
        routed = true;
      }
    }
    if (auto v = m.get("cluster")) {
      if (auto name = detail::readString(diag_, *v)) {
        l.cluster = *name;
        site.cluster = *v;
      }
    } else if (!routed) {
      m.missing("cluster");
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

  void crossCheck() {
    std::vector<std::string_view> names;
    for (const auto& s : cluster_names_) names.push_back(s.name);
    for (std::size_t i = 0; i < listener_sites_.size(); ++i) {
      const ListenerSite& site = listener_sites_[i];
      ListenerConfig& l = config_.listeners[site.index];
      if (site.cluster) {
        // cluster_names_ holds every well-formed name, also of clusters with other errors, so
        // that a listener is not blamed for a mistake inside its cluster.
        bool defined = std::any_of(cluster_names_.begin(), cluster_names_.end(),
                                   [&](const Seen& s) { return s.name == l.cluster; });
        if (defined) {
          l.cluster_index = config_.findCluster(l.cluster).value_or(0);
        } else {
          std::string message = "unknown cluster " + quote(l.cluster);
          std::string_view guess = detail::closest(l.cluster, names);
          if (!guess.empty()) message += "; did you mean " + quote(guess) + "?";
          diag_.add(site.cluster->mark, site.cluster->path, std::move(message));
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
