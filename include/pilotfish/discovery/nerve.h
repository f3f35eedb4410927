#pragma once
// SmartStack nerve instance data (airbnb nerve and blablacar go-nerve), as written in ZooKeeper
// znodes and etcd values: {"host", "port", "name", "weight", "available", "labels", ...}.
// See ../shared/contracts/zookeeper-nerve.md and docs/discovery.md.

#include <optional>
#include <string>
#include <string_view>

#include "pilotfish/discovery/watcher.h"

namespace pilotfish::discovery {

/// Parses one instance's data. On success fills `out` (host, port, weight, zone from
/// labels.zone/az, labels) leaving `id` and `registered_at_ms` to the caller; on failure returns
/// false with `*why` saying what was wrong ("not JSON: ...", "no host", "port 0 out of range",
/// "available is false", "host is not an IP address"). The caller skips and counts it.
bool parseNerveInstance(std::string_view data, Instance& out, std::string* why);

}  // namespace pilotfish::discovery
