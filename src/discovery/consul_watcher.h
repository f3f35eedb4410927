#pragma once
// Consul watcher internals, exposed for tests: the tunables the factory fixes, and the parser of
// /v1/health/service answers. See docs/discovery/consul.md.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {

struct ConsulOptions {
  /// `wait` of each blocking query. The request's own timeout is wait + wait/16 (Consul's
  /// jitter) + request_margin.
  std::chrono::milliseconds wait{std::chrono::minutes(5)};
  std::chrono::milliseconds request_margin{std::chrono::seconds(10)};
  /// Least time between the starts of two requests of one watch, so that a server answering at
  /// once (index 0, an index that moves without data changes) cannot make us spin.
  std::chrono::milliseconds min_interval{std::chrono::milliseconds(50)};
  std::chrono::milliseconds backoff_base{std::chrono::milliseconds(500)};
  std::chrono::milliseconds backoff_cap{std::chrono::seconds(30)};
};

/// makeConsulSource with explicit tunables (tests shorten the wait and the backoff).
std::unique_ptr<Source> makeConsulSource(boost::asio::io_context& io,
                                         const config::DiscoverySourceConfig& cfg,
                                         const ConsulOptions& options);

/// Parses the body of a /v1/health/service answer into the usable instances (sorted by id).
/// nullopt with `*why` when the body is not a JSON array at all (the answer is rejected);
/// unusable entries (no Service, no ID, bad Port, an address that is not an IP literal) are
/// skipped and counted.
std::optional<Answer> parseConsulHealth(std::string_view body, std::string* why);

}  // namespace pilotfish::discovery
