#include "pilotfish/config/config.h"

#include <algorithm>

#include "pilotfish/config/loader.h"
#include "pilotfish/config/render.h"
#include "pilotfish/core/json.h"

namespace pilotfish::config {

std::optional<std::size_t> Config::findCluster(const std::string& name) const {
  for (std::size_t i = 0; i < clusters.size(); ++i) {
    if (clusters[i].name == name) return i;
  }
  return std::nullopt;
}

namespace {

const char* logFormatName(LogFormat f) {
  switch (f) {
    case LogFormat::kText: return "text";
    case LogFormat::kJson: return "json";
  }
  return "text";
}

const char* lbPolicyName(LbPolicy p) {
  switch (p) {
    case LbPolicy::kRoundRobin: return "round_robin";
  }
  return "round_robin";
}

const char* protocolName(ListenerProtocol p) {
  switch (p) {
    case ListenerProtocol::kTcp: return "tcp";
    case ListenerProtocol::kHttp: return "http";
  }
  return "tcp";
}

void writeDuration(core::JsonWriter& w, std::string_view k, Duration d) {
  w.field(k, formatDuration(d));
}

void writeOptionalString(core::JsonWriter& w, std::string_view k,
                         const std::optional<std::string>& s) {
  w.key(k);
  if (s) {
    w.value(*s);
  } else {
    w.null();
  }
}

void writeOptionalDuration(core::JsonWriter& w, std::string_view k,
                           const std::optional<Duration>& d) {
  w.key(k);
  if (d) {
    w.value(formatDuration(*d));
  } else {
    w.null();
  }
}

void writeTracing(core::JsonWriter& w, const TracingConfig& t) {
  w.key("tracing");
  w.beginObject();
  w.key("propagate");
  w.beginArray();
  if (t.propagate_b3) w.value("b3");
  if (t.propagate_w3c) w.value("w3c");
  w.endArray();
  w.field("request_id", t.request_id);
  w.field("sample_rate", t.sample_rate);
  w.endObject();
}

// The names of the RetryOn bits, in bit order (the YAML values of `retries.on`).
constexpr std::string_view kRetryOnNames[] = {"connect-failure", "reset", "502", "503", "504"};

void writeRoute(core::JsonWriter& w, const RouteConfig& r) {
  w.beginObject();
  w.key("match");
  w.beginObject();
  writeOptionalString(w, "host", r.host);
  writeOptionalString(w, "host_suffix", r.host_suffix);
  writeOptionalString(w, "path_prefix", r.path_prefix);
  writeOptionalString(w, "path_exact", r.path_exact);
  writeOptionalString(w, "method", r.method);
  w.key("header");
  w.beginArray();
  for (const auto& h : r.headers) {
    w.beginObject();
    w.field("name", h.name);
    if (h.value) {
      w.field("value", *h.value);
    } else {
      w.field("present", true);
    }
    w.endObject();
  }
  w.endArray();
  w.endObject();
  w.field("cluster", r.cluster);
  writeOptionalDuration(w, "timeout", r.timeout);
  writeOptionalString(w, "prefix_rewrite", r.prefix_rewrite);
  writeOptionalString(w, "host_rewrite", r.host_rewrite);
  w.field("upstream_host_from_request", r.upstream_host_from_request);
  w.key("retries");
  w.beginObject();
  w.field("attempts", static_cast<uint64_t>(r.retries.attempts));
  w.key("on");
  w.beginArray();
  for (std::size_t bit = 0; bit < std::size(kRetryOnNames); ++bit) {
    if (r.retries.on & (1u << bit)) w.value(kRetryOnNames[bit]);
  }
  w.endArray();
  writeOptionalDuration(w, "per_try_timeout", r.retries.per_try_timeout);
  w.endObject();
  w.endObject();
}

void writeHostPorts(core::JsonWriter& w, std::string_view k, const std::vector<net::HostPort>& v) {
  w.key(k);
  w.beginArray();
  for (const auto& hp : v) w.value(hp.toString());
  w.endArray();
}

void writeSource(core::JsonWriter& w, const DiscoverySourceConfig& d) {
  w.key(d.name);
  w.beginObject();
  w.field("type", sourceTypeName(d.type));
  switch (d.type) {
    case SourceType::kZookeeper:
      writeHostPorts(w, "servers", d.servers);
      w.field("chroot", d.chroot);
      writeDuration(w, "session_timeout", d.session_timeout);
      if (!d.auth_scheme.empty()) {
        w.key("auth");
        w.beginObject();
        w.field("scheme", d.auth_scheme);
        w.field("credentials_file", d.credentials_file);  // the path; never the credentials
        w.endObject();
      }
      break;
    case SourceType::kConsul:
      w.field("address", d.address.toString());
      w.field("datacenter", d.datacenter);
      w.field("token_file", d.token_file);  // the path; never the token
      writeDuration(w, "timeout", d.timeout);
      break;
    case SourceType::kEtcd:
      writeHostPorts(w, "endpoints", d.endpoints);
      writeDuration(w, "timeout", d.timeout);
      break;
    case SourceType::kDns:
      writeHostPorts(w, "servers", d.servers);
      writeDuration(w, "min_ttl", d.min_ttl);
      writeDuration(w, "max_ttl", d.max_ttl);
      writeDuration(w, "timeout", d.timeout);
      break;
  }
  if (d.tls) {
    w.key("tls");
    w.beginObject();
    w.field("ca_file", d.tls->ca_file);
    w.field("cert_file", d.tls->cert_file);
    w.field("key_file", d.tls->key_file);
    w.endObject();
  }
  w.endObject();
}

void writeCluster(core::JsonWriter& w, const ClusterConfig& c) {
  w.beginObject();
  w.field("name", c.name);
  w.key("endpoints");
  w.beginArray();
  for (const auto& e : c.endpoints) {
    w.beginObject();
    w.field("address", e.address.toString());
    w.field("weight", static_cast<uint64_t>(e.weight));
    w.field("zone", e.zone);
    w.endObject();
  }
  w.endArray();
  if (c.discovery) {
    const auto& d = *c.discovery;
    w.key(discoveryKindName(d.kind));
    w.beginObject();
    if (d.kind != DiscoveryKind::kFile && !d.source.empty()) w.field("source", d.source);
    switch (d.kind) {
      case DiscoveryKind::kZookeeper:
      case DiscoveryKind::kFile: w.field("path", d.path); break;
      case DiscoveryKind::kEtcd: w.field("prefix", d.path); break;
      case DiscoveryKind::kConsul:
        w.field("service", d.service);
        w.key("tags");
        w.beginArray();
        for (const auto& t : d.tags) w.value(t);
        w.endArray();
        w.field("passing_only", d.passing_only);
        w.field("datacenter", d.datacenter);
        break;
      case DiscoveryKind::kDns:
        w.field("name", d.name);
        w.field("type", d.dns_type == DnsRecordType::kSrv ? "SRV"
                        : d.dns_type == DnsRecordType::kA ? "A"
                                                          : "AAAA");
        if (d.dns_type != DnsRecordType::kSrv) w.field("port", static_cast<uint64_t>(d.port));
        break;
    }
    w.endObject();
    w.field("allow_empty", c.allow_empty);
    writeOptionalDuration(w, "max_stale", c.max_stale);
    writeDuration(w, "initial_fetch_timeout", c.initial_fetch_timeout);
  }
  w.field("on_endpoint_removed",
          c.on_endpoint_removed == OnEndpointRemoved::kClose ? "close" : "keep");
  writeDuration(w, "connect_timeout", c.connect_timeout);
  w.key("lb");
  w.beginObject();
  w.field("policy", lbPolicyName(c.lb.policy));
  w.endObject();
  w.key("pool");
  w.beginObject();
  w.field("max_idle_per_endpoint", static_cast<uint64_t>(c.pool.max_idle_per_endpoint));
  writeDuration(w, "idle_timeout", c.pool.idle_timeout);
  w.field("max_requests_per_connection", static_cast<uint64_t>(c.pool.max_requests_per_connection));
  w.endObject();
  if (c.tls) {  // only when set, so /config of plaintext clusters is unchanged
    w.key("tls");
    w.beginObject();
    w.field("verify", c.tls->verify);
    w.field("sni", c.tls->sni);
    w.field("ca_file", c.tls->ca_file);
    w.key("alpn");
    w.beginArray();
    for (const auto& a : c.tls->alpn) w.value(a);
    w.endArray();
    w.field("cert_file", c.tls->cert_file);
    w.field("key_file", c.tls->key_file);  // a path; the key itself is never read into config
    w.endObject();
  }
  w.endObject();
}

void writeListener(core::JsonWriter& w, const ListenerConfig& l) {
  w.beginObject();
  w.field("name", l.name);
  w.field("address", l.address.toString());
  w.field("protocol", protocolName(l.protocol));
  if (l.protocol == ListenerProtocol::kHttp && l.cluster.empty()) {
    w.key("cluster");
    w.null();
  } else {
    w.field("cluster", l.cluster);
  }
  writeDuration(w, "idle_timeout", l.idle_timeout);
  w.field("max_connections", static_cast<uint64_t>(l.max_connections));
  if (l.protocol == ListenerProtocol::kHttp) {
    // The effective values: routes with the catch-all for `cluster` appended, and the tracing
    // settings merged from the top-level block.
    const HttpListenerConfig& h = l.http;
    w.field("max_request_headers_kb", static_cast<uint64_t>(h.max_request_headers_kb));
    w.field("max_headers", static_cast<uint64_t>(h.max_headers));
    w.field("max_request_line_kb", static_cast<uint64_t>(h.max_request_line_kb));
    w.key("max_request_body");
    if (h.max_request_body) {
      w.value(static_cast<uint64_t>(*h.max_request_body));
    } else {
      w.null();
    }
    writeDuration(w, "request_headers_timeout", h.request_headers_timeout);
    writeDuration(w, "request_body_timeout", h.request_body_timeout);
    writeDuration(w, "response_send_timeout", h.response_send_timeout);
    w.field("max_hops", static_cast<uint64_t>(h.max_hops));
    using U = HttpListenerConfig::Underscores;
    w.field("headers_with_underscores", h.headers_with_underscores == U::kReject ? "reject"
                                        : h.headers_with_underscores == U::kDrop ? "drop"
                                                                                 : "allow");
    w.key("routes");
    w.beginArray();
    for (const auto& r : h.routes) writeRoute(w, r);
    w.endArray();
    writeTracing(w, h.tracing);
  }
  w.endObject();
}

}  // namespace

void writeSecret(core::JsonWriter& w, std::string_view k, const Secret& secret) {
  w.key(k);
  if (secret.empty()) {
    w.null();
  } else {
    w.value(kRedacted);
  }
}

std::string toJson(const Config& config) {
  std::string out;
  core::JsonWriter w(out);
  w.beginObject();
  w.field("source", config.source_path);
  w.key("node");
  w.beginObject();
  w.field("id", config.node.id);
  w.field("zone", config.node.zone);
  w.endObject();
  w.field("workers", static_cast<uint64_t>(config.workers));
  writeDuration(w, "drain_delay", config.drain_delay);
  writeDuration(w, "drain_timeout", config.drain_timeout);
  w.key("admin");
  w.beginObject();
  w.field("address", config.admin.address.toString());
  w.endObject();
  w.key("log");
  w.beginObject();
  w.field("level", config.log.level);
  w.field("format", logFormatName(config.log.format));
  w.endObject();
  if (config.access_log) {
    w.key("access_log");
    w.beginObject();
    w.field("path", config.access_log->path);
    w.field("format", accesslog::accessLogFormatName(config.access_log->format));
    w.key("fields");
    w.beginArray();
    for (const auto& f : config.access_log->fields) w.value(f);
    w.endArray();
    w.endObject();
  }
  writeTracing(w, config.tracing);
  w.key("discovery");
  w.beginObject();
  for (const auto& d : config.discovery) writeSource(w, d);
  w.endObject();
  w.field("cache_dir", config.cache_dir);
  w.key("clusters");
  w.beginArray();
  for (const auto& c : config.clusters) writeCluster(w, c);
  w.endArray();
  w.key("listeners");
  w.beginArray();
  for (const auto& l : config.listeners) writeListener(w, l);
  w.endArray();
  w.endObject();
  return out;
}

}  // namespace pilotfish::config

namespace pilotfish::config {

const char* sourceTypeName(SourceType t) {
  switch (t) {
    case SourceType::kZookeeper: return "zookeeper";
    case SourceType::kConsul: return "consul";
    case SourceType::kEtcd: return "etcd";
    case SourceType::kDns: break;
  }
  return "dns";
}

const char* discoveryKindName(DiscoveryKind k) {
  switch (k) {
    case DiscoveryKind::kZookeeper: return "zookeeper";
    case DiscoveryKind::kConsul: return "consul";
    case DiscoveryKind::kEtcd: return "etcd";
    case DiscoveryKind::kDns: return "dns";
    case DiscoveryKind::kFile: break;
  }
  return "file";
}

std::string ClusterDiscoveryConfig::watchKey(const DiscoverySourceConfig* src) const {
  // One field per line, names included, so that no two different definitions can produce the
  // same text. Only what changes the answer is included (not timeouts or credentials).
  std::string k = std::string("kind=") + discoveryKindName(kind) + "\n";
  auto add = [&k](std::string_view name, std::string_view value) {
    k.append(name).append("=").append(value).append("\n");
  };
  if (src) {
    add("source.type", sourceTypeName(src->type));
    for (const auto& s : src->servers) add("source.server", s.toString());
    add("source.chroot", src->chroot);
    if (src->type == SourceType::kConsul) add("source.address", src->address.toString());
    // The store filters answers by credentials (Consul ACL tokens, ZooKeeper ACLs): sources with
    // different credentials are different watches with different cache files. The path names the
    // credential; its content never enters the key (nor the file name hashed from it).
    if (!src->token_file.empty()) add("source.token_file", src->token_file);
    if (!src->credentials_file.empty()) add("source.credentials_file", src->credentials_file);
    for (const auto& e : src->endpoints) add("source.endpoint", e.toString());
  }
  switch (kind) {
    case DiscoveryKind::kZookeeper:
    case DiscoveryKind::kEtcd:
    case DiscoveryKind::kFile: add("path", path); break;
    case DiscoveryKind::kConsul: {
      add("service", service);
      auto sorted = tags;
      std::sort(sorted.begin(), sorted.end());
      for (const auto& t : sorted) add("tag", t);
      add("passing_only", passing_only ? "true" : "false");
      add("datacenter", !datacenter.empty() ? datacenter : src ? src->datacenter : "");
      break;
    }
    case DiscoveryKind::kDns:
      add("name", name);
      add("type", dns_type == DnsRecordType::kSrv ? "SRV"
                  : dns_type == DnsRecordType::kA ? "A"
                                                  : "AAAA");
      add("port", std::to_string(port));
      break;
  }
  return k;
}

}  // namespace pilotfish::config
