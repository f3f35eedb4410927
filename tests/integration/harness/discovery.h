#pragma once
// Helpers for discovery tests: what /clusters says about one cluster.

#include <set>
#include <string>

#include "integration/harness/harness.h"

namespace pilotfish::it {

/// The cluster's object from /clusters (throws when absent or the admin does not answer).
boost::json::object clusterState(Pilotfish& pf, const std::string& cluster);

/// The endpoint addresses ("ip:port") of the cluster's current set.
std::set<std::string> clusterEndpoints(Pilotfish& pf, const std::string& cluster);

/// Polls /clusters until the cluster's endpoint addresses equal `want`. Returns whether they did.
bool waitEndpoints(Pilotfish& pf, const std::string& cluster, const std::set<std::string>& want,
                   milliseconds deadline = milliseconds(5000));

/// `discovery.<field>` of the cluster in /clusters as a bool (false when absent).
bool discoveryFlag(Pilotfish& pf, const std::string& cluster, const std::string& field);

/// "127.0.0.1:<port>".
std::string loopback(uint16_t port);

}  // namespace pilotfish::it
