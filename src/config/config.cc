#include "pilotfish/config/config.h"

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
  }
  return "tcp";
}

void writeDuration(core::JsonWriter& w, std::string_view k, Duration d) {
  w.field(k, formatDuration(d));
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
  writeDuration(w, "connect_timeout", c.connect_timeout);
  w.key("lb");
  w.beginObject();
  w.field("policy", lbPolicyName(c.lb.policy));
  w.endObject();
  w.endObject();
}

void writeListener(core::JsonWriter& w, const ListenerConfig& l) {
  w.beginObject();
  w.field("name", l.name);
  w.field("address", l.address.toString());
  w.field("protocol", protocolName(l.protocol));
  w.field("cluster", l.cluster);
  writeDuration(w, "idle_timeout", l.idle_timeout);
  w.field("max_connections", static_cast<uint64_t>(l.max_connections));
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
