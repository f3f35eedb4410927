#pragma once
// Validated, immutable configuration. Produced by config::load() (config/loader.h) from YAML;
// every component receives the part it needs by const reference. No component reads YAML.
// Thread-safety: immutable after load; shared read-only across threads via shared_ptr<const>.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pilotfish/accesslog/access_log_config.h"
#include "pilotfish/net/address.h"

namespace pilotfish::config {

using Duration = std::chrono::milliseconds;

/// A secret value read from config (a token, a password, a private key). Holding secrets in this
/// type, never in a plain std::string, is what keeps them out of `/config` and logs: the renderer
/// (config/render.h) writes every Secret as "<redacted>", and the value is reachable only through
/// reveal(), which is easy to grep for. No field uses it yet; later issues (consul tokens, TLS
/// keys) must.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  bool empty() const { return value_.empty(); }
  /// The secret itself. Call only where it is handed to the peer that needs it.
  const std::string& reveal() const { return value_; }
  bool operator==(const Secret&) const = default;

 private:
  std::string value_;
};

struct NodeConfig {
  std::string id;    ///< defaults to the host name
  std::string zone;  ///< empty when unset
};

struct AdminConfig {
  net::HostPort address{"127.0.0.1", 9901, net::HostPort::Kind::kIpv4};
};

enum class LogFormat { kText, kJson };

struct LogConfig {
  std::string level = "info";  ///< trace|debug|info|warn|error|critical|off
  LogFormat format = LogFormat::kText;
};

/// One static endpoint of a cluster.
struct EndpointConfig {
  net::HostPort address;  ///< IP literal only
  uint32_t weight = 1;    ///< 0-65535; 0 = no new traffic
  std::string zone;
};

enum class LbPolicy { kRoundRobin };

struct LbConfig {
  LbPolicy policy = LbPolicy::kRoundRobin;
};

struct ClusterConfig {
  std::string name;
  std::vector<EndpointConfig> endpoints;  ///< static endpoints (the only source in this version)
  Duration connect_timeout{1000};
  LbConfig lb;
};

enum class ListenerProtocol { kTcp };

struct ListenerConfig {
  std::string name;
  net::HostPort address;  ///< IP literal only
  ListenerProtocol protocol = ListenerProtocol::kTcp;
  std::string cluster;            ///< name of a cluster in Config::clusters
  std::size_t cluster_index = 0;  ///< index of that cluster in Config::clusters (set by the loader)
  Duration idle_timeout{3600 *
                        1000};   ///< no byte in either direction for this long closes the pair
  uint32_t max_connections = 0;  ///< per listener, across workers; 0 = unlimited
};

struct Config {
  std::string source_path;  ///< file the config was read from (for messages)
  NodeConfig node;
  uint32_t workers = 0;  ///< 0 = one per CPU this process may use
  Duration drain_delay{0};
  Duration drain_timeout{15000};
  AdminConfig admin;
  LogConfig log;
  /// One line per proxied connection (TCP) or request (HTTP); absent = no access log.
  std::optional<accesslog::AccessLogConfig> access_log;
  std::vector<ClusterConfig> clusters;
  std::vector<ListenerConfig> listeners;

  /// Index of the named cluster, or nullopt.
  std::optional<std::size_t> findCluster(const std::string& name) const;
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace pilotfish::config
