#include "server/admin_handlers.h"

#include <memory>

#include "pilotfish/config/render.h"
#include "pilotfish/core/json.h"
#include "pilotfish/core/log.h"
#include "pilotfish/event/worker.h"

namespace pilotfish::server {

using admin::Request;
using admin::Response;

namespace {

constexpr const char* kPromType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kJsonType = "application/json";

double seconds(std::chrono::steady_clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

// Process-level metrics written by the control thread only.
void renderServer(std::string& out, const AdminContext& ctx) {
  using stats::detail::writeHeader;
  writeHeader(out, "pilotfish_build_info", "Version and I/O backend of this binary",
              stats::MetricType::kGauge);
  out += "pilotfish_build_info{version=\"" PILOTFISH_VERSION "\",io_backend=\"";
  out += event::ioBackendName();
  out += "\"} 1\n";
  writeHeader(out, "pilotfish_server_workers", "Worker threads", stats::MetricType::kGauge);
  out += "pilotfish_server_workers " + std::to_string(ctx.workers) + "\n";
  writeHeader(out, "pilotfish_server_uptime_seconds", "Seconds since start",
              stats::MetricType::kGauge);
  out += "pilotfish_server_uptime_seconds " +
         stats::formatSample(seconds(std::chrono::steady_clock::now() - ctx.started_at)) + "\n";
  writeHeader(out, "pilotfish_server_ready", "1 when every listener is up and not draining",
              stats::MetricType::kGauge);
  out += std::string("pilotfish_server_ready ") + (ctx.ready() ? "1" : "0") + "\n";
  writeHeader(out, "pilotfish_server_draining", "1 while draining after SIGTERM/SIGINT",
              stats::MetricType::kGauge);
  out += std::string("pilotfish_server_draining ") + (ctx.draining() ? "1" : "0") + "\n";
}

// Cluster-level gauges derived from the current snapshots (control thread state).
void renderClusterState(std::string& out, const cluster::ClusterSet& set,
                        std::chrono::steady_clock::time_point now) {
  using stats::detail::writeHeader;
  writeHeader(out, "pilotfish_cluster_endpoints", "Endpoints in the current set",
              stats::MetricType::kGauge);
  for (const auto& c : set.clusters) {
    out += "pilotfish_cluster_endpoints{cluster=\"";
    stats::appendLabelValue(out, c->name);
    out += "\"} " + std::to_string(c->endpoints.size()) + "\n";
  }
  writeHeader(out, "pilotfish_cluster_endpoint_set_age_seconds",
              "Seconds since the current endpoint set was obtained", stats::MetricType::kGauge);
  for (const auto& c : set.clusters) {
    out += "pilotfish_cluster_endpoint_set_age_seconds{cluster=\"";
    stats::appendLabelValue(out, c->name);
    out += "\"} " + stats::formatSample(seconds(now - c->updated_at)) + "\n";
  }
}

}  // namespace

std::string clustersJson(const cluster::ClusterSet& set, std::chrono::steady_clock::time_point now,
                         const std::function<discovery::ClusterStatus(std::size_t)>& status) {
  std::string out;
  core::JsonWriter w(out);
  w.beginObject();
  w.key("clusters");
  w.beginArray();
  for (std::size_t i = 0; i < set.clusters.size(); ++i) {
    const auto& c = set.clusters[i];
    discovery::ClusterStatus st;
    if (status) st = status(i);
    w.beginObject();
    w.field("name", c->name);
    w.field("source", c->source);
    if (st.discovered) {
      // Age of the set since the store last confirmed it (0 while the store is connected).
      w.field("age_seconds", st.age_seconds);
      w.key("discovery");
      w.beginObject();
      w.field("initialized", st.initialized);
      w.field("connected", st.connected);
      w.field("stale", !st.connected || st.from_cache);
      w.field("from_cache", st.from_cache);
      w.field("expired", st.expired);
      w.field("empty_ignored", st.empty_ignored);
      w.field("last_error", st.last_error);
      w.field("answers", st.answers);
      w.field("updates", st.updates);
      w.field("skipped", st.skipped);
      w.field("rejected", st.rejected);
      w.field("errors", st.errors);
      w.endObject();
    } else {
      w.field("age_seconds", seconds(now - c->updated_at));
    }
    w.field("connect_timeout_ms", static_cast<int64_t>(c->connect_timeout.count()));
    w.key("endpoints");
    w.beginArray();
    for (const auto& e : c->endpoints) {
      w.beginObject();
      w.field("address", e->host_port.toString());
      w.field("weight", static_cast<uint64_t>(e->weight));
      w.field("zone", e->zone);
      w.field("health", cluster::healthName(e->health));
      if (!e->id.empty()) w.field("id", e->id);
      if (e->registered_at_ms) w.field("registered_at_ms", e->registered_at_ms);
      if (!e->labels.empty()) {
        w.key("labels");
        w.beginObject();
        for (const auto& [k, v] : e->labels) w.field(k, v);
        w.endObject();
      }
      w.endObject();
    }
    w.endArray();
    w.endObject();
  }
  w.endArray();
  w.endObject();
  out += '\n';
  return out;
}

void registerAdminHandlers(admin::AdminServer& server, AdminContext ctx) {
  auto c = std::make_shared<AdminContext>(std::move(ctx));

  server.addHandler("/metrics", "GET,HEAD", "Prometheus metrics", [c](const Request&) {
    Response r{200, kPromType, {}};
    r.body.reserve(16 * 1024);
    renderServer(r.body, *c);
    stats::render(r.body, c->listener_series());
    stats::render(r.body, c->cluster_series());
    stats::render(r.body, c->access_log_series());
    stats::render(r.body, c->http_series());
    stats::render(r.body, c->http_error_series());
    stats::render(r.body, c->pool_series());
    renderClusterState(r.body, *c->clusters(), std::chrono::steady_clock::now());
    if (c->discovery_metrics) c->discovery_metrics(r.body);
    return r;
  });

  server.addHandler("/ready", "GET,HEAD", "200 when serving, 503 while starting or draining",
                    [c](const Request&) {
                      if (c->ready()) return Response{200, "text/plain; charset=utf-8", "ready\n"};
                      return Response{503, "text/plain; charset=utf-8",
                                      c->draining() ? "draining\n" : "starting\n"};
                    });

  server.addHandler("/clusters", "GET,HEAD", "clusters and endpoints (JSON)", [c](const Request&) {
    return Response{
        200, kJsonType,
        clustersJson(*c->clusters(), std::chrono::steady_clock::now(), c->discovery_status)};
  });

  server.addHandler("/config", "GET,HEAD", "effective config, secrets redacted (JSON)",
                    [c](const Request&) {
                      return Response{200, kJsonType, config::toJson(*c->config) + "\n"};
                    });

  server.addHandler(
      "/logging", "GET,POST", "GET: current level; POST /logging?level=debug: change it",
      [](const Request& req) {
        if (req.method == "GET") {
          // `curl .../logging?level=debug` is a GET: answering 200 with the unchanged level would
          // look like success. A change must be a POST (no state change on GET).
          if (!req.query.empty()) {
            return Response{400, "text/plain; charset=utf-8",
                            "GET /logging takes no query; use POST /logging?level=LEVEL to change "
                            "the level (it is still " +
                                core::logLevel() + ")\n"};
          }
          return Response{200, "text/plain; charset=utf-8", core::logLevel() + "\n"};
        }
        std::string_view q = req.query;
        if (q.rfind("level=", 0) != 0 || !core::setLogLevel(q.substr(6))) {
          return Response{400, "text/plain; charset=utf-8",
                          "expected ?level=trace|debug|info|warn|error|critical|off\n"};
        }
        return Response{200, "text/plain; charset=utf-8", core::logLevel() + "\n"};
      });
}

}  // namespace pilotfish::server
