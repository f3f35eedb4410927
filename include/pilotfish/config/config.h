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

/// `pool:` of a cluster: upstream keepalive connections kept per worker and endpoint (HTTP).
struct PoolConfig {
  uint32_t max_idle_per_endpoint = 64;  ///< idle connections kept per worker and endpoint
  /// An idle pooled connection is closed after this long; keep it below the upstreams' own
  /// keepalive timeout (nginx: 75s) so that pilotfish, not the upstream, closes first.
  Duration idle_timeout{50000};
  uint32_t max_requests_per_connection = 0;  ///< 0 = unlimited
};

/// `tls:` of a cluster: connections to its endpoints are TLS (the app still speaks plain HTTP).
struct TlsConfig {
  bool verify = true;   ///< certificate chain and host name (`sni`) are checked
  std::string sni;      ///< server name sent (SNI) and verified; required with `verify`
  std::string ca_file;  ///< PEM CA bundle; empty = the system store
  std::vector<std::string> alpn{"http/1.1"};  ///< offered protocols
  std::string cert_file;  ///< client certificate chain (PEM) for mTLS; empty = none
  std::string key_file;   ///< its private key (PEM); the path, never the key, is shown
};

enum class ClusterType {
  kStatic,       ///< `endpoints`, or a discovery block (`zookeeper:`, `consul:`, ...)
  kDynamicHost,  ///< the endpoint is a name taken from each request, resolved and cached
};

/// `tls:` of a discovery source (Consul over HTTPS, etcd over TLS). The server certificate is
/// always verified (against `ca_file`, or the system store).
struct SourceTlsConfig {
  std::string ca_file;
  std::string cert_file;  ///< client certificate (PEM) for mTLS; empty = none
  std::string key_file;
  bool operator==(const SourceTlsConfig&) const = default;
};

enum class SourceType { kZookeeper, kConsul, kEtcd, kDns };
const char* sourceTypeName(SourceType t);

/// `discovery.<name>`: a store that clusters (and later registration) read from.
struct DiscoverySourceConfig {
  std::string name;
  SourceType type = SourceType::kZookeeper;
  /// zookeeper: the ensemble (names allowed); dns: name servers, IP literals (empty =
  /// /etc/resolv.conf).
  std::vector<net::HostPort> servers;
  std::string chroot;               ///< zookeeper: prefix of every path ("" = none)
  Duration session_timeout{10000};  ///< zookeeper: requested session timeout
  std::string auth_scheme;          ///< zookeeper: "digest" or empty
  std::string credentials_file;     ///< zookeeper: file holding "user:password"
  net::HostPort address{"127.0.0.1", 8500, net::HostPort::Kind::kIpv4};  ///< consul agent
  std::string datacenter;  ///< consul: default datacenter of its clusters ("" = the agent's)
  std::string token_file;  ///< consul: file holding the ACL token (sent as X-Consul-Token)
  std::vector<net::HostPort> endpoints;  ///< etcd: cluster members, tried in order
  std::optional<SourceTlsConfig> tls;    ///< consul, etcd
  Duration min_ttl{1000};                ///< dns: floor of the re-resolve interval
  Duration max_ttl{300000};              ///< dns: cap of the re-resolve interval
  Duration timeout{2000};                ///< dns: per query; consul/etcd: connect
};

enum class DiscoveryKind { kZookeeper, kConsul, kEtcd, kDns, kFile };
const char* discoveryKindName(DiscoveryKind k);

enum class DnsRecordType { kSrv, kA, kAaaa };

/// A cluster's discovery block: exactly one of `zookeeper:`, `consul:`, `etcd:`, `dns:`, `file:`.
struct ClusterDiscoveryConfig {
  DiscoveryKind kind = DiscoveryKind::kFile;
  std::string source;             ///< name in Config::discovery (not for file)
  std::size_t source_index = 0;   ///< index in Config::discovery (set by the loader)
  std::string path;               ///< zookeeper: service path; etcd: key prefix; file: file path
  std::string service;            ///< consul
  std::vector<std::string> tags;  ///< consul: every tag must be present
  bool passing_only = true;       ///< consul
  std::string datacenter;         ///< consul: overrides the source's
  std::string name;               ///< dns: the name to resolve
  DnsRecordType dns_type = DnsRecordType::kSrv;
  uint16_t port = 0;  ///< dns A/AAAA: the port of every address

  /// Canonical text of the definition (kind, source definition, what is watched): equal texts
  /// are one shared watch; its hash names the on-disk cache file.
  std::string watchKey(const DiscoverySourceConfig* source) const;
};

/// What happens to open TCP connections whose endpoint leaves the set (or is unhealthy).
enum class OnEndpointRemoved { kKeep, kClose };

struct ClusterConfig {
  std::string name;
  ClusterType type = ClusterType::kStatic;
  uint16_t port = 443;                    ///< dynamic_host: port of every upstream
  Duration dns_ttl{60000};                ///< dynamic_host: how long a resolved name is used
  std::vector<EndpointConfig> endpoints;  ///< static endpoints (when no discovery block)
  std::optional<ClusterDiscoveryConfig> discovery;  ///< endpoints from a store
  bool allow_empty = false;              ///< an empty valid answer is applied (else: last set kept)
  std::optional<Duration> max_stale;     ///< a set not confirmed for this long is dropped
  Duration initial_fetch_timeout{5000};  ///< listeners wait this long for the first set
  OnEndpointRemoved on_endpoint_removed = OnEndpointRemoved::kKeep;
  Duration connect_timeout{1000};
  LbConfig lb;
  PoolConfig pool;
  std::optional<TlsConfig> tls;  ///< absent = plaintext
};

/// What a route retries on (`retries.on`), as bits.
enum RetryOn : uint32_t {
  kRetryConnectFailure = 1u << 0,  ///< `connect-failure`: connect refused or timed out
  kRetryReset = 1u << 1,           ///< `reset`: upstream closed/reset before the response head
  kRetry502 = 1u << 2,             ///< `502`
  kRetry503 = 1u << 3,             ///< `503`
  kRetry504 = 1u << 4,             ///< `504`: also the per-try timeout firing
};

/// `retries:` of a route.
struct RetryConfig {
  uint32_t attempts = 0;  ///< retries after the first try (0 = none), at most 10
  uint32_t on = kRetryConnectFailure | kRetryReset;  ///< RetryOn bits
  std::optional<Duration> per_try_timeout;           ///< unset = the route timeout only
};

struct HeaderMatchConfig {
  std::string name;                  ///< lowercased by the loader
  std::optional<std::string> value;  ///< exact value; unset = `present: true`
};

/// One entry of a listener's `routes:`. Every key of `match` must hold.
struct RouteConfig {
  std::optional<std::string> host;         ///< exact, case-insensitive, port ignored
  std::optional<std::string> host_suffix;  ///< case-insensitive, port ignored
  std::optional<std::string> path_prefix;  ///< begins with '/'
  std::optional<std::string> path_exact;   ///< begins with '/'
  std::optional<std::string> method;       ///< a token; case-sensitive
  std::vector<HeaderMatchConfig> headers;  ///< `header:` (one map or a list of maps)
  std::string cluster;
  std::size_t cluster_index = 0;              ///< set by the loader
  std::optional<Duration> timeout;            ///< whole request; unset = no limit
  std::optional<std::string> prefix_rewrite;  ///< replaces the matched path_prefix
  std::optional<std::string> host_rewrite;    ///< new Host value
  bool upstream_host_from_request = false;    ///< chocon style (needs a dynamic_host cluster)
  RetryConfig retries;
};

/// `tracing:` at the top level (defaults) or on an http listener (overrides them key by key).
struct TracingConfig {
  bool propagate_b3 = true;   ///< `propagate` lists `b3`
  bool propagate_w3c = true;  ///< `propagate` lists `w3c`
  bool request_id = true;
  double sample_rate = 0.01;  ///< 0..1
};

/// HTTP settings of an http listener (all keys are on the listener itself).
struct HttpListenerConfig {
  std::size_t max_request_headers_kb = 60;   ///< whole head; over it 431
  std::size_t max_headers = 100;             ///< field lines; over it 431
  std::size_t max_request_line_kb = 8;       ///< request line; over it 414
  std::optional<uint64_t> max_request_body;  ///< bytes; over it 413; unset = unlimited
  Duration request_headers_timeout{10000};   ///< a started head must complete in this; else 408
  /// Longest wait for the next byte of a request body that pilotfish is ready to read; else
  /// 408 (or, after the response head, the connection is aborted). Slow-body attacks.
  Duration request_body_timeout{60000};
  /// Longest a client may take none of the response bytes waiting for it (slow or stalled
  /// reader, zero window); then its connection is reset.
  Duration response_send_timeout{60000};
  uint32_t max_hops = 10;  ///< x-pilotfish-hops above this is 508
  /// `headers_with_underscores`: what to do with a request field whose name has '_' (a
  /// CGI-style upstream reads X_Forwarded_For as X-Forwarded-For). kReject: 400; kDrop: the
  /// field is not forwarded. Default: allow.
  enum class Underscores { kAllow, kReject, kDrop };
  Underscores headers_with_underscores = Underscores::kAllow;
  std::vector<RouteConfig> routes;  ///< first match wins; no match is 404
  TracingConfig tracing;  ///< top-level values, overridden key by key by the listener's block
};

enum class ListenerProtocol { kTcp, kHttp };

struct ListenerConfig {
  std::string name;
  net::HostPort address;  ///< IP literal only
  ListenerProtocol protocol = ListenerProtocol::kTcp;
  /// tcp: name of a cluster in Config::clusters. http: optional; when set, a route
  /// `{cluster: <it>}` that matches everything is appended after `routes`.
  std::string cluster;
  std::size_t cluster_index = 0;  ///< index of that cluster in Config::clusters (set by the loader)
  /// tcp: no byte in either direction for this long closes the pair. http: a keepalive client
  /// connection with no request in flight for this long is closed.
  Duration idle_timeout{3600 * 1000};
  uint32_t max_connections = 0;  ///< per listener, across workers; 0 = unlimited
  HttpListenerConfig http;       ///< protocol http only
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
  TracingConfig tracing;  ///< top-level `tracing:`: defaults for http listeners
  std::vector<DiscoverySourceConfig> discovery;  ///< `discovery:` sources, in file order
  std::string cache_dir;  ///< last-known-good endpoint sets; empty = no on-disk cache
  std::vector<ClusterConfig> clusters;
  std::vector<ListenerConfig> listeners;

  /// Index of the named cluster, or nullopt.
  std::optional<std::size_t> findCluster(const std::string& name) const;
};

using ConfigPtr = std::shared_ptr<const Config>;

}  // namespace pilotfish::config
